"""x.at[idx].set/add/multiply/min/max/get on traced tensors, against NumPy; gradients; errors.

One table of index cases covers the three routes of frontend/np_update.py: basic indices
(tn.update_slice), one integer array on one axis (tn.index_set / tn.index_add) and any
other index (element positions found through getitem).
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import theanir as th
from support import FLOATS, assert_close, noncontiguous, rand
from theanir.dialects.tn.registry import ShapeError

A = np.array
# (x shape, index, y shape): y broadcasts to x[index]'s shape
CASES = [
    ((5,), 2, ()),
    ((5,), -1, ()),
    ((5,), slice(1, 4), (3,)),
    ((5,), slice(None, None, -2), (3,)),
    ((4, 3), (slice(1, 3), 0), (2,)),
    ((4, 3), (Ellipsis, 1), (1,)),
    ((4, 3), (None, 1), (3,)),
    ((4, 3), (slice(3, 0, -2), slice(None, None, 2)), (2, 1)),
    ((4, 3), A([0, 2, 0]), (3,)),                          # a repeated row
    ((4, 3), A([[0, 1], [3, -1]]), (2, 2, 3)),
    ((4, 3), (slice(None), A([2, 0])), (4, 2)),            # rows of axis 1
    ((4, 3), (A([0, 1, 1]), A([1, 2, 2])), (3,)),          # element positions, one repeated
    ((3, 4, 5), (slice(None), A([0, 2]), A([1, 3])), (3, 2)),
    ((3, 4, 5), (A([0, 2]), slice(1, 3), A([1, 3])), (2, 2)),   # advanced dims go first
    ((3, 4, 5), (1, slice(None), A([0, 4])), (2, 4)),
    ((3, 4, 5), (A([2]), Ellipsis), (4, 5)),
    ((2, 0, 3), slice(None), (1,)),
    ((4, 3), A([], np.int64), (3,)),
    ((1,), 0, ()),
    ((), (), ()),
]
IDS = [f"{s}-{re.sub(r'[^0-9a-zA-Z:,.-]+', '', repr(i))[:40]}" for s, i, _ in CASES]


MODES = ["set", "add", "subtract", "multiply", "divide", "min", "max"]


def _unique(x_shape, idx) -> bool:
    pos = np.arange(int(np.prod(x_shape))).reshape(x_shape)[idx].ravel()
    return len(np.unique(pos)) == pos.size


def _np_update(x, idx, y, mode):
    out = x.copy()
    if mode == "set":
        out[idx] = y
        return out
    ufunc = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
             "min": np.minimum, "max": np.maximum, "power": np.power}[mode]
    ufunc.at(out, idx, np.asarray(y, x.dtype))
    return out


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x_shape,idx,y_shape", CASES, ids=IDS)
def test_at_modes_against_numpy(x_shape, idx, y_shape, dtype, rng):
    x, y = rand(rng, x_shape, dtype), rand(rng, y_shape, dtype)
    modes = MODES + (["power"] if _unique(x_shape, idx) else [])
    x = np.asarray(np.abs(x) + 0.5, dtype)  # positive bases for power

    def f(a, b):
        return tuple(getattr(a.at[idx], m)(b) for m in modes) + (a.at[idx].get(),)

    got = th.jit(f)(x, y)
    for g, m in zip(got, modes):
        assert_close(g, _np_update(x, idx, y, m), rtol=1e-5 if dtype == np.float32 else 1e-11)
    assert_close(got[-1], x[idx])


@pytest.mark.parametrize("x_shape,idx,y_shape", CASES[:3] + CASES[8:13], ids=IDS[:3] + IDS[8:13])
def test_at_noncontiguous(x_shape, idx, y_shape, rng):
    x, y = rand(rng, x_shape, np.float64), rand(rng, y_shape, np.float64)
    got = th.jit(lambda a, b: (a.at[idx].set(b), a.at[idx].add(b)))(noncontiguous(x), noncontiguous(y))
    assert_close(got[0], _np_update(x, idx, y, "set"))
    assert_close(got[1], _np_update(x, idx, y, "add"))


@pytest.mark.parametrize("x_shape,idx,y_shape", CASES, ids=IDS)
def test_at_gradients(x_shape, idx, y_shape, rng):
    """Reverse and forward mode of set and add against central differences, w.r.t. x and y
    (float64; verify_grad projects each output on its own random direction)."""
    x, y = rand(rng, x_shape, np.float64), rand(rng, y_shape, np.float64)
    th.verify_grad(lambda a, b: (a.at[idx].set(b), a.at[idx].add(b)), [x, y])


@pytest.mark.parametrize("dtype", FLOATS)
def test_set_gradient_values(dtype):
    """d/dx is zero where set wrote, one elsewhere; d/dy gathers, summing over y's broadcast
    and giving a repeated index's gradient to its last write only."""
    x, y = np.ones((4, 3), dtype), np.array([1.0, 2.0, 3.0], dtype)
    idx = A([0, 2, 0])
    loss = lambda a, b: (a.at[idx].set(b[:, None] * th.ones(3, dtype)) * th.arange(12.0, dtype=dtype).reshape(4, 3)).sum()
    gx, gy = th.jit(th.grad(loss, argnums=(0, 1)))(x, y)
    w = np.arange(12.0).reshape(4, 3)
    want_gx = w.copy()
    want_gx[[0, 2]] = 0
    assert_close(gx, want_gx.astype(dtype))
    assert_close(gy, np.array([0.0, w[2].sum(), w[0].sum()], dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_modes_gradients(dtype, rng):
    """multiply/min/max/subtract/divide/power compose with the gradient rules too."""
    x = rand(rng, (4, 3), np.float64, (0.5, 2.0))
    y = rand(rng, (2, 3), np.float64, (0.5, 2.0))
    for mode in ["multiply", "min", "max", "subtract", "divide", "power"]:
        for idx in (slice(1, 3), A([3, 0])):
            th.verify_grad(lambda a, b: getattr(a.at[idx], mode)(b), [x.astype(dtype), y.astype(dtype)])


@pytest.mark.parametrize("dtype", FLOATS)
def test_combining_modes_with_repeats(dtype, rng):
    """multiply/min/max/divide combine every update of a repeated position (JAX), also with
    traced indices; gradients are exact, with zeros among the factors and tied extremes
    (which share the gradient equally)."""
    x = rand(rng, (4, 3), dtype, (0.5, 2.0))
    y = rand(rng, (5, 3), dtype, (0.5, 2.0))
    idx = A([2, 0, 2, 2, 3])
    modes = ("multiply", "divide", "min", "max")
    traced = th.jit(lambda a, b, i: tuple(getattr(a.at[i], m)(b) for m in modes))(x, y, idx)
    const = th.jit(lambda a, b: tuple(getattr(a.at[idx], m)(b) for m in modes))(x, y)
    for g, c, m in zip(traced, const, modes):
        assert_close(g, _np_update(x, idx, y, m), rtol=1e-5 if dtype == np.float32 else 1e-11)
        assert_close(c, _np_update(x, idx, y, m), rtol=1e-5 if dtype == np.float32 else 1e-11)
    y64 = y.astype(np.float64)
    y64[0, 0] = y64[2, 1] = y64[3, 1] = 0.0  # one zero factor in one row, two in another
    th.verify_grad(lambda a, b: a.at[idx].multiply(b), [x.astype(np.float64), y64])
    th.verify_grad(lambda a, b: a.at[idx, A([0, 1, 0, 2, 1])].multiply(b[:, 0]),
                   [x.astype(np.float64), y64])
    gx, gy = th.jit(th.grad(lambda a, b: a.at[A([0, 0])].max(b).sum(), argnums=(0, 1)))(
        np.ones(2), np.array([1.0, 0.5]))
    assert gx.tolist() == [0.5, 1.0] and gy.tolist() == [0.5, 0.0]  # x[0] ties y[0]


def test_traced_indices(rng):
    """A traced scalar index (a loop counter), a traced index vector (repeats accumulate
    under add), traced indices mixed with slices; negative ones wrap, out-of-range ones are
    dropped (JAX's rule for updates, issue 20; reads clamp: tests/ops/test_shape.py)."""
    x, y = rand(rng, (5, 3), np.float64), rand(rng, (3,), np.float64)
    f = th.jit(lambda a, b, i, v: (a.at[i].set(b), a.at[v].add(b), a.at[i, 1:].set(b[:2]),
                                   a.at[v, i % 3].add(1.0)))
    for i, v in [(2, A([0, 4, 0])), (-1, A([-1, 1, 1])), (7, A([9, -9, 3]))]:
        got = f(x, y, np.int64(i), v)
        keep = (v >= -5) & (v < 5)  # the in-range positions of v
        ci, cv = i if i >= 0 else i + 5, np.where(v < 0, v + 5, v)[keep]
        in_range = -5 <= i < 5
        assert_close(got[0], _np_update(x, ci, y, "set") if in_range else x)
        assert_close(got[1], _np_update(x, cv, y, "add"))
        assert_close(got[2], _np_update(x, (ci, slice(1, None)), y[:2], "set") if in_range else x)
        assert_close(got[3], _np_update(x, (cv, i % 3), 1.0, "add"))


def test_scan_writes_row_per_step(rng):
    """An RNN-style buffer: each step writes its row at the traced step counter."""
    xs = rand(rng, (6, 3), np.float64)

    def run(seq):
        def step(x, i, buf):
            h = th.tanh(x + buf[i - 1])
            return i + 1, buf.at[i].set(h)

        (_, bufs), _ = th.scan(step, sequences=seq,
                               outputs_info=[th.as_tensor(np.int64(1)), th.zeros((7, 3))])
        buf = bufs[-1]
        return (buf * th.arange(21.0).reshape(7, 3)).sum(), buf

    total, buf = th.jit(run)(xs)
    want = np.zeros((7, 3))
    for t in range(6):
        want[t + 1] = np.tanh(xs[t] + want[t])
    assert_close(buf, want)
    th.verify_grad(lambda s: run(s)[0], [xs])


def test_dtypes():
    """y is cast to x's dtype within its kind; ints, bools and float32 are written as such;
    floats into ints are refused, not truncated."""
    f = th.jit(lambda a, b, c: (a.at[1:].set(np.int64(2)), a.at[A([0, 0])].add(3), b.at[0].set(True),
                                c.at[A([1])].set(np.float64(0.1))))
    a, b, c = np.arange(4, dtype=np.int32), np.zeros(3, bool), np.zeros(2, np.float32)
    got = f(a, b, c)
    assert_close(got[0], np.array([0, 2, 2, 2], np.int32))
    with pytest.raises(TypeError, match=r"at\[\]\.set: cannot write float64 values into a int32 tensor.*test_index_update\.py"):
        th.jit(lambda a: a.at[1:].set(2.7))(a)
    with pytest.raises(TypeError, match="cannot write int64 values into a bool tensor"):
        th.jit(lambda b: b.at[0].add(np.int64(1)))(b)
    assert_close(got[1], np.array([6, 1, 2, 3], np.int32))
    assert_close(got[2], np.array([True, False, False]))
    assert_close(got[3], np.array([0, 0.1], np.float32))


def test_set_repeated_last_wins():
    got = th.jit(lambda a: (a[:, 0].at[A([1, 3, 1])].set(th.as_tensor([10.0, 20.0, 30.0])),
                            a.at[A([0, 0]), A([1, 1])].set(th.as_tensor([5.0, 6.0]))))(np.zeros((4, 2)))
    assert np.asarray(got[0]).tolist() == [0.0, 30.0, 0.0, 20.0]
    assert np.asarray(got[1])[0, 1] == 6.0


# ------------------------------------------------------------------ errors
def test_setitem_points_to_at():
    def f(a):
        a[0] = 1.0
        return a

    with pytest.raises(TypeError, match=r"immutable.*x\.at\[idx\]\.set\(v\)"):
        th.jit(f)(np.zeros(3))


def test_shape_mismatch_names_both_shapes_and_line():
    with pytest.raises(ShapeError, match=r"shape \(4,\).*part's shape \(2, 3\).*\(5, 3\).*test_index_update\.py"):
        th.jit(lambda a, b: a.at[1:3].set(b))(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ShapeError, match=r"at\[\]\.add: .*\(3, 2\)"):
        th.jit(lambda a, b: a.at[A([0, 1])].add(b))(np.zeros((5, 3)), np.zeros((3, 2)))


def test_bad_index_and_options():
    with pytest.raises(IndexError, match="out of bounds"):
        th.jit(lambda a: a.at[A([0, 5])].set(1.0))(np.zeros(5))
    with pytest.raises(IndexError, match="out of bounds"):
        th.jit(lambda a: a.at[7].add(1.0))(np.zeros(5))
    with pytest.raises(NotImplementedError, match="mode='drop'"):
        th.jit(lambda a: a.at[0].set(1.0, mode="drop"))(np.zeros(5))
    with pytest.raises(TypeError, match="unexpected keyword"):
        th.jit(lambda a: a.at[0].set(1.0, wrong=1))(np.zeros(5))
    with pytest.raises(NotImplementedError, match="repeats a position"):
        th.jit(lambda a: a.at[A([1, 1])].power(2.0))(np.ones(5))
    with pytest.raises(NotImplementedError, match="repeats a position"):
        th.jit(lambda a: a.at[A([0, 0]), A([1, 1])].power(2.0))(np.ones((2, 2)))
    out = th.jit(lambda a: a.at[0].set(1.0, indices_are_sorted=True, unique_indices=True, mode="clip"))(np.zeros(2))
    assert out.tolist() == [1.0, 0.0]


def test_at_on_concrete_arrays():
    """th.Array has .at too, computed eagerly (op by op under th.jit, as JAX does)."""
    a = th.jit(lambda x: x * 2)(np.ones((3, 2)))
    assert isinstance(a, th.Array)
    assert_close(a.at[1].set(5.0), _np_update(np.full((3, 2), 2.0), 1, 5.0, "set"))
    assert_close(a.at[A([0, 0]), 1].add(1.0), _np_update(np.full((3, 2), 2.0), (A([0, 0]), 1), 1.0, "add"))
    assert_close(a.at[A([2, 2])].min(A([[3.0, -1.0], [1.0, 0.0]])), A([[2.0, 2], [2, 2], [1, -1]]))
    assert_close(a.at[1:].get(), np.full((2, 2), 2.0))
    assert_close(a, np.full((3, 2), 2.0))  # unchanged
