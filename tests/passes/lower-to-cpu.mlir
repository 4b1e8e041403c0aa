// RUN: theanir-opt %s --lower-to-cpu | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(lower-to-cpu)' | FileCheck %s
// RUN: theanir-opt %s --lower-to-cpu --emit=llvm | FileCheck %s --check-prefix=LLVMIR

// The whole stage table, tn to the LLVM dialect: only llvm ops remain (@main_impl is inlined
// into the entry point), the entry keeps its C interface wrapper, math.exp is an intrinsic.
// CHECK-NOT:   "tn.
// CHECK-NOT:   func.func
// CHECK-NOT:   linalg.
// CHECK:       llvm.func @main(
// CHECK:         llvm.intr.exp
// CHECK:       llvm.func @_mlir_ciface_main(
// CHECK-NOT:   "tn.

// LLVMIR:     define void @main(ptr
// LLVMIR:       call float @llvm.exp.f32(
// LLVMIR:     define void @_mlir_ciface_main(ptr
// LLVMIR-NOT: define
// LLVMIR:     declare float @llvm.exp.f32(float)
func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>) -> tensor<2x3xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tn.broadcast_to"(%arg1) {shape = array<i64: 2, 3>} : (tensor<3xf32>) -> tensor<2x3xf32>
  %2 = "tn.mul"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %2 : tensor<2x3xf32>
}
