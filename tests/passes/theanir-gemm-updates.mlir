// RUN: theanir-opt %s --theanir-gemm-updates | FileCheck %s

// Donated results w - c * (a @ b) (and w + (a @ b) * c, c a 0-d input) become one product
// accumulating into w, the smaller operand scaled by -c (or c); an ordinary output (a memref
// destination) accumulates into a copy of w. Left alone: a product that has another use, and
// a payload that is not a scaled update (w - g * g).
#id = affine_map<(d0, d1) -> (d0, d1)>
#sc = affine_map<(d0, d1) -> ()>
#ta = affine_map<(d0, d1, d2) -> (d2, d0)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @main
// CHECK:         %[[W:.+]] = bufferization.to_tensor %arg0 restrict writable
// CHECK:         %[[V:.+]] = bufferization.to_tensor %arg1 restrict writable
// CHECK:         %[[U:.+]] = bufferization.to_tensor %arg2 restrict writable
// CHECK:         %[[X:.+]] = bufferization.to_tensor %arg3 restrict writable
// CHECK:         %[[NEG:.+]] = arith.negf %[[LR:.+]] : f32
// CHECK:         %[[SA:.+]] = linalg.generic {{.+}} ins(%[[A:.+]] : tensor<2x4xf32>)
// CHECK:           arith.mulf %{{.+}}, %[[NEG]] : f32
// CHECK:         %[[NEW:.+]] = linalg.matmul indexing_maps = [#{{.+}}, #{{.+}}, #{{.+}}] ins(%[[SA]], %[[B:.+]] : tensor<2x4xf32>, tensor<2x5xf32>) outs(%[[W]] : tensor<4x5xf32>)
// CHECK:         %[[C:.+]] = tensor.extract %arg4[] : tensor<f32>
// CHECK:         %[[SBIG:.+]] = linalg.generic {{.+}} ins(%[[BIG:.+]] : tensor<4x2xf32>)
// CHECK:           arith.mulf %{{.+}}, %[[C]] : f32
// CHECK:         %[[NEWV:.+]] = linalg.matmul ins(%[[SBIG]], %[[B]] : tensor<4x2xf32>, tensor<2x5xf32>) outs(%[[V]] : tensor<4x5xf32>)
// CHECK:         %[[G2:.+]] = linalg.matmul ins
// CHECK:         linalg.generic {{.+}} ins(%[[G2]], %[[U]]
// CHECK:         %[[G3:.+]] = linalg.matmul ins
// CHECK:         linalg.generic {{.+}} ins(%[[G3]], %[[X]]
// CHECK:         %[[CP:.+]] = bufferization.alloc_tensor() copy(%[[W]]) : tensor<4x5xf32>
// CHECK:         linalg.generic {{.+}} ins(%arg7 : tensor<4x2xf32>)
// CHECK:         linalg.matmul ins(%{{.+}}, %[[B]] : tensor<4x2xf32>, tensor<2x5xf32>) outs(%[[CP]] : tensor<4x5xf32>)
// CHECK:         materialize_in_destination %[[NEW]] in %[[W]]
// CHECK:         materialize_in_destination %[[NEWV]] in %[[V]]
func.func @main(%arg0: memref<4x5xf32>, %arg1: memref<4x5xf32>, %arg2: memref<4x5xf32>, %arg3: memref<4x5xf32>,
                %arg4: tensor<f32>, %a: tensor<2x4xf32>, %b: tensor<2x5xf32>, %big: tensor<4x2xf32>,
                %out: memref<4x5xf32>, %out2: memref<4x5xf32>) -> tensor<4x5xf32> {
  %lr = arith.constant 0.01 : f32
  %zero = arith.constant 0.0 : f32
  %w = bufferization.to_tensor %arg0 restrict writable : memref<4x5xf32> to tensor<4x5xf32>
  %v = bufferization.to_tensor %arg1 restrict writable : memref<4x5xf32> to tensor<4x5xf32>
  %u = bufferization.to_tensor %arg2 restrict writable : memref<4x5xf32> to tensor<4x5xf32>
  %x = bufferization.to_tensor %arg3 restrict writable : memref<4x5xf32> to tensor<4x5xf32>
  %e = tensor.empty() : tensor<4x5xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x5xf32>) -> tensor<4x5xf32>
  // w - (a^T @ b) * lr: A (8 elements) is the smaller operand
  %g = linalg.matmul indexing_maps = [#ta, #b, #c] ins(%a, %b : tensor<2x4xf32>, tensor<2x5xf32>) outs(%z : tensor<4x5xf32>) -> tensor<4x5xf32>
  %new = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g, %w : tensor<4x5xf32>, tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) {
  ^bb0(%gi: f32, %wi: f32, %o: f32):
    %0 = arith.mulf %gi, %lr : f32
    %1 = arith.subf %wi, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x5xf32>
  // c * (big @ b) + v, c a 0-d input: big (8 elements) is scaled
  %g1 = linalg.matmul ins(%big, %b : tensor<4x2xf32>, tensor<2x5xf32>) outs(%z : tensor<4x5xf32>) -> tensor<4x5xf32>
  %newv = linalg.generic {indexing_maps = [#sc, #id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%arg4, %g1, %v : tensor<f32>, tensor<4x5xf32>, tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) {
  ^bb0(%ci: f32, %gi: f32, %vi: f32, %o: f32):
    %0 = arith.mulf %ci, %gi : f32
    %1 = arith.addf %0, %vi : f32
    linalg.yield %1 : f32
  } -> tensor<4x5xf32>
  // the product is also returned: not folded
  %g2 = linalg.matmul ins(%big, %b : tensor<4x2xf32>, tensor<2x5xf32>) outs(%z : tensor<4x5xf32>) -> tensor<4x5xf32>
  %newu = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g2, %u : tensor<4x5xf32>, tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) {
  ^bb0(%gi: f32, %ui: f32, %o: f32):
    %0 = arith.mulf %gi, %lr : f32
    %1 = arith.subf %ui, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x5xf32>
  // not a scaled update: x - g * g
  %g3 = linalg.matmul ins(%big, %b : tensor<4x2xf32>, tensor<2x5xf32>) outs(%z : tensor<4x5xf32>) -> tensor<4x5xf32>
  %newx = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g3, %x : tensor<4x5xf32>, tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) {
  ^bb0(%gi: f32, %xi: f32, %o: f32):
    %0 = arith.mulf %gi, %gi : f32
    %1 = arith.subf %xi, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x5xf32>
  // an ordinary output (memref destination) computed from w: into a copy of w
  %g4 = linalg.matmul ins(%big, %b : tensor<4x2xf32>, tensor<2x5xf32>) outs(%z : tensor<4x5xf32>) -> tensor<4x5xf32>
  %o4 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%g4, %w : tensor<4x5xf32>, tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) {
  ^bb0(%gi: f32, %wi: f32, %o: f32):
    %0 = arith.mulf %gi, %lr : f32
    %1 = arith.subf %wi, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x5xf32>
  bufferization.materialize_in_destination %o4 in restrict writable %out2 : (tensor<4x5xf32>, memref<4x5xf32>) -> ()
  %r0 = bufferization.materialize_in_destination %new in %w : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  %r1 = bufferization.materialize_in_destination %newv in %v : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  %r2 = bufferization.materialize_in_destination %newu in %u : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  %r3 = bufferization.materialize_in_destination %newx in %x : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  bufferization.materialize_in_destination %r0 in writable %arg0 : (tensor<4x5xf32>, memref<4x5xf32>) -> ()
  bufferization.materialize_in_destination %r1 in writable %arg1 : (tensor<4x5xf32>, memref<4x5xf32>) -> ()
  bufferization.materialize_in_destination %r2 in writable %arg2 : (tensor<4x5xf32>, memref<4x5xf32>) -> ()
  bufferization.materialize_in_destination %r3 in writable %arg3 : (tensor<4x5xf32>, memref<4x5xf32>) -> ()
  return %g2 : tensor<4x5xf32>
}
