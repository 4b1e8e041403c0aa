// RUN: theanir-opt %s --theanir-results-in-place | FileCheck %s

// A result made by a chain of in-place ops from a tensor.empty (here an scf.for inserting into
// it, then an expand_shape) is computed in the output buffer: that use of the empty becomes
// the buffer's writable tensor, collapsed back to the loop's shape. The empty's other user
// keeps it. A result that is also read elsewhere (two uses), and a destination that has
// another use, keep their temporaries.
// CHECK-LABEL: func.func @main
// CHECK:         %[[T:.+]] = bufferization.to_tensor %arg1 restrict writable : memref<2x2xf32>
// CHECK:         %[[C:.+]] = tensor.collapse_shape %[[T]] {{\[\[}}0, 1]] : tensor<2x2xf32> into tensor<4xf32>
// CHECK:         %[[E:.+]] = tensor.empty() : tensor<4xf32>
// CHECK:         scf.for {{.*}} iter_args(%{{.+}} = %[[C]]) -> (tensor<4xf32>)
// CHECK:         linalg.generic {{.*}} outs(%[[E]] : tensor<4xf32>)
// CHECK-NOT:     bufferization.to_tensor %arg2
// CHECK-NOT:     bufferization.to_tensor %arg3
// CHECK:         materialize_in_destination {{.*}} in restrict writable %arg1
#id = affine_map<(d0) -> (d0)>
func.func @main(%arg0: memref<4xf32>, %arg1: memref<2x2xf32>, %arg2: memref<4xf32>, %arg3: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %cst = arith.constant 1.000000e+00 : f32
  %x = bufferization.to_tensor %arg0 restrict : memref<4xf32> to tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %loop = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %e) -> (tensor<4xf32>) {
    %v = tensor.extract %x[%i] : tensor<4xf32>
    %ins = tensor.insert %v into %acc[%i] : tensor<4xf32>
    scf.yield %ins : tensor<4xf32>
  }
  %r = tensor.expand_shape %loop [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %cst : f32
    linalg.yield %0 : f32
  } -> tensor<4xf32>
  %z = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%y : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<4xf32>
  bufferization.materialize_in_destination %r in restrict writable %arg1 : (tensor<2x2xf32>, memref<2x2xf32>) -> ()
  bufferization.materialize_in_destination %y in restrict writable %arg2 : (tensor<4xf32>, memref<4xf32>) -> ()
  bufferization.materialize_in_destination %z in restrict writable %arg3 : (tensor<4xf32>, memref<4xf32>) -> ()
  %d = bufferization.to_tensor %arg3 restrict : memref<4xf32> to tensor<4xf32>
  %s = tensor.extract %d[%c0] : tensor<4xf32>
  return
}

// Batch blocks (an scf.forall, ops/window_lower.py): the loop's shared output starts as the
// output buffer, and each block, computed into a tensor.empty and inserted into its slice, is
// computed in that slice (the extract_slice of what the parallel_insert_slice writes).
// CHECK-LABEL: func.func @blocks
// CHECK:         %[[T:.+]] = bufferization.to_tensor %arg1 restrict writable : memref<6x4xf32>
// CHECK:         scf.forall (%[[B:.+]]) in (3) shared_outs(%[[O:.+]] = %[[T]])
// CHECK:           %[[S:.+]] = arith.muli %[[B]]
// CHECK:           %[[D:.+]] = tensor.extract_slice %[[O]][%[[S]], 0] [2, 4] [1, 1]
// CHECK:           linalg.generic {{.*}} outs(%[[D]] : tensor<2x4xf32>)
// CHECK:           tensor.parallel_insert_slice
func.func @blocks(%arg0: memref<6x4xf32>, %arg1: memref<6x4xf32>) {
  %c2 = arith.constant 2 : index
  %x = bufferization.to_tensor %arg0 restrict : memref<6x4xf32> to tensor<6x4xf32>
  %e = tensor.empty() : tensor<6x4xf32>
  %r = scf.forall (%b) in (3) shared_outs(%o = %e) -> (tensor<6x4xf32>) {
    %s = arith.muli %b, %c2 : index
    %xb = tensor.extract_slice %x[%s, 0] [2, 4] [1, 1] : tensor<6x4xf32> to tensor<2x4xf32>
    %eb = tensor.empty() : tensor<2x4xf32>
    %y = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%xb : tensor<2x4xf32>) outs(%eb : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.mulf %in, %in : f32
      linalg.yield %m : f32
    } -> tensor<2x4xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %y into %o[%s, 0] [2, 4] [1, 1] : tensor<2x4xf32> into tensor<6x4xf32>
    }
  }
  bufferization.materialize_in_destination %r in restrict writable %arg1 : (tensor<6x4xf32>, memref<6x4xf32>) -> ()
  return
}
