// RUN: theanir-opt %s --theanir-donated-inits | FileCheck %s

// Donated results (materialized into the writable tensor of the input they update) made by a
// linalg.generic whose payload never reads its init: the generic writes into the donated
// tensor instead, whether the init was a tensor.empty (then erased) or an input that fusion
// reused as the init (the gradient in w - lr * g). A reduction reads its init and keeps it;
// an ordinary output (a memref destination) keeps its own.
#id = affine_map<(d0) -> (d0)>
#red = affine_map<(d0) -> ()>
// CHECK-LABEL: func.func @main
// CHECK:         %[[W:.+]] = bufferization.to_tensor %arg0 restrict writable
// CHECK:         %[[S:.+]] = bufferization.to_tensor %arg1 restrict writable
// CHECK:         %[[V:.+]] = bufferization.to_tensor %arg2 restrict writable
// CHECK:         %[[G:.+]] = bufferization.to_tensor %arg3 restrict
// CHECK-NOT:     tensor.empty() : tensor<3xf64>
// CHECK:         %[[NEW:.+]] = linalg.generic {{.+}} ins(%[[W]] : tensor<3xf64>) outs(%[[W]] : tensor<3xf64>)
// CHECK:         %[[SUM:.+]] = linalg.generic {{.+}} outs(%[[S]] : tensor<f64>)
// CHECK:         %[[NEWV:.+]] = linalg.generic {{.+}} ins(%[[G]], %[[V]] : tensor<3xf64>, tensor<3xf64>) outs(%[[V]] : tensor<3xf64>)
// CHECK:         %[[E:.+]] = tensor.empty() : tensor<3xf64>
// CHECK:         %[[OUT:.+]] = linalg.generic {{.+}} outs(%[[E]] : tensor<3xf64>)
// CHECK:         materialize_in_destination %[[OUT]] in restrict writable %arg4
// CHECK:         materialize_in_destination %[[NEW]] in %[[W]]
// CHECK:         materialize_in_destination %[[SUM]] in %[[S]]
// CHECK:         materialize_in_destination %[[NEWV]] in %[[V]]
func.func @main(%arg0: memref<3xf64>, %arg1: memref<f64>, %arg2: memref<3xf64>, %arg3: memref<3xf64>,
                %arg4: memref<3xf64>) {
  %cst = arith.constant 1.000000e+00 : f64
  %w = bufferization.to_tensor %arg0 restrict writable : memref<3xf64> to tensor<3xf64>
  %s = bufferization.to_tensor %arg1 restrict writable : memref<f64> to tensor<f64>
  %v = bufferization.to_tensor %arg2 restrict writable : memref<3xf64> to tensor<3xf64>
  %g = bufferization.to_tensor %arg3 restrict : memref<3xf64> to tensor<3xf64>
  %e = tensor.empty() : tensor<3xf64>
  %new = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%w : tensor<3xf64>) outs(%e : tensor<3xf64>) {
  ^bb0(%in: f64, %out: f64):
    %0 = arith.addf %in, %cst : f64
    linalg.yield %0 : f64
  } -> tensor<3xf64>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction"]} ins(%w : tensor<3xf64>) outs(%s : tensor<f64>) {
  ^bb0(%in: f64, %out: f64):
    %0 = arith.addf %out, %in : f64
    linalg.yield %0 : f64
  } -> tensor<f64>
  %newv = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%g, %v : tensor<3xf64>, tensor<3xf64>) outs(%g : tensor<3xf64>) {
  ^bb0(%gi: f64, %vi: f64, %out: f64):
    %0 = arith.subf %vi, %gi : f64
    linalg.yield %0 : f64
  } -> tensor<3xf64>
  %e2 = tensor.empty() : tensor<3xf64>
  %out = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%w : tensor<3xf64>) outs(%e2 : tensor<3xf64>) {
  ^bb0(%in: f64, %o: f64):
    %0 = arith.mulf %in, %cst : f64
    linalg.yield %0 : f64
  } -> tensor<3xf64>
  bufferization.materialize_in_destination %out in restrict writable %arg4 : (tensor<3xf64>, memref<3xf64>) -> ()
  %r = bufferization.materialize_in_destination %new in %w : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  %r2 = bufferization.materialize_in_destination %sum in %s : (tensor<f64>, tensor<f64>) -> tensor<f64>
  %r3 = bufferization.materialize_in_destination %newv in %v : (tensor<3xf64>, tensor<3xf64>) -> tensor<3xf64>
  return
}
