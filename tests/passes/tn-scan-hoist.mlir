// RUN: theanir-opt %s --tn-scan-hoist | FileCheck %s

// An Elman step: the bias broadcast and the product of two captured matrices read no block
// argument, nor does the exp of that product: all three move before the loop, in order. The
// ops reading the carry or the index stay.
// CHECK-LABEL: func.func @elman_step
// CHECK:         %[[B:.+]] = "tn.broadcast_to"(%arg3) {shape = array<i64: 2, 4>}
// CHECK-NEXT:    %[[P:.+]] = "tn.matmul"(%arg2, %arg2)
// CHECK-NEXT:    %[[E:.+]] = "tn.exp"(%[[P]])
// CHECK-NEXT:    "tn.scan"
// CHECK-NEXT:    ^bb0(%[[I:[a-z0-9]+]]: tensor<i64>, %[[H:[a-z0-9]+]]: tensor<2x4xf32>):
// CHECK-NEXT:      %[[X:.+]] = "tn.take"(%arg0, %[[I]])
// CHECK-NEXT:      %[[XW:.+]] = "tn.matmul"(%[[X]], %arg1)
// CHECK-NEXT:      %[[HU:.+]] = "tn.matmul"(%[[H]], %[[E]])
// CHECK-NEXT:      %[[S:.+]] = "tn.add"(%[[XW]], %[[HU]])
// CHECK-NEXT:      %[[T:.+]] = "tn.add"(%[[S]], %[[B]])
// CHECK-NEXT:      %[[Y:.+]] = "tn.tanh"(%[[T]])
// CHECK-NEXT:      gpu.yield %[[Y]], %[[Y]]
func.func @elman_step(%xs: tensor<5x2x3xf32>, %w: tensor<3x4xf32>, %u: tensor<4x4xf32>, %b: tensor<4xf32>, %h0: tensor<2x4xf32>) -> tensor<5x2x4xf32> {
  %n = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %r:2 = "tn.scan"(%n, %h0) ({
  ^bb0(%i: tensor<i64>, %h: tensor<2x4xf32>):
    %bb = "tn.broadcast_to"(%b) {shape = array<i64: 2, 4>} : (tensor<4xf32>) -> tensor<2x4xf32>
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<5x2x3xf32>, tensor<i64>) -> tensor<2x3xf32>
    %xw = "tn.matmul"(%x, %w) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
    %uu = "tn.matmul"(%u, %u) : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    %eu = "tn.exp"(%uu) : (tensor<4x4xf32>) -> tensor<4x4xf32>
    %hu = "tn.matmul"(%h, %eu) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %s = "tn.add"(%xw, %hu) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %t = "tn.add"(%s, %bb) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %y = "tn.tanh"(%t) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    gpu.yield %y, %y : tensor<2x4xf32>, tensor<2x4xf32>
  }) {length = 5 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<5x2x4xf32>)
  return %r#1 : tensor<5x2x4xf32>
}

// Inside a tn.cond branch nothing is pulled out (the branch may not run), though the exp
// there is invariant; a whole tn.cond whose predicate and captures are invariant moves. An
// inner scan hoists into the outer body first, then on out of the outer loop.
// CHECK-LABEL: func.func @nested
// CHECK:         %[[C:.+]] = "tn.cond"(%arg1)
// CHECK:         %[[N:.+]] = "tn.neg"(%arg0)
// CHECK:         "tn.scan"
// CHECK:           "tn.cond"
// CHECK-NEXT:        "tn.exp"(%arg0)
// CHECK:           "tn.scan"
// CHECK-NEXT:      ^bb0
// CHECK-NEXT:        "tn.add"
// CHECK-NEXT:        gpu.yield
func.func @nested(%x: tensor<3xf32>, %p: tensor<i1>, %c0: tensor<3xf32>) -> tensor<3xf32> {
  %n = "tn.constant"() {value = dense<4> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %inv = "tn.cond"(%p) ({
      gpu.yield %x : tensor<3xf32>
    }, {
      gpu.yield %c0 : tensor<3xf32>
    }) {resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i1>) -> tensor<3xf32>
    %z = "tn.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
    %s = "tn.reduce_sum"(%c) {axes = array<i64: 0>, keepdims = false} : (tensor<3xf32>) -> tensor<f32>
    %q = "tn.gt"(%s, %z) : (tensor<f32>, tensor<f32>) -> tensor<i1>
    %v = "tn.cond"(%q) ({
      %e = "tn.exp"(%x) : (tensor<3xf32>) -> tensor<3xf32>
      gpu.yield %e : tensor<3xf32>
    }, {
      gpu.yield %c : tensor<3xf32>
    }) {resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i1>) -> tensor<3xf32>
    %inner = "tn.scan"(%n, %v) ({
    ^bb1(%j: tensor<i64>, %d: tensor<3xf32>):
      %nx = "tn.neg"(%x) : (tensor<3xf32>) -> tensor<3xf32>
      %a = "tn.add"(%d, %nx) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
      gpu.yield %a : tensor<3xf32>
    }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
    %o = "tn.add"(%inner, %inv) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %o : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  return %r : tensor<3xf32>
}
