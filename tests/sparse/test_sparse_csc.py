"""Our CSC x vector and CSC x dense loops (dialects/tn/ops/sparse_csc.py) against scipy.sparse:
each CSC x vector variant (scalar, unrolled, vector gathers + scatters), widths around the
column tiles, float32/float64, int32/int64 indices, empty columns and rows, nnz 0, 1 x 1,
B not C-contiguous, 1 and 2 threads (the 2-thread CSC x vector split into partials: the same
bits on every run; CSC x dense bit-identical to 1 thread), dense x CSR (the logistic
regression's X^T g) reaching the kernel, gradients by verify_grad, and the sparsifier where
the width is dynamic."""
from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp

import theanir as th
import theanir.sparse as sparse
import theanir.tensor as T
from theanir.dialects.tn.ops import sparse_csc

DTYPES = (np.float32, np.float64)
TOL = {np.float32: 3e-5, np.float64: 1e-12}
# entries per column: empty columns, columns around the 8-lane chunks and the 4-entry
# unrolled steps, one long column; [] is a matrix of no columns
COLUMNS = [[0, 1, 7, 8, 9, 16, 3, 0, 12, 4, 17], [0, 0, 40], [0], [], [5], [1]]


def _columns_of(lengths, m, dtype, index, seed):
    """An m x len(lengths) CSC matrix whose column j holds lengths[j] distinct, sorted rows."""
    rng = np.random.default_rng(seed)
    rows = [np.sort(rng.choice(m, size=n, replace=False)) for n in lengths]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(index)
    indices = (np.concatenate(rows) if rows else np.zeros(0)).astype(index)
    data = rng.standard_normal(len(indices)).astype(dtype)
    a = sp.csc_matrix((data, indices, indptr), shape=(m, len(lengths)))
    a.indices, a.indptr = a.indices.astype(index), a.indptr.astype(index)  # (SciPy may widen them)
    return a


def _check(got, want, dtype):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("variant", ["gather", "unroll4", "scalar"])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lengths", COLUMNS, ids=str)
def test_csc_times_vector(lengths, dtype, index, variant, monkeypatch):
    monkeypatch.setattr(sparse_csc, "CSC_MATVEC", variant)
    monkeypatch.setattr(th.config, "cache", False)  # (the disk cache keys on the tn module)
    a = _columns_of(lengths, 50, dtype, index, seed=len(lengths))
    v = np.random.default_rng(1).standard_normal(len(lengths)).astype(dtype)
    empty = [j for j, n in enumerate(lengths) if n == 0]
    v[empty] = np.inf  # b[j] of an empty column must not reach a sum (masked lanes)
    got = th.jit(sparse.structured_dot)(a, v)
    _check(got, a @ v, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_csc_small_and_empty(dtype, monkeypatch):
    """1 x 1, nnz 0 (all columns empty), rows that no entry names, a 0-row matrix."""
    monkeypatch.setattr(th.config, "cache", False)
    f = th.jit(sparse.structured_dot)
    one = sp.csc_matrix(np.array([[2.5]], dtype=dtype))
    _check(f(one, np.array([3.0], dtype=dtype)), one @ np.array([3.0], dtype=dtype), dtype)
    _check(f(one, np.ones((1, 4), dtype=dtype)), one @ np.ones((1, 4), dtype=dtype), dtype)
    for a in (sp.csc_matrix((6, 9), dtype=dtype), sp.csc_matrix((0, 9), dtype=dtype)):
        for b in (np.ones(9, dtype=dtype), np.ones((9, 5), dtype=dtype)):
            np.testing.assert_array_equal(np.asarray(f(a, b)), a @ b)
    rows_empty = _columns_of([3, 0, 2], 40, dtype, np.int32, seed=4)  # most of 40 rows empty
    _check(f(rows_empty, np.ones(3, dtype=dtype)), rows_empty @ np.ones(3, dtype=dtype), dtype)


DENSE_WIDTHS = [2, 7, 8, 9, 33, 64, 65, 100]


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", DENSE_WIDTHS)
@pytest.mark.parametrize("lengths", COLUMNS, ids=str)
def test_csc_times_dense(lengths, n, dtype, index, monkeypatch):
    monkeypatch.setattr(th.config, "cache", False)
    a = _columns_of(lengths, 50, dtype, index, seed=len(lengths) + n)
    b = np.random.default_rng(n).standard_normal((len(lengths), n)).astype(dtype)
    b[[j for j, c in enumerate(lengths) if c == 0]] = np.inf  # B rows of empty columns: unread
    _check(th.jit(sparse.structured_dot)(a, b), a @ b, dtype)


def _big(m, k, density, dtype, integer=False, seed=0):
    a = sp.random(m, k, density, format="csc", random_state=seed, dtype=np.float64)
    if integer:  # small integers: every partial sum exact, so any summation order gives the same bits
        a.data = np.round(a.data * 8) - 4
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_csc_times_vector_threads(dtype, monkeypatch):
    """From CSC_PARALLEL_MIN_NNZ nonzeros (lowered here) the 2-thread kernel splits the columns
    over 2 workers' partials, added in worker order: the same bits on every run. 1 thread sums
    each row in column order, 2 threads in two halves: the same bits where every sum is exact
    (integers), else equal within rounding."""
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(sparse_csc, "CSC_PARALLEL_MIN_NNZ", 1 << 14)
    a = _big(3000, 2000, 0.01, dtype)  # 6 x 10^4 nonzeros
    assert a.nnz >= sparse_csc.CSC_PARALLEL_MIN_NNZ
    ai = _big(3000, 2000, 0.01, dtype, integer=True)
    v = np.random.default_rng(0).standard_normal(2000).astype(dtype)
    vi = np.round(v * 4)
    out = {}
    for threads in (1, 2):
        monkeypatch.setattr(th.config, "threads", threads)
        f = th.jit(sparse.structured_dot)
        first = np.asarray(f(a, v)).copy()
        _check(first, a @ v, dtype)
        for _ in range(5):
            np.testing.assert_array_equal(np.asarray(f(a, v)), first)
        out[threads] = np.asarray(f(ai, vi.astype(dtype))).copy()
    np.testing.assert_array_equal(out[1], out[2])
    np.testing.assert_array_equal(out[1], ai @ vi.astype(dtype))


@pytest.mark.parametrize("layout", ["contiguous", "fortran", "strided", "transposed"])
def test_csc_times_dense_threads_and_layouts(layout, monkeypatch):
    """CSC x dense on 1 and 2 threads (the column tiles split over the threads: the same bits)
    and with B not C-contiguous (Fortran order, every other column, a transpose)."""
    monkeypatch.setattr(th.config, "cache", False)
    a = _big(1200, 400, 0.05, np.float64, seed=3)
    wide = np.random.default_rng(2).standard_normal((400, 130))
    b = {"contiguous": np.ascontiguousarray(wide[:, :64]), "fortran": np.asfortranarray(wide[:, :64]),
         "strided": wide[:, ::2], "transposed": np.ascontiguousarray(wide[:, :64].T).T}[layout]
    out = {}
    for threads in (1, 2):
        monkeypatch.setattr(th.config, "threads", threads)
        out[threads] = np.asarray(th.jit(sparse.structured_dot)(a, b)).copy()
        np.testing.assert_allclose(out[threads], a @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(out[1], out[2])


@pytest.mark.parametrize("threads", [1, 2])
def test_dense_times_csr_reaches_the_kernel(threads, monkeypatch):
    """structured_dot(g, X), X CSR (the logistic regression's X^T g): a CSC x vector product
    of X's arrays, lowered to our kernel (vector.scatter), not the sparsifier; g @ X of a
    dense matrix g: CSC x dense (vector.transfer_write into the result)."""
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(th.config, "threads", threads)
    x = sp.random(300, 200, 0.05, format="csr", random_state=0)
    g = np.random.default_rng(0).standard_normal(300)
    f = th.jit(sparse.structured_dot)
    text = f.lower(g, x).as_text("linalg")  # (the kernel inlined into main)
    assert re.search(r"vector.scatter %\w+\[%\w+\] \[%\w+\], %\w+, %\w+ : tensor<200xf64>", text), text[:3000]
    assert "sparse_tensor" not in text
    np.testing.assert_allclose(np.asarray(f(g, x)), x.T @ g, rtol=1e-12, atol=1e-12)
    gm = np.random.default_rng(1).standard_normal((3, 300))
    text = f.lower(gm, x).as_text("linalg")
    assert "vector.transfer_write" in text and "sparse_tensor" not in text
    np.testing.assert_allclose(np.asarray(f(gm, x)), gm @ x, rtol=1e-12, atol=1e-12)


def test_csc_dynamic_width_takes_the_sparsifier():
    """A dense operand of dynamic width (th.function's dims) keeps MLIR's sparsifier."""
    x, y = sparse.csc_matrix("x"), T.dmatrix("y")
    f = th.function([x, y], sparse.structured_dot(x, y))
    a = _columns_of([3, 0, 5, 2], 10, np.float64, np.int32, seed=1)
    b = np.random.default_rng(0).standard_normal((4, 6))
    np.testing.assert_allclose(np.asarray(f(a, b)), a @ b, rtol=1e-12, atol=1e-12)
    assert "sparse_tensor.assemble" in f.lower(a, b).as_text("linalg")
    text = th.jit(sparse.structured_dot).lower(a, b).as_text("linalg")
    assert "sparse_tensor" not in text  # (static width: ours)


@pytest.mark.parametrize("n", [1, 3])
def test_csc_verify_grad(n):
    """Gradients through CSC products (ours, both ways: A^T C_bar is a CSR product, the
    sddmm on the pattern) by finite differences, w.r.t. the values and the dense operand."""
    a = _columns_of([2, 0, 3, 1, 4], 6, np.float64, np.int32, seed=2)
    w = np.random.default_rng(1).standard_normal((5, n)) * 0.5

    def fn(d, w):
        s = sparse.CSC(d, a.indices, a.indptr, a.shape)
        return th.sum(th.tanh(sparse.structured_dot(s, w[:, 0] if n == 1 else w)))
    th.verify_grad(fn, [a.data.copy(), w], rng=np.random.default_rng(2))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("stack", ["hstack", "vstack"])
def test_jvp_of_products_of_computed_operands(stack, fmt):
    """The jvp of a product whose dense operand is computed (B = w * 1.5 or a concatenation):
    two calls of one kernel, A @ dB and dA @ B. Reading the arguments in front of the loops,
    `cse` merged the calls' reads of B, and dB was computed into B's buffer before the second
    call read B (forward mode off by 2x on CSR x dense and CSC x dense)."""
    from sparse_support import _matrix
    a = _matrix(5, 6, 0.4, fmt, np.float64)
    w = np.random.default_rng(1).standard_normal((6, 2)) * 0.5
    make = sparse.CSR if fmt == "csr" else sparse.CSC

    def fn(d, w):
        s = make(d, a.indices, a.indptr, a.shape)
        if stack == "hstack":
            return th.sum(th.tanh(sparse.structured_dot(sparse.hstack([s, s]), th.concatenate([w, w]))))
        return th.sum(th.tanh(sparse.structured_dot(sparse.vstack([s, s * 2.0]), w * 1.5)))
    th.verify_grad(fn, [a.data.copy(), w], rng=np.random.default_rng(2))


def test_logreg_on_2_threads_with_partials(monkeypatch):
    """tests/sparse/test_sparse_logreg.py on 2 threads with X^T g split over the workers'
    partials (the switch lowered to its 2.8 x 10^5 nonzeros), three times: the sparsifier's
    parallel loop lost updates here, differently each run."""
    from test_sparse_logreg import test_logistic_regression_trains_with_structured_dot as train
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(th.config, "threads", 2)
    monkeypatch.setattr(sparse_csc, "CSC_PARALLEL_MIN_NNZ", 1 << 14)
    for _ in range(3):
        train()
