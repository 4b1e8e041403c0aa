"""`th.random`: JAX's functional random API on the counter-based `tn.random_bits` op.

A key is an int32 array of shape (2,) holding two uint32 words (JAX's raw `PRNGKey`); every
function is pure: the same key gives the same numbers, new numbers need a new key (`split`,
`fold_in`). The generator is Threefry-2x32-20 with JAX's partitionable counter scheme
(`jax_threefry_partitionable`, the default since JAX 0.5), so `key`, `split`, `fold_in`
and 64-bit `bits`/`uniform` give JAX's numbers bit for bit (32-bit draws use both words of a
block where JAX xors them, so they differ; docs/random.md); float32 `normal` is its own op
(`tn.random_normal`, Box-Muller in the generator's loop, for speed), the other distributions
are compositions of tn ops (see docs/random.md). Everything traces inside `th.jit`, `th.scan`
and `th.cond`, and computes eagerly on concrete keys outside them.

    k = th.random.key(0)
    k1, k2 = th.random.split(k)
    x = th.random.normal(k1, (3, 4))
"""
from __future__ import annotations

import inspect
import math
import operator
from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.types import check_dtype

from . import numpy_api as tnp
from .config import config
from .eager import eager
from .tensor import Tensor

__all__ = ["key", "PRNGKey", "split", "fold_in", "bits", "uniform", "normal", "truncated_normal",
           "bernoulli", "categorical", "gumbel", "randint", "permutation", "choice", "key_data"]

_WORD = 2 ** 32
_INT_KINDS = "iu"


# ------------------------------------------------------------------ helpers
def _where() -> str:
    return describe_location()


def _shape(who: str, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, Tensor):
        raise TypeError(f"th.random.{who}: shape must be static Python ints, got a traced tensor "
                        f"at {_where()}")
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    try:
        out = tuple(operator.index(n) for n in dims)
    except TypeError:
        raise TypeError(f"th.random.{who}: shape must be an int or a sequence of ints, "
                        f"got {shape!r}") from None
    if any(n < 0 for n in out):
        raise ValueError(f"th.random.{who}: shape must not have negative dims, got {out} at {_where()}")
    return out


def _float_dtype(who: str, dtype: Any) -> np.dtype:
    dt = check_dtype(config.floatX if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"th.random.{who}: dtype must be a float dtype, got {dt.name}")
    return dt


def _key(who: str, k: Any) -> Tensor:
    """The key as an int32 (2,) tensor, or a clear error naming the argument."""
    if isinstance(k, np.ndarray) and k.dtype == np.uint32:
        k = k.view(np.int32)
    t = tnp.as_tensor(k)
    if t.shape != (2,) or t.dtype.kind not in _INT_KINDS:
        raise TypeError(f"th.random.{who}: key must be an integer array of shape (2,) (from "
                        f"th.random.key or split), got {t.dtype.name}{list(t.shape)} at {_where()}")
    return t if t.dtype == np.int32 else tnp.astype(t, np.int32)


def _random_bits(k: Tensor, shape: tuple[int, ...], dtype: Any, offset: Any = 0) -> Tensor:
    """The `tn.random_bits` op: Threefry of (key, flat index + offset) as `dtype`."""
    off = tnp.astype(tnp.as_tensor(offset), np.int64)
    return Tensor(emit1("tn.random_bits", [k.value, off.value],
                        {"shape": tuple(shape), "dtype": check_dtype(dtype)}))


def _words(b: Tensor) -> Tensor:
    """int64 bits -> (..., 2) int32 words (hi, lo): a stack of new keys."""
    hi = tnp.astype(tnp.floor_divide(b, _WORD), np.int32)  # arithmetic shift by 32
    lo = tnp.astype(b, np.int32)  # truncation keeps the low word
    return tnp.stack([hi, lo], axis=-1)


def _check_unit(who: str, name: str, p: Any) -> Any:
    """A probability must lie in [0, 1]: a concrete one is checked now, a traced one (of a
    float dtype) goes through `tn.check_range`, which fails the call with a ValueError when
    the code runs. Returns p, checked."""
    if isinstance(p, Tensor):
        if p.dtype.kind != "f":  # integer/bool probabilities: the comparison converts them
            p = tnp.astype(p, config.floatX)
        return Tensor(emit1("tn.check_range", [p.value],
                            {"lo": 0.0, "hi": 1.0, "what": f"th.random.{who}: {name}"}))
    arr = np.asarray(p)
    if arr.size and (np.any(np.isnan(arr)) or arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"th.random.{who}: {name} must lie in [0, 1], got {p!r}")
    return p


def _is_number(x: Any, value: float) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and float(x) == value


def _check_sum(p: Any) -> None:
    if not isinstance(p, Tensor) and abs(float(np.sum(p)) - 1.0) > 1e-5:
        raise ValueError(f"th.random.choice: p must sum to 1 (within 1e-5), got {float(np.sum(p))}")


# ------------------------------------------------------------------ keys
def key(seed: Any) -> Tensor:
    """A key from an integer seed: words (seed >> 32, seed & 0xffffffff), as JAX's PRNGKey."""
    if isinstance(seed, (int, np.integer)):
        s = int(seed)
        return tnp.constant(np.array([(s >> 32) & 0xFFFFFFFF, s & 0xFFFFFFFF], np.uint32).view(np.int32))
    s = tnp.as_tensor(seed)
    if s.shape != () or s.dtype.kind not in _INT_KINDS:
        raise TypeError(f"th.random.key: seed must be an integer scalar, got {s.dtype.name}{list(s.shape)}")
    s = tnp.astype(s, np.int64)
    return tnp.stack([tnp.astype(tnp.floor_divide(s, _WORD), np.int32), tnp.astype(s, np.int32)])


PRNGKey = key


def key_data(k: Any) -> Tensor:
    """The key's two words as int32 (keys are raw arrays here, so this is the key itself)."""
    return _key("key_data", k)


def split(k: Any, num: int = 2) -> Tensor:
    """`num` new keys (shape (num, 2)): key i is Threefry(k, counter i), JAX's split."""
    k = _key("split", k)
    (n,) = _shape("split", (num,))
    return _words(_random_bits(k, (n,), np.int64))


def fold_in(k: Any, data: Any) -> Tensor:
    """A new key from `k` and an integer (a step number, say): Threefry(k, data mod 2^32)."""
    k = _key("fold_in", k)
    d = tnp.as_tensor(data)
    if d.shape != () or d.dtype.kind not in _INT_KINDS:
        raise TypeError(f"th.random.fold_in: data must be an integer scalar, got {d.dtype.name}{list(d.shape)}")
    return _words(_random_bits(k, (), np.int64, tnp.mod(tnp.astype(d, np.int64), _WORD)))


# ------------------------------------------------------------------ distributions
def bits(k: Any, shape: Sequence[int] = (), dtype: Any = np.int32) -> Tensor:
    """Raw random bits: int32 (32 bits) or int64 (64 bits) words, JAX's `random.bits`."""
    dt = check_dtype(dtype)
    if dt.kind != "i":
        raise TypeError(f"th.random.bits: dtype must be int32 or int64, got {dt.name}")
    return _random_bits(_key("bits", k), _shape("bits", shape), dt)


def uniform(k: Any, shape: Sequence[int] = (), dtype: Any = None, minval: Any = 0.0,
            maxval: Any = 1.0) -> Tensor:
    """Uniform on [minval, maxval): the top mantissa bits of Threefry words, scaled."""
    dt = _float_dtype("uniform", dtype)
    shape = _shape("uniform", shape)
    u = _random_bits(_key("uniform", k), shape, dt)
    if _is_number(minval, 0.0) and _is_number(maxval, 1.0):
        return u  # max(0, u * 1 + 0) is u: skip a pass over the draws
    lo = tnp.astype(tnp.as_tensor(minval), dt)
    hi = tnp.astype(tnp.as_tensor(maxval), dt)
    out = tnp.maximum(lo, u * (hi - lo) + lo)
    return tnp.broadcast_to(out, shape) if out.shape != shape else out


def normal(k: Any, shape: Sequence[int] = (), dtype: Any = None) -> Tensor:
    """Standard normal. float32: the `tn.random_normal` op, Box-Muller on both words of each
    Threefry block (one block, two normals r cos and r sin: half the rounds per draw, one
    pass over memory, float32 polynomials for log and sincos); float64: Box-Muller,
    sqrt(-2 log(1 - u1)) cos(2 pi u2) on two uniforms, exact to float64 rounding."""
    dt = _float_dtype("normal", dtype)
    shape = _shape("normal", shape)
    k = _key("normal", k)
    if dt == np.float32:
        return Tensor(emit1("tn.random_normal", [k.value, tnp.as_tensor(np.int64(0)).value],
                            {"shape": shape, "dtype": dt}))
    n = math.prod(shape)
    u = tnp.reshape(_random_bits(k, (2, n), dt), (2,) + shape)
    radius = tnp.sqrt(tnp.log1p(-u[0]) * -2.0)
    return radius * tnp.cos(u[1] * (2 * math.pi))


def truncated_normal(k: Any, lower: float, upper: float, shape: Sequence[int] = (),
                     dtype: Any = None) -> Tensor:
    """Standard normal restricted to [lower, upper] by inverting its CDF (JAX's method):
    sqrt(2) erfinv(u), u uniform between erf(lower / sqrt 2) and erf(upper / sqrt 2). The
    bounds are Python numbers; erfinv is Giles' single-precision polynomial (relative error
    ~1e-7, also for float64)."""
    dt = _float_dtype("truncated_normal", dtype)
    shape = _shape("truncated_normal", shape)
    try:
        lo, hi = float(lower), float(upper)
    except TypeError:
        raise TypeError("th.random.truncated_normal: lower and upper must be Python numbers") from None
    if not lo < hi:
        raise ValueError(f"th.random.truncated_normal: lower must be below upper, got {lo} and {hi}")
    a, b = math.erf(lo / math.sqrt(2)), math.erf(hi / math.sqrt(2))
    z = _erfinv32(uniform(k, shape, dt, a, b)) * float(np.sqrt(2))
    return tnp.clip(z, float(np.nextafter(dt.type(lo), dt.type(np.inf))),
                    float(np.nextafter(dt.type(hi), dt.type(-np.inf))))


# Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011), single precision; the
# same polynomials as XLA's ErfInv32 (relative error ~1e-7 on (-1, 1)).
_ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                   -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _erfinv32(x: Tensor) -> Tensor:
    w = -tnp.log((1.0 - x) * (1.0 + x))
    a, b = w - 2.5, tnp.sqrt(w) - 3.0
    p, q = _ERFINV_CENTRAL[0], _ERFINV_TAIL[0]
    for cp, cq in zip(_ERFINV_CENTRAL[1:], _ERFINV_TAIL[1:]):
        p = p * a + cp
        q = q * b + cq
    return tnp.where(w < 5.0, p, q) * x


def bernoulli(k: Any, p: Any = 0.5, shape: Sequence[int] | None = None) -> Tensor:
    """Booleans that are True with probability p (p broadcasts against `shape`)."""
    pt = tnp.as_tensor(_check_unit("bernoulli", "p", p))
    dt = pt.dtype if pt.dtype.kind == "f" else check_dtype(config.floatX)
    shape = pt.shape if shape is None else _shape("bernoulli", shape)
    return tnp.less(uniform(k, shape, dt), tnp.astype(pt, dt))


def gumbel(k: Any, shape: Sequence[int] = (), dtype: Any = None) -> Tensor:
    """Standard Gumbel: -log(-log(u)), u uniform on [tiny, 1)."""
    dt = _float_dtype("gumbel", dtype)
    u = uniform(k, shape, dt, minval=float(np.finfo(dt).tiny), maxval=1.0)
    return -tnp.log(-tnp.log(u))


def categorical(k: Any, logits: Any, axis: int = -1, shape: Sequence[int] | None = None) -> Tensor:
    """Indices drawn with probabilities softmax(logits) along `axis` (Gumbel-max trick)."""
    lg = tnp.as_tensor(logits)
    if lg.dtype.kind != "f":
        lg = tnp.astype(lg, config.floatX)
    if lg.ndim == 0:
        raise ValueError("th.random.categorical: logits must have at least one dimension")
    axis = axis % lg.ndim
    batch = lg.shape[:axis] + lg.shape[axis + 1:]
    shape = batch if shape is None else _shape("categorical", shape)
    if shape[len(shape) - len(batch):] != batch:
        raise ValueError(f"th.random.categorical: shape {shape} must end with the logits' batch "
                         f"shape {batch}")
    prefix = shape[:len(shape) - len(batch)]
    full = prefix + shape[len(prefix):len(prefix) + axis] + (lg.shape[axis],) + shape[len(prefix) + axis:]
    lg = tnp.reshape(lg, (1,) * len(prefix) + lg.shape)
    return tnp.argmax(gumbel(k, full, lg.dtype) + lg, axis=len(prefix) + axis)


def randint(k: Any, shape: Sequence[int], minval: Any, maxval: Any, dtype: Any = np.int64) -> Tensor:
    """Integers uniform on [minval, maxval): minval + (64 random bits mod the span).

    The modulo bias is below span / 2^63. An empty range (maxval <= minval) gives minval."""
    dt = check_dtype(dtype)
    if dt.kind != "i":
        raise TypeError(f"th.random.randint: dtype must be int32 or int64, got {dt.name}")
    shape = _shape("randint", shape)
    b = _random_bits(_key("randint", k), shape, np.int64)
    lo = tnp.astype(tnp.as_tensor(minval), np.int64)
    span = tnp.maximum(tnp.astype(tnp.as_tensor(maxval), np.int64) - lo, 1)
    return tnp.astype(lo + tnp.mod(b, span), dt)


def _ranks_desc(scores: Tensor) -> Tensor:
    """Indices that sort a 1-D `scores` descending (ties by index): an O(n^2) rank count.

    The dialect has no sort op yet; n^2 comparisons are fine for the sizes permutations and
    choices without replacement see in training loops (minibatch orders up to ~10^4)."""
    n = scores.shape[0]
    a = tnp.reshape(scores, (n, 1))
    b = tnp.reshape(scores, (1, n))
    idx = tnp.arange(n)
    before = tnp.logical_or(b > a, tnp.logical_and(b == a, tnp.reshape(idx, (1, n)) < tnp.reshape(idx, (n, 1))))
    rank = tnp.sum(tnp.astype(before, np.int64), axis=1)  # rank[i]: where element i goes
    hit = tnp.astype(tnp.equal(tnp.reshape(rank, (1, n)), tnp.reshape(idx, (n, 1))), np.int32)
    return tnp.argmax(hit, axis=1)  # order[r] = the i whose rank is r


def permutation(k: Any, x: Any, axis: int = 0) -> Tensor:
    """A random permutation of range(x) (an int) or of x's entries along `axis`."""
    k = _key("permutation", k)
    if isinstance(x, (int, np.integer)):
        n = operator.index(x)
        if n < 0:
            raise ValueError(f"th.random.permutation: x must be >= 0, got {n}")
        return _ranks_desc(_random_bits(k, (n,), np.int64))
    xt = tnp.as_tensor(x)
    if xt.ndim == 0:
        raise ValueError("th.random.permutation: x must be an int or an array with a dimension")
    order = _ranks_desc(_random_bits(k, (xt.shape[axis],), np.int64))
    return tnp.take(xt, order, axis=axis)


def choice(k: Any, a: Any, shape: Sequence[int] = (), replace: bool = True, p: Any = None,
           axis: int = 0) -> Tensor:
    """Draws from range(a) (an int) or a's entries along `axis`, optionally weighted by p."""
    k = _key("choice", k)
    shape = _shape("choice", shape)
    at = None if isinstance(a, (int, np.integer)) else tnp.as_tensor(a)
    n = operator.index(a) if at is None else at.shape[axis]
    size = math.prod(shape)
    if not replace and size > n:
        raise ValueError(f"th.random.choice: cannot take {size} samples from {n} without replacement")
    if p is not None:
        p = _check_unit("choice", "p", p)
        pt = tnp.as_tensor(p)
        if pt.shape != (n,):
            raise ValueError(f"th.random.choice: p must have shape ({n},), got {pt.shape}")
        _check_sum(p)
    if replace:
        idx = randint(k, shape, 0, n) if p is None else categorical(k, tnp.log(tnp.as_tensor(p)), shape=shape)
    else:
        scores = _random_bits(k, (n,), np.int64) if p is None else \
            gumbel(k, (n,), tnp.as_tensor(p).dtype if tnp.as_tensor(p).dtype.kind == "f" else None) + tnp.log(tnp.as_tensor(p))
        idx = tnp.reshape(_ranks_desc(scores)[:size], shape)
    return idx if at is None else tnp.take(at, idx, axis=axis)


def _eager_keyed(fn: Any) -> Any:
    """`fn` callable on concrete keys outside a trace (frontend/eager.py); a NumPy uint32 key
    (JAX's dtype) is viewed as int32 first, since the array functions take no unsigned data."""
    run = eager(fn)
    sig = inspect.signature(fn)

    def call(k: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(k, np.ndarray) and k.dtype == np.uint32:
            k = k.view(np.int32)
        bound = sig.bind(k, *args, **kwargs).arguments
        if "p" in bound and bound["p"] is not None and not isinstance(bound["p"], Tensor):
            # checked while still concrete (a traced p is checked by the function itself)
            _check_unit(fn.__name__, "p", bound["p"])
            if fn.__name__ == "choice":
                _check_sum(bound["p"])
        return run(k, *args, **kwargs)

    call.__name__, call.__doc__, call.__wrapped__ = fn.__name__, fn.__doc__, fn
    return call


for _name in __all__:
    if _name not in ("PRNGKey", "key"):
        globals()[_name] = _eager_keyed(globals()[_name])
key = eager(key)  # noqa: F811
PRNGKey = key  # noqa: F811
