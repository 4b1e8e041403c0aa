"""THE stage table: trace -> tn -> tn-opt -> linalg -> bufferized -> llvm -> native.

Each stage is a named list of steps (an upstream pass pipeline string or a Python pass over
the module operation); `run_until(module, stage)` lowers a copy to any stage, which is what
`Lowered.as_text(stage)` and `theanir-opt` show. Later waves add stages (nvvm, object).
"""
from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field
from typing import Callable, Sequence

from mlir import ir, passmanager

from .lower.bound_empty_tensors import bound_empty_tensors
from .lower.cancel_points import cancel_points
from .lower.convert_tn_to_linalg import convert_tn_to_linalg
from .lower.donated_inits import donated_inits
from .lower.entry_abi import make_entry
from .lower.gemm_updates import gemm_updates
from .lower.matmul_to_blas import convert_linalg_matmul_to_blas
from .lower.restore_matmul import restore_matmuls
from .lower.runtime_memory import runtime_memory
from .lower.small_gemm import small_gemm
from .lower.split_functions import split_functions
from .lower.vector_width import vector_width
from .lower.wide_products import wide_products
from .lower.widen_i1_memrefs import widen_i1_memrefs
from .optimize.phases import phases
from .options import CompileOptions

# MLIR's Python bindings try `import mlir.dialects.<namespace>` each time they wrap an op of a
# dialect that has no Python module, and remember only successes: a failed import per tn op
# wrapped (~40 us each) made the tn optimizer 3-5x slower. An empty module ends the search.
sys.modules.setdefault("mlir.dialects.tn", types.ModuleType("mlir.dialects.tn"))

Step = str | Callable[[ir.Operation, "CompileOptions"], None]


@dataclass
class Stage:
    name: str
    doc: str
    steps: list[Step] = field(default_factory=list)


def _py(fn: Callable[[ir.Operation], None]) -> Step:
    return lambda op, opts: fn(op)


def _optimize(op: ir.Operation, opts: CompileOptions) -> None:
    """The tn optimizer: the phases of `opts.optimizer` (passes/optimize/phases.py)."""
    for _, run in phases(opts.optimizer):
        run(op)


def _linalg_fusion(op: ir.Operation, opts: CompileOptions) -> None:
    """Upstream elementwise fusion below tn; off at fast_compile (so 'fusion off' is real)."""
    if opts.optimizer == "fast_run":
        run_step("linalg-fuse-elementwise-ops,canonicalize,cse", op, opts)
        restore_matmuls(op)  # the reshape fusion turned folded-batch products into generics


def _blas(op: ir.Operation, opts: CompileOptions) -> None:
    """Float matrix products call OpenBLAS (passes/lower/matmul_to_blas.py) when it is installed."""
    if opts.blas and blas_library() is not None:
        convert_linalg_matmul_to_blas(op)


def _openmp(op: ir.Operation, opts: CompileOptions) -> None:
    """Off by default: loop nests become `omp.wsloop`s (see passes/threads.py for why)."""
    if opts.openmp:
        run_step(OPENMP, op, opts)


def _entry_abi(op: ir.Operation, opts: CompileOptions) -> None:
    make_entry(op.regions[0].blocks[0], opts.entry, opts.contiguous, opts.donate)


# No `eliminate-empty-tensors`: after `cse` merges identical `linalg.fill` inits, it let two
# reductions accumulate into one output buffer (a miscompile seen in value_and_grad with
# has_aux; tests/autodiff/test_transforms.py keeps the case). Results are therefore
# computed in temporaries and copied into the caller's buffers.
BUFFERIZE = (
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map allow-return-allocs-from-loops},"
    "canonicalize,func.func(buffer-hoisting,buffer-loop-hoisting),buffer-deallocation-pipeline,canonicalize"
)
TO_LLVM = (
    "convert-linalg-to-loops,lower-affine,expand-strided-metadata,lower-affine,"  # 2nd: subviews at dynamic offsets
    "convert-vector-to-llvm,"  # the kernels of theanir-small-gemm
    # allocations call _mlir_memref_to_llvm_aligned_alloc/_free, defined by theanir-runtime-memory
    "finalize-memref-to-llvm{use-generic-functions use-aligned-alloc},"
    "convert-scf-to-cf,convert-math-to-llvm,convert-math-to-libm,"
    "convert-math-to-funcs,convert-arith-to-llvm,convert-index-to-llvm,convert-ub-to-llvm,"
    "convert-openmp-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,reconcile-unrealized-casts"
)  # convert-openmp-to-llvm: a no-op without th.config.openmp
OPENMP = "convert-linalg-to-parallel-loops,convert-scf-to-openmp"

STAGES: list[Stage] = [
    Stage("tn", "the traced tn IR, as the frontend built it"),
    Stage("tn-opt", "tn after the optimizer phases of th.config.optimizer",
          [_optimize]),
    Stage("linalg", "linalg/tensor/arith/math on tensors, elementwise chains fused",
          [_py(convert_tn_to_linalg), _entry_abi, "inline,canonicalize,cse", _linalg_fusion,
           _py(gemm_updates), _py(donated_inits)]),  # in-place updates computed in the variable's buffer
    Stage("bufferized", "memrefs; results written into the caller's buffers",
          [_py(bound_empty_tensors), BUFFERIZE, _py(widen_i1_memrefs)]),  # i1 ownership flags of loops -> i8
    Stage("llvm", "the LLVM dialect, ready for the ExecutionEngine",
          [_py(small_gemm), _blas, _py(wide_products), _openmp,  # wide_products: f32 loops sum in f64
           _py(split_functions), TO_LLVM,  # huge bodies: calls to parts of bounded size (compile time)
           _py(runtime_memory),  # buffers through the runtime's pool
           _py(cancel_points),  # loops poll the runtime's cancel flag (Ctrl-C)
           _py(vector_width)]),  # 256-bit vectors on AVX-512 hosts
]
STAGE_NAMES = [s.name for s in STAGES]


class PipelineError(RuntimeError):
    """An upstream pass failed on IR we produced: a theanir bug, reported with the IR."""


def run_step(step: Step, op: ir.Operation, opts: CompileOptions) -> None:
    if isinstance(step, str):
        try:
            passmanager.PassManager.parse(f"builtin.module({step})").run(op)
        except ir.MLIRError as e:
            raise PipelineError(f"pass pipeline '{step}' failed: {e}") from None
        return
    step(op, opts)


def run_until(module: ir.Module, stage: str, opts: CompileOptions | None = None,
              start: str = "tn") -> ir.Module:
    """Lower `module` (at stage `start`) in place through the table up to `stage`."""
    if stage not in STAGE_NAMES:
        raise ValueError(f"unknown stage {stage!r}; stages are {STAGE_NAMES}")
    opts = opts or CompileOptions()
    begin = STAGE_NAMES.index(start) + 1
    end = STAGE_NAMES.index(stage) + 1
    with module.context, ir.Location.unknown():
        for s in STAGES[begin:end]:
            for step in s.steps:
                run_step(step, module.operation, opts)
    return module


def clone(module: ir.Module) -> ir.Module:
    """A deep copy (locations included): op-by-op, 25x faster than print + parse."""
    with module.context, ir.Location.unknown():
        new = ir.Module.create()
        for named in module.operation.attributes:
            new.operation.attributes[named.name] = named.attr
        ip = ir.InsertionPoint(new.body)
        for op in module.body.operations:
            op.operation.clone(ip)
        return new


def runtime_libraries() -> list[str]:
    """Shared libraries generated code may call (memrefCopy & co.)."""
    import mlir

    libdir = os.path.join(list(mlir.__path__)[0], "lib")
    blas = blas_library()
    omp = openmp_library()  # only while th.config.openmp: Intel's runtime aborts beside another
    return [os.path.join(libdir, "libmlir_c_runner_utils.so")] + [x for x in (blas, omp) if x]


def openmp_library() -> str | None:
    """intel-openmp's libiomp5.so when th.config.openmp is on (passes/threads.py), else None."""
    from .threads import openmp_library as find

    return find()


def blas_library() -> str | None:
    """scipy-openblas32's shared library (scipy_cblas_sgemm & co.), or None if not installed."""
    from .threads import blas_library as find

    return find()
