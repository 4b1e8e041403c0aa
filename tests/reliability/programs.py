"""Random array programs over the th namespace (a hypothesis strategy).

A program is Python source (`def f(x0, x1): v2 = th.tanh(x0) ...`); the same text runs under
`th.jit` (with `th` = theanir) and under the reference (reference.py, with `th` =
`RefNamespace()`), so a failure prints a reproducer that is also the test. Every value it
computes is returned (no dead code).

The generator keeps every value finite by construction: it tracks a bound on |value| per
node and never applies an op that could leave [-LIMIT, LIMIT] (or a function's domain):
log and rsqrt see |x| + 0.5, sqrt |x|, division divides by x**2 + 1, exp only small values.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from reference import element_count, norm_axes

LIMIT = 1e6          # no node's |value| may exceed this (float32 keeps ~7 digits: still meaningful)
INPUT_RANGE = 2.0    # inputs are uniform in [-INPUT_RANGE, INPUT_RANGE]


LAYOUTS = ["c", "c", "c", "transposed", "strided", "reversed", "broadcast"]


@dataclass
class InputSpec:
    shape: tuple[int, ...]
    dtype: str
    layout: str

    def make(self, rng: np.random.Generator) -> np.ndarray:
        """Values in [-2, 2] of the given dtype, laid out as asked (not always C-contiguous)."""
        dt = np.dtype(self.dtype)
        shape = self.shape
        if self.layout == "transposed" and len(shape) >= 2:
            return rng.uniform(-INPUT_RANGE, INPUT_RANGE, shape[::-1]).astype(dt).T
        if self.layout == "strided" and len(shape) >= 1:
            base = rng.uniform(-INPUT_RANGE, INPUT_RANGE, shape[:-1] + (2 * shape[-1],)).astype(dt)
            return base[..., ::2]
        if self.layout == "reversed" and len(shape) >= 1:
            return rng.uniform(-INPUT_RANGE, INPUT_RANGE, shape).astype(dt)[::-1]
        if self.layout == "broadcast" and len(shape) >= 1:  # stride 0 along the first axis
            row = rng.uniform(-INPUT_RANGE, INPUT_RANGE, (1,) + shape[1:]).astype(dt)
            return np.broadcast_to(row, shape)
        return rng.uniform(-INPUT_RANGE, INPUT_RANGE, shape).astype(dt)


@dataclass
class Node:
    name: str
    shape: tuple[int, ...]
    dtype: str
    bound: float            # |value| <= bound
    exact: bool = False     # an input: discontinuous ops and comparisons may use it
    positive: bool = False  # > 0 (bounded away from 0 by at least 0.5)


@dataclass
class Program:
    """Source text, input specs and the input seed; repr is a runnable reproducer."""

    source: str
    inputs: list[InputSpec]
    seed: int

    def make_inputs(self) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        return [spec.make(rng) for spec in self.inputs]

    def __repr__(self) -> str:
        specs = ", ".join(f"{s.dtype}{list(s.shape)} {s.layout}" for s in self.inputs)
        return f"Program(seed={self.seed}, inputs=[{specs}])\n{self.source}"


class _Builder:
    def __init__(self, draw, smooth: bool, max_dim: int, limit: float, dtypes: tuple[str, ...]):
        self.draw = draw
        self.smooth = smooth          # only differentiable ops (for gradient checks)
        self.max_dim = max_dim
        self.limit = limit
        self.dtype_mode = draw(st.sampled_from(dtypes))  # float32, float64 or mixed (per input)
        self.inputs: list[InputSpec] = []
        self.nodes: list[Node] = []
        self.lines: list[str] = []
        self.used: set[str] = set()  # values some op reads: the others are the program's outputs

    # -- inputs and shapes
    def dim(self) -> int:
        return self.draw(st.one_of(st.integers(1, self.max_dim), st.sampled_from([0, 1, 1, 2])))

    def shape(self, max_rank: int = 3) -> tuple[int, ...]:
        rank = self.draw(st.integers(0, max_rank))
        return tuple(self.dim() for _ in range(rank))

    def new_input(self, shape: tuple[int, ...]) -> Node:
        dtype = self.dtype_mode if self.dtype_mode != "mixed" else self.draw(st.sampled_from(["float32", "float64"]))
        layouts = [lay for lay in LAYOUTS if lay != "transposed" or len(shape) >= 2]
        layout = self.draw(st.sampled_from(layouts)) if shape and 0 not in shape else "c"
        self.inputs.append(InputSpec(shape, dtype, layout))
        node = Node(f"x{len(self.inputs) - 1}", shape, dtype, INPUT_RANGE, exact=True)
        return node

    def broadcast_partner_shape(self, shape: tuple[int, ...], extend: bool = True) -> tuple[int, ...]:
        """A shape that broadcasts with `shape` to `shape` (or, if `extend`, adds a leading dim)."""
        keep = self.draw(st.integers(0, len(shape)))
        tail = tuple(1 if self.draw(st.booleans()) else d for d in shape[len(shape) - keep:])
        extend = extend and keep == len(shape) and len(shape) < 3
        lead = tuple(self.dim() for _ in range(self.draw(st.integers(0, 1)))) if extend else ()
        return lead + tail

    # -- emitting
    def emit(self, expr: str, shape: tuple[int, ...], dtype: str, bound: float, positive: bool = False) -> Node:
        name = f"v{len(self.nodes)}"
        self.lines.append(f"    {name} = {expr}")
        self.used.update(n.name for n in self.nodes if re.search(rf"\b{n.name}\b", expr))
        node = Node(name, tuple(shape), dtype, bound, positive=positive)
        self.nodes.append(node)
        return node

    def pick(self) -> Node:
        """Mostly the latest value (deep chains), sometimes an earlier one (DAGs)."""
        if len(self.nodes) == 1 or self.draw(st.integers(0, 2)) > 0:
            return self.nodes[-1]
        return self.draw(st.sampled_from(self.nodes[-4:-1]))


def _product(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


_SMOOTH_UNARY = ["tanh", "sin", "cos", "sigmoid", "softplus", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "square"]
_KINKED_UNARY = ["abs", "negative", "relu"]


def _unary(b: _Builder, x: Node) -> Node:
    names = _SMOOTH_UNARY + ([] if b.smooth else _KINKED_UNARY + (["floor", "ceil", "sign", "round"] if x.exact else []))
    name = b.draw(st.sampled_from(names))
    lim, bd = b.limit, x.bound
    if name in ("exp", "expm1"):
        if bd > math.log(lim):
            name = "tanh"
        else:
            return b.emit(f"th.{name}({x.name})", x.shape, x.dtype, math.exp(bd), positive=False)
    if name == "square" and bd * bd > lim:
        name = "sin"
    # domain guards: log/rsqrt of |x| + 0.5, sqrt of x*x + 1 (smooth) or |x| (kinked at 0), log1p of |x|
    if name in ("log", "rsqrt"):
        arg = f"{x.name}" if x.positive else f"th.abs({x.name}) + 0.5" if not b.smooth else f"th.square({x.name}) + 0.5"
        bound = abs(math.log(0.5)) + math.log(bd * bd + 1) if name == "log" else 1.5
        return b.emit(f"th.{name}({arg})", x.shape, x.dtype, bound)
    if name == "log1p":
        arg = f"th.abs({x.name})" if not b.smooth else f"th.square({x.name})"
        return b.emit(f"th.log1p({arg})", x.shape, x.dtype, math.log1p(bd * bd))
    if name == "sqrt":
        arg = f"th.abs({x.name})" if not b.smooth else f"th.square({x.name}) + 1.0"
        return b.emit(f"th.sqrt({arg})", x.shape, x.dtype, math.sqrt(bd * bd + 1), positive=b.smooth)
    bounds = {"tanh": 1.0, "sin": 1.0, "cos": 1.0, "sigmoid": 1.0, "softplus": bd + 0.7, "square": bd * bd,
              "abs": bd, "negative": bd, "relu": bd, "floor": bd + 1, "ceil": bd + 1, "sign": 1.0, "round": bd + 1}
    form = f"-{x.name}" if name == "negative" and b.draw(st.booleans()) else f"th.{name}({x.name})"
    return b.emit(form, x.shape, x.dtype, bounds[name])


def _partner(b: _Builder, x: Node) -> tuple[str, tuple[int, ...], str, float, bool]:
    """Second operand for a broadcasting binary op: (text, shape, dtype, bound, is_weak)."""
    kind = b.draw(st.sampled_from(["const", "existing", "new", "new"]))
    if kind == "const":
        c = b.draw(st.sampled_from([0.5, 2.0, -1.5, 3, -1, 0.25]))
        return repr(c), (), x.dtype, abs(c), True
    fits = [n for n in b.nodes + [] if n is not x and _broadcastable(n.shape, x.shape)]
    if kind == "existing" and fits:
        n = b.draw(st.sampled_from(fits))
        return n.name, n.shape, n.dtype, n.bound, False
    n = b.new_input(b.broadcast_partner_shape(x.shape))
    return n.name, n.shape, n.dtype, n.bound, False


def _broadcastable(s: tuple[int, ...], t: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


def _dt(d1: str, d2: str, weak: bool) -> str:
    return d1 if weak else str(np.result_type(d1, d2))


def _binary(b: _Builder, x: Node) -> Node:
    text, shape, dtype, bound, weak = _partner(b, x)
    out_shape = np.broadcast_shapes(x.shape, shape)
    out_dt = _dt(x.dtype, dtype, weak)
    names = ["add", "subtract", "multiply", "divide"] + ([] if b.smooth else ["maximum", "minimum"])
    name = b.draw(st.sampled_from(names))
    if name == "multiply" and x.bound * bound > b.limit:
        name = "add"
    if name == "divide" and weak:
        return b.emit(f"{x.name} / {float(bound) ** 2 + 1.0!r}", out_shape, out_dt, x.bound)
    if name == "divide":  # by something >= 1
        return b.emit(f"{x.name} / (th.square({text}) + 1.0)", out_shape, out_dt, x.bound)
    ops = {"add": "+", "subtract": "-", "multiply": "*"}
    bounds = {"add": x.bound + bound, "subtract": x.bound + bound, "multiply": x.bound * bound,
              "maximum": max(x.bound, bound), "minimum": max(x.bound, bound)}
    operands = [x.name, text] if b.draw(st.booleans()) else [text, x.name]
    if name in ops and b.draw(st.booleans()):
        expr = f"{operands[0]} {ops[name]} {operands[1]}"
    else:
        expr = f"th.{name}({operands[0]}, {operands[1]})"
    return b.emit(expr, out_shape, out_dt, bounds[name])


def _reduction(b: _Builder, x: Node) -> Node:
    ndim = len(x.shape)
    axis = b.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1) if ndim else st.none(),
                            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)
                            if ndim else st.none()))
    axes = norm_axes(axis, ndim)
    n = element_count(x.shape, axes)
    keepdims = b.draw(st.booleans())
    out_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keepdims or i not in axes)
    # std is not differentiable where var = 0 (broadcast rows), max/min at ties; max/min/logsumexp
    # of nothing raise (as in NumPy); var/mean of nothing are NaN (kept out of gradient programs)
    names = ["sum", "mean", "var", "logsumexp"] + ([] if b.smooth else ["std", "max", "min"])
    if n == 0:
        names = ["sum"] + ([] if b.smooth else ["mean", "var"])
    name = b.draw(st.sampled_from(names))
    if name == "sum" and x.bound * max(n, 1) > b.limit:
        name = "mean"
    bounds = {"sum": x.bound * n, "mean": x.bound, "var": x.bound ** 2, "std": x.bound, "max": x.bound,
              "min": x.bound, "logsumexp": x.bound + math.log(max(n, 1))}
    args = f"{x.name}, axis={axis!r}" + (", keepdims=True" if keepdims else "")
    if b.draw(st.booleans()) and name in ("sum", "mean", "max", "min", "var", "std") and axis is None and not keepdims:
        return b.emit(f"{x.name}.{name}()" if name in ("sum", "mean", "max", "min") else f"th.{name}({x.name})",
                      out_shape, x.dtype, bounds[name])
    return b.emit(f"th.{name}({args})", out_shape, x.dtype, bounds[name])


def _softmax(b: _Builder, x: Node) -> Node:
    if not x.shape:
        return _unary(b, x)
    axis = b.draw(st.integers(-len(x.shape), len(x.shape) - 1))
    name = b.draw(st.sampled_from(["softmax", "log_softmax"]))
    bound = 1.0 if name == "softmax" else 2 * x.bound + math.log(max(x.shape[axis], 1))
    return b.emit(f"th.{name}({x.name}, axis={axis})", x.shape, x.dtype, bound)


def _matmul(b: _Builder, x: Node) -> Node:
    if not x.shape:
        return _binary(b, x)
    k = x.shape[-1]
    shape = (k,) if b.draw(st.booleans()) else (k, b.dim())
    if len(x.shape) >= 2 and len(shape) == 2 and b.draw(st.booleans()):
        shape = (b.draw(st.sampled_from([1, x.shape[-3] if len(x.shape) >= 3 else 2])),) + shape  # batched
    y = b.new_input(shape)
    out_shape = np.matmul(np.zeros(x.shape), np.zeros(shape)).shape
    bound = x.bound * y.bound * max(k, 1)
    if bound > b.limit:
        return _unary(b, x)
    expr = f"{x.name} @ {y.name}" if b.draw(st.booleans()) else f"th.matmul({x.name}, {y.name})"
    return b.emit(expr, out_shape, str(np.result_type(x.dtype, y.dtype)), bound)


def _reshape(b: _Builder, x: Node) -> Node:
    kind = b.draw(st.sampled_from(["flatten", "split", "merge", "expand", "squeeze"]))
    s = list(x.shape)
    if kind == "split" and s and s[0] > 0:
        d = s[0]
        f = b.draw(st.sampled_from([f for f in range(1, d + 1) if d % f == 0]))
        new = [f, d // f] + s[1:]
        minus_one_ok = 0 not in s  # -1 is ambiguous for an empty array
        target = tuple(-1 if i == 1 and minus_one_ok and b.draw(st.booleans()) else v for i, v in enumerate(new))
        return b.emit(f"th.reshape({x.name}, {target!r})", tuple(new), x.dtype, x.bound)
    if kind == "merge" and len(s) >= 2:
        i = b.draw(st.integers(0, len(s) - 2))
        new = s[:i] + [s[i] * s[i + 1]] + s[i + 2:]
        return b.emit(f"{x.name}.reshape({tuple(new)!r})", tuple(new), x.dtype, x.bound)
    if kind == "expand" and len(s) < 4:
        ax = b.draw(st.integers(-len(s) - 1, len(s)))
        new = list(np.expand_dims(np.empty(s), ax).shape)
        return b.emit(f"th.expand_dims({x.name}, {ax})", tuple(new), x.dtype, x.bound)
    if kind == "squeeze" and 1 in s:
        ax = s.index(1)
        return b.emit(f"th.squeeze({x.name}, axis={ax})", tuple(s[:ax] + s[ax + 1:]), x.dtype, x.bound)
    return b.emit(f"th.reshape({x.name}, (-1,))", (_product(s),), x.dtype, x.bound)


def _transpose(b: _Builder, x: Node) -> Node:
    if len(x.shape) < 2:
        return _reshape(b, x)
    perm = tuple(b.draw(st.permutations(range(len(x.shape)))))
    if b.draw(st.booleans()):
        return b.emit(f"{x.name}.T", x.shape[::-1], x.dtype, x.bound)
    return b.emit(f"th.transpose({x.name}, {perm!r})", tuple(x.shape[p] for p in perm), x.dtype, x.bound)


def _slice(b: _Builder, x: Node) -> Node:
    if not x.shape:
        return _unary(b, x)
    parts, shape = [], []
    for d in x.shape:
        kind = b.draw(st.sampled_from(["all", "range", "range", "index"] if d > 0 else ["all", "range"]))
        if kind == "index":
            i = b.draw(st.integers(-d, d - 1))
            parts.append(str(i))
            continue
        if kind == "all":
            parts.append(":")
            shape.append(d)
            continue
        start = b.draw(st.one_of(st.none(), st.integers(-d - 1, d + 1)))
        stop = b.draw(st.one_of(st.none(), st.integers(-d - 1, d + 1)))
        step = b.draw(st.sampled_from([None, 1, 2, 3, -1, -2]))
        parts.append(f"{'' if start is None else start}:{'' if stop is None else stop}" + ("" if step is None else f":{step}"))
        shape.append(len(range(d)[slice(start, stop, step)]))
    return b.emit(f"{x.name}[{', '.join(parts)}]", tuple(shape), x.dtype, x.bound)


def _where(b: _Builder, x: Node) -> Node:
    c = b.new_input(b.broadcast_partner_shape(x.shape, extend=False))
    text, shape, dtype, bound, weak = _partner(b, x)
    out_shape = np.broadcast_shapes(c.shape, x.shape, shape)
    cond = f"{c.name} > 0.0" if b.draw(st.booleans()) else f"th.greater({c.name}, 0.5)"
    return b.emit(f"th.where({cond}, {x.name}, {text})", out_shape, _dt(x.dtype, dtype, weak), max(x.bound, bound))


def _concatenate(b: _Builder, x: Node) -> Node:
    if not x.shape:
        return _unary(b, x)
    axis = b.draw(st.integers(-len(x.shape), len(x.shape) - 1))
    if b.draw(st.booleans()):
        other_name, other_shape, dt2 = x.name, x.shape, x.dtype
    else:
        s = list(x.shape)
        s[axis] = b.draw(st.sampled_from([0, 1, 2, 3]))
        y = b.new_input(tuple(s))
        other_name, other_shape, dt2 = y.name, y.shape, y.dtype
    out = list(x.shape)
    out[axis] += other_shape[axis]
    return b.emit(f"th.concatenate([{x.name}, {other_name}], axis={axis})", tuple(out),
                  str(np.result_type(x.dtype, dt2)), max(x.bound, INPUT_RANGE))


_OPS = {"unary": _unary, "binary": _binary, "reduce": _reduction, "softmax": _softmax, "matmul": _matmul,
        "reshape": _reshape, "transpose": _transpose, "slice": _slice, "where": _where, "concatenate": _concatenate}
_WEIGHTS = ["unary"] * 4 + ["binary"] * 4 + ["reduce"] * 2 + ["softmax", "matmul", "reshape", "transpose",
                                                                "slice", "where", "concatenate"]


@st.composite
def programs(draw, smooth: bool = False, max_ops: int = 6, max_dim: int = 6, scalar_output: bool = False,
             limit: float = LIMIT, dtypes: tuple[str, ...] = ("float32", "float64", "mixed")) -> Program:
    """A random program over 1-5 inputs; `smooth`: differentiable ops only (gradient checks)."""
    b = _Builder(draw, smooth, max_dim, limit, dtypes)
    first = b.new_input(b.shape())
    b.nodes.append(first)
    for _ in range(draw(st.integers(0, 1))):
        b.nodes.append(b.new_input(b.broadcast_partner_shape(first.shape)))
    for _ in range(draw(st.integers(min(3, max_ops), max_ops))):  # hypothesis favours small counts
        kind = draw(st.sampled_from(_WEIGHTS))
        _OPS[kind](b, b.pick())
    outs = [n.name for n in b.nodes if n.name not in b.used and not n.exact]  # every value is used
    if scalar_output:
        terms = [f"th.sum(th.tanh({o}))" if draw(st.booleans()) else f"th.mean({o} * {o})" for o in outs]
        outs = [" + ".join(terms)]
    params = ", ".join(f"x{i}" for i in range(len(b.inputs)))
    source = "\n".join([f"def f({params}):", *b.lines, f"    return {', '.join(outs)}", ""])
    seed = draw(st.integers(0, 2**32 - 1))
    return Program(source, b.inputs, seed)
