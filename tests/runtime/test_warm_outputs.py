"""Large results come from the runtime's heap cache: the buffer a dropped result frees serves the
next call warm (no page faults), where NumPy's allocator mapped a fresh block per call above
glibc's mmap threshold (runtime/src/executable.cpp, kWarmOutputBytes)."""
from __future__ import annotations

import gc

import numpy as np
import pytest

import theanir as th


def _data(arr) -> int:
    return np.asarray(arr).ctypes.data


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_dropped_result_buffer_is_reused(sync, dtype, monkeypatch):
    monkeypatch.setattr(th.config, "sync", sync)
    x = np.arange(1 << 19).astype(dtype)  # 2-4 MB: above the threshold (1 MB)
    x.setflags(write=False)  # a queued call needs no private copy of it (that one is cached too)
    f = th.jit(lambda a: a * 2 + 1)
    first = f(x)
    np.testing.assert_array_equal(np.asarray(first), x * 2 + 1)
    address = _data(first)
    assert address % 64 == 0
    del first
    gc.collect()
    second = f(x)
    assert _data(second) == address  # the freed block, back from the cache
    np.testing.assert_array_equal(np.asarray(second), x * 2 + 1)
    assert not np.asarray(second).flags.writeable  # results stay read-only to NumPy


def test_live_results_keep_their_buffers():
    x = np.ones((1024, 512), np.float32)
    f = th.jit(lambda a: a + 1.0)
    results = [f(x * k) for k in range(4)]
    assert len({_data(r) for r in results}) == 4
    for k, r in enumerate(results):
        np.testing.assert_array_equal(np.asarray(r), x * k + 1)
        assert np.asarray(r).shape == (1024, 512) and np.asarray(r).dtype == np.float32


def test_empty_and_small_results():
    f = th.jit(lambda a: a * 3)
    for shape in [(0,), (0, 1 << 20), (1,), (1000,)]:
        x = np.ones(shape, np.float64)
        np.testing.assert_array_equal(np.asarray(f(x)), x * 3)
