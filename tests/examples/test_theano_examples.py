"""The classic Theano tutorials' programs in examples/ (issue 14's acceptance): each is Theano
code whose import lines name theanir instead of theano, run here in its short configuration
(`--quick`) in a fresh process; the tests check that the error rates it prints fall, and for
the programs that pickle their best model, that the pickle is usable again."""
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "examples")


def _theanir_imports(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return [line.strip() for line in f if re.match(r"\s*(import|from)\s", line) and "theanir" in line]


def _run(name, tmp_path, *args):
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), "--quick", *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("name,extra", [
    ("logistic_sgd.py", []), ("logistic_cg.py", []), ("mlp.py", []), ("dA.py", ["from theanir.tensor.shared_randomstreams import RandomStreams"]),
    ("rnn_varlen.py", []),
])
def test_only_the_import_lines_name_theanir(name, extra):
    assert _theanir_imports(name) == ["import theanir as theano", "import theanir.tensor as T"] + extra


def _floats(pattern, text):
    return [float(v) for v in re.findall(pattern, text)]


def test_logistic_regression_learns_and_its_pickled_model_predicts(tmp_path):
    out = _run("logistic_sgd.py", tmp_path)
    valid = _floats(r"validation error ([0-9.]+) %", out)
    assert len(valid) >= 3 and valid[-1] < valid[0] and min(valid) < 15.0, out
    test = _floats(r"test performance ([0-9.]+) %", out)
    assert test and test[0] < 15.0, out
    assert (tmp_path / "best_model.pkl").exists()
    predicted = re.search(r"first 10 examples in test set:\n\[([0-9 ,]+)\]", out)
    assert predicted and len(predicted.group(1).replace(",", " ").split()) == 10, out


def test_logistic_regression_by_conjugate_gradient_learns(tmp_path):
    out = _run("logistic_cg.py", tmp_path)
    valid = _floats(r"validation error ([0-9.]+) %", out)
    assert len(valid) >= 3 and valid[-1] < valid[0] and min(valid) < 15.0, out


def test_mlp_learns_and_pickles_its_best_model(tmp_path):
    out = _run("mlp.py", tmp_path)
    valid = _floats(r"validation error ([0-9.]+) %", out)
    assert len(valid) >= 3 and valid[-1] < valid[0] and min(valid) < 12.0, out
    assert (tmp_path / "best_mlp.pkl").exists()
    # the pickled classifier is Theano graphs plus shared variables: a new process compiles it
    script = ("import pickle, sys, numpy\n"
              f"sys.path.insert(0, {EXAMPLES!r})\n"
              "import theanir as theano\n"
              "from logistic_sgd import load_data\n"
              "import __main__, mlp  # the classes were pickled from mlp.py run as __main__\n"
              "__main__.MLP, __main__.HiddenLayer = mlp.MLP, mlp.HiddenLayer\n"
              "clf = pickle.load(open('best_mlp.pkl', 'rb'))\n"
              "f = theano.function([clf.input], clf.logRegressionLayer.y_pred)\n"
              "(x, y), = [d for d in load_data()[2:]]\n"
              "pred = numpy.asarray(f(x.get_value()))\n"
              "truth = numpy.asarray(y.eval())\n"
              "print('error', float((pred != truth).mean()))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(re.search(r"error ([0-9.]+)", proc.stdout).group(1)) < 0.12


def test_denoising_autoencoder_cost_falls(tmp_path):
    out = _run("dA.py", tmp_path)
    costs = _floats(r"Training epoch \d+, cost\s+([0-9.]+)", out)
    assert len(costs) == 4 and costs[-1] < 0.9 * costs[0], out


def test_rnn_over_variable_length_sentences_learns(tmp_path):
    out = _run("rnn_varlen.py", tmp_path)
    before = _floats(r"test error before training ([0-9.]+)", out)[0]
    errors = _floats(r"test error ([0-9.]+)\n", out)
    final = _floats(r"final test error ([0-9.]+)", out)[0]
    assert before > 0.4 and final < 0.5 * before and errors[-1] <= errors[0], out
