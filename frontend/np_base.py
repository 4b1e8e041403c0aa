"""The machinery every NumPy-style function shares: constants, NEP 50 dtype promotion,
broadcasting, and the elementwise functions (`th.add`, `th.exp`, `th.where` ...).

It sits below the op families (`np_shape`, `np_reduce`, `np_linalg`, `np_nn`,
`np_creation`), which import it; `numpy_api` re-exports all of them as the one namespace
rules and users see. Nothing here imports `numpy_api` or an op family, so the frontend's
modules form no import cycle.
"""
from __future__ import annotations

import builtins
import warnings
from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.ops.core import broadcast_shapes
from theanir.dialects.tn.registry import ShapeError
from theanir.dialects.tn.types import check_dtype

from .bfloat16 import flag_of as bf16_flag, is_bfloat16, mark as bf16_mark
from .tensor import Tensor

Scalar = (bool, int, float, complex)
ArrayLike = Any


# ------------------------------------------------------------------ constants and dtypes
def constant(value: ArrayLike, dtype: Any = None, weak: bool = False) -> Tensor:
    """A constant tensor holding `value` (converted to `dtype` when given)."""
    arr = np.asarray(value)
    bf16 = is_bfloat16(dtype) or (dtype is None and is_bfloat16(arr.dtype))
    if bf16:  # stored as bfloat16, computed in float32 (frontend/bfloat16.py)
        arr, dtype = arr.astype(np.float32), None
    if dtype is not None:
        arr = arr.astype(check_dtype(dtype))
    elif arr.dtype not in (np.float32, np.float64, np.int32, np.int64, np.bool_, np.complex64, np.complex128):
        arr = arr.astype(_nearest_supported(arr.dtype))
    t = Tensor(emit1("tn.constant", [], {"value": arr}), weak=weak)
    if not weak:  # a strong constant: float32 stays float32 next to bfloat16 values (JAX)
        bf16_mark(t.value, bf16)
    return t


def _relabel(x: Tensor, bf16: bool) -> Tensor:
    """A new value equal to float32 `x`, marked bfloat16 or float32 (`.astype`)."""
    shape = tuple(-1 if n is None else n for n in x.shape)
    op = "tn.broadcast_to" if x.spec.is_static else "tn.ensure_shape"
    t = Tensor(emit1(op, [x.value], {"shape": shape}))
    bf16_mark(t.value, bf16)
    return t


def _nearest_supported(dt: np.dtype) -> np.dtype:
    """`dt` if theanir supports it, else the supported dtype that holds its values."""
    if dt in (np.float32, np.float64, np.int32, np.int64, np.bool_, np.complex64, np.complex128):
        return np.dtype(dt)
    if dt.kind == "f" and dt.itemsize <= 4:
        return np.dtype(np.float32)
    if dt.kind in "iu":
        return np.dtype(np.int64) if dt.itemsize >= 4 else np.dtype(np.int32)
    return check_dtype(dt)


def _weak_proxy(dtype: np.dtype) -> Any:
    return {"f": 0.0, "i": 0, "b": False, "c": 0j}[dtype.kind]


def result_type(*xs: Any) -> np.dtype:
    """NumPy 2's promotion (NEP 50): Python scalars and weak tensors defer to typed operands."""
    parts = []
    for x in xs:
        if isinstance(x, Tensor):
            parts.append(_weak_proxy(x.dtype) if x.weak else x.dtype)
        elif isinstance(x, Value):
            parts.append(x.dtype)
        elif isinstance(x, Scalar):
            parts.append(x)
        else:
            parts.append(_nearest_supported(np.asarray(x).dtype))
    try:
        return check_dtype(np.result_type(*parts))
    except TypeError as e:
        raise TypeError(f"{e} at {describe_location()}") from None


def _all_weak(xs: Sequence[Any]) -> bool:
    # builtins.all: in numpy_api's namespace, which re-exports this module, `all` is th.all
    return builtins.all((isinstance(x, Tensor) and x.weak) or isinstance(x, Scalar) for x in xs)


def as_tensor(x: Any, dtype: Any = None) -> Tensor:
    """Tensor view of `x` (Python scalars become weak constants), cast to `dtype` if given."""
    if isinstance(x, Tensor):
        return x if dtype is None else astype(x, dtype)
    if isinstance(x, Value):  # a lax Value from the dialect (autodiff, regions): now a Tensor
        return as_tensor(Tensor(x.value), dtype)
    if isinstance(x, Scalar):
        dt = check_dtype(dtype) if dtype is not None else result_type(x)
        t = constant(np.asarray(x, dtype=dt), weak=dtype is None)
        bf16_mark(t.value, None)  # a Python scalar is weak for bfloat16 too, whatever dtype it took
        return t
    return constant(x, dtype)


def astype(x: Any, dtype: Any, explicit: bool = False) -> Tensor:
    """x in `dtype`. `explicit`: the user's `x.astype(dtype)`, which makes a bfloat16 value a
    strong float32 (frontend/bfloat16.py); the casts of promotion leave it bfloat16."""
    if is_bfloat16(dtype):  # computed in float32, returned as bfloat16
        return _relabel(astype(x, np.float32), True)
    dt = check_dtype(dtype)
    if not isinstance(x, Tensor):
        return as_tensor(x, dt)
    if x.dtype.kind == "c" and dt.kind != "c":
        _complex_to_real(x, dt, explicit)
    if x.dtype == dt:
        if explicit and dt == np.float32 and bf16_flag(x.value):
            return _relabel(x, False)
        return x if not x.weak else Tensor(x.value)
    return Tensor(emit1("tn.cast", [x.value], {"dtype": dt}))


def _complex_to_real(x: Tensor, dt: np.dtype, explicit: bool) -> None:
    """The user's `z.astype(float)` keeps the real part with NumPy's ComplexWarning; a cast the
    library makes (a function that computes in real numbers) would drop the imaginary part
    silently, so it is refused."""
    if explicit:
        warnings.warn(f"casting {x.dtype.name} to {dt.name} discards the imaginary part (at "
                      f"{describe_location()})", np.exceptions.ComplexWarning, stacklevel=3)
        return
    raise TypeError(f"this function computes in real numbers and does not take {x.dtype.name} "
                    f"values (it would drop their imaginary parts), at {describe_location()}; pass "
                    f"th.real(z), th.abs(z) or z.astype({dt.name}) if that is what is meant")


def broadcast_to(x: Any, shape: Sequence[Any]) -> Tensor:
    """np.broadcast_to; a dim of `shape` may be a traced int scalar (a dynamic size)."""
    x = as_tensor(x)
    shape = tuple(s if isinstance(s, Value) or s is None else int(s) for s in shape)
    if not any(isinstance(s, Value) for s in shape) and x.shape == shape:
        return x
    lead = len(shape) - x.ndim
    if None in x.shape and lead >= 0:  # a dynamic dim broadcast to a static size: checked at run time
        x = refine(x, tuple(n if isinstance(n, int) and x.shape[i] is None and n != 1 else None
                            for i, n in enumerate(shape[lead:])))
    return Tensor(tn_lax.broadcast_to(x, shape).value, weak=x.weak)


def refine(x: Tensor, shape: Sequence[int | None]) -> Tensor:
    """`x` with the static dims of `shape` where its own are dynamic (a run-time check)."""
    if all(a is not None or b is None for a, b in zip(x.shape, shape)):
        return x
    want = tuple(b if b is not None else a for a, b in zip(x.shape, shape))
    attr = tuple(-1 if n is None else n for n in want)
    return Tensor(emit1("tn.ensure_shape", [x.value], {"shape": attr}), weak=x.weak)


def _broadcast_dynamic(ts: Sequence[Tensor], shape: tuple[int | None, ...]) -> list[Tensor]:
    """Broadcast tensors with dynamic dims to `shape`: dynamic dims meeting a static size are
    refined (checked at run time), size-1 dims meeting a dynamic one take its size."""
    rank = len(shape)
    out = []
    for t in ts:
        lead = rank - t.ndim
        t = refine(t, shape[lead:])
        if t.shape == shape:
            out.append(t)
            continue
        target: list[Any] = []
        for i, n in enumerate(shape):
            a = i - lead
            if n is not None or (a >= 0 and t.shape[a] is None):
                target.append(n)
                continue
            source = next(u for u in ts if 0 <= i - (rank - u.ndim) and u.shape[i - (rank - u.ndim)] is None)
            target.append(tn_lax.dim(source, i - (rank - source.ndim)))
        out.append(Tensor(tn_lax.broadcast_to(t, target).value, weak=t.weak))
    return out


def _broadcast_shape(op: str, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    try:
        return broadcast_shapes(*shapes)
    except ShapeError as e:
        raise ShapeError(f"{op}: {e} at {describe_location()}") from None


def prepare(op: str, xs: Sequence[Any], dtype: np.dtype | None = None) -> list[Tensor]:
    """Promote `xs` to one dtype (or `dtype`) and broadcast them to one shape."""
    dt = result_type(*xs) if dtype is None else dtype
    weak = _all_weak(xs)
    ts = [as_tensor(x, dt) if not isinstance(x, Tensor) else astype(x, dt) for x in xs]
    shape = _broadcast_shape(op, [t.shape for t in ts])
    if None in shape or any(None in t.shape for t in ts):
        out = _broadcast_dynamic(ts, shape)
    else:
        out = [broadcast_to(t, shape) for t in ts]
    if weak:
        out = [Tensor(t.value, weak=True) for t in out]
    return out


def _to_float_dtype(dt: np.dtype) -> np.dtype:
    """Dtype NumPy gives a float-only ufunc applied to `dt` (no float16 here)."""
    if dt.kind in "fc":
        return dt
    return np.dtype(np.float32) if dt == np.bool_ else np.dtype(np.float64)


def _emit_elementwise(name: str, ts: Sequence[Tensor], weak: bool) -> Tensor:
    return Tensor(emit1(f"tn.{name}", [t.value for t in ts]), weak=weak)


def unary(name: str, x: Any, float_only: bool = False) -> Tensor:
    x = as_tensor(x)
    if float_only and x.dtype.kind != "f":
        x = astype(x, _to_float_dtype(x.dtype))
    return _emit_elementwise(name, [x], x.weak)


def binary(name: str, a: Any, b: Any, float_only: bool = False) -> Tensor:
    dt = result_type(a, b)
    if float_only:
        dt = _to_float_dtype(dt)
    ts = prepare(name, [a, b], dt)
    return _emit_elementwise(name, ts, _all_weak([a, b]))


def compare(name: str, a: Any, b: Any) -> Tensor:
    ts = prepare(name, [a, b])
    return _emit_elementwise(name, ts, False)


# ------------------------------------------------------------------ elementwise functions
def _reject_bool(name: str, x: Any) -> None:
    if isinstance(x, Tensor) and x.dtype == np.bool_:
        raise TypeError(f"{name} is not defined for bool tensors (NumPy refuses it too); "
                        f"cast with .astype first, at {describe_location()}")


def add(a, b):
    if result_type(a, b) == np.bool_:
        return logical_or(a, b)
    return binary("add", a, b)


def subtract(a, b):
    if result_type(a, b) == np.bool_:
        raise TypeError(f"subtract of bool tensors is not defined (use logical_xor), at {describe_location()}")
    return binary("sub", a, b)


def multiply(a, b):
    if result_type(a, b) == np.bool_:
        return logical_and(a, b)
    return binary("mul", a, b)


def divide(a, b): return binary("div", a, b, float_only=True)
def floor_divide(a, b): return binary("floor_divide", _no_bool(a), _no_bool(b))
def mod(a, b): return binary("mod", _no_bool(a), _no_bool(b))
def power(a, b):
    """NumPy's power. Integer powers wrap on overflow; a negative integer exponent known while
    tracing is refused as NumPy does; a traced one gives JAX's values (1 for base 1, +-1 for
    base -1, else 0: see tn.pow's lowering)."""
    a, b = _no_bool(a), _no_bool(b)
    if isinstance(a, Tensor) and isinstance(b, (int, np.integer)) and result_type(a, b).kind == "c":
        # a complex base to a known integer power: multiplies (JAX's integer_pow), exact where
        # complex.pow's exp(b log a) is not
        dt = result_type(a, b)
        x = _integer_pow(a if a.dtype == dt else astype(a, dt), builtins.abs(int(b)))
        return x if b >= 0 else divide(1, x)
    if result_type(a, b).kind != "i" or isinstance(b, Tensor):
        return binary("pow", a, b)
    if np.any(np.asarray(b) < 0):
        raise ValueError(f"Integers to negative integer powers are not allowed (power with exponent "
                         f"{b!r}), at {describe_location()}")
    if isinstance(a, Tensor) and isinstance(b, (int, np.integer)):
        dt = result_type(a, b)  # a NumPy int64 exponent makes int32 bases int64
        return _integer_pow(a if a.dtype == dt else astype(a, dt), int(b))
    return binary("pow", a, b)


def _integer_pow(x: Tensor, n: int) -> Tensor:
    """x ** n for a known n >= 0 as a chain of multiplies (JAX's integer_pow): ~2 log2(n)
    elementwise ops that fuse and vectorize, where tn.pow's loop per element does not."""
    acc = None
    while n:
        if n & 1:
            acc = x if acc is None else multiply(acc, x)
        n >>= 1
        if n:
            x = multiply(x, x)
    return acc if acc is not None else ones_like(x)


def maximum(a, b): return binary("maximum", a, b)
def minimum(a, b): return binary("minimum", a, b)
def equal(a, b): return compare("eq", a, b)
def not_equal(a, b): return compare("ne", a, b)
def less(a, b): return compare("lt", a, b)
def less_equal(a, b): return compare("le", a, b)
def greater(a, b): return compare("gt", a, b)
def greater_equal(a, b): return compare("ge", a, b)
def logical_and(a, b): return binary("logical_and", astype(as_tensor(a), np.bool_), astype(as_tensor(b), np.bool_))
def logical_or(a, b): return binary("logical_or", astype(as_tensor(a), np.bool_), astype(as_tensor(b), np.bool_))
def logical_xor(a, b): return binary("logical_xor", astype(as_tensor(a), np.bool_), astype(as_tensor(b), np.bool_))
def logical_not(x): return unary("logical_not", astype(as_tensor(x), np.bool_))


def _no_bool(x):
    """Arithmetic that NumPy does on bools in int8: we use int64 (no int8 here)."""
    if isinstance(x, Tensor) and x.dtype == np.bool_:
        return astype(x, np.int64)
    return x


def invert(x):
    x = as_tensor(x)
    if x.dtype != np.bool_:
        raise TypeError(f"~ is only supported on bool tensors here, got {x.dtype.name}, at {describe_location()}")
    return logical_not(x)


def negative(x):
    _reject_bool("negative", x)
    return unary("neg", x)


def abs(x):  # noqa: A001  (NumPy's name)
    x = as_tensor(x)
    if x.dtype.kind == "c":  # |z|, a real tensor
        return Tensor(emit1("tn.complex_abs", [x.value]))
    return x if x.dtype == np.bool_ else unary("abs", x)


def sign(x):
    _reject_bool("sign", x)
    return unary("sign", x)


def square(x): return unary("square", _no_bool(as_tensor(x)))
def exp(x): return unary("exp", x, float_only=True)
def expm1(x): return unary("expm1", x, float_only=True)
def log(x): return unary("log", x, float_only=True)
def log1p(x): return unary("log1p", x, float_only=True)
def sqrt(x): return unary("sqrt", x, float_only=True)
def rsqrt(x): return unary("rsqrt", x, float_only=True)
def tanh(x): return unary("tanh", x, float_only=True)
def sigmoid(x): return unary("sigmoid", x, float_only=True)
def softplus(x): return unary("softplus", x, float_only=True)
def sin(x): return unary("sin", x, float_only=True)
def cos(x): return unary("cos", x, float_only=True)


def relu(x):
    _reject_bool("relu", x)
    return unary("relu", x)


def _int_identity(name: str, x: Any) -> Tensor:
    """floor/ceil/round: NumPy 2 keeps integer inputs as they are."""
    x = as_tensor(x)
    if x.dtype.kind in "ib":
        return x
    return unary(name, x)


def floor(x): return _int_identity("floor", x)
def ceil(x): return _int_identity("ceil", x)
def round(x, decimals: int = 0):  # noqa: A001
    if decimals != 0:
        scale = 10.0 ** decimals
        return _int_identity("round", multiply(x, scale)) / scale
    return _int_identity("round", x)


def isnan(x):
    x = as_tensor(x)
    if x.dtype.kind == "c":  # either part (NumPy)
        parts = [Tensor(emit1(f"tn.{p}", [x.value])) for p in ("real", "imag")]
        return logical_or(isnan(parts[0]), isnan(parts[1]))
    if x.dtype.kind != "f":
        return zeros_like(x, dtype=np.bool_)
    return Tensor(emit1("tn.isnan", [x.value]))


def where(cond, a=None, b=None):
    """Elementwise cond ? a : b with NumPy broadcasting and promotion (eager, both sides computed)."""
    if a is None or b is None:
        raise TypeError("th.where needs three arguments (the one-argument form has a data-dependent shape)")
    c = astype(as_tensor(cond), np.bool_)
    dt = result_type(a, b)
    ta = as_tensor(a, dt) if not isinstance(a, Tensor) else astype(a, dt)
    tb = as_tensor(b, dt) if not isinstance(b, Tensor) else astype(b, dt)
    shape = _broadcast_shape("where", [c.shape, ta.shape, tb.shape])
    if None in shape or any(None in t.shape for t in (c, ta, tb)):
        c, ta, tb = _broadcast_dynamic([c, ta, tb], shape)
    else:
        c, ta, tb = (broadcast_to(t, shape) for t in (c, ta, tb))
    return Tensor(emit1("tn.where", [c.value, ta.value, tb.value]), weak=_all_weak([a, b]))


def clip(x, lo=None, hi=None):
    out = as_tensor(x)
    if lo is not None:
        out = maximum(out, lo)
    if hi is not None:
        out = minimum(out, hi)
    return out


def zeros_like(x, dtype=None):
    x = as_tensor(x)
    bf16 = bf16_flag(x.value) if dtype is None else is_bfloat16(dtype)
    dt = np.dtype(np.float32) if bf16 and dtype is not None else check_dtype(dtype) if dtype is not None else x.dtype
    out = broadcast_to(constant(np.zeros((), dt)), tn_lax.shape_of(x))
    return _relabel(out, True) if bf16 else out


def ones_like(x, dtype=None):
    x = as_tensor(x)
    bf16 = bf16_flag(x.value) if dtype is None else is_bfloat16(dtype)
    dt = np.dtype(np.float32) if bf16 and dtype is not None else check_dtype(dtype) if dtype is not None else x.dtype
    out = broadcast_to(constant(np.ones((), dt)), tn_lax.shape_of(x))
    return _relabel(out, True) if bf16 else out


def full_like(x, fill_value, dtype=None):
    x = as_tensor(x)
    bf16 = bf16_flag(x.value) if dtype is None else is_bfloat16(dtype)
    dt = np.dtype(np.float32) if bf16 and dtype is not None else check_dtype(dtype) if dtype is not None else x.dtype
    out = broadcast_to(constant(np.asarray(fill_value, dt)), tn_lax.shape_of(x))
    return _relabel(out, True) if bf16 else out


true_divide = divide
remainder = mod
absolute = abs
rint = round
pow = power  # noqa: A001
