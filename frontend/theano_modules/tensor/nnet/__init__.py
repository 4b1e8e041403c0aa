"""`theanir.tensor.nnet` (`T.nnet`): Theano's neural-network helpers (see theanir.frontend.nnet)."""
from theanir.frontend.nnet import *  # noqa: F401,F403
from theanir.frontend.nnet import __all__  # noqa: F401
