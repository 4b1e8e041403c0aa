"""`import theanir.lax as lax`: jax.lax's control flow and dynamic slices (frontend/lax.py)."""
from theanir.frontend.lax import *  # noqa: F401,F403
from theanir.frontend.lax import __all__  # noqa: F401
