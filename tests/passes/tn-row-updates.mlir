// RUN: theanir-opt %s --tn-row-updates | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(tn-row-updates)' | FileCheck %s
// RUN: theanir-opt %s --until-stage=tn-opt --compile-option optimizer=fast_compile | FileCheck %s

// ---------------------------------------------------------------- row updates in place
// acc + scatter_add(u, i) -> index_add(acc, u, i) for a loop-carried acc and a scalar index
// whose scatter is read once (a backward loop accumulating a sequence's cotangent).
// CHECK-LABEL: func.func @add_row_update_in_place
// CHECK:         ^bb0(%[[I:[a-z0-9]+]]: tensor<i64>, %[[ACC:[a-z0-9]+]]: tensor<5x3xf32>):
// CHECK-NEXT:      %[[U:.+]] = "tn.take"(%arg1, %[[I]])
// CHECK-NEXT:      %[[R:.+]] = "tn.index_add"(%[[ACC]], %[[U]], %[[I]]) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<3xf32>, tensor<i64>) -> tensor<5x3xf32>
// CHECK-NEXT:      gpu.yield %[[R]]
// CHECK-NOT:     "tn.scatter_add"
func.func @add_row_update_in_place(%acc0: tensor<5x3xf32>, %us: tensor<5x3xf32>) -> tensor<5x3xf32> {
  %n = "tn.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %r = "tn.scan"(%n, %acc0) ({
  ^bb0(%i: tensor<i64>, %acc: tensor<5x3xf32>):
    %u = "tn.take"(%us, %i) {axis = 0 : i64} : (tensor<5x3xf32>, tensor<i64>) -> tensor<3xf32>
    %s = "tn.scatter_add"(%u, %i) {axis = 0 : i64, dim_size = 5 : i64} : (tensor<3xf32>, tensor<i64>) -> tensor<5x3xf32>
    %a = "tn.add"(%acc, %s) : (tensor<5x3xf32>, tensor<5x3xf32>) -> tensor<5x3xf32>
    gpu.yield %a : tensor<5x3xf32>
  }) {length = 0 : i64, until = false, operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>} : (tensor<i64>, tensor<5x3xf32>) -> tensor<5x3xf32>
  return %r : tensor<5x3xf32>
}

// Kept: outside a loop (the dense add runs once), a scatter read twice (it is built anyway),
// and a vector of indices.
// CHECK-LABEL: func.func @row_updates_kept
// CHECK:         "tn.scatter_add"(%arg1, %arg2)
// CHECK:         "tn.scatter_add"(%arg3, %arg4)
// CHECK-NOT:     "tn.index_add"
func.func @row_updates_kept(%arg0: tensor<5x3xf32>, %arg1: tensor<3xf32>, %arg2: tensor<i64>, %arg3: tensor<2x3xf32>, %arg4: tensor<2xi64>) -> (tensor<5x3xf32>, tensor<5x3xf32>, tensor<5x3xf32>) {
  %0 = "tn.scatter_add"(%arg1, %arg2) {axis = 0 : i64, dim_size = 5 : i64} : (tensor<3xf32>, tensor<i64>) -> tensor<5x3xf32>
  %1 = "tn.add"(%arg0, %0) : (tensor<5x3xf32>, tensor<5x3xf32>) -> tensor<5x3xf32>
  %2 = "tn.scatter_add"(%arg3, %arg4) {axis = 0 : i64, dim_size = 5 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<5x3xf32>
  %3 = "tn.add"(%arg0, %2) : (tensor<5x3xf32>, tensor<5x3xf32>) -> tensor<5x3xf32>
  return %1, %0, %3 : tensor<5x3xf32>, tensor<5x3xf32>, tensor<5x3xf32>
}
