"""theanir: write NumPy-style Python, trace it into the `tn` MLIR dialect, run it natively.

The public namespace is NumPy-like (`th.exp`, `th.sum`, `th.matmul` ...) plus `th.jit` and
`th.config`. The array functions trace inside `th.jit` and compute eagerly on concrete data
outside it (frontend/eager.py).
"""
from __future__ import annotations

from theanir.codegen.version import __version__  # one definition, in the lowest layer that records it

from ._mlir_check import check_mlir as _check_mlir

_check_mlir()

from . import numpy_api as _np_api  # noqa: E402
from .api import JitFunction, Lowered, jit  # noqa: E402
from .array import Array, synchronize  # noqa: E402
from .autodiff import *  # noqa: E402,F401,F403
from .autodiff import __all__ as _ad_all  # noqa: E402
from .gradcheck import GradientError, verify_grad  # noqa: E402
from .config import config  # noqa: E402
from .numpy_api import *  # noqa: E402,F401,F403
from .tensor import Tensor, TracerError  # noqa: E402
from . import symbolic_infer as _symbolic_infer  # noqa: E402,F401  (types of derived variables)
from . import symbolic_shape as _symbolic_shape  # noqa: E402,F401  (Variable.reshape, .flatten)
from .symbolic import function, shared  # noqa: E402  (Theano's API; T is theanir.tensor)
from .symbolic_io import In, Mode, Out  # noqa: E402  (theanir.In, theanir.Out, theanir.Mode)
from theanir.dialects.tn.registry import ShapeError  # noqa: E402
from .control_flow import cond, ifelse, scan, switch, until, while_loop  # noqa: E402
from . import control_symbolic as _control_symbolic  # noqa: E402,F401  (th.scan/th.ifelse on Variables)
from . import lax  # noqa: E402  (th.lax.scan / cond / while_loop / fori_loop)
from . import sparse_symbolic as _sparse  # noqa: E402,F401  (scipy.sparse values: pytree nodes, th.shared)
from . import random  # noqa: E402  (th.random: JAX's functional random API)
from . import debug  # noqa: E402  (th.debug.print: JAX's, printing from compiled code)
from . import pickling as _pickling  # noqa: E402,F401  (pickle/deepcopy of th.function, th.jit, graphs)
from .vmap import vmap  # noqa: E402  (th.vmap: batching by per-op rules, docs/vmap.md)

from numpy import bool_, float32, float64, int32, int64  # noqa: E402  (th.float32 ...)

_public_np = [n for n in dir(_np_api) if not n.startswith("_") and callable(getattr(_np_api, n))
              and getattr(getattr(_np_api, n), "__module__", "").startswith("theanir.frontend.n")]

# The exported array functions also compute on concrete data outside a trace (op by op under
# th.jit, frontend/eager.py); numpy_api itself, which traced code and T use, stays as it is.
from .eager import eager_functions as _eager_functions  # noqa: E402

globals().update({n: f for n, f in _eager_functions(_np_api, _public_np).items()
                  if globals().get(n) is getattr(_np_api, n)})

from .array import install_at as _install_at  # noqa: E402

_install_at()  # th.Array.at[idx].set(v), computed eagerly

__all__ = sorted(set(_public_np) | set(_ad_all) | {"verify_grad", "GradientError",
    "jit", "JitFunction", "Array", "synchronize", "Lowered", "config", "Tensor", "TracerError", "ShapeError",
    "float32", "float64", "int32", "int64", "bool_", "__version__", "function", "shared",
    "scan", "until", "cond", "ifelse", "switch", "while_loop", "lax", "random", "debug", "In", "Out", "Mode",
})

from .printing import pp  # noqa: E402  (Theano's `theano.pp`; the rest is `import theanir.printing`)

__all__ += ["pp", "vmap"]

# devices (issue 21): th.device_put, th.devices, th.DeviceError, th.Device (docs/cuda.md)
from .device import Device, DeviceError, device_put, devices  # noqa: E402
__all__ += ["Device", "DeviceError", "device_put", "devices"]


# Theano's `import theano` then `theano.printing.debugprint(...)` / `theano.tensor.matrix()`:
# the package's module __getattr__ (written by CMakeLists.txt) imports these on first use.
_THEANO_MODULES = ("tensor", "printing", "gradient", "compile", "sandbox", "scalar", "sparse", "ifelse")


def theano_submodule(name: str):
    """`theanir.<name>` for a Theano module path not imported yet; AttributeError otherwise."""
    if name in _THEANO_MODULES:
        import importlib
        return importlib.import_module(f"theanir.{name}")
    raise AttributeError(f"module 'theanir' has no attribute {name!r}")

# JAX's namespace (issue 20): pytrees (th.tree_util, th.tree)
from . import tree, tree_util  # noqa: E402

__all__ += ["tree", "tree_util"]

# constants (jnp.inf ...)
from numpy import e, euler_gamma, inf, nan, newaxis, pi  # noqa: E402

__all__ += ["e", "euler_gamma", "inf", "nan", "newaxis", "pi"]
from . import linalg  # noqa: E402  (th.linalg: LAPACK-free composites with derivatives)

__all__ += ["linalg"]
from . import scipy  # noqa: E402  (th.scipy.special / linalg / stats)

__all__ += ["scipy"]
from . import nn  # noqa: E402  (th.nn: activations, one_hot, standardize, th.nn.initializers)

__all__ += ["nn"]
from . import test_util  # noqa: E402  (th.test_util.check_grads)
from .jax_util import block_until_ready, check_grads, device_put, make_jaxpr, make_tn  # noqa: E402,F811  (pytrees of leaves)

__all__ += ["test_util", "block_until_ready", "check_grads", "make_jaxpr", "make_tn"]  # device_put: pytrees

# dtypes (jnp.uint8 ...): inputs of the narrow ones are widened at the call (frontend/trace.py)
from numpy import float16, int8, int16, uint8, uint16, uint32  # noqa: E402

__all__ += ["float16", "int8", "int16", "uint8", "uint16", "uint32"]
# complex numbers (issue 20): complex64/complex128 tensors, th.real/imag/conj/angle (np_complex.py)
from numpy import complex64, complex128  # noqa: E402

__all__ += ["complex64", "complex128"]
# bfloat16 (issue 20): stored as bfloat16, computed in float32 (frontend/bfloat16.py); ml_dtypes'
from .bfloat16 import bfloat16  # noqa: E402

__all__ += ["bfloat16"]
