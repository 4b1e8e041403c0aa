"""Our loop kernels (dialects/tn/ops/sparse_loops.py) against scipy.sparse: A + B, A - B,
A * B (merge: one pass by branches or selects, or two with either count) and A @ B (Gustavson, each row-sorting
strategy), CSR x vector (both row strategies), CSR x dense (our loops and the sparsifier: widths
around the column tiles, 1 and 2 threads, B not C-contiguous), CSR and CSC,
float32/float64, int32/int64 indices, empty rows and columns, empty matrices, 1 x 1, rows
long enough for the bitmap path; results sorted and duplicate-free, as the types promise
(a product that only leaves the program: duplicate-free, rows unsorted as SciPy's);
gradients through them by verify_grad."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import theanir as th
import theanir.sparse as sparse
from theanir.dialects.tn.ops import sparse_loops

FORMATS = ("csr", "csc")
DTYPES = (np.float32, np.float64)
SORTS = ("hybrid", "insertion", "transpose")
# (m, k, n, density): shapes of A (m x k) and, for products, B (k x n); sums use A's shape
SHAPES = [(7, 9, 5, 0.3), (1, 1, 1, 1.0), (0, 3, 4, 0.5), (6, 0, 4, 0.5), (5, 3, 0, 0.5),
          (4, 6, 5, 0.0), (40, 30, 200, 0.2), (50, 60, 70, 0.02)]


def _rand(m, k, density, fmt, dtype, seed, index=np.int32):
    a = sp.random(m, k, density=density, format="csr", random_state=seed, dtype=np.float64)
    a = a.tolil()
    if m > 2:
        a[m // 2, :] = 0  # an empty row
    if k > 2:
        a[:, k // 2] = 0  # an empty column
    a = a.asformat(fmt).astype(dtype)
    a.sort_indices()
    a.indices = a.indices.astype(index)
    a.indptr = a.indptr.astype(index)
    return a


def _check(got, want, fmt, dtype, sorted_rows=True):
    """`got` is `want`: sorted rows without duplicates, or with `sorted_rows` False (a product
    that only leaves the program, as SciPy's own) rows in any order, without duplicates."""
    assert sp.issparse(got) and got.format == fmt and got.dtype == np.dtype(dtype)
    # (SciPy's constructor may narrow int64 indices that fit in int32: either is fine)
    assert got.shape == want.shape
    outer = got.shape[0] if fmt == "csr" else got.shape[1]
    assert got.indptr.shape == (outer + 1,) and got.indptr[0] == 0 and got.indptr[-1] == got.nnz
    assert got.data.shape == got.indices.shape == (got.indptr[-1],)  # (SciPy accepts longer arrays)
    for r in range(outer):  # sorted (or only distinct), no duplicates
        row = got.indices[got.indptr[r]:got.indptr[r + 1]]
        if not sorted_rows:
            row = np.sort(row)
        assert np.all(np.diff(row) > 0), f"row {r} not sorted" if sorted_rows else f"row {r} has duplicates"
    if sorted_rows:
        assert got.has_sorted_indices
    tol = 3e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=tol, atol=tol)


@pytest.mark.parametrize("count", ["one-pass", "selects", "marker", "merge"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_merge(op, shape, fmt, dtype, count, monkeypatch):
    if count == "selects":  # the merge step by selects, not branches
        monkeypatch.setattr(sparse_loops, "MERGE_BRANCHY", False)
        monkeypatch.setattr(th.config, "cache", False)  # (the disk cache keys on the tn module)
    elif count != "one-pass":  # two passes: a count pass (dense marker, or merge for huge inner dims)
        monkeypatch.setattr(sparse_loops, "MERGE_ONE_PASS", False)
        monkeypatch.setattr(th.config, "cache", False)
    if count == "merge":
        monkeypatch.setattr(sparse_loops, "MARKER_MAX_INNER", -1)
    m, k, _, d = shape
    a, b = _rand(m, k, d, fmt, dtype, 0), _rand(m, k, d, fmt, dtype, 1)
    fn = {"add": sparse.add, "sub": sparse.sub, "mul": sparse.mul}[op]
    want = {"add": a + b, "sub": a - b, "mul": a.multiply(b)}[op]
    got = th.jit(fn)(a, b)
    _check(got, want.asformat(fmt), fmt, dtype)
    # the structural pattern: the union (add, sub) or intersection (mul) of the stored entries
    pa, pb = a.toarray() != 0, b.toarray() != 0
    pattern = (pa | pb) if op != "mul" else (pa & pb)
    assert got.nnz == pattern.sum()


@pytest.mark.parametrize("sort", SORTS + ("returned",))
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_spgemm(shape, dtype, fmt, sort, monkeypatch):
    """Each sorting strategy (a returned product sorted too: SPGEMM_RETURNED_UNSORTED off),
    and "returned": the default, a product that only leaves the program is not sorted."""
    if sort != "returned":
        monkeypatch.setattr(sparse_loops, "SPGEMM_SORT", sort)
        monkeypatch.setattr(sparse_loops, "SPGEMM_RETURNED_UNSORTED", False)
        monkeypatch.setattr(th.config, "cache", False)  # (the disk cache keys on the tn module)
    m, k, n, d = shape
    a, b = _rand(m, k, d, fmt, dtype, 2), _rand(k, n, d, fmt, dtype, 3)
    _check(th.jit(sparse.true_dot)(a, b), (a @ b).asformat(fmt), fmt, dtype, sorted_rows=sort != "returned")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sort", SORTS)
def test_spgemm_read_in_the_program_is_sorted(fmt, sort, monkeypatch):
    """A product that another op of the program reads (a merge needs sorted rows: unsorted
    ones would give duplicates and wrong sums) is sorted, also when it is returned too."""
    monkeypatch.setattr(sparse_loops, "SPGEMM_SORT", sort)
    monkeypatch.setattr(th.config, "cache", False)
    a, b = _rand(40, 30, 0.2, fmt, np.float64, 2), _rand(30, 200, 0.2, fmt, np.float64, 3)
    c = _rand(40, 200, 0.1, fmt, np.float64, 4)
    p, s = th.jit(lambda a, b, c: (lambda p: (p, sparse.add(p, c)))(sparse.true_dot(a, b)))(a, b, c)
    _check(p, (a @ b).asformat(fmt), fmt, np.float64)
    _check(s, (a @ b + c).asformat(fmt), fmt, np.float64)
    v = np.arange(200.0)
    got = th.jit(lambda a, b, v: sparse.structured_dot(sparse.true_dot(a, b), v))(a, b, v)
    np.testing.assert_allclose(np.asarray(got), (a @ b) @ v, rtol=1e-12)


@pytest.mark.parametrize("fmt", FORMATS)
def test_unsorted_product_given_back(fmt):
    """A returned product is unsorted, as SciPy's (has_sorted_indices False); given back to a
    program it is sorted first, on a copy (frontend/sparse.py canonical): the caller's
    matrix stays as it was."""
    a, b = _rand(40, 30, 0.2, fmt, np.float64, 2), _rand(30, 200, 0.2, fmt, np.float64, 3)
    p = th.jit(sparse.true_dot)(a, b)
    want = (a @ b).asformat(fmt)
    assert not p.has_sorted_indices  # rows of ~20 columns out of 200, in the order first met
    indices = p.indices.copy()
    _check(th.jit(sparse.add)(p, want), (2 * want).asformat(fmt), fmt, np.float64)
    _check(th.jit(sparse.mul)(p, want), want.multiply(want).asformat(fmt), fmt, np.float64)
    _check(th.jit(sparse.true_dot)(p, p.T.asformat(fmt)), (want @ want.T).asformat(fmt), fmt, np.float64,
           sorted_rows=False)
    v = np.arange(200.0)
    np.testing.assert_allclose(np.asarray(th.jit(sparse.structured_dot)(p, v)), want @ v, rtol=1e-12)
    np.testing.assert_array_equal(p.indices, indices)


@pytest.mark.parametrize("fmt", FORMATS)
def test_int64_indices_and_dense_rows(fmt):
    """int64 indices (SciPy's choice for big matrices), and rows long enough that the
    hybrid product takes both paths (list + insertion sort, bitmap) in one call."""
    a = _rand(30, 80, 0.05, fmt, np.float64, 4, np.int64)
    a = sp.vstack([a, sp.random(3, 80, density=0.9, format=fmt, random_state=5)]).asformat(fmt)
    a.indices, a.indptr = a.indices.astype(np.int64), a.indptr.astype(np.int64)
    b = _rand(80, 300, 0.3, fmt, np.float64, 6, np.int64)
    _check(th.jit(sparse.true_dot)(a, b), (a @ b).asformat(fmt), fmt, np.float64, sorted_rows=False)
    both = th.jit(lambda a, b: sparse.add(sparse.true_dot(a, b), sparse.true_dot(a, b)))  # read: sorted
    _check(both(a, b), (2 * (a @ b)).asformat(fmt), fmt, np.float64)
    _check(th.jit(sparse.add)(a, a * 2.0), (a * 3.0).asformat(fmt), fmt, np.float64)


@pytest.mark.parametrize("fmt", FORMATS)
def test_gradients_through_kernels(fmt):
    """Structured gradients (on the data) through A + B, A * B and A @ B^T, by verify_grad."""
    a = _rand(5, 6, 0.4, fmt, np.float64, 7)
    b = _rand(5, 6, 0.4, fmt, np.float64, 8)
    make = sparse.CSR if fmt == "csr" else sparse.CSC

    def loss(da, db):
        x, y = make(da, a.indices, a.indptr, a.shape), make(db, b.indices, b.indptr, b.shape)
        s = sparse.dense_from_sparse(sparse.add(x, y)) ** 2
        p = sparse.dense_from_sparse(sparse.mul(x, y))
        g = sparse.dense_from_sparse(sparse.true_dot(x, sparse.transpose(y)))
        return th.sum(s) + th.sum(th.sin(p)) + th.sum(g ** 2)

    th.verify_grad(loss, [a.data.copy(), b.data.copy()], rng=np.random.default_rng(0))


def test_repeated_calls_other_patterns():
    """One compiled kernel serves every pattern (nnz varies between calls)."""
    f = th.jit(sparse.true_dot)
    g = th.jit(sparse.add)
    for seed in range(4):
        a = _rand(20, 15, 0.1 * (seed + 1), "csr", np.float64, seed)
        b = _rand(15, 20, 0.1 * (4 - seed), "csr", np.float64, seed + 10)
        _check(f(a, b), a @ b, "csr", np.float64, sorted_rows=False)
        _check(g(a, b.T.tocsr()), a + b.T.tocsr(), "csr", np.float64)


def _rows_of(lengths, k, dtype, index, seed):
    """A CSR matrix whose rows hold `lengths` entries (sorted distinct columns < k)."""
    rng = np.random.default_rng(seed)
    cols = [np.sort(rng.choice(k, size=n, replace=False)) for n in lengths]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(index)
    indices = (np.concatenate(cols) if cols else np.zeros(0)).astype(index)
    data = rng.standard_normal(indices.size).astype(dtype)
    return sp.csr_matrix((data, indices, indptr), shape=(len(lengths), k))


# row lengths: averages of 4-16 take the straight-line path for a row's first 8 entries (empty
# rows, rows of 1..8 and longer ones among them), others the loop alone; the gathers take
# chunks of 8 and a masked rest (rows of 7, 8, 9, 15, 16, 17, 24, 25: chunk boundaries)
MATVEC_ROWS = [[0, 1, 7, 8, 9, 16, 3, 0, 12, 8], [8] * 6, [4] * 5, [16, 16, 0, 1], [0, 0, 40],
               [1, 0, 2, 1], [30, 25], [5], [0], [], [15, 17, 24, 25, 7, 9]]


@pytest.mark.parametrize("mode", ["gather", "straight", "loop"])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lengths", MATVEC_ROWS, ids=str)
def test_csr_times_vector(lengths, dtype, index, mode, monkeypatch):
    """Each kernel: vector gathers (the default), straight-line lanes, the loop alone."""
    monkeypatch.setattr(sparse_loops, "MATVEC_GATHER", mode == "gather")
    monkeypatch.setattr(sparse_loops, "MATVEC_STRAIGHT", mode == "straight")
    monkeypatch.setattr(th.config, "cache", False)  # (the disk cache keys on the tn module)
    a = _rows_of(lengths, 50, dtype, index, seed=len(lengths))
    v = np.random.default_rng(1).standard_normal(50).astype(dtype)
    v[0] = np.inf if 0 not in a.indices else v[0]  # lanes past a row's end must not read b[0] into a sum
    got = np.asarray(th.jit(sparse.structured_dot)(a, v))
    want = a @ v
    tol = 3e-5 if dtype == np.float32 else 1e-12
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# CSR x dense (sparse_loops.csr_dense_text): widths around the column tiles (32 float64, 64
# float32) and their 8-lane chunks; row lengths with empty rows, one long row, no rows
DENSE_WIDTHS = [2, 7, 8, 9, 33, 64, 65, 100]
DENSE_ROWS = [[0, 1, 7, 8, 9, 16, 3, 0, 12, 8], [0, 0, 40], [0], [], [5]]


@pytest.mark.parametrize("loops", [True, False], ids=["loops", "sparsifier"])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", DENSE_WIDTHS)
@pytest.mark.parametrize("lengths", DENSE_ROWS, ids=str)
def test_csr_times_dense(lengths, n, dtype, index, loops, monkeypatch):
    """CSR A @ B, B dense k x n: our loops (the default) and MLIR's sparsifier, as SciPy's."""
    monkeypatch.setattr(sparse_loops, "CSR_DENSE_LOOPS", loops)
    monkeypatch.setattr(th.config, "cache", False)  # (the disk cache keys on the tn module)
    a = _rows_of(lengths, 50, dtype, index, seed=len(lengths) + n)
    b = np.random.default_rng(n).standard_normal((50, n)).astype(dtype)
    if 0 not in a.indices:
        b[0] = np.inf  # a row of B no entry names must not reach a sum
    got = np.asarray(th.jit(sparse.structured_dot)(a, b))
    want = a @ b
    tol = 3e-5 if dtype == np.float32 else 1e-12
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("layout", ["contiguous", "fortran", "strided"])
def test_csr_times_dense_threads_and_layouts(threads, layout, monkeypatch):
    """Our CSR x dense loops on 1 and 2 threads (the rows an OpenMP loop) and with B not
    C-contiguous (Fortran order, every other column of a wider array): SciPy's result."""
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(th.config, "threads", threads)
    a = _rows_of([(i * 7) % 23 for i in range(300)], 400, np.float64, np.int32, seed=3)
    wide = np.random.default_rng(2).standard_normal((400, 130))
    b = {"contiguous": np.ascontiguousarray(wide[:, :65]), "fortran": np.asfortranarray(wide[:, :65]),
         "strided": wide[:, ::2]}[layout]
    got = np.asarray(th.jit(sparse.structured_dot)(a, b))
    np.testing.assert_allclose(got, a @ b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [1, 5, 40])
def test_csr_times_dense_empty_matrix(n, monkeypatch):
    """No nonzeros at all (an m x k CSR matrix with nnz 0) and no rows: zeros / an empty result."""
    monkeypatch.setattr(th.config, "cache", False)
    for a in (sp.csr_matrix((6, 9)), sp.csr_matrix((0, 9))):
        b = np.random.default_rng(0).standard_normal((9, n))
        got = np.asarray(th.jit(sparse.structured_dot)(a, b))
        np.testing.assert_array_equal(got, (a @ b))
