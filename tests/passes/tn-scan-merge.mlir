// RUN: theanir-opt %s --tn-scan-merge | FileCheck %s

// Two independent loops over the same n_steps and length: one loop, carries first (the first
// scan's, then the second's), then the stacked outputs; every use follows its result. The
// op between them that reads the first one's result moves after the merged loop.
// CHECK-LABEL: func.func @independent
// CHECK:         %[[R:.+]]:4 = "tn.scan"(%{{.+}}, %arg1, %arg2) ({
// CHECK-NEXT:    ^bb0(%[[I:[a-z0-9]+]]: tensor<i64>, %[[A:[a-z0-9]+]]: tensor<3xf32>, %[[B:[a-z0-9]+]]: tensor<2xf64>):
// CHECK-NEXT:      %[[X:.+]] = "tn.take"(%arg0, %[[I]])
// CHECK-NEXT:      %[[A1:.+]] = "tn.add"(%[[A]], %[[X]])
// CHECK-NEXT:      %[[B1:.+]] = "tn.exp"(%[[B]])
// CHECK-NEXT:      %[[X2:.+]] = "tn.take"(%arg0, %[[I]])
// CHECK-NEXT:      gpu.yield %[[A1]], %[[B1]], %[[A1]], %[[X2]]
// CHECK:         (tensor<i64>, tensor<3xf32>, tensor<2xf64>) -> (tensor<3xf32>, tensor<2xf64>, tensor<5x3xf32>, tensor<5x3xf32>)
// CHECK-NEXT:    %[[T:.+]] = "tn.tanh"(%[[R]]#0)
// CHECK-NEXT:    return %[[T]], %[[R]]#1, %[[R]]#2, %[[R]]#3
func.func @independent(%xs: tensor<5x3xf32>, %a0: tensor<3xf32>, %b0: tensor<2xf64>) -> (tensor<3xf32>, tensor<2xf64>, tensor<5x3xf32>, tensor<5x3xf32>) {
  %n = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %a:2 = "tn.scan"(%n, %a0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
    %s = "tn.add"(%c, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s, %s : tensor<3xf32>, tensor<3xf32>
  }) {length = 5 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> (tensor<3xf32>, tensor<5x3xf32>)
  %t = "tn.tanh"(%a#0) : (tensor<3xf32>) -> tensor<3xf32>
  %b:2 = "tn.scan"(%n, %b0) ({
  ^bb0(%j: tensor<i64>, %d: tensor<2xf64>):
    %e = "tn.exp"(%d) : (tensor<2xf64>) -> tensor<2xf64>
    %x2 = "tn.take"(%xs, %j) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
    gpu.yield %e, %x2 : tensor<2xf64>, tensor<3xf32>
  }) {length = 5 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<2xf64>) -> (tensor<2xf64>, tensor<5x3xf32>)
  return %t, %b#0, %a#1, %b#1 : tensor<3xf32>, tensor<2xf64>, tensor<5x3xf32>, tensor<5x3xf32>
}

// Three loops with no stacked outputs and one traced trip count merge into one.
// CHECK-LABEL: func.func @three_traced
// CHECK-COUNT-1: "tn.scan"(%arg0, %arg1, %arg1, %arg1)
// CHECK-NOT:     "tn.scan"
func.func @three_traced(%n: tensor<i64>, %c0: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %a = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  %b = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.sin"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  %c = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %cc: tensor<3xf32>):
    %s = "tn.cos"(%cc) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  return %a, %b, %c : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// Not merged: different lengths; the second loop's body reads (captures) a value computed
// from the first one's result; a do-while loop (until).
// CHECK-LABEL: func.func @different_lengths
// CHECK-COUNT-2: "tn.scan"
// CHECK-LABEL: func.func @dependent
// CHECK-COUNT-2: "tn.scan"
// CHECK-LABEL: func.func @do_while
// CHECK-COUNT-2: "tn.scan"
func.func @different_lengths(%x: tensor<3xf32>) -> (tensor<4x3xf32>, tensor<5x3xf32>) {
  %n = "tn.constant"() {value = dense<4> : tensor<i64>} : () -> tensor<i64>
  %a = "tn.scan"(%n) ({
  ^bb0(%i: tensor<i64>):
    gpu.yield %x : tensor<3xf32>
  }) {length = 4 : i64, until = false, operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>) -> tensor<4x3xf32>
  %b = "tn.scan"(%n) ({
  ^bb0(%i: tensor<i64>):
    gpu.yield %x : tensor<3xf32>
  }) {length = 5 : i64, until = false, operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>) -> tensor<5x3xf32>
  return %a, %b : tensor<4x3xf32>, tensor<5x3xf32>
}
func.func @dependent(%n: tensor<i64>, %c0: tensor<3xf32>) -> tensor<3xf32> {
  %a = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  %t = "tn.tanh"(%a) : (tensor<3xf32>) -> tensor<3xf32>
  %b = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.add"(%c, %t) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  return %b : tensor<3xf32>
}
func.func @do_while(%n: tensor<i64>, %c0: tensor<3xf32>, %p: tensor<i1>) -> (tensor<3xf32>, tensor<3xf32>) {
  %a = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s, %p : tensor<3xf32>, tensor<i1>
  }) {length = 0 : i64, until = true, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  %b = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.sin"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s : tensor<3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
  return %a, %b : tensor<3xf32>, tensor<3xf32>
}
