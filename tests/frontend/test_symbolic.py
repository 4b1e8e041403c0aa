"""Theano's symbolic API: T variables, th.shared, th.function with updates/givens, T.grad,
T.Lop/T.Rop (incl. the Gauss-Newton product's op count), T.nnet, and the bad-input errors."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from support import assert_close
from theanir.frontend.symbolic import MissingInputError, UnusedInputError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sigmoid_np(z):
    return 1.0 / (1.0 + np.exp(-z))


def tn_ops(lowered, stage: str = "tn") -> list[str]:
    return re.findall(r'"(tn\.[a-z_0-9]+)"', lowered.as_text(stage))


# ------------------------------------------------------------------ variables and types
def test_constructors_have_theano_dtypes_and_ranks():
    assert (T.dvector().dtype, T.dvector().ndim) == (np.float64, 1)
    assert (T.fmatrix().dtype, T.fmatrix().ndim) == (np.float32, 2)
    assert (T.iscalar().dtype, T.lvector().dtype, T.ltensor3().ndim) == (np.int32, np.int64, 3)
    assert T.scalar().dtype == np.dtype(th.config.floatX) and T.tensor4().ndim == 4
    assert T.matrix("x", dtype="float32").dtype == np.float32
    a, b = T.dmatrices("a", "b")
    c, d = T.fvectors("c d")
    assert (a.name, b.name, c.name, d.ndim) == ("a", "b", "c", 1)
    assert repr(T.dmatrix().type) == "TensorType(float64, matrix)"


def test_derived_types_come_from_abstract_evaluation():
    x, W = T.dmatrix("x"), th.shared(np.ones((3, 5)), name="W")
    assert (T.dot(x, W) + 1).ndim == 2 and T.dot(x, W).sum().ndim == 0
    assert (x > 0).dtype == np.bool_ and x.argmax(axis=1).dtype == np.int64
    assert T.cast(x, "float32").dtype == np.float32 and x.dimshuffle(1, "x", 0).ndim == 3
    assert (T.fvector() * 2).dtype == np.float32  # Python numbers are weak (NEP 50)
    assert x.reshape((2, 3)).ndim == 2             # reshape has its own type rule (symbolic_shape.py)


# ------------------------------------------------------------------ expressions vs NumPy
X = np.random.default_rng(0).normal(size=(4, 3))
V = np.array([0.5, -1.0, 2.0])
L = np.array([2, 0, 1, 1])
EXPRESSIONS = [
    ("arith", lambda x, v, l: (x * 2 - v) / (1 + x ** 2), lambda x, v, l: (x * 2 - v) / (1 + x ** 2)),
    ("ufuncs", lambda x, v, l: T.exp(T.tanh(x)) + T.log(T.abs_(x) + 1), lambda x, v, l: np.exp(np.tanh(x)) + np.log(abs(x) + 1)),
    ("dot", lambda x, v, l: T.dot(x, v) + x.dot(v), lambda x, v, l: 2 * x @ v),
    ("matmul_T", lambda x, v, l: x.T @ x, lambda x, v, l: x.T @ x),
    ("reduce", lambda x, v, l: x.sum(axis=0) + T.mean(x, axis=0) - x.max(axis=0), lambda x, v, l: x.sum(0) + x.mean(0) - x.max(0)),
    ("argmax", lambda x, v, l: T.argmax(x, axis=1), lambda x, v, l: np.argmax(x, axis=1)),
    ("switch", lambda x, v, l: T.switch(T.gt(x, 0), x, 0.1 * x), lambda x, v, l: np.where(x > 0, x, 0.1 * x)),
    ("maximum", lambda x, v, l: T.maximum(x, v), lambda x, v, l: np.maximum(x, v)),
    ("cast", lambda x, v, l: T.cast(x > 0, "int32").sum(), lambda x, v, l: np.int64((x > 0).sum())),
    ("dimshuffle", lambda x, v, l: x.dimshuffle(1, 0) + v.dimshuffle(0, "x"), lambda x, v, l: x.T + v[:, None]),
    ("shape", lambda x, v, l: x.reshape((x.shape[1], x.shape[0])), lambda x, v, l: x.reshape(3, 4)),
    ("flatten", lambda x, v, l: x.flatten(), lambda x, v, l: x.ravel()),
    ("index", lambda x, v, l: x[1:3, 0] + x[-1, ::2].sum(), lambda x, v, l: x[1:3, 0] + x[-1, ::2].sum()),
    ("zeros_like", lambda x, v, l: T.zeros_like(x) + T.ones_like(v), lambda x, v, l: np.zeros_like(x) + 1),
    ("arange", lambda x, v, l: T.arange(x.shape[0]) * 2, lambda x, v, l: np.arange(4) * 2),
    ("sigmoid", lambda x, v, l: T.nnet.sigmoid(x), lambda x, v, l: sigmoid_np(x)),
    ("relu", lambda x, v, l: T.nnet.relu(x) + T.nnet.relu(x, 0.1), lambda x, v, l: np.maximum(x, 0) + np.where(x > 0, x, 0.1 * x)),
    ("softmax", lambda x, v, l: T.nnet.softmax(x), lambda x, v, l: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    ("cce_int", lambda x, v, l: T.nnet.categorical_crossentropy(T.nnet.softmax(x), l),
     lambda x, v, l: -np.log((np.exp(x) / np.exp(x).sum(1, keepdims=True))[np.arange(4), l])),
    ("bce", lambda x, v, l: T.nnet.binary_crossentropy(T.nnet.sigmoid(x), (x > 0) * 1.0),
     lambda x, v, l: -((x > 0) * np.log(sigmoid_np(x)) + (x <= 0) * np.log(1 - sigmoid_np(x)))),
]


@pytest.mark.parametrize("name,build,ref", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_expression_matches_numpy(name, build, ref):
    x, v, l = T.dmatrix("x"), T.dvector("v"), T.lvector("l")
    f = th.function([x, v, l], build(x, v, l), on_unused_input="ignore")
    assert_close(f(X, V, L), ref(X, V, L))


def test_shared_subexpression_is_emitted_once():
    x = T.dvector("x")
    y = T.exp(x)
    f = th.function([x], [y, y * 2, T.grad(y.sum(), x)])
    assert tn_ops(f.lower(V)).count("tn.exp") == 1
    outs = f(V)
    assert isinstance(outs, list) and len(outs) == 3
    assert_close(outs[1], 2 * np.exp(V))


def test_eval_givens_and_from_import():
    from theanir.tensor.nnet import sigmoid

    x = T.dmatrix("x")
    assert_close((x + 1).eval({x: np.ones((1, 2))}), np.full((1, 2), 2.0))
    data = th.shared(np.arange(6.0).reshape(2, 3), name="data")
    f = th.function([], (x * 2).sum(axis=0), givens={x: data})
    assert_close(f(), np.arange(6.0).reshape(2, 3).sum(0) * 2)
    g = th.function([], sigmoid(x), givens=[(x, np.zeros((1, 1)))])
    assert_close(g(), np.full((1, 1), 0.5))


# ------------------------------------------------------------------ shared
def test_shared_get_set_semantics():
    a = np.arange(3.0)
    s = th.shared(a, name="s")
    a[0] = 99.0
    assert s.get_value()[0] == 0.0                      # shared() copies
    s.get_value()[1] = 42.0
    assert s.get_value()[1] == 1.0                      # get_value() returns a copy
    s.get_value(borrow=True)[1] = 42.0
    assert s.get_value()[1] == 42.0                     # borrow=True is the storage itself
    assert th.shared(0.5).dtype == np.dtype(th.config.floatX) and th.shared(3).dtype == np.int64
    s.set_value(np.arange(5, dtype=np.int32))           # safe upcast, new shape
    assert s.get_value().dtype == np.float64 and s.get_value().shape == (5,)
    f32 = th.shared(np.zeros(2, np.float32), name="f32")
    f32.set_value([1.5, 2.5])                           # Python floats fit a float32 variable
    with pytest.raises(TypeError, match="'s'.*ndim"):
        s.set_value(np.ones((2, 2)))
    with pytest.raises(TypeError, match="'f32'.*float32.*float64"):
        f32.set_value(np.ones(2))
    with pytest.raises(TypeError, match="uint8"):
        th.shared(np.zeros(2, np.uint8))


def test_set_value_with_a_new_shape_retraces():
    s = th.shared(np.ones(3), name="s")
    f = th.function([], s.sum() * 2)
    assert f() == 6.0
    s.set_value(np.ones(5))
    assert f() == 10.0 and f.cache_size == 2


# ------------------------------------------------------------------ function with updates
def test_several_updates_and_shared_in_outputs():
    x = T.dvector("x")
    w = th.shared(np.zeros(3), name="w")
    count = th.shared(0, name="count")
    total = th.shared(0.0, name="total")
    step = th.function([x], [w, (w * x).sum()],
                       updates=[(w, w + x), (count, count + 1), (total, total + x.sum())])
    old = w.get_value(borrow=True)
    w_before, dot_before = step(V)
    assert_close(w_before, np.zeros(3))                 # outputs see the values before the update
    assert dot_before == 0.0
    assert_close(w.get_value(), V)
    assert w.get_value(borrow=True) is not old and not old.any()   # swapped in, not copied back
    step(V)
    assert_close(w.get_value(), 2 * V)
    assert count.get_value() == 2 and count.get_value().dtype == np.int64
    assert_close(total.get_value(), np.asarray(2 * V.sum()))
    inc = th.function([], updates={count: count * 10})
    assert inc() == [] and count.get_value() == 20


def test_logistic_regression_sgd_matches_numpy_reference():
    rng = np.random.default_rng(7)
    n, d, lr, l2 = 64, 5, 0.5, 0.01
    data = rng.normal(size=(n, d))
    labels = (data @ rng.normal(size=d) + 0.3 * rng.normal(size=n) > 0).astype(np.float64)

    x, y = T.dmatrix("x"), T.dvector("y")
    w, b = th.shared(np.zeros(d), name="w"), th.shared(0.0, name="b")
    p = T.nnet.sigmoid(T.dot(x, w) + b)
    cost = T.nnet.binary_crossentropy(p, y).mean() + l2 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = th.function([x, y], cost, updates=[(w, w - lr * gw), (b, b - lr * gb)])

    w_np, b_np = np.zeros(d), 0.0
    for _ in range(100):
        c = train(data, labels)
        p_np = sigmoid_np(data @ w_np + b_np)
        c_np = -np.mean(labels * np.log(p_np) + (1 - labels) * np.log(1 - p_np)) + l2 * (w_np ** 2).sum()
        gw_np = data.T @ (p_np - labels) / n + 2 * l2 * w_np
        gb_np = np.mean(p_np - labels)
        w_np, b_np = w_np - lr * gw_np, b_np - lr * gb_np
    np.testing.assert_allclose(c, c_np, rtol=1e-10)
    np.testing.assert_allclose(w.get_value(), w_np, rtol=1e-10)
    np.testing.assert_allclose(b.get_value(), b_np, rtol=1e-10)


# ------------------------------------------------------------------ derivatives
def test_grad_of_a_composed_cost_matches_central_differences():
    rng = np.random.default_rng(3)
    x, W, b = T.dmatrix("x"), T.dmatrix("W"), T.dvector("b")
    h = T.tanh(T.dot(x, W) + b)
    cost = T.log(1 + (h ** 2).sum()) + T.nnet.softmax(h).max(axis=1).mean() + T.nnet.sigmoid(W).sum() / 7
    f = th.function([x, W, b], cost)
    g = th.function([x, W, b], T.grad(cost, [W, b]))
    xs, ws, bs = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    gw, gb = g(xs, ws, bs)
    eps = 1e-6
    for wrt, analytic, args in [(ws, gw, lambda p: (xs, p, bs)), (bs, gb, lambda p: (xs, ws, p))]:
        numeric = np.zeros_like(wrt)
        for i in np.ndindex(wrt.shape):
            e = np.zeros_like(wrt)
            e[i] = eps
            numeric[i] = (f(*args(wrt + e)) - f(*args(wrt - e))) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def _mlp():
    """f(x; W1, W2) = tanh(x W1) W2, with its Jacobian products in NumPy."""
    rng = np.random.default_rng(5)
    vals = dict(x=rng.normal(size=(5, 3)), W1=rng.normal(size=(3, 4)), W2=rng.normal(size=(4, 2)),
                G=rng.normal(size=(3, 4)), G2=rng.normal(size=(4, 2)), U=rng.normal(size=(5, 2)))
    h = np.tanh(vals["x"] @ vals["W1"])
    d = 1 - h ** 2
    jvp = lambda g: ((vals["x"] @ g) * d) @ vals["W2"]            # noqa: E731  J_W1 · g
    vjp = lambda u: vals["x"].T @ ((u @ vals["W2"].T) * d)        # noqa: E731  J_W1ᵀ · u
    return vals, h, jvp, vjp


def test_rop_and_lop_match_numpy_jacobian_products():
    vals, h, jvp, vjp = _mlp()
    x, W1, W2, G, G2, U = T.dmatrix("x"), T.dmatrix("W1"), T.dmatrix("W2"), T.dmatrix("G"), T.dmatrix("G2"), T.dmatrix("U")
    f = T.dot(T.tanh(T.dot(x, W1)), W2)
    rop = th.function([x, W1, W2, G, G2], [T.Rop(f, W1, G), T.Rop(f, [W1, W2], [G, G2])])
    lop = th.function([x, W1, W2, U], T.Lop(f, [W1, W2], U))
    r1, r2 = rop(vals["x"], vals["W1"], vals["W2"], vals["G"], vals["G2"])
    assert_close(r1, jvp(vals["G"]))
    assert_close(r2, jvp(vals["G"]) + h @ vals["G2"])
    l1, l2 = lop(vals["x"], vals["W1"], vals["W2"], vals["U"])
    assert_close(l1, vjp(vals["U"]))
    assert_close(l2, h.T @ vals["U"])


def test_gauss_newton_product_is_one_forward_and_one_reverse_sweep():
    vals, _, jvp, vjp = _mlp()
    x, W1, W2, G, U = T.dmatrix("x"), T.dmatrix("W1"), T.dmatrix("W2"), T.dmatrix("G"), T.dmatrix("U")
    f = T.dot(T.tanh(T.dot(x, W1)), W2)
    gn = th.function([x, W1, W2, G], T.Lop(f, W1, T.Rop(f, W1, G)))
    args = (vals["x"], vals["W1"], vals["W2"])
    assert_close(gn(*args, vals["G"]), vjp(jvp(vals["G"])))

    # The expected count is derived, not a magic number. In the traced IR (stage "tn"):
    #   forward only:  F ops;   Rop only: F + J (one JVP sweep);   Lop only: F + R (one
    #   transposed sweep, the cotangent being an argument).
    # The Gauss-Newton graph must be F + J + R = Rop + Lop - F: the forward pass is traced
    # once, shared by both sweeps (a second forward pass would add F ops).
    F = len(tn_ops(th.function([x, W1, W2], f).lower(*args)))
    ROP = len(tn_ops(th.function([x, W1, W2, G], T.Rop(f, W1, G)).lower(*args, vals["G"])))
    LOP = len(tn_ops(th.function([x, W1, W2, U], T.Lop(f, W1, U)).lower(*args, vals["U"])))
    traced = tn_ops(gn.lower(*args, vals["G"]))
    assert len(traced) == F + (ROP - F) + (LOP - F)
    assert traced.count("tn.tanh") == 1
    # After tn-opt (CSE, DCE) it can only shrink: the sweeps share 1 - tanh², and f's own
    # value (the last matmul) is dead because only the product is returned.
    optimized = tn_ops(gn.lower(*args, vals["G"]), "tn-opt")
    assert optimized.count("tn.tanh") == 1 and len(optimized) <= len(traced)


def test_jacobian_and_hessian():
    v = T.dvector("v")
    assert_close(T.jacobian(T.tanh(v), v).eval({v: V}), np.diag(1 - np.tanh(V) ** 2))
    assert_close(T.hessian((v ** 3).sum(), v).eval({v: V}), np.diag(6 * V))


# ------------------------------------------------------------------ the XOR example
def test_xor_example_runs_and_reaches_the_accuracy_it_prints():
    script = os.path.join(REPO, "examples", "xor_theano_style.py")
    with open(script) as f:
        imports = [line for line in f if re.match(r"\s*(import|from)\s", line)]
    assert [line for line in imports if "theanir" in line] == [
        "import theanir as theano\n", "import theanir.tensor as T\n"]
    out = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300, check=True).stdout
    printed = float(re.search(r"accuracy ([0-9.]+)", out).group(1))
    assert printed == 1.0
    assert "predictions [0, 1, 1, 0]" in out


# ------------------------------------------------------------------ bad input
def test_grad_of_a_non_scalar_names_the_cost():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="cost sum\\('x'.*must be a scalar.*ndim 1"):
        T.grad(x.sum(axis=0), x)
    cost = x[[2, 0], [1, 1]]  # ndim unknown until traced (indices past the stand-ins' length 1)
    assert cost.ndim is None
    f = th.function([x], T.grad(cost, x))
    with pytest.raises(TypeError, match="cost 'x'\\[.*must be a scalar.*shape \\(2,\\)"):
        f(np.ones((3, 2)))


def test_disconnected_inputs_raise_warn_ignore():
    x, v = T.dmatrix("x"), T.dvector("v")
    cost = (x ** 2).sum()
    with pytest.raises(T.DisconnectedInputError, match="does not depend on 'v'"):
        T.grad(cost, [x, v])
    with pytest.warns(UserWarning, match="does not depend on 'v'"):
        gx, gv = T.grad(cost, [x, v], disconnected_inputs="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gv2 = T.grad(cost, v, disconnected_inputs="ignore")
        f = th.function([x, v], [gx, gv, gv2])
        outs = f(X, V)
    assert_close(outs[0], 2 * X)
    assert_close(outs[1], np.zeros(3))
    assert_close(outs[2], np.zeros(3))
    # connected in the graph, but only through a non-differentiable op: found when traced
    f = th.function([x], T.grad(T.cast(T.argmax(x), "float64"), x))
    with pytest.raises(T.DisconnectedInputError, match="does not depend on 'x'"):
        f(X)


def test_update_with_wrong_shape_or_dtype_names_the_shared_variable():
    v = T.dvector("v")
    w = th.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError, match="shared variable 'w'.*dtype float32"):
        th.function([v], v, updates=[(w, T.cast(w, "float32"))])
    with pytest.raises(TypeError, match="shared variable 'w'.*ndim 0"):
        th.function([v], v, updates=[(w, w.sum())])
    f = th.function([v], v, updates=[(w, w[:2])])
    with pytest.raises(TypeError, match="shared variable 'w'.*shape \\(2,\\).*holds shape \\(3,\\)"):
        f(V)
    with pytest.raises(TypeError, match="only target shared variables"):
        th.function([v], v, updates=[(v, v + 1)])


def test_calling_with_wrong_ndim_or_dtype_names_the_input():
    x, n = T.dmatrix("x"), T.ivector()
    f = th.function([x, n], x.sum() + n.sum())
    assert f(X, np.arange(3, dtype=np.int32)) == X.sum() + 3
    with pytest.raises(TypeError, match="input 0 'x'.*2-d.*ndim 1"):
        f(V, np.arange(3, dtype=np.int32))
    with pytest.raises(TypeError, match="input 1 <int32 vector>.*int32.*int64"):
        f(X, np.arange(3))
    with pytest.raises(TypeError, match="input 1 <int32 vector>.*float64"):
        f(X, [0.5, 1.5])
    g = th.function([x, n], x.sum() + n.sum(), allow_input_downcast=True)
    assert g(X, np.arange(3)) == X.sum() + 3


def test_missing_and_unused_inputs():
    x, v = T.dmatrix("x"), T.dvector("v")
    with pytest.raises(MissingInputError, match="need 'x', which is not among the inputs"):
        th.function([v], x.sum() + v.sum())
    with pytest.raises(UnusedInputError, match="input 0 'v' is not used"):
        th.function([v, x], x.sum())
    with pytest.warns(UserWarning, match="input 0 'v' is not used"):
        th.function([v, x], x.sum(), on_unused_input="warn")
    with pytest.raises(TypeError, match="must be a symbolic variable"):
        th.function([x + 1], x.sum())


def test_trace_time_errors_name_the_line_that_built_the_expression():
    x, W = T.dmatrix("x"), th.shared(np.ones((4, 2)), name="W")
    y = T.dot(x, W)  # the line the error must name
    f = th.function([x], y)
    line = sys._getframe().f_lineno - 2
    # x's dims are dynamic (th.function compiles once per input types): the generated code
    # checks them, and the error names the shapes and the line (at the read: calls are async)
    with pytest.raises(ValueError, match=f"dim 1 of a tensor of shape \\(\\?, \\?\\) is 3, where 4 is "
                                         f"required.*test_symbolic.py:{line}"):
        np.asarray(f(np.ones((2, 3))))
