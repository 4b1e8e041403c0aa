"""theanir-cancel-points: the cancel flag that compiled loops poll, so Ctrl-C stops them.

Every step of a lowered loop (tn.scan, dialects/tn/ops/control.py) calls
`__theanir_cancelled() -> i1`, declared there. This pass defines it in the module (internal,
so every artifact has its own): a volatile load through a pointer that the exported
`__theanir_set_cancel_flag(flag)` installs. The runtime calls that setter with the address
of its process-wide flag when it wraps the entry point (runtime/src/lifecycle.h); until
then the pointer names a zero of the module's own, so a library loaded without theanir
still runs its loops to the end. Volatile: LLVM must reload the flag at every step, even
in a loop whose body it can see through (else an endless loop would never see it).

    llvm.func @__theanir_cancelled() -> i1                (declaration)
  ->
    llvm.mlir.global internal @__theanir_cancel_flag : !llvm.ptr   (-> a private zero)
    llvm.func internal @__theanir_cancelled() -> i1 { load volatile (load @flag) != 0 }
    llvm.func @__theanir_set_cancel_flag(%flag: !llvm.ptr)
"""
from __future__ import annotations

from mlir import ir
from ..base import Pass
from .llvm_shims import define_declared

NAME = "theanir-cancel-points"
POLL = "__theanir_cancelled"
SETTER = "__theanir_set_cancel_flag"

_DEFS = """
llvm.mlir.global internal @__theanir_never_cancelled(0 : i32) {alignment = 4 : i64} : i32
llvm.mlir.global internal @__theanir_cancel_flag() {alignment = 8 : i64} : !llvm.ptr {
  %0 = llvm.mlir.addressof @__theanir_never_cancelled : !llvm.ptr
  llvm.return %0 : !llvm.ptr
}
llvm.func @__theanir_set_cancel_flag(%flag: !llvm.ptr) {
  %g = llvm.mlir.addressof @__theanir_cancel_flag : !llvm.ptr
  llvm.store %flag, %g : !llvm.ptr, !llvm.ptr
  llvm.return
}
llvm.func internal @__theanir_cancelled() -> i1 {
  %g = llvm.mlir.addressof @__theanir_cancel_flag : !llvm.ptr
  %p = llvm.load %g : !llvm.ptr -> !llvm.ptr
  %v = llvm.load volatile %p : !llvm.ptr -> i32
  %z = llvm.mlir.constant(0 : i32) : i32
  %c = llvm.icmp "ne" %v, %z : i32
  llvm.return %c : i1
}
"""


def cancel_points(module_op: ir.Operation, pass_: object = None) -> None:
    """Define the poll the module's loops declare (see the module doc); nothing without loops."""
    define_declared(module_op, POLL, _DEFS, NAME)


class CancelPoints(Pass):
    """In the LLVM dialect: define @__theanir_cancelled, the poll loops call at each step (a
    volatile load of the flag the exported setter installs: the runtime's Ctrl-C flag)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        cancel_points(module_op)
