"""`from theanir.scipy.special import ...`: jax.scipy.special (frontend/scipy/special.py)."""
from theanir.frontend.scipy.special import *  # noqa: F401,F403
from theanir.frontend.scipy.special import __all__  # noqa: F401
