"""Queued calls read their inputs later, on the worker: whatever the caller can still write
after the call returns is snapshotted at the call (writeable arrays, and read-only views of
writeable memory), and results are immutable (runtime/src/executable.cpp)."""
import numpy as np
import pytest

import theanir as th

N = 100_000  # above the inline limit: queued


@pytest.fixture(scope="module")
def slow():
    """A call that keeps the worker busy for a while, so the next call is still queued."""
    mm = th.jit(lambda a: (a @ a).sum())
    a = np.random.default_rng(0).standard_normal((1000, 1000))
    mm(a).block_until_ready()
    return lambda: mm(a)


@pytest.fixture(scope="module")
def double():
    f = th.jit(lambda x: x * 2.0)
    f(np.ones(N)).block_until_ready()
    return f


def _queued_read(slow, double, view, write):
    """double(view) queued behind a slow call, then `write()`; the result must be unchanged."""
    want = np.asarray(view) * 2.0
    double(view).block_until_ready()  # compiled for this layout (a stride-0 view is another signature)
    busy = slow()
    r = double(view)
    write()
    assert not busy.is_ready(), "the test needs the call still queued when the caller writes"
    np.testing.assert_array_equal(np.asarray(r), want)


def test_read_only_broadcast_of_a_writeable_array(slow, double):
    base = np.ones(1)
    view = np.broadcast_to(base, (N,))
    assert not view.flags.writeable
    _queued_read(slow, double, view, lambda: base.__setitem__(0, 7.0))


def test_view_made_read_only(slow, double):
    base = np.arange(N, dtype=np.float64)
    view = base.view()
    view.flags.writeable = False
    _queued_read(slow, double, view, lambda: base.__setitem__(slice(None), -1.0))


def test_read_only_memmap_of_a_file_written_elsewhere(slow, double, tmp_path):
    path = tmp_path / "x.bin"
    np.arange(N, dtype=np.float64).tofile(path)
    ro = np.memmap(path, dtype=np.float64, mode="r", shape=(N,))
    rw = np.memmap(path, dtype=np.float64, mode="r+", shape=(N,))

    def write():
        rw[:] = -5.0
        rw.flush()

    _queued_read(slow, double, ro, write)


def test_a_strided_read_only_view_of_a_writeable_array(slow, double):
    base = np.arange(2 * N, dtype=np.float64)
    view = base[::2]
    view.flags.writeable = False
    _queued_read(slow, double, view, lambda: base.__setitem__(slice(None), 3.0))


def test_results_are_immutable(double):
    r = double(np.ones(N))
    buf = np.asarray(r)
    assert not buf.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        buf[:] = 0.0
    with pytest.raises(TypeError, match="th.Array is immutable"):
        r[0] = 1.0
    small = th.jit(lambda x: x + 1.0)(np.ones(3))  # inline: complete at once, immutable too
    assert not np.asarray(small).flags.writeable
    copy = np.array(r)  # a copy is the caller's to write
    copy[:] = 0.0
    np.testing.assert_array_equal(np.asarray(r), np.full(N, 2.0))


def test_a_queued_call_reading_a_result_sees_it_unchanged(slow, double):
    a = double(np.ones(N))
    busy = slow()
    b = double(a)  # reads `a` later, without a copy
    with pytest.raises(ValueError):
        np.asarray(a)[:] = 0.0
    assert not busy.is_ready()
    np.testing.assert_array_equal(np.asarray(b), np.full(N, 4.0))


def test_in_place_updates_after_a_function_that_stores_fresh_results():
    # the swap stores read-only results into the variables; the in-place update then writes
    # into that storage (the runtime's own buffer), as donation always did
    p = th.shared(np.arange(4.0), name="p")
    q = th.shared(np.arange(4.0) + 10, name="q")
    swap = th.function([], [], updates=[(p, q), (q, p)])
    bump = th.function([], [], updates=[(p, p + 1.0)])
    for _ in range(3):
        swap()
        bump()
    np.testing.assert_array_equal(p.get_value(), np.arange(4.0) + 10 + 2)  # q, p, q+1 after the swaps; +1 per bump
    np.testing.assert_array_equal(q.get_value(), np.arange(4.0) + 1)
