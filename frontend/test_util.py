"""`th.test_util`: jax.test_util's `check_grads` (frontend/jax_util.py)."""
from .jax_util import check_grads  # noqa: F401

__all__ = ["check_grads"]
