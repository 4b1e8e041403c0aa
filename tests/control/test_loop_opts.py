"""The tn.scan loop passes (passes/optimize/loops/) in the real pipeline: each program gives the
NumPy loop's result with the optimizer on (`fast_run`, which runs the passes) and off
(`fast_compile`), and the optimized IR (`as_text("tn-opt")`) shows that the pass fired.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import pytest
from mlir import ir
from support import FLOATS, assert_close

import theanir as th
from theanir.dialects.tn.context import get_context


class Op(NamedTuple):
    name: str
    loops: int  # how many tn.scan bodies enclose it
    operands: tuple[str, ...]  # operand types
    results: int


def optimized_ops(fn: th.JitFunction, *args: Any) -> list[Op]:
    """Every op of the optimized tn IR of `fn` on `args`, nested ones included."""
    out: list[Op] = []

    def walk(block: ir.Block, loops: int) -> None:
        for op in block.operations:
            o = op.operation
            out.append(Op(o.name, loops, tuple(str(v.type) for v in o.operands), len(o.results)))
            for region in o.regions:
                for b in region.blocks:
                    walk(b, loops + (o.name == "tn.scan"))

    with get_context():
        module = ir.Module.parse(fn.lower(*args).as_text("tn-opt"))
        for func in module.body.operations:
            walk(func.regions[0].blocks[0], 0)
    return out


def named(ops: list[Op], name: str, loops: int | None = None) -> list[Op]:
    return [o for o in ops if o.name == name and (loops is None or o.loops == loops)]


def check(f: Callable, args: tuple, want: Any, static_argnums: tuple[int, ...] = (),
          **tol: float) -> list[Op]:
    """f with and without the optimizer against `want`; returns the optimized IR's ops."""
    fast = th.jit(f, static_argnums=static_argnums)
    slow = th.jit(f, static_argnums=static_argnums, optimizer="fast_compile")
    wants = want if isinstance(want, tuple) else (want,)
    for jitted in (fast, slow):
        got = jitted(*args)
        got = got if isinstance(got, tuple) else (got,)
        assert len(got) == len(wants)
        for g, w in zip(got, wants):
            assert_close(g, w, **tol)
    return optimized_ops(fast, *args)


# ------------------------------------------------------------------ tn-scan-inline
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("truncate", [-1, 3])
def test_inline_one_step(dtype, truncate, rng):
    def f(xs, h0):
        hs, _ = th.scan(lambda x, h: th.tanh(x + 2 * h), sequences=xs, outputs_info=h0,
                        truncate_gradient=truncate)  # a gradient-only attribute
        return hs

    xs, h0 = rng.standard_normal((1, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)
    ops = check(f, (xs, h0), np.tanh(xs[0] + 2 * h0)[None])
    assert not named(ops, "tn.scan")


def test_inline_do_while_first_step(rng):
    # n_steps = 1 with until: the first step runs whatever the flag says
    def f(x, k):
        out, _ = th.scan(lambda acc: (acc * 2, th.until(acc.sum() > -100)), outputs_info=x,
                         n_steps=k)
        return out

    x = rng.standard_normal(3)
    ops = check(f, (x, 1), (x * 2)[None], static_argnums=(1,))
    assert not named(ops, "tn.scan")


@pytest.mark.parametrize("n", [0, 1, 3])
def test_inline_fori_loop_static_trips(n, rng):
    def f(x, n):
        return th.lax.fori_loop(0, n, lambda i, v: v * 1.5 + i, x)

    x = rng.standard_normal(5)
    want = x.copy()
    for i in range(n):
        want = want * 1.5 + i
    ops = check(f, (x, n), want, static_argnums=(1,))
    assert len(named(ops, "tn.scan")) == (n > 1)


# ------------------------------------------------------------------ tn-scan-hoist
@pytest.mark.parametrize("dtype", FLOATS)
def test_hoist_invariant_ops(dtype, rng):
    def f(xs, w):
        def step(c, x):
            c = c * th.exp(w) + x * th.sin(w).sum()
            return c, c

        return th.lax.scan(step, th.zeros_like(w), xs)

    xs, w = rng.standard_normal((6, 3)).astype(dtype), rng.standard_normal(3).astype(dtype) * 0.3
    c, ys = np.zeros_like(w), []
    for x in xs:
        c = c * np.exp(w) + x * np.sin(w).sum()
        ys.append(c)
    ops = check(f, (xs, w), (c, np.stack(ys)))
    assert named(ops, "tn.exp", loops=0) and not named(ops, "tn.exp", loops=1)
    assert named(ops, "tn.reduce_sum", loops=0) and not named(ops, "tn.reduce_sum", loops=1)


def test_hoist_out_of_do_while(rng):
    # the loop stops early (until); the hoisted exp(w) runs once before it
    def f(w):
        def step(acc):
            acc = acc + th.exp(w)
            return acc, th.until(acc.sum() > 10)

        out, _ = th.scan(step, outputs_info=th.zeros_like(w), n_steps=50)
        return out

    w = rng.standard_normal(4) * 0.1
    acc, rows = np.zeros(4), []
    for _ in range(50):
        acc = acc + np.exp(w)
        rows.append(acc)
        if acc.sum() > 10:
            break
    want = np.stack(rows)  # the rows that ran
    ops = check(f, (w,), want)
    assert named(ops, "tn.exp", loops=0) and not named(ops, "tn.exp", loops=1)


# ------------------------------------------------------------------ tn-scan-vecmat-to-matmat
def _elman_numpy(xs, h0, W, U, b, backwards=False):
    h, hs = h0, []
    for t in (reversed(range(len(xs))) if backwards else range(len(xs))):
        h = np.tanh(xs[t] @ W + h @ U + b)
        hs.append(h)
    return np.stack(hs)


def _elman_inputs(rng, dtype, steps=7, batch=(3,), n=4, m=5):
    xs = rng.standard_normal((steps, *batch, n)).astype(dtype)
    h0 = rng.standard_normal((*batch, m)).astype(dtype)
    W = (rng.standard_normal((n, m)) * 0.5).astype(dtype)
    U = (rng.standard_normal((m, m)) * 0.3).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return xs, h0, W, U, b


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backwards", [False, True])
def test_elman_rnn_input_product_leaves_the_loop(dtype, backwards, rng):
    # h_t = tanh(x_t @ W + h_{t-1} @ U + b) over a batch: x_t @ W for all t is one
    # [T*B, n] x [n, m] product before the loop; only h @ U stays in it
    def rnn(xs, h0, W, U, b):
        hs, _ = th.scan(lambda x_t, h: th.tanh(x_t @ W + h @ U + b), sequences=xs,
                        outputs_info=h0, go_backwards=backwards)
        return hs

    args = _elman_inputs(rng, dtype)
    ops = check(rnn, args, _elman_numpy(*args, backwards=backwards))
    outer = named(ops, "tn.matmul", loops=0)
    assert len(outer) == 1 and outer[0].operands[0].startswith("tensor<21x4x")
    inner = named(ops, "tn.matmul", loops=1)
    assert len(inner) == 1 and inner[0].operands[1].startswith("tensor<5x5x")  # h @ U
    assert named(ops, "tn.broadcast_to", loops=0)  # the bias, hoisted
    # below tn it stays one 2-D linalg.matmul (BLAS), not a generic over (t, b, m, k)
    linalg = th.jit(rnn).lower(*args).as_text("linalg")
    assert "linalg.matmul ins(%collapsed" in linalg and "reduction" not in linalg


def test_elman_rnn_weight_gradients_after_the_loop_stay_matrix_products(rng):
    # value_and_grad of a minibatch Elman RNN: tn-scan-accumulate-to-matmat gathers the
    # per-step weight products after the loop, sum over (t, b) of Xᵀ D; reshape fusion then
    # splits the summed index into (t, b). linalg-restore-matmul folds it back into one 2-D
    # linalg.matmul (BLAS): left as a 4-D generic it ran as naive loops (~6x slower than the
    # same program compiled with dynamic shapes)
    B, H, D, T = 4, 6, 5, 7
    wx = rng.standard_normal((D, H)).astype(np.float32) * 0.3
    wh = rng.standard_normal((H, H)).astype(np.float32) * 0.3
    xs = rng.standard_normal((T, B, D)).astype(np.float32)
    y = rng.standard_normal((B, H)).astype(np.float32)

    def loss(wx, wh, xs, y):
        h, _ = th.lax.scan(lambda h, x_t: (th.tanh(x_t @ wx + h @ wh), None), th.zeros_like(y), xs)
        return ((h - y) ** 2).mean()

    f = th.jit(th.value_and_grad(loss, argnums=(0, 1)))
    linalg = f.lower(wx, wh, xs, y).as_text("linalg")
    contractions = [line for line in linalg.splitlines()
                    if "linalg.generic" in line and line.count('"reduction"') >= 2 and " ins(%" in line
                    and line.split(" ins(")[1].split(" outs(")[0].count("%") >= 2]  # two operands: a product
    assert not contractions, contractions
    _, (gx, gh) = f(wx, wh, xs, y)

    def numpy_loss(wx, wh):
        h = np.zeros((B, H))
        for t in range(T):
            h = np.tanh(xs[t] @ wx + h @ wh)
        return ((h - y) ** 2).mean()

    eps = 1e-6
    for g, w, which in ((gx, wx.astype(np.float64), 0), (gh, wh.astype(np.float64), 1)):
        num = np.zeros_like(w)
        for idx in np.ndindex(*w.shape):
            hi, lo = w.copy(), w.copy()
            hi[idx] += eps
            lo[idx] -= eps
            args_hi = (hi, wh) if which == 0 else (wx, hi)
            args_lo = (lo, wh) if which == 0 else (wx, lo)
            num[idx] = (numpy_loss(*args_hi) - numpy_loss(*args_lo)) / (2 * eps)
        assert_close(np.asarray(g).astype(np.float64), num, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_elman_rnn_lax_scan_vectors(reverse, rng):
    # th.lax.scan over rows x_t of shape [n]: x_t @ W is a [1, n] x [n, m] product per step
    def rnn(xs, h0, W, U, b):
        def step(h, x):
            h = th.tanh(x @ W + h @ U + b)
            return h, h

        return th.lax.scan(step, h0, xs, reverse=reverse)

    xs, h0, W, U, b = _elman_inputs(rng, np.float64, steps=9, batch=())
    hs = _elman_numpy(xs, h0, W, U, b, backwards=reverse)
    ops = check(rnn, (xs, h0, W, U, b), (hs[-1], hs[::-1] if reverse else hs))
    outer = named(ops, "tn.matmul", loops=0)
    assert [o.operands for o in outer] == [("tensor<9x4xf64>", "tensor<4x5xf64>")]
    assert len(named(ops, "tn.matmul", loops=1)) == 1


def test_elementwise_on_rows_leave_the_loop(rng):
    # exp(x_t) * w per step -> rows of one exp(xs) * w before the loop (a fused elementwise op)
    def f(xs, w):
        return th.lax.scan(lambda c, x: (c * 0.5 + th.exp(x) * w, c), th.zeros_like(w), xs)

    xs, w = rng.standard_normal((8, 3)), rng.standard_normal(3)
    c, rows = np.zeros(3), []
    for x in xs:
        rows.append(c)
        c = c * 0.5 + np.exp(x) * w
    ops = check(f, (xs, w), (c, np.stack(rows)))
    assert not named(ops, "tn.exp", loops=1) and not named(ops, "tn.take", loops=0)


def test_vecmat_not_for_few_rows(rng):
    # 2 steps over a 40-row sequence: computing all 40 products up front would not pay
    def f(xs, W):
        ys, _ = th.scan(lambda x: x @ W, sequences=xs, n_steps=2)
        return ys

    xs, W = rng.standard_normal((40, 3)), rng.standard_normal((3, 2))
    ops = check(f, (xs, W), xs[:2] @ W)
    assert not named(ops, "tn.matmul", loops=0) and len(named(ops, "tn.matmul", loops=1)) == 1


# ------------------------------------------------------------------ tn-scan-merge
@pytest.mark.parametrize("dtype", FLOATS)
def test_merge_independent_scans(dtype, rng):
    def f(xs):
        s, sums = th.lax.scan(lambda c, x: (c + x, c + x), th.zeros_like(xs[0]), xs)
        p, prods = th.lax.scan(lambda c, x: (c * x, c * x), th.ones_like(xs[0]), xs)
        return s, p, sums, prods

    xs = rng.uniform(0.5, 1.5, (6, 3)).astype(dtype)
    want = (xs.sum(0), xs.prod(0), np.cumsum(xs, 0), np.cumprod(xs, 0))
    ops = check(f, (xs,), want)
    (loop,) = named(ops, "tn.scan")
    assert loop.results == 4
    assert len(named(ops, "tn.take", loops=1)) == 1  # the two reads of x_t merged (tn-cse)


def test_merge_refuses_dependent_scans(rng):
    def f(xs):
        s, _ = th.lax.scan(lambda c, x: (c + x, c), th.zeros_like(xs[0]), xs)
        t, _ = th.lax.scan(lambda c, x: (c * s + x, c), th.zeros_like(xs[0]), xs)
        return t

    xs = rng.standard_normal((5, 2)) * 0.5
    s = xs.sum(0)
    t = np.zeros(2)
    for x in xs:
        t = t * s + x
    ops = check(f, (xs,), t)
    assert len(named(ops, "tn.scan")) == 2


# ------------------------------------------------------------------ tn-scan-dce
def test_dce_unused_output_and_carry(rng):
    def f(xs):
        def step(carry, x):
            c, count = carry
            c = c + x
            return (c, count + 1), (c, th.exp(c), x * 2)

        (c, _), (sums, _, _) = th.lax.scan(step, (th.zeros_like(xs[0]), np.int64(0)), xs)
        return c, sums

    xs = rng.standard_normal((5, 3))
    ops = check(f, (xs,), (xs.sum(0), np.cumsum(xs, 0)))
    (loop,) = named(ops, "tn.scan")
    assert loop.results == 2  # the sum carry and its stacked rows
    assert not named(ops, "tn.exp")


def test_dce_last_output_keeps_the_trip(rng):
    # only final carries are used: the first loop goes, the second keeps its carry (its trip
    # stays min(n_steps, length) without stacked rows)
    def f(x, k):
        th.lax.scan(lambda c, _: (c - 1, c), x, None, length=k)
        c, _ = th.lax.scan(lambda c, _: (c * 0.5 + 1, c), x, None, length=k)
        return c

    x = rng.standard_normal(3)
    want = x.copy()
    for _ in range(4):
        want = want * 0.5 + 1
    ops = check(f, (x, 4), want, static_argnums=(1,))
    (loop,) = named(ops, "tn.scan")
    assert loop.results == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backward_product_reshaped_to_maps_stays_a_matrix_product(dtype, rng):
    # the gradient through `h.reshape(B, 80) @ W` of a conv net: d @ W.T reshaped to the
    # pooled maps [B, C, H, W]; reshape fusion splits the product's column index into (c, h, w)
    # with W read transposed, and linalg-restore-matmul makes it a transposed-B linalg.matmul
    # again (left as a generic it ran as scalar loops, a third of LeNet's training step)
    B, C, H, N = 6, 5, 4, 7
    x = rng.standard_normal((B, C, H, H)).astype(dtype)
    w = rng.standard_normal((C * H * H, N)).astype(dtype) * 0.3
    y = rng.integers(0, N, B)

    def loss(x, w):
        logp = th.log_softmax(th.tanh(x).reshape((B, C * H * H)) @ w, axis=-1)
        return -th.mean(logp[th.arange(B), y])

    # both gradients, as a training step takes them: d feeds two products (so elementwise
    # fusion leaves it alone, as in LeNet)
    f = th.jit(th.grad(loss, argnums=(0, 1)))
    linalg = f.lower(x, w).as_text("linalg")
    contractions = [line for line in linalg.splitlines()
                    if "linalg.generic" in line and '"reduction"' in line and " ins(%" in line
                    and line.split(" ins(")[1].split(" outs(")[0].count("%") >= 2
                    and "x5x4x4x" in line]
    assert not contractions, contractions
    got = np.asarray(f(x, w)[0])
    th_x = np.tanh(x.astype(np.float64))
    z = th_x.reshape(B, -1) @ w
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(B), y] -= 1
    want = ((p / B) @ w.T).reshape(x.shape) * (1 - th_x ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == "float32" else 1e-10, atol=1e-6)
