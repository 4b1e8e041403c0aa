"""The op table's test rows: every `tn` op keyed to the rows that test it.

A row names the op it is about (`op`, a key of `dialects/tn/registry.OPS`), a theanir function
of float arrays that emits that op, its NumPy/SciPy reference and the argument shapes it runs
on. tests/ops/test_op_table.py expands each row into a numeric check (float32 and float64, every
case plus a non-contiguous copy of the first), a gradient check (reverse and forward mode against
central differences, float64) and the inner-product identity <vjp(u), v> = <u, jvp(v)>, and
checks that the registry is covered: a new op in `OPS` fails the suite until it has rows here
(or an entry in `EXEMPT`).

Cases are tuples of argument shapes; the first is the one differentiated, so for binary ops it
broadcasts. Rows are compact on purpose: the family tables in tests/ops/ go wider per op.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import scipy.special as sp

import theanir as th
import theanir.sparse  # noqa: F401  (th.sparse: the sparse rows)
from theanir.dialects.tn.builder import emit1

Shapes = tuple[tuple[int, ...], ...]

FLOATS = (np.float32, np.float64)
UNARY_CASES: tuple[Shapes, ...] = (((3, 4),), ((),), ((0,),), ((1,),), ((2, 1, 3),))
BINARY_CASES: tuple[Shapes, ...] = (((2, 3), (3,)), ((3, 1), (1, 4)), ((0, 3), (1, 3)),
                                    ((1,), (1,)), ((), (2, 2)))
AXIS0_CASES: tuple[Shapes, ...] = (((3, 4),), ((0, 3),), ((1,),), ((2, 1, 3),))
AXIS1_CASES: tuple[Shapes, ...] = (((3, 4),), ((0, 3),), ((1, 1),), ((2, 3, 2),))


@dataclass(frozen=True)
class Row:
    """One test row keyed to one op.

    fn: theanir function of the (float) arguments; must emit `op` when traced.
    ref: NumPy/SciPy reference on the same arrays (None: the row only differentiates).
    domain: inputs are uniform in it; grad_domain, if given, for the derivative checks
    (away from kinks). ties: inputs rounded to multiples of 0.5, so comparisons see equal
    values. grad: check the derivatives on the first case (finite differences and the
    inner-product identity). dyadic: inputs and seeds are multiples of 1/4 and the difference
    step is 0.5, all exact in float32, for rows whose function rounds through float32 and so is
    linear only on such values. rtol: overrides tests/support.py's per-dtype tolerance.
    """

    op: str
    fn: Callable[..., Any]
    ref: Callable[..., Any] | None
    cases: Sequence[Shapes] = UNARY_CASES
    domain: tuple[float, float] = (-3.0, 3.0)
    grad_domain: tuple[float, float] | None = None
    dtypes: Sequence[Any] = FLOATS
    grad: bool = True
    ties: bool = False
    dyadic: bool = False
    rtol: float | None = None
    label: str = ""

    @property
    def id(self) -> str:
        return self.op + (f"[{self.label}]" if self.label else "")

    def inputs(self, rng: np.random.Generator, shapes: Shapes, dtype: Any,
               for_grad: bool = False) -> list[np.ndarray]:
        lo, hi = (self.grad_domain or self.domain) if for_grad else self.domain
        xs = [rng.uniform(lo, hi, size=s) for s in shapes]
        if self.ties or self.dyadic:
            q = 2 if self.ties else 4
            xs = [np.round(x * q) / q for x in xs]
        return [x.astype(dtype) for x in xs]


# A fixed 3x4 pattern (5 nonzeros; none when the data is empty): CSR arrays, read as CSC of the
# 4x3 transpose when layout="csc" (the same rows/cols swapped).
_SP_ROWS, _SP_COLS = np.array([0, 0, 1, 2, 2]), np.array([1, 3, 0, 0, 2])


def _sp_arrays(nnz: int, layout: str = "csr") -> tuple[np.ndarray, np.ndarray]:
    if nnz == 0:
        return np.zeros(0, np.int32), np.zeros(4 if layout == "csr" else 5, np.int32)
    if layout == "csr":
        return _SP_COLS.astype(np.int32), np.array([0, 2, 3, 5], np.int32)
    # the 3x4 pattern stored column by column: cols 0..3 hold rows [1,2], [0], [2], [0]
    return np.array([1, 2, 0, 2, 0], np.int32), np.array([0, 2, 3, 4, 5], np.int32)


def _sp_dense(d: np.ndarray, layout: str = "csr", pattern: tuple | None = None) -> np.ndarray:
    shape = (4, 4) if pattern is _SP_B44 else (3, 4)
    out = np.zeros(shape, d.dtype)
    if d.shape[0]:
        if pattern is not None:
            r, c = pattern
        else:
            r, c = (_SP_ROWS, _SP_COLS) if layout == "csr" else (np.array([1, 2, 0, 2, 0]), np.array([0, 0, 1, 2, 3]))
        out[r, c] = d
    return out


# a second pattern for binary ops: 3x4 with 4 nonzeros (_SP_B), and 4x4 for products (_SP_B44)
_SP_B = (np.array([0, 1, 1, 2]), np.array([1, 0, 2, 3]))
_SP_B44 = (np.array([0, 1, 3, 3]), np.array([2, 0, 1, 3]))


def _sp_csr(d: Any, pattern: tuple | None = None, shape: tuple[int, int] = (3, 4)) -> Any:
    """A CSR SparseTensor of data `d` on a fixed pattern (the 3x4 one by default)."""
    if pattern is None:
        crd, pos = _sp_arrays(d.shape[0])
    else:
        rows, cols = pattern
        crd = cols.astype(np.int32)
        pos = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))]).astype(np.int32)
    return th.sparse.CSR(d, crd, pos, shape)


def _sp_pair(op: str, d: Any, e: Any, **attrs: Any) -> Any:
    a = _sp_csr(d)
    b = _sp_csr(e, _SP_B44 if op == "tn.sparse_spgemm" else _SP_B, (4, 4) if op == "tn.sparse_spgemm" else (3, 4))
    if op == "tn.sparse_spgemm":
        return th.sparse.dense_from_sparse(th.sparse.true_dot(a, b))
    return th.sparse.dense_from_sparse(th.sparse.add(a, b) if attrs["kind"] == "add" else th.sparse.mul(a, b))


def _sparse(op: str, a: Any, b: Any = None, layout: str = "csr", nnz: int | None = None) -> Any:
    n = nnz if nnz is not None else a.shape[0]
    if op == "tn.sparse_sddmm" and a.shape[1] == 0:
        n = 5
    crd, pos = _sp_arrays(n, layout)
    crd, pos = th.as_tensor(crd).value, th.as_tensor(pos).value
    attrs = {"shape": [3, 4], "layout": layout}
    if op == "tn.sparse_sddmm":
        return emit1(op, [crd, pos, th.as_tensor(a).value, th.as_tensor(b).value], attrs)
    if op == "tn.sparse_gather":
        return emit1(op, [crd, pos, th.as_tensor(a).value], attrs)
    xs = [th.as_tensor(a).value, crd, pos] + ([th.as_tensor(b).value] if b is not None else [])
    return emit1(op, xs, attrs)


def _emit(name: str, xs: Sequence[Any], **attrs: Any) -> th.Tensor:
    """The op itself, for ops no NumPy function reaches (transposes, loop accumulators)."""
    return th.Tensor(emit1(name, [th.as_tensor(x).value for x in xs], attrs))


def _unary(op: str, fn: Callable, ref: Callable, domain=(-3.0, 3.0), grad_domain=None, **kw) -> Row:
    return Row(op, fn, ref, UNARY_CASES, domain, grad_domain, **kw)


def _binary(op: str, fn: Callable, ref: Callable, domain=(-3.0, 3.0), grad_domain=None, **kw) -> Row:
    return Row(op, fn, ref, BINARY_CASES, domain, grad_domain, **kw)


def _same(ref: Callable) -> Callable:
    """A reference computed in float64 and returned in the input's dtype."""
    return lambda x: np.asarray(ref(x.astype(np.float64))).astype(x.dtype)


def _np_isnan_of_log(x):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.isnan(np.log(x))


# ------------------------------------------------------------------ shape-op helpers
def _pad_positions(shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """starts/steps/result shape that spread x every other slot (reversed along axis 0)."""
    starts = tuple((2 * n - 1 if d == 0 and n > 0 else 1) for d, n in enumerate(shape))
    steps = tuple((-2 if d == 0 and n > 0 else 2) for d, n in enumerate(shape))
    return starts, steps, tuple(2 * n + 1 for n in shape)


def _pad_slice(x):
    starts, steps, shape = _pad_positions(x.shape)
    return _emit("tn.pad_slice", [x], starts=starts, steps=steps, shape=shape)


def _np_pad_slice(x):
    starts, steps, shape = _pad_positions(x.shape)
    out = np.zeros(shape, x.dtype)
    out[np.ix_(*[s + st * np.arange(n) for s, st, n in zip(starts, steps, x.shape)])] = x
    return out


def _traced_int(x, value: int):
    """`value` as a traced int64 (it depends on x: no constant folding sees through it)."""
    zero = (th.ravel(x)[:1].sum() * 0).astype(np.int64)
    return zero + value


def _dynamic_slice(x):
    """x[i:i + 2, j:j + n] (x[i:i - 3:-2] for 1-D) with traced i, j: tn.dynamic_slice."""
    if x.ndim == 1:
        i = _traced_int(x, x.shape[0] - 1)
        return x[i:i - 3:-2]
    i, j = _traced_int(x, 1), _traced_int(x, 0)
    return x[i:i + 2, j:j + x.shape[1]]


def _np_dynamic_slice(x):
    return x[x.shape[0] - 1::-2][:2] if x.ndim == 1 else x[1:3]


def _dynamic_pad_slice(x):
    """Zeros of x.shape + 2 with x written at offset (traced) 1, every other row reversed."""
    i = _traced_int(x, 1)
    starts = th.stack([i] * x.ndim)
    stops = th.stack([i + n for n in x.shape])
    return _emit("tn.dynamic_pad_slice", [x, starts, stops], steps=(1,) * x.ndim,
                 shape=tuple(n + 2 for n in x.shape))


def _np_dynamic_pad_slice(x):
    out = np.zeros(tuple(n + 2 for n in x.shape), x.dtype)
    out[tuple(slice(1, 1 + n) for n in x.shape)] = x
    return out


def _take_index(n: int) -> np.ndarray:
    return np.array([n - 1, 0, n - 1], np.int64)


def _scatter_index(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.int64) * 3) % 4  # repeats once n > 4


def _scatter_add(x):
    return _emit("tn.scatter_add", [x, _scatter_index(x.shape[0])], axis=0, dim_size=4)


def _np_scatter_add(x):
    out = np.zeros((4,) + x.shape[1:], x.dtype)
    np.add.at(out, _scatter_index(x.shape[0]), x)
    return out


def _index_add(acc, upd):
    return _emit("tn.index_add", [acc, upd, _scatter_index(upd.shape[0]) % acc.shape[0]], axis=0)


def _np_index_add(acc, upd):
    out = acc.copy()
    np.add.at(out, _scatter_index(upd.shape[0]) % acc.shape[0], upd)
    return out


def _update_slice_attrs(x_shape, y_shape):
    """Write y reversed along axis 0 at x's far end, and at the far end of the other axes."""
    starts = tuple((n - 1 if d == 0 and k > 0 else n - k) for d, (n, k) in enumerate(zip(x_shape, y_shape)))
    steps = tuple((-1 if d == 0 and k > 0 else 1) for d, k in enumerate(y_shape))
    return starts, steps


def _update_slice(x, y):
    starts, steps = _update_slice_attrs(x.shape, y.shape)
    return _emit("tn.update_slice", [x, y], starts=starts, steps=steps)


def _np_update_slice(x, y):
    starts, steps = _update_slice_attrs(x.shape, y.shape)
    out = x.copy()
    if out.ndim == 0:
        return y.copy()
    out[np.ix_(*[s + st * np.arange(k) for s, st, k in zip(starts, steps, y.shape)])] = y
    return out


def _index_set(acc, upd):
    return _emit("tn.index_set", [acc, upd, _scatter_index(upd.shape[0]) % acc.shape[0]], axis=0)


def _np_index_set(acc, upd):
    out = acc.copy()
    for p, j in enumerate(_scatter_index(upd.shape[0]) % acc.shape[0]):  # repeats: the last wins
        out[j] = upd[p]
    return out


def _index_reduce(kind):
    def fn(acc, upd):
        return _emit("tn.index_reduce", [acc, upd, _scatter_index(upd.shape[0]) % acc.shape[0]],
                     axis=0, kind=kind)

    def ref(acc, upd):
        out = acc.copy()
        {"mul": np.multiply, "min": np.minimum, "max": np.maximum}[kind].at(
            out, _scatter_index(upd.shape[0]) % acc.shape[0], upd)
        return out

    return fn, ref


# ------------------------------------------------------------------ control-flow helpers
def _scan(x):
    out, _ = th.scan(lambda xi, acc: acc * th.sin(xi) + xi * xi, sequences=x,
                     outputs_info=th.zeros_like(x[0]))
    return out


def _np_scan(x):
    acc, rows = np.zeros_like(x[0]), []
    for xi in x:
        acc = acc * np.sin(xi) + xi * xi
        rows.append(acc)
    return np.stack(rows).astype(x.dtype)


def _rnn(x, w):
    """Two outputs, a non-sequence and a read of the last step: scan's whole transpose."""
    hs, _ = th.scan(lambda xi, h, w: th.tanh(h * w + xi), sequences=x,
                    outputs_info=th.zeros_like(x[0]), non_sequences=w)
    return hs, hs[-1] * w


def _np_rnn(x, w):
    h, hs = np.zeros_like(x[0]), []
    for xi in x:
        h = np.tanh(h * w + xi)
        hs.append(h)
    return np.stack(hs), hs[-1] * w


def _cond(x):
    return th.cond(th.sum(x) > 0, lambda x: th.sin(x) * x, lambda x: th.exp(x) * 2.0, x)


def _np_cond(x):
    return np.sin(x) * x if x.sum() > 0 else np.exp(x) * x.dtype.type(2.0)


def _cond_pair(x, y):
    return th.cond(th.sum(x) > 0, lambda x, y: (x * y, th.sum(y * y)), lambda x, y: (x - y, th.sum(x)),
                   x, y)


def _np_cond_pair(x, y):
    return (x * y, np.sum(y * y)) if x.sum() > 0 else (x - y, np.sum(x))


# ------------------------------------------------------------------ random helpers
def _noise(x):
    """x plus uniform draws of the x's shape and dtype (tn.random_bits under a fixed key)."""
    return x + th.random.uniform(th.random.key(7), x.shape, x.dtype)


def _np_noise(x):
    from theanir.dialects.tn.registry import OPS
    bits = OPS["tn.random_bits"].reference(np.array([0, 7], np.int32), np.int64(0), shape=x.shape,
                                           dtype=x.dtype)
    return x + bits


def _normal_noise(x):
    """x plus float32 normal draws of x's shape (tn.random_normal under a fixed key)."""
    return x + th.random.normal(th.random.key(7), x.shape, np.float32)


def _np_normal_noise(x):
    from theanir.dialects.tn.registry import OPS
    return x + OPS["tn.random_normal"].reference(np.array([0, 7], np.int32), np.int64(0), shape=x.shape,
                                                 dtype=np.float32)


def _checked_p(x):
    """x through tn.check_range, as th.random.bernoulli checks a traced p (x in [0, 1])."""
    from theanir.frontend.random import _check_unit
    return _check_unit("bernoulli", "p", x)


# ------------------------------------------------------------------ data-dependent shapes
def _scatter_mask(y_shape: Sequence[int]) -> np.ndarray:
    """A bool mask of 2 * rows + 1 elements with exactly `rows` True (every other one)."""
    m = np.zeros(2 * y_shape[0] + 1, bool)
    m[1::2] = True
    return m


def _masked_scatter(y):
    return _emit("tn.masked_scatter", [y, _scatter_mask(y.shape)])


def _np_masked_scatter(y):
    m = _scatter_mask(y.shape)
    out = np.zeros(m.shape + y.shape[1:], y.dtype)
    out[m] = y
    return out


# ------------------------------------------------------------------ the rows
ROWS: list[Row] = [
    # elementwise, unary
    _unary("tn.neg", th.negative, np.negative),
    _unary("tn.abs", th.abs, np.abs, grad_domain=(0.2, 2)),
    _unary("tn.sign", th.sign, np.sign),
    _unary("tn.exp", th.exp, np.exp),
    _unary("tn.expm1", th.expm1, np.expm1),
    _unary("tn.log", th.log, np.log, (0.1, 5)),
    _unary("tn.log1p", th.log1p, np.log1p, (-0.9, 5)),
    _unary("tn.sqrt", th.sqrt, np.sqrt, (0.1, 5)),
    _unary("tn.rsqrt", th.rsqrt, lambda x: (1 / np.sqrt(x)).astype(x.dtype), (0.1, 5)),
    _unary("tn.square", th.square, np.square),
    _unary("tn.tanh", th.tanh, np.tanh),
    _unary("tn.sigmoid", th.sigmoid, _same(sp.expit), (-8, 8)),
    _unary("tn.softplus", th.softplus, lambda x: np.logaddexp(np.zeros((), x.dtype), x), (-8, 8)),
    _unary("tn.relu", th.relu, lambda x: np.maximum(x, 0), grad_domain=(0.1, 2)),
    _unary("tn.sin", th.sin, np.sin),
    _unary("tn.cos", th.cos, np.cos),
    _unary("tn.floor", th.floor, np.floor),
    _unary("tn.ceil", th.ceil, np.ceil),
    _unary("tn.round", th.round, np.round),
    _unary("tn.isnan", lambda x: th.isnan(th.log(x)), _np_isnan_of_log, (-1, 1), grad=False),
    _unary("tn.logical_not", lambda x: th.logical_not(x > 0), lambda x: np.logical_not(x > 0), grad=False),
    _unary("tn.cast", lambda x: (x.astype(np.float32) * 2).astype(np.float64),
           lambda x: (x.astype(np.float32) * 2).astype(np.float64), dyadic=True),
    _unary("tn.constant", lambda x: x * 2.5 - 1.0, lambda x: x * 2.5 - 1.0),
    # elementwise, binary (the first case broadcasts)
    _binary("tn.add", th.add, np.add),
    _binary("tn.sub", th.subtract, np.subtract),
    _binary("tn.mul", th.multiply, np.multiply),
    _binary("tn.div", th.divide, np.divide, (0.5, 3)),
    _binary("tn.pow", th.power, np.power, (0.5, 2)),
    _binary("tn.maximum", th.maximum, np.maximum),
    _binary("tn.minimum", th.minimum, np.minimum),
    _binary("tn.floor_divide", th.floor_divide, np.floor_divide, (0.5, 3)),
    _binary("tn.mod", th.mod, np.mod, grad_domain=(0.3, 2)),
    _binary("tn.eq", th.equal, np.equal, (-1, 1), ties=True, grad=False),
    _binary("tn.ne", th.not_equal, np.not_equal, (-1, 1), ties=True, grad=False),
    _binary("tn.lt", th.less, np.less, (-1, 1), ties=True, grad=False),
    _binary("tn.le", th.less_equal, np.less_equal, (-1, 1), ties=True, grad=False),
    _binary("tn.gt", th.greater, np.greater, (-1, 1), ties=True, grad=False),
    _binary("tn.ge", th.greater_equal, np.greater_equal, (-1, 1), ties=True, grad=False),
    _binary("tn.logical_and", lambda a, b: th.logical_and(a > 0, b > 0),
            lambda a, b: np.logical_and(a > 0, b > 0), grad=False),
    _binary("tn.logical_or", lambda a, b: th.logical_or(a > 0, b > 0),
            lambda a, b: np.logical_or(a > 0, b > 0), grad=False),
    _binary("tn.logical_xor", lambda a, b: th.logical_xor(a > 0, b > 0),
            lambda a, b: np.logical_xor(a > 0, b > 0), grad=False),
    _binary("tn.where", lambda a, b: th.where(a > b, a * b, b), lambda a, b: np.where(a > b, a * b, b)),
    # reductions
    Row("tn.reduce_sum", lambda x: th.sum(x, axis=0), lambda x: np.sum(x, axis=0), AXIS0_CASES),
    Row("tn.reduce_sum", lambda x: th.sum(x, keepdims=True), lambda x: np.sum(x, keepdims=True),
        (((2, 3),), ((),), ((0, 2),)), label="all-keepdims"),
    Row("tn.reduce_max", lambda x: th.max(x, axis=1), lambda x: np.max(x, axis=1), AXIS1_CASES),
    Row("tn.reduce_min", lambda x: th.min(x, axis=1), lambda x: np.min(x, axis=1), AXIS1_CASES),
    Row("tn.reduce_prod", lambda x: th.prod(x, axis=1), lambda x: np.prod(x, axis=1), AXIS1_CASES,
        (-2, 2)),
    Row("tn.argmax", lambda x: th.argmax(x, axis=1), lambda x: np.argmax(x, axis=1),
        (((3, 4),), ((1, 1),), ((2, 3, 2),)), grad=False),
    Row("tn.argmin", lambda x: th.argmin(x, axis=1), lambda x: np.argmin(x, axis=1),
        (((3, 4),), ((1, 1),), ((2, 3, 2),)), grad=False),
    Row("tn.reduce_all", lambda x: th.all(x > -1, axis=0), lambda x: np.all(x > -1, axis=0),
        AXIS0_CASES, grad=False),
    Row("tn.reduce_any", lambda x: th.any(x > 1, axis=0), lambda x: np.any(x > 1, axis=0),
        AXIS0_CASES, grad=False),
    # nn
    Row("tn.softmax", lambda x: th.softmax(x, axis=-1), _same(lambda x: sp.softmax(x, axis=-1)),
        (((3, 4),), ((1,),), ((0, 4),), ((2, 1, 3),))),
    Row("tn.log_softmax", lambda x: th.log_softmax(x, axis=-1), _same(lambda x: sp.log_softmax(x, axis=-1)),
        (((3, 4),), ((1,),), ((0, 4),), ((2, 1, 3),))),
    Row("tn.logsumexp", lambda x: th.logsumexp(x, axis=-1), _same(lambda x: sp.logsumexp(x, axis=-1)),
        (((3, 4),), ((1,),), ((0, 4),), ((2, 1, 3),))),
    # linalg
    Row("tn.matmul", th.matmul, np.matmul,
        (((3, 4), (4, 2)), ((2, 3, 4), (4,)), ((4,), (4, 3)), ((0, 3), (3, 2)), ((1, 1), (1, 1)),
         ((2, 1, 3), (3, 3))), rtol=1e-5),
    # shape
    Row("tn.reshape", lambda x: th.reshape(x, (-1,)), lambda x: np.reshape(x, (-1,)),
        (((3, 4),), ((),), ((0, 3),), ((1,),))),
    Row("tn.transpose", th.transpose, np.transpose, (((3, 4),), ((2, 3, 4),), ((0, 3),), ((1,),))),
    Row("tn.slice", lambda x: x[::-2, 1:], lambda x: x[::-2, 1:], (((3, 4),), ((1, 1),), ((0, 3),), ((2, 5),))),
    Row("tn.pad_slice", _pad_slice, _np_pad_slice, (((3, 2),), ((),), ((1,),), ((2, 0),))),
    Row("tn.dynamic_slice", _dynamic_slice, _np_dynamic_slice, (((4, 3),), ((5,),), ((3, 0),), ((3, 1),))),
    Row("tn.dynamic_pad_slice", _dynamic_pad_slice, _np_dynamic_pad_slice, (((3, 2),), ((1,),), ((2, 0),))),
    Row("tn.concatenate", lambda a, b: th.concatenate([a, b], axis=0),
        lambda a, b: np.concatenate([a, b], axis=0),
        (((2, 3), (4, 3)), ((0, 3), (2, 3)), ((1,), (1,)))),
    Row("tn.take", lambda x: th.take(x, _take_index(x.shape[0]), axis=0),
        lambda x: np.take(x, _take_index(x.shape[0]), axis=0), (((4, 3),), ((1,),), ((2, 0),))),
    Row("tn.scatter_add", _scatter_add, _np_scatter_add, (((6, 2),), ((3,),), ((0, 3),))),
    Row("tn.index_add", _index_add, _np_index_add, (((3, 2), (6, 2)), ((2,), (1,)), ((4, 0), (3, 0)))),
    Row("tn.update_slice", _update_slice, _np_update_slice,
        (((4, 3), (2, 3)), ((), ()), ((1,), (1,)), ((3, 0), (2, 0)), ((2, 5), (2, 2)))),
    Row("tn.index_set", _index_set, _np_index_set, (((3, 2), (6, 2)), ((2,), (1,)), ((4, 0), (3, 0)))),
    *[Row("tn.index_reduce", *_index_reduce(kind), (((3, 2), (6, 2)), ((2,), (1,)), ((4, 0), (3, 0))),
          label=kind) for kind in ("mul", "min", "max")],
    Row("tn.broadcast_to", lambda x: th.broadcast_to(x, (2, 3, 4)),
        lambda x: np.broadcast_to(x, (2, 3, 4)), (((3, 1),), ((4,),), ((),), ((1, 4),))),
    # dynamic dims (issue 16): the ops themselves on static operands (tests/ops/test_op_table_dynamic.py
    # and tests/frontend/test_dynamic_shapes.py run them on dynamic ones)
    Row("tn.dim", lambda x: x * _emit("tn.dim", [x], axis=x.ndim - 1).astype(x.dtype),
        lambda x: x * x.dtype.type(x.shape[-1]), (((3, 4),), ((1,),), ((0,),), ((2, 1, 3),))),
    Row("tn.ensure_shape", lambda x: _emit("tn.ensure_shape", [x], shape=tuple(-1 if n is None else n for n in x.shape)) * 2,
        lambda x: x * 2,
        (((3, 4),), ((1,),), ((0,),), ((2, 1, 3),))),
    # gradient-only ops: identities (stop_gradient's zero derivative, grad_clip's clipped
    # cotangent are checked in tests/autodiff/test_gradient_ops.py)
    Row("tn.stop_gradient", th.stop_gradient, lambda x: x, grad=False),
    # derivative rows: stopped where the function is constant in x anyway (sin² + cos² = 1),
    # so finite differences and the zero derivative agree
    Row("tn.stop_gradient", lambda x: x * th.stop_gradient(th.sin(x) ** 2 + th.cos(x) ** 2),
        lambda x: x, label="constant-in-x"),
    Row("tn.grad_clip", lambda x: th.grad_clip(x, -1e3, 1e3), lambda x: x),
    # dynamic dims (ops/dims.py; their dynamic-shape behaviour: tests/frontend/test_dynamic_shapes.py):
    # a dim read as a value, and the shape refinement (here to the static shape: an identity)
    Row("tn.dim", lambda x: x * _emit("tn.dim", [x], axis=x.ndim - 1).astype(x.dtype),
        lambda x: x * x.shape[-1], (((3, 4),), ((0, 3),), ((1,),), ((2, 1, 3),))),
    Row("tn.ensure_shape", lambda x: _emit("tn.ensure_shape", [x], shape=tuple(-1 if n is None else n for n in x.shape)),
        lambda x: x),
    # tn.print: the identity with a side effect (its printed text: tests/frontend/test_print_op.py);
    # jvp and transpose pass the tangent and cotangent through
    Row("tn.print", lambda x: th.debug.print_tensor(x, "row {}\n") * 2, lambda x: x * 2),
    Row("tn.print", lambda x: th.debug.print_tensor(x, "shape {}\n", "shape"), lambda x: x, label="shape"),
    Row("tn.iota", lambda x: x * th.arange(x.shape[-1], dtype=x.dtype),
        lambda x: x * np.arange(x.shape[-1], dtype=x.dtype), (((3, 4),), ((1,),), ((0,),), ((2, 0),))),
    # random (no gradient: draws are constants; bit-exact checks in tests/ops/test_random_bits.py)
    Row("tn.random_bits", _noise, _np_noise, (((3, 4),), ((1,),), ((0,),), ((2, 0, 3),)), grad=False),
    Row("tn.random_normal", _normal_noise, _np_normal_noise, (((3, 5),), ((1,),), ((0,),), ((2, 0, 3),)),
        dtypes=(np.float32,), grad=False),
    # run-time checks (failing inputs: tests/frontend/test_random_checks.py)
    Row("tn.check_range", _checked_p, lambda x: x, UNARY_CASES, domain=(0.0, 1.0), grad_domain=(0.25, 0.75)),
    # data-dependent shapes (a result dim known only at run time; more: tests/frontend/test_masked_select.py)
    Row("tn.masked_select", lambda x: x[x > 0], lambda x: x[x > 0], (((3, 4),), ((0,),), ((1,),), ((2, 1, 3),))),
    Row("tn.masked_select", lambda x: x[x.sum(axis=-1) > 0] * 2, lambda x: x[x.sum(axis=-1) > 0] * 2,
        (((4, 3),), ((0, 2),), ((1, 1),), ((2, 3, 2),)), label="rows"),
    Row("tn.masked_scatter", _masked_scatter, _np_masked_scatter, (((3, 2),), ((0,),), ((1,),), ((2, 0),))),
    Row("tn.nonzero", lambda x: th.argwhere(x > 0), lambda x: np.argwhere(x > 0),
        (((3, 4),), ((0,),), ((1,),), ((2, 1, 3),)), grad=False),
    Row("tn.unique", lambda x: th.unique(x, True, True, True),
        lambda x: tuple(a if a.dtype == x.dtype else a.astype(np.int64) for a in np.unique(x, True, True, True)),
        (((3, 4),), ((0,),), ((1,),), ((7,),)), ties=True, grad=False),
    # control flow
    Row("tn.scan", _scan, _np_scan, (((4, 3),), ((1, 2),), ((5,),)), (-1, 1)),
    Row("tn.scan", _rnn, _np_rnn, (((4, 3), (3,)), ((1, 2), (2,))), (-1, 1), label="rnn"),
    Row("tn.cond", _cond, _np_cond, (((3, 4),), ((1,),)), (0.1, 2), label="then"),
    Row("tn.cond", _cond, _np_cond, (((3, 4),), ((1,),), ((2, 0),)), (-2, -0.1), label="else"),
    Row("tn.cond", _cond_pair, _np_cond_pair, (((3, 2), (3, 2)), ((1,), (1,))), (0.1, 1), label="pair"),
    # sparse CSR/CSC (theanir.sparse; wider: tests/sparse/): data on a fixed pattern of a 3x4 matrix
    Row("tn.sparse_matmul", lambda d, b: th.Tensor(_sparse("tn.sparse_matmul", d, b)),
        lambda d, b: _sp_dense(d) @ b, (((5,), (4, 2)), ((0,), (4, 2)), ((5,), (4, 0)))),
    Row("tn.sparse_matmul", lambda d, b: th.Tensor(_sparse("tn.sparse_matmul", d, b, layout="csc")),
        lambda d, b: _sp_dense(d, "csc") @ b, (((5,), (4, 2)), ((0,), (4, 1))), label="csc"),
    Row("tn.sparse_sddmm", lambda x, y: th.Tensor(_sparse("tn.sparse_sddmm", x, y, nnz=5)),
        lambda x, y: np.einsum("pj,pj->p", x[_SP_ROWS], y[_SP_COLS]), (((3, 2), (4, 2)), ((3, 0), (4, 0)))),
    Row("tn.sparse_to_dense", lambda d: th.Tensor(_sparse("tn.sparse_to_dense", d)), _sp_dense,
        (((5,),), ((0,),))),
    Row("tn.sparse_gather", lambda x: th.Tensor(_sparse("tn.sparse_gather", x, nnz=5)),
        lambda x: x[_SP_ROWS, _SP_COLS], (((3, 4),),)),
    Row("tn.sparse_binary", lambda d, e: _sp_pair("tn.sparse_binary", d, e, kind="add"),
        lambda d, e: _sp_dense(d) + _sp_dense(e, "csr", _SP_B), (((5,), (4,)), ((0,), (4,))), label="add"),
    Row("tn.sparse_binary", lambda d, e: _sp_pair("tn.sparse_binary", d, e, kind="mul"),
        lambda d, e: _sp_dense(d) * _sp_dense(e, "csr", _SP_B), (((5,), (4,)),), label="mul"),
    Row("tn.sparse_spgemm", lambda d, e: _sp_pair("tn.sparse_spgemm", d, e),
        lambda d, e: _sp_dense(d) @ _sp_dense(e, "csr", _SP_B44), (((5,), (4,)), ((0,), (4,)))),
    Row("tn.sparse_from_dense", lambda x: th.sparse.dense_from_sparse(th.sparse.csr_from_dense(x)),
        lambda x: x, (((3, 4),), ((0, 2),), ((1, 1),))),
    Row("tn.sparse_convert", lambda d: th.sparse.dense_from_sparse(th.sparse.as_format(_sp_csr(d), "csc")),
        lambda d: _sp_dense(d), (((5,),), ((0,),))),
]


# ---------------------------------------------------------------- convolution and pooling (issue 19)
# dialects/tn/ops/conv.py, pool.py; wider tables against scipy.signal in tests/ops/test_conv.py, test_pool.py
_CONV = dict(strides=(2, 1), padding=(1, 0, 2, 1), dilation=(1, 2))  # kernel (3, 2) spans 3 x 3
_POOL = dict(window=(3, 2), strides=(2, 2), padding=(1, 0, 1, 1))


def _conv_np():
    from theanir.dialects.tn.ops import conv
    return conv


def _pool_np():
    from theanir.dialects.tn.ops import pool
    return pool


def _conv_in_hw(g, w) -> tuple[int, int]:
    """The smallest input rows/columns whose _CONV output is g's."""
    (s0, s1), (lo_h, hi_h, lo_w, hi_w), (d0, d1) = _CONV["strides"], _CONV["padding"], _CONV["dilation"]
    return ((g.shape[2] - 1) * s0 + d0 * (w.shape[2] - 1) + 1 - lo_h - hi_h,
            (g.shape[3] - 1) * s1 + d1 * (w.shape[3] - 1) + 1 - lo_w - hi_w)


CONV_CASES: tuple[Shapes, ...] = (((2, 3, 7, 6), (4, 3, 3, 2)), ((1, 1, 2, 1), (1, 1, 3, 2)),
                                  ((0, 3, 7, 6), (4, 3, 3, 2)), ((2, 0, 4, 4), (3, 0, 3, 2)))
CONV_GRAD_CASES: tuple[Shapes, ...] = (((2, 4, 3, 7), (4, 3, 3, 2)), ((1, 1, 1, 2), (1, 1, 3, 2)),
                                       ((0, 4, 3, 7), (4, 3, 3, 2)), ((2, 3, 3, 2), (3, 0, 3, 2)))
FILTER_GRAD_CASES: tuple[Shapes, ...] = (((2, 3, 7, 6), (2, 4, 3, 7)), ((1, 1, 2, 1), (1, 1, 1, 2)),
                                         ((0, 3, 7, 6), (0, 4, 3, 7)), ((2, 0, 4, 4), (2, 3, 2, 5)))
POOL_CASES: tuple[Shapes, ...] = (((2, 3, 7, 6),), ((1, 1, 2, 1),), ((0, 2, 5, 4),), ((2, 1, 4, 3),))
POOL_PAIR_CASES: tuple[Shapes, ...] = tuple((s[0], s[0]) for s in POOL_CASES)
POOLED_CASES: tuple[Shapes, ...] = (((2, 3, 7, 6), (2, 3, 3, 4)), ((1, 1, 2, 1), (1, 1, 1, 1)),
                                    ((0, 2, 5, 4), (0, 2, 2, 3)), ((2, 1, 4, 3), (2, 1, 2, 2)))
CONV_ROWS: list[Row] = [
    Row("tn.conv2d", lambda x, w: _emit("tn.conv2d", [x, w], **_CONV),
        lambda x, w: _conv_np().conv2d_np(x, w, **_CONV), CONV_CASES, rtol=1e-5),
    Row("tn.conv2d_input_grad", lambda g, w: _emit("tn.conv2d_input_grad", [g, w], shape=_conv_in_hw(g, w), **_CONV),
        lambda g, w: _conv_np().input_grad_np(g, w, shape=_conv_in_hw(g, w), **_CONV), CONV_GRAD_CASES, rtol=1e-5),
    Row("tn.conv2d_filter_grad", lambda x, g: _emit("tn.conv2d_filter_grad", [x, g], shape=(3, 2), **_CONV),
        lambda x, g: _conv_np().filter_grad_np(x, g, shape=(3, 2), **_CONV), FILTER_GRAD_CASES, rtol=1e-5),
    Row("tn.max_pool2d", lambda x: _emit("tn.max_pool2d", [x], **_POOL),
        lambda x: _pool_np().max_pool2d_np(x, **_POOL), POOL_CASES),
    Row("tn.max_pool2d_select", lambda x, t: _emit("tn.max_pool2d_select", [x, t], **_POOL),
        lambda x, t: _pool_np().select_np(x, t, **_POOL), POOL_PAIR_CASES),
    Row("tn.max_pool2d_scatter", lambda x, g: _emit("tn.max_pool2d_scatter", [x, g], **_POOL),
        lambda x, g: _pool_np().scatter_np(x, g, **_POOL), POOLED_CASES),
]
ROWS += CONV_ROWS
# issue 20 (JAX's namespace): trigonometric, hyperbolic and error functions
ROWS += [
    _unary("tn.tan", th.tan, np.tan, (-1.2, 1.2)),
    _unary("tn.asin", th.arcsin, np.arcsin, (-0.9, 0.9)),
    _unary("tn.acos", th.arccos, np.arccos, (-0.9, 0.9)),
    _unary("tn.atan", th.arctan, np.arctan),
    _unary("tn.sinh", th.sinh, np.sinh),
    _unary("tn.cosh", th.cosh, np.cosh),
    _unary("tn.asinh", th.arcsinh, np.arcsinh),
    _unary("tn.acosh", th.arccosh, np.arccosh, (1.1, 4)),
    _unary("tn.atanh", th.arctanh, np.arctanh, (-0.9, 0.9)),
    _unary("tn.erf", th.erf, _same(sp.erf)),
    _unary("tn.erfc", th.erfc, _same(sp.erfc)),
    _binary("tn.atan2", th.arctan2, np.arctan2, grad_domain=(0.3, 2)),
]

# issue 20: complex numbers. Rows take and return real arrays (so the checks and central
# differences apply as they are) and go through complex values in between: x (+) i y, a
# complex function, then a real part, so the gradient rows check JAX's transposes of the
# complex ops (ops/complex_parts.py) on real functions; tests/ops/test_complex.py goes wider.
def _cx_np(x, y):
    return (x + 1j * y).astype(np.complex64 if x.dtype == np.float32 else np.complex128)


ROWS += [
    _binary("tn.complex", lambda x, y: th.real(th.lax.complex(x, y) * th.lax.complex(y, x)),
            lambda x, y: np.real(_cx_np(x, y) * _cx_np(y, x))),
    _unary("tn.real", lambda x: th.real(th.exp(th.lax.complex(x, x * 0.5))),
           lambda x: np.real(np.exp(_cx_np(x, x * 0.5)))),
    _unary("tn.imag", lambda x: th.imag(th.sin(th.lax.complex(x * 0.5, x))),
           lambda x: np.imag(np.sin(_cx_np(x * 0.5, x)))),
    _unary("tn.conj", lambda x: th.imag(th.conj(th.lax.complex(x, x * x)) * th.lax.complex(x, 1.0 + x * 0)),
           lambda x: np.imag(np.conj(_cx_np(x, x * x)) * _cx_np(x, 1.0 + x * 0))),
    _unary("tn.complex_abs", lambda x: th.abs(th.lax.complex(x, 2.0 - x)),
           lambda x: np.abs(_cx_np(x, 2.0 - x))),
]

# Ops that cannot have a row, with the reason. The suite fails when one of these gains a row
# (remove it from here) or when an op is in neither ROWS nor EXEMPT.
EXEMPT: dict[str, str] = {
    "tn.fusion": "made only by the tn-fuse optimizer pass (after tracing and autodiff) from "
                 "elementwise chains; it has no reference or jvp rule. Its evaluation and code "
                 "are tested in tests/passes/test_fuse.py and tn-fuse.mlir",
}
