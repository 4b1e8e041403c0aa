"""Matrix products against NumPy: every matmul shape case, dtypes, layouts, errors, gradients."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import FLOATS, assert_close, noncontiguous, rand

INTS = [np.int32, np.int64]

# (shape of a, shape of b): vectors, matrices, batches with broadcasting, size-0 and size-1 dims
MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((4, 3), (3,)), ((4, 3), (3, 5)), ((1, 3), (3, 1)),
    ((2, 4, 3), (2, 3, 5)), ((2, 4, 3), (3, 5)), ((4, 3), (2, 3, 5)), ((2, 1, 4, 3), (3, 3, 5)),
    ((3,), (2, 3, 5)), ((2, 4, 3), (3,)), ((2, 2, 2, 4, 3), (2, 2, 2, 3, 5)),
    ((0, 3), (3, 4)), ((2, 0), (0, 3)), ((2, 3), (3, 0)), ((0,), (0,)), ((0, 2, 3), (3, 4)),
    ((2, 1, 3), (1, 3, 2)), ((0, 4, 3), (0, 3, 5)), ((2, 4, 0), (2, 0, 5)), ((2, 0, 4, 3), (1, 3, 2)),
]


@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype, rng):
    a, b = rand(rng, shapes[0], dtype), rand(rng, shapes[1], dtype)
    assert_close(th.jit(th.matmul)(a, b), np.matmul(a, b), dtype)


@pytest.mark.parametrize("da,db", [(np.float32, np.float64), (np.int32, np.float32), (np.int32, np.int64),
                                   (np.bool_, np.bool_), (np.bool_, np.int32)], ids=str)
def test_matmul_promotes(da, db, rng):
    a, b = rand(rng, (3, 4), da), rand(rng, (4, 2), db)
    assert_close(th.jit(th.matmul)(a, b), np.matmul(a, b))


def test_matmul_noncontiguous_and_operator_forms(rng):
    a, b = rand(rng, (5, 3), np.float64), rand(rng, (5, 4), np.float64)
    assert_close(th.jit(lambda a, b: a.T @ b)(a, b), a.T @ b)
    assert_close(th.jit(th.matmul)(a.T, b), a.T @ b)  # a transposed view as the argument
    assert_close(th.jit(th.matmul)(noncontiguous(a.T.copy()), b), a.T @ b)
    c = rand(rng, (3, 4), np.float64)
    assert_close(th.jit(lambda x: c @ x)(b.T.copy()), c @ b.T)  # ndarray @ Tensor
    assert_close(th.jit(lambda x: np.matmul(x, b.T))(c), np.matmul(c, b.T))  # NumPy ufunc dispatch


def test_matmul_lowers_to_named_ops():
    f32 = np.float32
    text2 = th.jit(th.matmul).lower(np.ones((4, 3), f32), np.ones((3, 5), f32)).as_text("linalg")
    assert "linalg.matmul" in text2
    text3 = th.jit(th.matmul).lower(np.ones((2, 4, 3), f32), np.ones((2, 3, 5), f32)).as_text("linalg")
    assert "linalg.batch_matmul" in text3
    # a matrix times a batch-free matrix folds the batch into the rows: one 2-D product
    text = th.jit(th.matmul).lower(np.ones((2, 4, 3), f32), np.ones((3, 5), f32)).as_text("tn")
    assert "tensor<8x3xf32>, tensor<3x5xf32>) -> tensor<8x5xf32>" in text


@pytest.mark.parametrize("sa,sb,msg", [
    ((2, 3), (4, 5), r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"),
    ((3,), (4,), r"matmul: shapes \(3,\) and \(4,\) are not aligned"),
    ((2, 3, 4), (3, 4, 5), r"matmul: batch dims of shapes \(2, 3, 4\) and \(3, 4, 5\)"),
    ((), (3,), r"matmul: operands must be at least 1-D"),
], ids=str)
def test_matmul_errors_name_shapes_and_line(sa, sb, msg):
    with pytest.raises(ValueError, match=msg) as info:
        th.jit(th.matmul).lower(np.ones(sa), np.ones(sb))
    assert "test_linalg.py" in str(info.value) or sa == ()


DOT_SHAPES = [((), (3,)), ((3,), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
              ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((3,), (2, 3, 4)), ((2, 3, 4), (5, 4, 6)),
              ((2, 0), (0, 3)), ((2, 3), (4, 3, 2))]


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
@pytest.mark.parametrize("shapes", DOT_SHAPES, ids=str)
def test_dot(shapes, dtype, rng):
    a, b = rand(rng, shapes[0], dtype), rand(rng, shapes[1], dtype)
    assert_close(th.jit(th.dot)(a, b), np.dot(a, b), dtype)


def test_dot_method_and_errors(rng):
    a, b = rand(rng, (2, 3), np.float64), rand(rng, (3, 4), np.float64)
    assert_close(th.jit(lambda a, b: a.dot(b))(a, b), a.dot(b))
    with pytest.raises(ValueError, match=r"dot: shapes \(2, 3\) and \(2, 3\) are not aligned"):
        th.jit(th.dot).lower(a, a)
    with pytest.raises(ValueError, match=r"dot: shapes \(2, 3\) and \(2, 2, 4\) are not aligned"):
        th.jit(th.dot).lower(a, np.ones((2, 2, 4)))


@pytest.mark.parametrize("fn,ref,shapes", [
    (th.vdot, np.vdot, ((2, 3), (3, 2))), (th.vdot, np.vdot, ((0,), (0,))), (th.vdot, np.vdot, ((4,), (4,))),
    (th.inner, np.inner, ((3,), (3,))), (th.inner, np.inner, ((2, 3), (4, 3))),
    (th.inner, np.inner, ((2, 3, 4), (5, 4))), (th.inner, np.inner, ((), (2, 3))),
    (th.outer, np.outer, ((3,), (4,))), (th.outer, np.outer, ((2, 2), (3,))), (th.outer, np.outer, ((0,), (3,))),
], ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("dtype", FLOATS)
def test_vdot_inner_outer(fn, ref, shapes, dtype, rng):
    a, b = rand(rng, shapes[0], dtype), rand(rng, shapes[1], dtype)
    assert_close(th.jit(fn)(a, b), ref(a, b), dtype)


def test_outer_of_bools(rng):
    a, b = rand(rng, (3,), np.bool_), rand(rng, (4,), np.bool_)
    assert_close(th.jit(th.outer)(a, b), np.outer(a, b))


@pytest.mark.parametrize("shapes,axes", [
    (((2, 3, 4), (3, 4, 5)), 2), (((2, 3), (4, 5)), 0), (((2, 3), (3, 4)), 1),
    (((3, 4, 5), (4, 3, 2)), ([1, 0], [0, 1])), (((3, 4), (4, 2)), ([-1], [0])),
    (((2, 3, 4), (4, 3)), ((1, 2), (1, 0))), (((2, 0), (0, 3)), 1), (((3,), (3,)), 1),
], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_tensordot(shapes, axes, dtype, rng):
    a, b = rand(rng, shapes[0], dtype), rand(rng, shapes[1], dtype)
    assert_close(th.jit(lambda a, b: th.tensordot(a, b, axes))(a, b), np.tensordot(a, b, axes))


def test_tensordot_noncontiguous(rng):
    a, b = rand(rng, (3, 4, 5), np.float64), rand(rng, (5, 4), np.float64)
    got = th.jit(lambda a, b: th.tensordot(a, b, ([1, 2], [0, 1])))(noncontiguous(a), b.T)
    assert_close(got, np.tensordot(a, b.T, ([1, 2], [0, 1])))


def test_vdot_and_tensordot_errors():
    with pytest.raises(ValueError, match=r"vdot: operands of shapes \(2, 3\) and \(5,\) have different sizes"):
        th.jit(th.vdot).lower(np.ones((2, 3)), np.ones(5))
    with pytest.raises(ValueError, match=r"tensordot: shapes \(2, 3\) and \(4, 5\) are not aligned over axes"):
        th.jit(lambda a, b: th.tensordot(a, b, 1)).lower(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"tensordot: axes=3 is out of range"):
        th.jit(lambda a, b: th.tensordot(a, b, 3)).lower(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"tensordot: axis 2 is out of bounds"):
        th.jit(lambda a, b: th.tensordot(a, b, ([2], [0]))).lower(np.ones((2, 3)), np.ones((2, 3)))


# ---------------------------------------------------------------- gradients (jvp + transpose rules)
@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                    ((2, 3, 4), (2, 4, 2)), ((2, 3, 4), (4, 2)), ((3, 4), (2, 4, 2)),
                                    ((2, 1, 2, 3, 4), (3, 1, 4, 2))], ids=str)
def test_matmul_grad(shapes, rng):
    th.verify_grad(th.matmul, [rng.normal(size=shapes[0]), rng.normal(size=shapes[1])], rng=rng)


def test_dot_family_grads(rng):
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 4, 2))
    th.verify_grad(th.dot, [a, b], rng=rng)
    th.verify_grad(lambda a, b: th.tensordot(a, b, ([1, 2], [2, 1])), [a, rng.normal(size=(2, 4, 3))], rng=rng)
    th.verify_grad(th.outer, [rng.normal(size=3), rng.normal(size=(2, 2))], rng=rng)
    th.verify_grad(th.matmul, [rng.normal(size=(3, 4)).astype(np.float32),
                               rng.normal(size=(4, 2)).astype(np.float32)], rng=rng)


def test_matmul_reference_rule(rng):
    from theanir.dialects.tn.registry import lookup

    a, b = rand(rng, (2, 2, 3, 4), np.int64), rand(rng, (2, 2, 4, 5), np.int64)
    assert_close(th.jit(th.matmul)(a, b), lookup("tn.matmul").reference(a, b))


# Products with a transposed operand (`d @ W.T`, `h.T @ d`): tn.matmul reads the operand
# through a transposed indexing map instead of copying it; BLAS gets it as a transposed operand.
TRANSPOSED = {
    "a @ b.T": (lambda a, b: a @ b.T, (4, 3), (5, 3)),
    "a.T @ b": (lambda a, b: a.T @ b, (3, 4), (3, 5)),
    "a.T @ b.T": (lambda a, b: a.T @ b.T, (3, 4), (5, 3)),
    "row @ W.T": (lambda a, b: a @ b.T, (1, 3), (5, 3)),
    "W @ col.T": (lambda a, b: a @ b.T, (5, 3), (1, 3)),
    "batched": (lambda a, b: a @ b.swapaxes(1, 2), (2, 4, 3), (2, 5, 3)),
    "batched both": (lambda a, b: a.swapaxes(1, 2) @ b.swapaxes(1, 2), (2, 3, 4), (2, 5, 3)),
    "empty rows": (lambda a, b: a @ b.T, (0, 3), (5, 3)),
    "empty contraction": (lambda a, b: a.T @ b, (0, 4), (0, 5)),
}


@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("case", list(TRANSPOSED), ids=str)
def test_matmul_with_transposed_operands(case, dtype, rng):
    fn, sa, sb = TRANSPOSED[case]
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    want = fn(a, b)
    assert_close(th.jit(fn)(a, b), want, dtype)
    assert_close(th.jit(fn)(noncontiguous(a), noncontiguous(b)), want, dtype)


def test_transposed_operand_is_not_copied():
    f = th.jit(lambda d, w: d @ w.T)
    text = f.lower(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)).as_text("linalg")
    assert "linalg.transpose" not in text
    assert "linalg.matmul indexing_maps" in text
    llvm = f.lower(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)).as_text("llvm")
    assert "__theanir_dk_f32" in llvm  # a 2-row product: theanir-small-gemm's dot kernel
    big = f.lower(np.ones((32, 40), np.float32), np.ones((50, 40), np.float32)).as_text("llvm")
    assert "scipy_cblas_sgemm" in big  # no small side: still a BLAS call
