"""The compile-time passes keep results: theanir-split-functions and theanir-bound-empty-tensors
with their limits lowered so that a small program takes them (the FileCheck tests show the IR)."""
from __future__ import annotations

import re

import numpy as np
import pytest

import theanir as th
from theanir.passes.lower import bound_empty_tensors, split_functions


def _model(np_or_th, blocks: int = 6):
    def block(h, w):
        h = np_or_th.tanh(h @ w) * 0.5 + h
        return np_or_th.exp(-h * h) - 1 / (1 + np_or_th.exp(-h))

    def model(x, ws):
        h, sums = x, []
        for i in range(blocks):
            h = block(h, ws[i % len(ws)])
            sums.append(h.sum(0))
        return h.sum(), sums

    return model


@pytest.mark.parametrize("optimizer", ["fast_run", "fast_compile"])
def test_split_and_bounded_program_matches_numpy(optimizer, monkeypatch):
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(split_functions, "MIN_OPS", 8)
    monkeypatch.setattr(split_functions, "CHUNK", 5)
    monkeypatch.setattr(bound_empty_tensors, "MAX_USES", 2)
    rng = np.random.default_rng(0)
    x = rng.random((4, 8), dtype=np.float32)
    ws = [rng.random((8, 8), dtype=np.float32) / 8 for _ in range(2)]
    f = th.jit(_model(th), optimizer=optimizer)
    assert "@main_part1" in f.lower(x, ws).as_text("llvm")
    total, sums = f(x, ws)
    want_total, want_sums = _model(np)(x.astype(np.float64), [w.astype(np.float64) for w in ws])
    np.testing.assert_allclose(float(total), want_total, rtol=1e-5)
    for got, want in zip(sums, want_sums):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["fast_run", "fast_compile"])
def test_outlined_kernels_are_shared_and_match_numpy(optimizer, monkeypatch):
    """theanir-outline-kernels on a program over the (lowered) size limit: the six blocks'
    loop nests become calls to a few kernels, each defined once; the results are NumPy's."""
    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(split_functions, "MIN_OPS", 8)
    rng = np.random.default_rng(2)
    x = rng.random((4, 8), dtype=np.float32)
    ws = [rng.random((8, 8), dtype=np.float32) / 8 for _ in range(2)]
    f = th.jit(_model(th), optimizer=optimizer)
    text = f.lower(x, ws).as_text("llvm")
    kernels = re.findall(r"llvm\.func (?:internal )?@(__theanir_kernel\d+)\(", text)
    calls = re.findall(r"llvm\.call @(__theanir_kernel\d+)\(", text)
    assert kernels and len(set(kernels)) == len(kernels) and set(calls) == set(kernels)
    assert len(calls) >= 2 * len(kernels)  # shared: the blocks repeat
    total, sums = f(x, ws)
    want_total, want_sums = _model(np)(x.astype(np.float64), [w.astype(np.float64) for w in ws])
    np.testing.assert_allclose(float(total), want_total, rtol=1e-5)
    for got, want in zip(sums, want_sums):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_ordinary_program_is_not_split():
    x = np.ones((4, 8), np.float32)
    ws = [np.eye(8, dtype=np.float32)]
    text = th.jit(_model(th)).lower(x, ws).as_text("llvm")
    assert "_part" not in text and "__theanir_kernel" not in text


def test_parallel_code_generation_matches_numpy_and_uses_the_pool(monkeypatch):
    """A split program's functions compiled on 3 threads, joined with `ld -r`: same results,
    and the memory hooks global (mutable, defined in one group only) still routes every
    buffer through the runtime's pool."""
    from theanir.codegen import native

    monkeypatch.setattr(th.config, "cache", False)
    monkeypatch.setattr(split_functions, "MIN_OPS", 8)
    monkeypatch.setattr(split_functions, "CHUNK", 5)
    objects = []
    real = native.compile_to_objects
    monkeypatch.setattr(native, "codegen_threads", lambda text: 3)
    monkeypatch.setattr(native, "compile_to_objects", lambda *a: objects.append(len(out := real(*a))) or out)
    rng = np.random.default_rng(1)
    x = rng.random((4, 8), dtype=np.float32)
    ws = [rng.random((8, 8), dtype=np.float32) / 8 for _ in range(2)]
    f = th.jit(_model(th), allow_gc=False)
    total, sums = f(x, ws)
    assert objects == [3]  # one object per thread, joined
    want_total, want_sums = _model(np)(x.astype(np.float64), [w.astype(np.float64) for w in ws])
    np.testing.assert_allclose(float(total), want_total, rtol=1e-5)
    for got, want in zip(sums, want_sums):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    th.synchronize()
    assert f.compiled_for(x, ws)[0].executable.pool_stats()[0] > 0  # buffers kept by the pool


def test_parallel_codegen_only_for_large_modules():
    from theanir.codegen import native

    assert native.codegen_threads("x" * 1000) == 1
