"""Trace a Python function into a `tn` module: `func.func @main` over tensors.

The signature of a trace (argument shapes/dtypes/weakness, static values, pytree
structures) is the jit cache key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir
from mlir.dialects import func

from theanir.dialects.tn.context import get_context
from theanir.dialects.tn.types import TensorSpec, check_dtype, tensor_type
from theanir.runtime import Array

from . import numpy_api as tnp
from .bfloat16 import is_bfloat16
from .bfloat16 import mark as bf16_mark
from .bfloat16 import tracking as bf16_tracking
from .pytree import TreeDef, tree_flatten, tree_unflatten
from .tensor import Tensor


@dataclass(frozen=True)
class ArgSpec:
    """One dynamic (traced) argument leaf: its spec, whether a Python scalar, its layout."""

    spec: TensorSpec
    weak: bool = False
    contiguous: bool = True
    bf16: bool = False  # a bfloat16 argument, widened to float32 (frontend/bfloat16.py)


@dataclass
class TracedFunction:
    module: ir.Module
    in_specs: list[ArgSpec]
    out_specs: list[TensorSpec]
    out_tree: TreeDef
    name: str = "main"
    prints: bool = False  # it holds a tn.print (th.debug.print, Theano's Print): calls run inline
    bf16_outputs: tuple[bool, ...] = ()  # outputs computed in float32, returned as bfloat16


# Input dtypes the runtime does not hold, widened at the call boundary to one it does, where
# every value fits (image data as uint8, float16 storage): computed in the wider dtype, as
# NumPy would after an explicit .astype, so results come back in it (issue 20).
WIDENED_INPUTS = {np.dtype(np.uint8): np.dtype(np.int32), np.dtype(np.int8): np.dtype(np.int32),
                  np.dtype(np.int16): np.dtype(np.int32), np.dtype(np.uint16): np.dtype(np.int32),
                  np.dtype(np.uint32): np.dtype(np.int64), np.dtype(np.float16): np.dtype(np.float32)}


def widen_input(x: Any) -> Any:
    """`x` converted to the dtype it computes in when the runtime cannot hold its own."""
    if isinstance(x, (np.ndarray, np.generic)) and (x.dtype in WIDENED_INPUTS or is_bfloat16(x.dtype)):
        return x.astype(WIDENED_INPUTS.get(x.dtype, np.dtype(np.float32)))
    return x


def arg_spec_of(x: Any) -> ArgSpec:
    """Classify one dynamic argument leaf; refuses what cannot be passed to native code."""
    if isinstance(x, bool):
        return ArgSpec(TensorSpec((), np.dtype(np.bool_)), weak=True)
    if isinstance(x, int):
        if not -2**63 <= x < 2**63:
            raise OverflowError(f"the Python int {x if abs(x) < 10**30 else f'of {x.bit_length()} bits'} "
                                f"does not fit int64, the dtype of Python int arguments")
        return ArgSpec(TensorSpec((), np.dtype(np.int64)), weak=True)
    if isinstance(x, float):
        return ArgSpec(TensorSpec((), np.dtype(np.float64)), weak=True)
    if isinstance(x, complex):
        return ArgSpec(TensorSpec((), np.dtype(np.complex128)), weak=True)
    if isinstance(x, (np.ndarray, np.generic)):
        dt = check_dtype(x.dtype)
        if isinstance(x, np.ndarray) and any(s % dt.itemsize for s in x.strides):
            raise ValueError(f"strides {x.strides} are not multiples of the itemsize {dt.itemsize} (a "
                             f"view into bytes); pass a copy (np.ascontiguousarray(x))")
        contiguous = bool(x.flags.c_contiguous) if isinstance(x, np.ndarray) else True
        return ArgSpec(TensorSpec(tuple(int(s) for s in np.shape(x)), dt), contiguous=contiguous)
    if isinstance(x, Array):  # a runtime result, maybe still being computed: no wait
        return ArgSpec(TensorSpec(tuple(x.shape), x.dtype), contiguous=True)
    if hasattr(x, "__array__") and not isinstance(x, Tensor):
        return arg_spec_of(np.asarray(x))
    raise TypeError(f"unsupported argument type {type(x).__name__}: pass NumPy arrays, Python "
                    f"scalars, or pytrees of them: tuples, lists, dicts, NamedTuples, None, classes registered with "
                    f"th.tree_util.register_pytree_node (or mark it static)")


def trace(fn: Callable, args: Sequence[Any], in_tree: TreeDef, dynamic: list[int],
          arg_specs: list[ArgSpec], name: str = "main") -> TracedFunction:
    """Run `fn` on Tensors standing for the dynamic leaves; returns the `tn` module.

    `args` holds the flattened leaves: static leaves keep their values, dynamic ones are
    replaced by traced Tensors in order.
    """
    with bf16_tracking() as bf16:
        return _trace(fn, args, in_tree, dynamic, arg_specs, name, bf16)


def _trace(fn: Callable, args: Sequence[Any], in_tree: TreeDef, dynamic: list[int],
           arg_specs: list[ArgSpec], name: str, bf16: bf16_tracking) -> TracedFunction:
    ctx = get_context()
    with ctx, ir.Location.unknown():
        module = ir.Module.create()
        arg_types = [tensor_type(a.spec) for a in arg_specs]
        with ir.InsertionPoint(module.body):
            f = func.FuncOp(name, (arg_types, []))
            entry = f.add_entry_block()
        leaves = list(args)
        for i, (pos, a) in enumerate(zip(dynamic, arg_specs)):
            leaves[pos] = Tensor(entry.arguments[i], weak=a.weak)
            if a.bf16:
                bf16_mark(entry.arguments[i], True)
        call_args, call_kwargs = tree_unflatten(in_tree, leaves)
        with ir.InsertionPoint(entry):
            result = fn(*call_args, **call_kwargs)
            out_leaves, out_tree = tree_flatten(result)
            outs = [tnp.as_tensor(x) for x in out_leaves]
            func.ReturnOp([t.value for t in outs])
        f.attributes["function_type"] = ir.TypeAttr.get(
            ir.FunctionType.get(arg_types, [t.value.type for t in outs]))
        table = bf16.table() if bf16.outermost else None  # an inner trace's outputs are values
        rounded = tuple(table is not None and table.get(t.value) is True for t in outs)
        return TracedFunction(module, list(arg_specs), [t.spec for t in outs], out_tree, name,
                              prints=_holds_print(module.operation),
                              bf16_outputs=rounded if any(rounded) else ())


def _holds_print(op: ir.Operation) -> bool:
    found = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.operation.name == "tn.print":
            found.append(o)
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    return bool(found)
