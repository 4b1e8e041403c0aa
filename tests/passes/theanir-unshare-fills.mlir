// RUN: theanir-opt %s --theanir-unshare-fills | FileCheck %s

// One zero fill that cse made the init of two products and a sum: each init use gets a fill of
// its own tensor.empty, made just before its op, and the original fill and empty go. A fill
// that is also read as an input keeps that use (and its empty's dynamic size is the clone's
// too); a fill with one use keeps what it had.
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @shared
// CHECK:         %[[C:.+]] = arith.constant 0.0
// CHECK-NEXT:    %[[E1:.+]] = tensor.empty() : tensor<4x8xf32>
// CHECK-NEXT:    %[[Z1:.+]] = linalg.fill ins(%[[C]] : f32) outs(%[[E1]] : tensor<4x8xf32>)
// CHECK-NEXT:    %[[P:.+]] = linalg.matmul ins(%arg0, %arg1 : tensor<4x3xf32>, tensor<3x8xf32>) outs(%[[Z1]] : tensor<4x8xf32>)
// CHECK-NEXT:    %[[E2:.+]] = tensor.empty() : tensor<4x8xf32>
// CHECK-NEXT:    %[[Z2:.+]] = linalg.fill ins(%[[C]] : f32) outs(%[[E2]] : tensor<4x8xf32>)
// CHECK-NEXT:    linalg.matmul ins(%arg0, %arg2 : tensor<4x3xf32>, tensor<3x8xf32>) outs(%[[Z2]] : tensor<4x8xf32>)
// CHECK-NEXT:    %[[E3:.+]] = tensor.empty() : tensor<4x8xf32>
// CHECK-NEXT:    %[[Z3:.+]] = linalg.fill ins(%[[C]] : f32) outs(%[[E3]] : tensor<4x8xf32>)
// CHECK-NEXT:    linalg.generic {{.+}} ins(%[[P]] : tensor<4x8xf32>) outs(%[[Z3]] : tensor<4x8xf32>)
// CHECK-NOT:     linalg.fill
// CHECK:         return
func.func @shared(%a: tensor<4x3xf32>, %b: tensor<3x8xf32>, %c: tensor<3x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  %p = linalg.matmul ins(%a, %b : tensor<4x3xf32>, tensor<3x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32>
  %q = linalg.matmul ins(%a, %c : tensor<4x3xf32>, tensor<3x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%p : tensor<4x8xf32>) outs(%z : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %out, %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  return %p, %q, %s : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// CHECK-LABEL: func.func @single_and_read
// CHECK:         %[[E:.+]] = tensor.empty(%arg2) : tensor<?x8xf32>
// CHECK:         %[[Z:.+]] = linalg.fill ins({{.+}}) outs(%[[E]] : tensor<?x8xf32>)
// CHECK:         %[[E2:.+]] = tensor.empty(%arg2) : tensor<?x8xf32>
// CHECK:         %[[Z2:.+]] = linalg.fill ins({{.+}}) outs(%[[E2]] : tensor<?x8xf32>)
// CHECK:         %[[P:.+]] = linalg.matmul ins(%arg0, %arg1 : tensor<?x3xf32>, tensor<3x8xf32>) outs(%[[Z2]] : tensor<?x8xf32>)
// CHECK:         linalg.generic {{.+}} ins(%[[Z]] : tensor<?x8xf32>) outs(%[[P]] : tensor<?x8xf32>)
// CHECK:         %[[EO:.+]] = tensor.empty() : tensor<8xf32>
// CHECK-NEXT:    %[[ZO:.+]] = linalg.fill ins({{.+}}) outs(%[[EO]] : tensor<8xf32>)
// CHECK-NOT:     tensor.empty
// CHECK:         return
func.func @single_and_read(%a: tensor<?x3xf32>, %b: tensor<3x8xf32>, %n: index) -> (tensor<?x8xf32>, tensor<8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty(%n) : tensor<?x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8xf32>) -> tensor<?x8xf32>
  %p = linalg.matmul ins(%a, %b : tensor<?x3xf32>, tensor<3x8xf32>) outs(%z : tensor<?x8xf32>) -> tensor<?x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%z : tensor<?x8xf32>) outs(%p : tensor<?x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %out, %in : f32
    linalg.yield %0 : f32
  } -> tensor<?x8xf32>
  %eo = tensor.empty() : tensor<8xf32>
  %zo = linalg.fill ins(%zero : f32) outs(%eo : tensor<8xf32>) -> tensor<8xf32>
  %t = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]} ins(%s : tensor<?x8xf32>) outs(%zo : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %out, %in : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  return %s, %t : tensor<?x8xf32>, tensor<8xf32>
}
