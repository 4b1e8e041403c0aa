"""theanir-aot (issue 18, slice 4): the command line builds the same library as th.aot.compile."""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys

import numpy as np

MODEL = '''
import numpy as np
import theanir as th
import theanir.tensor as T

x = T.matrix("x")
w = th.shared(np.full((3, 2), 0.5), name="w")
loss = T.sum(T.dot(x, w) ** 2)
train_step = th.function([x], loss, updates=[(w, w - 0.01 * T.grad(loss, w))])

def forward(a, b):
    return th.tanh(a) * b
'''


def _cli() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "theanir-aot")
    assert os.path.exists(exe), "theanir-aot is not installed ([project.scripts] in pyproject.toml)"
    return exe


def test_cli_builds_training_and_forward_libraries(tmp_path):
    (tmp_path / "my_model.py").write_text(MODEL)
    (tmp_path / "spec.json").write_text(json.dumps([{"shape": [4, 3], "dtype": "float64"}]))
    out = tmp_path / "build" / "libstep.so"
    proc = subprocess.run([_cli(), str(tmp_path / "my_model.py") + ":train_step", "--example-args",
                           str(tmp_path / "spec.json"), "-o", str(out), "--header"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out) and (tmp_path / "build" / "step.h").exists()
    header = (tmp_path / "build" / "step.h").read_text()
    assert "int step_train_step(const theanir_buffer *x, theanir_buffer *out0);" in header
    assert "int step_init(void);" in header and "'w': float64 [3, 2] (updated)" in header
    lib = ctypes.CDLL(str(out))
    lib.step_manifest.restype = ctypes.c_char_p
    assert json.loads(lib.step_manifest())["states"][0]["name"] == "w"

    (tmp_path / "spec2.json").write_text(json.dumps([[1.0, 2.0], {"shape": [2], "dtype": "float32"}]))
    out2 = tmp_path / "build" / "libfwd.so"
    proc = subprocess.run([_cli(), str(tmp_path / "my_model.py") + ":forward", "--example-args",
                           str(tmp_path / "spec2.json"), "-o", str(out2)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert out2.exists() and not (tmp_path / "build" / "fwd.h").exists()  # no --header


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "m.py").write_text(MODEL)
    (tmp_path / "spec.json").write_text("{not json")
    cases = [
        ([str(tmp_path / "missing.py") + ":f", "--example-args", str(tmp_path / "spec.json"), "-o", "x.so"], "no file"),
        ([str(tmp_path / "m.py") + ":nothing", "--example-args", str(tmp_path / "spec.json"), "-o", "x.so"],
         "has no 'nothing'"),
        ([str(tmp_path / "m.py") + ":forward", "--example-args", str(tmp_path / "spec.json"), "-o", "x.so"],
         "cannot read the example arguments"),
    ]
    for argv, message in cases:
        proc = subprocess.run([_cli(), *argv], capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("theanir-aot: error:") and message in lines[0], proc.stderr
    proc = subprocess.run([_cli()], capture_output=True, text=True)
    assert proc.returncode == 2


def test_cli_target_recorded(tmp_path):
    (tmp_path / "m.py").write_text(MODEL)
    (tmp_path / "spec.json").write_text(json.dumps([np.zeros(3).tolist(), np.zeros(3).tolist()]))
    out = tmp_path / "libv3.so"
    proc = subprocess.run([_cli(), str(tmp_path / "m.py") + ":forward", "--example-args", str(tmp_path / "spec.json"),
                           "-o", str(out), "--target", "x86-64-v3"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lib = ctypes.CDLL(str(out))
    lib.v3_manifest.restype = ctypes.c_char_p
    assert json.loads(lib.v3_manifest())["target"]["name"] == "x86-64-v3"
