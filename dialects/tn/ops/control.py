"""Control flow: `tn.scan` (for / do-while loops with stacked outputs) and `tn.cond` (lazy if).

Both are region ops whose bodies are ordinary tn IR ending in `gpu.yield` (IRDL ops cannot be
terminators). A body reads outer values directly: IRDL regions are not isolated from above,
so sequences, non-sequences and branch inputs are captured, not passed as operands (the
frontend indexes a captured sequence with `tn.take` at the iteration index). Loop-carried
values are operands, and the results may all have different types: IRDL binds a constraint
variable once per op (one `variadic` group has one type), so carries and results are
`slots` - optional operands/results with one constraint each - and `emit` fills the
`operandSegmentSizes` / `resultSegmentSizes` attributes IRDL reads.

    %c, %ys = "tn.scan"(%n, %c0) ({
      ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
        %x = "tn.take"(%xs, %i) {axis = 0} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
        %s = "tn.add"(%c, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
        "gpu.yield"(%s, %s) : (tensor<3xf32>, tensor<3xf32>) -> ()
    }) {length = 5, until = false, operandSegmentSizes = array<i32: 1, 1, 0, ...>,
        resultSegmentSizes = array<i32: 1, 1, 0, ...>}
       : (tensor<i64>, tensor<3xf32>) -> (tensor<3xf32>, tensor<5x3xf32>)

tn.scan: operands = trip count `n_steps` (tensor<i64>, may be traced) and K initial carries;
the body's block arguments are the iteration index (tensor<i64>, 0, 1, ...) and the carries;
it yields K new carries, M per-step values and, with `until`, a last tensor<i1> "stop" flag.
Results: the K final carries, then the M per-step values stacked on a leading axis of
`length` rows. The loop runs trip = max(n_steps, 0) steps, at most `length` when M > 0; with
`until` it stops after the first step whose flag is true (a do-while loop). Rows at and after
the executed step count repeat the last executed row (zeros when no step ran): the loop state
freezes, so `ys[-1]` is the final value whether or not the loop stopped early.
`length = -1` (DYNAMIC) gives the stacked outputs a dynamic leading dim `?` holding exactly the
steps that ran: max(n_steps, 0), or fewer with `until` (Theano's scan). Per-step values may
have dynamic dims too (an RNN state of a dynamic batch): the lowering sizes their buffer
before the loop from the values they are computed of (`_row_dims`) and checks every row.

    %r = "tn.cond"(%pred) ({ ... "gpu.yield"(%a) ... }, { ... "gpu.yield"(%b) ... })
         {resultSegmentSizes = array<i32: 1, 0, ...>} : (tensor<i1>) -> tensor<3xf32>

tn.cond: `pred` is a tensor<i1> scalar; only the taken region runs. Both yield the result
types. Values only one branch needs are moved into it before lowering (tn-sink-into-branches,
passes/optimize/sink_into_branches.py),
which makes `th.ifelse(c, a, b)` lazy even when `a` and `b` were traced before it.

Lowering: tn.scan -> `scf.for` (or `scf.while` with `until`, or an unbounded trip count)
whose iteration arguments are the carries and the stacked-output buffers (allocated once,
each step inserts its row); a `scf.while` polls the runtime's cancel flag at every step, so
Ctrl-C stops an endless loop (`_cancelled`, FOR_MAX_STEPS);
tn.cond -> `scf.if`. The bodies move into the scf op and are lowered there by the driver's
own walk, with booleans in their i8 storage type across block arguments.

NumPy semantics (how the loop and the branch run, used by folding and the tests' oracle):
interpreter.py, beside every other op's reference rule.

Autodiff: the jvp and transpose rules are in passes/autodiff/control.py (they run the AD
driver on the bodies; forward mode, and reverse mode by
splitting a loop into a residual-stacking primal loop and a linear tangent loop);
`captured_values` tells autodiff what a body reads.
"""
from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, scf, tensor

from ..lowering import LowerCall, at_line, dim_value, empty, fill, result_type
from .. import batching as vb
from .. import lax
from ..registry import OPS, ShapeError, defop, slots
from ..types import TensorSpec, spec_of_type, spec_of_value, storage_element_type

YIELD = "gpu.yield"
MAX_CARRIES = 16  # carry operand slots of tn.scan (a recurrent output with taps uses one per lag)
MAX_SCAN_RESULTS = 32  # final carries + stacked outputs
MAX_COND_RESULTS = 16
_DYN = -(2**63)  # MLIR's kDynamic: an offset given as an SSA value
DYNAMIC = -1  # tn.scan's `length` when the stacked outputs have as many rows as steps ran

scan = defop(
    "tn.scan", ["n_steps", *slots("init", MAX_CARRIES)], slots("out", MAX_SCAN_RESULTS),
    attrs={"length": "int", "until": "bool"}, regions=("body",),
    doc="Loop: K carries through the body, M per-step values stacked over `length` rows; "
        "`until` = do-while on a yielded stop flag. Body ends with gpu.yield.",
)
cond = defop(
    "tn.cond", ["pred"], slots("out", MAX_COND_RESULTS), regions=("then_branch", "else_branch"),
    doc="Lazy two-way branch on a tensor<i1> scalar; both regions end with gpu.yield of the "
        "results.",
)


# ---------------------------------------------------------------- structure
def body_block(op: ir.Operation, region: int = 0) -> ir.Block:
    return op.regions[region].blocks[0]


def terminator(block: ir.Block) -> ir.Operation:
    return list(block.operations)[-1].operation


def scan_counts(op: ir.Operation) -> tuple[int, int]:
    """(K carries, M stacked outputs) of a tn.scan."""
    k = len(op.operands) - 1
    return k, len(op.results) - k


def captured_values(op: ir.Operation) -> list[ir.Value]:
    """Values defined outside `op` that ops in its regions read (what a body captures)."""
    inner: set[ir.Value] = set()
    used: list[ir.Value] = []

    def walk(o: ir.Operation) -> None:
        for region in o.regions:
            for block in region.blocks:
                inner.update(block.arguments)
                for child in block.operations:
                    used.extend(child.operands)
                    inner.update(child.results)
                    walk(child.operation)

    walk(op)
    seen: set[ir.Value] = set()
    out = []
    for v in used:
        if v not in inner and v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _one_block(op: ir.Operation, region: int) -> ir.Block:
    blocks = list(op.regions[region].blocks)
    if len(blocks) != 1:
        raise ShapeError(f"region {region} must hold one block, has {len(blocks)}")
    term = terminator(blocks[0]) if list(blocks[0].operations) else None
    if term is None or term.name != YIELD:
        raise ShapeError(f"region {region} must end with {YIELD}")
    return blocks[0]


def _specs(values) -> list[TensorSpec]:
    return [spec_of_value(v) for v in values]


def _show(specs: list[TensorSpec]) -> str:
    return "(" + ", ".join(str(s) for s in specs) + ")"


# ---------------------------------------------------------------- shape rules
@scan.def_infer_region
def _scan_infer(op: ir.Operation) -> list[TensorSpec]:
    """Results: the carries' types, then [length] + each per-step value's type."""
    attrs = scan.decode_attrs(op)
    length, until = attrs["length"], attrs["until"]
    block = _one_block(op, 0)
    n_spec, *inits = _specs(op.operands)
    if n_spec != TensorSpec((), np.dtype(np.int64)):
        raise ShapeError(f"n_steps must be an int64 scalar, got {n_spec}")
    if length < DYNAMIC:
        raise ShapeError(f"length must be >= 0 or {DYNAMIC} (dynamic), got {length}")
    args = _specs(block.arguments)
    if args != [TensorSpec((), np.dtype(np.int64)), *inits]:
        raise ShapeError(f"the body's arguments {_show(args)} must be the index (int64[]) and "
                         f"the carries {_show(inits)}")
    yielded = _specs(terminator(block).operands)
    k = len(inits)
    if len(yielded) < k + until or yielded[:k] != inits:
        raise ShapeError(f"the body yields {_show(yielded)}; it must start with the carries "
                         f"{_show(inits)}")
    if until and yielded[-1] != TensorSpec((), np.dtype(np.bool_)):
        raise ShapeError(f"with until, the body's last yielded value is the stop flag (bool[]), "
                         f"got {yielded[-1]}")
    per_step = yielded[k:len(yielded) - until]
    rows = None if length == DYNAMIC else length
    return inits + [TensorSpec((rows,) + s.shape, s.dtype) for s in per_step]


@cond.def_infer_region
def _cond_infer(op: ir.Operation) -> list[TensorSpec]:
    """Results: the types both branches yield."""
    (pred,) = _specs(op.operands)
    if pred != TensorSpec((), np.dtype(np.bool_)):
        raise ShapeError(f"pred must be a bool scalar, got {pred}")
    then = _specs(terminator(_one_block(op, 0)).operands)
    other = _specs(terminator(_one_block(op, 1)).operands)
    for r in (0, 1):
        if list(body_block(op, r).arguments):
            raise ShapeError("the branches take no arguments (they read outer values directly)")
    if then != other:
        raise ShapeError(f"the branches yield different types: {_show(then)} and {_show(other)}")
    return then


# ---------------------------------------------------------------- lowering helpers
def _index(v: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), v).result


def _i64(v: int) -> ir.Value:
    return arith.ConstantOp(ir.IntegerType.get_signless(64), v).result


def _scalar_of(t: ir.Value) -> ir.Value:
    """The element of a 0-d tensor (bools as i1, whatever their storage)."""
    x = tensor.ExtractOp(t, []).result
    if isinstance(x.type, ir.IntegerType) and ir.IntegerType(x.type).width == 8:
        zero = arith.ConstantOp(x.type, 0).result
        return arith.CmpIOp(arith.CmpIPredicate.ne, x, zero).result
    return x


def _index_tensor(i: ir.Value) -> ir.Value:
    """index -> tensor<i64> (what the body sees as its iteration index)."""
    i64 = ir.IntegerType.get_signless(64)
    scalar = arith.IndexCastOp(i64, i).result
    return tensor.FromElementsOp(ir.RankedTensorType.get([], i64), [scalar]).result


Dim = "int | ir.Value"  # a static size, or an index value read before the loop


class _Stack:
    """A stacked output of a loop: its spec and the sizes of one row (index values for the
    dynamic dims, read before the loop so the buffer can be allocated once)."""

    def __init__(self, spec: TensorSpec, dims: list):
        self.spec, self.dims = spec, dims

    def row_args(self) -> tuple[list[int], list[int], list[int], list[ir.Value]]:
        """Offsets/sizes/strides of row `i` (a dynamic offset) and the dynamic sizes."""
        rank = self.spec.ndim
        static = [1] + [d if isinstance(d, int) else _DYN for d in self.dims]
        dynamic = [d for d in self.dims if not isinstance(d, int)]
        return [_DYN] + [0] * (rank - 1), static, [1] * rank, dynamic


def _insert_row(row: ir.Value, buf: ir.Value, i: ir.Value, st: _Stack) -> ir.Value:
    offsets, sizes, strides, dyn = st.row_args()
    return tensor.InsertSliceOp(row, buf, [i], dyn, [], offsets, sizes, strides).result


def _extract_row(buf: ir.Value, i: ir.Value, st: _Stack) -> ir.Value:
    offsets, sizes, strides, dyn = st.row_args()
    row_t = ir.RankedTensorType.get([ir.ShapedType.get_dynamic_size() if n is None else n
                                     for n in st.spec.shape[1:]],
                                    storage_element_type(st.spec.dtype))
    return tensor.ExtractSliceOp(row_t, buf, [i], dyn, [], offsets, sizes, strides).result


def _lowered_spec(v: ir.Value) -> TensorSpec | None:
    return spec_of_value(v) if isinstance(v.type, ir.RankedTensorType) else None


def _row_dims(call: LowerCall, j: int, spec: TensorSpec) -> list:
    """The row sizes of stacked output j, known before the loop runs. A dynamic dim is read
    from a value of the same shape the loop holds before it starts: the carry whose new value
    is this very row (an RNN's state), a captured sequence the row is read from, or else a
    carry / captured value (or a captured sequence's row) of the same type. The loop checks
    at every step that the row has these sizes (a mismatch fails the call)."""
    row = spec.shape[1:]
    if None not in row:
        return list(row)
    k, _ = scan_counts(call.op)
    block = body_block(call.op)
    yielded = list(terminator(block).operands)
    y = yielded[k + j]
    carries = list(zip(call.operands[1:], call.in_specs[1:]))
    caps = [(v, s) for v in captured_values(call.op) if (s := _lowered_spec(v)) is not None]

    def dims(v: ir.Value, lead: int) -> list:
        return [n if n is not None else dim_value(v, d + lead) for d, n in enumerate(row)]

    for c, (v, s) in enumerate(carries):  # the carry whose update is this row
        if yielded[c] == y and s.shape == row:
            return dims(v, 0)
    traced = [n if n is not None else _dim_source(y, d, block, carries) for d, n in enumerate(row)]
    if all(t is not None for t in traced):
        return [t if isinstance(t, int) else dim_value(t[0], t[1]) for t in traced]
    for v, s in carries + caps:
        if s.shape == row and s.dtype == spec.dtype:
            return dims(v, 0)
    for v, s in carries + caps:
        if s.shape == row:
            return dims(v, 0)
    for v, s in caps:
        if s.shape[1:] == row:
            return dims(v, 1)
    raise NotImplementedError(
        f"tn.scan: cannot size the stacked output {j} ({spec}) before the loop runs: a per-step "
        f"value with dynamic dims needs a carry or a value read by the body with the same shape "
        f"(e.g. carry it, or compute it from a sequence's row){at_line(call)}")


def _dim_source(v: ir.Value, d: int, block: ir.Block, carries: list, depth: int = 0) -> tuple | None:
    """(outer value, axis) whose size dim `d` of body value `v` has by the ops' shape rules,
    followed back through elementwise ops, matmul, a sequence's row (tn.take) and carries'
    block arguments to a value defined before the loop; None when not found."""
    if depth > 32:
        return None
    if isinstance(v, ir.BlockArgument):
        if v.owner == block:
            return (carries[v.arg_number - 1][0], d) if v.arg_number > 0 else None
        parent = v.owner.owner
        inner = parent is not None and parent.operation.name != "func.func" and _inside(parent.operation, block)
        return None if inner else (v, d)
    op = v.owner.operation
    if not _inside(op, block):
        return v, d  # captured: defined before the loop (lowered already)
    spec = spec_of_value(v)
    opdef = OPS.get(op.name)
    if op.name == "tn.take":
        axis = int(ir.IntegerAttr(op.attributes["axis"]).value)
        k = spec_of_value(op.operands[1]).ndim
        if d < axis:
            return _dim_source(op.operands[0], d, block, carries, depth + 1)
        if d >= axis + k:
            return _dim_source(op.operands[0], d - k + 1, block, carries, depth + 1)
        return _dim_source(op.operands[1], d - axis, block, carries, depth + 1)
    if op.name == "tn.matmul":
        a, b = op.operands
        sa, sb = spec_of_value(a), spec_of_value(b)
        if spec.ndim == 2 and sa.ndim == 2 and sb.ndim == 2:
            return _dim_source(a, 0, block, carries, depth + 1) if d == 0 else _dim_source(b, 1, block, carries, depth + 1)
        return None
    if op.name in ("tn.ensure_shape", "tn.fusion") or (opdef is not None and opdef.scalar is not None):
        for x in op.operands:
            sx = spec_of_value(x)
            a = d - (spec.ndim - sx.ndim)
            if 0 <= a < sx.ndim and sx.shape[a] is None:
                found = _dim_source(x, a, block, carries, depth + 1)
                if found is not None:
                    return found
    return None


def _inside(op: ir.Operation, block: ir.Block) -> bool:
    """`op` is nested in `block` (at any depth)."""
    op = op.operation
    while True:
        b = op.block
        if b == block:
            return True
        parent = b.owner
        if parent is None or parent.operation.name in ("func.func", "builtin.module"):
            return False
        op = parent.operation


def _check_row(call: LowerCall, row: ir.Value, st: _Stack, j: int) -> None:
    """The row a step yields has the sizes its buffer was allocated with."""
    from ..checks import VALUE_ERROR, emit_check

    i64 = ir.IntegerType.get_signless(64)
    for d, n in enumerate(st.spec.shape[1:]):
        if n is not None:
            continue
        got = dim_value(row, d)
        ok = arith.CmpIOp(arith.CmpIPredicate.eq, got, st.dims[d]).result
        emit_check(call.op, ok, VALUE_ERROR,
                   f"tn.scan: the per-step output {j} has {{0}} elements along dim {d} at some "
                   f"step, where {{1}} were allocated before the loop (from a value of the same "
                   f"type {TensorSpec(st.spec.shape[1:], st.spec.dtype)}){at_line(call)}",
                   [arith.IndexCastOp(i64, got).result, arith.IndexCastOp(i64, st.dims[d]).result])


def _insert_rows(call: LowerCall, values: list[ir.Value], bufs: list[ir.Value], i: ir.Value,
                 stacks: list[_Stack]) -> list[ir.Value]:
    out = []
    for j, (y, b, st) in enumerate(zip(values, bufs, stacks)):
        _check_row(call, y, st, j)
        out.append(_insert_row(y, b, i, st))
    return out


def _storage(t: ir.Type) -> ir.Type:
    rt = ir.RankedTensorType(t)
    return ir.RankedTensorType.get(list(rt.shape), storage_element_type(spec_of_type(t).dtype))


def _move_body(src: ir.Block, dst: ir.Block, replacements: list[ir.Value], call: LowerCall) -> list[ir.Value]:
    """Move a tn body into `dst` (block arguments -> `replacements`), lower it there; returns
    the yielded (lowered) values and removes the gpu.yield."""
    for arg, new in zip(src.arguments, replacements):
        arg.set_type(new.type)  # bool carries: i8 storage, like every value below tn
        arg.replace_all_uses_with(new)
    for o in list(src.operations):
        dst.append(o.operation)
    call.lower_region(dst)
    term = terminator(dst)
    values = list(term.operands)
    term.erase()
    return values


def _static_int(v: ir.Value) -> int | None:
    """The value of a lowered constant scalar (arith.constant dense<n>), else None."""
    owner = v.owner
    if not isinstance(owner, ir.OpView) or owner.operation.name != "arith.constant":
        return None
    attr = owner.operation.attributes["value"]
    if isinstance(attr, ir.DenseElementsAttr) and attr.is_splat:
        return int(ir.IntegerAttr(attr.get_splat_value()).value)
    return None


def _trip_count(n_steps: ir.Value, length: int, bounded: bool) -> tuple[ir.Value, int | None]:
    """max(n, 0), capped at `length` when bounded: (index value, static value or None)."""
    static = _static_int(n_steps)
    if static is not None:
        trip = max(static, 0)
        trip = min(trip, length) if bounded else trip
        return _index(trip), trip
    n = arith.MaxSIOp(tensor.ExtractOp(n_steps, []).result, _i64(0)).result
    if bounded:
        n = arith.MinSIOp(n, _i64(length)).result
    return arith.IndexCastOp(ir.IndexType.get(), n).result, None


def _fill_tail(bufs: list[ir.Value], count: ir.Value, specs: list[_Stack], length: int) -> list[ir.Value]:
    """Rows count..length-1 repeat row count-1 (row 0, zeros, when count is 0)."""
    last = arith.MaxSIOp(arith.SubIOp(count, _index(1)).result, _index(0)).result
    rows = [_extract_row(b, last, s) for b, s in zip(bufs, specs)]
    loop = scf.ForOp(count, _index(length), _index(1), bufs)
    with ir.InsertionPoint(loop.body):
        j = loop.induction_variable
        scf.YieldOp([_insert_row(r, b, j, s) for r, b, s in zip(rows, loop.inner_iter_args, specs)])
    return list(loop.results)


# ---------------------------------------------------------------- lowering
@scan.def_lower
def _scan_lower(call: LowerCall) -> list[ir.Value]:
    """scf.for (scf.while with until) over [carries, stacked buffers]; a step inserts its rows.
    With a dynamic `length` the buffers have max(n_steps, 0) rows (allocated before the loop;
    with `until` the first `count` rows that ran are handed back)."""
    length, until = call.attrs["length"], call.attrs["until"]
    dynamic = length == DYNAMIC
    k, m = scan_counts(call.op)
    carries = call.operands[1:]
    specs = call.out_specs[k:]
    stacks = [_Stack(s, _row_dims(call, j, s)) for j, s in enumerate(specs)]
    if m and length == 0:
        return carries + [empty(st.spec, [0] + st.dims) for st in stacks]
    trip, static_trip = _trip_count(call.operands[0], length, bounded=m > 0 and not dynamic)
    tail = m > 0 and not dynamic and (until or static_trip is None or static_trip < length)
    if dynamic and until and m and (static_trip is None or static_trip > FOR_MAX_STEPS):
        # rows of a do-while loop whose trip count has no small bound (th.while_loop's
        # residuals in reverse mode): buffers that double as the steps run
        count, results = _lower_do_while_growing(call, trip, carries, k, m, stacks)
        return results[:k] + [_first_rows(b, count, st) for b, st in zip(results[k:], stacks)]
    # (otherwise a dynamic length allocates the trip count's rows up front, as a static
    # length does its `length`)
    rows = trip if dynamic else length
    bufs = [fill(st.spec, 0, [rows] + st.dims) if tail else empty(st.spec, [rows] + st.dims)
            for st in stacks]
    if until:
        count, results = _lower_do_while(call, trip, carries, bufs, k, m, stacks)
    else:
        bounded = m > 0 or (static_trip is not None and static_trip <= FOR_MAX_STEPS)
        lower = _lower_for if bounded else _lower_while_counted
        count, results = trip, lower(call, trip, carries, bufs, k, m, stacks)
    finals, stacked = results[:k], results[k:]
    if tail:
        stacked = _fill_tail(stacked, count, stacks, length)
    elif dynamic and until:
        stacked = [_first_rows(b, count, st) for b, st in zip(stacked, stacks)]
    return finals + stacked


def _first_rows(buf: ir.Value, count: ir.Value, st: _Stack) -> ir.Value:
    """Rows [0, count) of a stacked buffer (the steps a do-while loop ran)."""
    rank = st.spec.ndim
    sizes = [_DYN] + [d if isinstance(d, int) else _DYN for d in st.dims]
    dyn = [count] + [d for d in st.dims if not isinstance(d, int)]
    return tensor.ExtractSliceOp(result_type(st.spec), buf, [], dyn, [], [0] * rank, sizes,
                                 [1] * rank).result


# Ctrl-C stops a compiled loop: every step of a loop that may not end calls this first
# (passes/lower/cancel_points.py defines it: a volatile load of the runtime's cancel flag) and
# the loop exits when it is true; the runtime then fails the call (runtime/src/lifecycle.h),
# so the truncated results are never seen.
CANCELLED = "__theanir_cancelled"


def _cancelled(anchor: ir.Operation) -> ir.Value:
    """i1: the runtime asked running code to stop. Declares @__theanir_cancelled once."""
    module = anchor
    while module.name != "builtin.module":
        module = module.parent
    body = module.regions[0].blocks[0]
    if not any("sym_name" in o.attributes and ir.StringAttr(o.attributes["sym_name"]).value == CANCELLED
               for o in body.operations):
        i1 = ir.IntegerType.get_signless(1)
        with ir.InsertionPoint.at_block_begin(body), ir.Location.unknown():
            func.FuncOp(CANCELLED, ([], [i1]), visibility="private")
    return func.CallOp([ir.IntegerType.get_signless(1)], CANCELLED, []).result


def _not_cancelled(anchor: ir.Operation) -> ir.Value:
    return arith.XOrIOp(_cancelled(anchor), arith.ConstantOp(ir.IntegerType.get_signless(1), 1).result).result


# A counted loop with a bounded trip count (the stacked outputs' `length`, or a static count
# up to FOR_MAX_STEPS) stays a plain `scf.for` that does not poll: it ends on its own, and
# its steps can be short (bench/rnn.py: a per-step poll cost 20% at hidden size 50). A Ctrl-C
# meanwhile fails the call when it returns. An unbounded one (a `fori_loop` to a traced or
# huge bound) becomes `scf.while`, which polls and exits at once but copies its carries at
# every step (as a do-while loop does).
FOR_MAX_STEPS = 1 << 16


def _lower_for(call: LowerCall, trip: ir.Value, carries: list[ir.Value], bufs: list[ir.Value],
               k: int, m: int, specs: list[_Stack]) -> list[ir.Value]:
    loop = scf.ForOp(_index(0), trip, _index(1), [*carries, *bufs])
    with ir.InsertionPoint(loop.body):
        i = loop.induction_variable
        state = list(loop.inner_iter_args)
        values = _move_body(body_block(call.op), loop.body, [_index_tensor(i), *state[:k]], call)
        rows = _insert_rows(call, values[k:k + m], state[k:], i, specs)
        scf.YieldOp(values[:k] + rows)
    return list(loop.results)


def _lower_while_counted(call: LowerCall, trip: ir.Value, carries: list[ir.Value], bufs: list[ir.Value],
                         k: int, m: int, specs: list[_Stack]) -> list[ir.Value]:
    """scf.while over (i, carries, buffers): runs while i < trip and not cancelled."""
    inits = [_index(0), *carries, *bufs]
    types = [v.type for v in inits]
    loop = scf.WhileOp(types, inits)
    before = loop.before.blocks.append(*types)
    with ir.InsertionPoint(before):
        more = arith.CmpIOp(arith.CmpIPredicate.slt, before.arguments[0], trip).result
        scf.ConditionOp(arith.AndIOp(more, _not_cancelled(call.op)).result, list(before.arguments))
    after = loop.after.blocks.append(*types)
    with ir.InsertionPoint(after):
        i, state = after.arguments[0], list(after.arguments)[1:]
        values = _move_body(body_block(call.op), after, [_index_tensor(i), *state[:k]], call)
        rows = _insert_rows(call, values[k:k + m], state[k:], i, specs)
        scf.YieldOp([arith.AddIOp(i, _index(1)).result, *values[:k], *rows])
    return list(loop.results)[1:]


def _lower_do_while(call: LowerCall, trip: ir.Value, carries: list[ir.Value], bufs: list[ir.Value],
                    k: int, m: int, specs: list[_Stack], start: ir.Value | None = None,
                    with_stopped: bool = False) -> tuple:
    """scf.while over (i, stopped, carries, buffers): runs while i < trip and not stopped
    (from step `start`, default 0). Returns (steps run, results), or with `with_stopped`
    (steps run, stopped, results)."""
    i1 = ir.IntegerType.get_signless(1)
    inits = [_index(0) if start is None else start, arith.ConstantOp(i1, 0).result, *carries, *bufs]
    types = [v.type for v in inits]
    loop = scf.WhileOp(types, inits)
    before = loop.before.blocks.append(*types)
    with ir.InsertionPoint(before):
        i, stopped = before.arguments[0], before.arguments[1]
        more = arith.CmpIOp(arith.CmpIPredicate.slt, i, trip).result
        running = arith.XOrIOp(stopped, arith.ConstantOp(i1, 1).result).result
        running = arith.AndIOp(running, _not_cancelled(call.op)).result
        scf.ConditionOp(arith.AndIOp(more, running).result, list(before.arguments))
    after = loop.after.blocks.append(*types)
    with ir.InsertionPoint(after):
        i, state = after.arguments[0], list(after.arguments)[2:]
        values = _move_body(body_block(call.op), after, [_index_tensor(i), *state[:k]], call)
        rows = _insert_rows(call, values[k:k + m], state[k:], i, specs)
        nxt = arith.AddIOp(i, _index(1)).result
        # `stopped or flag` (stopped is false here): the after region reads every argument,
        # so canonicalize cannot drop one from scf.condition; a dropped one shifts the
        # positions and one-shot bufferization then copied every buffer at every step
        stop = arith.OrIOp(after.arguments[1], _scalar_of(values[-1])).result
        scf.YieldOp([nxt, stop, *values[:k], *rows])
    results = list(loop.results)
    if with_stopped:
        return results[0], results[1], results[2:]
    return results[0], results[2:]


GROW_FROM = 16  # rows of a growing stack's first buffer


def _lower_do_while_growing(call: LowerCall, trip: ir.Value, carries: list[ir.Value], k: int, m: int,
                            specs: list[_Stack]) -> tuple[ir.Value, list[ir.Value]]:
    """A do-while loop whose rows go to buffers that double: an outer `scf.while` over
    (i, stopped, capacity, carries, buffers) allocates buffers of max(2 capacity, GROW_FROM)
    rows, copies the i rows so far into them and runs the inner do-while loop (rows written in
    place) until it stops, reaches `trip` or fills them. Each row is copied O(1) times on
    average. Why nested: a growth inside the one loop (an `scf.if` yielding either the old
    buffer or a new one) is not equivalent to the loop's argument, so one-shot bufferization
    copied the whole buffer at every step; the outer loop yields a fresh buffer per growth
    only, which it hands over without a copy (allow-return-allocs-from-loops)."""
    i1 = ir.IntegerType.get_signless(1)
    bufs = [empty(st.spec, [_index(0)] + st.dims) for st in specs]  # `?` rows: the loop's type
    inits = [_index(0), arith.ConstantOp(i1, 0).result, _index(0), *carries, *bufs]
    types = [v.type for v in inits]
    loop = scf.WhileOp(types, inits)
    before = loop.before.blocks.append(*types)
    with ir.InsertionPoint(before):
        i, stopped = before.arguments[0], before.arguments[1]
        more = arith.CmpIOp(arith.CmpIPredicate.slt, i, trip).result
        running = arith.XOrIOp(stopped, arith.ConstantOp(i1, 1).result).result
        scf.ConditionOp(arith.AndIOp(more, running).result, list(before.arguments))
    after = loop.after.blocks.append(*types)
    with ir.InsertionPoint(after):
        i, cap = after.arguments[0], after.arguments[2]
        state = list(after.arguments)[3:]
        new_cap = arith.MaxSIOp(arith.MulIOp(cap, _index(2)).result, _index(GROW_FROM)).result
        grown = []
        for b, st in zip(state[k:], specs):
            fresh = empty(st.spec, [new_cap] + st.dims)
            rank = st.spec.ndim
            sizes = [_DYN] + [d if isinstance(d, int) else _DYN for d in st.dims]
            dyn = [i] + [d for d in st.dims if not isinstance(d, int)]
            grown.append(tensor.InsertSliceOp(_first_rows(b, i, st), fresh, [], dyn, [], [0] * rank, sizes,
                                              [1] * rank).result)
        limit = arith.MinSIOp(trip, new_cap).result
        steps, stop, results = _lower_do_while(call, limit, state[:k], grown, k, m, specs, start=i,
                                               with_stopped=True)
        scf.YieldOp([steps, stop, new_cap, *results])
    results = list(loop.results)
    return results[0], results[3:]


@cond.def_lower
def _cond_lower(call: LowerCall) -> list[ir.Value]:
    """scf.if on the predicate's scalar; each branch body moves into its scf block."""
    types = [result_type(s) for s in call.out_specs]
    if_op = scf.IfOp(_scalar_of(call.operands[0]), types, has_else=True)
    for region, block in ((0, if_op.then_block), (1, if_op.else_block)):
        with ir.InsertionPoint(block):
            values = _move_body(body_block(call.op, region), block, [], call)
            scf.YieldOp(values)
    return list(if_op.results)


# ---------------------------------------------------------------- batching rules (vmap)
# A loop or a branch with batched inputs (operands or captured values) runs once per
# example inside a loop over the examples (`region_loop`): each example takes its
# own branch and its own number of steps, which is what a batched predicate (a select of both
# branches in JAX) and a batched while loop (run until every lane stops) compute.
def region_loop(op: ir.Operation, batched_of, size) -> list:
    """Batch a region op by a loop over the examples: each step runs a clone of `op` whose
    batched operands and captured values are replaced by that example's slice."""
    reads = list(op.operands) + captured_values(op)

    def body(i):
        mapping = {}
        for v in reads:
            b = batched_of(v)
            if b is not None and v not in mapping:
                mapping[v] = vb.example(b, i).value
        clone = op.clone(ip=ir.InsertionPoint.current)
        vb.remap(clone, mapping)
        return [lax.Value(r) for r in clone.results]

    return vb.loop(size, body)


scan.def_batch_region(region_loop)
cond.def_batch_region(region_loop)
