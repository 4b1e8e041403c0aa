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
from theanir.runtime import Array, synchronize

__all__ = ["Array", "synchronize"]
