// RUN: theanir-opt %s --tn-outer-product-to-mul | FileCheck %s

// An outer product ([3, 16] = [3, 1] @ [1, 16]) is an elementwise product of broadcasts (it
// then fuses with its consumer); a product with an inner dimension of 2 stays a matmul, and
// so does an outer product with rows shorter than 16 (the small-gemm kernel vectorizes it).
// CHECK-LABEL: func.func @outer_product
// CHECK-DAG:     %[[A:.+]] = "tn.broadcast_to"(%arg0) {shape = array<i64: 3, 16>}
// CHECK-DAG:     %[[B:.+]] = "tn.broadcast_to"(%arg1) {shape = array<i64: 3, 16>}
// CHECK:         %[[M:.+]] = "tn.mul"(%[[A]], %[[B]])
// CHECK:         %[[N:.+]] = "tn.matmul"(%arg2, %arg3)
// CHECK:         %[[S:.+]] = "tn.matmul"(%arg0, %arg4)
// CHECK:         return %[[M]], %[[N]], %[[S]]
func.func @outer_product(%arg0: tensor<3x1xf32>, %arg1: tensor<1x16xf32>, %arg2: tensor<3x2xf32>, %arg3: tensor<2x4xf32>, %arg4: tensor<1x15xf32>) -> (tensor<3x16xf32>, tensor<3x4xf32>, tensor<3x15xf32>) {
  %0 = "tn.matmul"(%arg0, %arg1) : (tensor<3x1xf32>, tensor<1x16xf32>) -> tensor<3x16xf32>
  %1 = "tn.matmul"(%arg2, %arg3) : (tensor<3x2xf32>, tensor<2x4xf32>) -> tensor<3x4xf32>
  %2 = "tn.matmul"(%arg0, %arg4) : (tensor<3x1xf32>, tensor<1x15xf32>) -> tensor<3x15xf32>
  return %0, %1, %2 : tensor<3x16xf32>, tensor<3x4xf32>, tensor<3x15xf32>
}
