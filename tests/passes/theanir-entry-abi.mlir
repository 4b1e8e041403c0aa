// RUN: theanir-opt %s --theanir-entry-abi | FileCheck %s

// @main becomes the private @main_impl; a new @main takes input and output memrefs, reads the
// inputs as tensors and writes each result into its output buffer.
// CHECK-LABEL: func.func private @main_impl(%arg0: tensor<4xf32>, %arg1: tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK:         "tn.add"
// CHECK-LABEL: func.func @main(%arg0: memref<4xf32>, %arg1: memref<2x4xf32>, %arg2: memref<2x4xf32>)
// CHECK-SAME:      attributes {llvm.emit_c_interface}
// CHECK-DAG:     %[[A:.+]] = bufferization.to_tensor %arg0 restrict
// CHECK-DAG:     %[[B:.+]] = bufferization.to_tensor %arg1 restrict
// CHECK:         %[[R:.+]] = call @main_impl(%[[A]], %[[B]])
// CHECK:         bufferization.materialize_in_destination %[[R]] in restrict writable %arg2
// CHECK:         return{{$}}
func.func @main(%arg0: tensor<4xf32>, %arg1: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = "tn.broadcast_to"(%arg0) {shape = array<i64: 2, 4>} : (tensor<4xf32>) -> tensor<2x4xf32>
  %1 = "tn.add"(%0, %arg1) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %1 : tensor<2x4xf32>
}
