"""`import theanir.tensor as T`: Theano's symbolic namespace (see theanir.frontend.tensor_module)."""
from theanir.frontend.tensor_module import *  # noqa: F401,F403
from theanir.frontend.tensor_module import __all__, __dir__, __getattr__  # noqa: F401
