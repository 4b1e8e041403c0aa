// RUN: theanir-opt %s --lower-to-cpu | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(lower-to-cpu)' | FileCheck %s
// RUN: theanir-opt %s --lower-to-cpu --emit=llvm | FileCheck %s --check-prefix=LLVMIR

// The whole stage table, tn to the LLVM dialect: only llvm ops remain (@main_impl is inlined
// into the entry point), the entry keeps its C interface wrapper, math.exp is an intrinsic
// (float64: float32 exp is a polynomial, see convert-tn-to-linalg.mlir).
// CHECK-NOT:   "tn.
// CHECK-NOT:   func.func
// CHECK-NOT:   linalg.
// CHECK:       llvm.func @main(
// CHECK:         llvm.intr.exp
// CHECK:       llvm.func @_mlir_ciface_main(
// CHECK-NOT:   "tn.

// LLVMIR:     define void @main(ptr
// LLVMIR:       call double @llvm.exp.f64(
// LLVMIR:     define void @_mlir_ciface_main(ptr
// LLVMIR-NOT: define
// LLVMIR:     declare double @llvm.exp.f64(double)
func.func @main(%arg0: tensor<2x3xf64>, %arg1: tensor<3xf64>) -> tensor<2x3xf64> {
  %0 = "tn.exp"(%arg0) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %1 = "tn.broadcast_to"(%arg1) {shape = array<i64: 2, 3>} : (tensor<3xf64>) -> tensor<2x3xf64>
  %2 = "tn.mul"(%0, %1) : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  return %2 : tensor<2x3xf64>
}
