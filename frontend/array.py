"""`th.Array`: the result of a compiled call (runtime/src/array.h; NumPy interop in
theanir/runtime/__init__.py).

    y = f(x)                 # returns at once; f runs on the runtime's worker
    y.shape, y.dtype         # known without waiting
    np.asarray(y)            # waits, then the data without a copy
    y.block_until_ready()    # waits; raises the call's error with its original message

Reading waits: `np.asarray`, `.numpy()`, printing, indexing, arithmetic. Passing an Array to
another compiled function does not wait: the runtime orders the calls. With
`th.config.sync = True` (THEANIR_SYNC=1) calls run inline and return Arrays that are ready.

JAX's manners (installed here, the runtime layer below cannot import the frontend): an
Array is immutable (`y[0] = 1` raises and points to `y.at[0].set(1)`), and its operators,
indexing and array methods (`y - ndarray`, `y.T`, `y.mean(0)`, `y[1:]`) return th.Arrays.
Those are computed by NumPy on the data (one op, no compile) and wrapped; a result of a dtype
the runtime does not hold (float16, complex ...) stays a NumPy value. Methods that are not
array-valued (`.item()`, `.tolist()`) return what NumPy returns.
"""
import operator
import sys
from typing import Any, Callable

import numpy as np

from theanir.runtime import DTYPE_CODES, Array, array_from_numpy, synchronize

from .tensor import _IndexUpdateHelper

__all__ = ["Array", "synchronize", "install_at", "wrap"]


def _at(self: Array) -> Any:
    # the eager functions are looked up per use: a reference held by the (nanobind) type
    # would keep compiled functions alive past the interpreter's teardown of the runtime
    th = sys.modules["theanir.frontend"]
    return _IndexUpdateHelper(self, th.index_update, th.getitem)


def wrap(value: Any) -> Any:
    """A NumPy array or scalar as a (ready) th.Array; anything else as it is."""
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype in DTYPE_CODES:
        return array_from_numpy(value)
    return value


def _data(x: Any) -> Any:
    return x.numpy() if isinstance(x, Array) else x


def _numpy_op(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    def method(self: Array, *args: Any, **kwargs: Any) -> Any:
        out = fn(self.numpy(), *(_data(a) for a in args), **{k: _data(v) for k, v in kwargs.items()})
        return NotImplemented if out is NotImplemented else wrap(out)

    method.__name__ = name
    return method


_BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
           "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow, "matmul": operator.matmul,
           "and": operator.and_, "or": operator.or_, "xor": operator.xor, "lshift": operator.lshift,
           "rshift": operator.rshift}
_UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs, "invert": operator.invert}
_COMPARE = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
            "ge": operator.ge}
# ndarray methods whose results are arrays: wrapped (the rest keep NumPy's results)
_METHODS = ("sum", "mean", "max", "min", "prod", "std", "var", "argmax", "argmin", "any", "all",
            "cumsum", "cumprod", "reshape", "transpose", "swapaxes", "squeeze", "ravel", "flatten",
            "astype", "clip", "round", "dot", "conj", "take", "repeat", "diagonal", "trace", "sort",
            "argsort", "copy", "nonzero", "ptp")


def _getattr(self: Array, name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(self.numpy(), name)
    if name in ("T", "mT", "real", "imag"):
        return wrap(value)
    return value


def _setitem(self: Array, key: Any, value: Any) -> None:
    raise TypeError("th.Array is immutable (as a JAX array): x[idx] = y cannot assign; use "
                    "x = x.at[idx].set(y) (also .add, .multiply, .min, .max), which returns a new array")


def install_at() -> None:
    """Give th.Array JAX's `y = x.at[idx].set(v)` (.add, .multiply, .min, .max, .get ...),
    computed by the eager th.index_update / th.getitem, and the manners above (installed from
    frontend/__init__.py: the runtime layer below cannot import the frontend)."""
    Array.at = property(_at)
    for name, fn in _BINARY.items():
        setattr(Array, f"__{name}__", _numpy_op(fn, f"__{name}__"))
        setattr(Array, f"__r{name}__", _numpy_op(lambda a, b, fn=fn: fn(b, a), f"__r{name}__"))
    for name, fn in {**_UNARY, **_COMPARE}.items():
        setattr(Array, f"__{name}__", _numpy_op(fn, f"__{name}__"))
    Array.__getitem__ = _numpy_op(operator.getitem, "__getitem__")
    Array.__iter__ = lambda self: (wrap(row) for row in self.numpy())
    Array.__setitem__ = _setitem
    Array.__getattr__ = _getattr
    for name in _METHODS:
        setattr(Array, name, _numpy_op(lambda a, *args, name=name, **kw: getattr(a, name)(*args, **kw), name))
    Array.T = property(lambda self: wrap(self.numpy().T))
    Array.ndim = property(lambda self: len(self.shape))
    Array.size = property(lambda self: int(np.prod(self.shape, dtype=np.int64)))
