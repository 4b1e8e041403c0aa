"""`theanir.tensor.subtensor`: Theano's set/inc_subtensor module (see theanir.frontend.subtensor)."""
from theanir.frontend.subtensor import *  # noqa: F401,F403
from theanir.frontend.subtensor import __all__  # noqa: F401
