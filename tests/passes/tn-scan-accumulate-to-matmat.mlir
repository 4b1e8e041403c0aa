// RUN: theanir-opt %s --tn-scan-accumulate-to-matmat | FileCheck %s

// A backward loop as reverse mode writes it: dW accumulates the outer product x_i^T * d_i
// at every step. The carry becomes a pass-through (dead), the factors are stacked as vectors,
// and one [3, 5] x [5, 4] product after the loop replaces the five rank-1 updates.
// CHECK-LABEL: func.func @outer_products
// CHECK:         %[[R:.+]]:4 = "tn.scan"
// CHECK:           %[[PV:.+]] = "tn.reshape"(%{{.+}}) {shape = array<i64: 3>}
// CHECK:           %[[QV:.+]] = "tn.reshape"(%{{.+}}) {shape = array<i64: 4>}
// CHECK:           gpu.yield %{{.+}}, %{{.+}}, %[[PV]], %[[QV]]
// CHECK:         length = 5
// CHECK-SAME:    -> (tensor<4xf32>, tensor<3x4xf32>, tensor<5x3xf32>, tensor<5x4xf32>)
// CHECK:         %[[PT:.+]] = "tn.transpose"(%[[R]]#2) {perm = array<i64: 1, 0>}
// CHECK:         %[[G:.+]] = "tn.matmul"(%[[PT]], %[[R]]#3) : (tensor<3x5xf32>, tensor<5x4xf32>) -> tensor<3x4xf32>
// CHECK:         %[[ACC:.+]] = "tn.add"(%arg2, %[[G]])
// CHECK:         return %[[R]]#0, %[[ACC]]
func.func @outer_products(%xs: tensor<5x3xf32>, %ds: tensor<5x4xf32>, %w0: tensor<3x4xf32>) -> (tensor<4xf32>, tensor<3x4xf32>) {
  %n = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %z = "tn.constant"() {value = dense<0.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %r:2 = "tn.scan"(%n, %z, %w0) ({
  ^bb0(%i: tensor<i64>, %s: tensor<4xf32>, %acc: tensor<3x4xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
    %d = "tn.take"(%ds, %i) {axis = 0 : i64} : (tensor<5x4xf32>, tensor<i64>) -> tensor<4xf32>
    %xr = "tn.reshape"(%x) {shape = array<i64: 3, 1>} : (tensor<3xf32>) -> tensor<3x1xf32>
    %dr = "tn.reshape"(%d) {shape = array<i64: 1, 4>} : (tensor<4xf32>) -> tensor<1x4xf32>
    %o = "tn.matmul"(%xr, %dr) : (tensor<3x1xf32>, tensor<1x4xf32>) -> tensor<3x4xf32>
    %acc2 = "tn.add"(%acc, %o) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
    %s2 = "tn.add"(%s, %d) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    gpu.yield %s2, %acc2 : tensor<4xf32>, tensor<3x4xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<4xf32>, tensor<3x4xf32>) -> (tensor<4xf32>, tensor<3x4xf32>)
  return %r#0, %r#1 : tensor<4xf32>, tensor<3x4xf32>
}

// Negative: the accumulator is read elsewhere in the body (its running value matters), and
// a loop with a traced trip count has no bound for the stacks: both stay as they are.
// CHECK-LABEL: func.func @not_rewritten
// CHECK:         "tn.scan"
// CHECK:           "tn.matmul"
// CHECK:           "tn.mul"
// CHECK:         "tn.scan"
// CHECK:           "tn.matmul"
// CHECK-NOT:     "tn.transpose"
func.func @not_rewritten(%xs: tensor<5x3xf32>, %w0: tensor<3x3xf32>, %t: tensor<i64>) -> (tensor<3x3xf32>, tensor<3x3xf32>) {
  %n = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n, %w0) ({
  ^bb0(%i: tensor<i64>, %acc: tensor<3x3xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
    %xr = "tn.reshape"(%x) {shape = array<i64: 3, 1>} : (tensor<3xf32>) -> tensor<3x1xf32>
    %xc = "tn.reshape"(%x) {shape = array<i64: 1, 3>} : (tensor<3xf32>) -> tensor<1x3xf32>
    %o = "tn.matmul"(%xr, %xc) : (tensor<3x1xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
    %sq = "tn.mul"(%acc, %acc) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    %acc2 = "tn.add"(%sq, %o) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    gpu.yield %acc2 : tensor<3x3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3x3xf32>) -> tensor<3x3xf32>
  %r2 = "tn.scan"(%t, %w0) ({
  ^bb0(%i: tensor<i64>, %acc: tensor<3x3xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
    %xr = "tn.reshape"(%x) {shape = array<i64: 3, 1>} : (tensor<3xf32>) -> tensor<3x1xf32>
    %xc = "tn.reshape"(%x) {shape = array<i64: 1, 3>} : (tensor<3xf32>) -> tensor<1x3xf32>
    %o = "tn.matmul"(%xr, %xc) : (tensor<3x1xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
    %acc2 = "tn.add"(%acc, %o) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    gpu.yield %acc2 : tensor<3x3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3x3xf32>) -> tensor<3x3xf32>
  return %r, %r2 : tensor<3x3xf32>, tensor<3x3xf32>
}

// Dynamic shapes: a loop over the rows of a sequence of dynamic length (n_steps = its dim 0)
// stacks one row per step that ran (length -1) and does one [3, ?] x [?, 3] product after it.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK:         %[[R:.+]]:3 = "tn.scan"
// CHECK:         }) {length = -1 : i64{{.*}} -> (tensor<3x3xf32>, tensor<?x3xf32>, tensor<?x3xf32>)
// CHECK:         %[[T:.+]] = "tn.transpose"(%[[R]]#1) {{.*}} -> tensor<3x?xf32>
// CHECK:         %[[P:.+]] = "tn.matmul"(%[[T]], %[[R]]#2) {{.*}} -> tensor<3x3xf32>
// CHECK:         "tn.add"(%{{.+}}, %[[P]])
func.func @dynamic_rows(%xs: tensor<?x3xf32>, %w0: tensor<3x3xf32>) -> tensor<3x3xf32> {
  %n = "tn.dim"(%xs) {axis = 0 : i64} : (tensor<?x3xf32>) -> tensor<i64>
  %r = "tn.scan"(%n, %w0) ({
  ^bb0(%i: tensor<i64>, %acc: tensor<3x3xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<?x3xf32>, tensor<i64>) -> tensor<3xf32>
    %xr = "tn.reshape"(%x) {shape = array<i64: 3, 1>} : (tensor<3xf32>) -> tensor<3x1xf32>
    %xc = "tn.reshape"(%x) {shape = array<i64: 1, 3>} : (tensor<3xf32>) -> tensor<1x3xf32>
    %o = "tn.matmul"(%xr, %xc) : (tensor<3x1xf32>, tensor<1x3xf32>) -> tensor<3x3xf32>
    %acc2 = "tn.add"(%acc, %o) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
    gpu.yield %acc2 : tensor<3x3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3x3xf32>) -> tensor<3x3xf32>
  return %r : tensor<3x3xf32>
}
