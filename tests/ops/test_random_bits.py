"""tn.random_bits (Threefry-2x32-20): compiled code against published test vectors and, bit for
bit, against the op's NumPy reference, over dtypes, shapes and counter offsets."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from theanir.dialects.tn.builder import emit1
from theanir.dialects.tn.ops.random import threefry2x32

# Random123's known-answer vectors for threefry2x32_20: (key words, counter words, output words).
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


def _key(words) -> np.ndarray:
    return np.array(words, np.uint32).view(np.int32)


def _bits_fn(shape, dtype):
    def fn(key, offset):
        return th.Tensor(emit1("tn.random_bits", [th.as_tensor(key).value, th.as_tensor(offset).value],
                               {"shape": shape, "dtype": np.dtype(dtype)}))
    return th.jit(fn)


def _signed64(u: int) -> np.int64:
    return np.array(u, np.uint64).view(np.int64)


@pytest.mark.parametrize("key, ctr, want", KAT)
def test_reference_matches_published_vectors(key, ctr, want):
    with np.errstate(over="ignore"):
        y0, y1 = threefry2x32(key[0], key[1], np.array([ctr[0]]), np.array([ctr[1]]))
    assert (int(y0[0]), int(y1[0])) == want


@pytest.mark.parametrize("key, ctr, want", KAT)
def test_compiled_matches_published_vectors(key, ctr, want):
    """The counter is the 64-bit offset (hi, lo); int64 output is (y0 << 32) | y1."""
    out = np.asarray(_bits_fn((1,), np.int64)(_key(key), _signed64((ctr[0] << 32) | ctr[1])))
    got = int(out.view(np.uint64)[0])
    assert (got >> 32, got & 0xFFFFFFFF) == want


SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 3, 4), (2, 0, 3)]
OFFSETS = [0, 5, 2**32 - 3, -2]  # -2: the counter wraps past 2^64 within the array


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_compiled_is_bit_exact_with_reference(shape, dtype):
    from theanir.dialects.tn.registry import OPS
    ref = OPS["tn.random_bits"].reference
    f = _bits_fn(shape, dtype)
    for key in ((0, 0), (0x13198A2E, 0x03707344), (0xFFFFFFFF, 1)):
        for off in OFFSETS:
            got = np.asarray(f(_key(key), np.int64(off)))
            want = ref(_key(key), np.int64(off), shape=shape, dtype=np.dtype(dtype))
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}"))


def test_unit_floats_lie_in_zero_one():
    for dtype in (np.float32, np.float64):
        u = np.asarray(_bits_fn((4096,), dtype)(_key((1, 2)), np.int64(0)))
        assert u.min() >= 0 and u.max() < 1 and len(np.unique(u)) > 4000


@pytest.mark.parametrize("key, why", [(np.zeros(3, np.int32), "tensor<2xi32>"),
                                      (np.zeros(2, np.int64), "tensor<2xi32>")])
def test_bad_key_is_refused(key, why):
    with pytest.raises(th.ShapeError, match=why):
        _bits_fn((2,), np.float32)(key, np.int64(0))


def test_bad_dtype_and_shape_are_refused():
    with pytest.raises(th.ShapeError, match="dtype bool"):
        _bits_fn((2,), np.bool_)(_key((0, 0)), np.int64(0))
    with pytest.raises(th.ShapeError, match="negative"):
        _bits_fn((-1,), np.float32)(_key((0, 0)), np.int64(0))


@pytest.mark.parametrize("n", [1, 6, 7])
def test_32_bit_draws_use_both_words_of_each_block(n):
    """int32 element j is word y0 of block j + offset, element B + j its y1 (B = ceil(n / 2)):
    checked against the block function itself, not the op's reference."""
    key, off = (0x13198A2E, 0x03707344), 2**32 - 1  # the counter crosses into the high word
    blocks = (n + 1) // 2
    c = np.arange(blocks, dtype=np.uint64) + np.uint64(off)
    with np.errstate(over="ignore"):
        y0, y1 = threefry2x32(key[0], key[1], (c >> np.uint64(32)).astype(np.uint32),
                              (c & np.uint64(0xFFFFFFFF)).astype(np.uint32))
    got = np.asarray(_bits_fn((n,), np.int32)(_key(key), np.int64(off))).view(np.uint32)
    assert got.tolist() == np.concatenate([y0, y1])[:n].tolist()


def _normal_fn(shape, dtype=np.float32):
    def fn(key, offset):
        return th.Tensor(emit1("tn.random_normal", [th.as_tensor(key).value, th.as_tensor(offset).value],
                               {"shape": shape, "dtype": np.dtype(dtype)}))
    return th.jit(fn)


@pytest.mark.parametrize("shape", SHAPES + [(1001,)], ids=str)
def test_random_normal_matches_its_box_muller_reference(shape):
    """tn.random_normal's float32 polynomials (log, sincos) against the reference's float64
    log/cos/sin of the same two words: a few float32 ulp, relative to the draw's radius."""
    from theanir.dialects.tn.registry import OPS
    ref = OPS["tn.random_normal"].reference
    f = _normal_fn(shape)
    for key in ((0, 0), (0x13198A2E, 0x03707344), (0xFFFFFFFF, 1)):
        for off in OFFSETS:
            got = np.asarray(f(_key(key), np.int64(off)))
            want = ref(_key(key), np.int64(off), shape=shape, dtype=np.dtype(np.float32))
            assert got.dtype == np.float32 and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


def test_random_normal_pairs_are_r_cos_and_r_sin_of_one_block():
    """Elements j and B + j come from block j: their squares sum to the block's r^2 = -2 log u1."""
    from theanir.dialects.tn.ops.random import _box_muller_inputs, counters
    z = np.asarray(_normal_fn((10,))(_key((1, 2)), np.int64(0))).astype(np.float64)
    with np.errstate(over="ignore"):
        y0, y1 = threefry2x32(1, 2, *counters((5,), 0))
    u1, _ = _box_muller_inputs(y0, y1)
    np.testing.assert_allclose(z[:5] ** 2 + z[5:] ** 2, -2 * np.log(u1.astype(np.float64)), rtol=1e-5)


def test_random_normal_is_float32_only():
    with pytest.raises(th.ShapeError, match="float32"):
        _normal_fn((2,), np.float64)(_key((1, 2)), np.int64(0))
