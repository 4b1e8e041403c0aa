"""`theanir.sandbox.rng_mrg`: Theano's MRG_RandomStreams (see theanir.frontend.random_streams)."""
from theanir.frontend.random_streams import MRG_RandomStreams  # noqa: F401

__all__ = ["MRG_RandomStreams"]
