"""The counter-based random number generator: tn.random_bits (Threefry-2x32, 20 rounds).

    %b = "tn.random_bits"(%key, %offset) {shape = array<i64: 3, 4>, dtype = f32}
           : (tensor<2xi32>, tensor<i64>) -> tensor<3x4xf32>

A counter-based generator is a pure function of (key, counter): a block is Threefry-2x32-20
(Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the generator JAX
uses) of a 64-bit counter `c` split in words `(c >> 32, c & 0xffffffff)` under the two key
words, giving two 32-bit words (y0, y1). Nothing is stateful, so the op is an ordinary value:
every block is computed independently (vectorized, parallel-safe), the same key gives the same
bits on any thread count, and state (Theano's streams) is just a key held in a shared
variable. How blocks become elements depends on the element width (row-major flat index `i`):

    64-bit dtypes: element i is block c = i + offset, both words:
      i64: (y0 << 32) | y1                                     (64 random bits)
      f64: bitcast(((y0 << 32) | y1) >> 12 | 0x3ff0...0) - 1   uniform on [0, 1), 52 bits
    32-bit dtypes: with B = ceil(n / 2) blocks for n elements, elements j and B + j are the
    words y0 and y1 of block c = j + offset (an odd n drops the last block's y1), each word w:
      i32: w                                                   (32 random bits)
      f32: bitcast(w >> 9 | 0x3f800000) - 1                    uniform on [0, 1), 23 bits

Using both words of a block for 32-bit draws halves the rounds per draw (the 20 rounds are
most of the work); JAX instead xors the two words into one element, so float32/int32 draws
differ from JAX's (64-bit draws, hence split and fold_in, match JAX's partitionable scheme
bit for bit).

Key words are i32 tensors holding the uint32 bits (the dialect has no unsigned types); the
arithmetic is modular on 32-bit words. Shape rule: key is tensor<2xi32>, offset tensor<i64>,
the result `shape` x `dtype`. Reference: NumPy on uint32 arrays (`threefry2x32`). Lowering:
for 64-bit dtypes one linalg.generic whose body computes the counter from `linalg.index` and
runs the 20 rounds in `arith` (adds, shifts, xors): no calls, no state. For 32-bit dtypes an
scf.for over the blocks that inserts both words into one (n,) tensor (`word_pairs_loop`), so
bufferization writes them in place, then reshaped. (A generic with two outputs, the y0 and y1
halves, was copied into one buffer: the halves were extract_slices of a tensor.empty, which
canonicalization turns into separate empties. Picking the word with a select in a (B, 2)
loop, left to LLVM to unroll and merge, ran 3x slower: LLVM did not merge the round chains.) No jvp, transpose or batching rule: the draws are
constants (the op is not differentiable, its operands are integers).

    %z = "tn.random_normal"(%key, %offset) {shape = array<i64: 1000>, dtype = f32}
           : (tensor<2xi32>, tensor<i64>) -> tensor<1000xf32>

Standard normal float32 draws by Box-Muller on the same blocks and element layout as the
32-bit `tn.random_bits`: block j = c - offset (B = ceil(n / 2) blocks) gives
u1 = (y0 >> 1) 2^-31 + 2^-32 in (0, 1] (so log u1 is finite; the tail reaches 6.66 sigma)
and u2 = the float32 unit float of y1, then r = sqrt(-2 log u1), element j = r cos(2 pi u2)
and element B + j = r sin(2 pi u2) (an odd n drops the last sine). One op rather than a
composition so that each block's words, its two normals and their stores stay in one loop:
no uniform draws written and read again, half the Threefry rounds per draw (the composition,
sqrt(2) erfinv of a uniform, took 8.6 ns per draw at 10^7 against 2.8 so;
bench/random_draws.py). Shape rule: random_bits' with dtype f32 only. Reference: NumPy, the
same u1 and u2 in float32, log/cos/sin in float64. Lowering: `word_pairs_loop` with float32
polynomials (elementwise's Cephes log without its special cases, `_sincos_turns`): within a
few float32 ulp of the reference, no libm call, so LLVM vectorizes the loop. No jvp,
transpose or batching rule (not differentiable, as random_bits).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from mlir import ir
from mlir.dialects import arith, math, scf, tensor

from ..lowering import LowerCall, empty, generic, identity_map, index_cast, linalg_index
from .. import batching as vb
from ..registry import ShapeError, defop
from ..types import TensorSpec, check_dtype
from .elementwise import _log
from .shape import reshape_value

# Threefry-2x32's rotation constants (two alternating groups of four rounds) and key parity.
ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
KEY_PARITY = 0x1BD11BDA
DTYPES = ("int32", "int64", "float32", "float64")

random_bits = defop("tn.random_bits", ["key", "offset"], attrs={"shape": "ints", "dtype": "dtype"},
                    differentiable=False,
                    doc="Threefry-2x32-20 of (key, flat index + offset) as bits or unit floats.")


@random_bits.def_infer
def _random_bits_infer(specs: list[TensorSpec], shape: tuple[int, ...], dtype: np.dtype) -> list[TensorSpec]:
    key, offset = specs
    if key.shape != (2,) or key.dtype != np.int32:
        raise ShapeError(f"key must be tensor<2xi32> (two uint32 words), got {key}")
    if offset.shape != () or offset.dtype != np.int64:
        raise ShapeError(f"offset must be a scalar i64, got {offset}")
    dt = check_dtype(dtype)
    if dt.name not in DTYPES:
        raise ShapeError(f"dtype {dt.name} is not accepted ({', '.join(DTYPES)})")
    if any(n < 0 for n in shape):
        raise ShapeError(f"shape {tuple(shape)} has a negative dim")
    return [TensorSpec(tuple(int(n) for n in shape), dt)]


# ---------------------------------------------------------------- NumPy reference
def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k0, k1, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Threefry-2x32 with 20 rounds on uint32 arrays (Random123's threefry2x32_20)."""
    k0, k1 = np.uint32(k0), np.uint32(k1)
    ks = (k0, k1, np.uint32(k0 ^ k1 ^ np.uint32(KEY_PARITY)))
    x0 = np.asarray(x0, np.uint32) + ks[0]
    x1 = np.asarray(x1, np.uint32) + ks[1]
    for g in range(5):
        for r in ROTATIONS[g % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(g + 1) % 3]
        x1 = x1 + ks[(g + 2) % 3] + np.uint32(g + 1)
    return x0, x1


def counters(shape: tuple[int, ...], offset: int) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) uint32 words of `flat index + offset` (mod 2^64) for every element of `shape`."""
    c = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.uint64) + np.uint64(offset % 2**64)
    return (c >> np.uint64(32)).astype(np.uint32), (c & np.uint64(0xFFFFFFFF)).astype(np.uint32)


@random_bits.def_reference
def _random_bits_reference(key: np.ndarray, offset: np.ndarray, shape: tuple[int, ...],
                           dtype: np.dtype) -> np.ndarray:
    k = np.asarray(key).astype(np.int64) % 2**32
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    blocks = (n + 1) // 2 if dt.itemsize == 4 else n
    with np.errstate(over="ignore"):
        y0, y1 = threefry2x32(k[0], k[1], *counters((blocks,), int(offset)))
    if dt.itemsize == 4:
        bits = np.concatenate([y0, y1])[:n]  # block j's words: elements j and blocks + j
        out = bits.view(np.int32) if dt.kind == "i" else \
            ((bits >> np.uint32(9)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)
    else:
        bits = (y0.astype(np.uint64) << np.uint64(32)) | y1.astype(np.uint64)
        out = bits.view(np.int64) if dt.kind == "i" else \
            ((bits >> np.uint64(12)) | np.uint64(0x3FF0000000000000)).view(np.float64) - 1.0
    return np.asarray(out, dt).reshape(shape)


# ---------------------------------------------------------------- lowering
def _i(width: int) -> ir.IntegerType:
    return ir.IntegerType.get_signless(width)


def _c(width: int, value: int) -> ir.Value:
    # arith.constant wants the value as a signed integer of that width
    value &= (1 << width) - 1
    if value >= 1 << (width - 1):
        value -= 1 << width
    return arith.ConstantOp(_i(width), ir.IntegerAttr.get(_i(width), value)).result


def _rotl32(x: ir.Value, r: int) -> ir.Value:
    left = arith.ShLIOp(x, _c(32, r)).result
    right = arith.ShRUIOp(x, _c(32, 32 - r)).result
    return arith.OrIOp(left, right).result


def _threefry_ir(k0: ir.Value, k1: ir.Value, x0: ir.Value, x1: ir.Value) -> tuple[ir.Value, ir.Value]:
    """The 20 rounds in arith on i32 (modular adds, rotations, xors); mirrors `threefry2x32`."""
    k2 = arith.XOrIOp(arith.XOrIOp(k0, k1).result, _c(32, KEY_PARITY)).result
    ks = (k0, k1, k2)
    x0 = arith.AddIOp(x0, ks[0]).result
    x1 = arith.AddIOp(x1, ks[1]).result
    for g in range(5):
        for r in ROTATIONS[g % 2]:
            x0 = arith.AddIOp(x0, x1).result
            x1 = arith.XOrIOp(_rotl32(x1, r), x0).result
        x0 = arith.AddIOp(x0, ks[(g + 1) % 3]).result
        x1 = arith.AddIOp(arith.AddIOp(x1, ks[(g + 2) % 3]).result, _c(32, g + 1)).result
    return x0, x1


def _flat_index(shape: tuple[int, ...]) -> ir.Value:
    """Row-major flat index of the current element, as i64."""
    flat = None
    stride = 1
    for d in reversed(range(len(shape))):
        term = index_cast(linalg_index(d), _i(64))
        if stride != 1:
            term = arith.MulIOp(term, _c(64, stride)).result
        flat = term if flat is None else arith.AddIOp(flat, term).result
        stride *= shape[d]
    return flat if flat is not None else _c(64, 0)


def _to_dtype(y0: ir.Value, y1: ir.Value | None, dt: np.dtype) -> ir.Value:
    """The element from a block (64-bit dtypes) or from one word `y0` (32-bit dtypes)."""
    if dt.itemsize == 4:
        bits = y0
        if dt.kind == "i":
            return bits
        mant = arith.OrIOp(arith.ShRUIOp(bits, _c(32, 9)).result, _c(32, 0x3F800000)).result
        one = arith.ConstantOp(ir.F32Type.get(), ir.FloatAttr.get(ir.F32Type.get(), 1.0)).result
        return arith.SubFOp(arith.BitcastOp(ir.F32Type.get(), mant).result, one).result
    hi = arith.ShLIOp(arith.ExtUIOp(_i(64), y0).result, _c(64, 32)).result
    bits = arith.OrIOp(hi, arith.ExtUIOp(_i(64), y1).result).result
    if dt.kind == "i":
        return bits
    mant = arith.OrIOp(arith.ShRUIOp(bits, _c(64, 12)).result, _c(64, 0x3FF0000000000000)).result
    one = arith.ConstantOp(ir.F64Type.get(), ir.FloatAttr.get(ir.F64Type.get(), 1.0)).result
    return arith.SubFOp(arith.BitcastOp(ir.F64Type.get(), mant).result, one).result


def word_pairs_loop(n: int, dtype: np.dtype, words: Callable[[ir.Value], tuple[ir.Value, ir.Value]]) -> ir.Value:
    """The (n,) tensor whose elements j and B + j (B = ceil(n / 2)) are the two values
    `words(j)` makes from block j, for j < B (an odd n drops the last block's second value).

    One loop inserts both values into one tensor, so bufferization writes them in place (into
    the caller's buffer when they are the result: passes/lower/results_in_place.py); LLVM
    vectorizes it. (Two interleaved round chains per step, blocks j and j + B / 2, ran 5%
    slower: the loop is bound by the vector units' throughput, not by the rounds' latency.)"""
    index = ir.IndexType.get()

    def const(v: int) -> ir.Value:
        return arith.ConstantOp(index, ir.IntegerAttr.get(index, v)).result

    blocks, pairs = (n + 1) // 2, n // 2
    loop = scf.ForOp(const(0), const(pairs), const(1), [empty(TensorSpec((n,), dtype))])
    with ir.InsertionPoint(loop.body):
        j = loop.induction_variable
        w0, w1 = words(j)
        acc = tensor.InsertOp(w0, loop.inner_iter_args[0], [j]).result
        scf.YieldOp([tensor.InsertOp(w1, acc, [arith.AddIOp(j, const(blocks)).result]).result])
    flat = loop.results[0]
    if blocks != pairs:  # odd count: the last block gives only its first value
        last = const(pairs)
        flat = tensor.InsertOp(words(last)[0], flat, [last]).result
    return flat


@random_bits.def_lower
def _random_bits_lower(call: LowerCall) -> list[ir.Value]:
    out = call.out
    key, offset = call.operands
    index = ir.IndexType.get()
    zero = arith.ConstantOp(index, ir.IntegerAttr.get(index, 0)).result
    one = arith.ConstantOp(index, ir.IntegerAttr.get(index, 1)).result
    k0 = tensor.ExtractOp(key, [zero]).result  # read once, outside the loop
    k1 = tensor.ExtractOp(key, [one]).result
    off = tensor.ExtractOp(offset, []).result

    def block(counter: ir.Value) -> tuple[ir.Value, ir.Value]:
        c = arith.AddIOp(counter, off).result
        hi = arith.TruncIOp(_i(32), arith.ShRUIOp(c, _c(64, 32)).result).result
        lo = arith.TruncIOp(_i(32), c).result
        return _threefry_ir(k0, k1, hi, lo)

    n = int(np.prod(out.shape, dtype=np.int64))
    if out.dtype.itemsize == 8 or n == 0:
        def body(_acc: ir.Value) -> ir.Value:
            y0, y1 = block(_flat_index(out.shape))
            return _to_dtype(y0, y1, out.dtype)

        return generic([], [], [], [empty(out)], [out.dtype], [identity_map(out.ndim)],
                       ["parallel"] * out.ndim, body)

    def words(j: ir.Value) -> tuple[ir.Value, ir.Value]:
        y0, y1 = block(index_cast(j, _i(64)))
        return _to_dtype(y0, None, out.dtype), _to_dtype(y1, None, out.dtype)

    flat = word_pairs_loop(n, out.dtype, words)
    return [reshape_value(flat, (n,), out.shape)]


# ---------------------------------------------------------------- tn.random_normal
random_normal = defop("tn.random_normal", ["key", "offset"], attrs={"shape": "ints", "dtype": "dtype"},
                      differentiable=False,
                      doc="Standard normal float32 draws: Box-Muller on both words of each Threefry block.")


@random_normal.def_infer
def _random_normal_infer(specs: list[TensorSpec], shape: tuple[int, ...], dtype: np.dtype) -> list[TensorSpec]:
    if check_dtype(dtype) != np.float32:
        raise ShapeError(f"dtype {check_dtype(dtype).name} is not accepted (float32)")
    return _random_bits_infer(specs, shape, dtype)


_TWO_PI = 6.283185307179586
_SIN_POLY = (-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4)  # Cephes sinf on |x| <= pi/4
_COS_POLY = (4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5)  # Cephes cosf


def _box_muller_inputs(y0: np.ndarray, y1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u1 in (0, 1], u2 in [0, 1)) as float32, exactly as the lowering makes them."""
    u1 = (y0 >> np.uint32(1)).astype(np.int32).astype(np.float32) * np.float32(2.0 ** -31) + np.float32(2.0 ** -32)
    u2 = ((y1 >> np.uint32(9)) | np.uint32(0x3F800000)).view(np.float32) - np.float32(1)
    return u1, u2


@random_normal.def_reference
def _random_normal_reference(key: np.ndarray, offset: np.ndarray, shape: tuple[int, ...],
                             dtype: np.dtype) -> np.ndarray:
    k = np.asarray(key).astype(np.int64) % 2**32
    n = int(np.prod(shape, dtype=np.int64))
    with np.errstate(over="ignore"):
        y0, y1 = threefry2x32(k[0], k[1], *counters(((n + 1) // 2,), int(offset)))
    u1, u2 = _box_muller_inputs(y0, y1)
    r = np.sqrt(-2.0 * np.log(u1.astype(np.float64)))
    angle = _TWO_PI * u2.astype(np.float64)
    z = np.concatenate([r * np.cos(angle), r * np.sin(angle)])[:n]
    return z.astype(np.float32).reshape(shape)


def _sincos_turns(u: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(cos 2 pi u, sin 2 pi u) for float32 u in [0, 1): the quadrant q = round(4u), then
    Cephes' sinf/cosf polynomials on 2 pi (u - q/4) in [-pi/4, pi/4] (u - q/4 is exact), and
    the quadrant's swap and signs on the bits. A few ulp of 1; vectorizes (no libm call)."""
    f32, i32 = ir.F32Type.get(), _i(32)

    def cf(v: float) -> ir.Value:
        return arith.ConstantOp(f32, ir.FloatAttr.get(f32, v)).result

    q = math.RoundEvenOp(arith.MulFOp(u, cf(4.0)).result).result
    b = arith.MulFOp(math.FmaOp(q, cf(-0.25), u).result, cf(_TWO_PI)).result
    z = arith.MulFOp(b, b).result
    s = cf(_SIN_POLY[-1])
    for c in reversed(_SIN_POLY[:-1]):
        s = math.FmaOp(s, z, cf(c)).result
    s = math.FmaOp(arith.MulFOp(s, z).result, b, b).result
    c = cf(_COS_POLY[-1])
    for k in reversed(_COS_POLY[:-1]):
        c = math.FmaOp(c, z, cf(k)).result
    c = arith.AddFOp(math.FmaOp(z, cf(-0.5), arith.MulFOp(arith.MulFOp(c, z).result, z).result).result,
                     cf(1.0)).result
    qi = arith.FPToSIOp(i32, q).result
    swap = arith.CmpIOp(arith.CmpIPredicate.ne, arith.AndIOp(qi, _c(32, 1)).result, _c(32, 0)).result
    cos_, sin_ = arith.SelectOp(swap, s, c).result, arith.SelectOp(swap, c, s).result

    def negate_if(v: ir.Value, bit: ir.Value) -> ir.Value:  # bit: 2 or 0 -> the sign bit
        flip = arith.ShLIOp(arith.AndIOp(bit, _c(32, 2)).result, _c(32, 30)).result
        return arith.BitcastOp(f32, arith.XOrIOp(arith.BitcastOp(i32, v).result, flip).result).result

    return negate_if(cos_, arith.AddIOp(qi, _c(32, 1)).result), negate_if(sin_, qi)


@random_normal.def_lower
def _random_normal_lower(call: LowerCall) -> list[ir.Value]:
    out = call.out
    key, offset = call.operands
    index = ir.IndexType.get()
    k0 = tensor.ExtractOp(key, [arith.ConstantOp(index, ir.IntegerAttr.get(index, 0)).result]).result
    k1 = tensor.ExtractOp(key, [arith.ConstantOp(index, ir.IntegerAttr.get(index, 1)).result]).result
    off = tensor.ExtractOp(offset, []).result
    f32 = ir.F32Type.get()
    n = int(np.prod(out.shape, dtype=np.int64))

    def cf(v: float) -> ir.Value:
        return arith.ConstantOp(f32, ir.FloatAttr.get(f32, v)).result

    def normals(j: ir.Value) -> tuple[ir.Value, ir.Value]:
        c = arith.AddIOp(index_cast(j, _i(64)), off).result
        hi = arith.TruncIOp(_i(32), arith.ShRUIOp(c, _c(64, 32)).result).result
        y0, y1 = _threefry_ir(k0, k1, hi, arith.TruncIOp(_i(32), c).result)
        u1 = arith.SIToFPOp(f32, arith.ShRUIOp(y0, _c(32, 1)).result).result
        u1 = math.FmaOp(u1, cf(2.0 ** -31), cf(2.0 ** -32)).result  # (0, 1]: log is finite
        r = math.SqrtOp(arith.MulFOp(_log(u1, positive_normal=True), cf(-2.0)).result).result
        cos_, sin_ = _sincos_turns(_to_dtype(y1, None, np.dtype(np.float32)))
        return arith.MulFOp(r, cos_).result, arith.MulFOp(r, sin_).result

    if n == 0:
        return [empty(out)]
    return [reshape_value(word_pairs_loop(n, out.dtype, normals), (n,), out.shape)]


# ------------------------------------------------------------------ batching rules (vmap)
# A batched key (or offset) draws each example's numbers from its own stream, exactly as a
# loop over the keys would (JAX's vmap of random.normal over split keys): a loop over them.
random_bits.def_batch(vb.loop_rule("tn.random_bits"))
random_normal.def_batch(vb.loop_rule("tn.random_normal"))
