"""BLAS calls from generated code (convert-linalg-matmul-to-blas) and th.config.threads.

Every product is computed three ways: BLAS on (the default), BLAS off (the generated loops),
NumPy. Layouts cover what the pass must accept (row- and column-major operands, row strides
larger than the row, offsets) and what it must refuse at run time (inner strides != 1).
"""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import theanir as th
from theanir.codegen import threads
from theanir.codegen.threads import blas_library

from support import run_openmp_child

pytestmark = pytest.mark.skipif(blas_library() is None, reason="scipy-openblas32 not installed")


@contextlib.contextmanager
def setting(name: str, value: object):
    old = getattr(th.config, name)
    setattr(th.config, name, value)
    try:
        yield
    finally:
        setattr(th.config, name, old)


def run(fn, *args, blas: bool):
    with setting("blas", blas):
        return th.jit(fn)(*args)


def check(fn, *args) -> None:
    ref = fn(*[np.asarray(a) for a in args])
    on, off = run(fn, *args, blas=True), run(fn, *args, blas=False)
    tol = 1e-4 if ref.dtype == np.float32 else 1e-11
    assert on.shape == ref.shape and on.dtype == ref.dtype
    np.testing.assert_allclose(on, ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(on, off, rtol=tol, atol=tol)


def matmul(a, b):
    return a @ b


LAYOUTS = {
    "contiguous": lambda x: x,
    "transposed": lambda x: np.asfortranarray(x),  # column-major: passed as Trans
    "row_stride": lambda x: np.pad(x, ((0, 0), (0, 3)))[:, : x.shape[1]],  # lda > cols
    "offset": lambda x: np.pad(x, ((1, 0), (2, 0)))[1:, 2:],
    "inner_stride": lambda x: np.repeat(x, 2, axis=1)[:, ::2],  # not BLAS-able: loops
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("la", sorted(LAYOUTS))
@pytest.mark.parametrize("lb", ["contiguous", "transposed", "inner_stride"])
def test_gemm_layouts(rng, dtype, la, lb):
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 6)).astype(dtype)
    check(matmul, LAYOUTS[la](a), LAYOUTS[lb](b))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shapes", [((6, 5), (5,)), ((5,), (5, 6)), ((5,), (5,)), ((1, 5), (5, 1)),
                                    ((6, 1), (1, 4)), ((6, 5), (5, 1)), ((1, 5), (5, 4))])
def test_gemv_and_thin(rng, dtype, shapes):
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    check(matmul, a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemv_strided_vector_and_transposed_matrix(rng, dtype):
    a = rng.standard_normal((6, 7)).astype(dtype)
    x = rng.standard_normal(14).astype(dtype)
    check(matmul, a, x[::2])
    check(matmul, np.asfortranarray(a), x[:7])
    check(matmul, x[:12:2], np.asfortranarray(a))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batched(rng, dtype):
    a = rng.standard_normal((3, 4, 5)).astype(dtype)
    b = rng.standard_normal((3, 5, 2)).astype(dtype)
    check(matmul, a, b)
    check(matmul, a.transpose(0, 2, 1).copy().transpose(0, 2, 1), b)  # column-major batches
    check(matmul, a[::2], b[::2])
    check(matmul, a, b[0])  # broadcast batch


@pytest.mark.parametrize("shapes", [((0, 3), (3, 4)), ((3, 0), (0, 4)), ((3, 4), (4, 0)),
                                    ((2, 0, 3), (2, 3, 4)), ((0, 2, 3), (0, 3, 4))])
def test_size_zero(rng, shapes):
    a, b = (rng.standard_normal(s) for s in shapes)
    check(matmul, a, b)


def test_integer_matmul_keeps_loops(rng):
    a = rng.integers(-5, 5, (4, 3))
    b = rng.integers(-5, 5, (3, 6))
    f = th.jit(matmul)
    assert "cblas" not in f.lower(a, b).as_text("llvm")
    np.testing.assert_array_equal(f(a, b), a @ b)


def test_blas_call_in_generated_code(rng):
    # no side <= 16 (those run theanir-small-gemm's kernels, with or without BLAS)
    a = rng.standard_normal((24, 20)).astype(np.float32)
    b = rng.standard_normal((20, 30)).astype(np.float32)
    with setting("blas", True):
        assert "scipy_cblas_sgemm" in th.jit(matmul).lower(a, b).as_text("llvm")
    with setting("blas", False):
        assert "cblas" not in th.jit(matmul).lower(a, b).as_text("llvm")


def test_matmul_inside_grad(rng):
    """Gradients are matrix products too (transposes of the primal): BLAS or loops agree."""
    w = rng.standard_normal((20, 18))
    x = rng.standard_normal((17, 20))

    def loss(w, x):
        return th.sum(th.tanh(x @ w) ** 2)

    on = run(th.grad(loss), w, x, blas=True)
    off = run(th.grad(loss), w, x, blas=False)
    np.testing.assert_allclose(on, off, rtol=1e-12, atol=1e-12)


def test_threads_same_results(rng):
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 250)).astype(np.float32)
    f = th.jit(matmul)
    # Each result is read inside its setting: a call still queued when the setting changes back
    # would run with the other thread count (the test once passed only through that race).
    with setting("threads", 1):
        one = np.asarray(f(a, b))
        assert threads.blas_threads() == 1
    with setting("threads", 2):
        two = np.asarray(f(a, b))
        # with OpenMP, products split on its team and OpenBLAS's own pool stays at one thread
        assert threads.blas_threads() == (1 if th.config.openmp else 2)
    # Two threads split the product's blocks differently, so float32 roundings differ: up to
    # 1.4e-5 seen on entries near 0.37 (K = 200 terms of size ~1).
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_threads_validated(bad):
    with pytest.raises(ValueError, match="config.threads"):
        th.config.threads = bad


def test_default_threads(monkeypatch):
    monkeypatch.setenv("THEANIR_THREADS", "3")
    assert threads.default_threads() == 3
    monkeypatch.delenv("THEANIR_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2,1")
    assert threads.default_threads() == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.default_threads() >= 1


OPENMP_SCRIPT = r"""
import sys
import numpy as np
import theanir as th

rng = np.random.default_rng(0)
x = rng.standard_normal((300, 700)).astype(np.float32)
y = rng.standard_normal((300, 700)).astype(np.float32)
i = rng.integers(-9, 9, (40, 30))
j = rng.integers(-9, 9, (30, 20))
fns = [lambda x, y: th.tanh(x * 1.5 + y) * y - x,
       lambda x, y: th.sum(x * y, axis=1),
       lambda x, y: th.max(x - y, axis=0),
       lambda x, y: th.sum(x)]
results = []
for openmp, threads in ((False, 1), (True, 1), (True, 2)):
    th.config.openmp, th.config.threads = openmp, threads
    out = [np.asarray(th.jit(f)(x, y)) for f in fns] + [np.asarray(th.jit(lambda a, b: a @ b)(i, j))]
    # one thread compiles the serial loops whatever config.openmp says; 2 threads an OpenMP loop
    assert ("omp.parallel" in th.jit(fns[0]).lower(x, y).as_text("llvm")) == (openmp and threads > 1)
    results.append(out)
for other in results[1:]:
    for a, b in zip(results[0], other):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
np.testing.assert_array_equal(results[2][-1], i @ j)
print("ok")
"""


def test_openmp_same_results_as_serial(tmp_path):
    """th.config.openmp with 1 and 2 threads computes what the serial loops
    do. In a child process: it loads Intel's OpenMP runtime, which must not meet another."""
    run_openmp_child(OPENMP_SCRIPT, tmp_path)
