"""THE stage table: trace -> tn -> tn-opt -> linalg -> bufferized -> llvm | nvvm.

Each stage lists steps: a registered pass NAME (`passes/registry.py`; its options derived from
`CompileOptions` by the pass's `from_compile_options`) or upstream pipeline text, each with an
optional condition on the options (`when`: the optimizer level, blas, openmp). The optimizer's
levels are conditions on tn-opt's steps, not tables of their own: `fast_run` runs every rewrite
phase (canonicalize -> loop passes -> stabilize -> specialize -> canonicalize -> expand -> fuse;
the loop passes see canonical bodies and leave their debris, reshape chains and duplicated
hoisted ops, to the second canonicalize), `fast_compile` only what lowering needs, plus
tn-fuse in functions of over 1024 ops (a compile-time rewrite: see passes/optimize/fuse.py).

Every step runs inside an MLIR `PassManager` (Python passes added with `pm.add(callable, ...)`,
upstream ones by text; one per run of consecutive steps of one kind in a stage, see
`run_until`), so IR printing and timing come from MLIR. `run_until(module, stage)`
lowers a module to any stage, which is what `Lowered.as_text(stage)` and `theanir-opt` show.
"""
from __future__ import annotations

import itertools
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable

from mlir import ir, passmanager

from theanir.dialects.tn.types import clear_spec_cache

from .options import CompileOptions
from .registry import PASSES

# MLIR's Python bindings try `import mlir.dialects.<namespace>` each time they wrap an op of a
# dialect that has no Python module, and remember only successes: a failed import per tn op
# wrapped (~40 us each) made the tn optimizer 3-5x slower. An empty module ends the search.
sys.modules.setdefault("mlir.dialects.tn", types.ModuleType("mlir.dialects.tn"))

CONDITIONS: dict[str, Callable[[CompileOptions], bool]] = {
    "": lambda o: True,
    "fast_run": lambda o: o.optimizer == "fast_run",
    "fast_compile": lambda o: o.optimizer == "fast_compile",
    "blas": lambda o: bool(o.blas),  # the frontend resolved it (False when no library)
    "openmp": lambda o: bool(o.openmp),
    "shape_functions": lambda o: bool(o.shape_functions),
}
OPTIMIZERS = ("fast_run", "fast_compile")


@dataclass(frozen=True)
class Step:
    """A registered pass name or upstream pipeline text, run when `CONDITIONS[when](opts)`."""

    name: str
    when: str = ""

    def applies(self, opts: CompileOptions) -> bool:
        return CONDITIONS[self.when](opts)

    @property
    def upstream(self) -> bool:
        return self.name not in PASSES

    def __str__(self) -> str:
        return f"{self.name} [{self.when}]" if self.when else self.name


@dataclass
class Stage:
    name: str
    doc: str
    steps: list[Step] = field(default_factory=list)


# No `eliminate-empty-tensors`: after `cse` merges identical `linalg.fill` inits, it let two
# reductions accumulate into one output buffer (a miscompile seen in value_and_grad with
# has_aux; tests/autodiff/test_transforms.py keeps the case). Results are therefore
# computed in temporaries and copied into the caller's buffers, except where
# theanir-donated-inits or theanir-results-in-place (restricted forms of it) apply.
BUFFERIZE = (
    "one-shot-bufferize{bufferize-function-boundaries "
    "function-boundary-type-conversion=identity-layout-map allow-return-allocs-from-loops},"
    "canonicalize,func.func(buffer-hoisting,buffer-loop-hoisting),buffer-deallocation-pipeline"
)  # no canonicalize after it: the deallocation pipeline ends with one (a second found nothing).
# The canonicalize before the hoisting stays: without it (~0.5 s less at 10^4 ops) the MLP,
# RNN and cond programs lowered the same, but a failed call of `(exp(x) @ exp(x).T).sum()`
# with the buffer pool kept more memory (tests/reliability/test_memory.py)
TO_LLVM = (
    # the ownership-dependent bufferization.clone of a loop's result of dynamic shape returned
    # through a slot (theanir-dynamic-results): alloc + copy
    "convert-bufferization-to-memref,"
    "convert-linalg-to-loops,lower-affine,expand-strided-metadata,lower-affine,"  # 2nd: subviews at dynamic offsets
    "convert-vector-to-llvm,"  # the kernels of theanir-small-gemm
    # allocations call _mlir_memref_to_llvm_aligned_alloc/_free, defined by theanir-runtime-memory
    "finalize-memref-to-llvm{use-generic-functions use-aligned-alloc},"
    # complex<f32>/complex<f64>: the complex dialect's math to arith/math on the two parts,
    # then what is left (create/re/im/constants) to LLVM structs
    "convert-complex-to-standard,"
    "convert-scf-to-cf,convert-math-to-llvm,convert-math-to-libm,"
    "convert-math-to-funcs,convert-arith-to-llvm,convert-complex-to-llvm,convert-index-to-llvm,convert-ub-to-llvm"
)
# A whole-module walk (~0.5 s at 10^4 ops) that finds nothing without th.config.openmp.
OPENMP_TO_LLVM = "convert-openmp-to-llvm"
FUNC_TO_LLVM = "convert-func-to-llvm,convert-cf-to-llvm,reconcile-unrealized-casts"
# OpenMP (th.config.threads > 1): linalg -> scf.parallel; theanir-parallel-loops keeps a nest parallel only
# when its work pays (cost model), the rest become scf.for; then omp loops.
PARALLEL_LOOPS = "convert-linalg-to-parallel-loops"
FORALL_TO_PARALLEL = "func.func(scf-forall-to-parallel)"
FORALL_TO_FOR = "func.func(scf-forall-to-for)"
OPENMP = "convert-scf-to-openmp"
LINALG_FUSION = "linalg-fuse-elementwise-ops,canonicalize,cse"  # upstream, below tn; fast_run only

# CUDA (DESIGN §5): linalg -> parallel loops tiled by 256 -> one GPU thread per element of
# a tile -> outlined kernels -> NVVM -> PTX. `cubin-format=isa` stops at PTX text (bin/fatbin
# would call a CUDA toolkit's ptxas); codegen/cuda.py turns it into a cubin with nvJitLink.
# A reduction's parallel dims map to threads, its reduced dims run as a loop in each thread.
GPU_MAP = (
    "convert-bufferization-to-memref,"
    "func.func(convert-linalg-to-parallel-loops,"
    "scf-parallel-loop-tiling{parallel-loop-tile-sizes=256 no-min-max-bounds},"
    "gpu-map-parallel-loops,convert-parallel-loops-to-gpu),"
    "gpu-kernel-outlining,lower-affine,canonicalize"
)
CUDA_CHIP = "sm_90"
GPU_TO_NVVM = f"gpu-lower-to-nvvm-pipeline{{cubin-chip={CUDA_CHIP} cubin-features=+ptx80 cubin-format=isa}}"

# The inliner keeps its default pipeline (a canonicalize of each function before inlining into
# it), although the canonicalize after it repeats most of it: without it, masked_scatter's
# op-table row (a zero-size slice at a dynamic offset) folded into an extract_slice that
# fails verification (offset out of bounds for a 0-size dim) after the inlining.
INLINE = "inline,canonicalize,cse"
FAST_RUN = "fast_run"
CANONICALIZE = "tn-canonicalize"  # rerun only after a pass changed the module (add_pass)
STAGES: list[Stage] = [
    Stage("tn", "the traced tn IR, as the frontend built it"),
    Stage("tn-opt", "tn after the optimizer: every phase at fast_run, verify + dce + row updates at fast_compile "
                    "(+ fusion in huge functions)", [
        Step("tn-verify"),
        Step("tn-dce", "fast_compile"),
        Step("tn-row-updates", "fast_compile"),  # fast_run: part of tn-canonicalize
        Step("tn-canonicalize", FAST_RUN),
        # loop passes: inline first (its body is then simplified like straight-line code), dce
        # before merge (less to merge), hoist before vecmat (W must be outside the loop); dce
        # again after accumulate (the carries it empties)
        Step("tn-scan-inline", FAST_RUN),
        Step("tn-scan-dce", FAST_RUN),
        Step("tn-scan-merge", FAST_RUN),
        Step("tn-scan-hoist", FAST_RUN),
        Step("tn-scan-vecmat-to-matmat", FAST_RUN),
        Step("tn-scan-accumulate-to-matmat", FAST_RUN),
        Step("tn-scan-dce", FAST_RUN),
        Step("tn-stabilize", FAST_RUN),
        Step("tn-outer-product-to-mul", FAST_RUN),  # specialize: a speed heuristic
        Step("tn-canonicalize", FAST_RUN),
        Step("tn-expand-composites", FAST_RUN),  # once the stabilizer no longer needs them whole
        Step("tn-canonicalize", FAST_RUN),
        # last: fuse what the rewrite phases left; at fast_compile only in huge functions
        # (its min-ops option), where fusing costs less compile time than it saves
        Step("tn-fuse"),
    ]),
    Stage("linalg", "linalg/tensor/arith/math on tensors, elementwise chains fused", [
        Step("tn-expand-composites"),  # convert-tn-to-linalg lowers no composite
        Step("tn-sink-into-branches"),  # lazy tn.cond: what one branch needs runs in it
        Step("convert-tn-to-linalg"),
        Step("theanir-entry-abi"),
        Step(INLINE),
        Step("theanir-shape-function", "shape_functions"),  # dynamic results sized by input shapes: destinations
        Step(LINALG_FUSION, FAST_RUN),
        Step("linalg-restore-matmul", FAST_RUN),  # reshape fusion turned folded-batch products into generics
        Step("theanir-unshare-fills"),  # cse's shared zero inits: one fill each, no copies
        Step("theanir-gemm-updates"),  # in-place updates computed in the variable's buffer
        Step("theanir-donated-inits"),
        Step("theanir-results-in-place"),  # results computed in the caller's buffers
    ]),
    Stage("bufferized", "memrefs; results written into the caller's buffers", [
        Step("theanir-sparsify"),  # sparse kernels: MLIR's sparsifier, apart (theanir-sparse-kernels)
        Step("theanir-bound-empty-tensors"),  # bounds one-shot bufferization's analysis (compile time)
        Step(BUFFERIZE),
        Step("theanir-sparse-kernels"),  # the sparsifier's kernels, compiled apart, back in place
        Step("theanir-widen-i1-memrefs"),  # i1 ownership flags of loops -> i8
        Step("theanir-dynamic-results"),  # results with dynamic dims: buffers handed to the runtime
    ]),
    Stage("llvm", "the LLVM dialect, ready for the ExecutionEngine", [
        Step(FORALL_TO_PARALLEL, "openmp"),  # batch blocks of a convolution (ops/window_lower.py),
        Step(FORALL_TO_FOR),  # CSR x dense rows: on the threads, or one after the other
        Step("theanir-matmul-into-result"),  # products bound for kernels/BLAS: no temporary
        Step("theanir-small-gemm"),
        Step("convert-linalg-matmul-to-blas", "blas"),
        Step("theanir-wide-products"),  # f32 loops sum in f64
        Step("theanir-outline-kernels"),  # huge bodies: each distinct loop nest compiled once
        Step(PARALLEL_LOOPS, "openmp"),
        Step("theanir-parallel-loops", "openmp"),  # the cost model: small nests stay serial
        Step(OPENMP, "openmp"),
        Step("theanir-inline-alloca-scopes", "openmp"),  # else the omp loops do not vectorize
        Step("theanir-split-functions"),  # huge bodies: calls to parts of bounded size (compile time)
        Step(TO_LLVM),
        Step(OPENMP_TO_LLVM, "openmp"),
        Step(FUNC_TO_LLVM),
        Step("theanir-runtime-memory"),  # buffers through the runtime's pool
        Step("theanir-cancel-points"),  # loops poll the runtime's cancel flag (Ctrl-C)
        Step("theanir-runtime-checks"),  # failed run-time checks fail the call
        Step("theanir-vector-width"),  # 256-bit vectors on AVX-512 hosts
    ]),
    # a sibling of llvm (PARENT): the same bufferized module, for CUDA GPUs (codegen/cuda.py)
    Stage("nvvm", "CUDA: host LLVM dialect + gpu.binary holding PTX for sm_90; products call cuBLAS", [
        Step(FORALL_TO_FOR),  # host loops around the kernels (an scf.parallel would become a kernel)
        Step("convert-linalg-matmul-to-cublas"),  # before loops become kernels: no naive gemm
        Step("theanir-gpu-expand-remf"),  # fmod without libdevice
        Step(GPU_MAP),
        Step("convert-complex-to-standard"),  # complex<f32/f64> math on the two parts, also in kernels
        Step(GPU_TO_NVVM),
    ]),
]
STAGE_NAMES = [s.name for s in STAGES]
# A stage follows the one before it in the table, except a sibling, which follows its parent.
PARENT = {"nvvm": "bufferized"}


class PipelineError(RuntimeError):
    """An upstream pass failed on IR we produced: a theanir bug, reported with the IR."""


def add_pass(pm: passmanager.PassManager, name: str, options: Any,
             state: dict[str, Any] | None = None, first: bool = False) -> None:
    """Add registered pass `name` with `options` to `pm` as a Python pass of MLIR's.

    `state` (shared by the passes of a PassManager that holds only ours, see `pass_manager`)
    lets a rerun of tn-canonicalize be skipped where it would find nothing: a pass's `run`
    returns its change count (0: module unchanged; None: unknown, counted as a change), and
    tn-canonicalize with the same options on a module that no pass changed since its last
    run is at its own fixed point already. `first`: the pass that begins a run of the
    PassManager (it forgets the previous run's module)."""
    cls = PASSES[name]

    def run(op: ir.Operation, pass_: Any) -> None:
        if state is not None and first:
            state.clear()
        if state is not None and name == CANONICALIZE and state.get("canonical") == options:
            return
        changed = cls.run(op, options)
        if state is None:
            return
        if name == CANONICALIZE:
            state["canonical"] = options
        elif changed is None or changed:
            state.pop("canonical", None)

    pm.add(run, name=cls.__name__, argument=name, description=cls.doc())


def parent(stage: str) -> str | None:
    """The stage whose output `stage` starts from (None for tn)."""
    i = STAGE_NAMES.index(stage)
    return PARENT.get(stage, STAGE_NAMES[i - 1] if i else None)


def stage_path(first: str, last: str) -> list[Stage]:
    """The stages run to go from `first`'s output to `last`'s (empty when equal)."""
    for stage in (first, last):
        if stage not in STAGE_NAMES:
            raise ValueError(f"unknown stage {stage!r}; stages are {STAGE_NAMES}")
    path: list[str] = []
    at: str | None = last
    while at is not None and at != first:
        path.append(at)
        at = parent(at)
    if at is None:
        raise ValueError(f"stage {last!r} does not follow stage {first!r}")
    return [STAGES[STAGE_NAMES.index(n)] for n in reversed(path)]


def stage_steps(first: str, last: str, opts: CompileOptions) -> list[tuple[str, Any]]:
    """(name, options) of the steps after stage `first` up to and including `last` that
    apply under `opts`; options are None for upstream text."""
    stages = stage_path(first, last)
    if opts.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {opts.optimizer!r}")
    out = []
    for s in stages:
        for step in s.steps:
            if step.applies(opts):
                cls = PASSES.get(step.name)
                out.append((step.name, None if cls is None else cls.from_compile_options(opts)))
    return out


def pass_manager(steps: list[tuple[str, Any]]) -> passmanager.PassManager:
    """One PassManager (on builtin.module) running `steps` in order (needs a context).
    Where every step is ours, reruns of tn-canonicalize that would find nothing are skipped
    (`add_pass`); an upstream pass's changes cannot be seen, so a mixed list runs each."""
    pm = passmanager.PassManager("builtin.module")
    state: dict[str, Any] | None = {} if all(name in PASSES for name, _ in steps) else None
    for i, (name, options) in enumerate(steps):
        if name in PASSES:
            add_pass(pm, name, options, state, first=i == 0)
        else:
            pm.add(name)
    return pm


def run_step(step: Step | str, op: ir.Operation, opts: CompileOptions) -> None:
    """One step of the table on `op` (bench/compile.py times them one by one)."""
    step = step if isinstance(step, Step) else Step(step)
    if not step.applies(opts):
        return
    cls = PASSES.get(step.name)
    _run(pass_manager([(step.name, None if cls is None else cls.from_compile_options(opts))]), op, step.name)


def _run(pm: passmanager.PassManager, op: ir.Operation, what: str) -> None:
    try:
        pm.run(op)
    except ir.MLIRError as e:
        raise PipelineError(f"pass pipeline '{what}' failed: {e}") from None


def run_until(module: ir.Module, stage: str, opts: CompileOptions | None = None,
              start: str = "tn", print_ir: bool = False) -> ir.Module:
    """Lower `module` (at stage `start`) in place through the table up to `stage`.

    Each run of consecutive steps of one kind in a stage shares a PassManager: MLIR verifies
    the module after every upstream pass, as before they ran in PassManagers (this build
    asserts on invalid input), not after ours (tn-verify checks the input; the next upstream
    pass's verification checks our output). Lowering a 200-op function to llvm: ~430 ms so,
    ~460 ms verifying after our passes too, ~335 ms verifying nothing.
    `print_ir`: MLIR prints the IR after each pass to stderr."""
    opts = opts or CompileOptions()
    stage_steps(start, stage, opts)  # validates the names and the optimizer
    try:
        with module.context, ir.Location.unknown():
            for s in stage_path(start, stage):
                steps = stage_steps(parent(s.name), s.name, opts)
                for ours, group in itertools.groupby(steps, key=lambda step: step[0] in PASSES):
                    pm = pass_manager(list(group))
                    pm.enable_verifier(not ours)
                    if print_ir:
                        pm.enable_ir_printing()
                    _run(pm, module.operation, s.name)
    finally:
        clear_spec_cache()  # its keys would keep this module's context alive
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
