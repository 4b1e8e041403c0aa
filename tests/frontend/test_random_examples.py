"""The random-number examples train: the Theano-style denoising autoencoder (binomial corruption
from a RandomStreams, new masks each call) and the JAX-style dropout MLP (keys split per step)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(name: str) -> str:
    script = os.path.join(REPO, "examples", name)
    return subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=600,
                          check=True).stdout


def test_denoising_autoencoder_example_trains():
    with open(os.path.join(REPO, "examples", "denoising_autoencoder_theano_style.py")) as f:
        imports = [line for line in f if re.match(r"\s*(import|from)\s", line)]
    assert [line for line in imports if "theanir" in line] == [
        "import theanir as theano\n", "import theanir.tensor as T\n",
        "from theanir.tensor.shared_randomstreams import RandomStreams\n"]
    out = _run("denoising_autoencoder_theano_style.py")
    first, last = map(float, re.search(r"first epoch cost ([0-9.]+), last epoch cost ([0-9.]+)", out).groups())
    error = float(re.search(r"mean reconstruction error ([0-9.]+)", out).group(1))
    assert last < 0.5 * first and error < 0.15


def test_dropout_mlp_example_trains():
    out = _run("dropout_mlp_jax_style.py")
    assert float(re.search(r"accuracy ([0-9.]+)", out).group(1)) >= 0.95
