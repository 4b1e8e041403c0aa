"""Automatic differentiation over tn IR: forward mode (jvp) and reverse mode as jvp + transpose.

Importing the package registers the derivative rules of the region ops (`control.py`) onto
the dialect's OpDefs: every user of the driver imports through here first.
"""
from .ad import DifferentiationError, jvp_values, vjp_values  # noqa: F401
from . import control  # noqa: F401,E402  (registers tn.scan / tn.cond jvp and transpose rules)
from .batching import BatchingError, batch_values, placeholder  # noqa: F401,E402  (vmap)
from . import control_batching  # noqa: F401,E402  (registers tn.scan / tn.cond batching rules)
