// RUN: theanir-opt %s --linalg-restore-matmul | FileCheck %s

#a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#w = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>

// What linalg-fuse-elementwise-ops makes of collapse_shape -> linalg.matmul -> expand_shape
// (x [5, 3, 4] @ w [4, 6] with the batch folded into rows): a 2-D matmul again.
// CHECK-LABEL: func.func @folded_rows
// CHECK:         %[[F:.+]] = linalg.fill
// CHECK-NEXT:    %[[A:.+]] = tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<5x3x4xf32> into tensor<15x4xf32>
// CHECK-NEXT:    %[[C:.+]] = tensor.collapse_shape %[[F]] {{\[}}[0, 1], [2]] : tensor<5x3x6xf32> into tensor<15x6xf32>
// CHECK-NEXT:    %[[M:.+]] = linalg.matmul ins(%[[A]], %arg1 : tensor<15x4xf32>, tensor<4x6xf32>) outs(%[[C]] : tensor<15x6xf32>)
// CHECK-NEXT:    %[[R:.+]] = tensor.expand_shape %[[M]] {{\[}}[0, 1], [2]] output_shape [5, 3, 6]
// CHECK-NEXT:    return %[[R]]
func.func @folded_rows(%x: tensor<5x3x4xf32>, %w: tensor<4x6xf32>) -> tensor<5x3x6xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<5x3x6xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<5x3x6xf32>) -> tensor<5x3x6xf32>
  %r = linalg.generic {indexing_maps = [#a, #w, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<5x3x4xf32>, tensor<4x6xf32>) outs(%init : tensor<5x3x6xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %m : f32
    linalg.yield %s : f32
  } -> tensor<5x3x6xf32>
  return %r : tensor<5x3x6xf32>
}

// The summed index folded instead (a loop's weight gradient gathered after it by
// tn-scan-accumulate-to-matmat: sum over t, b of xt [4, 5, 3] and d [5, 3, 6]): both operands
// collapse along it, and a 2-D result needs no expand.
#xs = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#ds = affine_map<(d0, d1, d2, d3) -> (d2, d3, d1)>
#gs = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-LABEL: func.func @folded_sum
// CHECK:         %[[A:.+]] = tensor.collapse_shape %arg0 {{\[}}[0], [1, 2]] : tensor<4x5x3xf32> into tensor<4x15xf32>
// CHECK-NEXT:    %[[B:.+]] = tensor.collapse_shape %arg1 {{\[}}[0, 1], [2]] : tensor<5x3x6xf32> into tensor<15x6xf32>
// CHECK-NEXT:    %[[M:.+]] = linalg.matmul ins(%[[A]], %[[B]] : tensor<4x15xf32>, tensor<15x6xf32>) outs(%arg2 : tensor<4x6xf32>)
// CHECK-NEXT:    return %[[M]]
func.func @folded_sum(%xt: tensor<4x5x3xf32>, %d: tensor<5x3x6xf32>, %init: tensor<4x6xf32>) -> tensor<4x6xf32> {
  %r = linalg.generic {indexing_maps = [#xs, #ds, #gs], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%xt, %d : tensor<4x5x3xf32>, tensor<5x3x6xf32>) outs(%init : tensor<4x6xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x6xf32>
  return %r : tensor<4x6xf32>
}

// An operand read transposed: the backward `d @ W.T` of a layer whose output is reshaped to
// [B, C, H, W] (LeNet's pooled maps), with the column index split into (c, h, w) in the
// transposed weight and the result: a product with B transposed again (the maps tn.matmul
// emits for `d @ W.T`, which the BLAS pass passes as a transposed operand).
// CHECK-LABEL: func.func @transposed_weight
// CHECK:         %[[W:.+]] = tensor.collapse_shape %{{.+}} {{\[}}[0, 1, 2], [3]] : tensor<5x2x2x6xf32> into tensor<20x6xf32>
// CHECK:         %[[C:.+]] = tensor.collapse_shape %{{.+}} {{\[}}[0], [1, 2, 3]] : tensor<4x5x2x2xf32> into tensor<4x20xf32>
// CHECK:         linalg.matmul indexing_maps = [#{{.+}}, #{{.+}}, #{{.+}}] ins(%{{.+}}, %[[W]] : tensor<4x6xf32>, tensor<20x6xf32>) outs(%[[C]] : tensor<4x20xf32>)
// CHECK:         tensor.expand_shape
// CHECK-NOT:     linalg.generic
#ta = affine_map<(d0, d1, d2, d3, d4) -> (d0, d4)>
#tw = affine_map<(d0, d1, d2, d3, d4) -> (d1, d2, d3, d4)>
#tc = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
func.func @transposed_weight(%d: tensor<4x6xf32>, %w: tensor<5x2x2x6xf32>, %init: tensor<4x5x2x2xf32>) -> tensor<4x5x2x2xf32> {
  %r = linalg.generic {indexing_maps = [#ta, #tw, #tc], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%d, %w : tensor<4x6xf32>, tensor<5x2x2x6xf32>) outs(%init : tensor<4x5x2x2xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x5x2x2xf32>
  return %r : tensor<4x5x2x2xf32>
}

// Not a matrix product: a max-plus contraction, and an integer one, keep their generic.
// CHECK-LABEL: func.func @max_plus
// CHECK-NOT:     linalg.matmul
// CHECK:         linalg.generic
// CHECK-LABEL: func.func @integers
// CHECK-NOT:     linalg.matmul
// CHECK:         linalg.generic
func.func @max_plus(%x: tensor<5x3x4xf64>, %w: tensor<4x6xf64>, %init: tensor<5x3x6xf64>) -> tensor<5x3x6xf64> {
  %r = linalg.generic {indexing_maps = [#a, #w, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<5x3x4xf64>, tensor<4x6xf64>) outs(%init : tensor<5x3x6xf64>) {
  ^bb0(%in: f64, %in_0: f64, %out: f64):
    %m = arith.addf %in, %in_0 : f64
    %s = arith.maximumf %out, %m : f64
    linalg.yield %s : f64
  } -> tensor<5x3x6xf64>
  return %r : tensor<5x3x6xf64>
}
func.func @integers(%x: tensor<5x3x4xi32>, %w: tensor<4x6xi32>, %init: tensor<5x3x6xi32>) -> tensor<5x3x6xi32> {
  %r = linalg.generic {indexing_maps = [#a, #w, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<5x3x4xi32>, tensor<4x6xi32>) outs(%init : tensor<5x3x6xi32>) {
  ^bb0(%in: i32, %in_0: i32, %out: i32):
    %m = arith.muli %in, %in_0 : i32
    %s = arith.addi %out, %m : i32
    linalg.yield %s : i32
  } -> tensor<5x3x6xi32>
  return %r : tensor<5x3x6xi32>
}

// An operand whose reshaping copy elementwise fusion folded into the product (conv1 of
// LeNet: filters [4, 1, 2, 3] read as a [4, 6] matrix through floordiv/mod, im2col columns
// folded as [6, 5, 7]): the copy is materialized again over (row, sum) and the product is a
// matmul between reshapes. A fused operand that no copy can make plain stays (the second).
#wf = affine_map<(d0, d1, d2, d3) -> (d0, d3 floordiv 6, (d3 mod 6) floordiv 3, d3 mod 3)>
#cf = affine_map<(d0, d1, d2, d3) -> (d3, d1, d2)>
#of = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @fused_filter_copy
// CHECK:         %[[E:.+]] = tensor.empty() : tensor<4x6xf32>
// CHECK:         %[[W:.+]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x1x2x3xf32>) outs(%[[E]] : tensor<4x6xf32>)
// CHECK-NEXT:    ^bb0(%[[IN:.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT:      linalg.yield %[[IN]] : f32
// CHECK:         %[[B:.+]] = tensor.collapse_shape %arg1 {{\[}}[0], [1, 2]] : tensor<6x5x7xf32> into tensor<6x35xf32>
// CHECK:         linalg.matmul ins(%[[W]], %[[B]] : tensor<4x6xf32>, tensor<6x35xf32>)
// CHECK-LABEL: func.func @fused_not_restorable
// CHECK-NOT:     linalg.matmul
func.func @fused_filter_copy(%w: tensor<4x1x2x3xf32>, %c: tensor<6x5x7xf32>, %init: tensor<4x5x7xf32>) -> tensor<4x5x7xf32> {
  %r = linalg.generic {indexing_maps = [#wf, #cf, #of], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%w, %c : tensor<4x1x2x3xf32>, tensor<6x5x7xf32>) outs(%init : tensor<4x5x7xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x5x7xf32>
  return %r : tensor<4x5x7xf32>
}
#wn = affine_map<(d0, d1, d2, d3) -> (d0, d1 floordiv 2, d3)>
#cn = affine_map<(d0, d1, d2, d3) -> (d3, d1, d2)>
func.func @fused_not_restorable(%w: tensor<4x3x6xf32>, %c: tensor<6x5x7xf32>, %init: tensor<4x5x7xf32>) -> tensor<4x5x7xf32> {
  %r = linalg.generic {indexing_maps = [#wn, #cn, #of], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%w, %c : tensor<4x3x6xf32>, tensor<6x5x7xf32>) outs(%init : tensor<4x5x7xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x5x7xf32>
  return %r : tensor<4x5x7xf32>
}

// The same product in a convolution's batch blocks (an scf.forall, ops/window_lower.py):
// the filters come from outside the loop, so their copy goes in front of it, made once.
// CHECK-LABEL: func.func @fused_filter_copy_in_blocks
// CHECK:         %[[W:.+]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x1x2x3xf32>) outs(%{{.+}} : tensor<4x6xf32>)
// CHECK:         scf.forall
// CHECK-NOT:       ins(%arg0
// CHECK:           linalg.matmul ins(%[[W]], %{{.+}} : tensor<4x6xf32>, tensor<6x35xf32>)
func.func @fused_filter_copy_in_blocks(%w: tensor<4x1x2x3xf32>, %c: tensor<2x6x5x7xf32>, %init: tensor<2x4x5x7xf32>) -> tensor<2x4x5x7xf32> {
  %r = scf.forall (%b) in (2) shared_outs(%o = %init) -> (tensor<2x4x5x7xf32>) {
    %cb = tensor.extract_slice %c[%b, 0, 0, 0] [1, 6, 5, 7] [1, 1, 1, 1] : tensor<2x6x5x7xf32> to tensor<6x5x7xf32>
    %ob = tensor.extract_slice %o[%b, 0, 0, 0] [1, 4, 5, 7] [1, 1, 1, 1] : tensor<2x4x5x7xf32> to tensor<4x5x7xf32>
    %y = linalg.generic {indexing_maps = [#wf, #cf, #of], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
        ins(%w, %cb : tensor<4x1x2x3xf32>, tensor<6x5x7xf32>) outs(%ob : tensor<4x5x7xf32>) {
    ^bb0(%in: f32, %in_0: f32, %out: f32):
      %m = arith.mulf %in, %in_0 : f32
      %s = arith.addf %out, %m : f32
      linalg.yield %s : f32
    } -> tensor<4x5x7xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %y into %o[%b, 0, 0, 0] [1, 4, 5, 7] [1, 1, 1, 1] : tensor<4x5x7xf32> into tensor<2x4x5x7xf32>
    }
  }
  return %r : tensor<2x4x5x7xf32>
}

// The same product with a batch sized at run time (the columns [6, ?, 7]: a remainder block
// of images, or a convolution under th.function over x.reshape((x.shape[0], ...))): the
// filter copy is static, the collapse and the expand of the result carry the dynamic dim
// (the expand's size read from the init). Left as a generic it ran as scalar loops, ~200x
// slower than BLAS (LeNet's conv2 forward at batch 500: 6.5 s against 30 ms).
// CHECK-LABEL: func.func @fused_filter_copy_dynamic
// CHECK:         %[[W:.+]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x1x2x3xf32>) outs(%{{.+}} : tensor<4x6xf32>)
// CHECK:         %[[B:.+]] = tensor.collapse_shape %arg1 {{\[}}[0], [1, 2]] : tensor<6x?x7xf32> into tensor<6x?xf32>
// CHECK:         %[[C:.+]] = tensor.collapse_shape %arg2 {{\[}}[0], [1, 2]] : tensor<4x?x7xf32> into tensor<4x?xf32>
// CHECK:         %[[M:.+]] = linalg.matmul ins(%[[W]], %[[B]] : tensor<4x6xf32>, tensor<6x?xf32>) outs(%[[C]] : tensor<4x?xf32>)
// CHECK:         %[[N:.+]] = tensor.dim %arg2, %{{.+}} : tensor<4x?x7xf32>
// CHECK:         tensor.expand_shape %[[M]] {{\[}}[0], [1, 2]] output_shape [4, %[[N]], 7] : tensor<4x?xf32> into tensor<4x?x7xf32>
func.func @fused_filter_copy_dynamic(%w: tensor<4x1x2x3xf32>, %c: tensor<6x?x7xf32>, %init: tensor<4x?x7xf32>) -> tensor<4x?x7xf32> {
  %r = linalg.generic {indexing_maps = [#wf, #cf, #of], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%w, %c : tensor<4x1x2x3xf32>, tensor<6x?x7xf32>) outs(%init : tensor<4x?x7xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %m : f32
    linalg.yield %s : f32
  } -> tensor<4x?x7xf32>
  return %r : tensor<4x?x7xf32>
}

// A folded row index with a dynamic dim (x [?, 3, 4] @ w [4, 6]): a matmul between reshapes.
// CHECK-LABEL: func.func @folded_rows_dynamic
// CHECK:         tensor.collapse_shape %arg0 {{\[}}[0, 1], [2]] : tensor<?x3x4xf32> into tensor<?x4xf32>
// CHECK:         linalg.matmul
// CHECK:         tensor.expand_shape {{.*}} into tensor<?x3x6xf32>
func.func @folded_rows_dynamic(%x: tensor<?x3x4xf32>, %w: tensor<4x6xf32>, %init: tensor<?x3x6xf32>) -> tensor<?x3x6xf32> {
  %r = linalg.generic {indexing_maps = [#a, #w, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<?x3x4xf32>, tensor<4x6xf32>) outs(%init : tensor<?x3x6xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %m = arith.mulf %in, %in_0 : f32
    %s = arith.addf %out, %m : f32
    linalg.yield %s : f32
  } -> tensor<?x3x6xf32>
  return %r : tensor<?x3x6xf32>
}
