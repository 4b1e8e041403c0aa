"""The disk cache of compiled artifacts (codegen/cache.py, codegen/artifact.py).

Every test uses its own temporary cache directory; tests/conftest.py points the rest of
the suite (and child processes) at a per-session temporary one.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import theanir as th
from theanir.codegen.artifact import MANIFEST, verify_artifact
from theanir.codegen.native import STATS

from support import entries

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import theanir as th
    from theanir.codegen.native import STATS

    def loss_fn(params, x, y):
        w, b = params
        return -th.mean(th.sum(y * th.log_softmax(th.tanh(x @ w + b), axis=1), axis=1))

    @th.jit
    def step(params, x, y):
        loss, (gw, gb) = th.value_and_grad(loss_fn)(params, x, y)
        return loss, params[0] - 0.1 * gw, params[1] - 0.1 * gb

    rng = np.random.default_rng(0)
    params = (rng.normal(size=(6, 4)), np.zeros(4))
    x, y = rng.random((5, 6)), np.eye(4)[[0, 1, 2, 3, 0]]
    outs = step(params, x, y)
    print(json.dumps({"outs": [np.asarray(o).tolist() for o in outs], "stats": dict(STATS)}))
""")


def child_env(cache_dir: str, **env: str) -> dict[str, str]:
    full_env = {**os.environ, "THEANIR_CACHE_DIR": cache_dir, "THEANIR_CACHE": "1", **env}
    full_env.pop("THEANIR_CODEGEN", None)
    return full_env


def run_child(cache_dir: str, **env: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD], env=child_env(cache_dir, **env),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def delta(before: dict, key: str) -> int:
    return STATS[key] - before.get(key, 0)


def add_mul(x, y):
    return x * y + 1.0


# ----------------------------------------------------------------- new processes

def test_hit_in_new_process_skips_lowering_and_llvm(tmp_path):
    cold = run_child(str(tmp_path))
    assert cold["stats"].get("llvm_compiles") == 1 and cold["stats"].get("cache_misses") == 1
    warm = run_child(str(tmp_path))
    assert warm["outs"] == cold["outs"]  # bit-identical
    assert warm["stats"].get("cache_hits") == 1 and warm["stats"].get("trace_alias_hits") == 1
    assert not warm["stats"].get("llvm_compiles") and not warm["stats"].get("lowerings")
    assert not warm["stats"].get("engine_compiles")
    [key] = entries(tmp_path)
    manifest = verify_artifact(str(tmp_path / key), key)
    assert manifest.entry == "_mlir__mlir_ciface_main" and manifest.theanir == th.__version__
    assert [a["output"] for a in manifest.args] == [False] * 4 + [True] * 3
    assert manifest.args[0] == {"name": "params[0]", "dtype": "float64", "shape": [6, 4],
                                "contiguous": True, "output": False}


def test_cache_disabled_by_env(tmp_path):
    a = run_child(str(tmp_path), THEANIR_CACHE="0")
    b = run_child(str(tmp_path), THEANIR_CACHE="0")
    assert a["outs"] == b["outs"]
    assert a["stats"].get("llvm_compiles") == 1 and b["stats"].get("llvm_compiles") == 1
    assert not b["stats"].get("cache_hits")
    assert entries(tmp_path) == []


@pytest.mark.parametrize("checksum", ["stale", "consistent"])
def test_truncated_library_in_new_process_recompiles(tmp_path, checksum):
    """A cut-off lib.so: caught by its checksum, or (checksum rewritten to match) by dlopen."""
    cold = run_child(str(tmp_path))
    [key] = entries(tmp_path)
    lib = tmp_path / key / "lib.so"
    lib.write_bytes(lib.read_bytes()[:1000])
    if checksum == "consistent":
        m = json.loads((tmp_path / key / MANIFEST).read_text())
        m["sha256"] = hashlib.sha256(lib.read_bytes()).hexdigest()
        (tmp_path / key / MANIFEST).write_text(json.dumps(m))
    again = run_child(str(tmp_path))
    assert again["outs"] == cold["outs"]
    assert again["stats"].get("cache_bad_entries") == 1 and again["stats"].get("llvm_compiles") == 1
    verify_artifact(str(tmp_path / key), key)


def test_concurrent_writers_leave_a_usable_entry(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], env=child_env(str(tmp_path)),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["outs"] == results[0]["outs"] for r in results)
    [key] = entries(tmp_path)
    verify_artifact(str(tmp_path / key), key)
    assert not [e for e in os.listdir(tmp_path) if e.startswith(".")]  # no temporaries left
    warm = run_child(str(tmp_path))
    assert warm["stats"].get("cache_hits") == 1 and not warm["stats"].get("llvm_compiles")
    assert warm["outs"] == results[0]["outs"]


# ----------------------------------------------------------------- in this process

def test_new_jit_of_same_function_hits(cache):
    x, y = np.arange(6.0).reshape(2, 3), np.ones(3)
    before = dict(STATS)
    np.testing.assert_allclose(th.jit(add_mul)(x, y), x * y + 1)
    assert delta(before, "llvm_compiles") == 1
    np.testing.assert_allclose(th.jit(add_mul)(x, y), x * y + 1)
    assert delta(before, "llvm_compiles") == 1 and delta(before, "cache_hits") == 1
    assert len(entries(cache)) == 1


def test_moved_code_hits(cache):
    """Source locations are not part of the key: the same code on other lines hits."""
    x = np.ones((2, 2))
    def f(v):
        return th.exp(v) * 2.0

    before = dict(STATS)
    th.jit(f)(x)

    def g(v):

        return th.exp(v) * 2.0
    th.jit(g)(x)
    assert delta(before, "llvm_compiles") == 1 and delta(before, "cache_hits") == 1


@pytest.mark.parametrize("change", ["function", "shape", "dtype", "optimizer", "opt_level", "layout",
                                    "config"])
def test_changes_miss(cache, monkeypatch, change):
    x, y = np.ones((2, 3)), np.ones(3)
    th.jit(add_mul)(x, y)
    before = dict(STATS)
    if change == "function":
        th.jit(lambda a, b: a * b + 2.0)(x, y)
    elif change == "shape":
        th.jit(add_mul)(np.ones((4, 3)), y)
    elif change == "dtype":
        th.jit(add_mul)(x.astype(np.float32), y.astype(np.float32))
    elif change == "optimizer":
        th.jit(add_mul, optimizer="fast_compile")(x, y)
    elif change == "opt_level":
        monkeypatch.setattr(th.config, "opt_level", 1)
        th.jit(add_mul)(x, y)
    elif change == "config":  # a code-altering setting is a CompileOptions field, so it is keyed
        monkeypatch.setattr(th.config, "fast_math", True)
        th.jit(add_mul)(x, y)
    else:
        th.jit(add_mul)(np.ones((3, 2)).T, y)  # a strided view compiles for a strided layout
    assert delta(before, "cache_misses") == 1 and delta(before, "llvm_compiles") == 1
    assert len(entries(cache)) == 2


@pytest.mark.parametrize("damage", ["truncated library", "garbage manifest", "stale manifest",
                                    "missing library", "empty manifest"])
def test_damaged_entry_recompiles(cache, damage):
    x, y = np.arange(6.0).reshape(2, 3), np.full(3, 2.0)
    th.jit(add_mul)(x, y)
    [key] = entries(cache)
    entry = cache / key

    def replace(name: str, data: bytes) -> None:
        # A new file, as a crashed or foreign writer would leave it: this process has lib.so
        # mapped, and shrinking a mapped file in place would SIGBUS it.
        (entry / "new").write_bytes(data)
        os.replace(entry / "new", entry / name)

    if damage == "truncated library":
        data = (entry / "lib.so").read_bytes()
        replace("lib.so", data[: len(data) // 3])
    elif damage == "garbage manifest":
        replace(MANIFEST, b"\x00\xffnot json{")
    elif damage == "stale manifest":
        m = json.loads((entry / MANIFEST).read_text())
        m["theanir"] = "0.0.0-old"
        replace(MANIFEST, json.dumps(m).encode())
    elif damage == "missing library":
        (entry / "lib.so").unlink()
    else:
        replace(MANIFEST, b"")
    before = dict(STATS)
    np.testing.assert_allclose(th.jit(add_mul)(x, y), x * y + 1)
    assert delta(before, "cache_bad_entries") == 1 and delta(before, "llvm_compiles") == 1
    assert not delta(before, "engine_compiles")
    verify_artifact(str(entry), key)  # repaired
    th.jit(add_mul)(x, y)
    assert delta(before, "cache_hits") == 1


def test_unwritable_cache_dir_still_compiles(cache, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(th.config, "cache_dir", str(blocker / "cache"))
    x = np.ones(3)
    np.testing.assert_allclose(th.jit(add_mul)(x, x), 2 * x)


def test_config_cache_off_writes_nothing(cache, monkeypatch):
    monkeypatch.setattr(th.config, "cache", False)
    x = np.ones(3)
    before = dict(STATS)
    np.testing.assert_allclose(th.jit(add_mul)(x, x), 2 * x)
    assert delta(before, "llvm_compiles") == 1
    assert not cache.exists()


def test_engine_route_still_works(cache, monkeypatch):
    monkeypatch.setattr(th.config, "codegen", "engine")
    x, y = np.arange(6.0).reshape(2, 3), np.ones(3)
    before = dict(STATS)
    np.testing.assert_allclose(th.jit(add_mul)(x, y), x * y + 1)
    assert delta(before, "engine_compiles") == 1 and not delta(before, "llvm_compiles")
    assert not cache.exists()


def test_config_validates_codegen():
    with pytest.raises(ValueError, match="codegen"):
        th.config.codegen = "gpu"


@pytest.mark.parametrize("level", [0, 1, 3])
def test_other_opt_levels_compile_correct_code(cache, monkeypatch, level):
    monkeypatch.setattr(th.config, "opt_level", level)
    x = np.linspace(-1, 1, 40).reshape(5, 8)
    got = th.jit(lambda a: th.tanh(a @ a.T).sum(axis=0))(x)
    np.testing.assert_allclose(got, np.tanh(x @ x.T).sum(axis=0))
