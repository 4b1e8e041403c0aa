"""`theanir.tensor.nnet.bn`: Theano's batch normalization (see theanir.frontend.nnet_bn)."""
from theanir.frontend.nnet_bn import *  # noqa: F401,F403
from theanir.frontend.nnet_bn import __all__  # noqa: F401
