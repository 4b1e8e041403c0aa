"""`th.Array`: the result of a compiled call (runtime/src/array.h; NumPy interop in
theanir/runtime/__init__.py).

    y = f(x)                 # returns at once; f runs on the runtime's worker
    y.shape, y.dtype         # known without waiting
    np.asarray(y)            # waits, then the data without a copy
    y.block_until_ready()    # waits; raises the call's error with its original message

Reading waits: `np.asarray`, `.numpy()`, printing, indexing, arithmetic (done by NumPy on
the data). Passing an Array to another compiled function does not wait: the runtime orders
the calls. With `th.config.sync = True` (THEANIR_SYNC=1) calls run inline and return Arrays
that are ready.
"""
import sys
from typing import Any

from theanir.runtime import Array, synchronize

from .tensor import _IndexUpdateHelper

__all__ = ["Array", "synchronize", "install_at"]


def _at(self: Array) -> Any:
    # the eager functions are looked up per use: a reference held by the (nanobind) type
    # would keep compiled functions alive past the interpreter's teardown of the runtime
    th = sys.modules["theanir.frontend"]
    return _IndexUpdateHelper(self, th.index_update, th.getitem)


def install_at() -> None:
    """Give th.Array JAX's `y = x.at[idx].set(v)` (.add, .multiply, .min, .max, .get ...),
    computed by the eager th.index_update / th.getitem (installed from frontend/__init__.py:
    the runtime layer below cannot import the frontend)."""
    Array.at = property(_at)
