// RUN: theanir-opt %s --theanir-runtime-checks | FileCheck %s

// The report that failed run-time checks call (declared by lowering rules through
// dialects/tn/checks.py) gets an internal definition: a call through the hook the exported
// setter installs (the runtime's, which fails the call); without a hook the message's
// address is stored in the exported @__theanir_check_failure. Callers are unchanged.
// CHECK:       llvm.mlir.global internal @__theanir_check_hook()
// CHECK:         llvm.mlir.zero : !llvm.ptr
// CHECK:       llvm.mlir.global external @__theanir_check_failure(0 : i64)
// CHECK:       llvm.func @__theanir_set_check_hook(%[[H:.+]]: !llvm.ptr)
// CHECK:         llvm.store %[[H]]
// CHECK:       llvm.func internal @__theanir_check_failed(%[[K:.+]]: i64, %[[M:.+]]: i64, %[[A:.+]]: i64, %[[B:.+]]: i64, %[[C:.+]]: i64)
// CHECK:         %[[F:.+]] = llvm.load %{{.+}} : !llvm.ptr -> !llvm.ptr
// CHECK:         llvm.icmp "eq" %[[F]]
// CHECK:         llvm.store %[[M]], %{{.+}} : i64, !llvm.ptr
// CHECK:         llvm.call %[[F]](%[[K]], %[[M]], %[[A]], %[[B]], %[[C]])
// CHECK-LABEL: llvm.func @main
// CHECK:         llvm.call @__theanir_check_failed(
// CHECK-NOT:   llvm.func @__theanir_check_failed(i64
llvm.mlir.global internal constant @msg("index {0} out of range\00") {addr_space = 0 : i32} : !llvm.array<23 x i8>
llvm.func @__theanir_check_failed(i64, i64, i64, i64, i64)
llvm.func @main(%i: i64, %n: i64) -> i64 {
  %ok = llvm.icmp "slt" %i, %n : i64
  llvm.cond_br %ok, ^done, ^fail
^fail:
  %k = llvm.mlir.constant(0 : i64) : i64
  %p = llvm.mlir.addressof @msg : !llvm.ptr
  %m = llvm.ptrtoint %p : !llvm.ptr to i64
  llvm.call @__theanir_check_failed(%k, %m, %i, %n, %k) : (i64, i64, i64, i64, i64) -> ()
  llvm.br ^done
^done:
  llvm.return %i : i64
}
