"""The rest of theanir.sparse's op list against scipy.sparse: CSR and CSC, float32 and float64,
an empty row, empty matrices (0 x n, n x 0, no nonzeros), through th.jit and th.function."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import theanir as th
import theanir.sparse as sparse
import theanir.tensor as T

from sparse_support import _matrix

FORMATS = ("csr", "csc")
DTYPES = (np.float32, np.float64)
EMPTY = [(0, 4), (3, 0), (3, 4)]  # the last with no nonzeros


def _pair(fmt, dtype, m=5, k=6, seeds=(0, 1)):
    return _matrix(m, k, 0.35, fmt, dtype, seeds[0]), _matrix(m, k, 0.35, fmt, dtype, seeds[1], empty_row=False)


def _data(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


CASES = {
    # name: (theanir function of (a, b, dense, rowvec, colvec), scipy reference)
    "add": (lambda a, b, d, r, c: sparse.add(a, b), lambda a, b, d, r, c: a + b),
    "sub": (lambda a, b, d, r, c: sparse.sub(a, b), lambda a, b, d, r, c: a - b),
    "mul_sparse": (lambda a, b, d, r, c: sparse.mul(a, b), lambda a, b, d, r, c: a.multiply(b)),
    "add_dense": (lambda a, b, d, r, c: sparse.add(a, d), lambda a, b, d, r, c: a.toarray() + d),
    "mul_dense": (lambda a, b, d, r, c: sparse.mul(a, d), lambda a, b, d, r, c: a.multiply(d)),
    "mul_scalar": (lambda a, b, d, r, c: a * 2.5, lambda a, b, d, r, c: a * 2.5),
    "operators": (lambda a, b, d, r, c: a + b - a * b, lambda a, b, d, r, c: a + b - a.multiply(b)),
    "sp_sum": (lambda a, b, d, r, c: sparse.sp_sum(a), lambda a, b, d, r, c: np.asarray(a.sum())),
    "sp_sum0": (lambda a, b, d, r, c: sparse.sp_sum(a, 0), lambda a, b, d, r, c: np.asarray(a.sum(0)).ravel()),
    "sp_sum1": (lambda a, b, d, r, c: sparse.sp_sum(a, 1, sparse_grad=True),
                lambda a, b, d, r, c: np.asarray(a.sum(1)).ravel()),
    "row_scale": (lambda a, b, d, r, c: sparse.row_scale(a, r), lambda a, b, d, r, c: sp.diags(r) @ a),
    "col_scale": (lambda a, b, d, r, c: sparse.col_scale(a, c), lambda a, b, d, r, c: a @ sp.diags(c)),
    "transpose": (lambda a, b, d, r, c: sparse.transpose(a), lambda a, b, d, r, c: a.T),
    "vstack": (lambda a, b, d, r, c: sparse.vstack([a, b]), lambda a, b, d, r, c: sp.vstack([a, b])),
    "hstack": (lambda a, b, d, r, c: sparse.hstack([a, b]), lambda a, b, d, r, c: sp.hstack([a, b])),
    "csr_from_dense": (lambda a, b, d, r, c: sparse.csr_from_dense(d * (d > 0.5)),
                       lambda a, b, d, r, c: sp.csr_matrix(d * (d > 0.5))),
    "csc_from_dense": (lambda a, b, d, r, c: sparse.csc_from_dense(d * (d > 0.5)),
                       lambda a, b, d, r, c: sp.csc_matrix(d * (d > 0.5))),
    "as_csc": (lambda a, b, d, r, c: sparse.as_format(a, "csc"), lambda a, b, d, r, c: a.tocsc()),
    "true_dot": (lambda a, b, d, r, c: sparse.true_dot(a, sparse.transpose(b)), lambda a, b, d, r, c: a @ b.T),
    "sigmoid": (lambda a, b, d, r, c: sparse.structured_sigmoid(a),
                lambda a, b, d, r, c: a._with_data(1 / (1 + np.exp(-a.data)))),
    "exp": (lambda a, b, d, r, c: sparse.structured_exp(a), lambda a, b, d, r, c: a._with_data(np.exp(a.data))),
    "log": (lambda a, b, d, r, c: sparse.structured_log(abs(a)),
            lambda a, b, d, r, c: a._with_data(np.log(np.abs(a.data)))),
    "pow": (lambda a, b, d, r, c: sparse.structured_pow(a, 3), lambda a, b, d, r, c: a.power(3)),
    "structured_add": (lambda a, b, d, r, c: sparse.structured_add(a, c),
                       lambda a, b, d, r, c: a._with_data(a.data + c[a.tocoo().col]) if a.format == "csr"
                       else a._with_data(a.data + c[np.repeat(np.arange(a.shape[1]), np.diff(a.indptr))])),
    "elementwise": (lambda a, b, d, r, c: sparse.sqrt(abs(a)) + sparse.tanh(a) - sparse.neg(a),
                    lambda a, b, d, r, c: a._with_data(np.sqrt(np.abs(a.data)) + np.tanh(a.data) + a.data)),
}


def _args(fmt, dtype, m=5, k=6):
    rng = np.random.default_rng(3)
    a, b = _pair(fmt, dtype, m, k)
    return a, b, _data(rng, (m, k), dtype), _data(rng, (m,), dtype), _data(rng, (k,), dtype)


def _tol_close(got, want, dtype):
    got = got.toarray() if sp.issparse(got) else np.asarray(got)
    want = want.toarray() if sp.issparse(want) else np.asarray(want)
    assert got.shape == want.shape
    tol = 3e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want.astype(got.dtype), rtol=tol, atol=tol)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_jit(name, fmt, dtype):
    fn, ref = CASES[name]
    args = _args(fmt, dtype)
    got = th.jit(fn)(*args)
    want = ref(*args)
    if sp.issparse(want) and name not in ("add_dense",):
        assert sp.issparse(got), f"{name}: expected a sparse result, got {type(got).__name__}"
        assert got.dtype == np.dtype(dtype)
    _tol_close(got, want, dtype)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("shape", EMPTY)
def test_op_empty(name, shape):
    fn, ref = CASES[name]
    m, k = shape
    rng = np.random.default_rng(0)
    a = sp.csr_matrix((m, k), dtype=np.float64)
    b = sp.csr_matrix((m, k), dtype=np.float64)
    args = (a, b, np.zeros((m, k)), _data(rng, (m,), np.float64), _data(rng, (k,), np.float64))
    _tol_close(th.jit(fn)(*args), ref(*args), np.float64)


@pytest.mark.parametrize("fmt", FORMATS)
def test_ops_in_function(fmt):
    a, b, d, r, c = _args(fmt, np.float64)
    make = sparse.csr_matrix if fmt == "csr" else sparse.csc_matrix
    x, y = make("x"), make("y")
    dm, rv, cv, em = T.dmatrix("d"), T.dvector("r"), T.dvector("c"), T.dmatrix("e")
    outs = [x + y, sparse.mul(x, dm), sparse.sp_sum(x, 1), sparse.row_scale(x, rv), sparse.col_scale(x, cv),
            sparse.vstack([x, y]), sparse.true_dot(x, sparse.transpose(y)), sparse.structured_sigmoid(x),
            sparse.sampling_dot(dm, em, x * y)]
    f = th.function([x, y, dm, rv, cv, em], outs)
    e = np.random.default_rng(9).standard_normal((6, 6))
    got = f(a, b, d, r, c, e)
    want = [a + b, a.multiply(d), np.asarray(a.sum(1)).ravel(), sp.diags(r) @ a, a @ sp.diags(c),
            sp.vstack([a, b]), a @ b.T, a._with_data(1 / (1 + np.exp(-a.data))),
            a.multiply(b).multiply(d @ e.T)]
    for g, w in zip(got, want):
        _tol_close(g, w, np.float64)
    a2, b2 = _pair(fmt, np.float64, seeds=(5, 6))  # other patterns, the same shapes: no new compile
    _tol_close(f(a2, b2, d, r, c, e)[0], a2 + b2, np.float64)
    assert f.compile_count == 1


def test_sampling_dot():
    rng = np.random.default_rng(0)
    p = _matrix(5, 4, 0.4, "csr", np.float64)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    _tol_close(th.jit(sparse.sampling_dot)(x, y, p), p.multiply(x @ y.T), np.float64)
    with pytest.raises(ValueError, match="sampling_dot"):
        th.jit(sparse.sampling_dot)(x, y[:3], p)


def test_matmul_operator_dispatch():
    a = _matrix(5, 6, 0.4, "csr", np.float64)
    d = np.random.default_rng(0).standard_normal((6, 2))
    e = np.random.default_rng(1).standard_normal((3, 5))
    _tol_close(th.jit(lambda a, d: a @ d)(a, d), a @ d, np.float64)
    _tol_close(th.jit(lambda e, a: th.as_tensor(e) @ a)(e, a), e @ a, np.float64)


def test_bad_input_ops():
    a, b = _pair("csr", np.float64)
    with pytest.raises(ValueError, match="add: shapes"):
        th.jit(sparse.add)(a, _matrix(4, 6, 0.3, "csr", np.float64))
    with pytest.raises(ValueError, match="true_dot: shapes"):
        th.jit(sparse.true_dot)(a, b)
    with pytest.raises(ValueError, match="row_scale"):
        th.jit(sparse.row_scale)(a, np.ones(3))
    with pytest.raises(ValueError, match="vstack"):
        th.jit(lambda a, b: sparse.vstack([a, b]))(a, _matrix(2, 3, 0.5, "csr", np.float64))


def test_sparse_arguments_are_read_in_place():
    """Zero-copy in: the generated code passes a SciPy matrix's arrays to the kernel as they are
    (its declaration reads them), and a call with sparse arguments runs inline, so the result
    is computed before the caller can write the matrix again."""
    import re
    a = sp.random(50, 40, 0.1, format="csr", random_state=0)
    v = np.arange(40.0)
    f = th.jit(sparse.structured_dot)
    x, y = sparse.csc_matrix("x"), T.dmatrix("y")  # CSC x dense of dynamic width: the sparsifier
    text = th.function([x, y], sparse.structured_dot(x, y)).lower(a.tocsc(), np.ones((40, 3))).as_text("bufferized")
    main = text[text.index("func.func @main"):]
    kernel_call = re.search(r"call @__theanir_sparse_mm_csc_\w+\((%arg0, %arg1, %arg2),", main)
    assert kernel_call, main[:2000]
    assert not re.search(r"memref.copy %arg[012],", main)
    # CSR x vector, CSR x dense, CSC x vector and CSC x dense: our loop kernels, inlined, read
    # the arguments in place too
    for m, b in ((a, v), (a, np.ones((40, 3))), (a.tocsc(), v), (a.tocsc(), np.ones((40, 3)))):
        text = f.lower(m, b).as_text("bufferized")
        main = text[text.index("func.func @main"):]
        reads = re.search(r"(memref\.load|vector\.load|vector\.maskedload) %arg0\[", main)  # (scalar or gathers)
        assert reads and not re.search(r"memref.copy %arg[012],", main), main[:3000]
    want = a @ v
    out = f(a, v)
    a.data[:] = 0.0  # written right after the call: the call has read it already
    np.testing.assert_allclose(np.asarray(out), want)
    # inline also where the arrays are too big for the runtime's small-call rule (256 KB):
    # queued, the runtime would copy each array first (and the caller wait for a thread)
    from theanir.frontend import api
    seen = []
    real = api.Compiled.call_flat

    def spy(self, inputs, trust_input=False, inline=False):
        seen.append(inline)
        return real(self, inputs, trust_input, inline)

    big = sp.random(3000, 2000, 0.01, format="csr", random_state=1)
    w = np.ones(2000)
    assert big.data.nbytes > 256 * 1024
    api.Compiled.call_flat = spy
    try:
        out = f(big, w)
    finally:
        api.Compiled.call_flat = real
    assert seen == [True]
    np.testing.assert_allclose(np.asarray(out), big @ w)


def test_warm_sparse_calls():
    """Warm calls with SciPy arguments skip the full signature (frontend/sparse.call_key): other
    patterns and nnz, malformed matrices (still refused, naming the argument), a shared
    variable given a new value, all as on the full path."""
    a = sp.random(30, 20, 0.2, format="csr", random_state=0)
    v = np.arange(20.0)
    f = th.jit(sparse.structured_dot)
    for seed in range(3):
        m = sp.random(30, 20, 0.1 * (seed + 1), format="csr", random_state=seed)
        np.testing.assert_allclose(np.asarray(f(m, v)), m @ v)
        np.testing.assert_allclose(np.asarray(f(m, v)), m @ v)
    bad = a.copy()
    bad.indices[0] = 99
    with pytest.raises(ValueError, match="index 99 is out of range"):
        f(bad, v)
    x = sparse.csr_matrix("x")
    w = th.shared(np.ones(20), name="w")
    g = th.function([x], sparse.structured_dot(x, w), updates=[(w, w * 2.0)])
    for k in range(3):
        np.testing.assert_allclose(np.asarray(g(a)), a @ (np.ones(20) * 2.0 ** k))
    with pytest.raises(ValueError, match="out of range"):
        g(bad)
    w.set_value(np.arange(20.0)[::2].repeat(2))  # a new buffer: read as the variable's value
    np.testing.assert_allclose(np.asarray(g(a)), a @ np.arange(20.0)[::2].repeat(2))
