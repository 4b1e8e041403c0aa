"""`import theanir.sparse as sparse`: Theano's sparse module (CSR/CSC matrices, docs/sparse.md).

Forwards to the frontend: `frontend/sparse_symbolic.py` (Variables, th.function) and
`frontend/sparse.py` (the ops on traced values)."""
from theanir.frontend.sparse import SparseTensor, is_sparse  # noqa: F401
from theanir.frontend.sparse_symbolic import (CSC, CSR, SparseVariable, as_sparse_variable, csc_matrix,  # noqa: F401
                                              csm_properties, csr_matrix, dense_from_sparse, dot,
                                              structured_dot, transpose)
