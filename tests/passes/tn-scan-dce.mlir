// RUN: theanir-opt %s --tn-scan-dce | FileCheck %s

// The unused stacked output goes with the exp only it needed; the step counter (a carry whose
// final value is unused and whose argument feeds only its own next value) goes too.
// CHECK-LABEL: func.func @unused_output_and_counter
// CHECK:         %[[R:.+]] = "tn.scan"(%{{.+}}, %arg1) ({
// CHECK-NEXT:    ^bb0(%[[I:[a-z0-9]+]]: tensor<i64>, %[[C:[a-z0-9]+]]: tensor<3xf32>):
// CHECK-NEXT:      %[[X:.+]] = "tn.take"(%arg0, %[[I]])
// CHECK-NEXT:      %[[S:.+]] = "tn.add"(%[[C]], %[[X]])
// CHECK-NEXT:      gpu.yield %[[S]] : tensor<3xf32>
// CHECK:         (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:    return %[[R]]
func.func @unused_output_and_counter(%xs: tensor<5x3xf32>, %c0: tensor<3xf32>, %k0: tensor<i64>) -> tensor<3xf32> {
  %n = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %r:4 = "tn.scan"(%n, %c0, %k0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>, %k: tensor<i64>):
    %x = "tn.take"(%xs, %i) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
    %s = "tn.add"(%c, %x) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %one = "tn.constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
    %k1 = "tn.add"(%k, %one) : (tensor<i64>, tensor<i64>) -> tensor<i64>
    %e = "tn.exp"(%s) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s, %k1, %e, %x : tensor<3xf32>, tensor<i64>, tensor<3xf32>, tensor<3xf32>
  }) {length = 5 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>, tensor<i64>) -> (tensor<3xf32>, tensor<i64>, tensor<5x3xf32>, tensor<5x3xf32>)
  return %r#0 : tensor<3xf32>
}

// Dropping the last stacked output would lift the trip's cap at `length` (here 4 rows for a
// traced n_steps): the loop then runs min(n_steps, 4) steps.
// CHECK-LABEL: func.func @keeps_the_cap
// CHECK:         %[[L:.+]] = "tn.constant"() {value = dense<4> : tensor<i64>}
// CHECK-NEXT:    %[[N:.+]] = "tn.minimum"(%arg0, %[[L]])
// CHECK-NEXT:    "tn.scan"(%[[N]], %arg1)
// CHECK:         {length = 4 : i64, {{.*}}} : (tensor<i64>, tensor<3xf32>) -> tensor<3xf32>
func.func @keeps_the_cap(%n: tensor<i64>, %c0: tensor<3xf32>) -> tensor<3xf32> {
  %r:2 = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s, %s : tensor<3xf32>, tensor<3xf32>
  }) {length = 4 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> (tensor<3xf32>, tensor<4x3xf32>)
  return %r#0 : tensor<3xf32>
}

// A loop none of whose results is used is erased.
// CHECK-LABEL: func.func @unused_loop
// CHECK-NOT:     "tn.scan"
// CHECK:         return %arg1
func.func @unused_loop(%n: tensor<i64>, %c0: tensor<3xf32>) -> tensor<3xf32> {
  %r:2 = "tn.scan"(%n, %c0) ({
  ^bb0(%i: tensor<i64>, %c: tensor<3xf32>):
    %s = "tn.exp"(%c) : (tensor<3xf32>) -> tensor<3xf32>
    gpu.yield %s, %s : tensor<3xf32>, tensor<3xf32>
  }) {length = 4 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>) -> (tensor<3xf32>, tensor<4x3xf32>)
  return %c0 : tensor<3xf32>
}

// Kept: a carry whose final value is unused but whose argument feeds a used output (%a), and
// one the stop flag of a do-while loop reads (%t); the used output stays.
// CHECK-LABEL: func.func @live_through_body
// CHECK:         "tn.scan"(%{{.+}}, %arg0, %arg1) ({
// CHECK:           gpu.yield %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : tensor<3xf32>, tensor<f32>, tensor<3xf32>, tensor<i1>
// CHECK:         (tensor<i64>, tensor<3xf32>, tensor<f32>) -> (tensor<3xf32>, tensor<f32>, tensor<6x3xf32>)
func.func @live_through_body(%a0: tensor<3xf32>, %t0: tensor<f32>) -> tensor<6x3xf32> {
  %n = "tn.constant"() {value = dense<6> : tensor<i64>} : () -> tensor<i64>
  %r:3 = "tn.scan"(%n, %a0, %t0) ({
  ^bb0(%i: tensor<i64>, %a: tensor<3xf32>, %t: tensor<f32>):
    %a1 = "tn.sin"(%a) : (tensor<3xf32>) -> tensor<3xf32>
    %t1 = "tn.exp"(%t) : (tensor<f32>) -> tensor<f32>
    %lim = "tn.constant"() {value = dense<1.0e+03> : tensor<f32>} : () -> tensor<f32>
    %stop = "tn.gt"(%t, %lim) : (tensor<f32>, tensor<f32>) -> tensor<i1>
    gpu.yield %a1, %t1, %a, %stop : tensor<3xf32>, tensor<f32>, tensor<3xf32>, tensor<i1>
  }) {length = 6 : i64, until = true, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<3xf32>, tensor<f32>) -> (tensor<3xf32>, tensor<f32>, tensor<6x3xf32>)
  return %r#2 : tensor<6x3xf32>
}
