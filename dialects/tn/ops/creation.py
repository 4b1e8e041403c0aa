"""Creation ops that are not plain constants: tn.iota, the index grid behind arange/eye/tri.

    %i = "tn.iota"() {shape = array<i64: 3, 4>, dimension = 1 : i64, dtype = f32} : () -> tensor<3x4xf32>

out[i_0, ..., i_n] = i_dimension, converted to `dtype`. It lowers to a linalg.generic that
reads `linalg.index`, so a large arange costs a loop, not a giant dense constant, and it fuses
with the elementwise ops that scale and shift it.
"""
from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith

from ..lowering import LowerCall, empty, generic, identity_map, index_cast, linalg_index, operand_sizes
from .. import batching as vb
from .. import lax
from ..registry import ShapeError, defop
from ..types import TensorSpec, check_dtype, element_type, fill_dynamic

iota = defop("tn.iota", ["dims*"], attrs={"shape": "ints", "dimension": "int", "dtype": "dtype"},
             differentiable=False, doc="The index along `dimension`, broadcast over `shape`; a -1 "
                                       "in `shape` is a dynamic dim sized by the next int64 scalar of `dims`.")
# With a size known only when the code runs (`th.arange(n)` of a traced n):
#   %i = "tn.iota"(%n) {shape = array<i64: -1>, dimension = 0 : i64, dtype = i64} : (tensor<i64>) -> tensor<?xi64>


@iota.def_infer
def _iota_infer(specs: list[TensorSpec], shape: tuple[int, ...], dimension: int,
                dtype: np.dtype) -> list[TensorSpec]:
    dt = check_dtype(dtype)
    if dt.kind not in "fi":
        raise ShapeError(f"dtype {dt.name} is not accepted (float or int)")
    if any(n < -1 for n in shape):
        raise ShapeError(f"shape {tuple(shape)} has a negative dim (-1 only: dynamic)")
    if len(specs) != list(shape).count(-1) or any(d.shape != () or d.dtype != np.int64 for d in specs):
        raise ShapeError(f"shape {tuple(shape)} needs one int64 scalar size per -1, got {len(specs)}")
    if not 0 <= dimension < len(shape):
        raise ShapeError(f"dimension {dimension} is out of range for shape {tuple(shape)}")
    return [TensorSpec(tuple(None if n == -1 else n for n in shape), dt)]


@iota.def_reify
def _iota_reify(call: LowerCall) -> list[list]:
    return [operand_sizes(call.attrs["shape"], call.operands)]


@iota.def_reference
def _iota_reference(*dims: np.ndarray, shape: tuple[int, ...], dimension: int, dtype: np.dtype) -> np.ndarray:
    shape = fill_dynamic(shape, (max(int(d), 0) for d in dims))
    line = np.arange(shape[dimension], dtype=np.int64).astype(dtype)
    view = line.reshape([-1 if i == dimension else 1 for i in range(len(shape))])
    return np.broadcast_to(view, shape).copy()


@iota.def_lower
def _iota_lower(call: LowerCall) -> list[ir.Value]:
    out = call.out
    dim = call.attrs["dimension"]
    i64 = ir.IntegerType.get_signless(64)
    elt = element_type(out.dtype)  # never bool: the shape rule refuses it

    def body(_acc: ir.Value) -> ir.Value:
        i = index_cast(linalg_index(dim), i64)
        if out.dtype.kind == "f":
            return arith.SIToFPOp(elt, i).result
        return i if out.dtype.itemsize == 8 else arith.TruncIOp(elt, i).result

    return generic([], [], [], [empty(out)], [out.dtype], [identity_map(out.ndim)],
                   ["parallel"] * out.ndim, body)


@iota.def_jvp
def _iota_jvp(primals, tangents, outs, shape, dimension, dtype):
    return [None]  # the sizes are integers: the result is a constant


# ---------------------------------------------------------------- batching rule (vmap)
@iota.def_batch
def _iota_batch(args, batched, size, shape, dimension, dtype):
    """Only its size operands can be batched: a size that differs per example is refused."""
    vb.refuse_batched_sizes("tn.iota", args, batched, 0)
    return [vb.Unbatched(lax.emit("tn.iota", args, shape=shape, dimension=dimension, dtype=dtype))]
