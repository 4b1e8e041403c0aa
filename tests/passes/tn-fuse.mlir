// RUN: theanir-opt %s --tn-fuse | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(tn-canonicalize,tn-fuse,tn-to-linalg)' \
// RUN:   | FileCheck %s --check-prefix=LOWER
// RUN: theanir-opt %s --pass-pipeline='builtin.module(tn-fuse{min-ops=4})' | FileCheck %s --check-prefix=MIN
// RUN: theanir-opt %s --tn-fuse --compile-option optimizer=fast_compile | FileCheck %s --check-prefix=FASTCOMPILE

// A chain of elementwise ops becomes one tn.fusion, in order, ending in gpu.yield.
// CHECK-LABEL: func.func @chain
// CHECK-NEXT:    %[[F:.+]] = "tn.fusion"() ({
// CHECK-NEXT:      %[[E:.+]] = "tn.exp"(%arg0)
// CHECK-NEXT:      %[[A:.+]] = "tn.add"(%[[E]], %arg1)
// CHECK-NEXT:      %[[T:.+]] = "tn.tanh"(%[[A]])
// CHECK-NEXT:      gpu.yield %[[T]] : tensor<8xf32>
// CHECK-NEXT:    }) : () -> tensor<8xf32>
// CHECK-NEXT:    return %[[F]]
// LOWER-LABEL: func.func @chain
// LOWER-COUNT-1: linalg.generic
// LOWER-NOT:     linalg.generic
// LOWER:         return
func.func @chain(%arg0: tensor<8xf32>, %arg1: tensor<8xf32>) -> tensor<8xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<8xf32>) -> tensor<8xf32>
  %1 = "tn.add"(%0, %arg1) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %2 = "tn.tanh"(%1) : (tensor<8xf32>) -> tensor<8xf32>
  return %2 : tensor<8xf32>
}

// An intermediate used outside the group is not swallowed: %0 is also returned, so it
// stays a tensor and the group that reads it starts after it.
// CHECK-LABEL: func.func @used_outside
// CHECK-NEXT:    %[[E:.+]] = "tn.exp"(%arg0)
// CHECK-NEXT:    %[[F:.+]] = "tn.fusion"() ({
// CHECK-NEXT:      "tn.mul"(%[[E]], %[[E]])
// CHECK-NEXT:      "tn.neg"
// CHECK-NEXT:      gpu.yield
// CHECK-NEXT:    })
// CHECK-NEXT:    return %[[F]], %[[E]]
func.func @used_outside(%arg0: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>) {
  %0 = "tn.exp"(%arg0) : (tensor<8xf32>) -> tensor<8xf32>
  %1 = "tn.mul"(%0, %0) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %2 = "tn.neg"(%1) : (tensor<8xf32>) -> tensor<8xf32>
  return %2, %0 : tensor<8xf32>, tensor<8xf32>
}

// Chain + reduction with broadcast inputs, a bool intermediate and a cast: one tn.fusion,
// lowered to exactly ONE linalg.generic (broadcast as an indexing map, reduction iterator,
// the splat constant folded into the body, no intermediate tensor).
// CHECK-LABEL: func.func @chain_sum
// CHECK:         %[[C:.+]] = "tn.constant"
// CHECK-NEXT:    %[[F:.+]] = "tn.fusion"() ({
// CHECK-NEXT:      "tn.broadcast_to"(%arg1) {shape = array<i64: 3, 4>}
// CHECK-NEXT:      "tn.mul"
// CHECK-NEXT:      "tn.broadcast_to"(%[[C]])
// CHECK-NEXT:      "tn.gt"
// CHECK-NEXT:      "tn.where"
// CHECK-NEXT:      "tn.cast"
// CHECK-NEXT:      "tn.reduce_sum"
// CHECK-NEXT:      gpu.yield {{.*}} : tensor<3xf64>
// CHECK-NEXT:    }) : () -> tensor<3xf64>
// CHECK-NEXT:    return %[[F]]
// LOWER-LABEL: func.func @chain_sum
// LOWER-NOT:     tensor<3x4xi1>
// LOWER:         linalg.fill
// LOWER-NEXT:    linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// LOWER-SAME:      ins(%arg1, %arg0 : tensor<4xf32>, tensor<3x4xf32>)
// LOWER:           arith.mulf
// LOWER:           arith.cmpf ogt
// LOWER:           arith.select
// LOWER:           arith.extf
// LOWER:           arith.addf
// LOWER:           linalg.yield
// LOWER-NOT:     linalg.generic
// LOWER:         return
func.func @chain_sum(%arg0: tensor<3x4xf32>, %arg1: tensor<4xf32>) -> tensor<3xf64> {
  %c = "tn.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %0 = "tn.broadcast_to"(%arg1) {shape = array<i64: 3, 4>} : (tensor<4xf32>) -> tensor<3x4xf32>
  %1 = "tn.mul"(%arg0, %0) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %2 = "tn.broadcast_to"(%c) {shape = array<i64: 3, 4>} : (tensor<f32>) -> tensor<3x4xf32>
  %3 = "tn.gt"(%1, %2) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xi1>
  %4 = "tn.where"(%3, %1, %2) : (tensor<3x4xi1>, tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  %5 = "tn.cast"(%4) {dtype = f64} : (tensor<3x4xf32>) -> tensor<3x4xf64>
  %6 = "tn.reduce_sum"(%5) {axes = array<i64: 1>, keepdims = false} : (tensor<3x4xf64>) -> tensor<3xf64>
  return %6 : tensor<3xf64>
}

// A reduction ends its group: ops consuming it start a new one; a lone op is left alone.
// CHECK-LABEL: func.func @after_reduction
// CHECK-NEXT:    %[[S:.+]] = "tn.fusion"() ({
// CHECK-NEXT:      "tn.exp"(%arg0)
// CHECK-NEXT:      "tn.reduce_max"
// CHECK-NEXT:      gpu.yield
// CHECK-NEXT:    })
// CHECK-NEXT:    %[[F:.+]] = "tn.fusion"() ({
// CHECK-NEXT:      "tn.broadcast_to"(%[[S]])
// CHECK-NEXT:      "tn.sub"(%arg0,
// CHECK-NEXT:      gpu.yield
// CHECK-NEXT:    })
// CHECK-NEXT:    %[[L:.+]] = "tn.log"(%[[S]])
// CHECK-NOT:     "tn.fusion"
// CHECK:         return %[[F]], %[[L]]
func.func @after_reduction(%arg0: tensor<2x5xf32>) -> (tensor<2x5xf32>, tensor<2x1xf32>) {
  %0 = "tn.exp"(%arg0) : (tensor<2x5xf32>) -> tensor<2x5xf32>
  %1 = "tn.reduce_max"(%0) {axes = array<i64: 1>, keepdims = true} : (tensor<2x5xf32>) -> tensor<2x1xf32>
  %2 = "tn.broadcast_to"(%1) {shape = array<i64: 2, 5>} : (tensor<2x1xf32>) -> tensor<2x5xf32>
  %3 = "tn.sub"(%arg0, %2) : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  %4 = "tn.log"(%1) : (tensor<2x1xf32>) -> tensor<2x1xf32>
  return %3, %4 : tensor<2x5xf32>, tensor<2x1xf32>
}

// Ops of other families (matmul) are group boundaries; a second run changes nothing new.
// CHECK-LABEL: func.func @boundary
// CHECK-NEXT:    "tn.fusion"() ({
// CHECK-NEXT:      "tn.exp"
// CHECK-NEXT:      "tn.sqrt"
// CHECK-NEXT:      gpu.yield
// CHECK:         "tn.matmul"
// CHECK-NEXT:    "tn.fusion"() ({
// CHECK-NEXT:      "tn.relu"
// CHECK-NEXT:      "tn.square"
// CHECK-NEXT:      gpu.yield
func.func @boundary(%arg0: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %1 = "tn.sqrt"(%0) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %2 = "tn.matmul"(%1, %1) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %3 = "tn.relu"(%2) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %4 = "tn.square"(%3) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  return %4 : tensor<2x2xf32>
}

// An identity broadcast (autodiff's fresh SSA value) is a plain link of the chain.
// CHECK-LABEL: func.func @identity_broadcast
// CHECK-NEXT:    "tn.fusion"() ({
// CHECK-NEXT:      "tn.exp"(%arg0)
// CHECK-NEXT:      "tn.broadcast_to"
// CHECK-NEXT:      "tn.neg"
// CHECK-NEXT:      gpu.yield
// LOWER-LABEL: func.func @identity_broadcast
// LOWER-COUNT-1: linalg.generic
// LOWER-NOT:     linalg.generic
// LOWER:         return
func.func @identity_broadcast(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.broadcast_to"(%0) {shape = array<i64: 4>} : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.neg"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  return %2 : tensor<4xf32>
}

// A real broadcast that two groups read (a learning rate for two weight updates) is copied
// into each group instead of being materialized once; a matmul that also reads it keeps the
// original.
// CHECK-LABEL: func.func @shared_broadcast
// CHECK-NEXT:    %[[B:.+]] = "tn.broadcast_to"(%arg2)
// CHECK-NEXT:    "tn.fusion"() ({
// CHECK-NEXT:      "tn.broadcast_to"(%arg2)
// CHECK-NEXT:      "tn.mul"
// CHECK-NEXT:      "tn.sub"
// CHECK:         "tn.fusion"() ({
// CHECK-NEXT:      "tn.broadcast_to"(%arg2)
// CHECK-NEXT:      "tn.mul"
// CHECK-NEXT:      "tn.sub"
// CHECK:         "tn.matmul"(%[[B]], %arg0)
// LOWER-LABEL: func.func @shared_broadcast
// LOWER:         %[[B:.+]] = linalg.generic {{.+}} ins(%arg2 : tensor<f32>)
// LOWER:         linalg.generic {{.+}} ins(%arg2, %arg0 : tensor<f32>, tensor<3x3xf32>)
// LOWER:         linalg.generic {{.+}} ins(%arg2, %arg1 : tensor<f32>, tensor<3x3xf32>)
// LOWER:         linalg.matmul ins(%[[B]], %arg0
// LOWER:         return
func.func @shared_broadcast(%w: tensor<3x3xf32>, %v: tensor<3x3xf32>, %lr: tensor<f32>)
    -> (tensor<3x3xf32>, tensor<3x3xf32>, tensor<3x3xf32>) {
  %b = "tn.broadcast_to"(%lr) {shape = array<i64: 3, 3>} : (tensor<f32>) -> tensor<3x3xf32>
  %0 = "tn.mul"(%b, %w) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
  %1 = "tn.sub"(%w, %0) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
  %2 = "tn.mul"(%b, %v) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
  %3 = "tn.sub"(%v, %2) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
  %4 = "tn.matmul"(%b, %w) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
  return %1, %3, %4 : tensor<3x3xf32>, tensor<3x3xf32>, tensor<3x3xf32>
}

// min-ops=4: only functions of more than 4 top-level ops are fused (fast_compile fuses only
// functions of over 1024: ordinary programs keep its unfused form).
// MIN-LABEL: func.func @chain
// MIN-NEXT:    "tn.exp"
// MIN-NEXT:    "tn.add"
// MIN-NEXT:    "tn.tanh"
// MIN-LABEL: func.func @long_chain
// MIN-NEXT:    "tn.fusion"() ({
// MIN-COUNT-5:   "tn.
// MIN-NEXT:      gpu.yield
// FASTCOMPILE-NOT: "tn.fusion"
func.func @long_chain(%arg0: tensor<8xf32>, %arg1: tensor<8xf32>) -> tensor<8xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<8xf32>) -> tensor<8xf32>
  %1 = "tn.add"(%0, %arg1) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %2 = "tn.tanh"(%1) : (tensor<8xf32>) -> tensor<8xf32>
  %3 = "tn.mul"(%2, %arg0) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %4 = "tn.neg"(%3) : (tensor<8xf32>) -> tensor<8xf32>
  return %4 : tensor<8xf32>
}
