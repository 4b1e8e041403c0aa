// RUN: theanir-opt %s --theanir-entry-abi | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-entry-abi{contiguous=true,false})' \
// RUN:   | FileCheck %s --check-prefix=STRIDED
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-entry-abi{entry=main donate=1:0})' \
// RUN:   | FileCheck %s --check-prefix=DONATE

// Options: with contiguous=true,false input 1 is a strided view (a memref with a dynamic
// layout); with donate=1:0 output 0 is written into input 1's buffer (read through a
// writable to_tensor, materialized back into it).
// STRIDED-LABEL: func.func @main(%arg0: memref<4xf32>, %arg1: memref<2x4xf32, strided<[?, ?], offset: ?>>, %arg2: memref<2x4xf32>)
// DONATE-LABEL:  func.func @main(
// DONATE:          %[[B:.+]] = bufferization.to_tensor %arg1 restrict writable
// DONATE:          %[[R:.+]] = call @main_impl(
// DONATE:          %[[W:.+]] = bufferization.materialize_in_destination %[[R]] in %[[B]]
// DONATE:          bufferization.materialize_in_destination %[[W]] in writable %arg1

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
