"""`theanir.tensor.signal.pool`: Theano's pooling (`pool.pool_2d`), see theanir.frontend.pool."""
from theanir.frontend.conv_symbolic import pool_2d

__all__ = ["pool_2d"]
