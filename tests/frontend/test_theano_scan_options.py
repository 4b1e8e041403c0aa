"""th.scan on symbolic variables: n_steps from shapes (x.shape[0]) compiles once per shape and
never specializes on x's values; a scalar n_steps input compiles once for every value; Theano's
strict=, mode=, name=, profile=, allow_gc=, return_list= are accepted."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from support import assert_close


def _rnn_reference(xv, W):
    h = np.zeros(W.shape[0])
    hs = []
    for row in xv:
        h = np.tanh(row + h @ W)
        hs.append(h)
    return np.array(hs)


def test_n_steps_from_a_matrix_shape_compiles_once_per_shape(rng):
    # regression (issue 14): n_steps=x.shape[0] with a matrix x raised "can only convert an
    # array of size 1 to a Python scalar" on every call
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    W = th.shared(rng.normal(size=(3, 3)) * 0.3, name="W")
    hs, _ = th.scan(lambda xt, h: T.tanh(xt + T.dot(h, W)), sequences=x, outputs_info=h0,
                    n_steps=x.shape[0])
    f = th.function([x, h0], hs)
    for _ in range(3):
        xv = rng.normal(size=(5, 3))
        assert_close(f(xv, np.zeros(3)), _rnn_reference(xv, W.get_value()))
    assert f.cache_size == 1  # same shape, new values: no recompilation
    xv = rng.normal(size=(2, 3))
    assert_close(f(xv, np.zeros(3)), _rnn_reference(xv, W.get_value()))  # new length: new trace


def test_n_steps_from_shape_expressions_and_gradient(rng):
    x = T.dmatrix("x")
    ys, _ = th.scan(lambda a: a * 2.0, outputs_info=T.zeros_like(x[0]) + 1.0,
                    n_steps=x.shape[0] * 2 - 1)
    f = th.function([x], ys[-1])
    assert_close(f(np.ones((3, 2))), np.full(2, 2.0 ** 5))
    # the gradient through a scan whose length is a shape
    s, _ = th.scan(lambda xt, acc: acc + T.sin(xt), sequences=x, outputs_info=T.zeros_like(x[0]),
                   n_steps=x.shape[0])
    g = th.function([x], T.grad(s[-1].sum(), x))
    xv = rng.normal(size=(4, 2))
    assert_close(g(xv), np.cos(xv))


def test_scalar_n_steps_compiles_once_for_every_value():
    # issue 16: a traced n_steps gives outputs of a dynamic length; before, one trace per k
    h0, k = T.dvector("h0"), T.iscalar("k")
    hs, _ = th.scan(lambda h: h * 2, outputs_info=h0, n_steps=k)
    g = th.function([h0, k], hs[-1])
    f = th.function([h0, k], hs)
    assert_close(g(np.ones(2), 3), np.full(2, 8.0))
    assert_close(g(np.ones(2), 5), np.full(2, 32.0))
    assert_close(g(np.ones(2) * 2, 3), np.full(2, 16.0))
    assert g.cache_size == 1
    for n in (0, 1, 4, 9):
        assert_close(f(np.ones(2), n), 2.0 ** np.arange(1, n + 1)[:, None] * np.ones((n, 2)))
    assert np.asarray(f(np.ones(2), -3)).shape == (0, 2)  # max(k, 0) steps
    assert f.cache_size == 1
    gk = th.function([h0, k], T.grad(hs.sum(), h0))  # reverse mode over k steps
    for n in (0, 1, 6):
        assert_close(gk(np.ones(2), n), np.full(2, float(sum(2 ** j for j in range(1, n + 1)))))
    assert gk.cache_size == 1


def test_theano_options_accepted_and_strict(rng):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    W = th.shared(np.eye(3) * 0.5, name="W")
    with pytest.raises(ValueError, match="strict=True.*'W'.*non_sequences"):
        th.scan(lambda xt, h: T.tanh(xt + T.dot(h, W)), sequences=x, outputs_info=h0, strict=True)
    # an expression of an undeclared shared variable counts too
    with pytest.raises(ValueError, match="strict=True"):
        WT = W.T
        th.scan(lambda xt, h: T.tanh(xt + T.dot(h, WT)), sequences=x, outputs_info=h0, strict=True)
    hs, upd = th.scan(lambda xt, h, w: T.tanh(xt + T.dot(h, w)), sequences=x, outputs_info=h0,
                      non_sequences=[W], strict=True, mode="FAST_RUN", name="rnn", profile=False,
                      allow_gc=True, return_list=True)
    assert isinstance(hs, list) and len(upd) == 0
    xv = rng.normal(size=(4, 3))
    assert_close(th.function([x, h0], hs[0])(xv, np.zeros(3)), _rnn_reference(xv, W.get_value()))


def test_a_symbolic_scan_traces_the_same_ir_in_every_process():
    """The scan node's outer operands come in graph order, not a set's (object ids): the traced
    IR, hence the disk cache key and a pickled function's reload, is the same across processes."""
    import subprocess
    import sys
    code = (
        "import numpy as np, theanir as th, theanir.tensor as T\n"
        "ws = [th.shared(np.full((3, 3), 0.1 * i), name=f'w{i}') for i in range(6)]\n"
        "x = T.dmatrix('x')\n"
        "def step(x_t, h):\n"
        "    for w in ws:\n"
        "        h = T.tanh(T.dot(h, w) + x_t)\n"
        "    return h\n"
        "h, _ = th.scan(step, sequences=x, outputs_info=T.zeros((3,)))\n"
        "f = th.function([x], h[-1])\n"
        "print(f.lower(np.ones((4, 3))).as_text('tn'))\n")
    texts = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
             for _ in range(3)}
    assert len(texts) == 1
