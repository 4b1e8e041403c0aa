"""`theanir.gradient` (Theano's `theano.gradient`): see theanir.frontend.gradient."""
from theanir.frontend.gradient import *  # noqa: F401,F403
from theanir.frontend.gradient import __all__  # noqa: F401
