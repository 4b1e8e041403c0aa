"""Derivatives through loops and branches (passes/autodiff/control.py).

Every acceptance example of th.scan is checked by `th.verify_grad` (reverse and forward mode
against central differences, float64), an Elman RNN's BPTT gradient against hand-written
NumPy backprop (also truncated), and th.cond / th.ifelse differentiate only the taken branch.
"""
from __future__ import annotations

import numpy as np
import pytest
from support import FLOATS, assert_close

import theanir as th
import theanir.tensor as T


def _count_scans(text: str) -> int:
    return text.count('"tn.scan"')


# ------------------------------------------------------------------ the acceptance examples
def cumulative_sum(x):
    out, _ = th.scan(lambda xi, acc: acc + xi, sequences=x, outputs_info=th.zeros_like(x[0]))
    return out


def polynomial(coefficients, x):
    """sum_k c_k x^k, each term from scan's step index (Theano's polynomial example)."""
    powers = th.arange(coefficients.shape[0]).astype(x.dtype)
    terms, _ = th.scan(lambda c, p, x: c * x ** p, sequences=[coefficients, powers],
                       non_sequences=x)
    return terms.sum()


def power(a, k=5):
    out, _ = th.scan(lambda prior, a: prior * a, outputs_info=th.ones_like(a), non_sequences=a,
                     n_steps=k)
    return out[-1]


def fibonacci_like(init, w):
    out, _ = th.scan(lambda a, b, w: w * b + a, outputs_info=dict(initial=init, taps=[-2, -1]),
                     non_sequences=w, n_steps=6)
    return out


def do_while(x0, w):
    """Multiply by w until the value exceeds 10 (at most 20 steps): data-dependent stop."""
    def step(prev, w):
        new = prev * w
        return new, th.until(new.sum() > 10.0)

    out, _ = th.scan(step, outputs_info=x0, non_sequences=w, n_steps=20)
    return out


def elman(xs, h0, W, U, b):
    def step(x_t, h, W, U, b):
        return th.tanh(x_t @ W + h @ U + b)

    hs, _ = th.scan(step, sequences=xs, outputs_info=h0, non_sequences=[W, U, b])
    return hs


@pytest.mark.parametrize("case", ["cumsum", "polynomial", "power", "fibonacci", "do_while", "elman"])
def test_verify_grad_through_scan(case, rng):
    if case == "cumsum":
        th.verify_grad(cumulative_sum, [rng.standard_normal((5, 3))])
    elif case == "polynomial":
        th.verify_grad(polynomial, [rng.standard_normal(4), np.array(0.7)])
    elif case == "power":
        th.verify_grad(power, [rng.standard_normal(3)])
    elif case == "fibonacci":
        th.verify_grad(fibonacci_like, [rng.standard_normal(2), np.array(0.9)])
    elif case == "do_while":
        th.verify_grad(do_while, [np.array([0.3, 0.5]), np.array(1.7)])
    else:
        xs, h0 = rng.standard_normal((6, 3)), rng.standard_normal(4)
        W, U, b = rng.standard_normal((3, 4)), 0.5 * rng.standard_normal((4, 4)), rng.standard_normal(4)
        th.verify_grad(elman, [xs, h0, W, U, b])


def test_do_while_gradient_stops_with_the_loop():
    """The stop depends on data: (0.3 + 0.5) * 1.7^k exceeds 10 first at k = 5."""
    x0, w = np.array([0.3, 0.5]), np.array(1.7)
    out = np.asarray(th.jit(do_while)(x0, w))
    steps = int(np.argmax(out.sum(axis=1) > 10)) + 1
    assert steps == 5 and out.shape == (steps, 2)  # the rows that ran (Theano; issue 16)
    g = th.jit(th.grad(lambda x0, w: do_while(x0, w)[-1].sum(), argnums=1))(x0, w)
    assert_close(g, np.asarray(steps * x0.sum() * w ** (steps - 1)), rtol=1e-12)


# ------------------------------------------------------------------ Elman RNN: BPTT vs NumPy
def elman_loss(xs, ys, h0, W, U, b, V, c):
    def step(x_t, h, W, U, b):
        return th.tanh(x_t @ W + h @ U + b)

    hs, _ = th.scan(step, sequences=xs, outputs_info=h0, non_sequences=[W, U, b])
    logits = hs @ V + c
    return -(th.log_softmax(logits, axis=-1) * ys).sum()


def elman_numpy(xs, ys, h0, W, U, b, V, c, truncate=-1):
    """Forward and hand-written backprop through time (the last `truncate` steps only)."""
    T_ = xs.shape[0]
    hs, h = [], h0
    for t in range(T_):
        h = np.tanh(xs[t] @ W + h @ U + b)
        hs.append(h)
    hs = np.stack(hs)
    logits = hs @ V + c
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    dlogits = p * ys.sum(-1, keepdims=True) - ys
    dV, dc = hs.T @ dlogits, dlogits.sum(0)
    dhs = dlogits @ V.T
    g = {k: np.zeros_like(v) for k, v in dict(xs=xs, h0=h0, W=W, U=U, b=b).items()}
    dh = np.zeros_like(h0)
    first = 0 if truncate < 0 else max(T_ - truncate, 0)
    for t in range(T_ - 1, first - 1, -1):
        da = (dh + dhs[t]) * (1 - hs[t] ** 2)
        prev = hs[t - 1] if t > 0 else h0
        g["W"] += np.outer(xs[t], da)
        g["U"] += np.outer(prev, da)
        g["b"] += da
        g["xs"][t] = da @ W.T
        dh = da @ U.T
    g["h0"] = dh if first == 0 else np.zeros_like(h0) + dh
    return g["xs"], g["h0"], g["W"], g["U"], g["b"], dV, dc


def _elman_data(rng, T_=7, n_in=3, n_h=5, n_out=4):
    xs = rng.standard_normal((T_, n_in))
    ys = np.eye(n_out)[rng.integers(0, n_out, T_)]
    return (xs, ys, rng.standard_normal(n_h), 0.5 * rng.standard_normal((n_in, n_h)),
            0.4 * rng.standard_normal((n_h, n_h)), 0.1 * rng.standard_normal(n_h),
            rng.standard_normal((n_h, n_out)), rng.standard_normal(n_out))


def test_elman_bptt_matches_numpy(rng):
    data = _elman_data(rng)
    argnums = (0, 2, 3, 4, 5, 6, 7)
    got = th.jit(th.grad(elman_loss, argnums=argnums))(*data)
    for g, want in zip(got, elman_numpy(*data)):
        assert_close(g, want, rtol=1e-10, atol=1e-12)


def test_truncated_bptt_matches_numpy(rng):
    data = _elman_data(rng, T_=8)

    def loss(xs, ys, h0, W, U, b, V, c):
        def step(x_t, h, W, U, b):
            return th.tanh(x_t @ W + h @ U + b)

        hs, _ = th.scan(step, sequences=xs, outputs_info=h0, non_sequences=[W, U, b],
                        truncate_gradient=3)
        logits = hs @ V + c
        return -(th.log_softmax(logits, axis=-1) * ys).sum()

    got = th.jit(th.grad(loss, argnums=(0, 2, 3, 4, 5)))(*data)
    want = elman_numpy(*data, truncate=3)[:5]
    for g, w in zip(got, want):
        assert_close(g, w, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="truncate_gradient"):
        th.jit(lambda x: th.scan(lambda a: a, sequences=x, truncate_gradient=0)[0])(np.ones(2))


@pytest.mark.parametrize("dtype", FLOATS)
def test_rnn_gradient_in_both_precisions(dtype, rng):
    data = [a.astype(dtype) for a in _elman_data(rng)]
    got = th.jit(th.grad(elman_loss, argnums=4))(*data)
    want = elman_numpy(*[a.astype(np.float64) for a in data])[3]
    assert got.dtype == dtype
    assert_close(got, want.astype(dtype), rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-5)


def test_backward_loop_is_one_reverse_scan_with_row_updates(rng):
    """Reverse mode = the primal loop (stacking residuals) + one backward loop; the sequence's
    cotangent is accumulated row by row (tn.index_add), not as a dense sum per step."""
    data = _elman_data(rng)
    text = th.jit(th.grad(elman_loss, argnums=0)).lower(*data).as_text("tn-opt")
    assert _count_scans(text) == 2
    assert '"tn.index_add"' in text and '"tn.scatter_add"' not in text


def test_weight_gradients_leave_the_backward_loop_as_one_matmul(rng):
    """tn-scan-accumulate-to-matmat: dU = sum_t h_{t-1}^T da_t is one [5, 7] x [7, 5] product
    after the backward loop instead of 7 rank-1 updates inside it; the result is unchanged."""
    data = _elman_data(rng)  # T = 7 steps, 5 hidden units
    grad = th.grad(elman_loss, argnums=(3, 4))
    text = th.jit(grad).lower(*data).as_text("tn-opt")
    assert '(tensor<5x7xf64>, tensor<7x5xf64>) -> tensor<5x5xf64>' in text
    fast = th.jit(grad)(*data)
    plain = th.jit(grad, optimizer="fast_compile")(*data)
    for a, b in zip(fast, plain):
        assert_close(a, b, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ other loop forms
def test_grad_through_fori_loop_with_static_bounds_and_lax_scan(rng):
    def f(x):
        return th.lax.fori_loop(0, 4, lambda i, v: th.sin(v) * (i + 1.0), x).sum()

    th.verify_grad(f, [rng.standard_normal(3)])

    def g(c0, xs):
        c, ys = th.lax.scan(lambda c, x: (c * x + th.sin(c), c * x), c0, xs)
        return c + ys.sum()

    th.verify_grad(g, [np.array(0.7), rng.standard_normal(5)])


def test_reverse_and_forward_mode_through_while_loop():
    # reverse mode since issue 16 (a loop counting the steps, then a replay stacking residuals)
    def f(x):
        return th.while_loop(lambda v: v.sum() < 10.0, lambda v: v * 1.5, x).sum()

    assert_close(th.jit(th.grad(f))(np.array([1.0, 2.0])), np.full(2, 3.375), rtol=1e-12)
    _, tangent = th.jit(lambda x, t: th.jvp(f, (x,), (t,)))(np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    # 3 * 1.5^k > 10 first at k = 3: f = 1.5^3 * (x0 + x1), so df/dx0 = 3.375
    assert_close(tangent, np.asarray(3.375), rtol=1e-12)


def test_nested_loops_and_a_branch_inside_a_loop(rng):
    def nested(x):
        def outer(h, row):
            inner, _ = th.lax.scan(lambda c, v: (th.tanh(c * v + h.sum()), c), h, row)
            return inner, inner.sum()

        _, ys = th.lax.scan(outer, x[0], x)
        return ys.sum()

    th.verify_grad(nested, [0.5 * rng.standard_normal((3, 3))])

    def branchy(x, w):
        def step(h, x_t):
            h = th.cond(x_t > 0, lambda h: th.sin(h * w), lambda h: h * x_t, h)
            return h, h
        return th.lax.scan(step, x[0], x)[1].sum()

    th.verify_grad(branchy, [np.array([0.5, -0.3, 0.8, -1.2]), np.array(1.3)])


def test_go_backwards_and_sequence_taps(rng):
    def f(x, h0):
        out, _ = th.scan(lambda a, b, h: th.tanh(a - 2 * b + h),
                         sequences=dict(input=x, taps=[-1, 1]), outputs_info=h0,
                         go_backwards=True)
        return out

    th.verify_grad(f, [rng.standard_normal((6, 2)), rng.standard_normal(2)])


# ------------------------------------------------------------------ branches
def test_verify_grad_through_cond_and_ifelse(rng):
    def f(p, x, y):
        return th.cond(p.sum() > 0, lambda a, b: th.sin(a) * b, lambda a, b: a / (1 + b * b), x, y)

    x, y = rng.standard_normal(3), rng.standard_normal(3)
    th.verify_grad(f, [np.array([1.0]), x, y])
    th.verify_grad(f, [np.array([-1.0]), x, y])
    th.verify_grad(lambda a, b: th.ifelse(a.sum() > b.sum(), a * b, b - a), [x, y])


def test_only_the_taken_branch_is_differentiated():
    """Eager where differentiates both sides (the untaken sqrt gives NaN at x < 0); the lazy
    branch's derivative is only that of the taken side."""
    x = np.array(-1.0)
    lazy = th.jit(th.grad(lambda x: th.cond(x > 0, th.sqrt, lambda x: 3 * x, x)))(x)
    eager = th.jit(th.grad(lambda x: th.switch(x > 0, th.sqrt(x), 3 * x)))(x)
    assert float(lazy) == 3.0 and np.isnan(float(eager))
    text = th.jit(th.grad(lambda x: th.cond(x > 0, th.sqrt, lambda x: 3 * x, x))).lower(x).as_text("linalg")
    assert text.count("scf.if") == 1  # only the backward branch op: the value is unused


def test_grad_of_symbolic_scan_and_ifelse(rng):
    x, w = T.dvector("x"), T.dscalar("w")
    hs, _ = th.scan(lambda xt, h, w: T.tanh(xt * w + h), sequences=x, outputs_info=T.constant(0.0),
                    non_sequences=w)
    cost = th.ifelse(T.gt(w, 0), hs.sum(), (hs ** 2).sum())
    f = th.function([x, w], T.grad(cost, w))
    xv = rng.standard_normal(5)
    for wv in (0.7, -0.7):
        def ref(w):
            h, out = 0.0, []
            for xt in xv:
                h = np.tanh(xt * w + h)
                out.append(h)
            out = np.array(out)
            return out.sum() if w > 0 else (out ** 2).sum()

        num = (ref(wv + 1e-6) - ref(wv - 1e-6)) / 2e-6
        assert_close(f(xv, wv), np.asarray(num), rtol=1e-6)


def _rnn_jacobian(xv: np.ndarray, Wv: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d(stacked h_t) / d(W flattened) of h_t = tanh(x_t @ W + h_{t-1}), h_0 = 0, by central
    differences."""
    def f(w):
        h, out = np.zeros(Wv.shape[1]), []
        for x in xv:
            h = np.tanh(x @ w.reshape(Wv.shape) + h)
            out.append(h)
        return np.concatenate(out)

    return np.stack([(f(Wv.ravel() + eps * e) - f(Wv.ravel() - eps * e)) / (2 * eps)
                     for e in np.eye(Wv.size)], axis=1)


def test_rop_and_lop_through_scan(rng):
    """Theano's R-op and L-op through a recurrent net agree with dense Jacobians."""
    xs, W = T.dmatrix("xs"), T.dmatrix("W")
    hs, _ = th.scan(lambda x_t, h, W: T.tanh(T.dot(x_t, W) + h), sequences=xs,
                    outputs_info=T.zeros((3,), dtype="float64"), non_sequences=W)
    v, u = T.dmatrix("v"), T.dmatrix("u")
    jv = th.function([xs, W, v], T.Rop(hs, W, v))
    uj = th.function([xs, W, u], T.Lop(hs, W, u))
    xv, Wv = rng.standard_normal((4, 2)), 0.5 * rng.standard_normal((2, 3))
    vv, uv = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))

    J = _rnn_jacobian(xv, Wv)
    assert_close(jv(xv, Wv, vv), (J @ vv.ravel()).reshape(4, 3), rtol=1e-6, atol=1e-8)
    assert_close(uj(xv, Wv, uv), (uv.ravel() @ J).reshape(2, 3), rtol=1e-6, atol=1e-8)


def test_gauss_newton_product_through_scan_runs_two_loops(rng):
    """Lop(f, W, Rop(f, W, v)) = J^T J v: the Rop's tangent loop merges with the forward loop,
    so the compiled function holds two loops (forward+tangent, backward), not three."""
    xs, W, v = T.dmatrix("xs"), T.dmatrix("W"), T.dmatrix("v")
    hs, _ = th.scan(lambda x_t, h, W: T.tanh(T.dot(x_t, W) + h), sequences=xs,
                    outputs_info=T.zeros((3,), dtype="float64"), non_sequences=W)
    gn = th.function([xs, W, v], T.Lop(hs, W, T.Rop(hs, W, v)))
    xv, Wv, vv = rng.standard_normal((5, 2)), 0.5 * rng.standard_normal((2, 3)), rng.standard_normal((2, 3))

    J = _rnn_jacobian(xv, Wv)
    assert_close(gn(xv, Wv, vv), (J.T @ (J @ vv.ravel())).reshape(2, 3), rtol=1e-6, atol=1e-8)
    assert _count_scans(gn.lower(xv, Wv, vv).as_text("tn-opt")) == 2


def test_step_indexes_with_a_traced_label_and_differentiates(rng):
    """`-log_softmax(z_t)[y_t]` with y_t from an integer sequence: dynamic indexing by a
    traced scalar inside the step, and its gradient (softmax - onehot) through the loop."""
    def nll(z, ys):
        out, _ = th.scan(lambda z_t, y_t: -th.log_softmax(z_t)[y_t], sequences=[z, ys])
        return out.sum()

    z, ys = rng.standard_normal((4, 3)), np.array([0, 2, 1, 1])
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    assert_close(th.jit(nll)(z, ys), np.asarray(-log_p[np.arange(4), ys].sum()), rtol=1e-12)
    want = np.exp(log_p)
    want[np.arange(4), ys] -= 1
    assert_close(th.jit(th.grad(nll))(z, ys), want, rtol=1e-10)
