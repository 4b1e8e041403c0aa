"""Theano's module paths exist under theanir (frontend/theano_modules/README.md): a Theano
program's import lines work after `theano` -> `theanir`."""
import importlib

import numpy as np
import pytest

import theanir

# (module path, a name it must export)
PATHS = [
    ("theanir.tensor", "dmatrix"),
    ("theanir.tensor.nnet", "sigmoid"),
    ("theanir.tensor.nnet.bn", "batch_normalization_train"),
    ("theanir.tensor.subtensor", "inc_subtensor"),
    ("theanir.ifelse", "ifelse"),
    ("theanir.tensor.shared_randomstreams", "RandomStreams"),
    ("theanir.sandbox.rng_mrg", "MRG_RandomStreams"),
    ("theanir.printing", "debugprint"),
    ("theanir.gradient", "disconnected_grad"),
    ("theanir.scalar", "upcast"),
    ("theanir.tensor.xlogx", "xlogy0"),
    ("theanir.compile", "function"),
    ("theanir.compile.mode", "Mode"),
    ("theanir.compile.io", "In"),
    ("theanir.compile.io", "Out"),
    ("theanir.compile.sharedvalue", "shared"),
    ("theanir.compile.function_module", "FunctionMaker"),
    # issue 19: convolution and pooling
    ("theanir.tensor.nnet", "conv2d"),
    ("theanir.tensor.signal.pool", "pool_2d"),
    ("theanir.sparse", "csr_matrix"),
]


@pytest.mark.parametrize("path,name", PATHS)
def test_path_imports_and_exports(path, name):
    mod = importlib.import_module(path)
    assert callable(getattr(mod, name))


def test_forwarders_share_one_definition():
    import theanir.tensor as T
    from theanir.tensor import nnet
    from theanir.tensor.nnet import sigmoid
    assert T.nnet.sigmoid is sigmoid is nnet.sigmoid


def test_theano_style_program_runs():
    import theanir.tensor as T
    from theanir.ifelse import ifelse
    x = T.dvector("x")
    a = T.dscalar("a")
    y = ifelse(T.gt(a, 0), T.nnet.sigmoid(x).sum(), T.nnet.softplus(x).sum())
    f = theanir.function([x, a], y)
    v = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(f(v, 1.0), (1 / (1 + np.exp(-v))).sum())
    np.testing.assert_allclose(f(v, -1.0), np.log1p(np.exp(v)).sum())


def test_submodules_are_attributes_after_a_bare_import():
    """Theano programs write `import theano` then `theano.printing.debugprint(...)`."""
    import subprocess
    import sys
    code = ("import theanir\n"
            "assert callable(theanir.printing.debugprint)\n"
            "assert callable(theanir.tensor.dmatrix)\n"
            "try:\n    theanir.no_such_module\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "no attribute 'no_such_module'" in out


def test_th_ifelse_stays_callable_after_importing_the_module():
    import theanir.ifelse
    from theanir.ifelse import ifelse
    x = theanir.tensor.dscalar("x")
    f = theanir.function([x], theanir.ifelse(x > 0, x, -x))
    assert float(f(-2.0)) == 2.0 and ifelse is not theanir.ifelse
