"""THEANIR_FLAGS (Theano's THEANO_FLAGS) and Theano's inert config flags (issue 14, item 9)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import theanir as th

PROBE = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import theanir as th
    import theanir.tensor as T
c = th.config
print(json.dumps({"floatX": c.floatX, "optimizer": c.optimizer, "device": c.device, "mode": c.mode,
                  "allow_gc": c.allow_gc, "opt_level": c.opt_level, "round": c.warn.round,
                  "ctv": c.compute_test_value, "verbosity": c.exception_verbosity,
                  "ldflags": c.inert_flags["blas.ldflags"], "scalar": T.scalar().dtype,
                  "fn_optimizer": th.function([], T.constant(1.0)).mode.optimizer,
                  "warnings": [str(w.message) for w in caught]}))
"""


def _run(flags: str | None) -> dict:
    env = dict(os.environ)
    env.pop("THEANIR_FLAGS", None)
    if flags is not None:
        env["THEANIR_FLAGS"] = flags
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_flags_set_config_at_import():
    got = _run("floatX=float32, optimizer=fast_compile,device=cpu,allow_gc=False,opt_level=1,"
               "warn.round=False,compute_test_value=warn,exception_verbosity=high,blas.ldflags=-lopenblas")
    assert (got["floatX"], got["optimizer"], got["device"], got["allow_gc"], got["opt_level"]) == \
        ("float32", "fast_compile", "cpu", False, 1)
    assert (got["round"], got["ctv"], got["verbosity"], got["ldflags"]) == (False, "warn", "high", "-lopenblas")
    assert got["scalar"] == "float32" and got["warnings"] == []


def test_mode_flag_and_theano_optimizer_names():
    got = _run("mode=FAST_COMPILE")
    assert got["mode"] == "FAST_COMPILE" and got["fn_optimizer"] == "fast_compile"
    assert _run("optimizer=None")["optimizer"] == "fast_compile"
    assert _run("optimizer=fast_run")["optimizer"] == "fast_run"
    assert _run(None)["warnings"] == [] and _run(None)["mode"] == "Mode"


def test_unknown_flags_give_one_warning_naming_them():
    got = _run("floatX=float32,nonsense=1,gpuarray.nonsense=2")
    assert got["floatX"] == "float32"
    assert len(got["warnings"]) == 1
    assert "unknown flags ['nonsense', 'gpuarray.nonsense']" in got["warnings"][0]


def test_cuda_device_selects_cuda_without_touching_it():
    # issue 21: device=cuda (Theano's cuda0) selects the CUDA back end; nothing probes CUDA at
    # import (a call on a machine without a GPU raises th.DeviceError: tests/gpu/test_device.py)
    got = _run("device=cuda0,floatX=float32")
    assert got["device"] == "cuda" and got["warnings"] == []


def test_opencl_device_warns_and_runs_on_the_cpu():
    got = _run("device=opencl0:0,floatX=float32")
    assert got["device"] == "cpu" and len(got["warnings"]) == 1
    assert "device=opencl0:0" in got["warnings"][0] and "CPU" in got["warnings"][0]


@pytest.mark.parametrize("flags,message", [
    ("floatX=float16", "floatX must be 'float32' or 'float64'"),
    ("optimizer=fastest", "unknown optimizer 'fastest'"),
    ("allow_gc=maybe", "allow_gc must be True or False"),
    ("floatX", "not of the form name=value"),
    ("device=tpu", "unknown device 'tpu'"),
])
def test_bad_flag_values_fail_at_import_with_a_clear_message(flags, message):
    env = dict(os.environ, THEANIR_FLAGS=flags)
    out = subprocess.run([sys.executable, "-c", "import theanir"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and "THEANIR_FLAGS" in out.stderr and message in out.stderr


def test_inert_flags_are_settable_in_process():
    old = th.config.warn.sum_div_dimshuffle_bug
    try:
        th.config.warn.sum_div_dimshuffle_bug = False
        th.config.compute_test_value = "off"
        th.config.DebugMode.check_py = False
        assert th.config.warn.sum_div_dimshuffle_bug is False and th.config.DebugMode.check_py is False
    finally:
        th.config.warn.sum_div_dimshuffle_bug = old
        th.config.DebugMode.check_py = True
    with pytest.raises(AttributeError, match="warn has no flag 'nonsense'"):
        th.config.warn.nonsense = 1
    with pytest.raises(AttributeError, match="no setting 'nonsense'"):
        th.config.nonsense  # noqa: B018
    with pytest.raises(ValueError, match="on_unused_input"):
        th.config.on_unused_input = "sometimes"
    with pytest.warns(UserWarning, match="device=opencl"):
        th.config.device = "opencl"
    assert th.config.device == "cpu"


def test_test_values_are_accepted_and_unused():
    import theanir.tensor as T
    x = T.dmatrix("x")
    x.tag.test_value = np.ones((2, 3))                 # Theano's compute_test_value idiom
    assert x.tag.test_value.shape == (2, 3)
    assert th.function([x], x * 2)(np.ones((1, 1)))[0, 0] == 2.0
