"""Run-time checks in generated code: a failed check fails the call with a Python error.

Some facts can only be checked when the code runs: that a slice with traced bounds has the
length it was compiled for (`tn.dynamic_slice`), and later the shapes a dynamic-shape
function receives. A lowering rule calls `emit_check(ok, kind, message, values)`: when `ok`
is false at run time the code calls

    func.func private @__theanir_check_failed(%kind: i64, %message: i64, %v0: i64, %v1: i64, %v2: i64)

with the address of a NUL-terminated message (a module-level constant) whose `{0}`, `{1}`,
`{2}` stand for the three values. `passes/lower/runtime_checks.py` defines that function at
the llvm stage: it calls the hook the runtime installs (`__theanir_set_check_hook`), which
records the first failure of the call, stops the code (as a failed allocation does) and makes
the call raise `kind`'s exception with the message, the values filled in
(runtime/src/pool.h `check_failed`). Where the runtime cannot stop the code (inside an OpenMP
parallel region) it returns and the call fails when the code returns, so a rule that emits a
check must keep the code memory-safe on the failing path too (clamp the offsets it reads at).
Without the runtime (a library loaded by other C code) the message's address is stored in
the exported global `__theanir_check_failure` and the code continues.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

from mlir import ir
from mlir.dialects import arith, func, llvm, scf

CHECK_FAILED = "__theanir_check_failed"
# kinds: the Python exception a failed check raises (runtime/src/pool.h CheckKind)
INDEX_ERROR = 0
VALUE_ERROR = 1
# not a failure: tn.print (dialects/tn/ops/debug.py) reports a tensor to print through the
# same hook, which prints it and returns (v0: its [dtype, rank, address, sizes, strides]
# table's address, v1: 1 to print only the shape)
PRINT = 2


def _module_body(anchor: ir.Operation) -> ir.Block:
    module = anchor
    while module.name != "builtin.module":
        module = module.parent
    return module.regions[0].blocks[0]


def _has_symbol(body: ir.Block, name: str) -> bool:
    return any("sym_name" in o.attributes and ir.StringAttr(o.attributes["sym_name"]).value == name
               for o in body.operations)


def _escape(text: str) -> str:
    """MLIR string literal contents: printable ASCII stays, the rest as \\XX hex bytes."""
    out = []
    for b in text.encode("utf-8"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\' else f"\\{b:02X}")
    return "".join(out)


def message_address(anchor: ir.Operation, message: str) -> ir.Value:
    """i64: the address of `message` as a NUL-terminated module constant (one per text)."""
    body = _module_body(anchor)
    name = "__theanir_check_msg_" + hashlib.sha1(message.encode()).hexdigest()[:16]
    if not _has_symbol(body, name):
        n = len(message.encode("utf-8")) + 1
        text = (f'llvm.mlir.global internal constant @{name}("{_escape(message)}\\00") '
                f'{{addr_space = 0 : i32}} : !llvm.array<{n} x i8>')
        with ir.InsertionPoint.at_block_begin(body), ir.Location.unknown():
            parsed = ir.Module.parse(text)
            parsed.body.operations[0].operation.clone(ir.InsertionPoint.at_block_begin(body))
    ptr = llvm.AddressOfOp(ir.Type.parse("!llvm.ptr"), name).result
    return llvm.PtrToIntOp(ir.IntegerType.get_signless(64), ptr).result


def declare_report(anchor: ir.Operation) -> None:
    body = _module_body(anchor)
    if _has_symbol(body, CHECK_FAILED):
        return
    i64 = ir.IntegerType.get_signless(64)
    with ir.InsertionPoint.at_block_begin(body), ir.Location.unknown():
        func.FuncOp(CHECK_FAILED, ([i64] * 5, []), visibility="private")


def _as_i64(v: ir.Value) -> ir.Value:
    i64 = ir.IntegerType.get_signless(64)
    if isinstance(v.type, ir.IndexType):
        return arith.IndexCastOp(i64, v).result
    if ir.IntegerType(v.type).width < 64:
        return arith.ExtSIOp(i64, v).result
    return v


def emit_check(anchor: ir.Operation, ok: ir.Value, kind: int, message: str,
               values: Sequence[ir.Value] = ()) -> None:
    """At the insertion point: if `ok` (i1) is false, report `message` (with `{0}`..`{2}`
    standing for `values`, integers or indices) as a failed check of the running call."""
    if len(values) > 3:
        raise ValueError(f"emit_check: at most 3 values, got {len(values)}")
    declare_report(anchor)
    i64 = ir.IntegerType.get_signless(64)
    failed = arith.XOrIOp(ok, arith.ConstantOp(ir.IntegerType.get_signless(1), 1).result).result
    branch = scf.IfOp(failed)
    with ir.InsertionPoint(branch.then_block):
        args = [arith.ConstantOp(i64, kind).result, message_address(anchor, message)]
        args += [_as_i64(v) for v in values]
        args += [arith.ConstantOp(i64, 0).result] * (5 - len(args))
        func.CallOp([], CHECK_FAILED, args)
        scf.YieldOp([])
