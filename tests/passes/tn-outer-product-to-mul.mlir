// RUN: theanir-opt %s --tn-outer-product-to-mul | FileCheck %s

// An outer product ([3, 16] = [3, 1] @ [1, 16]) is an elementwise product of broadcasts (it
// then fuses with its consumer); a product with an inner dimension of 2 stays a matmul, and
// so does an outer product with rows shorter than 16 (the small-gemm kernel vectorizes it).
// CHECK-LABEL: func.func @outer_product
// CHECK-DAG:     %[[A:.+]] = "tn.broadcast_to"(%arg0) {shape = array<i64: 3, 16>}
