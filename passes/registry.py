"""THE pass registry: every pass and named pipeline `theanir-opt` knows by name.

An entry is a `PassInfo`: a kebab-case name, a one-line doc, `run(module_op)`, and whether it
is ours (a Python pass) or upstream (an MLIR pipeline string run by a `PassManager`). A named
pipeline (`lower-to-cpu`) is an entry with `steps`: the stage table of `pipeline.py` from `tn`
to `llvm`, so the CLI and `th.jit` lower through one table. Upstream passes are not listed:
any name MLIR's own pass parser accepts is an upstream pass (`upstream_pass(text)` wraps one).

    from theanir.passes.registry import lookup
    lookup("tn-cse").run(module.operation)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from mlir import ir, passmanager

from .lower.bound_empty_tensors import NAME as BOUND_EMPTY, bound_empty_tensors
from .lower.cancel_points import NAME as CANCEL_POINTS, cancel_points
from .lower.convert_tn_to_linalg import NAME as TO_LINALG, convert_tn_to_linalg
from .lower.donated_inits import NAME as DONATED_INITS, donated_inits
from .lower.entry_abi import NAME as ENTRY_ABI, make_entry
from .lower.gemm_updates import NAME as GEMM_UPDATES, gemm_updates
from .lower.matmul_to_blas import NAME as TO_BLAS, convert_linalg_matmul_to_blas
from .lower.restore_matmul import NAME as RESTORE_MATMUL, restore_matmuls
from .lower.runtime_memory import NAME as RUNTIME_MEMORY, runtime_memory
from .lower.small_gemm import NAME as SMALL_GEMM, small_gemm
from .lower.split_functions import NAME as SPLIT_FUNCTIONS, split_functions
from .lower.vector_width import NAME as VECTOR_WIDTH, vector_width
from .lower.wide_products import NAME as WIDE_PRODUCTS, wide_products
from .lower.widen_i1_memrefs import NAME as WIDEN_I1, widen_i1_memrefs
from .optimize.canonicalize import NAME as CANONICALIZE, canonicalize
from .optimize.dce_cse import CSE_NAME, DCE_NAME, run_cse, run_dce
from .optimize.fuse import NAME as FUSE, run_fuse
from .optimize.loops import (SCAN_DCE, SCAN_HOIST, SCAN_INLINE, SCAN_MERGE, SCAN_VECMAT,
                             run_scan_dce, run_scan_hoist, run_scan_inline, run_scan_merge,
                             run_scan_vecmat_to_matmat)
from .optimize.loops.accumulate import NAME as SCAN_ACCUMULATE, run_scan_accumulate_to_matmat
from .optimize.phases import phases
from .optimize.stabilize import NAME as STABILIZE, stabilize
from .pipeline import STAGES, CompileOptions, _optimize
from .verify import NAME as VERIFY, verify_module


@dataclass(frozen=True)
class PassInfo:
    """One runnable unit: `run(module_op)` transforms the module in place or raises."""

    name: str
    doc: str
    run: Callable[[ir.Operation], None]
    upstream: bool = False
    steps: tuple["PassInfo", ...] = field(default=())  # non-empty for a named pipeline

    @property
    def is_pipeline(self) -> bool:
        return bool(self.steps)


def upstream_pass(text: str) -> PassInfo:
    """An upstream pipeline element (`cse`, `func.func(canonicalize)`, ...) as a PassInfo.

    Runs `builtin.module(text)` with a fresh PassManager; raises `ValueError` if MLIR cannot
    parse the text and `ir.MLIRError` (with located diagnostics) if a pass fails.
    """

    def run(module_op: ir.Operation) -> None:
        passmanager.PassManager.parse(f"builtin.module({text})").run(module_op)

    return PassInfo(text, "upstream MLIR pass pipeline", run, upstream=True)


def _entry_abi(module_op: ir.Operation) -> None:
    make_entry(module_op.regions[0].blocks[0], CompileOptions().entry)


def _step_name(stage: str, step: Callable) -> str:
    """A stage-table step's name: the registered pass it wraps, else `stage:function`."""
    for cell in getattr(step, "__closure__", None) or ():  # pipeline._py(fn) lambdas
        if callable(cell.cell_contents):
            step = cell.cell_contents
    for info in PASSES.values():
        if info.run is step:
            return info.name
    name = getattr(step, "__name__", "step")
    return ENTRY_ABI if name == "_entry_abi" else f"{stage}:{name.lstrip('_')}"


def _stage_steps(first: str, last: str) -> tuple[PassInfo, ...]:
    """The stage table's steps after stage `first` up to and including stage `last`."""
    names = [s.name for s in STAGES]
    steps: list[PassInfo] = []
    for stage in STAGES[names.index(first) + 1: names.index(last) + 1]:
        for step in stage.steps:
            if isinstance(step, str):
                steps.append(upstream_pass(step))
                continue
            if step is _optimize:  # the optimizer stage: its phases, by name
                for name, fn in phases(CompileOptions().optimizer):
                    steps.append(PASSES.get(name) or PassInfo(name, stage.doc, fn))
                continue
            run = (lambda s: lambda op: s(op, CompileOptions()))(step)
            steps.append(PassInfo(_step_name(stage.name, step), stage.doc, run))
    return tuple(steps)


def _pipeline(name: str, doc: str, steps: tuple[PassInfo, ...]) -> PassInfo:
    def run(module_op: ir.Operation) -> None:
        for s in steps:
            s.run(module_op)

    return PassInfo(name, doc, run, steps=steps)


PASSES: dict[str, PassInfo] = {}
ALIASES: dict[str, str] = {"tn-to-linalg": TO_LINALG}


def register(info: PassInfo) -> PassInfo:
    if info.name in PASSES or info.name in ALIASES:
        raise ValueError(f"pass {info.name!r} is registered twice")
    PASSES[info.name] = info
    return info


register(PassInfo(VERIFY, "MLIR's verifier plus every tn op's shape/dtype rule", verify_module))
register(PassInfo(CSE_NAME, "merge identical pure tn ops", run_cse))
register(PassInfo(DCE_NAME, "erase unused pure tn ops", run_dce))
register(PassInfo(CANONICALIZE, "constant folding, merge (cse), dce, identities, shape chains, sums "
                  "of broadcasts, to a fixed point", canonicalize))
register(PassInfo(STABILIZE, "numerically stable forms: log1p, expm1, softplus, log_softmax, "
                  "logsumexp, softmax (and their gradients)", stabilize))
register(PassInfo(FUSE, "group elementwise chains (+ a trailing reduction) into tn.fusion ops, "
                  "each lowered to one linalg.generic", run_fuse))
register(PassInfo(SCAN_INLINE, "tn.scan with a static trip of 1 (0): its body inlined at index 0 "
                  "(its initial values)", run_scan_inline))
register(PassInfo(SCAN_DCE, "tn.scan: drop unused stacked outputs and dead carry chains, erase "
                  "unused scans", run_scan_dce))
register(PassInfo(SCAN_MERGE, "merge independent tn.scans over the same steps into one loop",
                  run_scan_merge))
register(PassInfo(SCAN_HOIST, "move loop-invariant pure ops out of tn.scan bodies", run_scan_hoist))
register(PassInfo(SCAN_VECMAT, "tn.scan: take(xs, i) @ W per step -> take(xs @ W, i), one "
                  "matrix-matrix product before the loop", run_scan_vecmat_to_matmat))
register(PassInfo(SCAN_ACCUMULATE, "tn.scan: a carry summing matmul(P_i, Q_i) per step -> P, Q "
                  "stacked and one matrix-matrix product after the loop",
                  run_scan_accumulate_to_matmat))
register(PassInfo(TO_LINALG, "lower every tn op to linalg/tensor/arith/math", convert_tn_to_linalg))
register(PassInfo(ENTRY_ABI, "give @main the destination-passing C interface (memrefs, "
                  "llvm.emit_c_interface)", _entry_abi))
register(PassInfo(RESTORE_MATMUL, "a matmul over folded rows that reshape fusion made a "
                  "linalg.generic becomes collapse_shape -> linalg.matmul -> expand_shape again",
                  restore_matmuls))
register(PassInfo(DONATED_INITS, "an in-place update (donated result) produced by a linalg.generic "
                  "into an unused tensor.empty is computed in the donated tensor instead", donated_inits))
register(PassInfo(GEMM_UPDATES, "an in-place update w -/+ c * (a @ b) of a donated result accumulates "
                  "the product into w (linalg.matmul with w as init, the smaller operand scaled by -/+c)",
                  gemm_updates))
register(PassInfo(VECTOR_WIDTH, "in the LLVM dialect: defined functions ask for 256-bit vectors "
                  "(passthrough prefer-vector-width), as clang does for AVX-512 hosts", vector_width))
register(PassInfo(BOUND_EMPTY, "before bufferization: a tensor.empty shared by more than 64 destinations "
                  "is cloned per run of 64 (bounds one-shot analysis; compile time)", bound_empty_tensors))
register(PassInfo(SPLIT_FUNCTIONS, "after bufferization: a function of more than 1024 top-level ops becomes "
                  "calls to private parts of 32 ops (bounds per-function costs; compile time)", split_functions))
register(PassInfo(WIDEN_I1, "after bufferization: i1 memrefs (loop ownership flags) become i8, "
                  "converted at loads and stores", widen_i1_memrefs))
register(PassInfo(SMALL_GEMM, "after bufferization: a float linalg.matmul with static sizes and a "
                  "side <= 16 (minibatch rows, or a rank-k update) calls a generated register-blocked "
                  "kernel (vector loads of rows read in place) instead of BLAS", small_gemm))
register(PassInfo(TO_BLAS, "after bufferization: float (batch_)matmul on strided memrefs calls "
                  "scipy_cblas_?gemm/?gemv, the loops kept for layouts BLAS cannot take",
                  convert_linalg_matmul_to_blas))
register(PassInfo(WIDE_PRODUCTS, "after the BLAS passes: a float32 (batch_)matmul left to loops "
                  "accumulates in a float64 buffer, rounded once (K > 256)", wide_products))
register(PassInfo(RUNTIME_MEMORY, "in the LLVM dialect: define the generic alloc/free functions to call "
                  "the runtime's hooks (its buffer pool), aligned_alloc/free until installed", runtime_memory))
register(PassInfo(CANCEL_POINTS, "in the LLVM dialect: define @__theanir_cancelled, the poll loops "
                  "call at each step (a volatile load of the flag the exported setter installs: the "
                  "runtime's Ctrl-C flag)", cancel_points))
register(_pipeline("lower-to-cpu", "the whole stage table: tn -> tn-opt -> linalg -> bufferized "
                   "-> llvm", _stage_steps("tn", "llvm")))


def lookup(name: str) -> PassInfo | None:
    """The registered pass or pipeline called `name` (or one of its aliases), else None."""
    return PASSES.get(ALIASES.get(name, name))
