"""`from theanir.scipy.linalg import ...`: jax.scipy.linalg (frontend/scipy/linalg.py)."""
from theanir.frontend.scipy.linalg import *  # noqa: F401,F403
from theanir.frontend.scipy.linalg import __all__  # noqa: F401
