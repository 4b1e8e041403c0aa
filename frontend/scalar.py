"""`theanir.scalar` (Theano's `theano.scalar`): dtype rules on dtype names.

    from theanir.scalar import upcast
    upcast('int32', 'float32')   # 'float32' under floatX=float32, 'float64' under float64

Theano programs call `upcast` to pick the dtype of a result from its inputs' dtypes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .config import config

__all__ = ["upcast"]


def _name(dtype: Any) -> str:
    try:
        return np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"theanir.scalar.upcast: {dtype!r} is not a dtype") from None


def upcast(dtype: Any, *dtypes: Any) -> str:
    """The dtype NumPy gives a sum of zero arrays of these dtypes, kept at config.floatX when
    that is float32 and no argument is float64 explicitly (Theano's rule: int32 + float32 is
    float64 in NumPy but float32 here, unless floatX is float64)."""
    names = [_name(d) for d in (dtype, *dtypes)]
    out = np.result_type(*[np.zeros((), n) for n in names]).name
    keep32 = config.floatX == "float32" and "float64" not in names
    if out == "float64" and keep32:
        return "float32"
    return out
