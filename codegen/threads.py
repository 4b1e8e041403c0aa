"""The libraries generated code calls (runner utils, OpenBLAS, libiomp5) and their threads.

`runtime_libraries()` lists what generated code links against; the thread count of those
libraries (OpenBLAS) comes from `th.config.threads` through `set_threads`.

One BLAS library serves generated code: `scipy-openblas32` (DESIGN.md §1). It is found
without importing `scipy_openblas32` (that import costs ~20 ms through importlib.metadata)
and is never loaded here: the dynamic loader maps it when the first compiled function that
calls it is loaded. `sync()` runs after each load (codegen/native.py) and after
`th.config.threads` changes; it sets OpenBLAS's pool size through the library's own
`scipy_openblas_set_num_threads` only if the library is already mapped (`RTLD_NOLOAD`),
so a process that never multiplies matrices never pays for the library or its threads.

OpenMP (`th.config.openmp`, on by default, used when `th.config.threads` > 1):
`convert-linalg-to-parallel-loops`, then theanir-parallel-loops (a cost model: a nest runs
on threads only when its work pays for it, passes/lower/parallel_loops.py), then
`convert-scf-to-openmp`; libiomp5 is linked `--as-needed`, so only code that holds an
OpenMP loop maps it. One OpenMP thread used to be slower than plain loops (10^7-element
tanh chain: 87 ms against 125 ms): `convert-scf-to-openmp` wraps each iteration in a
`memref.alloca_scope` (stacksave/stackrestore), which kept LLVM from vectorizing the loop;
theanir-inline-alloca-scopes removes it, and the OpenMP loop now runs as fast as the serial
one on one thread. Intel's runtime aborts beside another copy of itself (or LLVM's libomp),
so it is only linked where used, and tests that load it run in child processes.
After a loop the team's threads spin for 1 ms before they sleep (KMP_BLOCKTIME=1, unless the
user set it; libiomp5's own default is 200 ms). Spinning idle workers used to take a core from
OpenBLAS's pool, the runtime's queue thread and Python on a 2-CPU machine, so they slept at
once (0); but waking a sleeping worker costs a futex and, on a VM, the wake-up of a halted
vCPU: ~25 us on the 2-vCPU Xeon VM, where a fork/join of a warm team costs ~2 us. The loops
of one call come close together (a training step's split products, every few hundred us), so
with 1 ms each loop finds the team warm, and the spin ends soon after the call: 0 cost the
deep MLP's 2-thread step ~4% (paired rounds in one process) and made a 16384-element
elementwise nest 3-4x slower on 2 threads than on 1, against 1.0-1.2x faster with 1 ms
(bench/parallel_loops.py figures in docs/threads.md). OpenBLAS's pool no longer runs beside the team (it is held at one thread
when OpenMP is on, below). Each OpenMP loop sets its calling thread's team
(`omp_set_num_threads`); dynamic adjustment (`omp_set_dynamic`) is off unless asked for
(passes/lower/parallel_loops.py has the measurements).

NumPy carries a second OpenBLAS (ILP64, its own pool). Two pools that each spin on both
cores oversubscribe a small machine; benchmarks should give NumPy the same count
(threadpoolctl), which is what bench/gemm.py does.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys

BLOCKTIME = "1"  # KMP_BLOCKTIME (ms) set when the user has not: see the module doc
_wanted: int | None = None
_applied: int | None = None
_openmp = False


def runtime_libraries() -> list[str]:
    """Shared libraries generated code may call: MLIR's runner utils (memrefCopy & co.), the
    BLAS library, and libiomp5 only while OpenMP is on (Intel's runtime aborts beside another)."""
    import mlir

    libdir = os.path.join(list(mlir.__path__)[0], "lib")
    return [os.path.join(libdir, "libmlir_c_runner_utils.so")] + [x for x in (blas_library(), openmp_library()) if x]


@functools.cache
def blas_library() -> str | None:
    """Path of scipy-openblas32's `libscipy_openblas.so`, or None if the wheel is missing."""
    spec = importlib.util.find_spec("scipy_openblas32")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "lib", "libscipy_openblas.so")
        if os.path.exists(path):
            return path
    return None


def openmp_library() -> str | None:
    """intel-openmp's `libiomp5.so` (in sys.prefix/lib) while OpenMP is enabled with more than one
    thread (`th.config.openmp`, `th.config.threads`), else None."""
    if not _openmp or (_wanted or 1) < 2:
        return None
    path = os.path.join(sys.prefix, "lib", "libiomp5.so")
    return path if os.path.exists(path) else None


def set_openmp(on: bool) -> None:
    """`th.config.openmp`: generated loop nests become OpenMP parallel loops."""
    global _openmp, _applied
    _openmp = on
    _applied = None
    sync()


def default_threads() -> int:
    """THEANIR_THREADS, else OMP_NUM_THREADS, else the number of CPUs this process may use."""
    for var in ("THEANIR_THREADS", "OMP_NUM_THREADS"):
        text = os.environ.get(var, "").split(",")[0].strip()
        if text.isdigit() and int(text) > 0:
            return int(text)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def set_threads(n: int) -> None:
    """Record the wanted count (`th.config.threads`) and apply it to loaded libraries."""
    global _wanted
    _wanted = n
    sync()


def sync() -> None:
    """Apply the wanted thread count to OpenBLAS if it is mapped and differs from the last."""
    global _applied
    if _wanted is None or _wanted == _applied:
        return
    openmp = openmp_library() is not None
    if openmp:
        # read when libiomp5 initializes, at the first OpenMP loop (see above). The team size
        # is not set here: each OpenMP loop sets its own calling thread's (theanir-parallel-loops)
        os.environ.setdefault("KMP_BLOCKTIME", BLOCKTIME)
    lib = loaded(blas_library())
    if lib is None:
        return  # not loaded yet: the next load calls sync() again
    # With OpenMP, generated code splits big products into blocks on its OpenMP team
    # (convert-linalg-matmul-to-blas) and OpenBLAS runs each block on one thread: its own
    # pool would spin beside the team (passes/lower/matmul_to_blas.py has the figures).
    lib.scipy_openblas_set_num_threads(ctypes.c_int(1 if openmp else _wanted))
    _applied = _wanted


def loaded(path: str | None, mode: int = ctypes.RTLD_GLOBAL) -> ctypes.CDLL | None:
    """The library named like `path` if this process has already mapped a copy of it (never
    loads it; `mode` adds dlopen flags such as RTLD_NODELETE). Looked up by its soname (the
    file name), then its path: an AOT library's copy beside it (th.aot.load) serves
    generated code too, and its thread count must follow."""
    if path is None:
        return None
    for name in dict.fromkeys((os.path.basename(path), path)):
        try:
            return ctypes.CDLL(name, mode=os.RTLD_NOLOAD | mode)
        except OSError:
            continue
    return None


def mapped_copy(path: str) -> str:
    """The file of an already-mapped library with `path`'s file name (its soname), else `path`.

    One copy of each runtime library per process: the dynamic loader resolves a DT_NEEDED
    soname to a copy already mapped (so generated code linked against sys.prefix's libiomp5
    uses the copy an AOT library brought from its folder, and the reverse), but a `dlopen` by
    path maps a second copy of a different file. libiomp5 aborts the process when a second
    copy initializes (Intel's duplicate-runtime check), and two OpenBLAS pools oversubscribe
    the CPUs; so what loads by path (MLIR's ExecutionEngine `shared_libs`) asks here first."""
    name = os.path.basename(path)
    if loaded(name) is None:
        return path
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                file = line.rstrip("\n").split(maxsplit=5)[-1]
                if file.startswith("/") and os.path.basename(file) == name:
                    return file
    except OSError:
        pass
    return path


def blas_threads() -> int | None:
    """OpenBLAS's current pool size, or None if the library is not loaded (for tests)."""
    lib = loaded(blas_library())
    return None if lib is None else int(lib.scipy_openblas_get_num_threads())
