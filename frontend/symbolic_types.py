"""Theano's types: `var.dtype` is a str, `var.type` a `TensorType(dtype, broadcastable)`.

Theano programs test dtypes as strings (`y.dtype.startswith('int')`, `x.dtype == 'float32'`)
and build types from broadcast patterns (`T.TensorType('float32', (False, True))('x')`), so
a symbolic variable reports its dtype as a `DType`: a `str` ('float32') that also answers
NumPy's dtype attributes (`.kind`, `.name`, `.itemsize`, ...) and compares equal to the NumPy
dtype it names, so code written against either convention keeps working.

A broadcastable dimension is one known to have length 1 (`T.row()` is (True, False)). The
pattern is Theano's bookkeeping for its broadcasting rules; here broadcasting follows NumPy
at trace time (where shapes are known), so the pattern is reported, compared and kept by
`T.addbroadcast` & co., and never needed for a result to be right.

    T.TensorType("float32", (False, True))("c")   # a float32 column
    T.fmatrix().type == T.TensorType("float32", (False, False))   # True
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from theanir.dialects.tn.types import check_dtype

_KINDS = {0: "scalar", 1: "vector", 2: "matrix"}


class DType(str):
    """A dtype name ('float32') that also answers `numpy.dtype`'s attributes.

    `DType('float32') == 'float32'` and `== np.float32` are both True; `.kind`, `.name`,
    `.itemsize` ... come from `np.dtype(self)`.
    """

    __slots__ = ()

    def __new__(cls, dtype: Any) -> "DType":
        return super().__new__(cls, check_dtype(dtype).name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(np.dtype(str(self)), name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str.__eq__(self, other)
        if other is None:  # (np.dtype(None) is float64)
            return False
        try:
            return np.dtype(str(self)) == np.dtype(other)  # type: ignore[arg-type]
        except TypeError:
            return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = str.__hash__

    def __reduce__(self) -> tuple:
        return (DType, (str(self),))


def as_dtype(dtype: Any) -> DType | None:
    """`dtype` as a DType (None stays None: a type not known yet)."""
    return None if dtype is None else (dtype if isinstance(dtype, DType) else DType(dtype))


def as_pattern(broadcastable: Any, who: str = "TensorType") -> tuple[bool, ...]:
    """A broadcast pattern as a tuple of bools (an int n means n non-broadcastable dims)."""
    if isinstance(broadcastable, (int, np.integer)) and not isinstance(broadcastable, bool):
        if broadcastable < 0:
            raise ValueError(f"{who}: ndim must be >= 0, got {broadcastable}")
        return (False,) * int(broadcastable)
    try:
        items = tuple(broadcastable)
    except TypeError:
        raise TypeError(f"{who}: broadcastable must be a tuple of bools such as (False, True), "
                        f"got {broadcastable!r}") from None
    if not all(isinstance(b, (bool, np.bool_)) or b in (0, 1) for b in items):
        raise TypeError(f"{who}: broadcastable must hold bools, got {items!r}")
    return tuple(bool(b) for b in items)


class TensorType:
    """Theano's TensorType: a dtype and a broadcast pattern; calling it makes an input variable.

    `ndim` is the pattern's length; two types are equal when dtype and pattern are.
    `filter(value)` converts a value to this type as `th.function` converts its inputs.
    """

    __slots__ = ("dtype", "broadcastable", "name")
    # Set by the modules that define them (they import this one, which cannot import them
    # back): symbolic_graph.Variable and symbolic.coerce_value.
    variable_class: ClassVar[Callable[..., Any] | None] = None
    coerce_value: ClassVar[Callable[..., np.ndarray] | None] = None

    def __init__(self, dtype: Any, broadcastable: Sequence[bool] | int = (), name: str | None = None):
        self.dtype = DType(dtype)
        self.broadcastable = as_pattern(broadcastable)
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def __call__(self, name: str | None = None) -> Any:
        return TensorType.variable_class(self.ndim, self.dtype, name, broadcastable=self.broadcastable)

    make_variable = __call__

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TensorType) and self.dtype == other.dtype
                and self.broadcastable == other.broadcastable)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((TensorType, str(self.dtype), self.broadcastable))

    def filter(self, value: Any, strict: bool = False, allow_downcast: bool | None = None) -> np.ndarray:
        """`value` as an array of this type (Theano's rules: safe casts, Python numbers of the
        same kind, anything else with allow_downcast); strict=True takes only the exact dtype.
        Broadcastable dimensions must have length 1."""
        who = f"{self!r}.filter"
        if strict and not (isinstance(value, np.ndarray) and value.dtype == np.dtype(str(self.dtype))):
            raise TypeError(f"{who}: strict=True needs a NumPy array of dtype {self.dtype}, got "
                            f"{type(value).__name__} {getattr(value, 'dtype', '')}".rstrip())
        arr = TensorType.coerce_value(value, np.dtype(str(self.dtype)), self.ndim, who, allow_downcast)
        bad = [i for i, b in enumerate(self.broadcastable) if b and arr.shape[i] != 1]
        if bad:
            raise TypeError(f"{who}: dimensions {bad} are broadcastable (length 1), but the value "
                            f"has shape {arr.shape}")
        return arr

    def is_valid_value(self, value: Any) -> bool:
        try:
            self.filter(value, strict=True)
        except (TypeError, ValueError, OverflowError):
            return False
        return True

    def value_zeros(self, shape: Sequence[int]) -> np.ndarray:
        return np.zeros(shape, dtype=str(self.dtype))

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {pattern_name(self.broadcastable)})"

    __str__ = __repr__


def pattern_name(pattern: tuple[bool, ...]) -> str:
    """Theano's short names for patterns: scalar, vector, matrix, row, col; else the tuple."""
    names = {(): "scalar", (False,): "vector", (False, False): "matrix", (True, False): "row",
             (False, True): "col"}
    if pattern in names:
        return names[pattern]
    return f"{len(pattern)}D" if not any(pattern) else repr(pattern)
