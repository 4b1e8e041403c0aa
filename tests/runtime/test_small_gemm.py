"""theanir-small-gemm (passes/lower/small_gemm.py): products with a side <= 16 run generated
register-blocked kernels. Their values equal NumPy's over the shapes that exercise every
block remainder (rows, masked column tails, the k tail of the dot kernel, k = 0), both
kernels, both dtypes, transposed operands read in place and in-place weight updates."""
import re

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.passes.lower.small_gemm import SMALL
from tests.support import noncontiguous, rand

FLOATS = ["float32", "float64"]
TOL = {"float32": dict(rtol=2e-5, atol=2e-5), "float64": dict(rtol=1e-12, atol=1e-12)}


def _product(ta: bool, tb: bool):
    return lambda a, b: (a.T if ta else a) @ (b.T if tb else b)


def _kernels(f, *args) -> set[str]:
    return set(re.findall(r"@__theanir_([rd]kp?)_f(?:32|64)_\d+x\d+", f.lower(*args).as_text("llvm")))


# (m, k, n): minibatch rows (with row blocks and remainders), k = 0 / 1 / not a multiple
# of the vector, n shorter than a vector, masked tails; then rank-k updates (k small, m big)
SHAPES = [(2, 3, 5), (10, 784, 10), (10, 33, 40), (16, 7, 17), (13, 1, 9), (5, 0, 6),
          (10, 100, 70), (50, 10, 33), (37, 16, 8), (100, 2, 129)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("m,k,n", SHAPES, ids=str)
def test_small_products_match_numpy(m, k, n, ta, tb, dtype, rng):
    a = rand(rng, (k, m) if ta else (m, k), dtype)
    b = rand(rng, (n, k) if tb else (k, n), dtype)
    fn = _product(ta, tb)
    want = fn(a.astype(np.float64), b.astype(np.float64))
    got = th.jit(fn)(a, b)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(np.asarray(got), want, **TOL[dtype])


@pytest.mark.parametrize("ta,tb,kernel", [(False, False, "rkp"), (True, False, "rkp"), (False, True, "dk")])
def test_the_kernel_for_each_layout(ta, tb, kernel):
    """A row-major B: the row-broadcast kernel (A in any layout; K = 40 > 16 streams B, so
    the prefetching variant); B read transposed: the dot kernel; both transposed: BLAS. A
    side of 17+ everywhere (or a vector): BLAS."""
    a = np.ones((40, 10) if ta else (10, 40), np.float32)
    b = np.ones((30, 40) if tb else (40, 30), np.float32)
    f = th.jit(_product(ta, tb))
    assert _kernels(f, a, b) == {kernel}
    big = np.ones((SMALL + 1, SMALL + 1), np.float32)
    assert _kernels(f, big, big) == set()
    assert _kernels(th.jit(lambda v, w: v @ w), np.ones((1, 40), np.float32), b if not tb else b.T) == set()


@pytest.mark.parametrize("dtype", FLOATS)
def test_noncontiguous_inputs(dtype, rng):
    a, b = rand(rng, (10, 23), dtype), rand(rng, (23, 19), dtype)
    got = th.jit(lambda a, b: a @ b)(noncontiguous(a), noncontiguous(b))
    np.testing.assert_allclose(np.asarray(got), a.astype(np.float64) @ b, **TOL[dtype])


@pytest.mark.parametrize("dtype", FLOATS)
def test_minibatch_sgd_steps_match_numpy(dtype, rng):
    """An MLP layer's SGD step at batch 10: forward (rk), backward through W (dk) and the
    rank-10 weight update accumulated into W's own buffer (rk, gemm-updates)."""
    w0, v0 = rand(rng, (37, 21), dtype) * 0.3, rand(rng, (21, 3), dtype) * 0.3
    w, v = th.shared(w0.copy(), name="w"), th.shared(v0.copy(), name="v")
    x = T.matrix("x", dtype=dtype)
    h = T.tanh(T.dot(x, w))
    loss = (T.dot(h, v) ** 2).sum()
    gw, gv = T.grad(loss, [w, v])
    # static shapes: the kernels are generated per shape (a function with dynamic dims gets
    # this code for a shape it runs th.config.specialize_after times: test_dynamic_function.py)
    f = th.function([x], loss, updates=[(w, w - 0.01 * gw), (v, v - 0.01 * gv)], dynamic_shapes=False)
    ww, vv = w0.astype(np.float64), v0.astype(np.float64)
    for _ in range(3):
        xs = rand(rng, (10, 37), dtype)
        f(xs)
        hh = np.tanh(xs @ ww)
        y = hh @ vv
        gy = 2 * y
        gh = gy @ vv.T * (1 - hh ** 2)
        ww, vv = ww - 0.01 * xs.T.astype(np.float64) @ gh, vv - 0.01 * hh.T @ gy
        np.testing.assert_allclose(w.get_value(), ww, **TOL[dtype])
        np.testing.assert_allclose(v.get_value(), vv, **TOL[dtype])
    assert _kernels(f, xs) == {"rkp", "rk", "dk"}  # forward, the rank-10 updates, backward


# Products sized at run time (passes/lower/small_gemm_dynamic.py): one compile with dynamic
# dims branches on the sizes in the call: kernels when a side is small, BLAS (or the loops)
# otherwise. Every (m, k, n) below runs through the same compiled code.
DYNAMIC_SHAPES = SHAPES + [(1, 5, 7), (7, 40, 3), (17, 17, 17), (3, 1100, 9), (20, 20, 1), (0, 4, 5),
                           (11, 0, 0), (16, 1024, 24), (200, 16, 300)]


@pytest.mark.parametrize("blas", [True, False])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_products_sized_at_run_time_match_numpy(ta, tb, dtype, blas, rng):
    fn = _product(ta, tb)
    before = th.config.blas
    th.config.blas = blas
    try:
        f = th.jit(fn, dynamic_shapes=True)
        patterns = set()
        for m, k, n in DYNAMIC_SHAPES:
            a = rand(rng, (k, m) if ta else (m, k), dtype)
            b = rand(rng, (n, k) if tb else (k, n), dtype)
            got = f(a, b)
            want = fn(a.astype(np.float64), b.astype(np.float64))
            # the classic bound of a length-k dot product: |error| <= k eps (|A| |B|)
            bound = max(k, 1) * np.finfo(dtype).eps * fn(np.abs(a).astype(np.float64), np.abs(b)) + 1e-300
            for out in (got, f(noncontiguous(a), b)):
                assert np.asarray(out).shape == want.shape
                assert (np.abs(np.asarray(out) - want) <= bound).all(), (m, k, n)
            patterns.add((tuple(d == 1 for d in a.shape), tuple(d == 1 for d in b.shape)))
        # one compile per broadcastable pattern (and for the strided view), not per shape
        assert f.cache_size == 2 * len(patterns)
    finally:
        th.config.blas = before


@pytest.mark.parametrize("ta,tb,kernels", [(False, False, {"rkp"}), (True, False, {"rkp"}),
                                           (False, True, {"dk"}), (True, True, set())])
def test_products_sized_at_run_time_call_the_kernels(ta, tb, kernels):
    """The dynamic code holds the kernels (rkp, the prefetching rk: K is only known in the call)
    behind a run-time branch, and BLAS (the else branch) for big products."""
    f = th.jit(_product(ta, tb), dynamic_shapes=True)
    a = np.ones((40, 10) if ta else (10, 40), np.float32)
    b = np.ones((30, 40) if tb else (40, 30), np.float32)
    assert _kernels(f, a, b) == kernels
    assert "sgemm" in f.lower(a, b).as_text("llvm")
