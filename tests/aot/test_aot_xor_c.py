"""The seed's XOR training step (examples/xor_theano_style.py) as a training library (issue 18,
slice 2): a C program trains it to 100% accuracy with no Python, through the step and
through NAME_run; the weights match th.function's after the same number of steps; the state
API (init, get/set by name) works and refuses bad calls; ASan is clean."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

import theanir as th

from aot_support import build_program, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 1000
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([0, 1, 1, 0], dtype=np.float64)


def _example():
    spec = importlib.util.spec_from_file_location("xor_example", os.path.join(ROOT, "examples", "xor_theano_style.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _build(folder, asan=False):
    train, _ = _example().build_model(np.random.RandomState(1234))
    old = os.environ.get("THEANIR_AOT_CFLAGS")
    if asan:
        os.environ["THEANIR_AOT_CFLAGS"] = "-fsanitize=address -fno-omit-frame-pointer"
    try:
        lib = th.aot.compile(train, [X, Y], os.path.join(folder, "libxor"), function_name="train")
    finally:
        os.environ.pop("THEANIR_AOT_CFLAGS", None)
        if old is not None:
            os.environ["THEANIR_AOT_CFLAGS"] = old
    return train, lib


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("aot_xor"))
    train, lib = _build(folder)
    w1_python = None
    for _ in range(STEPS):  # the same training in Python, from the same initial weights
        cost, _pred = train(X, Y)
    w1_python = np.asarray([s for s in train.shared if s.name == "W1"][0].get_value())
    return folder, lib, w1_python, float(np.asarray(cost))


def _parse(stdout):
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] if " " in line else "" for line in stdout.splitlines()}


@pytest.mark.parametrize("mode", ["loop", "run"])
def test_c_program_trains_xor(built, tmp_path, mode):
    folder, _, w1_python, cost_python = built
    exe = build_program("xor_main.c", folder, "xor", str(tmp_path / "xor_main"))
    out = _parse(run([exe, str(STEPS), mode]).stdout)
    assert out["accuracy"] == "1.00", out
    assert out["pred"] == "0 1 1 0"
    w1 = np.array([float(v) for v in out["W1"].split()], dtype=np.float64).reshape(2, 4)
    np.testing.assert_allclose(w1, w1_python, rtol=1e-3, atol=1e-4)
    assert abs(float(out["cost"]) - cost_python) < 1e-3
    assert out["before_init"].startswith("11 xor_train: call xor_init() first")
    assert out["states"] == "4: W1 b1 W2 b2"
    assert out["set"] == "0" and out["after_set"] == "0 0.0 0.0"
    assert out["unknown"].startswith("11 xor_get_state: no state named 'nope'")
    assert out["nullname"].startswith("1 xor_get_state: name is NULL")
    assert out["badshape"].startswith("4 state 0 ('W1'): dim 1 has size 3, expected 4")
    assert out["badrun"].startswith("12 xor_run: n_calls is 0, must be >= 1")


def test_xor_asan_clean(tmp_path):
    folder = str(tmp_path / "asan")
    os.makedirs(folder)
    _build(folder, asan=True)
    exe = build_program("xor_main.c", folder, "xor", str(tmp_path / "xor_asan"), asan=True)
    proc = run([exe, "300", "run"], env={"ASAN_OPTIONS": "detect_leaks=1:exitcode=23"})
    assert "AddressSanitizer" not in proc.stderr and "LeakSanitizer" not in proc.stderr
    assert "accuracy" in proc.stdout


def test_python_load_of_training_library(built):
    folder, lib, w1_python, _ = built
    xor = th.aot.load(lib)
    assert xor.states == ["W1", "b1", "W2", "b2"]
    xor.init()
    cost, pred = xor.run(STEPS, X, Y)
    np.testing.assert_array_equal(pred, Y.astype(bool))
    np.testing.assert_allclose(xor.get_state("W1"), w1_python, rtol=1e-3, atol=1e-4)
    xor.set_state("b2", np.float32(0.5) if xor.manifest["states"][3]["dtype"] == "float32" else 0.5)
    assert float(xor.get_state("b2")) == 0.5
    cost1, _ = xor(X, Y)  # one step
    assert np.isfinite(cost1)
    with pytest.raises(th.aot.AotError, match="dim 1 has size 3, expected 4"):
        xor.set_state("W1", np.zeros((2, 3)))
    with pytest.raises(KeyError, match="no state named"):
        xor.get_state("nope")
