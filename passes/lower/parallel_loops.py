"""theanir-parallel-loops: a loop nest runs on OpenMP threads only when its work pays for it.

Runs between `convert-linalg-to-parallel-loops` (every linalg op became an `scf.parallel`
over its parallel dims, its reduced dims `scf.for`s inside) and `convert-scf-to-openmp`
(every `scf.parallel` left becomes `omp.parallel` + `omp.wsloop`). For each outermost
`scf.parallel` it estimates the work of one run of the nest:

    work = trip count of the parallel dims x cost of one iteration of its body,

the body's cost being the sum of its ops' weights (`WEIGHTS`: 1 for most, more for
divisions and transcendental functions), an inner `scf.for` counting its trip count times
its own body. Trip counts known at compile time are multiplied out; one that is only known
at run time (a dynamic dim: `memref.dim` or a function argument, defined outside the nest)
becomes index arithmetic in front of the nest; an inner loop whose bounds are computed
inside the nest (the sparsifier's loops over a row's nonzeros) counts `UNKNOWN_TRIPS`. Then

    work < min_work (static)   -> the nest becomes nested scf.for: the serial code, as without OpenMP
    work >= min_work (static)  -> the scf.parallel stays: an OpenMP loop
    work known at run time     -> scf.if (work >= min_work) { scf.parallel } else { scf.for nest }

so a small call runs exactly the serial loops it ran before (a dynamic one pays one compare).
Nested `scf.parallel`s (inside a kept one) always become `scf.for`s: one team per nest.
A kept nest keeps only its leading dims parallel, the fewest whose static trip counts give
every thread `CHUNKS_PER_THREAD` iterations (a dim sized at run time counts as enough); its
other dims become `scf.for`s inside. convert-scf-to-openmp would otherwise collapse every dim
into one OpenMP loop whose body rebuilds each index by division and remainder, and the
innermost loop no longer vectorizes: LeNet-5's layout copies took 4x the CPU time of their
serial loops on 2 threads, and its step ran 239 ms on 2 threads against 175 ms on 1 (149
ms with only the leading dims parallel).
Before each kept nest, `omp_set_dynamic(dynamic)` and `omp_set_num_threads(threads)`
(libiomp5) set the team of the calling thread (the runtime's queue thread or, in sync mode,
the caller): those ICVs are per thread, so the count `th.config.threads` had at compile time
(a field of CompileOptions) is what the nest gets; `threads = 0` leaves OpenMP's own
defaults (OMP_NUM_THREADS), what an AOT library wants. Dynamic adjustment (option
`dynamic`, off by default: libiomp5's load_balance mode, the system's running threads
sampled at most once a second) shrinks the team while other threads hold the CPUs; it
counted this process's own threads too (the caller preparing its next call while the queue
thread runs), so on an idle 2-CPU machine it ran the deep MLP's products on one thread in
some one-second windows and not others (batch 60: 11.5 ms steps, then 6.5 ms).

Threshold (`MIN_WORK` = 2^21 weighted op-iterations). The weights count scalar ops; LLVM
vectorizes these loops 8 wide (float32, AVX2), so 2^21 is ~70 us of one core: the fused
`tanh(x * 1.5 + 0.5) * x - x` (weight 28 per element) on 65536 float32 elements. Measured
on the shared 2-vCPU AMD EPYC (znver4) machine, load average 4.4-5 (other jobs), every
nest forced parallel (min-work 0) at 2 threads against the serial loops, interleaved, best
of 7 rounds (medians swing 2-3x under that load): 4096 elements 4.0 vs 14.8 us, 16384:
12.2 vs 23.8 us, 65536: 78 vs 85 us, 2^18: 270 vs 292 us, 2^20: 1.14 vs 1.17 ms. So one
fork/join costs ~10-20 us here, and below ~2^21 the loop cannot win it back on 2 threads;
with dynamic adjustment (OMP_DYNAMIC=true, same load) the 2-thread medians were within
1-3% of serial from 65536 elements up (without it: 0.53-0.93x), the smaller nests are the
ones this threshold keeps serial. bench/parallel_loops.py repeats the measurement.
Remeasured on the 2-vCPU Xeon VM (bench/parallel_loops.py, waiting for each call): with the
team asleep between loops (KMP_BLOCKTIME=0), a fork/join cost ~25 us and the crossover was
~65536 elements (1.8M), so 2^21 holds; with the team warm (KMP_BLOCKTIME=1, codegen/threads.py's
default since) it costs ~2 us and 16384 elements already ran 1.0-1.22x faster on 2 threads. The
threshold stays at 2^21 all the same: a call made after the team went to sleep pays the ~25 us
again, which a nest of 2^21 still wins back, a smaller one not. Lower thresholds (2^20, 2^18)
made no difference to the deep MLP's step (paired rounds in one process, within 1%).

Memory ops (`MEMORY_WEIGHT` = 3 per load or store). The unit above is a vectorized arithmetic
op (~33 ps); an element streamed to or from memory outside the caches costs ~0.2 ns, so a fill or
a copy of a few MB, all loads and stores, counted 1 per op, stayed serial while it would run
~1.7x faster on 2 threads. LeNet-5's 2-thread step left three zero fills of 5.8 MB (500 x 20 x
12 x 12), its bias gradients' row sums and four 800 x 500 transposes on one thread: 3-4 ms of
the 64 ms step with the second thread idle (perf, idle machine). With weight 3 a fill counts 3
per element and goes to threads from ~700,000 elements (2.8 MB); elementwise nests of the
deep MLP (60 x 1024) and every nest of bench/overhead.py stay far below the threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, func, scf

from ..base import Pass
from ..options import CompileOptions

NAME = "theanir-parallel-loops"
MIN_WORK = 1 << 21
UNKNOWN_TRIPS = 16  # an inner loop whose bounds only the nest itself computes
SET_THREADS = "omp_set_num_threads"
SET_DYNAMIC = "omp_set_dynamic"
WEIGHTS = {
    "arith.divf": 4, "arith.remf": 8, "arith.divsi": 4, "arith.divui": 4, "arith.remsi": 4, "arith.remui": 4,
    "math.sqrt": 4, "math.rsqrt": 4,
}
MEMORY_OPS = {"memref.load", "memref.store", "vector.load", "vector.store", "vector.transfer_read",
              "vector.transfer_write", "vector.maskedload", "vector.maskedstore"}
MEMORY_WEIGHT = 3  # an element moved to or from memory: see "Memory ops" in the module doc
MATH_WEIGHT = 16  # math.exp, math.log, math.erf ...: polynomials or libm calls (tanh is expanded earlier)
CHEAP_MATH = {"math.fma", "math.absf", "math.absi", "math.copysign", "math.floor", "math.ceil", "math.round",
              "math.roundeven", "math.trunc", "math.isnan", "math.isinf", "math.isfinite", "math.ctpop",
              "math.ctlz", "math.cttz"}
KEEP_PARALLEL = "theanir.keep_parallel"  # set by convert-linalg-matmul-to-blas's split products
CHUNKS_PER_THREAD = 8  # iterations of the kept parallel dims per thread, at least (load balance)
FREE = {"scf.yield", "scf.reduce", "memref.alloca_scope.return", "arith.constant", "affine.apply"}


@dataclass(frozen=True)
class ParallelLoopsOptions:
    threads: int = 2  # the team size set before each parallel nest; 0: OpenMP's default
    min_work: int = MIN_WORK  # weighted op-iterations from which a nest runs on threads
    dynamic: bool = False  # libiomp5's dynamic adjustment of the team (load_balance); see the module doc


class ParallelLoops(Pass):
    """Cost model for OpenMP: an scf.parallel nest stays parallel only when its work (trip counts x ops per iteration) reaches min-work; smaller nests become scf.for, nests sized at run time get an scf.if between both."""

    NAME = NAME
    Options = ParallelLoopsOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> ParallelLoopsOptions:
        return ParallelLoopsOptions(threads=opts.threads)

    @classmethod
    def run(cls, module_op: ir.Operation, options: ParallelLoopsOptions) -> int:
        return parallel_loops(module_op, options)


def parallel_loops(module_op: ir.Operation, options: ParallelLoopsOptions) -> int:
    """Apply the cost model to every outermost scf.parallel; returns the nests rewritten."""
    outer: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == "scf.parallel":
            outer.append(op)
            return ir.WalkResult.SKIP
        return ir.WalkResult.ADVANCE

    module_op.walk(visit, ir.WalkOrder.PRE_ORDER)
    declared = False
    for par in outer:
        if len(par.results):
            continue  # a reduction scf.parallel: none comes from linalg; left to convert-scf-to-openmp
        for inner in _nested_parallels(par):
            _to_fors(inner)
        with par.location, ir.InsertionPoint(par):
            if _kept(par):  # its maker decided (BLAS blocks: calls it cannot count)
                if not declared:
                    _declare_set_threads(module_op)
                    declared = True
                _set_threads(options)
                continue
            static, dynamic = _nest_work(par)
            if not dynamic and static < options.min_work:
                _to_fors(par)
                continue
            if not declared:
                _declare_set_threads(module_op)
                declared = True
            if not dynamic:
                _set_threads(options)
                _outer_parallel(par, options.threads)
                continue
            work = _product(dynamic, static)
            big = arith.CmpIOp(arith.CmpIPredicate.uge, work, _index(options.min_work)).result
            branch = scf.IfOp(big, has_else=True)
            with ir.InsertionPoint(branch.then_block):
                _set_threads(options)
                keep = scf.YieldOp([])
            with ir.InsertionPoint(branch.else_block):
                serial = par.clone()
                scf.YieldOp([])
            par.move_before(keep.operation)
            _to_fors(serial.operation)
            _outer_parallel(par, options.threads)
    return len(outer)


def _kept(par: ir.Operation) -> bool:
    """Whether the nest's maker marked it parallel: KEEP_PARALLEL on the scf.parallel or on an
    op of its body (an scf.forall's attributes do not survive scf-forall-to-parallel, its
    body's do: the CSC kernels' worker loops, dialects/tn/ops/sparse_csc.py)."""
    if KEEP_PARALLEL in par.attributes:
        return True
    return any(KEEP_PARALLEL in op.operation.attributes for op in par.regions[0].blocks[0].operations)


def _nested_parallels(par: ir.Operation) -> list[ir.Operation]:
    found: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == "scf.parallel" and op != par:
            found.append(op)
        return ir.WalkResult.ADVANCE

    par.walk(visit, ir.WalkOrder.POST_ORDER)
    return found  # innermost first


def _bounds(op: ir.Operation) -> tuple[list[ir.Value], list[ir.Value], list[ir.Value]]:
    """(lower bounds, upper bounds, steps) of an scf.parallel or scf.for."""
    ops = list(op.operands)
    if op.name == "scf.for":
        return [ops[0]], [ops[1]], [ops[2]]
    n = len(op.regions[0].blocks[0].arguments)
    return ops[:n], ops[n:2 * n], ops[2 * n:3 * n]


def _constant(v: ir.Value) -> int | None:
    owner = v.owner
    if isinstance(owner, ir.Block) or owner.operation.name != "arith.constant":
        return None
    attr = owner.operation.attributes["value"]
    return ir.IntegerAttr(attr).value if isinstance(attr, ir.IntegerAttr) else None


def _defined_outside(v: ir.Value, nest: ir.Operation) -> bool:
    """Whether `v` is defined outside `nest` (so usable in front of it)."""
    owner = v.owner
    op = owner.owner if isinstance(owner, ir.Block) else owner
    while op is not None:
        op = op.operation
        if op == nest:
            return False
        op = op.parent
    return True


def _trips(op: ir.Operation, nest: ir.Operation) -> tuple[int, list[ir.Value]]:
    """Trip count of a loop as (static factor, run-time values to multiply), in front of `nest`."""
    static, dynamic = 1, []
    for lo, hi, step in zip(*_bounds(op)):
        if (n := _static_trips(lo, hi, step)) is not None:
            static *= n
        elif all(_defined_outside(v, nest) for v in (lo, hi, step)):
            dynamic.append(_trip_value(lo, hi, step, _constant(lo), _constant(step)))
        else:
            static *= UNKNOWN_TRIPS
    return static, dynamic


def _static_trips(lo: ir.Value, hi: ir.Value, step: ir.Value) -> int | None:
    """The trip count of one loop dim when its bounds and step are constants, else None."""
    clo, chi, cstep = _constant(lo), _constant(hi), _constant(step)
    return None if None in (clo, chi, cstep) else max(0, -(-(chi - clo) // cstep))


def _trip_value(lo: ir.Value, hi: ir.Value, step: ir.Value, clo: int | None, cstep: int | None) -> ir.Value:
    span = hi if clo == 0 else arith.SubIOp(hi, lo).result
    return span if cstep == 1 else arith.DivUIOp(span, step).result


def _body_cost(block: ir.Block, nest: ir.Operation) -> tuple[int, list[tuple[int, list[ir.Value]]]]:
    """Cost of one run of `block`: a static part and terms (factor, run-time values)."""
    static, terms = 0, []
    for op in block.operations:
        op = op.operation
        if op.name in ("scf.for", "scf.parallel"):
            s, d = _trips(op, nest)
            inner_static, inner_terms = _body_cost(op.regions[0].blocks[0], nest)
            if d:
                terms.append((s * inner_static, d))
            else:
                static += s * inner_static
            terms += [(s * f, d + vs) for f, vs in inner_terms]
        elif op.regions and any(r.blocks for r in op.regions):  # scf.if, alloca_scope: the costlier branch
            costs = [_body_cost(r.blocks[0], nest) for r in op.regions if r.blocks]
            best = max(costs, key=lambda c: c[0])
            static += 1 + best[0]
            terms += best[1]
        elif op.name not in FREE:
            static += _weight(op.name)
    return static, terms


def _weight(name: str) -> int:
    if name in WEIGHTS:
        return WEIGHTS[name]
    if name in MEMORY_OPS:
        return MEMORY_WEIGHT
    return MATH_WEIGHT if name.startswith("math.") and name not in CHEAP_MATH else 1


def _nest_work(par: ir.Operation) -> tuple[int, list[ir.Value]]:
    """Work of one run of the nest: static count and run-time factors; built in front of it.
    Terms with run-time factors are summed as values; the static result is then 1."""
    s, d = _trips(par, par)
    body, terms = _body_cost(par.regions[0].blocks[0], par)
    if not terms:
        return s * body, d
    total = _product(d, s * body) if d else _index(s * body)
    for factor, values in terms:
        total = arith.AddIOp(total, _product(d + values, s * factor)).result
    return 1, [total]


def _product(values: list[ir.Value], factor: int) -> ir.Value:
    acc = _index(factor)
    for v in values:
        acc = arith.MulIOp(acc, v).result
    return acc


def _index(n: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), n).result


def _declare_set_threads(module_op: ir.Operation) -> None:
    body = module_op.regions[0].blocks[0]
    have = {ir.StringAttr(op.operation.attributes["sym_name"]).value for op in body.operations
            if op.operation.name == "func.func"}
    with ir.InsertionPoint.at_block_begin(body), ir.Location.unknown():
        for name in (SET_THREADS, SET_DYNAMIC):
            if name not in have:
                fn = func.FuncOp(name, ir.FunctionType.get([ir.IntegerType.get_signless(32)], []))
                fn.sym_visibility = ir.StringAttr.get("private")


def _set_threads(options: ParallelLoopsOptions) -> None:
    """The calling thread's team: `threads` threads (at most, with dynamic adjustment)."""
    if options.threads > 0:
        i32 = ir.IntegerType.get_signless(32)
        func.CallOp([], ir.FlatSymbolRefAttr.get(SET_DYNAMIC), [arith.ConstantOp(i32, int(options.dynamic)).result])
        func.CallOp([], ir.FlatSymbolRefAttr.get(SET_THREADS), [arith.ConstantOp(i32, options.threads).result])


def _outer_parallel(par: ir.Operation, threads: int) -> None:
    """Keep only the leading dims of a kept nest parallel (the fewest whose static trip counts
    give every thread `CHUNKS_PER_THREAD` chunks; a dim sized at run time counts as enough),
    the rest as scf.for loops inside. convert-scf-to-openmp collapses all the dims of an
    scf.parallel into one OpenMP loop whose body recovers each index by division and
    remainder, so the innermost loop no longer vectorizes: LeNet-5's layout copies ran 4x
    the CPU time of their serial loops on 2 threads."""
    los, his, steps = _bounds(par)
    keep, chunks = 0, 1
    while keep < len(los) and chunks < CHUNKS_PER_THREAD * max(threads, 1):
        n = _static_trips(los[keep], his[keep], steps[keep])
        chunks *= n if n is not None else 1 << 30
        keep += 1
    if keep == len(los):
        return
    body = par.regions[0].blocks[0]
    with par.location, ir.InsertionPoint(par):
        new = scf.ParallelOp([], los[:keep], his[:keep], steps[:keep], [])
        for name in list(par.attributes):
            if name != "operandSegmentSizes":
                new.attributes[name] = par.attributes[name]
        block = new.regions[0].blocks.append(*[ir.IndexType.get()] * keep)
        ivs, innermost = _for_nest(ir.InsertionPoint(block), los[keep:], his[keep:], steps[keep:])
        _sink_body(body, list(block.arguments) + ivs, innermost.operation)
        with ir.InsertionPoint(block):
            scf.ReduceOp([], 0)
    par.erase()


def _for_nest(ip: ir.InsertionPoint, los: list[ir.Value], his: list[ir.Value],
              steps: list[ir.Value]) -> tuple[list[ir.Value], scf.YieldOp | None]:
    """Nested scf.for loops at `ip`: their induction variables and the innermost's yield."""
    ivs, innermost = [], None
    for lo, hi, step in zip(los, his, steps):
        with ip:
            loop = scf.ForOp(lo, hi, step)
        with ir.InsertionPoint(loop.body):
            innermost = scf.YieldOp([])
        ivs.append(loop.induction_variable)
        ip = ir.InsertionPoint(innermost)
    return ivs, innermost


def _sink_body(body: ir.Block, ivs: list[ir.Value], before: ir.Operation) -> None:
    """The ops of an scf.parallel's body but its terminator, moved before `before`, with its
    block arguments replaced by `ivs`."""
    for arg, iv in zip(body.arguments, ivs):
        arg.replace_all_uses_with(iv)
    for op in [op.operation for op in body.operations][:-1]:
        op.move_before(before)


def _to_fors(par: ir.Operation) -> None:
    """Replace an scf.parallel (no results) by the nested scf.for loops of the same iterations."""
    los, his, steps = _bounds(par)
    with par.location:
        ivs, innermost = _for_nest(ir.InsertionPoint(par), los, his, steps)
        _sink_body(par.regions[0].blocks[0], ivs, par if innermost is None else innermost.operation)
    par.erase()
