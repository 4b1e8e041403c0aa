"""`th.scipy`: jax.scipy's special functions, linear algebra and distributions, composed
from theanir functions (traced, or computed eagerly on concrete arrays), with derivatives."""
from . import linalg, special, stats  # noqa: F401

__all__ = ["linalg", "special", "stats"]
