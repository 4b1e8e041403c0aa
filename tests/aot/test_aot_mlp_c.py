"""A C program links an AOT library of an MLP forward pass (issue 18, slice 1): values match
NumPy (also for a strided input and the array form), bad calls return error codes with
messages, and the program runs clean under AddressSanitizer (with an ASan-built wrapper).
The library depends on nothing but libc/libm and what sits beside it ($ORIGIN)."""
from __future__ import annotations

import json
import os
import re
import subprocess

import numpy as np
import pytest

import theanir as th
from theanir.codegen.aot import needed_libraries

from aot_support import build_program, run

B, I, H, O = 32, 64, 48, 10


def forward(x, w1, b1, w2, b2):
    h = th.tanh(x @ w1 + b1)
    return h @ w2 + b2


def _inputs():
    rng = np.random.default_rng(1)
    return [rng.standard_normal(s).astype(np.float32) * 0.3 for s in [(B, I), (I, H), (H,), (H, O), (O,)]]


def _reference(x, w1, b1, w2, b2):
    return np.tanh(x.astype(np.float64) @ w1 + b1) @ w2 + b2


def _build(folder, asan=False):
    env_before = os.environ.get("THEANIR_AOT_CFLAGS")
    if asan:
        os.environ["THEANIR_AOT_CFLAGS"] = "-fsanitize=address -fno-omit-frame-pointer"
    try:
        return th.aot.compile(forward, _inputs(), os.path.join(folder, "libmlp"), header=True)
    finally:
        if env_before is None:
            os.environ.pop("THEANIR_AOT_CFLAGS", None)
        else:
            os.environ["THEANIR_AOT_CFLAGS"] = env_before


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("aot_mlp"))
    lib = _build(folder)
    for i, a in enumerate(_inputs()):
        a.tofile(os.path.join(folder, f"in{i}.bin"))
    return folder, lib


def test_library_files_and_dependencies(built):
    folder, lib = built
    assert lib == os.path.join(folder, "libmlp.so") and os.path.exists(os.path.join(folder, "mlp.h"))
    needed = needed_libraries(lib)
    allowed = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libscipy_openblas.so",
               "libiomp5.so", "libgcc_s.so.1"}
    assert "libc.so.6" in needed and set(needed) <= allowed, needed
    for dep in needed:  # what is not a system library ships beside the library
        if dep in ("libscipy_openblas.so", "libiomp5.so"):
            assert os.path.exists(os.path.join(folder, dep)), dep
    out = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True).stdout
    assert "$ORIGIN" in out
    exported = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True).stdout
    names = re.findall(r" T (\S+)", exported)
    assert names and all(n.startswith("mlp_") for n in names), names  # no `main`, no generated internals
    assert "mlp_forward" in names and "mlp_last_error" in names


def test_values_match_numpy(built, tmp_path):
    folder, _ = built
    exe = build_program("mlp_main.c", folder, "mlp", str(tmp_path / "mlp_main"))
    proc = run([exe, folder, "values", str(tmp_path / "out.bin")])
    assert "inputs=5 outputs=1 error=''" in proc.stdout
    outs = np.fromfile(tmp_path / "out.bin", dtype=np.float32).reshape(3, B, O)
    ref = _reference(*_inputs())
    for out in outs:  # plain, strided x (copied by the wrapper), mlp_call
        np.testing.assert_allclose(out, ref, rtol=2e-4, atol=2e-5)


EXPECTED_ERRORS = {
    "rank": (3, "input 0 ('x'): rank 3, expected 2"),
    "dtype": (2, "input 0 ('x'): dtype code 1 (float64), expected 0 (float32)"),
    "null": (1, "input 0 ('x'): null theanir_buffer pointer"),
    "nulldata": (1, "input 0 ('x'): data is NULL"),
    "small": (5, f"output 0 ('out0'): buffer has {B * O * 4 - 4} bytes, its float32 result needs {B * O * 4}"),
    "smallin": (5, f"input 0 ('x'): buffer has 16 bytes, its float32 shape needs {B * I * 4}"),
    "shape": (4, f"input 0 ('x'): dim 1 has size {I + 1}, expected {I}"),
    "negstride": (6, "input 0 ('x'): stride 1 is -1; strides must be >= 0"),
    "align": (7, "input 0 ('x'): data"),
    "outstride": (6, "output 0 ('out0'): outputs are written C-contiguous; pass strides NULL"),
    "callnull": (1, "mlp_call: null inputs or outputs array"),
    "ok": (0, "''"),
}


def _check_errors(stdout):
    got = {line.split(" ", 1)[0]: line.split(" ", 2)[1:] for line in stdout.strip().splitlines()}
    assert set(got) == set(EXPECTED_ERRORS), stdout
    for case, (code, message) in EXPECTED_ERRORS.items():
        assert int(got[case][0]) == code, (case, got[case])
        assert got[case][1].startswith(message), (case, got[case])


def test_bad_calls_return_codes_and_messages(built, tmp_path):
    folder, _ = built
    exe = build_program("mlp_main.c", folder, "mlp", str(tmp_path / "mlp_main"))
    _check_errors(run([exe, folder, "errors"]).stdout)


def test_threads(built, tmp_path):
    """Four threads call the library at once: results identical to a single call, and each
    thread's NAME_last_error is its own (one thread makes only bad calls)."""
    folder, _ = built
    exe = build_program("mlp_main.c", folder, "mlp", str(tmp_path / "mlp_main"))
    assert "threads failures=0" in run([exe, folder, "threads"]).stdout


def test_address_sanitizer_clean(built, tmp_path):
    """The program and the wrapper built with -fsanitize=address: every call (good, strided,
    each bad one) is clean, and LeakSanitizer finds no leak at exit."""
    src, _ = built
    folder = str(tmp_path / "asan")
    os.makedirs(folder)
    _build(folder, asan=True)
    for i, a in enumerate(_inputs()):
        a.tofile(os.path.join(folder, f"in{i}.bin"))
    exe = build_program("mlp_main.c", folder, "mlp", str(tmp_path / "mlp_asan"), asan=True)
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=23"}
    proc = run([exe, folder, "values", str(tmp_path / "out.bin")], env=env)
    assert "ERROR: AddressSanitizer" not in proc.stderr and "LeakSanitizer" not in proc.stderr
    outs = np.fromfile(tmp_path / "out.bin", dtype=np.float32).reshape(3, B, O)
    np.testing.assert_allclose(outs[1], _reference(*_inputs()), rtol=2e-4, atol=2e-5)
    proc = run([exe, folder, "errors"], env=env)
    assert "ERROR: AddressSanitizer" not in proc.stderr
    _check_errors(proc.stdout)
    proc = run([exe, folder, "threads"], env=env)
    assert "ERROR: AddressSanitizer" not in proc.stderr and "threads failures=0" in proc.stdout


def test_manifest_and_header(built):
    folder, lib = built
    loaded = th.aot.load(lib)
    m = loaded.manifest
    assert m["function"] == "mlp_forward" and m["target"]["name"] == "native"
    assert [a["cname"] for a in m["args"]] == ["x", "w1", "b1", "w2", "b2", "out0"]
    header = open(os.path.join(folder, "mlp.h")).read()
    assert "int mlp_forward(const theanir_buffer *x" in header and "theanir_buffer *out0);" in header
    json.dumps(m)


def test_example_args_checked(tmp_path):
    with pytest.raises(ValueError, match="target must be one of"):
        th.aot.compile(forward, _inputs(), str(tmp_path / "libm1"), target="pentium")
    with pytest.raises(ValueError, match="C identifier"):
        th.aot.compile(forward, _inputs(), str(tmp_path / "lib-bad"))


TWO_LIBS = r"""
#include <stdio.h>
#include <string.h>
#include "twice.h"
#include "plus1.h"
int main(void) {
  float x[3] = {1, 2, 3}, a[3], b[3];
  theanir_buffer bx, ba, bb;
  memset(&bx, 0, sizeof bx);
  bx.data = x; bx.nbytes = sizeof x; bx.dtype = THEANIR_FLOAT32; bx.rank = 1; bx.shape[0] = 3;
  ba = bx; ba.data = a; bb = bx; bb.data = b;
  if (twice_f(&bx, &ba) || plus1_f(&bx, &bb)) return 1;
  printf("%g %g %g | %g %g %g\n", a[0], a[1], a[2], b[0], b[1], b[2]);
  return 0;
}
"""


def test_two_libraries_in_one_program(tmp_path):
    """Each library exports only its NAME_* functions: two of them (each with a compiled
    `main` inside) link into one C program that has its own `main`."""
    x = np.zeros(3, np.float32)
    th.aot.compile(lambda v: v * 2.0, [x], str(tmp_path / "libtwice"), function_name="f")
    th.aot.compile(lambda v: v + 1.0, [x], str(tmp_path / "libplus1"), function_name="f")
    (tmp_path / "two.c").write_text(TWO_LIBS)
    proc = subprocess.run(["cc", "-Wall", "-Werror", "two.c", "-I.", "-L.", "-ltwice", "-lplus1",
                           "-Wl,-rpath,$ORIGIN", "-o", "two"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert run([str(tmp_path / "two")]).stdout.strip() == "2 4 6 | 2 3 4"
