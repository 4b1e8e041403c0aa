"""`from theanir import nn` / `import theanir.nn`: jax.nn (frontend/nn.py), with `initializers`."""
from theanir.frontend.nn import *  # noqa: F401,F403
from theanir.frontend.nn import __all__, initializers  # noqa: F401
