"""`theanir.tensor.signal`: Theano's signal package (`from theanir.tensor.signal import pool`)."""
from . import pool  # noqa: F401
