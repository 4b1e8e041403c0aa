// RUN: theanir-opt %s --tn-scan-inline | FileCheck %s

// One step (n_steps = 1, length 1): the body runs at index 0 on the initial carry; the
// stacked output is its one row, with a leading axis of 1.
// CHECK-LABEL: func.func @one_step
// CHECK-NOT:     tn.scan
// CHECK:         %[[I:.+]] = "tn.constant"() {value = dense<0> : tensor<i64>}
// CHECK:         %[[X:.+]] = "tn.take"(%arg0, %[[I]]) {axis = 0 : i64}
// CHECK:         %[[S:.+]] = "tn.add"(%arg1, %[[X]])
// CHECK:         %[[Y:.+]] = "tn.reshape"(%[[S]]) {shape = array<i64: 1, 3>}
// CHECK:         return %[[S]], %[[Y]]
func.func @one_step(%xs: tensor<1x3xf32>, %c0: tensor<3xf32>) -> (tensor<3xf32>, tensor<1x3xf32>) {
  %n = "tn.constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
  %r:2 = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<1x3xf32>, tensor<i64>) -> tensor<3xf32>
    %s = "tn.add"(%c, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s, %s : tensor<3xf32>, tensor<3xf32>
  }) {length = 1 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> (tensor<3xf32>, tensor<1x3xf32>)
  return %r#0, %r#1 : tensor<3xf32>, tensor<1x3xf32>
}

// A do-while (until) capped at length 1 runs its first step whatever the stop flag says.
// CHECK-LABEL: func.func @do_while_one_row
// CHECK-NOT:     tn.scan
// CHECK:         %[[S:.+]] = "tn.mul"(%arg0, %arg0)
// CHECK:         %[[Y:.+]] = "tn.reshape"(%[[S]]) {shape = array<i64: 1, 2>}
// CHECK:         return %[[S]], %[[Y]]
func.func @do_while_one_row(%c0: tensor<2xf64>) -> (tensor<2xf64>, tensor<1x2xf64>) {
  %n = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %r:2 = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<2xf64>):
    %s = "tn.mul"(%c, %c) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
    %t = "tn.reduce_sum"(%s) {axes = array<i64: 0>, keepdims = false} : (tensor<2xf64>) -> tensor<f64>
    %z = "tn.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
    %stop = "tn.gt"(%t, %z) : (tensor<f64>, tensor<f64>) -> tensor<i1>
    gpu.yield %s, %s, %stop : tensor<2xf64>, tensor<2xf64>, tensor<i1>
  }) {length = 1 : i64, until = true, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<2xf64>) -> (tensor<2xf64>, tensor<1x2xf64>)
  return %r#0, %r#1 : tensor<2xf64>, tensor<1x2xf64>
}

// One step over 3 rows: the rows after it repeat the executed row (a broadcast).
// CHECK-LABEL: func.func @one_step_three_rows
// CHECK-NOT:     tn.scan
// CHECK:         %[[Y:.+]] = "tn.reshape"(%{{.+}}) {shape = array<i64: 1, 2>}
// CHECK:         %[[B:.+]] = "tn.broadcast_to"(%[[Y]]) {shape = array<i64: 3, 2>}
// CHECK:         return %[[B]]
func.func @one_step_three_rows(%x: tensor<2xf32>) -> tensor<3x2xf32> {
  %n = "tn.constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n) ({
  ^bb0(%i: tensor<i64>):
    %e = "tn.exp"(%x) : (tensor<2xf32>) -> tensor<2xf32>
    gpu.yield %e : tensor<2xf32>
  }) {length = 3 : i64, until = false, operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>) -> tensor<3x2xf32>
  return %r : tensor<3x2xf32>
}

// No step (n_steps <= 0): the carries keep their initial values, the stacked rows are zeros.
// CHECK-LABEL: func.func @no_step
// CHECK-NOT:     tn.scan
// CHECK:         %[[Z:.+]] = "tn.constant"() {value = dense<0.000000e+00> : tensor<f32>}
// CHECK:         %[[B:.+]] = "tn.broadcast_to"(%[[Z]]) {shape = array<i64: 4, 3>}
// CHECK:         return %arg0, %[[B]]
func.func @no_step(%c0: tensor<3xf32>) -> (tensor<3xf32>, tensor<4x3xf32>) {
  %n = "tn.constant"() {value = dense<-2> : tensor<i64>} : () -> tensor<i64>
  %r:2 = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s, %s : tensor<3xf32>, tensor<3xf32>
  }) {length = 4 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> (tensor<3xf32>, tensor<4x3xf32>)
  return %r#0, %r#1 : tensor<3xf32>, tensor<4x3xf32>
}

// Not inlined: two steps, or a trip count known only at run time.
// CHECK-LABEL: func.func @two_steps
// CHECK:         "tn.scan"
// CHECK-LABEL: func.func @traced_steps
// CHECK:         "tn.scan"
func.func @two_steps(%c0: tensor<3xf32>) -> tensor<3xf32> {
  %n = "tn.constant"() {value = dense<2> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  return %r : tensor<3xf32>
}
func.func @traced_steps(%n: tensor<i64>, %c0: tensor<3xf32>) -> tensor<3xf32> {
  %r = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  return %r : tensor<3xf32>
}
