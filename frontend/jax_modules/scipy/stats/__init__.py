"""`from theanir.scipy.stats import ...`: jax.scipy.stats (frontend/scipy/stats.py)."""
from theanir.frontend.scipy.stats import *  # noqa: F401,F403
from theanir.frontend.scipy.stats import __all__  # noqa: F401
