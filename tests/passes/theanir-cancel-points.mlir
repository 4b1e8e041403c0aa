// RUN: theanir-opt %s --theanir-cancel-points | FileCheck %s

// The poll that a lowered loop calls at every step (declared by the tn.scan lowering) gets an
// internal definition: a volatile load through a pointer that the exported setter replaces
// (the runtime passes its Ctrl-C flag); until then it points at a zero of the module's own.
// Callers are unchanged.
// CHECK:       llvm.mlir.global internal @__theanir_never_cancelled(0 : i32)
// CHECK:       llvm.mlir.global internal @__theanir_cancel_flag()
// CHECK:         llvm.mlir.addressof @__theanir_never_cancelled
// CHECK:       llvm.func @__theanir_set_cancel_flag(%[[F:.+]]: !llvm.ptr)
// CHECK:         llvm.store %[[F]]
// CHECK:       llvm.func internal @__theanir_cancelled() -> i1
// CHECK:         %[[P:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
// CHECK:         llvm.load volatile %[[P]] : !llvm.ptr -> i32
// CHECK:         llvm.icmp "ne"
// CHECK-LABEL: llvm.func @main
// CHECK:         llvm.call @__theanir_cancelled() : () -> i1
// CHECK-NOT:   llvm.func @__theanir_cancelled
llvm.func @__theanir_cancelled() -> i1
llvm.func @main(%n: i64) -> i64 {
  %c0 = llvm.mlir.constant(0 : i64) : i64
  %c1 = llvm.mlir.constant(1 : i64) : i64
  llvm.br ^loop(%c0 : i64)
^loop(%i: i64):
  %more = llvm.icmp "slt" %i, %n : i64
  %stop = llvm.call @__theanir_cancelled() : () -> i1
  %t = llvm.mlir.constant(true) : i1
  %go = llvm.xor %stop, %t : i1
  %both = llvm.and %more, %go : i1
  %next = llvm.add %i, %c1 : i64
  llvm.cond_br %both, ^loop(%next : i64), ^done
^done:
  llvm.return %i : i64
}
