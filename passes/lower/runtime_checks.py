"""theanir-runtime-checks: failed run-time checks reach the runtime, which fails the call.

A lowering rule that checks something only the running code knows (dialects/tn/checks.py
`emit_check`: a traced slice's length) calls `__theanir_check_failed(kind, message, v0, v1,
v2)` when the check fails, declared there. This pass defines it in the module (internal, so
every artifact has its own): it calls through a function pointer that the exported
`__theanir_set_check_hook(hook)` installs. The runtime calls that setter with its hook when
it wraps the entry point (runtime/src/pool.h `check_failed`), which records the failure,
stops the code and makes the call raise. Until then (a library loaded without theanir) the
message's address is stored in the exported `__theanir_check_failure` and the code goes on:
its host can read it after the call.

    llvm.func @__theanir_check_failed(i64, i64, i64, i64, i64)       (declaration)
  ->
    llvm.mlir.global internal @__theanir_check_hook : !llvm.ptr        (null)
    llvm.mlir.global external @__theanir_check_failure(0 : i64) : i64
    llvm.func @__theanir_set_check_hook(%hook: !llvm.ptr)
    llvm.func internal @__theanir_check_failed(...) { hook ? hook(...) : failure = message }
"""
from __future__ import annotations

from mlir import ir
from ..base import Pass
from .llvm_shims import define_declared

NAME = "theanir-runtime-checks"
REPORT = "__theanir_check_failed"
SETTER = "__theanir_set_check_hook"
FAILURE = "__theanir_check_failure"

_DEFS = """
llvm.mlir.global internal @__theanir_check_hook() {alignment = 8 : i64} : !llvm.ptr {
  %0 = llvm.mlir.zero : !llvm.ptr
  llvm.return %0 : !llvm.ptr
}
llvm.mlir.global external @__theanir_check_failure(0 : i64) {alignment = 8 : i64} : i64
llvm.func @__theanir_set_check_hook(%hook: !llvm.ptr) {
  %g = llvm.mlir.addressof @__theanir_check_hook : !llvm.ptr
  llvm.store %hook, %g : !llvm.ptr, !llvm.ptr
  llvm.return
}
llvm.func internal @__theanir_check_failed(%kind: i64, %msg: i64, %a: i64, %b: i64, %c: i64) {
  %g = llvm.mlir.addressof @__theanir_check_hook : !llvm.ptr
  %f = llvm.load %g : !llvm.ptr -> !llvm.ptr
  %z = llvm.mlir.zero : !llvm.ptr
  %none = llvm.icmp "eq" %f, %z : !llvm.ptr
  llvm.cond_br %none, ^record, ^hook
^record:
  %r = llvm.mlir.addressof @__theanir_check_failure : !llvm.ptr
  llvm.store %msg, %r : i64, !llvm.ptr
  llvm.return
^hook:
  llvm.call %f(%kind, %msg, %a, %b, %c) : !llvm.ptr, (i64, i64, i64, i64, i64) -> ()
  llvm.return
}
"""


def runtime_checks(module_op: ir.Operation) -> None:
    """Define the report the module's checks declare (see the module doc); nothing without checks."""
    define_declared(module_op, REPORT, _DEFS, NAME)


class RuntimeChecks(Pass):
    """In the LLVM dialect: define @__theanir_check_failed, which failed run-time checks call
    (through the hook the exported setter installs: the runtime's, which fails the call)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        runtime_checks(module_op)
