"""`theanir.sandbox`: Theano's sandbox paths that classic programs import (rng_mrg)."""
