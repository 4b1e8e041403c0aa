// RUN: theanir-opt %s --convert-tn-to-linalg | FileCheck %s
// RUN: theanir-opt %s --tn-to-linalg | FileCheck %s

// Every tn op becomes linalg/tensor/arith/math; the function signature is unchanged.
// CHECK-LABEL: func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>) -> tensor<2x3xf64>
// CHECK-NOT:     "tn.
// CHECK:         linalg.generic
// CHECK:           math.exp
// CHECK:         linalg.generic
// CHECK:           arith.addf
// CHECK:           math.tanh
// CHECK:           arith.extf {{.*}} : f32 to f64
// CHECK-NOT:     "tn.
// CHECK:         return {{.*}} : tensor<2x3xf64>
func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>) -> tensor<2x3xf64> {
  %0 = "tn.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tn.broadcast_to"(%arg1) {shape = array<i64: 2, 3>} : (tensor<3xf32>) -> tensor<2x3xf32>
  %2 = "tn.add"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = "tn.tanh"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tn.cast"(%3) {dtype = f64} : (tensor<2x3xf32>) -> tensor<2x3xf64>
  return %4 : tensor<2x3xf64>
}
