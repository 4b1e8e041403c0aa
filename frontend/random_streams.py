"""Theano's random streams: `RandomStreams` and `MRG_RandomStreams` on th.random's generator.

    srng = RandomStreams(seed=234)
    mask = srng.binomial(size=x.shape, n=1, p=0.7, dtype=th.config.floatX)
    f = th.function([x], x * mask)      # a new mask on every call

Each draw owns a shared variable holding a Threefry key (`th.random`), seeded from the
stream's seed and the draw's creation index. The draw reads the key's second split half; the
variable's `default_update` is the first half, so a compiled `th.function` that uses the draw
advances the key on every call (Theano's default updates, frontend/symbolic.py
`Function._default_updates`; `no_default_updates=True` keeps the key fixed). A draw made inside a
symbolic `th.scan` step has its key carried through the loop (control_symbolic.py: new
numbers each step; the scan returns the final keys as its updates). `seed(n)` resets
every key of the stream. Both classes share one implementation: the numbers differ from
Theano's (another generator), the semantics do not. `size` may be symbolic (`x.shape`,
`(x.shape[0], 10)`): it is evaluated when the function is traced.
"""
from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from theanir.dialects.tn.ops.random import threefry2x32

from . import numpy_api as tnp
from . import random as rnd
from .config import config
from .symbolic import SharedVariable, shared
from .symbolic_graph import Variable, apply
from .tensor import Tensor

__all__ = ["RandomStreams", "MRG_RandomStreams", "RandomStateSharedVariable"]

RandomStateSharedVariable = SharedVariable

# Random states are numbered in creation order: th.scan (control_symbolic.py) carries through
# its loop the states made while it recorded a step (a number >= the count before).
_made = 0


def state_count() -> int:
    """How many random states exist so far (the next state's serial number)."""
    return _made


def made_since(v: Any, mark: int) -> bool:
    """Is `v` a random state created after `state_count()` returned `mark`?"""
    return getattr(v, "random_serial", -1) >= mark


def _initial_key(seed: int, index: int) -> np.ndarray:
    """fold_in(key(seed), index), computed in NumPy (no compile for creating a draw)."""
    s = int(seed)
    k = ((s >> 32) & 0xFFFFFFFF, s & 0xFFFFFFFF)
    with np.errstate(over="ignore"):
        y0, y1 = threefry2x32(k[0], k[1], np.array([0], np.uint32), np.array([index], np.uint32))
    return np.array([y0[0], y1[0]], np.uint32).view(np.int32)


def _halves(state: Tensor) -> tuple[Tensor, Tensor]:
    keys = rnd.split(state)
    return keys[0], keys[1]


def _next_state(state: Tensor) -> Tensor:
    return _halves(state)[0]


def _size(who: str, size: Any) -> tuple[int, ...]:
    """A traced size (a tuple, a 1-d array of ints, or an int) as a static tuple."""
    if size is None:
        return ()
    if isinstance(size, Tensor):
        from .control_flow import static_value
        value = static_value(size)
        if value is None:
            raise TypeError(f"{who}: size must be known when the function is traced (a shape such "
                            f"as x.shape, or ints), got a value computed at run time")
        size = tuple(int(v) for v in np.ravel(value))
    dims = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    try:
        out = tuple(operator.index(d) if not isinstance(d, Tensor) else _size(who, d)[0] for d in dims)
    except TypeError:
        raise TypeError(f"{who}: size must be a tuple of ints or a shape, got {size!r}") from None
    if any(n < 0 for n in out):
        raise ValueError(f"{who}: size must not have negative dims, got {out}")
    return out


def _shape_of(size: tuple[int, ...], *params: Any) -> tuple[int, ...]:
    """Theano's rule: without a size the parameters' broadcast shape decides."""
    if size:
        return size
    shapes = [tnp.as_tensor(p).shape for p in params]
    return tuple(np.broadcast_shapes(*shapes)) if shapes else ()


def _float(dtype: Any) -> np.dtype:
    return np.dtype(config.floatX if dtype is None else dtype)


# ------------------------------------------------------------------ trace-time draws
def _uniform(state, size, low, high, dtype):
    shape = _shape_of(_size("uniform", size), low, high)
    dt = _float(dtype)
    u = rnd.uniform(_halves(state)[1], shape, dt)
    return tnp.astype(u * (tnp.as_tensor(high) - low) + low, dt)


def _normal(state, size, avg, std, dtype):
    shape = _shape_of(_size("normal", size), avg, std)
    dt = _float(dtype)
    z = rnd.normal(_halves(state)[1], shape, dt)
    return tnp.astype(z * std + avg, dt)


def _binomial(state, size, n, p, dtype):
    shape = _shape_of(_size("binomial", size), p)
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"binomial: n must be >= 0, got {n}")
    pt = tnp.as_tensor(rnd._check_unit("binomial", "p", p))  # traced p: checked when it runs
    ft = pt.dtype if pt.dtype.kind == "f" else np.dtype(config.floatX)
    u = rnd.uniform(_halves(state)[1], (n,) + shape, ft)
    hits = tnp.astype(u < tnp.astype(pt, ft), np.int64)
    return tnp.astype(tnp.sum(hits, axis=0), np.dtype(dtype))


def _multinomial(state, size, n, pvals, dtype):
    pv = tnp.as_tensor(pvals)
    if pv.ndim not in (1, 2):
        raise ValueError(f"multinomial: pvals must be a vector or a matrix, got ndim {pv.ndim}")
    batch = pv.shape[:-1]
    k = pv.shape[-1]
    n = operator.index(n)
    logits = tnp.log(tnp.maximum(tnp.astype(pv, np.float64) if pv.dtype.kind != "f" else pv, 0.0))
    draws = rnd.categorical(_halves(state)[1], logits, shape=(n,) + batch)  # (n, *batch)
    onehot = tnp.astype(tnp.equal(tnp.expand_dims(draws, -1), tnp.arange(k)), np.int64)
    counts = tnp.sum(onehot, axis=0)
    del size  # Theano's multinomial takes its shape from pvals
    return tnp.astype(counts, np.dtype(dtype))


def _choice(state, size, a, replace, p, dtype):
    shape = _size("choice", size)
    out = rnd.choice(_halves(state)[1], a, shape, replace=replace, p=p)
    return tnp.astype(out, np.dtype(dtype)) if out.dtype.kind == "i" else out


def _permutation(state, size, n, dtype):
    shape = _size("permutation", size)
    key = _halves(state)[1]
    if not shape:
        return tnp.astype(rnd.permutation(key, n), np.dtype(dtype))
    rows = [rnd.permutation(rnd.fold_in(key, i), n) for i in range(math.prod(shape))]
    out = tnp.reshape(tnp.stack(rows), shape + (n,)) if rows else tnp.zeros(shape + (n,), np.int64)
    return tnp.astype(out, np.dtype(dtype))


def _random_integers(state, size, low, high, dtype):
    shape = _shape_of(_size("random_integers", size), low, high)
    return rnd.randint(_halves(state)[1], shape, low, tnp.as_tensor(high) + 1, np.dtype(dtype))


def _check_pvals(pvals: Any) -> None:
    if isinstance(pvals, Variable):
        return
    arr = np.asarray(pvals, np.float64)
    if arr.size and (arr.min() < 0 or np.any(np.abs(arr.sum(axis=-1) - 1) > 1e-5)):
        raise ValueError(f"multinomial: pvals must be non-negative and sum to 1 along the last axis "
                         f"(within 1e-5), got sums {arr.sum(axis=-1)}")


# ------------------------------------------------------------------ the streams
class RandomStreams:
    """Theano's `shared_randomstreams.RandomStreams`: symbolic draws with state in shared
    variables that compiled functions update (see the module doc)."""

    def __init__(self, seed: int | None = None, **_ignored: Any):
        self.default_instance_seed = 0 if seed is None else int(seed)
        self.state_updates: list[tuple[SharedVariable, Variable]] = []

    # -------------------------------------------------------------- state
    def _new_state(self) -> SharedVariable:
        index = len(self.state_updates)
        state = shared(_initial_key(self.default_instance_seed, index), name=f"random_state_{index}")
        state.default_update = apply(_next_state, state)
        state.scan_advance = _next_state  # a scan step advances its carried key with this
        global _made
        state.random_serial, _made = _made, _made + 1
        self.state_updates.append((state, state.default_update))
        return state

    def seed(self, seed: int | None = None) -> None:
        """Reset every draw's state from `seed` (default: the seed given at construction)."""
        s = self.default_instance_seed if seed is None else int(seed)
        for index, (state, _) in enumerate(self.state_updates):
            state.set_value(_initial_key(s, index))

    def updates(self) -> list[tuple[SharedVariable, Variable]]:
        return list(self.state_updates)

    def _draw(self, fn: Any, *args: Any) -> Variable:
        return apply(fn, self._new_state(), *args)

    # -------------------------------------------------------------- distributions
    def uniform(self, size: Any = None, low: Any = 0.0, high: Any = 1.0, ndim: int | None = None,
                dtype: Any = None, **_ignored: Any) -> Variable:
        """Uniform on [low, high)."""
        return self._draw(_uniform, size, low, high, dtype)

    def normal(self, size: Any = None, avg: Any = 0.0, std: Any = 1.0, ndim: int | None = None,
               dtype: Any = None, **_ignored: Any) -> Variable:
        """Normal with mean `avg` and standard deviation `std` (differentiable in both)."""
        return self._draw(_normal, size, avg, std, dtype)

    def binomial(self, size: Any = None, n: int = 1, p: Any = 0.5, ndim: int | None = None,
                 dtype: Any = "int64", **_ignored: Any) -> Variable:
        """Number of successes in `n` trials of probability `p` (no gradient through p)."""
        if not isinstance(p, Variable):
            rnd._check_unit("binomial", "p", p)
        return self._draw(_binomial, size, n, p, dtype)

    def multinomial(self, size: Any = None, n: int = 1, pvals: Any = None, ndim: int | None = None,
                    dtype: Any = "int64", **_ignored: Any) -> Variable:
        """Counts of `n` draws from each row of `pvals` (shape of pvals)."""
        if pvals is None:
            raise TypeError("multinomial: pvals is required")
        _check_pvals(pvals)
        return self._draw(_multinomial, size, n, pvals, dtype)

    def choice(self, size: Any = (), a: Any = 2, replace: bool = True, p: Any = None,
               ndim: int | None = None, dtype: Any = "int64", **_ignored: Any) -> Variable:
        """Draws from range(a) or from a's entries, optionally weighted by p."""
        return self._draw(_choice, size, a, replace, p, dtype)

    def permutation(self, size: Any = None, n: int = 1, ndim: int | None = None,
                    dtype: Any = "int64", **_ignored: Any) -> Variable:
        """Random permutations of range(n), one per entry of `size` (shape size + (n,))."""
        return self._draw(_permutation, size, n, dtype)

    def random_integers(self, size: Any = None, low: Any = 0, high: Any = 1, ndim: int | None = None,
                        dtype: Any = "int64", **_ignored: Any) -> Variable:
        """Integers uniform on [low, high], both ends included (Theano's rule)."""
        return self._draw(_random_integers, size, low, high, dtype)


class MRG_RandomStreams(RandomStreams):
    """Theano's `sandbox.rng_mrg.MRG_RandomStreams` (default seed 12345): the same draws on
    the Threefry generator (`nstreams` and other MRG tuning arguments are accepted and unused)."""

    def __init__(self, seed: int = 12345, **_ignored: Any):
        super().__init__(seed)
