// RUN: theanir-opt %s --convert-tn-to-linalg | FileCheck %s
// RUN: theanir-opt %s --tn-to-linalg | FileCheck %s

// Every tn op becomes linalg/tensor/arith/math; the function signature is unchanged.
// float32 exp and tanh are arithmetic (a polynomial, 2^n from exponent bits; a rational
// function), not libm calls, so their loops vectorize.
// CHECK-LABEL: func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>) -> tensor<2x3xf64>
// CHECK-NOT:     "tn.
// CHECK:         linalg.generic
// CHECK-NOT:       math.exp
// CHECK:           math.roundeven
// CHECK:           arith.bitcast {{.*}} : i32 to f32
// CHECK:         linalg.generic
// CHECK:           arith.addf
// CHECK-NOT:       math.tanh
// CHECK:           math.fma
// CHECK:           arith.divf
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

// float64 keeps libm's exp and tanh.
// CHECK-LABEL: func.func @f64
// CHECK:           math.exp
// CHECK:           math.tanh
func.func @f64(%arg0: tensor<4xf64>) -> tensor<4xf64> {
  %0 = "tn.exp"(%arg0) : (tensor<4xf64>) -> tensor<4xf64>
  %1 = "tn.tanh"(%0) : (tensor<4xf64>) -> tensor<4xf64>
  return %1 : tensor<4xf64>
}
