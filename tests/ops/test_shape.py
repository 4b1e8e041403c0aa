"""Shape ops against NumPy: reshape, transpose, indexing, joining, take; their rules; errors."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import FLOATS, assert_close, noncontiguous, rand
from theanir.dialects.tn.builder import emit1
from theanir.dialects.tn.registry import OPS, Linear

ALL_DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
DTYPES = [np.float32, np.float64, np.int64, np.bool_]

# ------------------------------------------------------------------ reshape family
RESHAPES = [((), (1, 1)), ((1, 1), ()), ((2, 3, 4), (4, 6)), ((2, 3, 4), (-1,)), ((6,), (2, -1)),
            ((2, 0, 3), (0, 6)), ((0, 3), (3, 0)), ((2, 1, 3), (3, 2)), ((5,), (5, 1)),
            ((4, 6), (2, 2, 3, 2)), ((1,), ())]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("src,dst", RESHAPES, ids=str)
def test_reshape(src, dst, dtype, rng):
    x = rand(rng, src, dtype)
    assert_close(th.jit(lambda a: th.reshape(a, dst))(x), np.reshape(x, dst))


@pytest.mark.parametrize("src,dst", [((3, 4), (12,)), ((3, 4), (2, 6)), ((2, 3, 4), (6, 4))], ids=str)
def test_reshape_noncontiguous(src, dst, rng):
    x = rand(rng, src, np.float64)
    assert_close(th.jit(lambda a: a.reshape(dst))(noncontiguous(x)), x.reshape(dst))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (1,), (3, 4), (2, 1, 3), (2, 0, 3)], ids=str)
def test_ravel_flatten_squeeze_expand(shape, dtype, rng):
    x = rand(rng, shape, dtype)
    fn = th.jit(lambda a: (th.ravel(a), a.flatten(), th.squeeze(a), th.expand_dims(a, 0),
                           th.expand_dims(a, (0, -1))))
    want = (np.ravel(x), x.flatten(), np.squeeze(x), np.expand_dims(x, 0), np.expand_dims(x, (0, -1)))
    for g, w in zip(fn(x), want):
        assert_close(g, w)


def test_squeeze_named_axes(rng):
    x = rand(rng, (1, 3, 1, 2), np.float32)
    assert_close(th.jit(lambda a: th.squeeze(a, 2))(x), np.squeeze(x, 2))
    assert_close(th.jit(lambda a: a.squeeze((0, -2)))(x), np.squeeze(x, (0, -2)))


# ------------------------------------------------------------------ transposes
TRANSPOSES = [((), None), ((5,), None), ((3, 4), None), ((2, 3, 4), (1, 0, 2)),
              ((2, 3, 4), (-1, 0, 1)), ((2, 0, 3), (2, 0, 1)), ((2, 1, 3), (2, 1, 0))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axes", TRANSPOSES, ids=str)
def test_transpose(shape, axes, dtype, rng):
    x = rand(rng, shape, dtype)
    assert_close(th.jit(lambda a: th.transpose(a, axes))(x), np.transpose(x, axes))


def test_transpose_methods_and_noncontiguous(rng):
    x = rand(rng, (2, 3, 4), np.float64)
    nc = noncontiguous(x)
    fn = th.jit(lambda a: (a.T, a.transpose(2, 0, 1), a.transpose((1, 2, 0)), th.swapaxes(a, 0, -1),
                           th.moveaxis(a, 0, -1), th.moveaxis(a, (0, 1), (2, 0))))
    want = (x.T, x.transpose(2, 0, 1), x.transpose(1, 2, 0), np.swapaxes(x, 0, -1),
            np.moveaxis(x, 0, -1), np.moveaxis(x, (0, 1), (2, 0)))
    for g, w in zip(fn(nc), want):
        assert_close(g, w)


@pytest.mark.parametrize("shape,axis", [((5,), None), ((3, 4), 1), ((2, 3, 4), (0, 2)), ((0, 3), 0),
                                        ((1, 3), None)], ids=str)
def test_flip(shape, axis, rng):
    x = rand(rng, shape, np.float32)
    assert_close(th.jit(lambda a: th.flip(a, axis))(x), np.flip(x, axis))


# ------------------------------------------------------------------ x[...]
# index expressions applied to a (3, 4, 5) tensor, by NumPy and by the tracer
INDICES = [
    (1,), (-1,), (slice(None),), (slice(1, None),), (slice(None, None, -1),), (slice(None, None, 2),),
    (slice(-1, 0, -2), 1), (0, 1, 2), (-3, -4, -5), (Ellipsis, 1), (1, Ellipsis), (None,),
    (None, 1, None, slice(None, 2)), (slice(5, 9),), (slice(2, 1),), (Ellipsis,),
    (slice(None), slice(None, None, -3), slice(4, None, -2)),
    ([2, 0, -1],), (slice(None), [1, 1]), (Ellipsis, np.array([[4, 0], [1, 2]])),
    (0, slice(None), [1, 2]), (slice(None), 0, [1, 2]), (0, None, [1, 2]), ([1, 2], 0),
    (slice(None), [0, 2], slice(None, None, -1)), (0, Ellipsis, [1, 2]), ([],), (np.int64(2),),
    (np.array(1), slice(None), [3]),
    # several integer arrays: broadcast together; adjacent ones replace their axes in place,
    # separated ones (by a slice) put the index dimensions first
    ([0, 2], [1, 3]), ([0, 2], [1, 3], [4, 0]), (slice(None), [1, 3], [4, 0]), ([[0], [2]], [1, 3]),
    ([0, 2], slice(None), [4, 0]), (1, [1, 3], [4, 0]), ([0, 2], 1, [4, 0]), (None, [0, 2], [1, 3]),
    (Ellipsis, [1, 3], [4, 0]), ([-1, 0], slice(1, 3), [-5, 4]), ([], []),
]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("idx", INDICES, ids=repr)
def test_getitem(idx, dtype, rng):
    x = rand(rng, (3, 4, 5), dtype)
    assert_close(th.jit(lambda a: a[idx])(x), x[idx])


@pytest.mark.parametrize("idx", [(1,), (slice(None, None, -1), slice(None), 2), (Ellipsis, 1), (None, 0),
                                 (slice(None), slice(None), [2, 0]), (1, slice(None), slice(None, None, -1))],
                         ids=repr)
def test_getitem_empty_dims(idx, rng):
    x = rand(rng, (2, 0, 3), np.float64)
    assert_close(th.jit(lambda a: a[idx])(x), x[idx])


def test_getitem_noncontiguous(rng):
    x = rand(rng, (3, 4, 6), np.float64)
    fn = th.jit(lambda a: (a[1, ::-1], a[:, 1:3, ::2], a[..., [0, 2]]))
    for g, w in zip(fn(noncontiguous(x)), (x[1, ::-1], x[:, 1:3, ::2], x[..., [0, 2]])):
        assert_close(g, w)


def _clamp(i, n):
    i = np.asarray(i)
    return np.clip(np.where(i < 0, i + n, i), 0, n - 1)


@pytest.mark.parametrize("i", [0, 2, -1, -4, 7, -9])
def test_getitem_traced_scalar_index(i, rng):
    """A traced 0-d int indexes dynamically; out-of-range values clamp (JAX's rule)."""
    x = rand(rng, (4, 3), np.float32)
    v = x[:, 0].copy()
    fn = th.jit(lambda a, b, k: (a[k], b[k], a[:, k % 3], a[k, 1:]))
    k = _clamp(i, 4)
    want = (x[k], v[k], x[:, i % 3], x[k, 1:])
    for g, w in zip(fn(x, v, i), want):
        assert_close(g, w)


def test_getitem_several_traced_arrays(rng):
    """`logp[th.arange(n), ys]` (the cross-entropy idiom): a gather of one element per row;
    each traced index clamps on its own axis; the gradient scatters back (verify_grad)."""
    logp = rand(rng, (5, 3), np.float64)
    ys = np.array([2, 0, 1, 1, 0])
    f = th.jit(lambda l, y: (l[th.arange(5), y], l[y[:, None], th.arange(3)], l[y, 1:]))
    want = (logp[np.arange(5), ys], logp[ys[:, None], np.arange(3)], logp[ys, 1:])
    for g, w in zip(f(logp, ys), want):
        assert_close(g, w)
    far = np.array([7, -1, -9])
    got = th.jit(lambda l, i, j: l[i, j])(logp, far, far)
    assert_close(got, logp[_clamp(far, 5), _clamp(far, 3)])
    th.verify_grad(lambda l: -(l[th.arange(5), ys] * 2.0).sum(), [logp], rng=rng)


@pytest.mark.parametrize("idt", [np.int32, np.int64])
def test_getitem_traced_index_array(idt, rng):
    x = rand(rng, (4, 3, 2), np.float64)
    idx = np.array([[3, -1], [0, 9], [-7, 2]], idt)
    fn = th.jit(lambda a, i: (a[i], a[:, 1, i], a[1:, :, i]))
    c = _clamp(idx, 4)
    c2 = _clamp(idx, 2)
    want = (x[c], x[:, 1, c2], x[1:, :, c2])
    for g, w in zip(fn(x, idx), want):
        assert_close(g, w)


# ------------------------------------------------------------------ joining
CONCATS = [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 0)], 1), ([(2, 3), (2, 3)], -1),
           ([(0, 3), (2, 3), (0, 3)], 0), ([(5,)], 0), ([(1,), (1,), (3,)], 0),
           ([(2, 1, 3), (2, 2, 3)], 1), ([(2, 3), (3,)], None)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes,axis", CONCATS, ids=str)
def test_concatenate(shapes, axis, dtype, rng):
    xs = [rand(rng, s, dtype) for s in shapes]
    assert_close(th.jit(lambda *a: th.concatenate(a, axis=axis))(*xs), np.concatenate(xs, axis=axis))


def test_concatenate_promotes_and_takes_constants(rng):
    a = rand(rng, (2, 2), np.int32)
    b = rand(rng, (1, 2), np.float32)
    got = th.jit(lambda a, b: th.concatenate([a, b, np.ones((1, 2), np.int64)]))(a, b)
    assert_close(got, np.concatenate([a, b, np.ones((1, 2), np.int64)]))
    c = noncontiguous(rand(rng, (2, 4), np.float64))
    assert_close(th.jit(lambda c: th.concatenate([c, c], 1))(c), np.concatenate([c, c], 1))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0)], ids=str)
def test_stack_hstack_vstack(shape, dtype, rng):
    xs = [rand(rng, shape, dtype) for _ in range(3)]
    fn = th.jit(lambda *a: (th.stack(a), th.stack(a, axis=-1), th.hstack(a), th.vstack(a)))
    want = (np.stack(xs), np.stack(xs, axis=-1), np.hstack(xs), np.vstack(xs))
    for g, w in zip(fn(*xs), want):
        assert_close(g, w)


# ------------------------------------------------------------------ take
TAKES = [((5,), (3,), 0), ((5, 3), (2, 2), 0), ((4, 3, 2), (), 1), ((4, 3, 2), (4,), -1),
         ((2, 3), (0,), 1), ((0, 3), (2,), 1), ((3, 4), (2, 3), None), ((1,), (4,), 0),
         ((5, 3), (1,), 0), ((4, 3, 2), (1,), 1), ((4, 3, 2), (1, 1), 2)]


@pytest.mark.parametrize("idt", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ishape,axis", TAKES, ids=str)
def test_take_traced_indices(shape, ishape, axis, dtype, idt, rng):
    x = rand(rng, shape, dtype)
    n = x.size if axis is None else x.shape[axis]
    idx = rng.integers(-n, n, size=ishape).astype(idt)
    assert_close(th.jit(lambda a, i: th.take(a, i, axis=axis))(x, idx), np.take(x, idx, axis=axis))


def test_take_constant_indices_and_clamping(rng):
    x = rand(rng, (4, 3), np.float64)
    assert_close(th.jit(lambda a: th.take(a, [-1, 0, 2], axis=1))(x), np.take(x, [-1, 0, 2], axis=1))
    assert_close(th.jit(lambda a: th.take(a, 5))(x), np.take(x, 5))
    idx = np.array([-20, -4, 3, 4, 100])
    assert_close(th.jit(lambda a, i: th.take(a, i, axis=0))(x, idx), x[_clamp(idx, 4)])


@pytest.mark.parametrize("shape,ishape,axis", [((3, 4), (3, 2), 1), ((3, 4), (1, 4), 0),
                                               ((2, 3, 4), (2, 3, 1), -1), ((3, 1), (3, 5), 1),
                                               ((6,), (4,), None), ((2, 0), (2, 0), 1)], ids=str)
def test_take_along_axis(shape, ishape, axis, rng):
    x = rand(rng, shape, np.float32)
    n = x.size if axis is None else x.shape[axis]
    idx = rng.integers(-n, max(n, 1), size=ishape)
    want = np.take_along_axis(x, idx, axis=axis)
    assert_close(th.jit(lambda a: th.take_along_axis(a, idx, axis))(x), want)
    assert_close(th.jit(lambda a, i: th.take_along_axis(a, i, axis))(x, idx), want)


# ------------------------------------------------------------------ rules: reference, jvp, transpose
def _linear_ops():
    """(name, operand shape, attrs, extra non-linear operands) for every linear op."""
    idx = np.array([[1, -1], [0, 7]], np.int64)
    return [
        ("tn.reshape", (2, 3, 2), {"shape": (3, 4)}, []),
        ("tn.reshape", (), {"shape": (1, 1)}, []),
        ("tn.transpose", (2, 3, 4), {"perm": (2, 0, 1)}, []),
        ("tn.slice", (5, 6), {"starts": (4, 1), "sizes": (3, 2), "steps": (-2, 3)}, []),
        ("tn.slice", (5, 6), {"starts": (1, 0), "sizes": (3, 0), "steps": (1, 1)}, []),
        ("tn.slice", (), {"starts": (), "sizes": (), "steps": ()}, []),
        ("tn.pad_slice", (), {"starts": (), "steps": (), "shape": ()}, []),
        ("tn.pad_slice", (3, 2), {"starts": (4, 1), "steps": (-2, 3), "shape": (5, 6)}, []),
        ("tn.pad_slice", (2, 2), {"starts": (0, 1), "steps": (2, 1), "shape": (3, 3)}, []),
        ("tn.take", (3, 4), {"axis": 1}, [idx]),
        ("tn.take", (5,), {"axis": 0}, [np.array(-2)]),
        ("tn.scatter_add", (3, 2, 2), {"axis": 1, "dim_size": 4}, [idx]),
        ("tn.scatter_add", (2, 2, 3), {"axis": 0, "dim_size": 3}, [idx.astype(np.int32)]),
        ("tn.scatter_add", (0,), {"axis": 0, "dim_size": 0}, [np.zeros((0,), np.int64)]),
    ]


LINEAR_OPS = _linear_ops()


def _emit(name, xs, attrs):
    return th.Tensor(emit1(name, [x.value for x in xs], attrs))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,shape,attrs,extra", LINEAR_OPS,
                         ids=[f"{row[0]}{row[1]}-{i}" for i, row in enumerate(LINEAR_OPS)])
def test_linear_op_rules(name, shape, attrs, extra, dtype, rng):
    """Compiled op == NumPy reference; jvp(t) == op(t); <u, op(v)> == <transpose(u), v>."""
    opdef = OPS[name]
    v = rand(rng, shape, dtype)
    out_shape = opdef.reference(v, *extra, **attrs).shape
    u = rand(rng, out_shape, dtype)
    t = rand(rng, shape, dtype)

    def f(v, t, u, *extra):
        y = _emit(name, [v, *extra], attrs)
        (jt,) = opdef.jvp([v, *extra], [t] + [None] * len(extra), [y], **attrs)
        primals = [Linear(tuple(shape), np.dtype(dtype)), *extra]
        ct = opdef.transpose([u], primals, **attrs)
        assert all(c is None for c in ct[1:])
        return y, jt, ct[0]

    y, jt, ct = th.jit(f)(v, t, u, *extra)
    assert_close(y, opdef.reference(v, *extra, **attrs))
    assert_close(jt, opdef.reference(t, *extra, **attrs))
    assert ct.shape == v.shape
    np.testing.assert_allclose(np.vdot(u, y), np.vdot(ct, v), rtol=1e-5, atol=1e-5)


def test_concatenate_rules(rng):
    op = OPS["tn.concatenate"]
    a, b = rand(rng, (2, 1), np.float64), rand(rng, (2, 3), np.float64)
    u = rand(rng, (2, 4), np.float64)

    def f(a, b, ta, u):
        y = _emit("tn.concatenate", [a, b], {"axis": 1})
        (jt,) = op.jvp([a, b], [ta, None], [y], axis=1)
        ca, cb = op.transpose([u], [Linear((2, 1), a.dtype), b], axis=1)
        assert cb is None
        cts = op.transpose([u], [Linear((2, 1), a.dtype), Linear((2, 3), a.dtype)], axis=1)
        return y, jt, ca, cts[0], cts[1]

    y, jt, ca, ca2, cb2 = th.jit(f)(a, b, a * 2, u)
    assert_close(y, np.concatenate([a, b], 1))
    assert_close(jt, np.concatenate([a * 2, np.zeros_like(b)], 1))
    assert_close(ca, u[:, :1])
    assert_close(ca2, u[:, :1])
    assert_close(cb2, u[:, 1:])


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_scatter_add_accumulates_repeats_and_clamps(dtype, rng):
    upd = rand(rng, (2, 6, 3), dtype)
    idx = np.array([1, 1, -1, 9, -9, 1])
    want = np.zeros((2, 4, 3), dtype)
    for p, i in enumerate(_clamp(idx, 4)):
        want[:, i] += upd[:, p]
    got = th.jit(lambda u, i: _emit("tn.scatter_add", [u, i], {"axis": 1, "dim_size": 4}))(upd, idx)
    assert_close(got, want)


def test_take_of_one_index_is_a_slice(rng):
    """A 1-element index vector (a minibatch of 1 taken from shared data) reads a slice at
    the clamped index: no gather loop, the clamping of every index kept."""
    x = rand(rng, (4, 3), np.float32)
    f = th.jit(lambda a, i: th.take(a, i, axis=0))
    text = f.lower(x, np.array([1])).as_text("linalg")
    assert "tensor.extract_slice" in text and "linalg.generic" not in text
    for i in [-20, -4, -1, 0, 3, 4, 100]:
        assert_close(f(x, np.array([i])), x[_clamp(np.array([i]), 4)])
    g = th.jit(th.grad(lambda a, i: (th.take(a, i, axis=1) ** 2).sum()))(x, np.array([2]))
    want = np.zeros_like(x)
    want[:, 2] = 2 * x[:, 2]
    assert_close(g, want)


def test_take_lowering_is_a_gather_not_a_loop(rng):
    """take is one linalg.generic reading x with tensor.extract; scatter_add one scf.for."""
    x = rand(rng, (4, 3), np.float32)
    text = th.jit(lambda a, i: th.take(a, i, axis=0)).lower(x, np.array([1, 2])).as_text("linalg")
    assert "linalg.generic" in text and "tensor.extract " in text and "scf.for" not in text


def test_numpy_functions_and_iteration_dispatch(rng):
    x = rand(rng, (3, 4), np.float64)
    fn = th.jit(lambda a: (np.reshape(a, (4, 3)), np.transpose(a), np.concatenate([a, a]),
                           np.stack([a, a], axis=1), np.take(a, [1, 0], axis=1), tuple(a)[2],
                           np.moveaxis(a, 0, 1)))
    want = (x.reshape(4, 3), x.T, np.concatenate([x, x]), np.stack([x, x], 1), x[:, [1, 0]], x[2],
            np.moveaxis(x, 0, 1))
    for g, w in zip(fn(x), want):
        assert_close(g, w)


def test_long_concatenate_chain(rng):
    xs = [rand(rng, (2, k), np.float32) for k in (1, 2, 0, 3, 1, 2, 4)]
    assert_close(th.jit(lambda *a: th.concatenate(a, axis=1))(*xs), np.concatenate(xs, axis=1))


@pytest.mark.parametrize("f", [
    lambda x: x[::-1, 1:] * x[1:, ::2].sum(),
    lambda x: th.concatenate([x, x[:, ::-2] ** 2], axis=1),
    lambda x: th.take(x, np.array([[0, 2], [2, -1]]), axis=0).transpose(2, 0, 1),
    lambda x: th.stack([x.T, th.flip(x.T, 0)], axis=-1).reshape(-1)[3:-2],
    lambda x: th.take_along_axis(x, np.array([[1, 0], [1, 1], [0, 1]]), axis=1),
    lambda x: th.expand_dims(x, 1)[None, :, 0, [1, 1]] * 3,
], ids=["slices", "concat", "take", "stack-flip-reshape", "take_along_axis", "getitem-adv"])
def test_gradients_through_shape_ops(f, rng):
    """Reverse (jvp + transpose) and forward mode against finite differences."""
    th.verify_grad(lambda x: (f(x) * f(x)).sum(), [rand(rng, (3, 2), np.float64)])


# ------------------------------------------------------------------ errors
def _raises(exc, fn, *args, match=()):
    with pytest.raises(exc) as info:
        th.jit(fn)(*args)
    msg = str(info.value)
    for part in (*match, "test_shape.py"):
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


def test_reshape_errors():
    x = np.zeros((2, 3))
    _raises(th.ShapeError, lambda a: a.reshape(4, 2), x, match=("reshape", "(2, 3)", "(4, 2)"))
    _raises(th.ShapeError, lambda a: a.reshape(-1, 4), x, match=("reshape", "(2, 3)", "(-1, 4)"))
    _raises(ValueError, lambda a: a.reshape(-1, -1), x, match=("one -1",))


def test_index_errors():
    x = np.zeros((3, 4))
    _raises(IndexError, lambda a: a[3], x, match=("index 3", "axis 0", "size 3", "(3, 4)"))
    _raises(IndexError, lambda a: a[:, -5], x, match=("index -5", "axis 1", "size 4"))
    _raises(IndexError, lambda a: a[0, 0, 0], x, match=("too many indices", "(3, 4)"))
    _raises(IndexError, lambda a: a[[0, 5]], x, match=("index 5", "axis 0"))
    _raises(IndexError, lambda a: a[1.5], x, match=("valid indices",))
    _raises(IndexError, lambda a: a[[0, 1], [1, 2, 3]], x, match=("could not be broadcast", "(2,)", "(3,)"))
    _raises(IndexError, lambda a: a[[0, 1], [1, 4]], x, match=("index 4", "axis 1"))
    _raises(ValueError, lambda a: a[::0], x, match=("getitem", "zero"))


def test_bool_masks_beyond_the_leading_dims_are_refused_with_advice():
    # x[mask] and x[mask, ...] work (tests/frontend/test_masked_select.py); a mask mixed with
    # other entries is refused, naming what works
    x = np.zeros((3, 4))
    msg = _raises(TypeError, lambda a: a[:, a[0] > 0], x, match=("x[mask]", "th.where", "(3, 4)"))
    assert "getitem" in msg
    _raises(TypeError, lambda a: a[np.array([True, False, True]), 0], x, match=("x[mask]",))


def test_axis_errors():
    x = np.zeros((3, 4))
    for fn in (lambda a: th.take(a, [0], axis=2), lambda a: th.squeeze(a, 3),
               lambda a: th.concatenate([a, a], axis=-3), lambda a: th.swapaxes(a, 0, 2)):
        with pytest.raises(np.exceptions.AxisError) as info:
            th.jit(fn)(x)
        assert "out of bounds" in str(info.value) and "rank 2" in str(info.value)
        assert "test_shape.py" in str(info.value)
    _raises(ValueError, lambda a: th.squeeze(a, 0), x, match=("squeeze", "size is 3"))
    _raises(ValueError, lambda a: th.transpose(a, (0, 0)), x, match=("repeated axis",))
    _raises(ValueError, lambda a: th.transpose(a, (1,)), x, match=("transpose", "(3, 4)"))


def test_join_and_take_errors():
    x = np.zeros((3, 4))
    _raises(th.ShapeError, lambda a: th.concatenate([a, a.T]), x, match=("concatenate", "(3, 4)", "(4, 3)"))
    _raises(th.ShapeError, lambda a: th.stack([a, a[1:]]), x, match=("stack", "(2, 4)"))
    _raises(ValueError, lambda a: th.concatenate([a[0, 0], a[0, 0]]), x, match=("zero-dimensional",))
    _raises(IndexError, lambda a: th.take(a, [4], axis=1), x, match=("take", "index 4", "size 4"))
    _raises(th.ShapeError, lambda a, i: th.take(a[:, :0], i, axis=1), x, np.array([0]),
            match=("tn.take", "empty axis"))


def test_swapaxes_and_take_methods(rng):
    """`x.swapaxes` and `x.take` on traced arrays, as on NumPy's and JAX's."""
    x = rng.standard_normal((2, 3, 4))
    i = np.array([2, 0], np.int64)
    got = th.jit(lambda x, i: (x.swapaxes(0, 2), x.take(i, axis=1), x.take(i)))(x, i)
    for g, want in zip(got, (x.swapaxes(0, 2), x.take(i, axis=1), x.take(i))):
        np.testing.assert_array_equal(np.asarray(g), want)
