"""tn.print: the identity, with the side effect of printing its operand when the code runs.

    %y = "tn.print"(%x) {message = "x __str__ = {}", what = "value"} : (tensor<3xf32>) -> tensor<3xf32>

Theano's `Print(message)(x)` and JAX's `jax.debug.print` (frontend/printing.py, debug.py).
`message` is the printed text (its own newline included), in which the first `{}` stands for the operand's value
(`what = "value"`: NumPy-like text, large tensors summarized with `...`) or its shape
(`what = "shape"`: `(2, 3)`); a `{{`/`}}` prints a brace.

The op is not pure (`defop(pure=False)`): tn-dce, tn-cse, canonicalize's folding, the scan
hoister and sink-into-branches leave impure ops alone, so a print is neither removed, merged
with an identical one, folded away on a constant operand nor moved out of the loop body it
runs in (one line per scan step). It has no scalar rule, so tn-fuse does not fuse through it.

Lowering: the operand's buffer (`bufferization.to_buffer`), its data address, sizes and
strides written into a small i64 stack array, and a call of the run-time check report
(dialects/tn/checks.py) with the kind PRINT, which the runtime answers by formatting the
tensor and writing the line to the process's stdout, flushed (runtime/src/pool.cpp
`print_tensor`); it then returns. Without the runtime (a library loaded by other C code) a
print does nothing. Derivatives: the identity's (the jvp and the transpose pass the tangent
and cotangent through without printing them), so gradients through a print are unchanged.
"""
from __future__ import annotations

import sys

import numpy as np
from mlir import ir
from mlir.dialects import arith, func, memref

from ..checks import PRINT, declare_report, message_address
from ..lowering import LowerCall
from .. import batching as vb
from ..registry import ShapeError, defop
from ..types import TensorSpec, storage_element_type

WHATS = ("value", "shape")
# the element-type codes the runtime's printer reads (runtime/src/pool.cpp print_tensor)
DTYPE_CODES = {"float32": 0, "float64": 1, "int32": 2, "int64": 3, "bool": 4}

print_ = defop("tn.print", ["x"], attrs={"message": "str", "what": "str"}, same_type=("x", "out"),
               pure=False,
               doc="The identity; prints `message` with its first `{}` replaced by x's value or "
                   "shape each time the code runs (Theano's Print, jax.debug.print).")


@print_.def_infer
def _print_infer(specs: list[TensorSpec], message: str, what: str) -> list[TensorSpec]:
    if what not in WHATS:
        raise ShapeError(f"tn.print: `what` must be one of {WHATS}, got {what!r}")
    return [specs[0]]


def format_line(x: np.ndarray, message: str, what: str) -> str:
    """The line the runtime prints, as Python would write it (the reference's text)."""
    x = np.asarray(x)
    text = str(tuple(x.shape)) if what == "shape" else np.array2string(
        x, separator=" ", threshold=1000, edgeitems=3, max_line_width=75)
    return message.replace("{{", "\0").replace("}}", "\1").replace("{}", text, 1) \
        .replace("\0", "{").replace("\1", "}")


@print_.def_reference
def _print_reference(x: np.ndarray, message: str, what: str) -> np.ndarray:
    sys.stdout.write(format_line(x, message, what))
    sys.stdout.flush()
    return np.array(x)


@print_.def_jvp
def _print_jvp(primals, tangents, outs, message, what):
    return [tangents[0]]


@print_.def_transpose
def _print_transpose(cts, primals, linear, message, what):
    return [cts[0]]


@print_.def_lower
def _print_lower(call: LowerCall) -> list[ir.Value]:
    (x,) = call.operands
    spec = call.in_specs[0]
    rank = len(spec.shape)
    i64, idx = ir.IntegerType.get_signless(64), ir.IndexType.get()
    elt = storage_element_type(spec.dtype)
    layout = ir.Attribute.parse(f"strided<[{', '.join(['?'] * rank)}], offset: ?>")
    dyn = ir.ShapedType.get_dynamic_size()
    buf_t = ir.MemRefType.get([dyn if n is None else n for n in spec.shape], elt, layout)
    buf = ir.Operation.create("bufferization.to_buffer", results=[buf_t], operands=[x],
                              attributes={"read_only": ir.UnitAttr.get()}).results[0]
    meta = ir.Operation.create(
        "memref.extract_strided_metadata",
        results=[ir.MemRefType.get([], elt)] + [idx] * (1 + 2 * rank), operands=[buf])
    base = ir.Operation.create("memref.extract_aligned_pointer_as_index", results=[idx],
                               operands=[meta.results[0]]).results[0]
    res = list(meta.results)
    offset, sizes, strides = res[1], res[2:2 + rank], res[2 + rank:]
    # [dtype code, rank, data address, sizes..., strides...] (strides in elements)
    itemsize = np.dtype(spec.dtype).itemsize if spec.dtype != np.bool_ else 1
    data = arith.AddIOp(arith.IndexCastOp(i64, base).result,
                        arith.MulIOp(arith.IndexCastOp(i64, offset).result,
                                     arith.ConstantOp(i64, itemsize).result).result).result
    fields = [arith.ConstantOp(i64, DTYPE_CODES[spec.dtype.name]).result,
              arith.ConstantOp(i64, rank).result, data]
    fields += [arith.IndexCastOp(i64, v).result for v in sizes + strides]
    table = memref.AllocaOp(ir.MemRefType.get([len(fields)], i64), [], []).result
    for k, v in enumerate(fields):
        memref.StoreOp(v, table, [arith.ConstantOp(idx, k).result])
    addr = ir.Operation.create("memref.extract_aligned_pointer_as_index", results=[idx],
                               operands=[table]).results[0]
    declare_report(call.op)
    what = 1 if call.attrs["what"] == "shape" else 0
    func.CallOp([], "__theanir_check_failed",
                [arith.ConstantOp(i64, PRINT).result, message_address(call.op, call.attrs["message"]),
                 arith.IndexCastOp(i64, addr).result, arith.ConstantOp(i64, what).result,
                 arith.ConstantOp(i64, 0).result])
    return [x]


# ---------------------------------------------------------------- batching rules (vmap)
# Elementwise in effect: the op on the batched operand.
print_.def_batch(vb.elementwise_rule("tn.print"))  # prints the whole batch
