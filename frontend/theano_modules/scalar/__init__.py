"""`theanir.scalar` (Theano's `theano.scalar`): see theanir.frontend.scalar."""
from theanir.frontend.scalar import *  # noqa: F401,F403
from theanir.frontend.scalar import __all__  # noqa: F401
