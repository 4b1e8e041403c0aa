"""Dynamic dims seen from traced code: `x.shape` of Theano variables while tracing.

A dim that is dynamic (docs/dynamic-shapes.md) has no Python int while tracing; Theano code
reads it as a symbolic scalar (`x.shape[0]`, `T.arange(y.shape[0])`, `x.reshape((n, -1))`), so
the symbolic layer sees it as an int64 0-d Tensor (`tn.dim`, read when the code runs). Static
dims stay Python ints.
"""
from __future__ import annotations

from typing import Any

from theanir.dialects.tn import lax as tn_lax

from .tensor import Tensor


def dynamic_shape(t: Tensor) -> tuple[Any, ...]:
    """`t.shape` with each dynamic dim as an int64 scalar Tensor (tn.dim)."""
    return tuple(n if n is not None else Tensor(tn_lax.dim(t, i).value) for i, n in enumerate(t.shape))
