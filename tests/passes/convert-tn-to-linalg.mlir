// RUN: theanir-opt %s --convert-tn-to-linalg | FileCheck %s
// RUN: theanir-opt %s --tn-to-linalg | FileCheck %s
// RUN: theanir-opt %s --convert-tn-to-linalg | FileCheck %s --check-prefix=MODULE
// RUN: theanir-opt %s --pass-pipeline='builtin.module(convert-tn-to-linalg{threads=2})' \
// RUN:   | FileCheck %s --check-prefix=THREADS

// CSC x vector (dialects/tn/ops/sparse_csc.py): on 1 thread one worker scatters into the
// result; with `threads` the columns are split over that many workers' partial results (an
// scf.forall whose column loop carries theanir.keep_parallel), added in worker order. (Kernels
// come first in the module: @csc_times_vector at the end calls it.)
// CHECK-LABEL:  func.func private @__theanir_sparse_mm_csc_4x3x1_f64_i32_t1
// CHECK-NOT:      scf.forall
// CHECK:          vector.scatter
// CHECK:          return
// THREADS-LABEL: func.func private @__theanir_sparse_mm_csc_4x3x1_f64_i32_t2
// THREADS:         tensor.empty() {theanir.csc_parts} : tensor<2x4xf64>
// THREADS:         scf.forall (%{{.+}}) in (2)
// THREADS:           vector.scatter
// THREADS:         } {theanir.keep_parallel}
// THREADS:         linalg.generic
// THREADS-SAME:      iterator_types = ["reduction", "parallel"]

// Every tn op becomes linalg/tensor/arith/math; the function signature is unchanged.
// float32 exp and tanh are arithmetic (a polynomial, 2^n from exponent bits; a rational
// function), not libm calls, so their loops vectorize.
// CHECK-LABEL: func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>) -> tensor<2x3xf64>
// CHECK-NOT:     "tn.
// CHECK:         linalg.generic
// CHECK-NOT:       math.exp
// CHECK:           math.roundeven
// CHECK:           arith.bitcast {{.*}} : i32 to f32
// CHECK:         linalg.generic
// CHECK:           arith.addf
// CHECK-NOT:       math.tanh
// CHECK:           math.fma
// CHECK:           arith.divf
// CHECK:           arith.extf {{.*}} : f32 to f64
// CHECK-NOT:     "tn.
// CHECK:         return {{.*}} : tensor<2x3xf64>
func.func @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>) -> tensor<2x3xf64> {
  %0 = "tn.exp"(%arg0) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = "tn.broadcast_to"(%arg1) {shape = array<i64: 2, 3>} : (tensor<3xf32>) -> tensor<2x3xf32>
  %2 = "tn.add"(%0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = "tn.tanh"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tn.cast"(%3) {dtype = f64} : (tensor<2x3xf32>) -> tensor<2x3xf64>
  return %4 : tensor<2x3xf64>
}

// float64 keeps libm's exp and tanh.
// CHECK-LABEL: func.func @f64
// CHECK:           math.exp
// CHECK:           math.tanh
func.func @f64(%arg0: tensor<4xf64>) -> tensor<4xf64> {
  %0 = "tn.exp"(%arg0) : (tensor<4xf64>) -> tensor<4xf64>
  %1 = "tn.tanh"(%0) : (tensor<4xf64>) -> tensor<4xf64>
  return %1 : tensor<4xf64>
}

// A long float32 sum: float32 partial sums over blocks of the reduced axis (here 16 blocks
// of 256 rows: each column's partial is one chain of 256 additions), then the partials
// summed in float64 and rounded once (reduction.blocked_sum).
// CHECK-LABEL: func.func @blocked_column_sum
// CHECK:         linalg.generic {{.+}} iterator_types = ["parallel", "reduction", "parallel"]} {{.+}} outs(%{{.+}} : tensor<16x512xf32>)
// CHECK:           arith.addf {{.+}} : f32
// CHECK:         linalg.generic {{.+}} ins(%{{.+}} : tensor<16x512xf32>) outs(%{{.+}} : tensor<512xf64>)
// CHECK:           arith.extf {{.*}} : f32 to f64
// CHECK:           arith.addf {{.+}} : f64
// CHECK:         arith.truncf {{.*}} : f64 to f32
func.func @blocked_column_sum(%arg0: tensor<4096x512xf32>) -> tensor<512xf32> {
  %0 = "tn.reduce_sum"(%arg0) {axes = array<i64: 0>, keepdims = false} : (tensor<4096x512xf32>) -> tensor<512xf32>
  return %0 : tensor<512xf32>
}

// A row of 2049: two blocks of 1024 and a last block of 1 from index 2048, each a float32
// partial, both added into the float64 sum.
// CHECK-LABEL: func.func @blocked_row_sum_with_remainder
// CHECK:         outs(%{{.+}} : tensor<3x2xf32>)
// CHECK:         outs(%{{.+}} : tensor<3x1xf32>)
// CHECK:         ins(%{{.+}} : tensor<3x2xf32>) outs(%{{.+}} : tensor<3x1xf64>)
// CHECK:         ins(%{{.+}} : tensor<3x1xf32>) outs(%{{.+}} : tensor<3x1xf64>)
// CHECK:         arith.truncf {{.*}} : f64 to f32
func.func @blocked_row_sum_with_remainder(%arg0: tensor<3x2049xf32>) -> tensor<3x1xf32> {
  %0 = "tn.reduce_sum"(%arg0) {axes = array<i64: 1>, keepdims = true} : (tensor<3x2049xf32>) -> tensor<3x1xf32>
  return %0 : tensor<3x1xf32>
}

// A slice with traced bounds: per dimension, Python's rules on the bounds, a run-time check
// of the length (a failed one calls @__theanir_check_failed with the message's address and the
// bounds), the offset clamped into the dimension, then one extract_slice at dynamic offsets.
// (The message constants and the declaration come first in the module.)
// MODULE:      llvm.mlir.global internal constant @__theanir_check_msg_{{.+}}("getitem: the slice {0}:{1} along axis 0 of a tensor of shape (10, 4) selects {2} elements, but the compiled slice has the static length 3
// MODULE:      func.func private @__theanir_check_failed(i64, i64, i64, i64, i64)
// CHECK-LABEL: func.func @dynamic_slice
// CHECK:         %[[B:.+]] = tensor.extract %arg1[%{{.+}}] : tensor<2xi64>
// CHECK:         %[[E:.+]] = tensor.extract %arg2[%{{.+}}] : tensor<2xi64>
// CHECK:         %[[OK:.+]] = arith.cmpi eq, %[[N:.+]], %c3_i64 : i64
// CHECK:         %[[BAD:.+]] = arith.xori %[[OK]], %true : i1
// CHECK:         scf.if %[[BAD]] {
// CHECK:           func.call @__theanir_check_failed(%{{.+}}, %{{.+}}, %[[B]], %[[E]], %[[N]])
// CHECK:         arith.minsi %{{.+}}, %c7_i64 : i64
// CHECK:         tensor.extract_slice %arg0[%{{.+}}, %{{.+}}] [3, 4] [1, 1] : tensor<10x4xf32> to tensor<3x4xf32>
func.func @dynamic_slice(%arg0: tensor<10x4xf32>, %arg1: tensor<2xi64>, %arg2: tensor<2xi64>) -> tensor<3x4xf32> {
  %0 = "tn.dynamic_slice"(%arg0, %arg1, %arg2) {sizes = array<i64: 3, 4>, steps = array<i64: 1, 1>} : (tensor<10x4xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// tn.random_bits: the key words are read once, then Threefry's rounds are computed from the
// block's index in integer arithmetic (no calls, so it vectorizes); a float32 result takes
// both words of each of its 6 blocks: one scf.for inserts the y0 word at j and the y1 word at
// j + 6 into one tensor (each word's top 23 bits a float in [0, 1)), reshaped to 4x3.
// CHECK-LABEL: func.func @random_bits
// CHECK:         tensor.extract %arg0
// CHECK:         tensor.extract %arg1
// CHECK:         %[[E:.+]] = tensor.empty() : tensor<12xf32>
// CHECK:         scf.for %[[J:.+]] = {{.*}} iter_args(%[[ACC:.+]] = %[[E]]) -> (tensor<12xf32>)
// CHECK-NOT:       call
// CHECK:           arith.shrui
// CHECK:           arith.xori
// CHECK:           arith.bitcast {{.*}} : i32 to f32
// CHECK:           arith.subf
// CHECK:           arith.bitcast {{.*}} : i32 to f32
// CHECK:           %[[A:.+]] = tensor.insert {{.*}} into %[[ACC]][%[[J]]]
// CHECK:           %[[J6:.+]] = arith.addi %[[J]], %c6
// CHECK:           tensor.insert {{.*}} into %[[A]][%[[J6]]]
// CHECK:         tensor.expand_shape {{.*}} into tensor<4x3xf32>
func.func @random_bits(%arg0: tensor<2xi32>, %arg1: tensor<i64>) -> tensor<4x3xf32> {
  %0 = "tn.random_bits"(%arg0, %arg1) {shape = array<i64: 4, 3>, dtype = f32} : (tensor<2xi32>, tensor<i64>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// tn.random_normal: the same loop, each block's words made into two normals by Box-Muller
// (a polynomial log and sincos: no libm calls), r cos at j and r sin at j + 2.
// CHECK-LABEL: func.func @random_normal
// CHECK:         scf.for {{.*}} -> (tensor<4xf32>)
// CHECK-NOT:       call
// CHECK:           math.sqrt
// CHECK:           math.roundeven
// CHECK:           tensor.insert
// CHECK:           tensor.insert
func.func @random_normal(%arg0: tensor<2xi32>, %arg1: tensor<i64>) -> tensor<4xf32> {
  %0 = "tn.random_normal"(%arg0, %arg1) {shape = array<i64: 4>, dtype = f32} : (tensor<2xi32>, tensor<i64>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// tn.print: the operand's buffer, a [dtype, rank, address, sizes, strides] table on the stack
// and a call of the runtime's report with the kind PRINT (2); the result is the operand.
// CHECK-LABEL: func.func @print
// CHECK:         %[[BUF:.+]] = bufferization.to_buffer %arg0 read_only
// CHECK:         memref.extract_strided_metadata %[[BUF]]
// CHECK:         %[[T:.+]] = memref.alloca() : memref<7xi64>
// CHECK:         call @__theanir_check_failed(%c2_i64{{.*}}, %{{.+}}, %{{.+}}, %c0_i64{{.*}}, %c0_i64{{.*}})
// CHECK:         return %arg0 : tensor<2x3xf32>
func.func @print(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "tn.print"(%arg0) {message = "x = {}\0A", what = "value"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// Identical fused groups (the same ops, attributes, types and operand pattern) are lowered
// once and the generic cloned: each clone reads its own operands, the payload is the same.
// CHECK-LABEL: func.func @twin_fusions
// CHECK:         %[[G0:.+]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<4xf32>, tensor<4xf32>)
// CHECK:           math.roundeven
// CHECK:           arith.addf
// CHECK:         %[[G1:.+]] = linalg.generic {{.*}} ins(%[[G0]], %arg1 : tensor<4xf32>, tensor<4xf32>)
// CHECK:           math.roundeven
// CHECK:           arith.addf
// CHECK:         %[[G2:.+]] = linalg.generic {{.*}} ins(%arg1, %[[G1]] : tensor<4xf32>, tensor<4xf32>)
// CHECK:           math.roundeven
// CHECK:           arith.addf
// CHECK:         return %[[G2]]
func.func @twin_fusions(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tn.fusion"() ({
    %a = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
    %b = "tn.add"(%a, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    gpu.yield %b : tensor<4xf32>
  }) : () -> tensor<4xf32>
  %1 = "tn.fusion"() ({
    %a = "tn.exp"(%0) : (tensor<4xf32>) -> tensor<4xf32>
    %b = "tn.add"(%a, %arg1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    gpu.yield %b : tensor<4xf32>
  }) : () -> tensor<4xf32>
  %2 = "tn.fusion"() ({
    %a = "tn.exp"(%arg1) : (tensor<4xf32>) -> tensor<4xf32>
    %b = "tn.add"(%a, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    gpu.yield %b : tensor<4xf32>
  }) : () -> tensor<4xf32>
  return %2 : tensor<4xf32>
}

func.func @csc_times_vector(%d: tensor<5xf64>, %i: tensor<5xi32>, %p: tensor<4xi32>, %b: tensor<3x1xf64>) -> tensor<4x1xf64> {
  %0 = "tn.sparse_matmul"(%d, %i, %p, %b) {layout = "csc", shape = array<i64: 4, 3>} : (tensor<5xf64>, tensor<5xi32>, tensor<4xi32>, tensor<3x1xf64>) -> tensor<4x1xf64>
  return %0 : tensor<4x1xf64>
}
