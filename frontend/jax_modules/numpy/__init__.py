"""`import theanir.numpy as jnp`: jax.numpy's namespace (the theanir package's array functions)."""
from theanir.frontend import *  # noqa: F401,F403
from theanir.frontend import __all__ as _all
from theanir.frontend import Array as ndarray  # noqa: F401  (jnp.ndarray)
from theanir.frontend import linalg  # noqa: F401

__all__ = list(_all) + ["ndarray"]
