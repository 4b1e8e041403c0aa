"""MLIR's sparsifier on threads (theanir-sparsify, th.config.threads > 1): the kernels whose
outermost loop is a parallel one (CSR x dense of a width known at run time only, a sparse
matrix to dense) get the sparsifier's dense-outer-loop strategy, an OpenMP loop over their
rows (columns for CSC to dense); CSC x dense, whose outer loop is the summed index, stays
serial (on threads it lost updates: the logistic regression's X^T g). Results against SciPy
on 1 and 2 threads, and the loops each kernel got."""
from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp

import theanir as th
import theanir.sparse as sparse
import theanir.tensor as T


def _matrix(m, k, fmt, dtype, seed=0):
    a = sp.random(m, k, density=0.05, format="csr", random_state=seed, dtype=np.float64).tolil()
    a[m // 2, :] = 0  # an empty row and column
    a[:, k // 3] = 0
    return a.asformat(fmt).astype(dtype)


def _kernel(text: str, prefix: str) -> str:
    """The body of the first function named `prefix`... in a module's text."""
    m = re.search(r"func\.func (?:private )?@" + prefix + r"\w*\(.*?\n  \}\n", text, re.S)
    assert m, f"no kernel {prefix} in the module"
    return m.group(0)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparsifier_kernels_on_threads(fmt, dtype, threads, monkeypatch):
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(th.config, "threads", threads)
    a = _matrix(300, 200, fmt, dtype)
    x = sparse.csr_matrix("x", dtype=np.dtype(dtype).name) if fmt == "csr" else \
        sparse.csc_matrix("x", dtype=np.dtype(dtype).name)
    b = T.matrix("b", dtype=np.dtype(dtype).name)  # its width known at run time only: the sparsifier
    f = th.function([x, b], [sparse.structured_dot(x, b), sparse.dense_from_sparse(x)])
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for n in (1, 3, 17):
        bv = np.random.default_rng(n).standard_normal((200, n)).astype(dtype)
        prod, dense = f(a, bv)
        np.testing.assert_allclose(np.asarray(prod), a @ bv, rtol=tol, atol=tol)
        np.testing.assert_array_equal(np.asarray(dense), a.toarray())
    text = f.lower(a, bv).as_text("bufferized")
    product, to_dense = _kernel(text, f"__theanir_sparse_mm_{fmt}"), _kernel(text, f"__theanir_sparse_to_dense_{fmt}")
    assert ("scf.parallel" in to_dense) == (threads > 1)
    # CSR x dense: rows on the threads; CSC x dense: serial whatever the threads
    assert ("scf.parallel" in product) == (threads > 1 and fmt == "csr")


def test_transposed_product_stays_right_on_threads(monkeypatch):
    """X^T g (a CSR matrix read transposed: CSC x vector), the kernel that raced when every
    sparsifier kernel ran on threads: the same as SciPy on 2 threads, call after call."""
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(th.config, "threads", 2)
    rng = np.random.default_rng(1)
    xm = sp.random(40000, 3000, density=0.01, format="csr", random_state=2)  # big enough to race
    x, g = sparse.csr_matrix("x"), T.matrix("g")
    f = th.function([x, g], sparse.structured_dot(sparse.transpose(x), g))
    gv = rng.standard_normal((40000, 3))
    want = xm.T @ gv
    for _ in range(20):
        np.testing.assert_allclose(np.asarray(f(xm, gv)), want, rtol=1e-12, atol=1e-12)
