"""`from theanir.test_util import check_grads`: jax.test_util (frontend/jax_util.py)."""
from theanir.frontend.test_util import check_grads  # noqa: F401

__all__ = ["check_grads"]
