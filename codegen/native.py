"""llvm stage -> native code: object code linked into a shared library, or MLIR's JIT.

Two routes from an `llvm`-stage module to a callable packed entry point `void fn(void**)`:

* **object** (the default; what the disk cache stores and an AOT build ships): translate to
  LLVM IR, append the packed wrapper `_mlir__mlir_ciface_<entry>` (the one the
  ExecutionEngine would generate), optimize and emit PIC object code in-process through
  LLVM's C API (codegen/llvm_c.py), link with `ld -shared` (`cc -shared` as fallback)
  against the runtime libraries (rpath), `dlopen` the result.
* **engine**: `mlir.execution_engine.ExecutionEngine` in memory (the original route), for
  `th.config.codegen = "engine"` and as the fallback when no linker is found.

Why misses in this process also take the object route rather than the engine (MLP 784-500-10
SGD step, bench/compile.py; 2-vCPU znver4): the ExecutionEngine ties LLVM's IR pipeline and
code generator to one level; at O2 it spent ~400 ms (O1 no less) on unrolling, vectorizing
and AVX-512 code generation, at O0 the code ran several times slower. Driving LLVM
ourselves lets `opt_level` pick both halves (`LLVM_LEVELS`); the link costs ~10 ms.

| opt_level | IR passes                                      | codegen | MLP: LLVM | elementwise |
|-----------|------------------------------------------------|---------|-----------|-------------|
| 0         | none                                           | O0      | 11 ms     | 5.9 ms      |
| 1         | early-cse, instcombine, simplifycfg, licm, gvn | O1      | 45 ms     | 1.5 ms      |
| 2 (dflt)  | level 1 + loop-rotate, loop-vectorize, full    | O2      | 83 ms     | 1.2 ms      |
|           | unroll of loops of <= 16 steps, SLP vectorizer |         |           |             |
| 3         | LLVM's `default<O3>`                           | O3      | 420 ms    | 1.15 ms     |
| engine O2 | (ExecutionEngine, for reference)               | O2      | 405 ms    |             |

(MLP: CPU time of translation + passes + code generation; elementwise: run time of
`a = x*y + z*x - y; max(a, 0)*z, sum(a*a, 1)` on 3 x 1M float32, medians, loaded machine.)
Matmuls call BLAS and theanir's lowerings own vectorization; LLVM's loop vectorizer stays
at level 2 for the elementwise loops that remain. Loops of at most 16 static steps (the
inner loop of a 784x10 weight update) are below the loop vectorizer's trip-count threshold;
level 2 unrolls them fully (no partial or runtime unrolling) and lets the SLP vectorizer
pack the copies: logistic-regression SGD at batch 1, 149k -> 178k steps/s, for ~6% more
LLVM time on the deep MLP's step (the MLP column predates this).
`loop-rotate` runs before the loop vectorizer: MLIR's scf.for lowers to loops that test at
the top, and a loop whose exit is not its latch needs a scalar epilogue iteration, which the
vectorizer refuses for loops of few steps ("cannot optimize for size and vectorize at the
same time"); with it, and allocations marked `noalias` (theanir-runtime-memory: else "runtime
pointer checks needed"), the 8-24-step inner loops of convolution and pooling vectorize: 29
of the loops of LeNet-5's second conv input gradient (1 before), and the LeNet-5 training step
went from 181 to 145 ms on one thread.

Modules over PARALLEL_CODEGEN_CHARS of LLVM IR (programs of ~700 tn ops and more, which
theanir-split-functions has cut into many functions) have their IR passes (levels 1-2 are
function pipelines) and code generation run on one thread per CPU (`codegen_threads`,
`llvm_c.compile_to_objects`); `ld -r` joins the objects.
"""
from __future__ import annotations

import _ctypes
import ctypes
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

from mlir import execution_engine, ir

from theanir.passes.lower.cancel_points import SETTER as CANCEL_SETTER
from theanir.passes.lower.runtime_checks import SETTER as CHECK_SETTER
from theanir.passes.lower.runtime_memory import SETTER as MEMORY_HOOKS_SETTER
from theanir.passes.lower.shape_function import shapes_symbol

from .hooks import runtime_hook
from .llvm_c import LLVMError, Target, compile_to_object, compile_to_objects, host_target  # noqa: F401 (re-exported)
from .threads import loaded, mapped_copy, runtime_libraries
from .threads import sync as sync_threads

# What ran in this process: tests check that a cache hit did no LLVM work.
STATS: Counter = Counter()

_SCALAR = "early-cse,instcombine<no-verify-fixpoint>,simplifycfg,loop-mssa(licm),gvn"
_FULL_UNROLL = "loop-unroll<O2;no-partial;no-runtime;no-upperbound;full-unroll-max=16>"
LLVM_LEVELS: dict[int, tuple[str | None, int]] = {
    0: (None, 0),
    1: (f"function({_SCALAR})", 1),
    2: (f"function({_SCALAR},loop(loop-rotate),loop-vectorize,{_FULL_UNROLL},instcombine<no-verify-fixpoint>,slp-vectorizer,"
        "simplifycfg)", 2),
    3: ("default<O3>", 3),
}


class CodegenError(RuntimeError):
    """LLVM or the linker failed on a module we produced (a theanir bug)."""


class SharedLibrary:
    """A loaded artifact library, unloaded (dlclose) when the last reference goes.

    ctypes.CDLL never unloads: every compiled signature kept its ~5 mappings for the life of
    the process, also after its function was collected, until `vm.max_map_count` ran out
    (~13k signatures). The owner of a SharedLibrary is the NativeCode whose Executable calls
    the code; an Executable lives while a jitted function's cache entry, a warm-call cache
    entry or a queued call refers to it, so no code is unmapped while it may run. Each
    instance holds one dlopen reference: the loader counts them per library, so two
    functions loaded from the same `lib.so` (the disk cache gives both the same path) keep it
    mapped until both are gone.

    The runtime libraries generated code links (OpenBLAS, libiomp5, MLIR's runner utils) are
    made permanent (RTLD_NODELETE) once loaded: their threads and state outlive any one
    artifact, and unloading OpenBLAS or the OpenMP runtime under its idle threads would crash.
    Symbol lookups (`lib.name`) forward to the ctypes library."""

    def __init__(self, path: str):
        self._cdll = ctypes.CDLL(path)
        self._handle = self._cdll._handle
        _pin_runtime_libraries()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_cdll") or name == "_handle":
            raise AttributeError(name)
        return getattr(self._cdll, name)

    def close(self) -> None:
        """dlclose now (only when no code of the library can run any more)."""
        handle, self._handle = self.__dict__.get("_handle"), None
        if handle and not sys.is_finalizing():  # at exit: pointless, and other finalizers may still call
            _ctypes.dlclose(handle)

    def __del__(self) -> None:
        self.close()


_pinned: set[str] = set()


def _pin_runtime_libraries() -> None:
    for lib in [*runtime_libraries(), "libgcc_s.so.1"]:
        if lib in _pinned:
            continue
        if loaded(lib, os.RTLD_NODELETE) is not None:  # only if already mapped (any copy: by soname)
            _pinned.add(lib)


@dataclass
class NativeCode:
    """Compiled code kept alive with its owner (engine or SharedLibrary: freed or unloaded
    with the last reference); `address` is the packed C entry point; `path` is the artifact
    directory it was loaded from, if any; `memory_hooks` the address of
    `__theanir_set_memory_hooks` (0: the code allocates nothing), which the runtime calls to
    route allocations through its pools; `cancel_hook` the address of
    `__theanir_set_cancel_flag` (0: no loops, or installed already), which the runtime calls
    with its cancel flag; `cancellable`: the code's loops poll that flag (Ctrl-C stops them);
    `check_hook` the address of `__theanir_set_check_hook` (0: no run-time checks, or
    installed already), which the runtime calls with its report of failed checks; `checked`:
    the code has run-time checks (reporting to the runtime already, or once the hook is called)."""

    engine: Any
    address: int
    path: str | None = None
    memory_hooks: int = 0
    cancel_hook: int = 0
    cancellable: bool = False
    check_hook: int = 0
    checked: bool = False
    shape_fn: int = 0  # the packed `<entry>_shapes` (passes/lower/shape_function.py), 0 if none
    trace_key: str | None = None  # the disk cache's trace alias naming `path` (codegen/cache.py)


def c_compiler() -> str | None:
    """The C compiler driver (`$CC`, else `cc`), the fallback linker; or None."""
    cc = os.environ.get("CC", "cc").split()
    return shutil.which(cc[0]) if cc else None


def can_link() -> bool:
    return shutil.which("ld") is not None or c_compiler() is not None


def _packed_wrapper(ir_text: str, entry: str) -> str:
    """LLVM IR of `void _mlir__mlir_ciface_<entry>(void** args)`: args[i] points at the
    i-th descriptor pointer, as in the ExecutionEngine's packed wrappers."""
    ciface = f"_mlir_ciface_{entry}"
    m = re.search(rf"^define void @{ciface}\(([^)]*)\)", ir_text, re.M)
    if m is None:
        raise CodegenError(f"compiled module has no entry point {entry} (void @{ciface})")
    n = len([p for p in m.group(1).split(",") if p.strip()])
    lines = [f"define void @{packed_symbol(entry)}(ptr %args) {{"]
    for i in range(n):
        lines += [f"  %p{i} = getelementptr ptr, ptr %args, i64 {i}",
                  f"  %q{i} = load ptr, ptr %p{i}", f"  %a{i} = load ptr, ptr %q{i}"]
    lines += [f"  call void @{ciface}(" + ", ".join(f"ptr %a{i}" for i in range(n)) + ")",
              "  ret void", "}", ""]
    return "\n".join(lines)


def _run(cmd: list[str], stdin: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise CodegenError(f"{os.path.basename(cmd[0])} failed (exit {proc.returncode}): {err[-2000:]}")
    return proc.stdout


def emit_object(module: ir.Module, entry: str, opt_level: int, target: Target, path: str) -> None:
    """Write relocatable (PIC) object code for an llvm-stage `module` to `path`."""
    from mlir.dialects import llvm

    STATS["llvm_compiles"] += 1
    text = llvm.translate_module_to_llvmir(module.operation)
    passes, codegen_level = LLVM_LEVELS[opt_level]
    parts = codegen_threads(text)
    try:
        wrappers = _packed_wrapper(text, entry)
        if re.search(rf"^define void @_mlir_ciface_{shapes_symbol(entry)}\(", text, re.M):
            wrappers += _packed_wrapper(text, shapes_symbol(entry))
        objs = compile_to_objects(text + "\n" + wrappers, passes, codegen_level, target, parts)
    except LLVMError as e:
        raise CodegenError(str(e)) from None
    if len(objs) == 1:
        with open(path, "wb") as f:
            f.write(objs[0])
        return
    names = [f"{path}.part{i}.o" for i in range(len(objs))]
    try:
        for name, obj in zip(names, objs):
            with open(name, "wb") as f:
                f.write(obj)
        _run([shutil.which("ld") or "ld", "-r", "-o", path, *names])  # one relocatable object
    finally:
        for name in names:
            if os.path.exists(name):
                os.remove(name)


PARALLEL_CODEGEN_CHARS = 1 << 20  # LLVM IR text; ~700 tn ops, ~1.5 s of LLVM (bench/compile_ops.py)


def codegen_threads(llvm_ir: str) -> int:
    """Threads for LLVM's code generation of this module: 1 (the single-module route, every
    ordinary program) unless the IR is over PARALLEL_CODEGEN_CHARS and `ld` can join the
    objects; then one per CPU this process may run on (at most 8), which helps modules of
    several functions (theanir-split-functions cuts huge ones into parts)."""
    if len(llvm_ir) < PARALLEL_CODEGEN_CHARS or shutil.which("ld") is None:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def link_shared(obj: str, path: str, libraries: list[str] | None = None) -> None:
    """Link the object into a shared library that records the runtime libraries it calls
    (found again via rpath). `ld` directly takes ~10 ms; the `cc -shared` driver (~35 ms:
    three processes, crt files, libc and libgcc scripts) is the fallback. `--as-needed`
    matters: libmlir_c_runner_utils.so (memrefCopy) pulls in libMLIR.so, 30-80 ms to load,
    so only code that calls it may name it."""
    libs = runtime_libraries() if libraries is None else libraries
    rpaths = sorted({os.path.dirname(lib) for lib in libs})
    ld = shutil.which("ld")
    if ld is not None:
        try:
            _run([ld, "-shared", "--eh-frame-hdr", "-o", path, obj, *(f"-rpath={d}" for d in rpaths),
                  "--as-needed", *libs, "-lm", "-l:libgcc_s.so.1"])  # libgcc_s: LLVM's builtins
            return
        except CodegenError:
            pass
    cc = c_compiler()
    if cc is None:
        raise CodegenError("no linker (ld, cc or $CC) to link generated code into a shared library")
    _run([cc, *os.environ.get("CC", "cc").split()[1:], "-shared", "-o", path, obj,
          *(f"-Wl,-rpath,{d}" for d in rpaths), "-Wl,--as-needed", *libs, "-lm"])


def packed_symbol(entry: str) -> str:
    return f"_mlir__mlir_ciface_{entry}"


def load_shared(path: str, symbol: str) -> NativeCode:
    """dlopen a linked artifact and look up its packed entry point `symbol`."""
    lib = SharedLibrary(os.path.abspath(path))
    try:
        fn = getattr(lib, symbol)
    except AttributeError:
        raise CodegenError(f"{path} has no entry point {symbol}") from None
    sync_threads()  # th.config.threads to OpenBLAS, if this library mapped it
    try:
        hooks = int(ctypes.cast(getattr(lib, MEMORY_HOOKS_SETTER), ctypes.c_void_p).value)
    except AttributeError:
        hooks = 0
    try:
        cancel = int(ctypes.cast(getattr(lib, CANCEL_SETTER), ctypes.c_void_p).value)
    except AttributeError:
        cancel = 0
    try:
        check = int(ctypes.cast(getattr(lib, CHECK_SETTER), ctypes.c_void_p).value)
    except AttributeError:
        check = 0
    try:
        shapes = int(ctypes.cast(getattr(lib, symbol + "_shapes"), ctypes.c_void_p).value)
    except AttributeError:
        shapes = 0
    return NativeCode(lib, int(ctypes.cast(fn, ctypes.c_void_p).value), os.path.dirname(path), hooks,
                      cancel_hook=cancel, cancellable=bool(cancel), check_hook=check, checked=bool(check),
                      shape_fn=shapes)


def compile_llvm_module(module: ir.Module, entry: str, opt_level: int) -> NativeCode:
    """The engine route: MLIR's ExecutionEngine, code in memory, nothing written to disk."""
    STATS["engine_compiles"] += 1
    # by path, so the copies already mapped (an AOT library's, th.aot.load) rather than second ones
    engine = execution_engine.ExecutionEngine(module, opt_level=opt_level,
                                              shared_libs=[mapped_copy(lib) for lib in runtime_libraries()])
    addr = engine.raw_lookup(f"_mlir_ciface_{entry}")
    if not addr:
        raise RuntimeError(f"compiled module has no entry point {entry}")
    sync_threads()
    _install_memory_hooks_packed(engine.raw_lookup(MEMORY_HOOKS_SETTER))
    cancellable = _install_hook_packed(engine.raw_lookup(CANCEL_SETTER), "cancel_flag")
    checked = _install_hook_packed(engine.raw_lookup(CHECK_SETTER), "check_hook")
    shapes = engine.raw_lookup(f"_mlir_ciface_{shapes_symbol(entry)}") if _has_shapes(module, entry) else 0
    return NativeCode(engine, int(addr), cancellable=cancellable, checked=checked, shape_fn=int(shapes or 0))


def _has_shapes(module: ir.Module, entry: str) -> bool:
    """The module defines `<entry>_shapes` (a lookup of a missing symbol would fail loudly)."""
    name = shapes_symbol(entry)
    return any("sym_name" in op.attributes and ir.StringAttr(op.attributes["sym_name"]).value == name
               for op in module.body.operations)


def _install_hook_packed(setter: int, hook: str) -> bool:
    """Pass the runtime's `hook` address (runtime_hook: "cancel_flag" for the loops' cancel
    polls, "check_hook" for failed run-time checks) to the code through its packed setter;
    False if the code has no such setter (no loops, no checks)."""
    if not setter:
        return False
    value = ctypes.c_void_p(runtime_hook(hook))
    args = (ctypes.c_void_p * 1)(ctypes.addressof(value))
    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(setter)(ctypes.addressof(args))
    return True


def _install_memory_hooks_packed(setter: int) -> None:
    """The engine hands out packed wrappers (`void fn(void** args)`, args[i] pointing at
    argument i): install the runtime's allocation hooks through the setter's."""
    if not setter:
        return
    values = (ctypes.c_void_p * 2)(*runtime_hook("memory_hooks"))
    args = (ctypes.c_void_p * 2)(ctypes.addressof(values), ctypes.addressof(values) + ctypes.sizeof(ctypes.c_void_p))
    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(setter)(ctypes.addressof(args))
