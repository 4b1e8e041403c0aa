"""`Tensor`: a traced value (an `ir.Value` of the tn IR under construction) with NumPy manners.

It is the tracer that user code sees inside `@jit`. It extends the dialect's `lax.Value`
(the strict handle the dialect's rules are written with) with NumPy's operators: implicit
broadcasting and NEP 50 promotion. A lax Value coming back from the dialect (autodiff,
regions) becomes a Tensor at the frontend's boundary (`numpy_api.as_tensor`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from mlir import ir

from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.types import TensorSpec, spec_of_value


class TracerError(TypeError):
    """A Python construct that needs a concrete value was applied to a traced one."""


# The NumPy namespace (numpy_api) that the operators and methods below call. numpy_api
# imports this module, so it registers itself here instead of being imported back (no import
# cycle); importing theanir.frontend imports numpy_api first.
_numpy_api: Any = None


def register_numpy_api(namespace: Any) -> None:
    """Make `namespace` (the module numpy_api) what Tensor's operators and methods call."""
    global _numpy_api
    _numpy_api = namespace


def _api() -> Any:
    if _numpy_api is None:
        raise RuntimeError("theanir.frontend.numpy_api is not imported yet: Tensor's operators "
                           "need it (import theanir.frontend first)")
    return _numpy_api


class Tensor(Value):
    """A symbolic array of static shape and dtype.

    `weak` marks values that came from Python scalars: like NumPy 2 (NEP 50) they take the
    dtype of the other operand in mixed arithmetic.
    """

    __slots__ = ("weak", "subtensor_of")
    __array_priority__ = 1000

    def __init__(self, value: ir.Value, weak: bool = False):
        self.value = value
        self.spec: TensorSpec = spec_of_value(value)
        self.weak = weak
        # (x, idx) when this tensor is `x[idx]`: Theano's T.set_subtensor(x[idx], y) finds x
        self.subtensor_of: tuple["Tensor", Any] | None = None

    # ------------------------------------------------------------- metadata (shape, dtype,
    # ndim, size: lax.Value's)
    @property
    def T(self) -> "Tensor":
        return _api().transpose(self)

    @property
    def real(self) -> "Tensor":
        return _api().real(self)

    @property
    def imag(self) -> "Tensor":
        return _api().imag(self)

    def conj(self) -> "Tensor": return _api().conj(self)
    def conjugate(self) -> "Tensor": return _api().conj(self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        if self.shape[0] is None:
            raise TypeError("len() of a tensor whose dim 0 is dynamic (dynamic_shapes=True): its size "
                            "is known only when the code runs; th.shape(x)[0] is it as a traced int")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape}, dtype={self.dtype.name})"

    # ------------------------------------------------------------- refusals with advice
    def known_value(self) -> np.ndarray | None:
        """The value, when it is computed from constants only (the dialect's interpreter folds
        it; bounded work), else None: Python `if`/`float()` on such a value works, as on a
        concrete array in JAX (th.grad called with concrete values traces with them)."""
        from theanir.dialects.tn import interpreter

        return interpreter.static_value(self.value, limit=None, depth=400, budget=20000)

    def __bool__(self) -> bool:
        known = self.known_value()
        if known is not None and known.size == 1:
            return bool(known)
        raise TracerError(
            "the truth value of a traced tensor is not known while tracing: Python `if`, "
            "`while`, `and`/`or` and `assert` cannot branch on it. Use th.where(cond, a, b) "
            "for an elementwise choice (th.cond/th.ifelse for lazy branches and th.scan/"
            "th.while_loop for loops), or mark the argument static with static_argnums."
        )

    def __float__(self) -> float:
        known = self.known_value()
        if known is not None and known.size == 1:
            return float(known)
        raise TracerError("float() needs a concrete value; a traced tensor has none. "
                          "Return the tensor from the jitted function instead.")

    def __int__(self) -> int:
        raise TracerError("int() needs a concrete value; use static_argnums for values "
                          "that decide shapes, or th.take for traced indices.")

    __index__ = __int__

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TracerError("a traced tensor cannot become a NumPy array while tracing: use "
                          "theanir functions (th.exp, th.sum, ...) inside @th.jit.")

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    # ------------------------------------------------------------- NumPy protocol
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any):
        return _api().dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _api().dispatch_array_function(func, args, kwargs)

    # ------------------------------------------------------------- operators
    # (a theanir.sparse matrix on the right takes over: dense @ sparse, dense * sparse ...)
    def __add__(self, o): return NotImplemented if _defers(o) else _api().add(self, o)
    def __radd__(self, o): return _api().add(o, self)
    def __sub__(self, o): return NotImplemented if _defers(o) else _api().subtract(self, o)
    def __rsub__(self, o): return _api().subtract(o, self)
    def __mul__(self, o): return NotImplemented if _defers(o) else _api().multiply(self, o)
    def __rmul__(self, o): return _api().multiply(o, self)
    def __truediv__(self, o): return _api().divide(self, o)
    def __rtruediv__(self, o): return _api().divide(o, self)
    def __floordiv__(self, o): return _api().floor_divide(self, o)
    def __rfloordiv__(self, o): return _api().floor_divide(o, self)
    def __mod__(self, o): return _api().mod(self, o)
    def __rmod__(self, o): return _api().mod(o, self)
    def __pow__(self, o): return _api().power(self, o)
    def __rpow__(self, o): return _api().power(o, self)
    def __matmul__(self, o): return NotImplemented if _defers(o) else _api().matmul(self, o)
    def __rmatmul__(self, o): return _api().matmul(o, self)
    def __neg__(self): return _api().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _api().abs(self)
    def __invert__(self): return _api().invert(self)
    def __and__(self, o): return _api().logical_and(self, o)
    def __rand__(self, o): return _api().logical_and(o, self)
    def __or__(self, o): return _api().logical_or(self, o)
    def __ror__(self, o): return _api().logical_or(o, self)
    def __xor__(self, o): return _api().logical_xor(self, o)
    def __rxor__(self, o): return _api().logical_xor(o, self)
    def __lt__(self, o): return _api().less(self, o)
    def __le__(self, o): return _api().less_equal(self, o)
    def __gt__(self, o): return _api().greater(self, o)
    def __ge__(self, o): return _api().greater_equal(self, o)
    def __eq__(self, o): return _api().equal(self, o)  # type: ignore[override]
    def __ne__(self, o): return _api().not_equal(self, o)  # type: ignore[override]
    def __getitem__(self, idx):
        out = _api().getitem(self, idx)
        if out is self:  # x[:] is x; a fresh handle keeps x's own record clean
            out = Tensor(self.value, self.weak)
        out.subtensor_of = (self, idx)
        return out

    def __setitem__(self, idx, value):
        raise TracerError(
            "traced tensors are immutable: `x[idx] = v` cannot work inside @th.jit. Write "
            "`x = x.at[idx].set(v)` (or .add, .multiply, .min, .max), which returns the updated "
            "tensor, as in JAX.")

    @property
    def at(self) -> "_IndexUpdateHelper":
        """JAX's functional updates: `x.at[idx].set(y)`, `.add(y)`, `.multiply(y)`, `.min(y)`,
        `.max(y)`, `.get()`; each returns a new tensor (frontend/np_update.py)."""
        return _IndexUpdateHelper(self)

    # ------------------------------------------------------------- methods
    def astype(self, dtype) -> "Tensor": return _api().astype(self, dtype, explicit=True)
    def sum(self, axis=None, keepdims=False, dtype=None): return _api().sum(self, axis, keepdims=keepdims, dtype=dtype)
    def mean(self, axis=None, keepdims=False, dtype=None): return _api().mean(self, axis, dtype=dtype, keepdims=keepdims)
    def var(self, axis=None, ddof=0, keepdims=False): return _api().var(self, axis, ddof=ddof, keepdims=keepdims)
    def std(self, axis=None, ddof=0, keepdims=False): return _api().std(self, axis, ddof=ddof, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _api().max(self, axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _api().min(self, axis, keepdims=keepdims)
    def prod(self, axis=None, keepdims=False): return _api().prod(self, axis, keepdims=keepdims)
    def any(self, axis=None, keepdims=False): return _api().any(self, axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return _api().all(self, axis, keepdims=keepdims)
    def argmax(self, axis=None, keepdims=False): return _api().argmax(self, axis, keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return _api().argmin(self, axis, keepdims=keepdims)
    def reshape(self, *shape): return _api().reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)
    def transpose(self, *axes): return _api().transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None))
    def squeeze(self, axis=None): return _api().squeeze(self, axis)
    def swapaxes(self, axis1, axis2): return _api().swapaxes(self, axis1, axis2)
    def take(self, indices, axis=None): return _api().take(self, indices, axis)
    def flatten(self): return _api().reshape(self, (-1,))
    def ravel(self): return _api().reshape(self, (-1,))
    def dot(self, o): return _api().dot(self, o)
    def clip(self, lo=None, hi=None): return _api().clip(self, lo, hi)
    def broadcast_to_shape(self, shape): return _api().broadcast_to(self, shape)


# ------------------------------------------------------------------ x.at[idx]
_JAX_MODES = (None, "clip", "promise_in_bounds")


class _IndexUpdateHelper:
    """`x.at`: indexing it gives the reference whose methods make the updated tensor.

    `update(x, idx, y, mode, fn=...)` and `get(x, idx)` compute; by default numpy_api's
    `index_update` and `getitem` (traced); `th.Array.at` passes the eager ones."""

    __slots__ = ("x", "update", "get")

    def __init__(self, x: Any, update: Any = None, get: Any = None):
        self.x, self.update, self.get = x, update, get

    def __getitem__(self, idx: Any) -> "_IndexUpdateRef":
        return _IndexUpdateRef(self.x, idx, self.update or _api().index_update,
                               self.get or _api().getitem)

    def __repr__(self) -> str:
        return f"_IndexUpdateHelper({self.x!r})"


class _IndexUpdateRef:
    """`x.at[idx]`. The keyword arguments JAX takes (indices_are_sorted, unique_indices,
    mode) are accepted; out-of-range traced indices are clamped (mode "clip")."""

    __slots__ = ("x", "idx", "update", "read")

    def __init__(self, x: Any, idx: Any, update: Any, read: Any):
        self.x, self.idx, self.update, self.read = x, idx, update, read

    def _update(self, mode: str, y: Any, kw: dict) -> Tensor:
        jax_mode = kw.pop("mode", None)
        kw.pop("indices_are_sorted", None)
        kw.pop("unique_indices", None)
        if kw:
            raise TypeError(f"at[].{mode}: unexpected keyword arguments {sorted(kw)}")
        if jax_mode not in _JAX_MODES:
            raise NotImplementedError(
                f"at[].{mode}: mode={jax_mode!r} is not supported; traced indices out of range "
                f"are clamped (mode='clip'), constant ones raise IndexError")
        return self.update(self.x, self.idx, y, mode, fn=f"at[].{mode}")

    def get(self, **kw: Any) -> Tensor:
        """x[idx] (JAX's keywords accepted; traced indices clamp as in `x[idx]`)."""
        unknown = set(kw) - {"indices_are_sorted", "unique_indices", "mode", "fill_value"}
        if unknown:
            raise TypeError(f"at[].get: unexpected keyword arguments {sorted(unknown)}")
        return self.read(self.x, self.idx)

    def set(self, values: Any, **kw: Any) -> Tensor: return self._update("set", values, kw)
    def add(self, values: Any, **kw: Any) -> Tensor: return self._update("add", values, kw)
    def subtract(self, values: Any, **kw: Any) -> Tensor: return self._update("subtract", values, kw)
    def multiply(self, values: Any, **kw: Any) -> Tensor: return self._update("multiply", values, kw)
    mul = multiply
    def divide(self, values: Any, **kw: Any) -> Tensor: return self._update("divide", values, kw)
    def power(self, values: Any, **kw: Any) -> Tensor: return self._update("power", values, kw)
    def min(self, values: Any, **kw: Any) -> Tensor: return self._update("min", values, kw)
    def max(self, values: Any, **kw: Any) -> Tensor: return self._update("max", values, kw)

    def __repr__(self) -> str:
        return f"_IndexUpdateRef({self.x!r}, {self.idx!r})"


def _defers(o: Any) -> bool:
    """`o` handles `Tensor <op> o` itself (its reflected operator): theanir.sparse's matrices."""
    return getattr(type(o), "__theanir_defer__", False)
