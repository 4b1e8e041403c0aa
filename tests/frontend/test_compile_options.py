"""`CompileOptions` is the one key (issue 13): a th.config setting that alters generated code
recompiles in the same process, misses the runtime's warm-call cache and gets another disk
cache key; a setting that does not alter code changes none of them; and every setting is
classified one way or the other (frontend/options.py), so a new one cannot slip through.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import textwrap

import numpy as np
import pytest

import theanir as th
from theanir.codegen.cache import cache_key
from theanir.codegen.native import STATS, host_target
from theanir.codegen.version import __version__ as codegen_version
from theanir.frontend.config import Config
from theanir.frontend.options import CODE_SETTINGS, RUNTIME_SETTINGS, compile_options
from theanir.passes.options import CompileOptions

from support import entries, run_openmp_child

# A value different from the default for each code-altering setting.
CHANGED = {"fast_math": True, "opt_level": 1, "blas": False, "openmp": not th.config.openmp, "optimizer": "fast_compile",
           "codegen": "engine", "device": "cuda", "threads": 1 if th.config.threads > 1 else 2}
# ... and for each setting that does not alter code.
UNCHANGED = {"floatX": "float32", "cache": False, "sync": True, "allow_gc": False,
             "max_pending_bytes": 1 << 26, "jit_cache_size": 7, "specialize_after": 5,
             "cache_dir": None,  # None: a temporary directory
             "mode": "FAST_COMPILE", "on_unused_input": "ignore"}  # (th.function's; th.jit's code stays)


def sub_self(x):
    return x - x  # fast_math folds it to 0, also for inf input


def product(x, w):
    return x @ w  # blas: scipy_cblas_dgemm, else generated loops


def _disk_key(lowered) -> str:
    return cache_key("module", lowered.options, host_target())


def test_every_setting_is_classified():
    names = {f.name for f in dataclasses.fields(Config)}
    assert not set(CODE_SETTINGS) & set(RUNTIME_SETTINGS)
    unclassified = names - set(CODE_SETTINGS) - set(RUNTIME_SETTINGS)
    assert not unclassified, (f"th.config settings {sorted(unclassified)} are in neither CODE_SETTINGS "
                              f"(they alter generated code: map them to a CompileOptions field) nor "
                              f"RUNTIME_SETTINGS (say why not) in frontend/options.py")
    assert not (set(CODE_SETTINGS) | set(RUNTIME_SETTINGS)) - names, "a classified setting no longer exists"
    option_fields = {f.name for f in dataclasses.fields(CompileOptions)}
    assert set(CODE_SETTINGS.values()) <= option_fields
    assert set(CHANGED) == set(CODE_SETTINGS) and set(UNCHANGED) == set(RUNTIME_SETTINGS)


def test_compile_options_resolve_the_host():
    opts = compile_options(th.config)
    assert opts.target_features == host_target().features
    assert opts == th.config.compile_snapshot()[0]
    assert compile_options(th.config, optimizer="fast_compile").optimizer == "fast_compile"


# device: a CUDA device cannot run without a GPU (tests/gpu/test_device.py checks its warm miss)
@pytest.mark.parametrize("setting", sorted(set(CHANGED) - {"openmp", "device"}))
def test_code_setting_recompiles_and_changes_the_disk_key(setting, cache, monkeypatch):
    fn, args = (product, (np.ones((3, 4)), np.ones((4, 2)))) if setting == "blas" else (sub_self, (np.ones(3),))
    if setting == "threads":  # the thread count reaches generated code through OpenMP
        monkeypatch.setattr(th.config, "openmp", True)
    f = th.jit(fn)
    f(*args)
    f(*args)  # a warm-call cache entry
    first, key = f.compiled_for(*args)[0], _disk_key(f.lower(*args))
    before = dict(STATS)
    monkeypatch.setattr(th.config, setting, CHANGED[setting])
    f(*args)  # the warm entry misses: the full path compiles anew
    assert f.cache_size == 2 and f.compiled_for(*args)[0] is not first
    assert STATS["lowerings"] - before.get("lowerings", 0) == 1
    assert _disk_key(f.lower(*args)) != key
    if setting != "codegen":  # the engine route does not use the disk cache
        assert len(entries(cache)) == 2


def test_fast_math_changes_what_runs(monkeypatch):
    f = th.jit(sub_self)
    x = np.array([np.inf, 1.0])
    assert np.isnan(np.asarray(f(x))[0]) and np.isnan(np.asarray(f(x))[0])  # warm call too
    monkeypatch.setattr(th.config, "fast_math", True)
    np.testing.assert_array_equal(np.asarray(f(x)), [0.0, 0.0])
    assert "tn.sub" not in f.lower(x).as_text("tn-opt")
    monkeypatch.setattr(th.config, "fast_math", False)
    assert np.isnan(np.asarray(f(x))[0])


def test_blas_changes_the_code(monkeypatch):
    f, args = th.jit(product), (np.ones((30, 40)), np.ones((40, 20)))
    assert "scipy_cblas" in f.lower(*args).as_text("llvm")
    monkeypatch.setattr(th.config, "blas", False)
    assert "scipy_cblas" not in f.lower(*args).as_text("llvm")


def test_openmp_changes_the_keys(monkeypatch):
    """In this process only the keys (Intel's OpenMP runtime need not load here); the child
    below compiles. With one thread, openmp changes nothing: both compile the serial code."""
    f, x = th.jit(sub_self), np.ones(3)
    monkeypatch.setattr(th.config, "threads", 2)
    monkeypatch.setattr(th.config, "openmp", True)
    low, warm = f.lower(x), th.config.compile_snapshot()[2]
    assert low.options.openmp and low.options.threads == 2
    monkeypatch.setattr(th.config, "openmp", False)
    assert f.lower(x).options.key() != low.options.key() and _disk_key(f.lower(x)) != _disk_key(low)
    assert th.config.compile_snapshot()[2] != warm
    monkeypatch.setattr(th.config, "threads", 1)
    serial = f.lower(x).options.key()
    monkeypatch.setattr(th.config, "openmp", True)
    assert f.lower(x).options.key() == serial


def test_openmp_recompiles_in_one_process(tmp_path):
    run_openmp_child(textwrap.dedent("""
        import numpy as np
        import theanir as th
        from theanir.codegen.native import STATS
        th.config.openmp, th.config.threads = False, 2
        f = th.jit(lambda x: th.tanh(x) * 2.0)
        x = np.linspace(-1, 1, 1000)
        a = np.asarray(f(x)); f(x)
        first = f.compiled_for(x)[0]
        th.config.openmp = True
        b = np.asarray(f(x))
        assert f.cache_size == 2 and f.compiled_for(x)[0] is not first and STATS["lowerings"] == 2, dict(STATS)
        np.testing.assert_allclose(a, b)
        print("ok")
    """), tmp_path)


@pytest.mark.parametrize("setting", sorted(UNCHANGED))
def test_runtime_setting_keeps_the_code(setting, cache, monkeypatch, tmp_path):
    f, x = th.jit(sub_self), np.ones(3)
    f(x)
    first, key = f.compiled_for(x)[0], _disk_key(f.lower(x))
    opts = th.config.compile_snapshot()[0]
    value = str(tmp_path / "elsewhere") if setting == "cache_dir" else UNCHANGED[setting]
    monkeypatch.setattr(th.config, setting, value)
    assert th.config.compile_snapshot()[0].key() == opts.key()
    f(x)
    assert f.cache_size == 1 and f.compiled_for(x)[0] is first
    assert _disk_key(f.lower(x)) == key


def test_cache_dir_is_not_in_the_key(cache, monkeypatch, tmp_path):
    f, x = th.jit(sub_self), np.ones(3)
    f(x)
    monkeypatch.setattr(th.config, "cache_dir", str(tmp_path / "other"))
    th.jit(sub_self)(x)  # a new function: compiled again, into the other directory, same key
    assert entries(cache) == entries(tmp_path / "other") and len(entries(cache)) == 1


def test_one_version():
    assert th.__version__ == codegen_version == importlib.metadata.version("theanir")
