"""th.aot.load (issue 18, slice 3): an AOT library runs from Python over the C++ runtime in a
process where `import mlir` fails; `theanir.runtime` and `theanir.aot` import without MLIR;
targets (native, x86-64 levels) are recorded and a library the CPU cannot run is refused."""
from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import numpy as np
import pytest

import theanir as th
from theanir.runtime import aot as runtime_aot


def affine(x, w, b):
    return th.tanh(x @ w + b), th.sum(x, axis=0)


def _inputs():
    rng = np.random.default_rng(2)
    return [rng.standard_normal((6, 5)).astype(np.float32), rng.standard_normal((5, 3)).astype(np.float32),
            rng.standard_normal(3).astype(np.float32)]


def _reference(x, w, b):
    return np.tanh(x @ w + b), x.sum(axis=0)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return th.aot.compile(affine, _inputs(), str(tmp_path_factory.mktemp("aot_load") / "libaffine"))


BLOCK_MLIR = """
import sys
class BlockMLIR:
    def find_spec(self, name, path=None, target=None):
        if name == "mlir" or name.startswith("mlir."):
            raise ImportError("mlir is blocked in this process")
        return None
sys.meta_path.insert(0, BlockMLIR())
"""


def _child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_MLIR + code], capture_output=True, text=True, timeout=300)


def test_load_without_mlir(lib, tmp_path):
    np.savez(tmp_path / "in.npz", *_inputs())
    code = f"""
import numpy as np
import theanir.aot
f = theanir.aot.load({lib!r})
ins = np.load({str(tmp_path / "in.npz")!r})
a, s = f(*[ins[k] for k in sorted(ins.files)])
assert not any(m == "mlir" or m.startswith("mlir.") for m in sys.modules), "mlir was imported"
np.save({str(tmp_path / "a.npy")!r}, np.asarray(a)); np.save({str(tmp_path / "s.npy")!r}, np.asarray(s))
import theanir
try:
    theanir.jit
except ImportError as e:
    print("jit:", e)
print("ok", type(a).__name__)
"""
    proc = _child(code)
    assert proc.returncode == 0, proc.stderr
    assert "ok Array" in proc.stdout
    assert "jit: theanir.jit needs the compiler" in proc.stdout and "MLIR" in proc.stdout
    ref_a, ref_s = _reference(*_inputs())
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), ref_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), ref_s, rtol=1e-5, atol=1e-6)


def test_runtime_imports_without_mlir():
    proc = _child("import theanir.runtime, theanir.aot\nprint(sorted(m for m in sys.modules if m.startswith('mlir')))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    proc = _child("import theanir")  # the whole package still needs MLIR: one clear error
    assert proc.returncode != 0 and "MLIRUnavailableError" in proc.stderr.strip().splitlines()[-1]


def test_load_in_process_matches_numpy_and_checks_inputs(lib):
    f = th.aot.load(lib)
    a, s = f(*_inputs())
    ref_a, ref_s = _reference(*_inputs())
    np.testing.assert_allclose(np.asarray(a), ref_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(s), ref_s, rtol=1e-5, atol=1e-6)
    x, w, b = _inputs()
    with pytest.raises(Exception, match="shape|dim"):
        f(x[:, :4], w, b)
    with pytest.raises(TypeError, match="takes 3 inputs"):
        f(x, w)
    a2, _ = f(np.asfortranarray(x), w, b)  # non-contiguous: the runtime copies it
    np.testing.assert_allclose(np.asarray(a2), ref_a, rtol=1e-5, atol=1e-6)


def test_load_errors(tmp_path):
    with pytest.raises(th.aot.AotError, match="no library"):
        th.aot.load(str(tmp_path / "libnothing.so"))
    with pytest.raises(th.aot.AotError, match="libNAME.so"):
        th.aot.load(str(tmp_path))
    bad = tmp_path / "libbad.so"
    bad.write_bytes(b"not an ELF file")
    with pytest.raises(th.aot.AotError, match="cannot load"):
        th.aot.load(str(bad))


@pytest.mark.parametrize("target", ["x86-64-v3", "x86-64-v4"])
def test_targets_recorded_and_refused_when_the_cpu_lacks_them(tmp_path, target, monkeypatch):
    lib = th.aot.compile(affine, _inputs(), str(tmp_path / "libaff"), target=target)
    m = json.loads(_manifest(lib))
    assert m["target"]["name"] == target and m["target"]["cpu"] == target
    assert "avx2" in m["target"]["required"] and ("avx512f" in m["target"]["required"]) == (target == "x86-64-v4")
    flags = runtime_aot.cpu_flags() or set()
    if all(runtime_aot._CPUINFO.get(f, f) in flags for f in m["target"]["required"]):
        f = th.aot.load(lib)  # this CPU runs it: the values are right
        np.testing.assert_allclose(np.asarray(f(*_inputs())[0]), _reference(*_inputs())[0], rtol=1e-5, atol=1e-6)
        monkeypatch.setattr(runtime_aot, "cpu_flags", lambda: flags - {"avx2"})  # a CPU without AVX2
        with pytest.raises(th.aot.AotError, match=r"compiled for target .* needs the CPU features \['avx2'\]"):
            th.aot.load(lib)
    else:  # a real refusal, by the loader and by the library itself
        with pytest.raises(th.aot.AotError, match=rf"compiled for target '{target}'.*lacks"):
            th.aot.load(lib)
        c = ctypes.CDLL(lib)
        c.aff_last_error.restype = ctypes.c_char_p
        assert c.aff_check_cpu() == 8 and b"this CPU lacks it" in c.aff_last_error()


def _manifest(lib: str) -> str:
    c = ctypes.CDLL(lib)
    c.aff_manifest.restype = ctypes.c_char_p
    return c.aff_manifest().decode()


def test_pytrees_static_args_and_donation(tmp_path):
    """Nested arguments become one C parameter per leaf (named after the path), a static
    argument is baked in, and donate_argnums never makes the library write into an input."""
    def step(params, x, scale):
        w, b = params["w"], params["b"]
        return {"y": th.tanh(x @ w + b) * scale, "w": w * 0.5}

    rng = np.random.default_rng(5)
    params = {"w": rng.standard_normal((3, 2)).astype(np.float32), "b": np.ones(2, np.float32)}
    x = rng.standard_normal((4, 3)).astype(np.float32)
    jf = th.jit(step, static_argnums=2, donate_argnums=0)
    lib = th.aot.compile(jf, [params, x, 2.0], str(tmp_path / "libtree"))
    f = th.aot.load(lib)
    assert [a["cname"] for a in f.inputs] == ["params_b", "params_w", "x"]  # pytree leaves in key order
    w_before = params["w"].copy()
    w_half, y = f(params["b"], params["w"], x)  # outputs: the dict's leaves in key order (w, y)
    np.testing.assert_array_equal(params["w"], w_before)  # not donated
    np.testing.assert_allclose(np.asarray(w_half), params["w"] * 0.5)
    np.testing.assert_allclose(np.asarray(y), np.tanh(x @ params["w"] + params["b"]) * 2.0, rtol=1e-5, atol=1e-6)
