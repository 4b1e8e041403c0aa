"""The NumPy interpreter of the `tn` dialect: the one place where its semantics run in Python.

Each op runs its `OpDef.reference` rule (attributes decoded as the op table declares them),
the result converted to the op's result type (the reference follows NumPy's promotion; the
IR's type is the truth). Region ops run their bodies: `tn.scan` (counted or do-while, with
stacked outputs), `tn.cond` (only the taken branch runs) and `tn.fusion` (its group in order).
A body reads outer values directly, so every evaluator takes `read(value) -> array` for the
values it does not define itself.

    outs = interpret(module, x, h0)                  # a whole traced function (tests' oracle)
    value = static_value(v)                          # v's value when it depends on constants only
    folded = fold(op, [a, b])                        # constant folding: None when it cannot fold

Users: constant folding and static-value queries (passes/optimize), trace-time static values
(frontend/control_flow.static_value), and the tests' oracle (tests/dialect/test_interpreter.py).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from mlir import ir

from . import ops  # noqa: F401  (registers every op family: the interpreter reads the whole table)
from .ops.control import body_block, scan, scan_counts
from .registry import OPS
from .types import spec_of_type

Reader = Callable[[ir.Value], np.ndarray]
RegionEvaluator = Callable[[ir.Operation, Reader], list[np.ndarray]]

# Constant folding and static evaluation stop at this many elements (a result or an operand):
# compile time and IR size stay bounded; bigger values are computed at run time.
FOLD_LIMIT = 1_000_000
# static_value looks this many ops up the use-def chain (e.g. `eye`, built from iotas).
STATIC_DEPTH = 16


class InterpreterError(RuntimeError):
    """The interpreter cannot run an op: not a tn op, no reference rule, or a reference whose
    result does not have the op's result shape."""


# ---------------------------------------------------------------- one op
def apply_reference(op: ir.Operation | ir.OpView, args: Sequence[np.ndarray]) -> list[np.ndarray]:
    """op's reference rule on `args`, each result in the op's result dtype (checked shape)."""
    op = op.operation
    opdef = OPS.get(op.name)
    if opdef is None:
        raise InterpreterError(f"{op.name} is not a tn op; the interpreter runs tn ops only")
    if opdef.reference is None:
        raise InterpreterError(f"{op.name} has no NumPy reference rule")
    res = opdef.reference(*args, **opdef.decode_attrs(op))
    outs = list(res) if isinstance(res, (tuple, list)) else [res]
    results = list(op.results)
    if len(outs) != len(results):
        raise InterpreterError(f"{op.name}: the reference gave {len(outs)} results, the op has "
                               f"{len(results)}")
    return [_as_result(op, r, x) for r, x in zip(results, outs)]


def _as_result(op: ir.Operation, result: ir.Value, x: object) -> np.ndarray:
    spec = spec_of_type(result.type)
    arr = np.asarray(x)
    if arr.shape != spec.shape:
        raise InterpreterError(f"{op.name}: the reference gave shape {arr.shape}, expected the "
                               f"result's shape {spec.shape}")
    return arr.astype(spec.dtype, copy=False)


def evaluate_op(op: ir.Operation | ir.OpView, read: Reader) -> list[np.ndarray]:
    """The values of op's results; `read` gives the values it reads (operands, captures)."""
    op = op.operation
    evaluator = REGION_EVALUATORS.get(op.name)
    if evaluator is not None:
        return evaluator(op, read)
    return apply_reference(op, [read(v) for v in op.operands])


def run_block(block: ir.Block, args: Sequence[np.ndarray], read: Reader) -> list[np.ndarray]:
    """Run a block (a region body or a function body) on its arguments' values; returns the
    values its terminator (gpu.yield, func.return) passes on. Values defined outside the
    block come from `read`."""
    env: dict[ir.Value, np.ndarray] = dict(zip(block.arguments, args))

    def lookup(v: ir.Value) -> np.ndarray:
        return env[v] if v in env else read(v)

    ops_ = [o.operation for o in block.operations]
    for o in ops_[:-1]:
        env.update(zip(o.results, evaluate_op(o, lookup)))
    return [lookup(v) for v in ops_[-1].operands]


# ---------------------------------------------------------------- region ops
def _evaluate_scan(op: ir.Operation, read: Reader) -> list[np.ndarray]:
    """trip = max(n_steps, 0) steps (at most `length` with stacked outputs), fewer when a
    do-while flag stops it; rows after the last executed step repeat it (zeros if none ran)."""
    attrs = scan.decode_attrs(op)
    length, until = attrs["length"], attrs["until"]
    k, m = scan_counts(op)
    carries = [read(v) for v in list(op.operands)[1:]]
    specs = [spec_of_type(r.type) for r in list(op.results)[k:]]
    trip = max(int(read(op.operands[0])), 0)
    trip = min(trip, length) if m and length >= 0 else trip
    rows: list[list[np.ndarray]] = [[] for _ in specs]
    count = 0
    while count < trip:
        outs = run_block(body_block(op), [np.array(count, np.int64), *carries], read)
        carries = outs[:k]
        for r, y in zip(rows, outs[k:k + m]):
            r.append(np.asarray(y))
        count += 1
        if until and bool(outs[-1]):
            break
    # a dynamic length (-1): the rows that ran; else `length` rows, the last one repeated
    total = count if length < 0 else length
    bufs = []
    for s, r in zip(specs, rows):
        shape = r[0].shape if r else tuple(0 if n is None else n for n in s.shape[1:])
        buf = np.zeros((total,) + shape, s.dtype)
        for j, y in enumerate(r):
            buf[j] = y
        if count:
            buf[count:] = buf[count - 1]
        bufs.append(buf)
    return carries + bufs


def _evaluate_cond(op: ir.Operation, read: Reader) -> list[np.ndarray]:
    """Only the taken branch runs."""
    return run_block(body_block(op, 0 if bool(read(op.operands[0])) else 1), [], read)


def _evaluate_fusion(op: ir.Operation, read: Reader) -> list[np.ndarray]:
    """The group's ops in order, each through its reference."""
    return run_block(body_block(op), [], read)


# region op -> evaluator(op, read): how evaluate_op runs ops whose semantics live in bodies
REGION_EVALUATORS: dict[str, RegionEvaluator] = {
    "tn.scan": _evaluate_scan, "tn.cond": _evaluate_cond, "tn.fusion": _evaluate_fusion,
}


# ---------------------------------------------------------------- whole functions
def entry_function(target: ir.Module | ir.Operation | ir.OpView) -> ir.Operation:
    """The function to run: `target` itself (a func.func), or a module's @main (or its only
    function with a body)."""
    if isinstance(target, ir.Module):
        target = target.operation
    op = target.operation
    if op.name == "func.func":
        return op
    if op.name != "builtin.module":
        raise InterpreterError(f"interpret takes a module or a func.func, got {op.name}")
    funcs = [o.operation for o in op.regions[0].blocks[0].operations
             if o.operation.name == "func.func" and len(o.operation.regions[0].blocks)]
    named = [f for f in funcs if ir.StringAttr(f.attributes["sym_name"]).value == "main"]
    if named:
        return named[0]
    if len(funcs) != 1:
        raise InterpreterError(f"the module has {len(funcs)} functions and none is @main")
    return funcs[0]


def interpret(target: ir.Module | ir.Operation | ir.OpView, *inputs: object) -> list[np.ndarray]:
    """Run a traced function (a module's @main, or a func.func) on NumPy inputs; returns its
    results. Inputs convert to the arguments' dtypes; their shapes must match exactly."""
    block = entry_function(target).regions[0].blocks[0]
    params = list(block.arguments)
    if len(inputs) != len(params):
        raise TypeError(f"interpret: the function takes {len(params)} arguments, got {len(inputs)}")
    args = []
    for i, (p, x) in enumerate(zip(params, inputs)):
        spec = spec_of_type(p.type)
        arr = np.asarray(x, dtype=spec.dtype)
        if arr.shape != spec.shape:
            raise ValueError(f"interpret: argument {i} has shape {arr.shape}, expected "
                             f"{spec.shape}")
        args.append(arr)
    return run_block(block, args, _undefined)


def _undefined(v: ir.Value) -> np.ndarray:
    raise InterpreterError(f"{v} is read before it is defined")


# ---------------------------------------------------------------- folding and static values
def fold(op: ir.Operation | ir.OpView, args: Sequence[np.ndarray]) -> np.ndarray | None:
    """op's (single) result on constant `args`, as constant folding computes it: IEEE results
    without warnings; None when the reference refuses these values or gives a result of
    another shape (the op then runs at run time)."""
    try:
        with np.errstate(all="ignore"):
            outs = apply_reference(op, args)
    except Exception:  # a reference that refuses these values: leave the op to run time
        return None
    return outs[0] if len(outs) == 1 else None


def static_value(value: ir.Value, limit: int | None = FOLD_LIMIT,
                 depth: int | None = STATIC_DEPTH, budget: int | None = None) -> np.ndarray | None:
    """`value` computed by `fold` when it depends only on constants and `tn.iota` (ops with no
    operands), else None. Bounded work: every value of at most `limit` elements, at most
    `depth` ops up the use-def chain, at most `budget` values visited (None: no bound).
    Region ops are not evaluated (their bodies read values from above)."""
    memo: dict[ir.Value, np.ndarray | None] = {}
    left = [budget]

    def visit(v: ir.Value, depth: int | None) -> np.ndarray | None:
        if v in memo:
            return memo[v]
        if left[0] is not None:
            left[0] -= 1
            if left[0] < 0:
                return None
        op = v.owner.operation if isinstance(v, ir.OpResult) else None
        opdef = OPS.get(op.name) if op is not None else None
        memo[v] = None
        if opdef is None or opdef.reference is None or not opdef.pure or opdef.regions:
            return None
        if len(op.results) != 1 or (limit is not None and spec_of_type(v.type).size_above(limit)):
            return None
        if depth == 0 and len(op.operands):
            return None
        args = []
        for a in op.operands:  # stop at the first operand that is not static
            args.append(visit(a, None if depth is None else depth - 1))
            if args[-1] is None:
                return None
        memo[v] = fold(op, args)
        return memo[v]

    return visit(value, depth)
