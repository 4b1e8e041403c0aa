// RUN: theanir-opt %s --tn-scan-vecmat-to-matmat | FileCheck %s

// th.lax.scan's form: row i of xs promoted to [1, n], times an invariant W, once per step:
// one [T, n] x [n, m] product before the loop, row i of it read in the body.
// CHECK-LABEL: func.func @vector_rows
// CHECK:         %[[XW:.+]] = "tn.matmul"(%arg0, %arg1) : (tensor<6x4xf32>, tensor<4x5xf32>) -> tensor<6x5xf32>
// CHECK:         "tn.scan"
// CHECK-NEXT:      ^bb0
// CHECK-NEXT:      %[[R:.+]] = "tn.take"(%[[XW]], %{{.+}}) {axis = 0 : i64} : (tensor<6x5xf32>, tensor<i64>) -> tensor<5xf32>
// CHECK-NEXT:         %[[R2:.+]] = "tn.reshape"(%[[R]]) {shape = array<i64: 1, 5>}
// CHECK-NEXT:         "tn.reshape"(%[[R2]]) {shape = array<i64: 5>}
// CHECK-NOT:       "tn.matmul"
// CHECK:           gpu.yield
func.func @vector_rows(%xs: tensor<6x4xf32>, %w: tensor<4x5xf32>, %h0: tensor<5xf32>) -> tensor<6x5xf32> {
  %n = "tn.constant"() {value = dense<6> : tensor<i64>} : () -> tensor<i64>
  %r:2 = "tn.scan"(%n, %h0) ({
  ^bb0(%i: tensor<i64>, %h: tensor<5xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<6x4xf32>, tensor<i64>) -> tensor<4xf32>
    %x2 = "tn.reshape"(%x) {shape = array<i64: 1, 4>} : (tensor<4xf32>) -> tensor<1x4xf32>
    %p = "tn.matmul"(%x2, %w) : (tensor<1x4xf32>, tensor<4x5xf32>) -> tensor<1x5xf32>
    %p1 = "tn.reshape"(%p) {shape = array<i64: 5>} : (tensor<1x5xf32>) -> tensor<5xf32>
    %s = "tn.add"(%p1, %h) : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
    gpu.yield %s, %s : tensor<5xf32>, tensor<5xf32>
  }) {length = 6 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<5xf32>) -> (tensor<5xf32>, tensor<6x5xf32>)
  return %r#1 : tensor<6x5xf32>
}

// th.scan over a batch ([T, B, n], read backwards: index T - 1 - i): the batch folds into
// the rows of one [T*B, n] x [n, m] product, reshaped to [T, B, m].
// CHECK-LABEL: func.func @batch_rows_backwards
// CHECK:         %[[X2:.+]] = "tn.reshape"(%arg0) {shape = array<i64: 18, 4>}
// CHECK:         %[[XW:.+]] = "tn.matmul"(%[[X2]], %arg1) : (tensor<18x4xf64>, tensor<4x5xf64>) -> tensor<18x5xf64>
// CHECK:         %[[XW3:.+]] = "tn.reshape"(%[[XW]]) {shape = array<i64: 6, 3, 5>}
// CHECK:         "tn.scan"
// CHECK-NEXT:      ^bb0
// CHECK-NEXT:      %[[J:.+]] = "tn.sub"
// CHECK-NEXT:      "tn.take"(%[[XW3]], %[[J]]) {axis = 0 : i64} : (tensor<6x3x5xf64>, tensor<i64>) -> tensor<3x5xf64>
// CHECK-NOT:       "tn.matmul"
// CHECK:           gpu.yield
func.func @batch_rows_backwards(%xs: tensor<6x3x4xf64>, %w: tensor<4x5xf64>) -> tensor<6x3x5xf64> {
  %n = "tn.constant"() {value = dense<6> : tensor<i64>} : () -> tensor<i64>
  %last = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n) ({
  ^bb0(%i: tensor<i64>):
    %j = "tn.sub"(%last, %i) : (tensor<i64>, tensor<i64>) -> tensor<i64>
    %x = "tn.take"(%xs, %j) {axis = 0 : i64} : (tensor<6x3x4xf64>, tensor<i64>) -> tensor<3x4xf64>
    %p = "tn.matmul"(%x, %w) : (tensor<3x4xf64>, tensor<4x5xf64>) -> tensor<3x5xf64>
    gpu.yield %p : tensor<3x5xf64>
  }) {length = 6 : i64, until = false, operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>) -> tensor<6x3x5xf64>
  return %r : tensor<6x3x5xf64>
}

// W @ x with x a column ([n, 1]): (x^T W^T)^T, from one xs @ W^T before the loop.
// CHECK-LABEL: func.func @column
// CHECK:         %[[WT:.+]] = "tn.transpose"(%arg1) {perm = array<i64: 1, 0>}
// CHECK:         %[[XW:.+]] = "tn.matmul"(%arg0, %[[WT]]) : (tensor<6x4xf32>, tensor<4x5xf32>) -> tensor<6x5xf32>
// CHECK:         "tn.scan"
// CHECK-NEXT:      ^bb0
// CHECK-NEXT:      %[[R:.+]] = "tn.take"(%[[XW]], %{{.+}})
// CHECK-NEXT:         %[[R2:.+]] = "tn.reshape"(%[[R]]) {shape = array<i64: 1, 5>}
// CHECK-NEXT:         "tn.transpose"(%[[R2]]) {perm = array<i64: 1, 0>} : (tensor<1x5xf32>) -> tensor<5x1xf32>
// CHECK-NOT:       "tn.matmul"
// CHECK:           gpu.yield
func.func @column(%xs: tensor<6x4xf32>, %w: tensor<5x4xf32>) -> tensor<6x5x1xf32> {
  %n = "tn.constant"() {value = dense<6> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n) ({
  ^bb0(%i: tensor<i64>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<6x4xf32>, tensor<i64>) -> tensor<4xf32>
    %x2 = "tn.reshape"(%x) {shape = array<i64: 4, 1>} : (tensor<4xf32>) -> tensor<4x1xf32>
    %p = "tn.matmul"(%w, %x2) : (tensor<5x4xf32>, tensor<4x1xf32>) -> tensor<5x1xf32>
    gpu.yield %p : tensor<5x1xf32>
  }) {length = 6 : i64, until = false, operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>) -> tensor<6x5x1xf32>
  return %r : tensor<6x5x1xf32>
}

// Elementwise ops on a row go first, in body order: exp(x_i) * c becomes row i of
// exp(xs) * broadcast_to(c); the add of the carry stays.
// CHECK-LABEL: func.func @elementwise_rows
// CHECK:         %[[E:.+]] = "tn.exp"(%arg0) : (tensor<6x4xf32>) -> tensor<6x4xf32>
// CHECK-NEXT:    %[[B:.+]] = "tn.broadcast_to"(%arg1) {shape = array<i64: 6, 4>}
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%[[E]], %[[B]]) : (tensor<6x4xf32>, tensor<6x4xf32>) -> tensor<6x4xf32>
// CHECK-NEXT:    "tn.scan"
// CHECK-NEXT:    ^bb0(%[[I:[a-z0-9]+]]: tensor<i64>, %[[H:[a-z0-9]+]]: tensor<4xf32>):
// CHECK-NEXT:      %[[R:.+]] = "tn.take"(%[[M]], %[[I]]) {axis = 0 : i64}
// CHECK-NEXT:      %[[S:.+]] = "tn.add"(%[[H]], %[[R]])
// CHECK-NEXT:      gpu.yield %[[S]]
func.func @elementwise_rows(%xs: tensor<6x4xf32>, %c: tensor<4xf32>, %h0: tensor<4xf32>) -> tensor<4xf32> {
  %n = "tn.constant"() {value = dense<6> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n, %h0) ({
  ^bb0(%i: tensor<i64>, %h: tensor<4xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<6x4xf32>, tensor<i64>) -> tensor<4xf32>
    %e = "tn.exp"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    %m = "tn.mul"(%e, %c) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %s = "tn.add"(%h, %m) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    gpu.yield %s : tensor<4xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// Not rewritten: the matrix is the carry (not invariant); xs has 100 rows for 2 steps (the
// product of every row would cost 50 steps' worth), nor is the exp of its row.
// CHECK-LABEL: func.func @variant_matrix
// CHECK:         "tn.scan"
// CHECK:           "tn.matmul"(%{{.+}}, %{{.+}}) : (tensor<1x4xf32>, tensor<4x4xf32>)
// CHECK-LABEL: func.func @few_steps
// CHECK:         "tn.scan"
// CHECK:           "tn.exp"(%{{.+}}) : (tensor<4xf32>)
// CHECK:           "tn.matmul"(%{{.+}}, %arg1) : (tensor<1x4xf32>, tensor<4x4xf32>)
func.func @variant_matrix(%xs: tensor<6x4xf32>, %w0: tensor<4x4xf32>) -> tensor<6x1x4xf32> {
  %n = "tn.constant"() {value = dense<6> : tensor<i64>} : () -> tensor<i64>
  %r:2 = "tn.scan"(%n, %w0) ({
  ^bb0(%i: tensor<i64>, %w: tensor<4x4xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<6x4xf32>, tensor<i64>) -> tensor<4xf32>
    %x2 = "tn.reshape"(%x) {shape = array<i64: 1, 4>} : (tensor<4xf32>) -> tensor<1x4xf32>
    %p = "tn.matmul"(%x2, %w) : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
    %w2 = "tn.mul"(%w, %w) : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    gpu.yield %w2, %p : tensor<4x4xf32>, tensor<1x4xf32>
  }) {length = 6 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<6x1x4xf32>)
  return %r#1 : tensor<6x1x4xf32>
}
func.func @few_steps(%xs: tensor<100x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x1x4xf32> {
  %n = "tn.constant"() {value = dense<2> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n) ({
  ^bb0(%i: tensor<i64>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<100x4xf32>, tensor<i64>) -> tensor<4xf32>
    %ex = "tn.exp"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    %x2 = "tn.reshape"(%ex) {shape = array<i64: 1, 4>} : (tensor<4xf32>) -> tensor<1x4xf32>
    %p = "tn.matmul"(%x2, %w) : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
    gpu.yield %p : tensor<1x4xf32>
  }) {length = 2 : i64, until = false, operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>) -> tensor<2x1x4xf32>
  return %r : tensor<2x1x4xf32>
}

// Dynamic shapes: a scan over every row of a sequence of dynamic length (n_steps = its dim 0)
// gets the one [?, 3] x [3, 4] product before the loop too.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK:         %[[P:.+]] = "tn.matmul"(%{{.+}}, %{{.+}}) : (tensor<?x3xf32>, tensor<3x4xf32>) -> tensor<?x4xf32>
// CHECK:         "tn.scan"
// CHECK:           "tn.take"(%[[P]], %{{.+}})
// CHECK-NOT:       "tn.matmul"
// CHECK:           gpu.yield
func.func @dynamic_rows(%xs: tensor<?x3xf32>, %w: tensor<3x4xf32>, %h0: tensor<1x4xf32>) -> tensor<1x4xf32> {
  %n = "tn.dim"(%xs) {axis = 0 : i64} : (tensor<?x3xf32>) -> tensor<i64>
  %r = "tn.scan"(%n, %h0) ({
  ^bb0(%i: tensor<i64>, %h: tensor<1x4xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<?x3xf32>, tensor<i64>) -> tensor<3xf32>
    %xr = "tn.reshape"(%x) {shape = array<i64: 1, 3>} : (tensor<3xf32>) -> tensor<1x3xf32>
    %y = "tn.matmul"(%xr, %w) : (tensor<1x3xf32>, tensor<3x4xf32>) -> tensor<1x4xf32>
    %h2 = "tn.add"(%h, %y) : (tensor<1x4xf32>, tensor<1x4xf32>) -> tensor<1x4xf32>
    gpu.yield %h2 : tensor<1x4xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<1x4xf32>) -> tensor<1x4xf32>
  return %r : tensor<1x4xf32>
}
