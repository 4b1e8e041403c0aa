"""Convolution (issue 19): T.nnet.conv2d and th.lax.conv_general_dilated against
scipy.signal.correlate, over border modes, strides, dilations, odd sizes, float32/float64;
gradients by th.verify_grad; errors that name the argument and the user's line; th.function
(dynamic shapes) and th.jit (static). The tn ops' own rows are in tests/op_rows.py."""
from __future__ import annotations

import operator

import numpy as np
import pytest
import scipy.signal

import theanir as th
import theanir.tensor as T
from theanir.tensor.nnet import conv2d
from support import assert_close


def _dilate_kernel(k: np.ndarray, d: tuple[int, int]) -> np.ndarray:
    out = np.zeros(((k.shape[0] - 1) * d[0] + 1, (k.shape[1] - 1) * d[1] + 1), k.dtype)
    out[::d[0], ::d[1]] = k
    return out


def scipy_conv(x, w, pads, strides=(1, 1), dilation=(1, 1), flip=True):
    """Per (n, o): sum over c of scipy.signal.correlate of the zero-padded image with the
    (flipped, dilated) kernel, then every stride-th output."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    xp = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]))
    outs = np.zeros((x.shape[0], w.shape[0]) + tuple(
        (xp.shape[2 + a] - ((w.shape[2 + a] - 1) * dilation[a] + 1)) // strides[a] + 1 for a in range(2)))
    for n in range(x.shape[0]):
        for o in range(w.shape[0]):
            acc = 0
            for c in range(x.shape[1]):
                k = w[o, c, ::-1, ::-1] if flip else w[o, c]
                acc = acc + scipy.signal.correlate(xp[n, c], _dilate_kernel(k, dilation), mode="valid")
            outs[n, o] = acc[::strides[0], ::strides[1]] if x.shape[1] else 0
    return outs


def _pads(border_mode, kernel, dilation):
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    if border_mode == "valid":
        return (0, 0, 0, 0)
    if border_mode == "full":
        return (span[0] - 1, span[0] - 1, span[1] - 1, span[1] - 1)
    if border_mode == "half":
        return (span[0] // 2, span[0] // 2, span[1] // 2, span[1] // 2)
    if isinstance(border_mode, int):
        return (border_mode,) * 4
    return (border_mode[0], border_mode[0], border_mode[1], border_mode[1])


CASES = [  # (x shape, w shape, border_mode, subsample, filter_dilation, filter_flip)
    ((2, 3, 7, 6), (4, 3, 3, 2), "valid", (1, 1), (1, 1), True),
    ((2, 3, 7, 6), (4, 3, 3, 2), "full", (2, 1), (1, 1), False),
    ((1, 2, 9, 8), (3, 2, 3, 3), "half", (1, 2), (2, 1), True),
    ((3, 1, 5, 5), (2, 1, 5, 5), 1, (3, 3), (1, 1), True),
    ((2, 2, 8, 7), (2, 2, 2, 3), (2, 1), (2, 2), (2, 2), False),
    ((1, 1, 1, 1), (1, 1, 1, 1), "valid", (1, 1), (1, 1), True),
    ((2, 3, 11, 13), (5, 3, 5, 5), "valid", (1, 1), (1, 1), True),  # LeNet-like, odd sizes
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[2]}-s{c[3]}-d{c[4]}-{'flip' if c[5] else 'corr'}" for c in CASES])
def test_conv2d_matches_scipy(case, dtype):
    xs, ws, bm, sub, dil, flip = case
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    want = scipy_conv(x, w, _pads(bm, ws[2:], dil), sub, dil, flip).astype(dtype)
    f = th.jit(lambda x, w: conv2d(x, w, border_mode=bm, subsample=sub, filter_dilation=dil, filter_flip=flip))
    assert_close(f(x, w), want, dtype, rtol=1e-5 if dtype == np.float64 else 2e-4, atol=1e-5)
    X, W = T.tensor4("x", dtype=np.dtype(dtype).name), T.tensor4("w", dtype=np.dtype(dtype).name)
    g = th.function([X, W], conv2d(X, W, border_mode=bm, subsample=sub, filter_dilation=dil, filter_flip=flip))
    assert_close(g(x, w), want, dtype, rtol=1e-5 if dtype == np.float64 else 2e-4, atol=1e-5)


def test_conv2d_non_contiguous_inputs():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 14))[:, :, :, ::2]
    w = rng.standard_normal((3, 4, 3, 3)).transpose(1, 0, 2, 3)
    f = th.jit(lambda x, w: conv2d(x, w, border_mode="half"))
    assert_close(f(x, w), scipy_conv(x, w, (1, 1, 1, 1)), np.float64, rtol=1e-10)


@pytest.mark.parametrize("case", CASES[:5], ids=[str(i) for i in range(5)])
def test_conv2d_verify_grad(case):
    xs, ws, bm, sub, dil, flip = case
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    th.verify_grad(lambda x, w: conv2d(x, w, border_mode=bm, subsample=sub, filter_dilation=dil,
                                       filter_flip=flip), [x, w], rng=rng)


def test_conv2d_verify_grad_float32():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 2, 6, 5)).astype(np.float32), rng.standard_normal((3, 2, 3, 2)).astype(np.float32)
    th.verify_grad(lambda x, w: conv2d(x, w, border_mode="half", subsample=(2, 1)), [x, w], rng=rng)


def test_second_derivative():
    # the adjoint ops are differentiable again: d/dw of <grad_x, v> through tn.conv2d_input_grad
    rng = np.random.default_rng(4)
    x, w, v = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal((2, 2, 6, 5))
    th.verify_grad(lambda x, w: (th.grad(lambda x: (conv2d(x, w) ** 2).sum())(x) * v).sum(), [x, w], rng=rng)


def test_theano_gradients_through_function():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    X, W = T.tensor4("x"), T.tensor4("w")
    cost = T.sum(T.tanh(conv2d(X, W, border_mode="full")))
    gx, gw = th.function([X, W], T.grad(cost, [X, W]))(x, w)
    jx, jw = th.jit(th.grad(lambda x, w: th.tanh(conv2d(x, w, border_mode="full")).sum(), argnums=(0, 1)))(x, w)
    assert_close(gx, np.asarray(jx), np.float64, rtol=1e-10)
    assert_close(gw, np.asarray(jw), np.float64, rtol=1e-10)


def test_dynamic_batch_compiles_once():
    """A traced batch dim (x.reshape((x.shape[0], 1, 8, 8)), LeNet's pattern) keeps one compile."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((2, 1, 3, 3))
    X = T.matrix("x")
    W = th.shared(w, name="W")
    y = conv2d(X.reshape((X.shape[0], 1, 8, 8)), W)
    f = th.function([X], [y, T.grad(T.sum(y ** 2), W)])
    for n in (3, 5):
        x = rng.standard_normal((n, 64))
        out, gw = f(x)
        want = scipy_conv(x.reshape(n, 1, 8, 8), w, (0, 0, 0, 0))
        assert_close(out, want, np.float64, rtol=1e-10)
        assert_close(gw, np.asarray(th.grad(lambda w: (conv2d(x.reshape(n, 1, 8, 8), w) ** 2).sum())(w)),
                     np.float64, rtol=1e-10)
    assert f.dynamic_error is None and f._jit.cache_size == 1


def test_fully_dynamic_falls_back_per_shape():
    X, W = T.tensor4("x"), T.tensor4("w")
    f = th.function([X, W], conv2d(X, W))
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))
    assert_close(f(x, w), np.full((1, 1, 3, 3), 4.0), np.float64)
    assert "dynamic dims other than the batch" in f.dynamic_error


# ------------------------------------------------------------------ errors name the argument and line
def _line_of(marker: str) -> int:
    import inspect
    src, start = inspect.getsourcelines(test_errors_name_argument_and_line)
    return start + next(i for i, l in enumerate(src) if marker in l)


def test_errors_name_argument_and_line():
    x, w = np.ones((1, 3, 4, 4)), np.ones((2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d: filters .* larger than the input .*test_conv.py:(\d+)") as e:
        th.jit(lambda x, w: conv2d(x, w))(x, w)  # marker: big-filter
    assert e.match(f"test_conv.py:{_line_of('marker: big-filter')}")
    with pytest.raises(ValueError, match=r"conv2d: channel mismatch: input has 3 channels .* filters expect 2") as e:
        th.jit(lambda x, w: conv2d(x, w))(x, np.ones((2, 2, 3, 3)))  # marker: channels
    assert e.match(f"test_conv.py:{_line_of('marker: channels')}")
    with pytest.raises(ValueError, match=r"conv2d: subsample must be two ints >= 1, got \(-1, 1\)") as e:
        th.jit(lambda x, w: conv2d(x, w, subsample=(-1, 1)))(x, np.ones((2, 3, 3, 3)))  # marker: stride
    assert e.match(f"test_conv.py:{_line_of('marker: stride')}")
    X, W = T.tensor4("x"), T.tensor4("w")
    with pytest.raises(ValueError, match=r"conv2d: filters .* larger than the input"):
        th.function([X, W], conv2d(X, W))(x, w)
    with pytest.raises(ValueError, match=r"conv2d: border_mode must be"):
        th.jit(lambda x, w: conv2d(x, w, border_mode="same"))(x, w)
    with pytest.raises(ValueError, match=r"conv2d: filter_dilation must be two ints >= 1"):
        th.jit(lambda x, w: conv2d(x, w, filter_dilation=0))(x, w)
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D"):
        th.jit(lambda x, w: conv2d(x, w))(np.ones((3, 4, 4)), w)
    with pytest.raises(ValueError, match=r"conv2d: input_shape=\(1, 2, 4, 4\) does not match"):
        th.jit(lambda x, w: conv2d(x, w, input_shape=(1, 2, 4, 4)))(x, np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"conv_general_dilated: window_strides must be two ints >= 1"):
        th.jit(lambda x, w: th.lax.conv_general_dilated(x, w, (0, 1), "VALID"))(x, w)


# ------------------------------------------------------------------ JAX spelling
LAYOUTS = [(None, (0, 1, 2, 3), (0, 1, 2, 3)),  # (dimension_numbers, NCHW -> lhs layout, OIHW -> rhs layout)
           (("NCHW", "OIHW", "NCHW"), (0, 1, 2, 3), (0, 1, 2, 3)),
           (("NHWC", "HWIO", "NHWC"), (0, 2, 3, 1), (2, 3, 1, 0))]


@pytest.mark.parametrize("dn,xperm,wperm", LAYOUTS, ids=["default", "NCHW", "NHWC"])
@pytest.mark.parametrize("padding", ["VALID", "SAME", ((1, 2), (0, 1))])
def test_conv_general_dilated(dn, xperm, wperm, padding):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    strides, rhs_dil = (2, 1), (1, 2)
    if padding == "SAME":  # out = ceil(in / stride): 2 rows and 2 columns of padding, split evenly
        pads = (1, 1, 1, 1)
    else:
        pads = (0, 0, 0, 0) if padding == "VALID" else (1, 2, 0, 1)
    want = scipy_conv(x, w, pads, strides, rhs_dil, flip=False)
    xl, wl = np.transpose(x, xperm), np.transpose(w, wperm)
    f = th.jit(lambda x, w: th.lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=rhs_dil,
                                                        dimension_numbers=dn))
    got = np.asarray(f(xl, wl))
    assert_close(np.transpose(got, np.argsort(xperm)), want, np.float64, rtol=1e-10)
    if padding == "SAME":
        assert got.shape[-2 if dn and dn[0] == "NHWC" else -1] == 6 and want.shape[2:] == (4, 6)


def test_lhs_dilation_is_a_transposed_convolution():
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((3, 2, 3, 3))
    xd = np.zeros((1, 2, 7, 5))
    xd[:, :, ::2, ::2] = x
    f = th.jit(lambda x, w: th.lax.conv_general_dilated(x, w, (1, 1), ((2, 2), (2, 2)), lhs_dilation=(2, 2)))
    assert_close(f(x, w), scipy_conv(xd, w, (2, 2, 2, 2), flip=False), np.float64, rtol=1e-10)
    th.verify_grad(lambda x, w: th.lax.conv_general_dilated(x, w, (1, 1), "SAME", lhs_dilation=(2, 1)), [x, w])


def test_lax_conv():
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 1, 5, 5)), rng.standard_normal((2, 1, 2, 2))
    assert_close(th.jit(lambda x, w: th.lax.conv(x, w, (1, 1), "VALID"))(x, w),
                 scipy_conv(x, w, (0, 0, 0, 0), flip=False), np.float64, rtol=1e-10)


def test_eager_outside_a_trace():
    """On NumPy arrays outside th.jit the functions compute op by op (frontend/eager.py)."""
    from theanir.tensor.signal import pool
    x, w = np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2))
    assert_close(np.asarray(conv2d(x, w)), scipy_conv(x, w, (0, 0, 0, 0)), np.float64)
    assert_close(np.asarray(th.lax.conv(x, w, (1, 1), "VALID")), scipy_conv(x, w, (0, 0, 0, 0), flip=False), np.float64)
    assert_close(np.asarray(pool.pool_2d(x, (2, 2), ignore_border=True)), np.array([[[[5.0, 7.0], [13.0, 15.0]]]]),
                 np.float64)
    assert_close(np.asarray(th.lax.reduce_window(x, 0.0, operator.add, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")),
                 np.array([[[[10.0, 18.0], [42.0, 50.0]]]]), np.float64)


# ---------------------------------------------------------------- batch blocks
# A big im2col GEMM runs per block of images (ops/window_lower.py: batch_block, an scf.forall
# over the blocks; the filter gradient sums per-worker partials). Forced here on small shapes
# (BLOCK_FROM_BYTES = 0); the disk cache is off: it keys on the tn module, not the lowering.
BLOCKED = [  # (x shape, w shape, border_mode, subsample, filter_dilation, block bytes)
    ((6, 3, 7, 6), (4, 3, 3, 2), "valid", (1, 1), (1, 1), 1),            # 1 image per block
    ((6, 3, 7, 6), (4, 3, 3, 2), "full", (2, 1), (1, 1), 3 * 4 * 18 * 42),  # 3 per block
    ((5, 2, 9, 8), (3, 2, 3, 3), "half", (1, 2), (2, 1), 10 ** 6),         # a prime batch
    ((12, 2, 8, 7), (2, 2, 2, 3), (2, 1), (2, 2), (2, 2), 4 * 400),      # 12 blocks: 8 workers
]


@pytest.fixture
def blocks_forced(monkeypatch):
    from theanir.dialects.tn.ops import window_lower as wl
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(wl, "BLOCK_FROM_BYTES", 0)
    return lambda nbytes: monkeypatch.setattr(wl, "BLOCK_BYTES", nbytes)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", BLOCKED, ids=[f"{c[0][0]}img-{c[2]}-blk{c[5]}" for c in BLOCKED])
def test_batch_blocks_match_reference(case, dtype, threads, blocks_forced, monkeypatch):
    from theanir.dialects.tn.ops import conv as conv_ops
    xs, ws, bm, sub, dil, nbytes = case
    blocks_forced(nbytes)
    monkeypatch.setattr(th.config, "threads", threads)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    pads = _pads(bm, ws[2:], dil)
    y_want = scipy_conv(x, w, pads, sub, dil, flip=False)
    g = rng.standard_normal(y_want.shape).astype(dtype)
    conv = lambda x, w: conv2d(x, w, border_mode=bm, subsample=sub, filter_dilation=dil, filter_flip=False)
    f = th.jit(lambda x, w, g: (conv(x, w),) + tuple(th.grad(lambda x, w: (conv(x, w) * g).sum(), argnums=(0, 1))(x, w)))
    assert "scf.forall" in f.lower(x, w, g).as_text("linalg")
    y, dx, dw = f(x, w, g)
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    tol = dict(rtol=1e-9 if dtype == np.float64 else 2e-4, atol=1e-9 if dtype == np.float64 else 1e-4)
    assert_close(y, y_want.astype(dtype), dtype, **tol)
    assert_close(dx, conv_ops.input_grad_np(g64, w64, sub, pads, dil, xs[2:]).astype(dtype), dtype, **tol)
    assert_close(dw, conv_ops.filter_grad_np(x64, g64, sub, pads, dil, ws[2:]).astype(dtype), dtype, **tol)


def test_batch_blocks_verify_grad(blocks_forced):
    blocks_forced(1)
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((4, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2))
    th.verify_grad(lambda x, w: conv2d(x, w, border_mode="half", subsample=(2, 1)), [x, w], rng=rng)


def test_batch_blocks_only_for_big_static_batches():
    from theanir.dialects.tn.ops import window_lower as wl
    assert wl.batch_block(500, 128 * 1024) == 4  # LeNet-5's conv2 columns: 64 MB -> 512 KB blocks
    assert wl.batch_block(2, 128 * 1024) is None  # 256 KB in all: unblocked
    # a batch sized at run time (None stands for its index value): blocks of 512 KB when an
    # image's temporary is big enough that a batch of 128 would be blocked
    assert wl.batch_block(None, 128 * 1024) == 4
    assert wl.batch_block(None, 1 << 30) == 1
    assert wl.batch_block(None, 1024) is None
    assert wl.batch_block(499, 128 * 1024) == 1  # a prime batch: one image per block


def test_batch_blocks_same_bits_on_1_and_2_threads(blocks_forced, monkeypatch):
    """Each block's GEMM is one single-threaded BLAS call and the filter gradient's partial sums
    are added in a fixed order: the results do not depend on the thread count (docs/threads.md)."""
    blocks_forced(4 * 400)
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((24, 3, 12, 12)).astype(np.float32), rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    g = rng.standard_normal((24, 5, 10, 10)).astype(np.float32)
    out = {}
    for threads in (1, 2):
        monkeypatch.setattr(th.config, "threads", threads)
        f = th.jit(lambda x, w, g: (conv2d(x, w),) + tuple(th.grad(lambda x, w: (conv2d(x, w) * g).sum(),
                                                                   argnums=(0, 1))(x, w)))
        out[threads] = [np.asarray(a) for a in f(x, w, g)]
    for a, b in zip(out[1], out[2]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("blocked", [True, False], ids=["blocked", "unblocked"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_blocks_of_a_batch_sized_at_run_time(dtype, threads, blocked, monkeypatch):
    """th.function over x.reshape((x.shape[0], ...)): one compile for every batch size, full
    blocks of 3 images in an scf.forall and a remainder of 1 or 2 (or no block at all); or
    unblocked (images this small are not blocked by default), where every product must still
    reach BLAS (linalg-restore-matmul on dynamic shapes: a generic contraction ran ~200x slower)."""
    from theanir.dialects.tn.ops import conv as conv_ops, window_lower as wl
    import theanir.tensor as T
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(th.config, "threads", threads)
    xs, ws, pads, sub, dil = (3, 9, 10), (4, 3, 3, 3), (1, 1, 2, 2), (1, 2), (2, 1)
    per_image = {np.float64: 8, np.float32: 4}[dtype] * 3 * 9 * 7 * 6  # the forward's columns
    if blocked:
        monkeypatch.setattr(wl, "BLOCK_BYTES", 3 * per_image)
        monkeypatch.setattr(wl, "DYNAMIC_FROM_BYTES", 1)
    rng = np.random.default_rng(8)
    w_val = rng.standard_normal(ws).astype(dtype)
    x, g, w = T.matrix("x", dtype=dtype), T.tensor4("g", dtype=dtype), th.shared(w_val)
    y = conv2d(x.reshape((x.shape[0],) + xs), w, border_mode=(1, 2), subsample=sub, filter_dilation=dil,
               filter_flip=False)
    dx, dw = T.grad((y * g).sum(), [x, w])
    f = th.function([x, g], [y, dx, dw])
    tol = dict(rtol=1e-9 if dtype == np.float64 else 2e-4, atol=1e-9 if dtype == np.float64 else 1e-4)
    for n in (0, 1, 2, 3, 5, 7, 13):
        xv = rng.standard_normal((n, int(np.prod(xs)))).astype(dtype)
        x4, w64 = xv.reshape((n,) + xs).astype(np.float64), w_val.astype(np.float64)
        y_want = scipy_conv(x4, w64, pads, sub, dil, flip=False) if n else np.zeros((0, 4, 7, 6))
        gv = rng.standard_normal(y_want.shape).astype(dtype)
        got_y, got_dx, got_dw = f(xv, gv)
        assert_close(got_y, y_want.astype(dtype), dtype, **tol)
        dx_want = conv_ops.input_grad_np(gv.astype(np.float64), w64, sub, pads, dil, xs[1:]) if n else x4
        assert_close(got_dx, dx_want.reshape(n, int(np.prod(xs))).astype(dtype), dtype, **tol)
        dw_want = (conv_ops.filter_grad_np(x4, gv.astype(np.float64), sub, pads, dil, ws[2:]) if n
                   else np.zeros(ws))
        assert_close(got_dw, dw_want.astype(dtype), dtype, **tol)
    assert f.dynamic_shapes
    text = f.lower(xv, gv).as_text("linalg")
    if blocked:
        assert text.count("scf.forall") >= 3  # the forward, the input and the filter gradient
    else:
        assert "scf.forall" not in text
    bufferized = f.lower(xv, gv).as_text("bufferized")
    # three products, and no generic contraction left (its iterators end in a reduction)
    assert bufferized.count("linalg.matmul") >= 3 and '"parallel", "reduction"]' not in bufferized
