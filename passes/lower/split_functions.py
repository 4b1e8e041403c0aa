"""theanir-split-functions: a huge function body becomes a chain of calls to parts of CHUNK ops.

Run after bufferization, on memrefs. Several steps after it cost more per op the longer one
function is: `convert-scf-to-cf` splits the block at each loop, moving every op after it
(quadratic), and LLVM's loop vectorizer and register allocator work per function with costs
that grow faster than the function (bench/compile_ops.py, fast_compile, one function:
LLVM 2 s for 100 tn ops, 90 s for 1,000; at 330 ops, parts of 16-64 ops cut LLVM's time 2-3x).
Since theanir-outline-kernels moves the loop nests of such functions out first, a part holds
glue (allocations, calls, pointer arithmetic); with parts of 32 ops, `main` itself (a call per
part, each passing and returning memref descriptors field by field) was ~45% of LLVM's code
generation at 10^4 ops, on one thread; parts of 128 ops: LLVM's CPU time -40%.
Functions of at most MIN_OPS top-level ops (every ordinary program: the training steps of
bench/mlp.py and bench/rnn.py have 80-420 here) are left exactly as they are; a longer one
is cut into consecutive runs of CHUNK ops, each moved into a private function

    func.func private @main_part3(%live_in...) -> (%live_out...)

and replaced by a call. Live-ins are the values the run reads from outside (arguments of the
function, results of earlier runs, `memref.alloca`s); live-outs the values later runs or the
return read. Constants (`arith.constant`, `memref.get_global`, `ub.poison`) are cloned into
each part that reads them, so LLVM still sees loop bounds and splats; allocas stay in the
caller (their memory lives as long as its frame). On memrefs a part passes descriptors:
no data is copied, and what the deallocation pipeline placed stays where it was. (At
opt_level 3, LLVM's inliner may merge the parts back: each is called once.)
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import func as func_d

from ..base import Pass

NAME = "theanir-split-functions"
MIN_OPS = 1024
CHUNK = 128  # theanir-outline-kernels leaves the parts their glue: 32 made main's calls cost most of LLVM

_CONSTANT = frozenset({"arith.constant", "memref.get_global", "ub.poison"})
_STAY = _CONSTANT | {"memref.alloca"}


def _stays(op: ir.Operation) -> bool:
    """Ops left in the caller: constants (cloned where used) and allocas (passed)."""
    return op.name in _STAY and not op.operands and not op.regions


def _nested_operands(op: ir.Operation):
    """(op, operand index, value) for `op` and every op nested in its regions."""
    for i, v in enumerate(op.operands):
        yield op, i, v
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                yield from _nested_operands(child.operation)


def split_functions(module_op: ir.Operation, pass_: object = None) -> None:
    """Cut every func.func body of more than MIN_OPS top-level ops into called parts."""
    top = module_op.regions[0].blocks[0]
    for f in list(top.operations):
        if f.operation.name != "func.func" or len(f.regions[0].blocks) != 1:
            continue
        block = f.regions[0].blocks[0]
        ops = [op.operation for op in block.operations]
        if len(ops) > MIN_OPS:
            _split(f.operation, block, ops)


def _split(f: ir.Operation, block: ir.Block, ops: list[ir.Operation]) -> None:
    body, terminator = ops[:-1], ops[-1]
    position = {r: i for i, op in enumerate(body) for r in op.results}
    arguments = set(block.arguments)
    movable = [i for i, op in enumerate(body) if not _stays(op)]
    chunks = [movable[k:k + CHUNK] for k in range(0, len(movable), CHUNK)]
    part_of = {i: c for c, chunk in enumerate(chunks) for i in chunk}
    # per part: live-ins in first-use order, constants it reads, the operand slots to rewire
    live_ins: list[dict[ir.Value, None]] = []
    constants: list[dict[ir.Value, None]] = []
    slots: list[list[tuple[ir.Operation, int, ir.Value]]] = []
    for c, chunk in enumerate(chunks):
        ins, consts, uses = {}, {}, []
        for i in chunk:
            for owner, k, v in _nested_operands(body[i]):
                j = position.get(v)
                if j is None and v not in arguments:
                    continue  # defined inside this op's regions
                if j is not None and part_of.get(j) == c:
                    continue  # defined in this part
                if j is not None and body[j].name in _CONSTANT and _stays(body[j]):
                    consts[v] = None
                else:
                    ins[v] = None
                uses.append((owner, k, v))
        live_ins.append(ins)
        constants.append(consts)
        slots.append(uses)
    read_later: set[ir.Value] = set(terminator.operands)
    live_outs: list[list[ir.Value]] = [[] for _ in chunks]
    for c in reversed(range(len(chunks))):
        live_outs[c] = [r for i in chunks[c] for r in body[i].results if r in read_later]
        read_later.update(live_ins[c])
    in_caller: dict[ir.Value, ir.Value] = {}  # a part's live-out -> the call's result
    name = ir.StringAttr(f.attributes["sym_name"]).value
    for c, chunk in enumerate(chunks):
        callee = _outline(f, f"{name}_part{c}", [body[i] for i in chunk], live_ins[c], constants[c],
                          slots[c], live_outs[c])
        after = chunk[-1] + 1
        where = body[after] if after < len(body) else terminator
        with f.location:
            call = func_d.CallOp(callee, [in_caller.get(v, v) for v in live_ins[c]], ip=ir.InsertionPoint(where))
        for r, new in zip(live_outs[c], call.results):
            in_caller[r] = new
    for k, v in enumerate(terminator.operands):
        if v in in_caller:
            terminator.operands[k] = in_caller[v]


def _outline(f: ir.Operation, name: str, ops: list[ir.Operation], ins: dict[ir.Value, None],
             consts: dict[ir.Value, None], slots: list[tuple[ir.Operation, int, ir.Value]],
             outs: list[ir.Value]) -> func_d.FuncOp:
    """A private function holding `ops` (moved), reading `ins`, returning `outs`."""
    with f.location:
        callee = func_d.FuncOp(name, ([v.type for v in ins], [v.type for v in outs]),
                               visibility="private", ip=ir.InsertionPoint(f))
        entry = callee.add_entry_block()
        inside: dict[ir.Value, ir.Value] = dict(zip(ins, entry.arguments))
        for v in consts:
            inside[v] = v.owner.operation.clone(ir.InsertionPoint(entry)).results[0]
        for op in ops:
            entry.append(op)
        for owner, k, v in slots:
            owner.operands[k] = inside[v]
        func_d.ReturnOp(outs, ip=ir.InsertionPoint(entry))
    return callee


class SplitFunctions(Pass):
    """After bufferization: a function of more than 1024 top-level ops becomes calls to
    private parts of 128 ops (bounds the per-function costs of scf-to-cf and LLVM: compile time)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        split_functions(module_op)
