"""AOT libraries with dynamic dims (th.aot.compile(..., dynamic_shapes=...)): one library
serves every batch size; outputs whose size is known only at run time are copied into the
caller's buffer (THEANIR_ERR_SIZE with the shape filled when it is too small); the code's
run-time checks fail the call with THEANIR_ERR_CHECK; clean under ASan."""
from __future__ import annotations

import os

import numpy as np
import pytest

import theanir as th

from aot_support import build_program, run


def forward(x, w):
    return th.tanh(x @ w), th.sum(x, axis=1)


def _build(folder, asan=False):
    old = os.environ.get("THEANIR_AOT_CFLAGS")
    if asan:
        os.environ["THEANIR_AOT_CFLAGS"] = "-fsanitize=address -fno-omit-frame-pointer"
    try:
        return th.aot.compile(forward, [np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32)],
                              os.path.join(folder, "libdyn"), dynamic_shapes=[0])
    finally:
        os.environ.pop("THEANIR_AOT_CFLAGS", None)
        if old is not None:
            os.environ["THEANIR_AOT_CFLAGS"] = old


def _expected(n, k):
    x = ((np.arange(n * k) % 7) - 3).astype(np.float32).reshape(n, k)
    w = np.arange(1, 7, dtype=np.float32).reshape(3, 2)
    return np.tanh(x @ w), x.sum(axis=1)


@pytest.mark.parametrize("asan", [False, True])
def test_dynamic_batch_from_c(tmp_path, asan):
    folder = str(tmp_path / "lib")
    _build(folder, asan)
    header = open(os.path.join(folder, "dyn.h")).read()
    assert "input  x: float32 [?, ?]" in header and "output out0: float32 [?, 2]" in header
    exe = build_program("dyn_main.c", folder, "dyn", str(tmp_path / "dyn_main"), asan=asan)
    env = {"ASAN_OPTIONS": "detect_leaks=1:exitcode=23"} if asan else None
    proc = run([exe], env=env)
    assert "AddressSanitizer" not in proc.stderr and "LeakSanitizer" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    for line, n in zip(lines[:4], (5, 1, 0, 64)):
        y, s = _expected(n, 3)
        assert line.startswith(f"n={n} k=3 rc=0 shape=2:{n},2 sshape=1:{n} "), line
        fields = dict(f.split("=") for f in line.split()[5:])
        assert abs(float(fields["sum"]) - float(y.sum())) < 1e-3 * max(1, abs(float(y.sum())))
        if n:
            assert abs(float(fields["s0"]) - float(s[0])) < 1e-4
    assert lines[4].startswith("n=9 k=3 rc=5 shape=2:9,2 ") and "needs 72 (its shape is in the buffer" in lines[4]
    assert lines[5].startswith("n=4 k=5 rc=10 "), lines[5]


def test_dynamic_library_from_python(tmp_path):
    lib = _build(str(tmp_path))
    f = th.aot.load(lib)
    for n in (7, 1, 0):
        x = np.random.default_rng(n).standard_normal((n, 3)).astype(np.float32)
        w = np.random.default_rng(9).standard_normal((3, 2)).astype(np.float32)
        y, s = f(x, w)
        np.testing.assert_allclose(np.asarray(y), np.tanh(x @ w), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(s), x.sum(axis=1), rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="shape|dim"):
        f(np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32))  # w is static


def test_dynamic_training_step(tmp_path):
    """A th.function with its default dynamic batch dim: one library, any batch size; the
    state trains as in Python."""
    import theanir.tensor as T
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 1))
    x, y = T.matrix("x"), T.vector("y")
    w = th.shared(w0.copy(), name="w")
    err = T.dot(x, w)[:, 0] - y
    loss = T.mean(err ** 2)
    train = th.function([x, y], [loss, err], updates=[(w, w - 0.1 * T.grad(loss, w))])
    lib = th.aot.compile(train, [np.zeros((3, 4)), np.zeros(3)], str(tmp_path / "libdstep"), dynamic_shapes=True)
    step = th.aot.load(lib)
    data = [(rng.standard_normal((n, 4)), rng.standard_normal(n)) for n in (5, 2, 8)]
    for xb, yb in data:
        loss_c, err_c = step(xb, yb)
        loss_py, err_py = train(xb, yb)
        np.testing.assert_allclose(loss_c, np.asarray(loss_py), rtol=1e-10)
        np.testing.assert_allclose(err_c, np.asarray(err_py), rtol=1e-10)
    np.testing.assert_allclose(step.get_state("w"), w.get_value(), rtol=1e-10)
