"""Gradients of theanir.sparse: structured (one number per stored entry: finite differences
restricted to the pattern) and regular (Theano's `sparse.dot`, `sp_sum(sparse_grad=False)`:
every entry, a dense matrix), in reverse and forward mode."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import theanir as th
import theanir.sparse as sparse
import theanir.tensor as T

from sparse_support import _matrix

FORMATS = ("csr", "csc")


def _build(fmt, a):
    make = sparse.CSR if fmt == "csr" else sparse.CSC
    return lambda d: make(d, a.indices, a.indptr, a.shape)


def _fd(f, x, eps=1e-6):
    """Central differences of a scalar NumPy function over every entry of x."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


# Each: a scalar-valued function of (data of a, dense w), differentiated w.r.t. both by
# th.verify_grad (finite differences on the data = on the pattern only).
STRUCTURED = {  # s: a 5 x 6 sparse matrix, w: a dense 6 x 2 matrix
    "structured_dot": lambda s, w: th.sum(th.tanh(sparse.structured_dot(s, w))),
    "dot_left": lambda s, w: th.sum(th.sin(sparse.structured_dot(w.T, s.T))),
    "dense_from_sparse": lambda s, w: th.sum(sparse.dense_from_sparse(s) * th.tanh(w[:5, :1] @ w[:, :1].T)),
    "mul_dense": lambda s, w: th.sum(sparse.dense_from_sparse(sparse.mul(s, th.tanh(w[:5, :1] @ w[:, :1].T))) ** 2),
    "row_scale": lambda s, w: th.sum(sparse.dense_from_sparse(sparse.row_scale(s, w[:5, 0])) ** 2),
    "col_scale": lambda s, w: th.sum(sparse.dense_from_sparse(sparse.col_scale(s, w[:, 0])) ** 2),
    "sampling_dot": lambda s, w: th.sum(sparse.dense_from_sparse(sparse.sampling_dot(w[:5], w, s)) ** 2),
    "sigmoid": lambda s, w: th.sum(sparse.structured_dot(sparse.structured_sigmoid(s), w)),
    "add_self": lambda s, w: th.sum(sparse.dense_from_sparse(s + sparse.structured_pow(s, 2)) ** 2),
    "mul_self": lambda s, w: th.sum(sparse.dense_from_sparse(sparse.mul(s, s * 3.0))),
    "true_dot": lambda s, w: th.sum(sparse.dense_from_sparse(sparse.true_dot(s, sparse.transpose(s))) ** 2),
    "sp_sum": lambda s, w: sparse.sp_sum(s, 1, sparse_grad=True) @ w[:5, 0],
    "vstack": lambda s, w: th.sum(sparse.structured_dot(sparse.vstack([s, s * 2.0]), w) ** 2),
    "hstack": lambda s, w: th.sum(sparse.structured_dot(sparse.hstack([s, s]), th.concatenate([w, w])) ** 2),
    "as_format": lambda s, w: th.sum(sparse.structured_dot(sparse.as_format(s, "csc" if s.format == "csr" else "csr"),
                                                           w) ** 2),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_structured_verify_grad(name, fmt):
    a = _matrix(5, 6, 0.4, fmt, np.float64)
    w = np.random.default_rng(1).standard_normal((6, 2)) * 0.5
    build = _build(fmt, a)
    th.verify_grad(lambda d, w: STRUCTURED[name](build(d), w), [a.data.copy(), w],
                   rng=np.random.default_rng(2))


@pytest.mark.parametrize("fmt", FORMATS)
def test_theano_structured_and_regular(fmt):
    """T.grad w.r.t. a sparse input: structured_dot -> a SciPy matrix on the pattern, dot ->
    the dense gradient over every entry; both against finite differences of NumPy."""
    a = _matrix(4, 5, 0.4, fmt, np.float64)
    w = np.random.default_rng(0).standard_normal((5, 3))
    make = sparse.csr_matrix if fmt == "csr" else sparse.csc_matrix
    x, y = make("x"), T.dmatrix("y")
    ref = lambda dense: np.tanh(dense @ w).sum()  # noqa: E731
    fd = _fd(ref, a.toarray())
    for fn, structured in ((sparse.structured_dot, True), (sparse.dot, False)):
        cost = T.sum(T.tanh(fn(x, y)))
        gx, gy = T.grad(cost, [x, y])
        g, g_y = th.function([x, y], [gx, gy])(a, w)
        if structured:
            assert sp.issparse(g) and g.format == fmt
            mask = a.toarray() != 0
            np.testing.assert_allclose(g.toarray(), np.where(mask, fd, 0), atol=1e-6)
        else:
            assert not sp.issparse(g) and np.asarray(g).shape == a.shape
            np.testing.assert_allclose(np.asarray(g), fd, atol=1e-6)
        np.testing.assert_allclose(g_y, _fd(lambda v: np.tanh(a.toarray() @ v).sum(), w), atol=1e-6)


def test_sp_sum_sparse_grad_flag_and_right_products():
    a = _matrix(4, 5, 0.5, "csr", np.float64)
    c = np.random.default_rng(0).standard_normal((2, 4))
    x, z = sparse.csr_matrix("x"), T.dmatrix("z")
    g_struct, g_reg = th.function([x], [T.grad(T.sum(sparse.sp_sum(x, 0, sparse_grad=True) ** 2), x),
                                        T.grad(T.sum(sparse.sp_sum(x, 0) ** 2), x)])(a)
    fd = _fd(lambda d: (d.sum(0) ** 2).sum(), a.toarray())
    np.testing.assert_allclose(g_struct.toarray(), np.where(a.toarray() != 0, fd, 0), atol=1e-6)
    np.testing.assert_allclose(np.asarray(g_reg), fd, atol=1e-6)
    g = th.function([z, x], T.grad(T.sum(T.tanh(sparse.dot(z, x))), x))(c, a)
    np.testing.assert_allclose(np.asarray(g), _fd(lambda d: np.tanh(c @ d).sum(), a.toarray()), atol=1e-6)


def test_sparse_shared_variable_gradient_and_training_step():
    a = _matrix(6, 5, 0.5, "csr", np.float64)
    xs = th.shared(a, name="X")
    w = th.shared(np.zeros(5), name="w")
    cost = T.sum((sparse.structured_dot(xs, w) - 1.0) ** 2)
    step = th.function([], cost, updates=[(w, w - 0.05 * T.grad(cost, w))])
    first = float(step())
    for _ in range(50):
        last = float(step())
    assert last < 0.5 * first


def test_forward_mode():
    a = _matrix(5, 6, 0.4, "csr", np.float64)
    w = np.random.default_rng(0).standard_normal((6, 2))
    build = _build("csr", a)
    f = lambda d, w: th.tanh(sparse.structured_dot(build(d), w))  # noqa: E731
    td = np.random.default_rng(1).standard_normal(a.data.shape)
    tw = np.random.default_rng(2).standard_normal(w.shape)
    _, tangent = th.jvp(f, (a.data, w), (td, tw))
    ref = lambda d, v: np.tanh(sp.csr_matrix((d, a.indices, a.indptr), shape=a.shape) @ v)  # noqa: E731
    eps = 1e-6
    fd = (ref(a.data + eps * td, w + eps * tw) - ref(a.data - eps * td, w - eps * tw)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(tangent), fd, atol=1e-6)
    x, y, v = sparse.csr_matrix("x"), T.dmatrix("y"), T.dmatrix("v")
    rop = th.function([x, y, v], T.Rop(T.tanh(sparse.structured_dot(x, y)), y, v))(a, w, tw)
    fd = (ref(a.data, w + eps * tw) - ref(a.data, w - eps * tw)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(rop), fd, atol=1e-6)


def test_second_order():
    """Each sparse product's transpose is the other (sparse_matmul <-> sparse_sddmm): a
    hessian-vector product through structured_dot matches finite differences of the gradient."""
    a = _matrix(5, 6, 0.4, "csr", np.float64)
    w = np.random.default_rng(0).standard_normal(6)
    build = _build("csr", a)
    loss = lambda d, w: th.sum(th.tanh(sparse.structured_dot(build(d), w)) ** 2)  # noqa: E731
    grad_d = th.grad(loss, argnums=0)
    v = np.random.default_rng(3).standard_normal(a.data.shape)
    _, hvp = th.jvp(lambda d: grad_d(d, w), (a.data,), (v,))
    eps = 1e-6
    fd = (np.asarray(grad_d(a.data + eps * v, w)) - np.asarray(grad_d(a.data - eps * v, w))) / (2 * eps)
    np.testing.assert_allclose(np.asarray(hvp), fd, atol=1e-5)
