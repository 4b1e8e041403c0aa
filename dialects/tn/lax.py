"""Primitive builders at JAX's `lax` level: the vocabulary of the dialect's own rules.

The jvp, transpose and decompose rules of `ops/*.py`, the autodiff driver and the lowering's
decompositions build IR with these functions and with `Value`, a thin handle on an
`ir.Value`. Unlike the frontend's NumPy namespace, nothing here is implicit: the operands of
a binary op must have the same shape and dtype (as the `tn` ops themselves demand), and a
broadcast or a cast is written out (`broadcast_to`, `broadcast_in_dim`, `convert`). The one
convenience is JAX's weak-typed literal: a Python scalar next to a Value becomes a constant
of that Value's dtype and shape (`1 - y * y`), emitted as a 0-d `tn.constant` plus a
`tn.broadcast_to`, the canonical form of a splat. Anything else raises TypeError naming
both operands, so a rule that forgot a broadcast fails where it was written.

    y = lax.Value(v)                      # wrap an ir.Value of a tn op
    t * (1 - y * y)                       # same shape/dtype operands, scalar literals
    lax.where(x > 0, t, lax.zeros_like(t))
    lax.sum_to_shape(ct, (3, 1))          # the adjoint of broadcasting (3, 1) up to ct.shape
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from mlir import ir

from .builder import emit1
from .registry import Linear, ShapeError
from .types import TensorSpec, check_dtype, spec_of_value

Scalar = (bool, int, float, complex, np.bool_, np.integer, np.floating, np.complexfloating)


class Value:
    """A `tn` SSA value with its static spec; its Python operators emit `tn` ops strictly.

    Binary operators need equal specs on both sides (Python scalars adopt the other side's
    dtype and shape); `&`, `|`, `~` are the logical ops of bool values.
    """

    __slots__ = ("value", "spec")
    __array_ufunc__ = None  # `ndarray op Value` defers to the Value's reflected operator

    def __init__(self, value: ir.Value):
        self.value = value
        self.spec: TensorSpec = spec_of_value(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.spec.shape

    @property
    def dtype(self) -> np.dtype:
        return self.spec.dtype

    @property
    def ndim(self) -> int:
        return len(self.spec.shape)

    @property
    def size(self) -> int:
        return self.spec.size

    def __repr__(self) -> str:
        return f"lax.Value({self.spec})"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        raise TypeError(f"the truth value of a traced {self.spec} is unknown while building IR")

    def __add__(self, o): return add(self, o)
    def __radd__(self, o): return add(o, self)
    def __sub__(self, o): return sub(self, o)
    def __rsub__(self, o): return sub(o, self)
    def __mul__(self, o): return mul(self, o)
    def __rmul__(self, o): return mul(o, self)
    def __truediv__(self, o): return div(self, o)
    def __rtruediv__(self, o): return div(o, self)
    def __pow__(self, o): return pow(self, o)
    def __rpow__(self, o): return pow(o, self)
    def __neg__(self): return neg(self)
    def __lt__(self, o): return lt(self, o)
    def __le__(self, o): return le(self, o)
    def __gt__(self, o): return gt(self, o)
    def __ge__(self, o): return ge(self, o)
    def __eq__(self, o): return eq(self, o)  # type: ignore[override]
    def __ne__(self, o): return ne(self, o)  # type: ignore[override]
    def __and__(self, o): return logical_and(self, o)
    def __rand__(self, o): return logical_and(o, self)
    def __or__(self, o): return logical_or(self, o)
    def __ror__(self, o): return logical_or(o, self)
    def __invert__(self): return logical_not(self)


def value_of(x: Any) -> ir.Value:
    """The ir.Value behind `x` (a Value, or anything with `.value`, or an ir.Value)."""
    return x if isinstance(x, ir.Value) else x.value


def wrap(x: Any) -> Value:
    """`x` as a Value (Values, frontend Tensors included, pass through)."""
    return x if isinstance(x, Value) else Value(value_of(x))


def _describe(x: Any) -> str:
    if isinstance(x, Value):
        return str(x.spec)
    return f"{type(x).__name__} {x!r}" if isinstance(x, Scalar) else type(x).__name__


def _refuse(op: str, xs: Sequence[Any], why: str) -> TypeError:
    return TypeError(f"tn.{op}: {why}; operands {', '.join(_describe(x) for x in xs)} "
                     f"(lax builders do not broadcast or promote: write broadcast_to/convert)")


def _literal(op: str, x: Any, like: Value, others: Sequence[Any]) -> Value:
    """A Python scalar as a constant of `like`'s dtype and shape (JAX's weak literal)."""
    arr = np.asarray(x)
    if like.dtype.kind in "ib" and arr.dtype.kind == "f" and not (np.isfinite(arr) and arr == np.trunc(arr)):
        raise _refuse(op, others, f"the literal {x!r} does not fit {like.dtype.name}")
    if arr.dtype.kind == "c" and like.dtype.kind != "c" and arr.imag != 0:
        raise _refuse(op, others, f"the complex literal {x!r} does not fit {like.dtype.name}")
    return full(shape_of(like), arr.astype(like.dtype), like.dtype)


def operands(op: str, *xs: Any) -> list[Value]:
    """The operands of an elementwise op: Values of one spec, literals made to match."""
    typed = [x for x in xs if isinstance(x, Value) or isinstance(x, ir.Value)]
    if not typed or any(not isinstance(x, (Value, ir.Value) + Scalar) for x in xs):
        raise _refuse(op, xs, "operands must be tn values or Python scalars")
    like = wrap(typed[0])
    out = []
    for x in xs:
        v = wrap(x) if isinstance(x, (Value, ir.Value)) else _literal(op, x, like, xs)
        if v.spec != like.spec:
            raise _refuse(op, xs, "operands must have one shape and dtype")
        out.append(v)
    return out


# ------------------------------------------------------------------ generic emission
def emit(name: str, xs: Sequence[Any], **attrs: Any) -> Value:
    """Emit the tn op `name` on `xs` (Values or ir.Values) with `attrs`; one result."""
    return Value(emit1(name, [value_of(x) for x in xs], attrs))


def unary(name: str, x: Any) -> Value:
    (v,) = operands(name, x)
    return emit(f"tn.{name}", [v])


def binary(name: str, a: Any, b: Any) -> Value:
    return emit(f"tn.{name}", operands(name, a, b))


def neg(x): return unary("neg", x)
def abs(x): return unary("abs", x)  # noqa: A001
def sign(x): return unary("sign", x)
def exp(x): return unary("exp", x)
def log(x): return unary("log", x)
def sqrt(x): return unary("sqrt", x)
def tanh(x): return unary("tanh", x)
def sigmoid(x): return unary("sigmoid", x)
def sin(x): return unary("sin", x)
def cos(x): return unary("cos", x)
def rsqrt(x): return unary("rsqrt", x)
def sinh(x): return unary("sinh", x)
def cosh(x): return unary("cosh", x)
def logical_not(x): return unary("logical_not", x)
def real(x): return emit("tn.real", [wrap(x)])
def imag(x): return emit("tn.imag", [wrap(x)])
def conj(x): return emit("tn.conj", [wrap(x)])
def complex(re, im): return emit("tn.complex", operands("complex", re, im))  # noqa: A001

def add(a, b): return binary("add", a, b)
def sub(a, b): return binary("sub", a, b)
def mul(a, b): return binary("mul", a, b)
def div(a, b): return binary("div", a, b)
def pow(a, b): return binary("pow", a, b)  # noqa: A001
def maximum(a, b): return binary("maximum", a, b)
def minimum(a, b): return binary("minimum", a, b)
def floor_divide(a, b): return binary("floor_divide", a, b)
def mod(a, b): return binary("mod", a, b)
def logical_and(a, b): return binary("logical_and", a, b)
def logical_or(a, b): return binary("logical_or", a, b)
def eq(a, b): return binary("eq", a, b)
def ne(a, b): return binary("ne", a, b)
def lt(a, b): return binary("lt", a, b)
def le(a, b): return binary("le", a, b)
def gt(a, b): return binary("gt", a, b)
def ge(a, b): return binary("ge", a, b)


def where(cond: Any, a: Any, b: Any) -> Value:
    """cond ? a : b; `cond` is bool of the branches' shape (literals take the other's spec)."""
    ta, tb = operands("where", a, b)
    c = wrap(cond)
    if c.dtype != np.bool_ or c.shape != ta.shape:
        raise _refuse("where", (cond, a, b), "the condition must be bool of the branches' shape")
    return emit("tn.where", [c, ta, tb])


# ------------------------------------------------------------------ constants
def constant(value: Any, dtype: Any = None) -> Value:
    """A `tn.constant` holding `value` (converted to `dtype` when given)."""
    arr = np.asarray(value) if dtype is None else np.asarray(value, check_dtype(dtype))
    return emit("tn.constant", [], value=arr)


def full(shape: Sequence[int], fill: Any, dtype: Any) -> Value:
    """`fill` of `dtype` at every position of `shape`: a 0-d constant, broadcast."""
    return broadcast_to(constant(np.asarray(fill, check_dtype(dtype))), shape)


def full_like(x: Any, fill: Any) -> Value:
    x = wrap(x)
    return full(shape_of(x), fill, x.dtype)


def zeros_like(x: Any) -> Value: return full_like(x, 0)
def ones_like(x: Any) -> Value: return full_like(x, 1)


def zeros(spec: TensorSpec) -> Value:
    return full(spec.shape, 0, spec.dtype)


# ------------------------------------------------------------------ dynamic dims
def dim(x: Any, axis: int) -> int | Value:
    """Dim `axis` of `x`: an int when static, else an int64 scalar `tn.dim` read at run time."""
    x = wrap(x)
    n = x.shape[axis]
    return n if n is not None else emit("tn.dim", [x], axis=int(axis) % x.ndim)


def shape_of(x: Any) -> tuple[int | Value, ...]:
    """The shape of `x` with its dynamic dims as `tn.dim` values (sizes for `broadcast_to`).
    For a transpose rule's `Linear` operand, the dims of the value it stands for."""
    if isinstance(x, Linear):
        return x.sizes()
    x = wrap(x)
    return tuple(dim(x, i) if n is None else n for i, n in enumerate(x.shape))


def _split_shape(shape: Sequence[Any]) -> tuple[tuple[int | None, ...], list[Value]]:
    """A shape of ints and int64 scalar Values -> (static shape with None, the Values)."""
    static, dims = [], []
    for n in shape:
        if isinstance(n, Value):
            if n.shape != () or n.dtype.kind != "i":
                raise ShapeError(f"a dynamic dim must be an int scalar, got {n.spec}")
            static.append(None)
            dims.append(convert(n, np.int64))
        elif n is None:
            static.append(None)
            dims.append(None)
        else:
            static.append(int(n))
    return tuple(static), dims


def iota(shape: Sequence[Any], dimension: int, dtype: Any) -> Value:
    """The index along `dimension`, broadcast over `shape` (a dim may be an int64 scalar Value:
    a size known at run time)."""
    static, dims = _split_shape(shape)
    if any(d is None for d in dims):
        raise ShapeError(f"iota: a dynamic dim needs its size, got {tuple(shape)}")
    return emit("tn.iota", dims, shape=tuple(-1 if n is None else n for n in static),
                dimension=int(dimension), dtype=check_dtype(dtype))


# ------------------------------------------------------------------ casts and shapes
def convert(x: Any, dtype: Any) -> Value:
    """`x` converted to `dtype` (NumPy astype semantics); no op when it already has it."""
    x, dt = wrap(x), check_dtype(dtype)
    return x if x.dtype == dt else emit("tn.cast", [x], dtype=dt)


cast = convert


def broadcast_to(x: Any, shape: Sequence[Any]) -> Value:
    """NumPy-style broadcast of `x` to `shape` (trailing dims align); no op if equal.

    A dim of `shape` may be an int64 scalar Value (a dynamic size, e.g. from `shape_of`) or
    None where `x` has that dynamic dim itself (aligned from the right)."""
    x = wrap(x)
    static, dims = _split_shape(shape)
    lead = len(static) - x.ndim
    for i, d in enumerate(dims):
        if d is None:  # None: x's own dynamic dim at that position
            pos = [k for k, n in enumerate(static) if n is None][i]
            if pos < lead or x.shape[pos - lead] is not None:
                raise ShapeError(f"broadcast_to: dim {pos} of the target is dynamic but has no size "
                                 f"(x is {x.spec})")
            dims[i] = dim(x, pos - lead)
    if x.shape == static:  # equal dynamic dims are checked by the ops that combine them
        return x
    return emit("tn.broadcast_to", [x, *dims], shape=tuple(-1 if n is None else n for n in static))


def broadcast_in_dim(x: Any, shape: Sequence[int], dims: Sequence[int]) -> Value:
    """JAX's broadcast_in_dim: dimension i of `x` becomes dimension dims[i] of `shape`."""
    x, shape = wrap(x), tuple(int(s) for s in shape)
    if len(dims) != x.ndim or any(x.shape[i] not in (1, shape[d]) for i, d in enumerate(dims)):
        raise ShapeError(f"broadcast_in_dim: {x.spec} cannot map to shape {shape} by dims {tuple(dims)}")
    where_dim = dict(zip(dims, x.shape))
    kept = tuple(where_dim.get(d, 1) for d in range(len(shape)))
    return broadcast_to(reshape(x, kept), shape)


def reshape(x: Any, shape: Sequence[Any]) -> Value:
    """Row-major reshape; no op when the shape is unchanged. A dim may be an int64 scalar
    Value (a dynamic size, e.g. from `shape_of`)."""
    x = wrap(x)
    static, dims = _split_shape(shape)
    if any(d is None for d in dims):
        raise ShapeError(f"reshape: a dynamic dim of the target needs its size (x is {x.spec})")
    if x.shape == static and not dims:
        return x
    return emit("tn.reshape", [x, *dims], shape=tuple(-1 if n is None else n for n in static))


def transpose(x: Any, perm: Sequence[int]) -> Value:
    x, perm = wrap(x), tuple(int(p) for p in perm)
    return x if perm == tuple(range(x.ndim)) else emit("tn.transpose", [x], perm=perm)


def swap_last(x: Any) -> Value:
    """Swap the last two axes (the transpose of a matrix, batched)."""
    x = wrap(x)
    return transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2))


def matmul(a: Any, b: Any) -> Value:
    """tn.matmul: operands of one dtype with matching (batched) shapes."""
    return emit("tn.matmul", [a, b])


# ------------------------------------------------------------------ reductions
def reduce(name: str, x: Any, axes: Sequence[int], keepdims: bool) -> Value:
    """The tn reduction `name` (e.g. "reduce_sum") in the input's dtype."""
    return emit(f"tn.{name}", [x], axes=tuple(int(a) for a in axes), keepdims=bool(keepdims))


def reduce_sum(x: Any, axes: Sequence[int], keepdims: bool = False) -> Value:
    return reduce("reduce_sum", x, axes, keepdims)


def reduce_max(x: Any, axes: Sequence[int], keepdims: bool = False) -> Value:
    return reduce("reduce_max", x, axes, keepdims)


def sum_to_shape(x: Any, shape: Sequence[int]) -> Value:
    """Sum `x` down to `shape`: the adjoint of broadcasting a `shape` array to `x.shape`.

    Leading extra dims are summed away, dims where `shape` has 1 are summed with keepdims;
    the result has exactly `shape` and the dtype of `x`. Bools combine with `or`.
    """
    x, shape = wrap(x), tuple(None if s is None else int(s) for s in shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead < 0 or any(s not in (n, 1) for s, n in zip(shape, x.shape[lead:])):
        raise ShapeError(f"sum_to_shape: shape {shape} does not broadcast to {x.spec}")
    name = "reduce_any" if x.dtype == np.bool_ else "reduce_sum"
    ones = tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    out = reduce(name, x, ones, True) if ones else x
    return reduce(name, out, tuple(range(lead)), False) if lead else out
