"""With th.config.openmp on, an AOT library links libiomp5, which is copied beside it and found
through $ORIGIN: a C program that knows nothing of it runs the parallel loops (in child
processes: Intel's OpenMP runtime must not share a process with another)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from aot_support import build_program, run
from theanir.codegen.aot import needed_libraries

N = 200_000
BUILD = """
import sys
import numpy as np
import theanir as th
assert th.config.openmp
def scale(x):
    return th.tanh(x) * 2.0 + x
th.aot.compile(scale, [np.zeros({n}, np.float32)], sys.argv[1] + "/libomp1")
"""


def test_openmp_library_ships_libiomp5(tmp_path):
    if not os.path.exists(os.path.join(sys.prefix, "lib", "libiomp5.so")):
        pytest.skip("intel-openmp (libiomp5.so) is not installed in this environment")
    folder = tmp_path / "lib"
    folder.mkdir()
    proc = subprocess.run([sys.executable, "-c", BUILD.format(n=N), str(folder)], capture_output=True, text=True,
                          env=dict(os.environ, THEANIR_OPENMP="1", THEANIR_THREADS="2"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    lib = str(folder / "libomp1.so")
    assert "libiomp5.so" in needed_libraries(lib)
    assert (folder / "libiomp5.so").exists()  # copied beside it
    exe = build_program("omp_main.c", str(folder), "omp1", str(tmp_path / "omp_main"))
    x = np.random.default_rng(3).standard_normal(N).astype(np.float32)
    x.tofile(tmp_path / "x.bin")
    run([exe, str(N), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")], env={"OMP_NUM_THREADS": "2"})
    y = np.fromfile(tmp_path / "y.bin", dtype=np.float32)
    np.testing.assert_allclose(y, np.tanh(x) * 2 + x, rtol=1e-5, atol=1e-6)


SAME_PROCESS = """
import os, sys
import numpy as np
import theanir as th
assert th.config.openmp and th.config.threads == 2
lib = th.aot.load(sys.argv[1] + "/libomp1.so")   # maps the libiomp5 copied beside it
x = np.random.default_rng(0).standard_normal({n}).astype(np.float32)
np.testing.assert_allclose(np.asarray(lib(x)), np.tanh(x) * 2 + x, rtol=1e-5, atol=1e-6)
for route in ("object", "engine"):   # the engine loads runtime libraries by path
    th.config.codegen = route
    f = th.jit(lambda v: th.exp(-v * v) * 3.0 + th.tanh(v))
    np.testing.assert_allclose(np.asarray(f(x)), np.exp(-x * x) * 3 + np.tanh(x), rtol=1e-5, atol=1e-6)
maps = [line.split()[-1] for line in open("/proc/self/maps") if line.rstrip().endswith(".so")]
print(sorted({{m for m in maps if os.path.basename(m) in ("libiomp5.so", "libscipy_openblas.so")}}))
"""


def test_aot_library_and_jit_share_one_libiomp5(tmp_path):
    """An AOT library's libiomp5 (beside it) and generated code's (sys.prefix) are one copy in a
    process: Intel's runtime aborts when a second copy starts (CI did, before jit loaded the
    runtime libraries by soname). A child process: it loads libiomp5."""
    if not os.path.exists(os.path.join(sys.prefix, "lib", "libiomp5.so")):
        pytest.skip("intel-openmp (libiomp5.so) is not installed in this environment")
    folder = tmp_path / "lib"
    folder.mkdir()
    env = dict(os.environ, THEANIR_OPENMP="1", THEANIR_THREADS="2", THEANIR_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", BUILD.format(n=N), str(folder)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-c", SAME_PROCESS.format(n=N), str(folder)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mapped = eval(proc.stdout.strip().splitlines()[-1])
    names = [os.path.basename(m) for m in mapped]
    assert sorted(names) == sorted(set(names)), mapped  # one copy of each
    assert str(folder / "libiomp5.so") in mapped, mapped  # the AOT library's, loaded first
