"""`theanir.tensor.xlogx` (`T.xlogx`): x·log(x) and x·log(y) with 0·log 0 = 0 (see theanir.frontend.xlogx)."""
from theanir.frontend.xlogx import *  # noqa: F401,F403
from theanir.frontend.xlogx import __all__  # noqa: F401
