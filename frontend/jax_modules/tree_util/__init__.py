"""`import theanir.tree_util`: jax.tree_util (frontend/tree_util.py)."""
from theanir.frontend.tree_util import *  # noqa: F401,F403
from theanir.frontend.tree_util import __all__  # noqa: F401
