"""Device selection without a GPU (issue 21): th.config.device, THEANIR_FLAGS=device=cuda,
th.jit(f, device=...), th.device_put, Array.device; CPU use never touches CUDA; asking for
CUDA where there is none raises th.DeviceError naming what is missing."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import theanir as th
from theanir.runtime import device as rdevice

HAVE_CUDA = rdevice.cuda_error() is None
no_gpu = pytest.mark.skipif(HAVE_CUDA, reason="this machine has a CUDA device (the no-GPU errors cannot happen)")


@pytest.fixture
def restore_device():
    old = th.config.device
    yield
    th.config.device = old


def test_device_names_parse():
    assert rdevice.parse_device("cuda") == rdevice.Device("cuda", 0)
    assert rdevice.parse_device("cuda:1") == rdevice.Device("cuda", 1)
    assert rdevice.parse_device("cuda0") == "cuda:0" and rdevice.parse_device("gpu") == "cuda"
    assert rdevice.parse_device("CPU") == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'.*'cpu', 'cuda' or 'cuda:N'"):
        rdevice.parse_device("tpu")


def test_config_device_accepts_cuda_without_touching_it(restore_device):
    th.config.device = "cuda"
    assert th.config.device == "cuda"
    th.config.device = "cuda0"  # Theano's spelling
    assert th.config.device == "cuda"
    th.config.device = "cuda:1"
    assert th.config.device == "cuda:1"
    with pytest.raises(ValueError, match="config.device: unknown device 'tpu'"):
        th.config.device = "tpu"
    with pytest.warns(UserWarning, match="no OpenCL backend"):
        th.config.device = "opencl0:0"
    assert th.config.device == "cpu"


def test_array_device_is_cpu():
    y = th.jit(lambda x: x + 1)(np.ones(3, np.float32))
    assert y.device == "cpu" and y.device == th.Device("cpu", 0) and str(y.device) == "cpu:0"
    z = th.device_put(np.arange(3.0), "cpu")
    assert isinstance(z, th.Array) and z.device == "cpu"
    np.testing.assert_array_equal(np.asarray(z), np.arange(3.0))
    assert th.device_put(z) is z
    assert th.devices("cpu") == [th.Device("cpu", 0)]


@no_gpu
def test_device_put_cuda_without_gpu_raises_device_error():
    with pytest.raises(th.DeviceError, match="no CUDA device: "):
        th.device_put(np.ones(3), "cuda")
    assert th.devices("cuda") == []


@no_gpu
def test_jit_on_cuda_without_gpu_raises_at_the_call():
    f = th.jit(lambda x: x * 2, device="cuda")  # creating it touches nothing
    with pytest.raises(th.DeviceError, match="no CUDA device: "):
        f(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="unknown device"):
        th.jit(lambda x: x, device="tpu")


@no_gpu
def test_config_device_cuda_routes_jit_and_function(restore_device):
    f = th.jit(lambda x: x * 2)
    np.testing.assert_array_equal(np.asarray(f(np.ones(2, np.float32))), [2, 2])
    th.config.device = "cuda"
    with pytest.raises(th.DeviceError, match="no CUDA device: "):
        f(np.ones(2, np.float32))  # the warm CPU entry is not reused under another device
    import theanir.tensor as T
    x = T.vector("x")
    g = th.function([x], x + 1)
    with pytest.raises(th.DeviceError, match="no CUDA device: "):
        g(np.ones(2))
    th.config.device = "cpu"
    np.testing.assert_array_equal(np.asarray(f(np.ones(2, np.float32))), [2, 2])


def test_missing_driver_library_is_named(monkeypatch):
    monkeypatch.setattr(rdevice, "LIBCUDA", "libcuda-theanir-missing.so.1")
    rdevice.forget_probe()
    try:
        with pytest.raises(th.DeviceError, match="no CUDA device: libcuda-theanir-missing.so.1 could not be loaded"):
            rdevice.require_cuda(rdevice.Device("cuda", 0))
    finally:
        monkeypatch.undo()
        rdevice.forget_probe()


_CHILD = r"""
import json, os, sys
import numpy as np
import theanir as th
f = th.jit(lambda x: (x * 2).sum())
v = float(f(np.ones(4, np.float32)))
maps = open("/proc/self/maps").read()
print(json.dumps({"value": v, "device": th.config.device,
                  "libcuda": "libcuda" in maps, "nvjitlink": "nvJitLink" in maps,
                  "modules": sorted(m for m in sys.modules if m.startswith("cuda") or m.endswith(".cuda"))}))
"""


def test_import_and_cpu_use_never_touch_cuda():
    env = dict(os.environ)
    env.pop("THEANIR_FLAGS", None)
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"value": 8.0, "device": "cpu", "libcuda": False, "nvjitlink": False, "modules": []}


@no_gpu
def test_theanir_flags_device_cuda_selects_cuda_and_errors_at_the_call():
    env = dict(os.environ, THEANIR_FLAGS="device=cuda,floatX=float32")
    code = ("import numpy as np, theanir as th\n"
            "assert th.config.device == 'cuda', th.config.device\n"
            "try:\n    th.jit(lambda x: x + 1)(np.ones(2, np.float32))\n"
            "except th.DeviceError as e:\n    print('DeviceError:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "DeviceError: no CUDA device: " in out.stdout
