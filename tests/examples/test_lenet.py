"""examples/lenet.py (issue 19): the Theano LeNet-5 tutorial program, only its import lines
naming theanir, trains on locally made digits in its short configuration (`--quick`): the
validation error it prints must fall well below chance (90 %)."""
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "examples", "lenet.py")


def test_only_the_import_lines_name_theanir():
    with open(SCRIPT) as f:
        lines = [l.strip() for l in f if re.match(r"\s*(import|from)\s", l) and "theanir" in l]
    assert lines == ["import theanir as theano", "import theanir.tensor as T",
                     "from theanir.tensor.nnet import conv2d", "from theanir.tensor.signal import pool"]


def test_lenet_learns(tmp_path):
    env = dict(os.environ, THEANIR_FLAGS="floatX=float32")
    proc = subprocess.run([sys.executable, SCRIPT, "--quick"], capture_output=True, text=True, timeout=900,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    valid = [float(v) for v in re.findall(r"validation error ([0-9.]+) %", proc.stdout)]
    assert len(valid) >= 3 and valid[-1] < valid[0] and valid[-1] < 60.0, proc.stdout
    cost = [float(v) for v in re.findall(r"cost ([0-9.]+),", proc.stdout)]
    assert cost[-1] < cost[0], proc.stdout
