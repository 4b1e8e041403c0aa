"""`theanir.tensor.signal.pool`: Theano's pooling (`pool.pool_2d`), see theanir.frontend.pool."""
from theanir.frontend.lift import lift as _lift
from theanir.frontend.pool import pool_2d as _pool_2d

pool_2d = _lift("pool_2d", _pool_2d)
__all__ = ["pool_2d"]
