"""`import theanir.scipy`: jax.scipy (frontend/scipy/)."""
from . import linalg, special, stats  # noqa: F401

__all__ = ["linalg", "special", "stats"]
