"""Shared test tables and helpers: shapes, dtypes, random inputs, NumPy comparison."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Callable, Sequence

import numpy as np
import pytest

import theanir as th

FLOATS = [np.float32, np.float64]
SHAPES = [(), (0,), (1,), (5,), (3, 4), (2, 0, 3), (2, 1, 3)]
# pairs that broadcast (NumPy rules), including size-0 and size-1 dimensions
BROADCAST_PAIRS = [((3, 4), (4,)), ((3, 1), (1, 4)), ((1,), (2, 3)), ((0, 3), (1, 3)),
                   ((), (2, 2)), ((2, 1, 3), (4, 1))]
TOL = {np.dtype(np.float32): (2e-5, 1e-6), np.dtype(np.float64): (1e-12, 1e-14)}


def rand(rng: np.random.Generator, shape: Sequence[int], dtype: Any,
         domain: tuple[float, float] = (-3.0, 3.0)) -> np.ndarray:
    """Random array in `domain` (ints: integer values in it; bool: coin flips)."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    lo, hi = domain
    x = rng.uniform(lo, hi, size=shape)
    if dt.kind == "i":
        return np.round(x).astype(dt)
    return x.astype(dt)


def noncontiguous(x: np.ndarray) -> np.ndarray:
    """The same values as `x` in a strided (non-C-contiguous) view."""
    if x.ndim == 0:
        return x
    big = np.empty(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
    big[..., ::2] = x
    view = big[..., ::2]
    assert not view.flags.c_contiguous or x.size <= 1
    return view


def assert_close(actual: Any, expected: Any, dtype: Any = None, rtol: float | None = None,
                 atol: float | None = None) -> None:
    expected = np.asarray(expected)
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    if actual.dtype.kind in "fc":  # complex: the tolerance of its float parts
        part = np.finfo(np.dtype(dtype or actual.dtype)).dtype
        r, a = TOL.get(part, (1e-6, 1e-7))
        np.testing.assert_allclose(actual, expected, rtol=rtol or r, atol=atol if atol is not None else a)
    else:
        np.testing.assert_array_equal(actual, expected)


def check_against_numpy(fn: Callable, reference: Callable, *args: Any, rtol: float | None = None,
                        atol: float | None = None) -> None:
    """Run `fn` under th.jit and `reference` in NumPy on the same args; compare."""
    got = th.jit(fn)(*args)
    want = reference(*args)
    if isinstance(want, tuple):
        for g, w in zip(got, want):
            assert_close(g, w, rtol=rtol, atol=atol)
    else:
        assert_close(got, want, rtol=rtol, atol=atol)


def entries(cache_dir) -> list[str]:
    """The artifact entries (32-hex-digit directories) of a disk cache, sorted."""
    return sorted(e for e in os.listdir(cache_dir) if len(e) == 32) if os.path.isdir(cache_dir) else []


def run_openmp_child(script: str, tmp_path) -> None:
    """Run `script` (which prints 'ok' last) in a child process with th.config.openmp's runtime:
    Intel's OpenMP runtime must not meet another in the test process."""
    if not os.path.exists(os.path.join(sys.prefix, "lib", "libiomp5.so")):
        pytest.skip("intel-openmp not installed")
    env = dict(os.environ, THEANIR_CACHE_DIR=str(tmp_path), THEANIR_OPENMP="1")  # whatever the parent has
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
