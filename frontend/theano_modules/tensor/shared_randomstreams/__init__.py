"""`theanir.tensor.shared_randomstreams`: Theano's RandomStreams (see theanir.frontend.random_streams)."""
from theanir.frontend.random_streams import RandomStateSharedVariable, RandomStreams  # noqa: F401

__all__ = ["RandomStreams", "RandomStateSharedVariable"]
