// RUN: theanir-opt %s --tn-expand-composites | FileCheck %s
// RUN: not theanir-opt %s --convert-tn-to-linalg 2>&1 | FileCheck %s --check-prefix=LOWER

// logsumexp is a composite: it expands into its max-shifted form in tn ops; lowering alone
// refuses it and names the pass to run first.
// CHECK-LABEL: func.func @logsumexp
// CHECK-NOT:     "tn.logsumexp"
// CHECK:         "tn.reduce_max"
// CHECK:         "tn.exp"
// CHECK:         "tn.reduce_sum"
// CHECK:         "tn.log"
// CHECK:         return
// LOWER: error: convert-tn-to-linalg: tn.logsumexp is a composite: run tn-expand-composites before convert-tn-to-linalg
func.func @logsumexp(%arg0: tensor<3x4xf32>) -> tensor<3xf32> {
  %0 = "tn.logsumexp"(%arg0) {axes = array<i64: 1>, keepdims = false} : (tensor<3x4xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
