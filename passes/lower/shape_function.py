"""theanir-shape-function: results whose shape follows from the input shapes get a destination.

`theanir-entry-abi` sends every result with dynamic dims out through a *slot*: the generated
code allocates it and the runtime adopts the buffer afterwards (passes/lower/dynamic_results.py).
That is the only way for a data-dependent size (`x[x > 0]`), but most dynamic results are
sized by the input shapes alone (`tanh(x @ w)` is `x.shape[0] x w.shape[1]`). For those this
pass builds a *shape function* and turns the slot back into a destination:

1. It asks MLIR for each such result's dims: a `tensor.dim` per dynamic dim, rewritten by
   upstream `resolve-ranked-shaped-type-result-dims` (each op's ReifyRankedShapedTypeOpInterface)
   and `scf-for-loop-canonicalization` (dims of loop results), which ends in `memref.dim`s of the
   inputs when the size needs no data.
2. A result is *sized* when every dim's backward slice holds only index arithmetic (`arith`,
   `index`, `affine.apply/min/max`) over `memref.dim` / `tensor.dim` of inputs and elements of
   splats built from such values (a slice's start vector): no load of input data, no loop.
3. The slices are cloned into `@<entry>_shapes(memref inputs..., memref<N x i64> out)`
   (`llvm.emit_c_interface`, the inputs typed as the entry's): per output a flag (1: its dims
   are below, the runtime allocates it; 0: it leaves through its slot), then every output's
   dims in order (static ones as constants, a slot output's as 0).
4. In the entry a sized result's slot argument becomes a `memref<?x...>` destination written
   with `materialize_in_destination` (as a static result), and leaves the returned values.

The runtime (runtime/src/executable.cpp `bind_outputs`) calls the shape function before the
entry, allocates the sized outputs and passes them as destinations: their calls stay
asynchronous with a known shape, and `Array.shape` never waits for them. The shape function
reads only the inputs' descriptors, never their data, so it may run while an input is still
being computed. Runs after `theanir-entry-abi` and `inline`, on the entry with
`theanir.result_slots`; `theanir.inputs` (set by entry-abi) says how many arguments are inputs.

    func.func @main(%x: memref<?x3xf32>, %s: memref<3xi64>) -> tensor<?x3xf32>
        attributes {theanir.inputs = 1, theanir.result_slots = array<i64: 1>}
    ->
    func.func @main(%x: memref<?x3xf32>, %s: memref<?x3xf32>) { ... materialize %r in %s }
    func.func @main_shapes(%x: memref<?x3xf32>, %out: memref<3xi64>) {
        store 1, %out[0]; store (memref.dim %x, 0), %out[1]; store 3, %out[2] }
"""
from __future__ import annotations

from mlir import ir, passmanager
from mlir.dialects import arith, bufferization, func, memref, tensor

from ..base import Pass
from .entry_abi import INPUTS_ATTR, SLOTS_ATTR

NAME = "theanir-shape-function"
MARKER = "__theanir_shape_marker"
RESOLVE = "builtin.module(func.func(resolve-ranked-shaped-type-result-dims,scf-for-loop-canonicalization))"
_ARITH = ("arith.", "index.")
_AFFINE = ("affine.apply", "affine.min", "affine.max")


def shapes_symbol(entry: str) -> str:
    """The shape function of `entry` (its packed C wrapper is `_mlir__mlir_ciface_<this>`)."""
    return f"{entry}_shapes"


def _op(value: ir.Value) -> ir.Operation | None:
    owner = value.owner
    if isinstance(owner, ir.Block):
        return None
    return owner.operation if hasattr(owner, "operation") else owner


def _input_arg(value: ir.Value, block: ir.Block, n_inputs: int) -> int | None:
    """The input index when `value` is one of `block`'s first `n_inputs` arguments."""
    if not isinstance(value.owner, ir.Block) or value.owner != block:
        return None
    number = ir.BlockArgument(value).arg_number
    return number if number < n_inputs else None


def _tensor_input(value: ir.Value, block: ir.Block, n_inputs: int) -> int | None:
    """The input index when `value` is `bufferization.to_tensor` of an input memref."""
    op = _op(value)
    if op is None or op.name != "bufferization.to_tensor":
        return None
    return _input_arg(op.operands[0], block, n_inputs)


def _splat(t: ir.Value) -> ir.Value | ir.Attribute | None:
    """The scalar every element of `t` holds when `t` is a splat built with no input data (a
    value of the entry's block, or a constant attribute): an `arith.constant` splat, a
    `linalg.fill`, or a `linalg.generic` yielding a value from outside its body or its rank-0
    input (how a broadcast constant, a slice's start vector, lowers); else None."""
    op = _op(t)
    if op is None:
        return None
    if op.name == "arith.constant":
        attr = op.attributes["value"]
        if isinstance(attr, ir.DenseElementsAttr) and attr.is_splat:
            return attr.get_splat_value()
        return None
    if op.name == "linalg.fill":
        return op.operands[0]
    if op.name != "linalg.generic":
        return None
    n_in = ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"])[0]
    body = op.regions[0].blocks[0]
    if len(body.operations) != 1:
        return None
    y = body.operations[0].operands[0]
    if not isinstance(y.owner, ir.Block):
        return y
    if y.owner != body:
        return None
    k = ir.BlockArgument(y).arg_number
    if k < n_in and ir.RankedTensorType(op.operands[k].type).rank == 0:
        return _splat(op.operands[k])
    return None


class _Slicer:
    """Backward slices of index values through pure index arithmetic over input dims."""

    def __init__(self, block: ir.Block, n_inputs: int) -> None:
        self.block, self.n_inputs = block, n_inputs
        self.ok: dict[ir.Operation, bool] = {}

    def value_ok(self, value: ir.Value) -> bool:
        op = _op(value)
        return op is not None and self.op_ok(op)

    def op_ok(self, op: ir.Operation) -> bool:
        if op in self.ok:
            return self.ok[op]
        self.ok[op] = False  # a cycle cannot happen in SSA; this only guards re-entry
        ok = op.parent is not None and op.block == self.block and len(op.regions) == 0
        if ok:
            name = op.name
            if name == "tensor.extract":  # of a splat that reads no input: its scalar
                splat = _splat(op.operands[0])
                ok = isinstance(splat, ir.Attribute) or (splat is not None and self.value_ok(splat))
            elif name == "memref.dim":
                ok = _input_arg(op.operands[0], self.block, self.n_inputs) is not None \
                    and self.value_ok(op.operands[1])
            elif name == "tensor.dim":
                ok = _tensor_input(op.operands[0], self.block, self.n_inputs) is not None \
                    and self.value_ok(op.operands[1])
            elif name.startswith(_ARITH) or name in _AFFINE:
                ok = all(isinstance(o.type, (ir.IndexType, ir.IntegerType)) for o in op.results) \
                    and all(self.value_ok(o) for o in op.operands)
            else:
                ok = False
        self.ok[op] = ok
        return ok


def _entry(module_op: ir.Operation) -> ir.Operation | None:
    for op in module_op.regions[0].blocks[0].operations:
        op = op.operation
        if op.name == "func.func" and SLOTS_ATTR in op.attributes and INPUTS_ATTR in op.attributes:
            return op
    return None


def shape_function(module_op: ir.Operation) -> int:
    """Build the entry's shape function; returns how many slot results became destinations."""
    f = _entry(module_op)
    if f is None:
        return 0
    n_inputs = ir.IntegerAttr(f.attributes[INPUTS_ATTR]).value
    del f.attributes[INPUTS_ATTR]
    slots = list(ir.DenseI64ArrayAttr(f.attributes[SLOTS_ATTR]))
    block = f.regions[0].blocks[0]
    ret = block.operations[len(block.operations) - 1]
    results = list(ret.operands)
    idx = ir.IndexType.get()
    body = module_op.regions[0].blocks[0]
    # 1. one tensor.dim per dynamic dim, kept alive by a call to a marker declaration
    dims_of: list[list[int]] = []  # per slot result: the marker operand of each dynamic dim
    wanted: list[ir.Value] = []
    with ir.InsertionPoint(ret), ret.location:
        for r in results:
            t = ir.RankedTensorType(r.type)
            positions = []
            for i in range(t.rank):
                if t.is_dynamic_dim(i):
                    positions.append(len(wanted))
                    wanted.append(tensor.DimOp(r, arith.ConstantOp(idx, i).result).result)
            dims_of.append(positions)
        marker_call = func.CallOp([], ir.FlatSymbolRefAttr.get(MARKER), wanted)
    with ir.InsertionPoint.at_block_begin(body), f.location:
        decl = func.FuncOp(MARKER, ([idx] * len(wanted), []), visibility="private")
    del marker_call
    passmanager.PassManager.parse(RESOLVE).run(module_op)
    # 2. which results are sized
    ret = block.operations[len(block.operations) - 1]
    call = block.operations[len(block.operations) - 2]
    if call.operation.name != "func.call" or ir.FlatSymbolRefAttr(call.attributes["callee"]).value != MARKER:
        raise RuntimeError(f"{NAME}: the dim marker moved (got {call.operation.name})")
    resolved = list(call.operands)
    slicer = _Slicer(block, n_inputs)
    sized = [all(slicer.value_ok(resolved[p]) for p in positions) for positions in dims_of]
    count = sum(sized)
    if count:
        _build_shapes(module_op, f, block, n_inputs, slots, results, dims_of, resolved, sized, slicer)
        _rewrite_entry(f, block, ret, slots, results, sized)
    call.operation.erase()
    decl.operation.erase()
    _erase_dead_dims(block)
    return count


def _erase_dead_dims(block: ir.Block) -> None:
    """The dims asked for and their index arithmetic, now unused (later passes would drop
    them too; the FileCheck output reads better without)."""
    for op in reversed(list(block.operations)):
        op = op.operation
        name = op.name
        if len(op.regions) == 0 and len(op.results) > 0 and not any(list(r.uses) for r in op.results) \
                and (name in ("tensor.dim", "memref.dim") or name.startswith(_ARITH) or name in _AFFINE):
            op.erase()


def _build_shapes(module_op: ir.Operation, f: ir.Operation, block: ir.Block, n_inputs: int,
                  slots: list[int], results: list[ir.Value], dims_of: list[list[int]],
                  resolved: list[ir.Value], sized: list[bool], slicer: _Slicer) -> None:
    idx, i64 = ir.IndexType.get(), ir.IntegerType.get_signless(64)
    args = list(block.arguments)
    slot_of = {s: k for k, s in enumerate(slots)}
    # per output (the arguments after the inputs): (flag, [dim per axis: int or marker position])
    outputs: list[tuple[int, list]] = []
    for a in args[n_inputs:]:
        n = ir.BlockArgument(a).arg_number
        if n in slot_of:
            k = slot_of[n]
            t = ir.RankedTensorType(results[k].type)
            positions = iter(dims_of[k])
            dims = [next(positions) if t.is_dynamic_dim(i) else ("c", t.shape[i]) for i in range(t.rank)]
            outputs.append((1, dims) if sized[k] else (0, [("c", 0)] * t.rank))
        else:
            t = ir.MemRefType(a.type)
            outputs.append((1, [("c", s) for s in t.shape]))
    total = len(outputs) + sum(len(d) for _, d in outputs)
    name = ir.StringAttr(f.attributes["sym_name"]).value + "_shapes"
    in_types = [a.type for a in args[:n_inputs]]
    body = module_op.regions[0].blocks[0]
    with ir.InsertionPoint(body), f.location:
        sf = func.FuncOp(name, (in_types + [ir.MemRefType.get([total], i64)], []))
        sf.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        entry = sf.add_entry_block()
    new_args = list(entry.arguments)
    out = new_args[-1]
    mapping: dict = {}
    with ir.InsertionPoint(entry), f.location:
        for op in block.operations:
            op = op.operation
            if not slicer.ok.get(op):
                continue
            if op.name == "tensor.extract":  # of a splat: its scalar
                splat = _splat(op.operands[0])
                mapping[op.results[0]] = arith.ConstantOp(op.results[0].type, splat).result \
                    if isinstance(splat, ir.Attribute) else mapping[splat]
                continue
            if op.name == "tensor.dim":  # of to_tensor(input): the memref's dim
                source = _tensor_input(op.operands[0], block, n_inputs)
                value = memref.DimOp(new_args[source], mapping[op.operands[1]]).result
                mapping[op.results[0]] = value
                continue
            clone = op.clone()
            for i, o in enumerate(op.operands):
                n = _input_arg(o, block, n_inputs)
                clone.operands[i] = new_args[n] if n is not None else mapping[o]
            for r, c in zip(op.results, clone.results):
                mapping[r] = c
        position = 0

        def store(v: ir.Value) -> None:
            nonlocal position
            if isinstance(v.type, ir.IndexType):
                v = arith.IndexCastOp(i64, v).result
            elif v.type != i64:
                v = arith.ExtSIOp(i64, v).result
            memref.StoreOp(v, out, [arith.ConstantOp(idx, position).result])
            position += 1

        for flag, _ in outputs:
            store(arith.ConstantOp(i64, flag).result)
        for flag, dims in outputs:
            for d in dims:
                store(arith.ConstantOp(i64, d[1]).result if isinstance(d, tuple) else mapping[resolved[d]])
        func.ReturnOp([])


def _rewrite_entry(f: ir.Operation, block: ir.Block, ret: ir.Operation, slots: list[int],
                   results: list[ir.Value], sized: list[bool]) -> None:
    """Sized results: their slot argument becomes a destination memref written in place."""
    with ir.InsertionPoint(ret), ret.location:
        for k, r in enumerate(results):
            if not sized[k]:
                continue
            t = ir.RankedTensorType(r.type)
            arg = block.arguments[slots[k]]
            arg.set_type(ir.MemRefType.get(list(t.shape), t.element_type))
            bufferization.MaterializeInDestinationOp(None, r, arg, restrict=True, writable=True)
        kept = [r for k, r in enumerate(results) if not sized[k]]
        func.ReturnOp(kept)
    ret.operation.erase()
    inputs = [a.type for a in block.arguments]
    f.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, [r.type for r in kept]))
    left = [s for k, s in enumerate(slots) if not sized[k]]
    if left:
        f.attributes[SLOTS_ATTR] = ir.DenseI64ArrayAttr.get(left)
    else:
        del f.attributes[SLOTS_ATTR]


class ShapeFunction(Pass):
    """Results whose dims follow from the input shapes: a generated shape function sizes them
    and the runtime allocates their destinations before the call; the others keep their slots."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return shape_function(module_op)
