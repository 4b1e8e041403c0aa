// RUN: theanir-opt %s --tn-stabilize | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(tn-stabilize)' | FileCheck %s

// ---------------------------------------------------------------- log1p, expm1
// log(1 + x) -> log1p(x), log(x + 1) -> log1p(x) (the 1 broadcast or not, any dtype).
// CHECK-LABEL: func.func @log1p
// CHECK-NEXT:    %[[A:.+]] = "tn.log1p"(%arg0) : (tensor<4xf32>)
// CHECK-NEXT:    %[[B:.+]] = "tn.log1p"(%arg1) : (tensor<f64>)
// CHECK-NEXT:    return %[[A]], %[[B]]
func.func @log1p(%arg0: tensor<4xf32>, %arg1: tensor<f64>) -> (tensor<4xf32>, tensor<f64>) {
  %c = "tn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %one = "tn.broadcast_to"(%c) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %0 = "tn.add"(%one, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.log"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %d = "tn.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %2 = "tn.add"(%arg1, %d) : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %3 = "tn.log"(%2) : (tensor<f64>) -> tensor<f64>
  return %1, %3 : tensor<4xf32>, tensor<f64>
}

// 1 + x has another user: it stays for that user, and the log still becomes log1p.
// CHECK-LABEL: func.func @log1p_other_user
// CHECK:         %[[S:.+]] = "tn.add"(%{{.+}}, %arg0)
// CHECK-NEXT:    %[[L:.+]] = "tn.log1p"(%arg0)
// CHECK-NEXT:    return %[[L]], %[[S]]
func.func @log1p_other_user(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %c = "tn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %one = "tn.broadcast_to"(%c) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %0 = "tn.add"(%one, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.log"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1, %0 : tensor<4xf32>, tensor<4xf32>
}

// log(1 - x) -> log1p(-x)
// CHECK-LABEL: func.func @log1p_of_one_minus
// CHECK-NEXT:    %[[N:.+]] = "tn.neg"(%arg0)
// CHECK-NEXT:    %[[L:.+]] = "tn.log1p"(%[[N]])
// CHECK-NEXT:    return %[[L]]
func.func @log1p_of_one_minus(%arg0: tensor<f32>) -> tensor<f32> {
  %c = "tn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %0 = "tn.sub"(%c, %arg0) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %1 = "tn.log"(%0) : (tensor<f32>) -> tensor<f32>
  return %1 : tensor<f32>
}

// Kept: log(2 + x), log(x - 1), and a constant that is 1 only in some elements.
// CHECK-LABEL: func.func @not_log1p
// CHECK-NOT:     "tn.log1p"
// CHECK-COUNT-3: "tn.log"(
func.func @not_log1p(%arg0: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) {
  %c2 = "tn.constant"() {value = dense<2.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %c1 = "tn.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %c12 = "tn.constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %0 = "tn.add"(%c2, %arg0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %1 = "tn.log"(%0) : (tensor<2xf32>) -> tensor<2xf32>
  %2 = "tn.sub"(%arg0, %c1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %3 = "tn.log"(%2) : (tensor<2xf32>) -> tensor<2xf32>
  %4 = "tn.add"(%arg0, %c12) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %5 = "tn.log"(%4) : (tensor<2xf32>) -> tensor<2xf32>
  return %1, %3, %5 : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
}

// exp(x) - 1 -> expm1(x), exp(x) + (-1) -> expm1(x)
// CHECK-LABEL: func.func @expm1
// CHECK-NEXT:    %[[E:.+]] = "tn.expm1"(%arg0)
// CHECK-NEXT:    return %[[E]], %[[E]]
func.func @expm1(%arg0: tensor<4xf64>) -> (tensor<4xf64>, tensor<4xf64>) {
  %c = "tn.constant"() {value = dense<1.0> : tensor<4xf64>} : () -> tensor<4xf64>
  %m = "tn.constant"() {value = dense<-1.0> : tensor<4xf64>} : () -> tensor<4xf64>
  %0 = "tn.exp"(%arg0) : (tensor<4xf64>) -> tensor<4xf64>
  %1 = "tn.sub"(%0, %c) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %2 = "tn.add"(%m, %0) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  return %1, %2 : tensor<4xf64>, tensor<4xf64>
}

// Kept: 1 - exp(x) and exp(x) - 2.
// CHECK-LABEL: func.func @not_expm1
// CHECK-NOT:     "tn.expm1"
// CHECK-COUNT-2: "tn.sub"
func.func @not_expm1(%arg0: tensor<4xf64>) -> (tensor<4xf64>, tensor<4xf64>) {
  %c = "tn.constant"() {value = dense<1.0> : tensor<4xf64>} : () -> tensor<4xf64>
  %c2 = "tn.constant"() {value = dense<2.0> : tensor<4xf64>} : () -> tensor<4xf64>
  %0 = "tn.exp"(%arg0) : (tensor<4xf64>) -> tensor<4xf64>
  %1 = "tn.sub"(%c, %0) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %2 = "tn.sub"(%0, %c2) : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  return %1, %2 : tensor<4xf64>, tensor<4xf64>
}

// ---------------------------------------------------------------- sigmoid
// log(sigmoid(x)) -> -softplus(-x)
// CHECK-LABEL: func.func @log_sigmoid
// CHECK-NEXT:    %[[N:.+]] = "tn.neg"(%arg0)
// CHECK-NEXT:    %[[S:.+]] = "tn.softplus"(%[[N]])
// CHECK-NEXT:    %[[R:.+]] = "tn.neg"(%[[S]])
// CHECK-NEXT:    return %[[R]]
func.func @log_sigmoid(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.sigmoid"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.log"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// log(1 - sigmoid(x)) -> -softplus(x)
// CHECK-LABEL: func.func @log_one_minus_sigmoid
// CHECK-NEXT:    %[[S:.+]] = "tn.softplus"(%arg0)
// CHECK-NEXT:    %[[R:.+]] = "tn.neg"(%[[S]])
// CHECK-NEXT:    return %[[R]]
func.func @log_one_minus_sigmoid(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %c = "tn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %one = "tn.broadcast_to"(%c) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
  %0 = "tn.sigmoid"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tn.sub"(%one, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tn.log"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  return %2 : tensor<4xf32>
}

// ---------------------------------------------------------------- softmax family
// log(softmax(x)) -> log_softmax(x) (same axes); in a cross-entropy -sum(y * log(softmax(z)))
// that is the whole rewrite: the result is stable, with log_softmax's stable jvp.
// CHECK-LABEL: func.func @cross_entropy
// CHECK-NEXT:    %[[L:.+]] = "tn.log_softmax"(%arg0) {axes = array<i64: 1>}
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%arg1, %[[L]])
// CHECK-NEXT:    %[[S:.+]] = "tn.reduce_sum"(%[[M]])
// CHECK-NEXT:    %[[N:.+]] = "tn.neg"(%[[S]])
// CHECK-NEXT:    return %[[N]]
func.func @cross_entropy(%arg0: tensor<2x3xf32>, %arg1: tensor<2x3xf32>) -> tensor<f32> {
  %0 = "tn.softmax"(%arg0) {axes = array<i64: 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tn.log"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %2 = "tn.mul"(%arg1, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = "tn.reduce_sum"(%2) {axes = array<i64: 0, 1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<f32>
  %4 = "tn.neg"(%3) : (tensor<f32>) -> tensor<f32>
  return %4 : tensor<f32>
}

// log(sum(exp(x))) -> logsumexp(x), keeping the reduction's axes and keepdims.
// CHECK-LABEL: func.func @logsumexp
// CHECK-NEXT:    %[[A:.+]] = "tn.logsumexp"(%arg0) {axes = array<i64: 0, 1>, keepdims = false}
// CHECK-NEXT:    %[[B:.+]] = "tn.logsumexp"(%arg0) {axes = array<i64: 1>, keepdims = true}
// CHECK-NEXT:    return %[[A]], %[[B]]
func.func @logsumexp(%arg0: tensor<2x3xf64>) -> (tensor<f64>, tensor<2x1xf64>) {
  %0 = "tn.exp"(%arg0) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 0, 1>, keepdims = false} : (tensor<2x3xf64>) -> tensor<f64>
  %2 = "tn.log"(%1) : (tensor<f64>) -> tensor<f64>
  %3 = "tn.reduce_sum"(%0) {axes = array<i64: 1>, keepdims = true} : (tensor<2x3xf64>) -> tensor<2x1xf64>
  %4 = "tn.log"(%3) : (tensor<2x1xf64>) -> tensor<2x1xf64>
  return %2, %4 : tensor<f64>, tensor<2x1xf64>
}

// Kept: log(sum(x)) without the exp, and log(max(exp(x))).
// CHECK-LABEL: func.func @not_logsumexp
// CHECK-NOT:     "tn.logsumexp"
// CHECK-COUNT-2: "tn.log"(
func.func @not_logsumexp(%arg0: tensor<3xf64>) -> (tensor<f64>, tensor<f64>) {
  %0 = "tn.reduce_sum"(%arg0) {axes = array<i64: 0>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  %1 = "tn.log"(%0) : (tensor<f64>) -> tensor<f64>
  %2 = "tn.exp"(%arg0) : (tensor<3xf64>) -> tensor<3xf64>
  %3 = "tn.reduce_max"(%2) {axes = array<i64: 0>, keepdims = false} : (tensor<3xf64>) -> tensor<f64>
  %4 = "tn.log"(%3) : (tensor<f64>) -> tensor<f64>
  return %1, %4 : tensor<f64>, tensor<f64>
}

// exp(x) / sum(exp(x)) -> softmax(x): with keepdims, and with the reshape + broadcast that
// NumPy-style code produces.
// CHECK-LABEL: func.func @naive_softmax
// CHECK-NEXT:    %[[S:.+]] = "tn.softmax"(%arg0) {axes = array<i64: 1>}
// CHECK-NEXT:    return %[[S]], %[[S]]
func.func @naive_softmax(%arg0: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %0 = "tn.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 1>, keepdims = true} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  %2 = "tn.broadcast_to"(%1) {shape = array<i64: 2, 3>} : (tensor<2x1xf32>) -> tensor<2x3xf32>
  %3 = "tn.div"(%0, %2) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tn.reduce_sum"(%0) {axes = array<i64: 1>, keepdims = false} : (tensor<2x3xf32>) -> tensor<2xf32>
  %5 = "tn.reshape"(%4) {shape = array<i64: 2, 1>} : (tensor<2xf32>) -> tensor<2x1xf32>
  %6 = "tn.broadcast_to"(%5) {shape = array<i64: 2, 3>} : (tensor<2x1xf32>) -> tensor<2x3xf32>
  %7 = "tn.div"(%0, %6) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %3, %7 : tensor<2x3xf32>, tensor<2x3xf32>
}

// Kept: the sums are spread to the wrong positions (a reshape that is not a unit-dim
// insertion), or the sum is of another tensor.
// CHECK-LABEL: func.func @not_softmax
// CHECK-NOT:     "tn.softmax"
// CHECK-COUNT-2: "tn.div"
func.func @not_softmax(%arg0: tensor<2x2xf32>, %arg1: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %0 = "tn.exp"(%arg0) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 1>, keepdims = false} : (tensor<2x2xf32>) -> tensor<2xf32>
  %2 = "tn.reshape"(%1) {shape = array<i64: 1, 2>} : (tensor<2xf32>) -> tensor<1x2xf32>
  %3 = "tn.broadcast_to"(%2) {shape = array<i64: 2, 2>} : (tensor<1x2xf32>) -> tensor<2x2xf32>
  %4 = "tn.div"(%0, %3) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %5 = "tn.exp"(%arg1) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %6 = "tn.reduce_sum"(%5) {axes = array<i64: 1>, keepdims = true} : (tensor<2x2xf32>) -> tensor<2x1xf32>
  %7 = "tn.broadcast_to"(%6) {shape = array<i64: 2, 2>} : (tensor<2x1xf32>) -> tensor<2x2xf32>
  %8 = "tn.div"(%0, %7) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %4, %8 : tensor<2x2xf32>, tensor<2x2xf32>
}

// ---------------------------------------------------------------- gradient forms
// Reverse mode of log(softmax(z)) emits s * (g / s), s = softmax(z), which is 0 * inf = NaN
// where s underflows: -> g.
// CHECK-LABEL: func.func @grad_log_softmax
// CHECK-NEXT:    return %arg1
func.func @grad_log_softmax(%arg0: tensor<1x3xf64>, %arg1: tensor<1x3xf64>) -> tensor<1x3xf64> {
  %0 = "tn.softmax"(%arg0) {axes = array<i64: 1>} : (tensor<1x3xf64>) -> tensor<1x3xf64>
  %1 = "tn.div"(%arg1, %0) : (tensor<1x3xf64>, tensor<1x3xf64>) -> tensor<1x3xf64>
  %2 = "tn.mul"(%0, %1) : (tensor<1x3xf64>, tensor<1x3xf64>) -> tensor<1x3xf64>
  return %2 : tensor<1x3xf64>
}

// Reverse mode of log(sigmoid(x)): ((g / s) * (1 - s)) * s -> g * (1 - s); of
// log(1 - sigmoid(x)): (-(g / u) * u) * s, u = 1 - s -> -g * s.
// CHECK-LABEL: func.func @grad_log_sigmoid
// CHECK:         %[[S:.+]] = "tn.sigmoid"(%arg0)
// CHECK-NEXT:    %[[U:.+]] = "tn.sub"(%{{.+}}, %[[S]])
// CHECK-NEXT:    %[[A:.+]] = "tn.mul"(%arg1, %[[U]])
// CHECK-NEXT:    %[[N:.+]] = "tn.neg"(%arg1)
// CHECK-NEXT:    %[[B:.+]] = "tn.mul"(%[[N]], %[[S]])
// CHECK-NEXT:    return %[[A]], %[[B]]
func.func @grad_log_sigmoid(%arg0: tensor<2xf64>, %arg1: tensor<2xf64>) -> (tensor<2xf64>, tensor<2xf64>) {
  %c = "tn.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %one = "tn.broadcast_to"(%c) {shape = array<i64: 2>} : (tensor<f64>) -> tensor<2xf64>
  %s = "tn.sigmoid"(%arg0) : (tensor<2xf64>) -> tensor<2xf64>
  %u = "tn.sub"(%one, %s) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %0 = "tn.div"(%arg1, %s) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %1 = "tn.mul"(%0, %u) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %2 = "tn.mul"(%1, %s) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %3 = "tn.div"(%arg1, %u) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %4 = "tn.neg"(%3) : (tensor<2xf64>) -> tensor<2xf64>
  %5 = "tn.mul"(%4, %u) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %6 = "tn.mul"(%5, %s) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  return %2, %6 : tensor<2xf64>, tensor<2xf64>
}

// Kept: x * (g / x) for an x that may be 0 (an argument), and s * (g / t) for t != s.
// CHECK-LABEL: func.func @not_cancelled
// CHECK-COUNT-2: "tn.mul"
func.func @not_cancelled(%arg0: tensor<2xf64>, %arg1: tensor<2xf64>) -> (tensor<2xf64>, tensor<2xf64>) {
  %0 = "tn.div"(%arg1, %arg0) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %1 = "tn.mul"(%arg0, %0) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %s = "tn.exp"(%arg0) : (tensor<2xf64>) -> tensor<2xf64>
  %t = "tn.exp"(%arg1) : (tensor<2xf64>) -> tensor<2xf64>
  %2 = "tn.div"(%arg1, %t) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  %3 = "tn.mul"(%s, %2) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  return %1, %3 : tensor<2xf64>, tensor<2xf64>
}

// Reverse mode of log(sum(exp(x))): exp(x) * broadcast(g / sum(exp(x))) (inf / inf = NaN when
// exp overflows) -> broadcast(g) * softmax(x).
// CHECK-LABEL: func.func @grad_logsumexp
// CHECK:         %[[R:.+]] = "tn.reshape"(%arg1) {shape = array<i64: 1>}
// CHECK-NEXT:    %[[B:.+]] = "tn.broadcast_to"(%[[R]]) {shape = array<i64: 2>}
// CHECK-NEXT:    %[[S:.+]] = "tn.softmax"(%arg0) {axes = array<i64: 0>}
// CHECK-NEXT:    %[[M:.+]] = "tn.mul"(%[[B]], %[[S]])
// CHECK-NEXT:    return %[[M]]
func.func @grad_logsumexp(%arg0: tensor<2xf64>, %arg1: tensor<f64>) -> tensor<2xf64> {
  %0 = "tn.exp"(%arg0) : (tensor<2xf64>) -> tensor<2xf64>
  %1 = "tn.reduce_sum"(%0) {axes = array<i64: 0>, keepdims = false} : (tensor<2xf64>) -> tensor<f64>
  %2 = "tn.div"(%arg1, %1) : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %3 = "tn.reshape"(%2) {shape = array<i64: 1>} : (tensor<f64>) -> tensor<1xf64>
  %4 = "tn.broadcast_to"(%3) {shape = array<i64: 2>} : (tensor<1xf64>) -> tensor<2xf64>
  %5 = "tn.mul"(%4, %0) : (tensor<2xf64>, tensor<2xf64>) -> tensor<2xf64>
  return %5 : tensor<2xf64>
}
