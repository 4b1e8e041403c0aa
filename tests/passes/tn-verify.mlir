// RUN: not theanir-opt %s --split-input-file --tn-verify 2>&1 | FileCheck %s

// Ill-typed tn IR is refused before any pass runs: by MLIR's verifier (IRDL constraints,
// checked while parsing) or by tn-verify (each op's shape/dtype rule). One line per error,
// FILE:LINE:COL from the op's location; the valid chunk below still passes.

func.func @ok(%arg0: tensor<3xf32>, %arg1: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tn.add"(%arg0, %arg1) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// Operands of different types (the IRDL constraint).
// CHECK: tn-verify.mlir:[[@LINE+2]]:8: error: expected 'tensor<3xf32>' but got 'tensor<3xf64>' (op 'tn.add')
func.func @mixed(%arg0: tensor<3xf32>, %arg1: tensor<3xf64>) -> tensor<3xf32> {
  %0 = "tn.add"(%arg0, %arg1) : (tensor<3xf32>, tensor<3xf64>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// A result type contradicting the op's shape rule.
// CHECK: tn-verify.mlir:[[@LINE+2]]:8: error: tn.broadcast_to: result types ['float32[3, 3]'] differ from the op's rule ['float32[2, 3]']
func.func @bad_shape(%arg0: tensor<3xf32>) -> tensor<3x3xf32> {
  %0 = "tn.broadcast_to"(%arg0) {shape = array<i64: 2, 3>} : (tensor<3xf32>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}

// -----

// A dtype the op does not accept.
// CHECK: tn-verify.mlir:[[@LINE+2]]:8: error: tn.exp: dtype int32 is not accepted
func.func @int_exp(%arg0: tensor<3xi32>) -> tensor<3xi32> {
  %0 = "tn.exp"(%arg0) : (tensor<3xi32>) -> tensor<3xi32>
  return %0 : tensor<3xi32>
}

// -----

// A syntax error is reported at its position.
// CHECK: tn-verify.mlir:[[@LINE+2]]:{{[0-9]+}}: error: expected
func.func @broken(%arg0: tensor<3xf32>) -> tensor<3xf32> {
  return %arg0 tensor<3xf32>
}
