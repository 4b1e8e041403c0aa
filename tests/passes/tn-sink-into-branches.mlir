// RUN: theanir-opt %s --tn-sink-into-branches | FileCheck %s

// The exp is used only by the first branch and the tanh only by the second: each moves into
// its branch, so the untaken one computes nothing. The sum feeds the predicate and both
// branches use %arg0: they stay where they are.
// CHECK-LABEL: func.func @lazy
// CHECK:         "tn.reduce_sum"
// CHECK-NOT:     "tn.exp"
// CHECK:         "tn.cond"
// CHECK:         "tn.exp"(%arg0)
// CHECK:         gpu.yield
// CHECK:         "tn.tanh"(%arg0)
// CHECK:         gpu.yield
func.func @lazy(%arg0: tensor<3xf32>) -> tensor<3xf32> {
  %e = "tn.exp"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
  %t = "tn.tanh"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
  %z = "tn.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %s = "tn.reduce_sum"(%arg0) {axes = array<i64: 0>, keepdims = false} : (tensor<3xf32>) -> tensor<f32>
  %p = "tn.gt"(%s, %z) : (tensor<f32>, tensor<f32>) -> tensor<i1>
  %r = "tn.cond"(%p) ({
    gpu.yield %e : tensor<3xf32>
  }, {
    gpu.yield %t : tensor<3xf32>
  }) {resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i1>) -> tensor<3xf32>
  return %r : tensor<3xf32>
}
