"""Random array programs over the th namespace, and a NumPy reference that bounds its own error.

A program is Python source (`def f(x0, x1): v0 = th.tanh(x0) ...`) drawn by a hypothesis
strategy; the same text runs under `th.jit` (with `th` = theanir) and under the reference
(with `th` = `RefNamespace()`), so a failure prints a reproducer that is also the test.

The reference computes in float64 and carries, next to each value, a first-order bound on the
error a correctly working implementation may make in the *program's* dtype: each op adds
its own rounding (a few units of roundoff u, relative to the exact result and to the
argument, for transcendental functions) to the propagated bound |f'(x)| * err(x). A result
outside `SAFETY` times that bound is a real bug, not noise, so the tolerances need no tuning
per program; NaN positions must match exactly.

The generator keeps every value finite by construction: it tracks a bound on |value| per
node and never applies an op that could leave [-LIMIT, LIMIT] (or a function's domain).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

SAFETY = 4.0         # allowed error = SAFETY * the propagated bound
K_TRANSCENDENTAL = 4.0  # ulps a vectorized exp/log/tanh/sin... may be off (MLIR's math approximations)
LIMIT = 1e6          # no node's |value| may exceed this (float32 keeps ~7 digits: still meaningful)
INPUT_RANGE = 2.0    # inputs are uniform in [-INPUT_RANGE, INPUT_RANGE]


def unit_roundoff(dt: np.dtype) -> float:
    return float(np.finfo(dt).eps) / 2


def sum_error_factor(n: int) -> float:
    """Ulps of sum(|x|) that a good float summation of n terms may lose: pairwise/blocked
    summation (NumPy: 8-way unrolled blocks of 128, then pairwise) stays within ~16 + log2 n;
    one running accumulator can lose n ulps (issue 12, item 1), which this refuses."""
    return 16.0 + 2.0 * math.log2(max(n, 1))


# ---- the reference: values with error bounds ---------------------------------------------

class Tracked:
    """A float64 value, a bound on the error of the same value computed in `dt`, and `dt`."""

    __array_priority__ = 1000

    def __init__(self, v: Any, e: Any, dt: np.dtype, weak: bool = False):
        self.v = np.asarray(v, np.float64) if np.dtype(dt).kind == "f" else np.asarray(v)
        self.e = np.broadcast_to(np.asarray(e, np.float64), self.v.shape).copy()
        self.dt = np.dtype(dt)
        self.weak = weak  # a Python scalar: takes the other operand's dtype (NEP 50)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.v.shape

    def __getitem__(self, idx):
        return Tracked(self.v[idx], self.e[idx], self.dt)

    def __add__(self, o): return REF.add(self, o)
    def __radd__(self, o): return REF.add(o, self)
    def __sub__(self, o): return REF.subtract(self, o)
    def __rsub__(self, o): return REF.subtract(o, self)
    def __mul__(self, o): return REF.multiply(self, o)
    def __rmul__(self, o): return REF.multiply(o, self)
    def __truediv__(self, o): return REF.divide(self, o)
    def __rtruediv__(self, o): return REF.divide(o, self)
    def __matmul__(self, o): return REF.matmul(self, o)
    def __neg__(self): return REF.negative(self)
    def __gt__(self, o): return REF.greater(self, o)
    def __lt__(self, o): return REF.less(self, o)

    @property
    def T(self):  # noqa: N802
        return REF.transpose(self)

    def reshape(self, shape): return REF.reshape(self, shape)
    def sum(self): return REF.sum(self)
    def mean(self): return REF.mean(self)
    def max(self): return REF.max(self)
    def min(self): return REF.min(self)


def _t(x: Any) -> Tracked:
    if isinstance(x, Tracked):
        return x
    return Tracked(np.float64(x), 0.0, np.float64, weak=True)


def _dtype2(a: Tracked, b: Tracked) -> np.dtype:
    if a.weak and not b.weak:
        return b.dt
    if b.weak and not a.weak:
        return a.dt
    return np.result_type(a.dt, b.dt)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axis)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


# f, f', exact (no rounding of its own), domain check on the float64 argument
_UNARY = {
    "exp": (np.exp, np.exp, False),
    "expm1": (np.expm1, np.exp, False),
    "log": (np.log, lambda v: 1 / v, False),
    "log1p": (np.log1p, lambda v: 1 / (1 + v), False),
    "sqrt": (np.sqrt, lambda v: 0.5 / np.sqrt(v), False),
    "rsqrt": (lambda v: 1 / np.sqrt(v), lambda v: 0.5 * v ** -1.5, False),
    "tanh": (np.tanh, lambda v: 1 - np.tanh(v) ** 2, False),
    "sigmoid": (lambda v: 1 / (1 + np.exp(-v)), lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2, False),
    "softplus": (lambda v: np.logaddexp(0, v), lambda v: 1 / (1 + np.exp(-v)), False),
    "sin": (np.sin, np.cos, False),
    "cos": (np.cos, np.sin, False),
    "square": (np.square, lambda v: 2 * np.abs(v), False),
    "abs": (np.abs, lambda v: np.ones_like(v), True),
    "negative": (np.negative, lambda v: np.ones_like(v), True),
    "relu": (lambda v: np.maximum(v, 0), lambda v: np.ones_like(v), True),
}
_DISCONTINUOUS = {"floor": np.floor, "ceil": np.ceil, "sign": np.sign, "round": np.round}


class RefNamespace:
    """The th functions a program uses, on Tracked values (float64 + error bound)."""

    def __getattr__(self, name: str):
        if name in _UNARY:
            return lambda x: self._unary(name, _t(x))
        if name in _DISCONTINUOUS:
            return lambda x: self._discontinuous(name, _t(x))
        raise AttributeError(name)

    # -- elementwise
    def _unary(self, name: str, x: Tracked) -> Tracked:
        f, df, exact = _UNARY[name]
        u = unit_roundoff(x.dt)
        with np.errstate(all="ignore"):
            v, d = f(x.v), np.abs(df(x.v))
            e = d * x.e if exact else d * (x.e + K_TRANSCENDENTAL * u * np.abs(x.v)) + K_TRANSCENDENTAL * u * np.abs(v)
        if name == "square":
            e = d * x.e + x.e ** 2 + u * np.abs(v)
        return Tracked(v, e, x.dt)

    def _discontinuous(self, name: str, x: Tracked) -> Tracked:
        assert not np.any(x.e), f"th.{name} is only drawn on exact inputs"
        return Tracked(_DISCONTINUOUS[name](x.v), 0.0, x.dt)

    def add(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        v = a.v + b.v
        return Tracked(v, a.e + b.e + unit_roundoff(dt) * np.abs(v), dt)

    def subtract(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        v = a.v - b.v
        return Tracked(v, a.e + b.e + unit_roundoff(dt) * np.abs(v), dt)

    def multiply(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        v = a.v * b.v
        e = np.abs(a.v) * b.e + np.abs(b.v) * a.e + a.e * b.e + unit_roundoff(dt) * np.abs(v)
        return Tracked(v, e, dt)

    def divide(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        assert np.all(np.abs(b.v) > b.e), "the generator divides only by values bounded away from 0"
        v = a.v / b.v
        lo = np.abs(b.v) - b.e
        e = (a.e + np.abs(v) * b.e) / lo + unit_roundoff(dt) * np.abs(v)
        return Tracked(v, e, dt)

    def maximum(self, a, b):
        a, b = _t(a), _t(b)
        return Tracked(np.maximum(a.v, b.v), np.maximum(a.e, b.e), _dtype2(a, b))

    def minimum(self, a, b):
        a, b = _t(a), _t(b)
        return Tracked(np.minimum(a.v, b.v), np.maximum(a.e, b.e), _dtype2(a, b))

    def greater(self, a, b):
        a, b = _t(a), _t(b)
        assert not (np.any(a.e) or np.any(b.e)), "comparisons are only drawn on exact inputs"
        return Tracked(a.v > b.v, 0.0, np.bool_)

    def less(self, a, b):
        return self.greater(b, a)

    def where(self, c, a, b):
        c, a, b = _t(c), _t(a), _t(b)
        cv = c.v.astype(bool)
        return Tracked(np.where(cv, a.v, b.v), np.where(cv, a.e, b.e), _dtype2(a, b))

    # -- reductions
    def sum(self, x, axis=None, keepdims=False):
        x = _t(x)
        n = _count(x.shape, _axes(axis, x.v.ndim))
        v = np.sum(x.v, axis=axis, keepdims=keepdims)
        err = np.sum(x.e, axis=axis, keepdims=keepdims)
        err = err + sum_error_factor(n) * unit_roundoff(x.dt) * np.sum(np.abs(x.v), axis=axis, keepdims=keepdims)
        return Tracked(v, err, x.dt)

    def mean(self, x, axis=None, keepdims=False):
        x = _t(x)
        n = _count(x.shape, _axes(axis, x.v.ndim))
        s = self.sum(x, axis, keepdims)
        with np.errstate(all="ignore"):
            v = s.v / n
            return Tracked(v, s.e / n + unit_roundoff(x.dt) * np.abs(v), x.dt)

    def var(self, x, axis=None, keepdims=False):
        x = _t(x)
        d = x - self.mean(x, axis, keepdims=True)
        return self.mean(d * d, axis, keepdims)

    def std(self, x, axis=None, keepdims=False):
        return self.sqrt(self.var(x, axis, keepdims))

    def max(self, x, axis=None, keepdims=False):
        x = _t(x)
        return Tracked(np.max(x.v, axis=axis, keepdims=keepdims), np.max(x.e, axis=axis, keepdims=keepdims), x.dt)

    def min(self, x, axis=None, keepdims=False):
        x = _t(x)
        return Tracked(np.min(x.v, axis=axis, keepdims=keepdims), np.max(x.e, axis=axis, keepdims=keepdims), x.dt)

    def _lse_parts(self, x: Tracked, axis):
        """m, lse (keepdims), softmax p, sum(p * e), the rounding of computing them (keepdims)."""
        n = _count(x.shape, _axes(axis, x.v.ndim))
        u = unit_roundoff(x.dt)
        m = np.max(x.v, axis=axis, keepdims=True) if x.v.size else np.zeros([1] * x.v.ndim)
        s = np.sum(np.exp(x.v - m), axis=axis, keepdims=True)
        with np.errstate(all="ignore"):
            lse = m + np.log(s)
            p = np.exp(x.v - lse)
        pe = np.sum(p * x.e, axis=axis, keepdims=True)
        spread = np.sum(p * np.abs(x.v - m), axis=axis, keepdims=True)
        rounding = K_TRANSCENDENTAL * u * (spread + sum_error_factor(n) + 4 + np.abs(m) + np.abs(lse))
        return m, lse, p, pe, rounding

    def logsumexp(self, x, axis=None, keepdims=False):
        x = _t(x)
        m, lse, p, pe, rounding = self._lse_parts(x, axis)
        v, e = lse, pe + rounding
        if not keepdims:
            ax = _axes(axis, x.v.ndim)
            v, e = np.squeeze(v, ax), np.squeeze(e, ax)
        return Tracked(v, e, x.dt)

    def softmax(self, x, axis=-1):
        x = _t(x)
        m, lse, p, pe, rounding = self._lse_parts(x, axis)
        u = unit_roundoff(x.dt)
        e = p * (x.e + pe) + p * (rounding + K_TRANSCENDENTAL * u * np.abs(x.v - m))
        return Tracked(p, e, x.dt)

    def log_softmax(self, x, axis=-1):
        x = _t(x)
        m, lse, p, pe, rounding = self._lse_parts(x, axis)
        v = x.v - lse
        u = unit_roundoff(x.dt)
        return Tracked(v, x.e + pe + rounding + K_TRANSCENDENTAL * u * (np.abs(x.v - m) + np.abs(v)), x.dt)

    # -- linear algebra and shapes
    def matmul(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        k = a.shape[-1]
        v = a.v @ b.v
        aa, ab = np.abs(a.v), np.abs(b.v)
        # gamma_k: a dot product of length k in any summation order (BLAS blocks, FMA) loses <= k ulps
        e = aa @ b.e + a.e @ ab + a.e @ b.e + (k + 2) * unit_roundoff(dt) * (aa @ ab)
        return Tracked(v, e, dt)

    def reshape(self, x, shape):
        x = _t(x)
        return Tracked(np.reshape(x.v, shape), np.reshape(x.e, shape), x.dt)

    def transpose(self, x, axes=None):
        x = _t(x)
        return Tracked(np.transpose(x.v, axes), np.transpose(x.e, axes), x.dt)

    def expand_dims(self, x, axis):
        x = _t(x)
        return Tracked(np.expand_dims(x.v, axis), np.expand_dims(x.e, axis), x.dt)

    def squeeze(self, x, axis=None):
        x = _t(x)
        return Tracked(np.squeeze(x.v, axis), np.squeeze(x.e, axis), x.dt)

    def concatenate(self, xs, axis=0):
        xs = [_t(x) for x in xs]
        dt = np.result_type(*[x.dt for x in xs])
        return Tracked(np.concatenate([x.v for x in xs], axis), np.concatenate([x.e for x in xs], axis), dt)

    def broadcast_to(self, x, shape):
        x = _t(x)
        return Tracked(np.broadcast_to(x.v, shape), np.broadcast_to(x.e, shape), x.dt)


REF = RefNamespace()


def run_reference(source: str, args: list[np.ndarray]) -> Any:
    fn = compile_program(source, REF)
    with np.errstate(all="ignore"):  # NaN (mean of nothing) and inf * 0 in bounds are expected
        return fn(*[Tracked(a, 0.0, a.dtype) for a in args])


def compile_program(source: str, namespace: Any):
    scope: dict[str, Any] = {"th": namespace}
    exec(compile(source, "<random program>", "exec"), scope)  # noqa: S102 (our own generated text)
    return scope["f"]


# ---- the generator ------------------------------------------------------------------------

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
    lines: list[str] = field(default_factory=list, repr=False)

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
    axes = _axes(axis, ndim)
    n = _count(x.shape, axes)
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
                  str(np.result_type(x.dtype, dt2)), x.bound if dt2 else x.bound)


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
    for _ in range(draw(st.integers(1, max_ops))):
        kind = draw(st.sampled_from(_WEIGHTS))
        _OPS[kind](b, b.pick())
    outs = [n.name for n in b.nodes if n.name not in b.used and not n.exact]  # every value is used
    if scalar_output:
        terms = [f"th.sum(th.tanh({o}))" if draw(st.booleans()) else f"th.mean({o} * {o})" for o in outs]
        outs = [" + ".join(terms)]
    params = ", ".join(f"x{i}" for i in range(len(b.inputs)))
    source = "\n".join([f"def f({params}):", *b.lines, f"    return {', '.join(outs)}", ""])
    seed = draw(st.integers(0, 2**32 - 1))
    return Program(source, b.inputs, seed, b.lines)
