// RUN: theanir-opt %s --tn-cse | FileCheck %s

// Identical pure tn ops (name, operands, attributes, result types) merge into the first.
// CHECK-LABEL: func.func @same_ops
// CHECK:         %[[E:.+]] = "tn.exp"(%arg0)
// CHECK-NOT:     "tn.exp"
// CHECK:         %[[M:.+]] = "tn.mul"(%[[E]], %[[E]])
// CHECK:         return %[[M]]
func.func @same_ops(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.mul"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %2 : tensor<4xf32>
}

// Merging cascades: once the two exps are one, the two adds over them are identical too.
// CHECK-LABEL: func.func @chain
// CHECK-COUNT-1: "tn.exp"
// CHECK-NOT:     "tn.exp"
// CHECK:         %[[A:.+]] = "tn.add"
// CHECK-NOT:     "tn.add"
// CHECK:         "tn.mul"(%[[A]], %[[A]])
func.func @chain(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.add"(%0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %3 = "tn.add"(%2, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = "tn.mul"(%1, %3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}

// Different operands, operand order or attributes keep ops apart; equal constants merge.
// CHECK-LABEL: func.func @kept_apart
// CHECK:         %[[C:.+]] = "tn.constant"() {value = dense<2.000000e+00> : tensor<f32>}
// CHECK-NEXT:    "tn.constant"() {value = dense<3.000000e+00> : tensor<f32>}
// CHECK-NOT:     "tn.constant"
// CHECK:         "tn.broadcast_to"(%[[C]]) {shape = array<i64: 4>}
// CHECK:         "tn.broadcast_to"(%[[C]]) {shape = array<i64: 2, 4>}
// CHECK:         "tn.add"(%arg0, %arg1)
// CHECK:         "tn.add"(%arg1, %arg0)
func.func @kept_apart(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> (tensor<4xf32>, tensor<2x4xf32>, tensor<f32>, tensor<4xf32>, tensor<4xf32>) {
  %c2 = "tn.constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %c3 = "tn.constant"() {value = dense<3.0> : tensor<f32>} : () -> tensor<f32>
  %c2b = "tn.constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %0 = "tn.broadcast_to"(%c2) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %1 = "tn.broadcast_to"(%c2b) {shape = array<i64: 2, 4>} : (tensor<f32>) -> tensor<2x4xf32>
  %2 = "tn.add"(%arg0, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = "tn.add"(%arg1, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0, %1, %c3, %2, %3 : tensor<4xf32>, tensor<2x4xf32>, tensor<f32>, tensor<4xf32>, tensor<4xf32>
}

// tn.print has an effect: two identical prints both stay (each prints its line).
// CHECK-LABEL: func.func @prints
// CHECK:         "tn.print"(%arg0)
// CHECK:         "tn.print"(%arg0)
func.func @prints(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.print"(%arg0) {message = "{}", what = "value"} : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.print"(%arg0) {message = "{}", what = "value"} : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.add"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %2 : tensor<4xf32>
}
