"""`T.xlogx` (`theanir.tensor.xlogx`): Theano's entropy helpers, 0·log 0 taken as 0.

    H = -T.xlogx.xlogx(p).sum()            # entropy, finite where p has zeros
    kl = T.xlogx.xlogy0(p, p / q).sum()     # 0 where p is 0, whatever q is there

Compositions of tn ops: the logarithm reads a substitute 1 where the result is 0 by
definition, so neither the value nor the derivative sees log 0 (no NaN from 0·(-inf)).
Derivatives: d xlogx = (1 + log x) dx for x > 0, and 0 at x = 0 (Theano's rule gives -inf
there); d xlogy0 = log y dx + x/y dy, with 0 where x = 0 and y is not a positive finite number.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import numpy_api as tnp
from .lift import lift
from .tensor import Tensor

__all__ = ["xlogx", "xlogy0"]


def _float(x: Any) -> Tensor:
    t = tnp.as_tensor(x)
    return t if t.dtype.kind == "f" else tnp.astype(t, tnp.result_type(t, np.float32))


def _xlogx(x: Any) -> Tensor:
    # xlogx(x) = x log x, 0 at x = 0
    x = _float(x)
    safe = tnp.where(x == 0, tnp.ones_like(x), x)
    return x * tnp.log(safe)


def _xlogy0(x: Any, y: Any) -> Tensor:
    # xlogy0(x, y) = x log y, 0 at x = 0 (also where y is 0, negative, inf or nan)
    x, y = _float(x), _float(y)
    dt = tnp.result_type(x, y)
    x, y = tnp.astype(x, dt), tnp.astype(y, dt)
    bad = tnp.logical_and(x == 0, tnp.logical_not(tnp.logical_and(y > 0, y < np.inf)))
    safe = tnp.where(bad, tnp.ones_like(y), y)
    return x * tnp.log(safe)


xlogx = lift("xlogx", _xlogx)
xlogy0 = lift("xlogy0", _xlogy0)
