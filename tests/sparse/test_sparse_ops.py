"""theanir.sparse against scipy.sparse: products, conversions, inputs and outputs, bad input.

Every case runs through th.jit (static shapes) and th.function (dynamic dims by default;
the sparse kernels make it compile per shape), CSR and CSC, float32 and float64, with empty
rows and empty matrices."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import theanir as th
import theanir.sparse as sparse
import theanir.tensor as T

from sparse_support import _close, _matrix

FORMATS = ("csr", "csc")
DTYPES = (np.float32, np.float64)


SHAPES = [(5, 7, 0.3), (1, 1, 1.0), (4, 3, 0.0), (0, 3, 0.0), (3, 0, 0.0), (6, 6, 0.05)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,density", SHAPES)
def test_structured_dot_jit(fmt, dtype, m, k, density):
    a = _matrix(m, k, density, fmt, dtype)
    b = np.random.default_rng(1).standard_normal((k, 3)).astype(dtype)
    f = th.jit(sparse.structured_dot)
    _close(f(a, b), a @ b, dtype)
    _close(th.jit(lambda a, v: sparse.structured_dot(a, v))(a, b[:, 0].copy()), a @ b[:, 0], dtype)
    c = np.random.default_rng(2).standard_normal((2, m)).astype(dtype)
    _close(th.jit(lambda c, a: sparse.structured_dot(c, a))(c, a), c @ a, dtype)
    _close(th.jit(lambda a, b: a @ b)(a, b), a @ b, dtype)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_from_sparse_and_transpose(fmt, dtype):
    a = _matrix(5, 7, 0.3, fmt, dtype)
    _close(th.jit(sparse.dense_from_sparse)(a), a.toarray(), dtype)
    t = th.jit(sparse.transpose)(a)
    assert sp.issparse(t) and t.format == ("csc" if fmt == "csr" else "csr")
    _close(t, a.T, dtype)
    _close(th.jit(lambda a: a)(a), a, dtype)  # a sparse result comes back as SciPy


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_function_inputs_outputs_shared(fmt, dtype):
    a = _matrix(5, 7, 0.3, fmt, dtype)
    b = np.random.default_rng(1).standard_normal((7, 3)).astype(dtype)
    make = sparse.csr_matrix if fmt == "csr" else sparse.csc_matrix
    x = make("x", dtype=np.dtype(dtype).name)
    y = T.matrix("y", dtype=np.dtype(dtype).name)
    f = th.function([x, y], [sparse.structured_dot(x, y), sparse.dense_from_sparse(x), sparse.transpose(x)])
    out, dense, t = f(a, b)
    _close(out, a @ b, dtype)
    _close(dense, a.toarray(), dtype)
    _close(t, a.T, dtype)
    a2 = _matrix(5, 7, 0.6, fmt, dtype, seed=3)  # another nnz: the same compile
    _close(f(a2, b)[0], a2 @ b, dtype)
    s = th.shared(a, name="s")
    assert s.get_value().format == fmt
    g = th.function([y], sparse.structured_dot(s, y))
    _close(g(b), a @ b, dtype)
    s.set_value(a2)
    _close(g(b), a2 @ b, dtype)


def test_csm_properties_and_build():
    a = _matrix(4, 6, 0.4, "csr", np.float64)
    x = sparse.csr_matrix("x")
    d, i, p, shape = sparse.csm_properties(x)
    y = sparse.CSR(d * 2, i, p, (4, 6))
    f = th.function([x], sparse.dense_from_sparse(y))
    _close(f(a), 2 * a.toarray(), np.float64)
    g = th.jit(lambda d, i, p: sparse.dense_from_sparse(sparse.CSC(d, i, p, (6, 4))))
    _close(g(a.data, a.indices, a.indptr), a.T.toarray(), np.float64)


def test_unsorted_and_duplicates_are_made_canonical():
    a = _matrix(4, 5, 0.6, "csr", np.float64)
    b = np.arange(10.0).reshape(5, 2)
    messy = sp.csr_matrix((a.data[::-1].copy(), a.indices.copy(), a.indptr.copy()), shape=a.shape)
    for r in range(4):  # reverse each row's entries: unsorted
        lo, hi = a.indptr[r], a.indptr[r + 1]
        messy.indices[lo:hi] = a.indices[lo:hi][::-1]
        messy.data[lo:hi] = a.data[lo:hi][::-1]
    messy.has_sorted_indices = False
    f = th.jit(sparse.structured_dot)
    _close(f(messy, b), a @ b, np.float64)
    dup = sp.csr_matrix((np.array([1.0, 2.0]), np.array([1, 1], np.int32), np.array([0, 2, 2], np.int32)),
                        shape=(2, 5))
    _close(f(dup, b), dup.toarray() @ b, np.float64)
    assert dup.has_canonical_format is False  # the caller's matrix is not changed


def test_bad_input_names_the_argument():
    a = _matrix(4, 5, 0.5, "csr", np.float64)
    b = np.ones((5, 2))
    x = sparse.csr_matrix("x")
    y = T.dmatrix("y")
    f = th.function([x, y], sparse.structured_dot(x, y))
    with pytest.raises(TypeError, match="input 0 'x': declared CSR, got a CSC"):
        f(a.tocsc(), b)
    bad = a.copy()
    bad.indices[0] = 7
    with pytest.raises(ValueError, match="'x': index 7 is out of range"):
        f(bad, b)
    bad = a.copy()
    bad.indptr = bad.indptr[:-1].copy()
    with pytest.raises(ValueError, match="indptr has 4 entries"):
        f(bad, b)
    with pytest.raises(ValueError, match="dense operand has 4 along axis 0, the sparse shape needs 5"):
        np.asarray(f(a, np.ones((4, 2))))  # th.function's dims are dynamic: checked when it runs
    with pytest.raises(TypeError, match="float32 or float64"):
        f(a.astype(np.int64), b)
    with pytest.raises(TypeError, match="expected a scipy.sparse"):
        f(a.toarray(), b)
    g = th.jit(sparse.structured_dot)
    with pytest.raises(ValueError, match="shapes"):
        g(a, np.ones((3, 2)))
    bad = a.copy()
    bad.indices[-1] = -1
    with pytest.raises(ValueError, match="out of range"):
        g(bad, b)


def test_dense_compiles_do_not_meet_the_sparsifier():
    assert "sparse_tensor" not in th.jit(lambda x: x * 2).lower(np.ones(3)).as_text("linalg")
    a = _matrix(4, 5, 0.5, "csc", np.float64)  # (dense_from_sparse: the sparsifier; products: our loops)
    text = th.jit(sparse.dense_from_sparse).lower(a).as_text("linalg")
    assert "sparse_tensor.assemble" in text
    for m in (a, a.tocsr()):
        text = th.jit(sparse.structured_dot).lower(m, np.ones((5, 2))).as_text("linalg")
        assert "sparse_tensor" not in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_structured_gradient_through_data(fmt):
    a = _matrix(5, 7, 0.4, fmt, np.float64)
    b = np.random.default_rng(1).standard_normal((7, 3))
    build = sparse.CSR if fmt == "csr" else sparse.CSC

    def loss(d, b):
        return th.sum(th.tanh(sparse.structured_dot(build(d, a.indices, a.indptr, a.shape), b)))

    gd, gb = th.grad(loss, argnums=(0, 1))(a.data, b)
    dense = a.toarray()
    g_out = 1 - np.tanh(dense @ b) ** 2
    coo = a.tocoo()
    np.testing.assert_allclose(np.asarray(gd), (g_out @ b.T)[coo.row, coo.col], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(gb), dense.T @ g_out, rtol=1e-12, atol=1e-12)
    th.verify_grad(loss, [a.data, b], rng=np.random.default_rng(2))
