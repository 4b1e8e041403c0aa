"""softmax / log_softmax / logsumexp, one_hot and the cross-entropies against NumPy, incl. stability."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import FLOATS, assert_close, noncontiguous, rand


# ---------------------------------------------------------------- NumPy references (float64 inside)
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def np_logsumexp(x, axis=None, keepdims=False):
    ax = _axes(axis, x.ndim)
    x64 = x.astype(np.float64)
    m = np.max(x64, axis=ax, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x64 - m), axis=ax, keepdims=True)) + m
    return (out if keepdims else np.squeeze(out, ax)).astype(x.dtype)


def np_log_softmax(x, axis=-1):
    return (x.astype(np.float64) - np_logsumexp(x.astype(np.float64), axis, keepdims=True)).astype(x.dtype)


def np_softmax(x, axis=-1):
    return np.exp(np_log_softmax(x.astype(np.float64), axis)).astype(x.dtype)


SHAPE_AXES = [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), (0, 2)), ((3, 4), None),
              ((1, 1), -1), ((3, 1), 1), ((), None)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", SHAPE_AXES, ids=str)
def test_softmax_family(shape, axis, dtype, rng):
    x = rand(rng, shape, dtype, (-5, 5))
    got = th.jit(lambda x: (th.softmax(x, axis), th.log_softmax(x, axis), th.logsumexp(x, axis),
                            th.logsumexp(x, axis, keepdims=True)))(x)
    want = (np_softmax(x, axis), np_log_softmax(x, axis), np_logsumexp(x, axis), np_logsumexp(x, axis, True))
    for g, w in zip(got, want):
        assert_close(g, w, dtype)


@pytest.mark.parametrize("shape,axis", [((0, 4), -1), ((3, 0), -1), ((3, 0), 0), ((0,), None), ((2, 0, 3), (1, 2))],
                         ids=str)
def test_softmax_family_size_zero(shape, axis):
    x = np.zeros(shape)
    got = th.jit(lambda x: (th.softmax(x, axis), th.log_softmax(x, axis), th.logsumexp(x, axis),
                            th.logsumexp(x, axis, keepdims=True)))(x)
    assert got[0].shape == shape and got[1].shape == shape
    assert_close(got[2], np_logsumexp(x, axis))  # an empty sum is 0: log gives -inf
    assert_close(got[3], np_logsumexp(x, axis, True))


@pytest.mark.parametrize("dtype", FLOATS)
def test_stability_with_huge_and_infinite_logits(dtype):
    big = np.array([1000.0, 1000.0], dtype)
    assert_close(th.jit(th.logsumexp)(big), np.array(1000 + np.log(2), dtype))
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf],
                  [np.inf, 0.0, 1.0]], dtype)
    s, ls, lse = th.jit(lambda x: (th.softmax(x), th.log_softmax(x), th.logsumexp(x, axis=-1)))(x)
    assert np.all(np.isfinite(s[:3])) and np.all(np.isfinite(ls[:2]))
    assert_close(s[:3], np_softmax(x[:3]), dtype)
    assert_close(ls[:2], np_log_softmax(x[:2]), dtype)
    assert ls[2, 1] == -np.inf and np.isfinite(ls[2, [0, 2]]).all()
    assert_close(lse, np_logsumexp(x, -1), dtype)  # rows: finite, finite, finite, -inf, +inf
    assert lse[3] == -np.inf and lse[4] == np.inf


def test_ints_promote_and_noncontiguous_input(rng):
    i = np.array([[1, 2, 3], [0, 0, 5]], np.int64)
    assert_close(th.jit(th.softmax)(i), np_softmax(i.astype(np.float64)))
    x = rand(rng, (3, 4), np.float64)
    got = th.jit(lambda x: (th.softmax(x, 0), th.logsumexp(x, 1)))(noncontiguous(x))
    assert_close(got[0], np_softmax(x, 0))
    assert_close(got[1], np_logsumexp(x, 1))


def test_ops_stay_visible_at_tn_and_decompose_below():
    lowered = th.jit(lambda x: th.log_softmax(x) + th.logsumexp(x, keepdims=True)).lower(np.ones((2, 3)))
    tn = lowered.as_text("tn")
    assert '"tn.log_softmax"' in tn and '"tn.logsumexp"' in tn
    assert "tn." not in lowered.as_text("linalg")


def test_axis_errors():
    with pytest.raises(ValueError, match=r"softmax: axis 2 is out of bounds for a tensor of rank 2"):
        th.jit(lambda x: th.softmax(x, 2)).lower(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"logsumexp: repeated axis"):
        th.jit(lambda x: th.logsumexp(x, (0, -2))).lower(np.ones((2, 3)))


# ---------------------------------------------------------------- one_hot and losses
@pytest.mark.parametrize("shape", [(5,), (2, 3), (), (0,)], ids=str)
@pytest.mark.parametrize("idt,dtype", [(np.int64, np.float64), (np.int32, np.float32), (np.int64, np.int32),
                                       (np.int32, np.bool_)], ids=str)
def test_one_hot(shape, idt, dtype, rng):
    idx = rng.integers(-1, 5, size=shape).astype(idt)  # -1 and 4 are out of range for 4 classes
    want = (idx[..., None] == np.arange(4)).astype(dtype)
    assert_close(th.jit(lambda i: th.one_hot(i, 4, dtype))(idx), want)


def test_one_hot_refuses_float_indices():
    with pytest.raises(TypeError, match="one_hot: indices must be integers"):
        th.jit(lambda i: th.one_hot(i, 3)).lower(np.ones(2))


def _probs(rng, shape, dtype=np.float64):
    p = rng.uniform(0.05, 1, size=shape)
    return (p / p.sum(-1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_categorical_crossentropy(dtype, rng):
    coding, true = _probs(rng, (4, 5), dtype), _probs(rng, (4, 5), dtype)
    assert_close(th.jit(th.categorical_crossentropy)(coding, true), -np.sum(true * np.log(coding), -1), dtype)
    labels = np.array([0, 4, 2, 2])
    coding[np.arange(4), (labels + 1) % 5] = 0  # zero probabilities elsewhere must not give nan
    want = -np.log(coding[np.arange(4), labels])
    assert_close(th.jit(th.categorical_crossentropy)(coding, labels), want, dtype)


def test_categorical_crossentropy_batched_labels_and_errors(rng):
    coding, labels = _probs(rng, (2, 3, 4)), rng.integers(0, 4, size=(2, 3))
    want = -np.log(np.take_along_axis(coding, labels[..., None], -1)[..., 0])
    assert_close(th.jit(th.categorical_crossentropy)(coding, labels), want)
    with pytest.raises(ValueError, match=r"categorical_crossentropy: true_dist of shape \(3,\)"):
        th.jit(th.categorical_crossentropy).lower(coding, np.ones(3))
    with pytest.raises(ValueError, match=r"integer labels of shape \(3,\) do not index"):
        th.jit(th.categorical_crossentropy).lower(_probs(rng, (2, 4)), np.zeros(3, np.int64))


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_crossentropy(dtype, rng):
    out = rng.uniform(0.05, 0.95, size=(3, 4)).astype(dtype)
    target = (rng.random((3, 4)) < 0.5).astype(dtype)
    want = -(target * np.log(out) + (1 - target) * np.log(1 - out))
    assert_close(th.jit(th.binary_crossentropy)(out, target), want, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_logsoftmax_crossentropy(dtype, rng):
    logits = rand(rng, (4, 5), dtype, (-5, 5))
    logits[0, 0] = 1e4  # stays finite where softmax then log would give -inf
    probs = _probs(rng, (4, 5), dtype)
    labels = np.array([1, 0, 4, 3])
    logp = np_log_softmax(logits)
    got = th.jit(lambda z, p, y: (th.logsoftmax_crossentropy(z, p), th.logsoftmax_crossentropy(z, y)))(
        logits, probs, labels)
    assert_close(got[0], -np.sum(probs * logp, -1).astype(dtype), dtype)
    assert_close(got[1], -logp[np.arange(4), labels], dtype)
    assert np.all(np.isfinite(got[0]))


# ---------------------------------------------------------------- gradients (jvp rules, via reverse too)
@pytest.mark.parametrize("fn", [
    lambda x: th.softmax(x), lambda x: th.softmax(x, axis=(0, 2)), lambda x: th.log_softmax(x, 1),
    lambda x: th.logsumexp(x), lambda x: th.logsumexp(x, axis=-1, keepdims=True),
    lambda x: th.logsumexp(x, axis=(0, 1)),
], ids=["softmax", "softmax02", "log_softmax1", "logsumexp", "logsumexp_keep", "logsumexp01"])
def test_softmax_family_grads(fn, rng):
    th.verify_grad(fn, [rng.normal(size=(2, 3, 4))], rng=rng)


def test_loss_grads(rng):
    labels = np.array([1, 0, 2])
    th.verify_grad(lambda z: th.logsoftmax_crossentropy(z, labels), [rng.normal(size=(3, 4))], rng=rng)
    th.verify_grad(lambda z, p: th.logsoftmax_crossentropy(z, p), [rng.normal(size=(3, 4)), _probs(rng, (3, 4))],
                   rng=rng)
    th.verify_grad(lambda c: th.categorical_crossentropy(c, labels), [_probs(rng, (3, 4))], rng=rng)
    th.verify_grad(th.binary_crossentropy, [rng.uniform(0.1, 0.9, size=(3,)), rng.uniform(0, 1, size=(3,))],
                   rng=rng)
    th.verify_grad(lambda x: th.softmax(x), [rng.normal(size=(2, 5)).astype(np.float32)], rng=rng)


@pytest.mark.parametrize("name,attrs", [("tn.softmax", {"axes": (1,)}), ("tn.log_softmax", {"axes": (0, 2)}),
                                        ("tn.logsumexp", {"axes": (2,), "keepdims": False}),
                                        ("tn.logsumexp", {"axes": (0, 1), "keepdims": True})], ids=str)
def test_reference_rules_match_compiled(name, attrs, rng):
    from theanir.dialects.tn.builder import emit1
    from theanir.dialects.tn.registry import lookup

    x = rand(rng, (2, 3, 4), np.float64, (-5, 5))
    x[0, 0, 0] = -np.inf
    got = th.jit(lambda x: th.Tensor(emit1(name, [x.value], attrs)))(x)
    assert_close(got, lookup(name).reference(x, **attrs))
