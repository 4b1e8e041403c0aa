// RUN: theanir-opt %s --theanir-sparse-kernels | FileCheck %s
// RUN: theanir-opt %s --theanir-sparsify --theanir-sparse-kernels | FileCheck %s --check-prefix=BACK

// Without kernels pending (no theanir.sparse_kernels attribute) the module is unchanged.
// CHECK-LABEL: func.func @dense(%arg0: memref<2xf64>) -> memref<2xf64>
// CHECK-NEXT:    return %arg0 : memref<2xf64>
// After theanir-sparsify, the kernel compiled aside replaces its declaration (memrefs now)
// and the token attribute is gone.
// BACK-NOT:    theanir.sparse_kernels
// BACK-LABEL:  func.func private @kernel(%arg0: memref<?xf64>, %arg1: memref<?xi32>, %arg2: memref<?xi32>) -> memref<3x3xf64>
// BACK:          scf.for
// BACK-LABEL:  func.func @dense
#CSR = #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed), posWidth = 32, crdWidth = 32}>
func.func private @kernel(%v: tensor<?xf64>, %c: tensor<?xi32>, %p: tensor<?xi32>) -> tensor<3x3xf64> {
  %a = sparse_tensor.assemble (%p, %c), %v : (tensor<?xi32>, tensor<?xi32>), tensor<?xf64> to tensor<3x3xf64, #CSR>
  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<3x3xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<3x3xf64>) -> tensor<3x3xf64>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]} ins(%a : tensor<3x3xf64, #CSR>) outs(%f : tensor<3x3xf64>) {
  ^bb0(%x: f64, %o: f64):
    %s = arith.addf %o, %x : f64
    linalg.yield %s : f64
  } -> tensor<3x3xf64>
  return %r : tensor<3x3xf64>
}
func.func @dense(%x: memref<2xf64>) -> memref<2xf64> {
  return %x : memref<2xf64>
}
