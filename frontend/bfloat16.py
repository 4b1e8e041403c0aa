"""bfloat16 inputs (issue 20): stored as bfloat16, computed in float32, returned as bfloat16
where JAX would return bfloat16.

The runtime holds no bfloat16, so a bfloat16 argument is widened to float32 at the call
(frontend/trace.py `widen_input`; exact: every bfloat16 is a float32). What JAX would give
back in bfloat16 is tracked while tracing, per value, by JAX's promotion rule: a float32
result of an op is "bfloat16" when one of its float32 operands is and none is a strong
float32 (a float32 argument, a float32 array constant, an explicit `.astype(float32)`); weak
Python scalars and the constants derivative rules make are neutral. Such results are rounded
to bfloat16 (round to nearest even, ml_dtypes) when the call returns. Intermediate values keep
float32 precision, where JAX rounds after every op: results can differ from JAX's in the last
bfloat16 bit.

`th.bfloat16` is `ml_dtypes.bfloat16` (the package JAX takes it from); `x.astype(th.bfloat16)`
inside a trace marks x as bfloat16 (its values stay float32 until the call returns).
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np
from mlir import ir

from theanir.dialects.tn import builder
from theanir.dialects.tn.types import spec_of_value

try:
    import ml_dtypes

    bfloat16: Any = ml_dtypes.bfloat16
    BFLOAT16: np.dtype | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is a dependency
    bfloat16, BFLOAT16 = None, None

F32 = np.dtype(np.float32)
_state = threading.local()


def is_bfloat16(dtype: Any) -> bool:
    """Whether `dtype` names bfloat16 (without failing on what np.dtype refuses)."""
    if BFLOAT16 is None or dtype is None:
        return False
    try:
        return np.dtype(dtype) == BFLOAT16
    except TypeError:
        return False


def _table() -> dict | None:
    return getattr(_state, "table", None)


class tracking:
    """Around one trace: the per-value flags (True: bfloat16 in JAX, False: float32, None:
    neutral), made when the first bfloat16 value appears (a bfloat16 argument, constant or
    `.astype(bfloat16)`): before it every float32 value is a strong float32, the default.
    A trace inside a trace (th.jit inlined, a derivative) shares the outer one's flags."""

    def __enter__(self) -> "tracking":
        self.outermost = not getattr(_state, "scope", False)
        if self.outermost:
            _state.scope, _state.table = True, None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.outermost:
            _state.scope, _state.table = False, None

    @staticmethod
    def table() -> dict | None:
        return _table()


def mark(value: ir.Value, flag: bool | None) -> None:
    table = _table()
    if table is None:
        if flag is not True or not getattr(_state, "scope", False):
            return
        table = _state.table = {}
    table[value] = flag


def flag_of(value: ir.Value) -> bool | None:
    table = _table()
    return False if table is None else table.get(value, False)


def active() -> bool:
    return _table() is not None


def _on_emit(name: str, operands: Sequence[ir.Value], results: list[ir.Value]) -> None:
    table = _table()
    if table is None:
        return
    if name == "tn.constant":  # strong ones are marked False by the frontend (np_base.constant)
        for r in results:
            table[r] = None
        return
    flags = [table.get(v, False) for v in operands if _is_f32(v)]
    flag = False if not flags or False in flags else (True if True in flags else None)
    for r in results:
        if _is_f32(r):
            table[r] = flag


def _is_f32(v: ir.Value) -> bool:
    try:
        return spec_of_value(v).dtype == F32
    except TypeError:  # not a ranked tensor of a tn dtype
        return False


builder.EMIT_HOOKS.append(_on_emit)
