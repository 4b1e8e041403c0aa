"""`import theanir.sparse as sparse`: Theano's sparse module (CSR/CSC matrices, docs/sparse.md).

Forwards to the frontend: `frontend/sparse_symbolic.py` (Variables, th.function; each
function also takes traced and SciPy values), `frontend/sparse.py` and `frontend/sparse_ops.py`
(the ops on traced values)."""
from theanir.frontend.sparse import SparseTensor, is_sparse  # noqa: F401
from theanir.frontend.sparse_symbolic import (CSC, CSR, SparseVariable, abs_, add, as_format,  # noqa: F401
                                              as_sparse_variable, col_scale, csc_from_dense, csc_matrix,
                                              csm_properties, csr_from_dense, csr_matrix, dense_from_sparse, dot,
                                              expm1, hstack, log1p, mul, neg, row_scale, sampling_dot, sin,
                                              sp_sum, sqr, sqrt, structured_add, structured_dot, structured_exp,
                                              structured_log, structured_pow, structured_sigmoid, sub, tanh,
                                              transpose, true_dot, vstack)

abs = abs_  # noqa: A001  (Theano's name)
