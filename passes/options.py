"""`CompileOptions`: everything besides the module that decides the code a compile produces.

One definition serves three readers: the stage table (each pass's options are derived from
it, `passes/pipeline.py`), the in-process compile cache of `th.jit`/`th.function`, and the
disk cache key (`codegen/cache.py`). The frontend builds it from `th.config` and the jit
arguments (`frontend/options.py`); passes never read `th.config` or probe the host themselves.
A setting that changes generated code must be a field here, or two compiles that differ in
it would share code.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass
class CompileOptions:
    """What a compile needs beyond the module.

    entry: name of the entry function.
    contiguous: per argument, whether it is C-contiguous (None: all are).
    optimizer: "fast_run" (every tn rewrite) or "fast_compile" (only what lowering needs).
    opt_level: LLVM optimization level 0-3.
    fast_math: rewrites that assume finite values (x - x -> 0 for floats).
    blas: float (batch_)matmul calls scipy_cblas_?gemm (only when the library is installed:
        the frontend resolves that into this field).
    openmp: loop nests whose work pays for it become OpenMP parallel loops (theanir-parallel-
        loops); the frontend sets it only with threads > 1.
    threads: the OpenMP team size of those loops (th.config.threads; 0: OpenMP's default,
        OMP_NUM_THREADS, for AOT libraries); 1 whenever openmp is off.
    donate: (input, output) pairs: the output is written into the input's buffer.
    codegen: "object" (LLVM C API -> object file -> shared library) or "engine".
    device: "cpu", "cuda" or "cuda:N": where the code runs (th.config.device, th.jit's device);
        a CUDA device compiles through the nvvm stage (codegen/cuda.py), not llvm.
    target_features: LLVM feature string of the CPU the code is for ("" until resolved);
        decides vector widths and the small-GEMM kernels (AVX-512 or not).
    shape_functions: dynamic results sized by the input shapes get a generated shape function
        and runtime-allocated destinations (theanir-shape-function); False keeps every dynamic
        result in its slot (AOT libraries: their C wrapper copies slot results out).
    """

    entry: str = "main"
    contiguous: Sequence[bool] | None = None
    optimizer: str = "fast_run"
    opt_level: int = 2
    fast_math: bool = False
    blas: bool = True
    openmp: bool = False
    threads: int = 1
    donate: Sequence[tuple[int, int]] = ()
    codegen: str = "object"
    target_features: str = ""
    shape_functions: bool = True
    device: str = "cpu"

    def key(self) -> tuple[tuple[str, Any], ...]:
        """A hashable value of every field: the in-process cache key's options part."""
        return tuple((f.name, _frozen(getattr(self, f.name))) for f in dataclasses.fields(self))

    def key_text(self) -> str:
        """The same key as canonical JSON: the disk cache key's options part."""
        return json.dumps(dict(self.key()), sort_keys=True, default=str)


def _frozen(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    return v
