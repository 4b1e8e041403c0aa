// RUN: theanir-opt %s --tn-dce | FileCheck %s

// Unused pure tn ops die, a whole dead chain in one sweep; what the return reads stays.
// CHECK-LABEL: func.func @dead_chain
// CHECK-NEXT:    %[[T:.+]] = "tn.tanh"(%arg0)
// CHECK-NEXT:    return %[[T]]
func.func @dead_chain(%arg0: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
  %1 = "tn.mul"(%0, %0) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %2 = "tn.cast"(%1) {dtype = f64} : (tensor<3xf32>) -> tensor<3xf64>
  %3 = "tn.tanh"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
  return %3 : tensor<3xf32>
}

// Ops that are used, even only by another live op, are kept; non-tn ops are not touched.
// CHECK-LABEL: func.func @live
// CHECK:         "tn.constant"
// CHECK:         "tn.broadcast_to"
// CHECK:         "tn.add"
// CHECK:         arith.constant
// CHECK:         return
func.func @live(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %c = "tn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %b = "tn.broadcast_to"(%c) {shape = array<i64: 2, 3>} : (tensor<f32>) -> tensor<2x3xf32>
  %0 = "tn.add"(%arg0, %b) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %unused = arith.constant 1.0 : f32
  return %0 : tensor<2x3xf32>
}

// tn.print has an effect: it stays although nothing reads its result.
// CHECK-LABEL: func.func @unused_print
// CHECK-NEXT:    "tn.print"(%arg0)
// CHECK-NEXT:    return %arg0
func.func @unused_print(%arg0: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tn.print"(%arg0) {message = "{}", what = "shape"} : (tensor<3xf32>) -> tensor<3xf32>
  return %arg0 : tensor<3xf32>
}
