// RUN: theanir-opt %s --tn-canonicalize | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(tn-canonicalize)' | FileCheck %s

// For now tn-canonicalize is tn-verify + tn-cse + tn-dce (the rewrite phases extend it):
// the duplicate exp merges, the dead tanh dies.
// CHECK-LABEL: func.func @main
// CHECK-NEXT:    %[[E:.+]] = "tn.exp"(%arg0)
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%[[E]], %[[E]])
// CHECK-NEXT:    return %[[M]]
func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.tanh"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  %3 = "tn.mul"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %3 : tensor<4xf32>
}
