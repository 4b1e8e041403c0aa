// RUN: theanir-opt %s --tn-canonicalize | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(tn-canonicalize)' | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(tn-canonicalize{fast-math=true})' | FileCheck %s --check-prefix=FAST
// RUN: theanir-opt %s --tn-canonicalize --compile-option fast_math=true | FileCheck %s --check-prefix=FAST

// Merge (cse) and dead code: the duplicate exp merges, the dead tanh dies.
// CHECK-LABEL: func.func @merge_and_dce
// CHECK-NEXT:    %[[E:.+]] = "tn.exp"(%arg0)
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%[[E]], %[[E]])
// CHECK-NEXT:    return %[[M]]
func.func @merge_and_dce(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.tanh"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  %3 = "tn.mul"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %3 : tensor<4xf32>
}

// ---------------------------------------------------------------- constant folding
// f(constants) -> constant, with the op's NumPy reference: exp(c) + c.
// CHECK-LABEL: func.func @fold_constants
// CHECK-NEXT:    %[[C:.+]] = "tn.constant"() {value = dense<[3.71828{{[0-9]*}}, 9.38905{{[0-9]*}}]> : tensor<2xf32>}
// CHECK-NEXT:    "tn.mul"(%arg0, %[[C]])
// CHECK-NOT:     "tn.exp"
func.func @fold_constants(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %c = "tn.constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %0 = "tn.exp"(%c) : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "tn.add"(%0, %c) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %2 = "tn.mul"(%arg0, %1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// NumPy semantics: floor division rounds down, x // 0 = 0 for ints.
// CHECK-LABEL: func.func @fold_numpy_semantics
// CHECK-NEXT:    %[[C:.+]] = "tn.constant"() {value = dense<[3, -4, 0]> : tensor<3xi32>}
// CHECK-NEXT:    return %[[C]]
func.func @fold_numpy_semantics() -> tensor<3xi32> {
  %a = "tn.constant"() {value = dense<[7, -7, 1]> : tensor<3xi32>} : () -> tensor<3xi32>
  %b = "tn.constant"() {value = dense<[2, 2, 0]> : tensor<3xi32>} : () -> tensor<3xi32>
  %0 = "tn.floor_divide"(%a, %b) : (tensor<3xi32>, tensor<3xi32>) -> tensor<3xi32>
  return %0 : tensor<3xi32>
}

// Elementwise ops on broadcast constants fold under the broadcast, which stays (a splat).
// CHECK-LABEL: func.func @fold_under_broadcast
// CHECK-NEXT:    %[[C:.+]] = "tn.constant"() {value = dense<5.000000e+00> : tensor<f32>}
// CHECK-NEXT:    %[[B:.+]] = "tn.broadcast_to"(%[[C]]) {shape = array<i64: 4>}
// CHECK-NEXT:    "tn.mul"(%arg0, %[[B]])
func.func @fold_under_broadcast(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %c2 = "tn.constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %c3 = "tn.constant"() {value = dense<3.0> : tensor<f32>} : () -> tensor<f32>
  %0 = "tn.broadcast_to"(%c2) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %1 = "tn.broadcast_to"(%c3) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %2 = "tn.add"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = "tn.mul"(%arg0, %2) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %3 : tensor<4xf32>
}

// Not folded: results over 1e6 elements stay computed at run time.
// CHECK-LABEL: func.func @no_fold_huge
// CHECK:         "tn.exp"
func.func @no_fold_huge() -> tensor<1001x1000xf32> {
  %c = "tn.constant"() {value = dense<1.0> : tensor<1001x1000xf32>} : () -> tensor<1001x1000xf32>
  %0 = "tn.exp"(%c) : (tensor<1001x1000xf32>) -> tensor<1001x1000xf32>
  return %0 : tensor<1001x1000xf32>
}

// Not folded: tn.iota (a loop, not a dense constant) and what depends on it.
// CHECK-LABEL: func.func @no_fold_iota
// CHECK:         "tn.iota"
// CHECK:         "tn.exp"
func.func @no_fold_iota() -> tensor<4xf32> {
  %0 = "tn.iota"() {shape = array<i64: 4>, dimension = 0 : i64, dtype = f32} : () -> tensor<4xf32>
  %1 = "tn.exp"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// ---------------------------------------------------------------- identities
// x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x (the constants behind broadcasts).
// CHECK-LABEL: func.func @identities
// CHECK-NOT:     "tn.add"
// CHECK-NOT:     "tn.sub"
// CHECK-NOT:     "tn.mul"
// CHECK-NOT:     "tn.div"
// CHECK:         return %arg0, %arg0, %arg0, %arg0, %arg0, %arg0
func.func @identities(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %c0 = "tn.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %c1 = "tn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %z = "tn.broadcast_to"(%c0) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %o = "tn.broadcast_to"(%c1) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %0 = "tn.add"(%arg0, %z) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.add"(%z, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.sub"(%arg0, %z) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %3 = "tn.mul"(%arg0, %o) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %4 = "tn.mul"(%o, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %5 = "tn.div"(%arg0, %o) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// Kept: 0 - x is not x, x * 2 is not x, 1 / x is not x, and a constant that is not a splat.
// CHECK-LABEL: func.func @not_identities
// CHECK:         "tn.sub"
// CHECK:         "tn.mul"
// CHECK:         "tn.div"
// CHECK:         "tn.add"
func.func @not_identities(%arg0: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) {
  %c0 = "tn.constant"() {value = dense<0.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %c1 = "tn.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %c2 = "tn.constant"() {value = dense<2.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %c01 = "tn.constant"() {value = dense<[0.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %0 = "tn.sub"(%c0, %arg0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %1 = "tn.mul"(%arg0, %c2) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %2 = "tn.div"(%c1, %arg0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %3 = "tn.add"(%arg0, %c01) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %0, %1, %2, %3 : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
}

// x - x: kept for floats by default (inf - inf and NaN - NaN are NaN); 0 under fast math.
// For ints it is always 0.
// CHECK-LABEL: func.func @sub_self
// CHECK:         %[[D:.+]] = "tn.sub"(%arg0, %arg0) : (tensor<3xf64>
// CHECK:         %[[C:.+]] = "tn.constant"() {value = dense<0> : tensor<i32>}
// CHECK:         %[[Z:.+]] = "tn.broadcast_to"(%[[C]]) {shape = array<i64: 3>}
// CHECK:         return %[[D]], %[[Z]]
// FAST-LABEL:  func.func @sub_self
// FAST-NOT:      "tn.sub"
// FAST:          return
func.func @sub_self(%arg0: tensor<3xf64>, %arg1: tensor<3xi32>) -> (tensor<3xf64>, tensor<3xi32>) {
  %0 = "tn.sub"(%arg0, %arg0) : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %1 = "tn.sub"(%arg1, %arg1) : (tensor<3xi32>, tensor<3xi32>) -> tensor<3xi32>
  return %0, %1 : tensor<3xf64>, tensor<3xi32>
}

// -(-x) -> x
// CHECK-LABEL: func.func @double_negation
// CHECK-NEXT:    return %arg0
func.func @double_negation(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.neg"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.neg"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// ---------------------------------------------------------------- shape chains
// transpose(transpose(x)) with inverse perms -> x; otherwise one transpose (perm p[q]).
// CHECK-LABEL: func.func @transposes
// CHECK-NEXT:    %[[T:.+]] = "tn.transpose"(%arg1) {perm = array<i64: 2, 1, 0>}
// CHECK-NEXT:    return %arg0, %[[T]], %arg0
func.func @transposes(%arg0: tensor<2x3xf32>, %arg1: tensor<2x3x4xf32>) -> (tensor<2x3xf32>, tensor<4x3x2xf32>, tensor<2x3xf32>) {
  %0 = "tn.transpose"(%arg0) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %1 = "tn.transpose"(%0) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
  %2 = "tn.transpose"(%arg1) {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %3 = "tn.transpose"(%2) {perm = array<i64: 1, 0, 2>} : (tensor<3x4x2xf32>) -> tensor<4x3x2xf32>
  %4 = "tn.transpose"(%arg0) {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1, %3, %4 : tensor<2x3xf32>, tensor<4x3x2xf32>, tensor<2x3xf32>
}

// reshape(reshape(x)) -> one reshape; broadcast_to(broadcast_to(x)) -> one broadcast;
// reshape/broadcast to x's own shape -> x.
// CHECK-LABEL: func.func @reshape_broadcast_chains
// CHECK-NEXT:    %[[R:.+]] = "tn.reshape"(%arg0) {shape = array<i64: 3, 2>}
// CHECK-NEXT:    %[[B:.+]] = "tn.broadcast_to"(%arg1) {shape = array<i64: 5, 4, 3>}
// CHECK-NEXT:    return %[[R]], %[[B]], %arg0, %arg1
func.func @reshape_broadcast_chains(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>) -> (tensor<3x2xf32>, tensor<5x4x3xf32>, tensor<2x3xf32>, tensor<3xf32>) {
  %0 = "tn.reshape"(%arg0) {shape = array<i64: 6>} : (tensor<2x3xf32>) -> tensor<6xf32>
  %1 = "tn.reshape"(%0) {shape = array<i64: 3, 2>} : (tensor<6xf32>) -> tensor<3x2xf32>
  %2 = "tn.broadcast_to"(%arg1) {shape = array<i64: 4, 3>} : (tensor<3xf32>) -> tensor<4x3xf32>
  %3 = "tn.broadcast_to"(%2) {shape = array<i64: 5, 4, 3>} : (tensor<4x3xf32>) -> tensor<5x4x3xf32>
  %4 = "tn.reshape"(%arg0) {shape = array<i64: 2, 3>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %5 = "tn.broadcast_to"(%arg1) {shape = array<i64: 3>} : (tensor<3xf32>) -> tensor<3xf32>
  return %1, %3, %4, %5 : tensor<3x2xf32>, tensor<5x4x3xf32>, tensor<2x3xf32>, tensor<3xf32>
}

// Casts: to the same dtype -> x; f32 -> f64 -> f32 -> x (exact); f64 -> f32 -> f64 rounds: kept.
// CHECK-LABEL: func.func @casts
// CHECK-NEXT:    %[[A:.+]] = "tn.cast"(%arg1) {dtype = f32}
// CHECK-NEXT:    %[[B:.+]] = "tn.cast"(%[[A]]) {dtype = f64}
// CHECK-NEXT:    return %arg0, %arg0, %[[B]]
func.func @casts(%arg0: tensor<2xf32>, %arg1: tensor<2xf64>) -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf64>) {
  %0 = "tn.cast"(%arg0) {dtype = f32} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "tn.cast"(%arg0) {dtype = f64} : (tensor<2xf32>) -> tensor<2xf64>
  %2 = "tn.cast"(%1) {dtype = f32} : (tensor<2xf64>) -> tensor<2xf32>
  %3 = "tn.cast"(%arg1) {dtype = f32} : (tensor<2xf64>) -> tensor<2xf32>
  %4 = "tn.cast"(%3) {dtype = f64} : (tensor<2xf32>) -> tensor<2xf64>
  return %0, %2, %4 : tensor<2xf32>, tensor<2xf32>, tensor<2xf64>
}

// f(broadcast_to(a), broadcast_to(b)) -> broadcast_to(f(a, b)) when a and b share a shape.
// CHECK-LABEL: func.func @hoist_broadcast
// CHECK-NEXT:    %[[E:.+]] = "tn.add"(%arg0, %arg1) : (tensor<3xf32>, tensor<3xf32>)
// CHECK-NEXT:    "tn.broadcast_to"(%[[E]]) {shape = array<i64: 2, 3>}
func.func @hoist_broadcast(%arg0: tensor<3xf32>, %arg1: tensor<3xf32>) -> tensor<2x3xf32> {
  %0 = "tn.broadcast_to"(%arg0) {shape = array<i64: 2, 3>} : (tensor<3xf32>) -> tensor<2x3xf32>
  %1 = "tn.broadcast_to"(%arg1) {shape = array<i64: 2, 3>} : (tensor<3xf32>) -> tensor<2x3xf32>
  %2 = "tn.add"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %2 : tensor<2x3xf32>
}

// ---------------------------------------------------------------- sums of broadcasts
// sum over the broadcast axis of broadcast_to(x) -> x * count.
// CHECK-LABEL: func.func @sum_of_broadcast
// CHECK-NEXT:    %[[C:.+]] = "tn.constant"() {value = dense<4.000000e+00> : tensor<f32>}
// CHECK-NEXT:    %[[N:.+]] = "tn.broadcast_to"(%[[C]]) {shape = array<i64: 3>}
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%arg0, %[[N]])
// CHECK-NEXT:    return %[[M]]
func.func @sum_of_broadcast(%arg0: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tn.broadcast_to"(%arg0) {shape = array<i64: 4, 3>} : (tensor<3xf32>) -> tensor<4x3xf32>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 0>, keepdims = false} : (tensor<4x3xf32>) -> tensor<3xf32>
  return %1 : tensor<3xf32>
}

// Mixed axes: the axes x really has are summed on x, the copied ones become a factor.
// (3x1) -> (2x3x5), sum over all: sum(x) * 10.
// CHECK-LABEL: func.func @sum_of_broadcast_mixed
// CHECK-NEXT:    %[[S:.+]] = "tn.reduce_sum"(%arg0) {axes = array<i64: 0>, keepdims = true} : (tensor<3x1xf64>) -> tensor<1x1xf64>
// CHECK-NEXT:    %[[C:.+]] = "tn.constant"() {value = dense<1.000000e+01> : tensor<f64>}
// CHECK-NEXT:    %[[N:.+]] = "tn.broadcast_to"(%[[C]]) {shape = array<i64: 1, 1>}
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%[[S]], %[[N]])
// CHECK-NEXT:    %[[R:.+]] = "tn.reshape"(%[[M]]) {shape = array<i64>} : (tensor<1x1xf64>) -> tensor<f64>
// CHECK-NEXT:    return %[[R]]
func.func @sum_of_broadcast_mixed(%arg0: tensor<3x1xf64>) -> tensor<f64> {
  %0 = "tn.broadcast_to"(%arg0) {shape = array<i64: 2, 3, 5>} : (tensor<3x1xf64>) -> tensor<2x3x5xf64>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 0, 1, 2>, keepdims = false} : (tensor<2x3x5xf64>) -> tensor<f64>
  return %1 : tensor<f64>
}

// keepdims: the result is broadcast back over the axes not reduced.
// CHECK-LABEL: func.func @sum_of_broadcast_keepdims
// CHECK:         %[[M:.+]] = "tn.mul"(%arg0, %{{.+}}) : (tensor<4x1xi32>, tensor<4x1xi32>)
// CHECK-NEXT:    %[[B:.+]] = "tn.broadcast_to"(%[[M]]) {shape = array<i64: 1, 4, 1>}
// CHECK-NEXT:    return %[[B]]
func.func @sum_of_broadcast_keepdims(%arg0: tensor<4x1xi32>) -> tensor<1x4x1xi32> {
  %0 = "tn.broadcast_to"(%arg0) {shape = array<i64: 2, 4, 3>} : (tensor<4x1xi32>) -> tensor<2x4x3xi32>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 0, 2>, keepdims = true} : (tensor<2x4x3xi32>) -> tensor<1x4x1xi32>
  return %1 : tensor<1x4x1xi32>
}

// Kept: a sum of an empty broadcast is 0, but 0 * x would be NaN for inf x.
// CHECK-LABEL: func.func @sum_of_empty_broadcast
// CHECK:         "tn.reduce_sum"
func.func @sum_of_empty_broadcast(%arg0: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tn.broadcast_to"(%arg0) {shape = array<i64: 0, 3>} : (tensor<3xf32>) -> tensor<0x3xf32>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 0>, keepdims = false} : (tensor<0x3xf32>) -> tensor<3xf32>
  return %1 : tensor<3xf32>
}

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

// ---------------------------------------------------------------- products with I
// x @ I -> x and I @ x -> x, for a constant identity and for eye() built from iotas.
// CHECK-LABEL: func.func @matmul_identity
// CHECK-NOT:     "tn.matmul"
// CHECK:         return %arg0, %arg1
func.func @matmul_identity(%arg0: tensor<2x3xf32>, %arg1: tensor<3x4xf32>) -> (tensor<2x3xf32>, tensor<3x4xf32>) {
  %eye = "tn.constant"() {value = dense<[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]> : tensor<3x3xf32>} : () -> tensor<3x3xf32>
  %0 = "tn.matmul"(%arg0, %eye) : (tensor<2x3xf32>, tensor<3x3xf32>) -> tensor<2x3xf32>
  %r = "tn.iota"() {shape = array<i64: 3, 3>, dimension = 0 : i64, dtype = i64} : () -> tensor<3x3xi64>
  %c = "tn.iota"() {shape = array<i64: 3, 3>, dimension = 1 : i64, dtype = i64} : () -> tensor<3x3xi64>
  %d = "tn.eq"(%r, %c) : (tensor<3x3xi64>, tensor<3x3xi64>) -> tensor<3x3xi1>
  %i = "tn.cast"(%d) {dtype = f32} : (tensor<3x3xi1>) -> tensor<3x3xf32>
  %1 = "tn.matmul"(%i, %arg1) : (tensor<3x3xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  return %0, %1 : tensor<2x3xf32>, tensor<3x4xf32>
}

// Kept: a constant that is not the identity.
// CHECK-LABEL: func.func @matmul_not_identity
// CHECK:         "tn.matmul"
func.func @matmul_not_identity(%arg0: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %p = "tn.constant"() {value = dense<[[0.0, 1.0], [1.0, 0.0]]> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
  %0 = "tn.matmul"(%arg0, %p) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// A rewritten value with other users: the other uses keep it (the neg is rewritten away
// only where it is negated again).
// CHECK-LABEL: func.func @other_users
// CHECK-NEXT:    %[[N:.+]] = "tn.neg"(%arg0)
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%[[N]], %arg0)
// CHECK-NEXT:    return %arg0, %[[M]]
func.func @other_users(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = "tn.neg"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.neg"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.mul"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %1, %2 : tensor<4xf32>, tensor<4xf32>
}

// A transpose that only moves unit axes ([1, 4] -> [4, 1]) is a reshape; one that reorders
// axes longer than 1 stays.
// CHECK-LABEL: func.func @unit_axes_transpose
// CHECK:         %[[R:.+]] = "tn.reshape"(%arg0) {shape = array<i64: 4, 1>}
// CHECK:         %[[T:.+]] = "tn.transpose"(%arg1) {perm = array<i64: 1, 0>}
// CHECK:         return %[[R]], %[[T]]
func.func @unit_axes_transpose(%arg0: tensor<1x4xf32>, %arg1: tensor<2x4xf32>) -> (tensor<4x1xf32>, tensor<4x2xf32>) {
  %0 = "tn.transpose"(%arg0) {perm = array<i64: 1, 0>} : (tensor<1x4xf32>) -> tensor<4x1xf32>
  %1 = "tn.transpose"(%arg1) {perm = array<i64: 1, 0>} : (tensor<2x4xf32>) -> tensor<4x2xf32>
  return %0, %1 : tensor<4x1xf32>, tensor<4x2xf32>
}

// An outer product stays a matmul here: turning it into a product of broadcasts is a speed
// heuristic, tn-outer-product-to-mul (tests/passes/tn-outer-product-to-mul.mlir).
// CHECK-LABEL: func.func @outer_product_stays
// CHECK:         "tn.matmul"(%arg0, %arg1)
func.func @outer_product_stays(%arg0: tensor<3x1xf32>, %arg1: tensor<1x16xf32>) -> tensor<3x16xf32> {
  %0 = "tn.matmul"(%arg0, %arg1) : (tensor<3x1xf32>, tensor<1x16xf32>) -> tensor<3x16xf32>
  return %0 : tensor<3x16xf32>
}

// ---------------------------------------------------------------- slices with constant bounds
// dynamic_slice / dynamic_pad_slice with constant bounds -> slice / pad_slice (Python's rules:
// -3 counts from the end); bounds whose length differs from the static size stay (the run-time
// check fails the call).
// CHECK-LABEL: func.func @static_dynamic_slices
// CHECK-NEXT:    %[[S:.+]] = "tn.slice"(%arg0) {sizes = array<i64: 2, 4>, starts = array<i64: 3, 0>, steps = array<i64: 1, 1>}
// CHECK-NEXT:    %[[P:.+]] = "tn.pad_slice"(%[[S]]) {shape = array<i64: 6, 4>, starts = array<i64: 3, 0>, steps = array<i64: 1, 1>}
// CHECK-NEXT:    %[[B:.+]] = "tn.constant"() {value = dense<[5, 0]> : tensor<2xi64>}
// CHECK:         "tn.dynamic_slice"(%arg0, %[[B]], %{{.+}})
func.func @static_dynamic_slices(%arg0: tensor<6x4xf32>) -> (tensor<6x4xf32>, tensor<2x4xf32>) {
  %b = "tn.constant"() {value = dense<[-3, 0]> : tensor<2xi64>} : () -> tensor<2xi64>
  %e = "tn.constant"() {value = dense<[5, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  %0 = "tn.dynamic_slice"(%arg0, %b, %e) {sizes = array<i64: 2, 4>, steps = array<i64: 1, 1>} : (tensor<6x4xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x4xf32>
  %1 = "tn.dynamic_pad_slice"(%0, %b, %e) {steps = array<i64: 1, 1>, shape = array<i64: 6, 4>} : (tensor<2x4xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<6x4xf32>
  %b2 = "tn.constant"() {value = dense<[5, 0]> : tensor<2xi64>} : () -> tensor<2xi64>
  %e2 = "tn.constant"() {value = dense<[7, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  %2 = "tn.dynamic_slice"(%arg0, %b2, %e2) {sizes = array<i64: 2, 4>, steps = array<i64: 1, 1>} : (tensor<6x4xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x4xf32>
  return %1, %2 : tensor<6x4xf32>, tensor<2x4xf32>
}

// A reshape with dynamic sizes keeps x's type but is an identity only when each size is x's
// own dim at that axis: the swapped sizes stay a reshape, the matching ones fold away.
// CHECK-LABEL: func.func @dynamic_reshape
// CHECK:         %[[S:.+]] = "tn.reshape"(%arg0, %{{.+}}, %{{.+}}) {shape = array<i64: -1, -1>}
// CHECK-NOT:     "tn.reshape"
// CHECK:         return %[[S]], %arg0
func.func @dynamic_reshape(%x: tensor<?x?xf32>) -> (tensor<?x?xf32>, tensor<?x?xf32>) {
  %d0 = "tn.dim"(%x) {axis = 0 : i64} : (tensor<?x?xf32>) -> tensor<i64>
  %d1 = "tn.dim"(%x) {axis = 1 : i64} : (tensor<?x?xf32>) -> tensor<i64>
  %swapped = "tn.reshape"(%x, %d1, %d0) {shape = array<i64: -1, -1>} : (tensor<?x?xf32>, tensor<i64>, tensor<i64>) -> tensor<?x?xf32>
  %same = "tn.reshape"(%x, %d0, %d1) {shape = array<i64: -1, -1>} : (tensor<?x?xf32>, tensor<i64>, tensor<i64>) -> tensor<?x?xf32>
  return %swapped, %same : tensor<?x?xf32>, tensor<?x?xf32>
}
