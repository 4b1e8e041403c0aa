// RUN: theanir-opt %s --theanir-sparse-kernels | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-sparsify,one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},buffer-deallocation-pipeline,theanir-sparse-kernels)' \
// RUN:   | FileCheck %s --check-prefix=BACK

// Without kernels pending (no theanir.sparse_kernels attribute) the module is unchanged.
// CHECK-LABEL: func.func @dense(%arg0: memref<2xf64>) -> memref<2xf64>
// CHECK-NEXT:    return %arg0 : memref<2xf64>
// After theanir-sparsify and bufferization, each kernel compiled aside replaces its
// declaration (memrefs now) and the token attribute is gone. A kernel whose one caller
// copies its result into an argument (the runtime's output buffer) computes it there: the
// buffer becomes its last argument (no alloc; the caller: no copy, no dealloc).
// BACK-NOT:    theanir.sparse_kernels
// BACK-LABEL:  func.func private @kernel(%arg0: memref<?xf64>, %arg1: memref<?xi32>, %arg2: memref<?xi32>, %arg3: memref<3x3xf64>) {
// BACK-NOT:      memref.alloc() {{.*}} : memref<3x3xf64>
// BACK:          linalg.fill ins(%{{.*}} : f64) outs(%arg3 : memref<3x3xf64>)
// BACK:          scf.for
// BACK:          return{{$}}
// BACK-LABEL:  func.func @dense
// BACK-LABEL:  func.func private @kernel2(%arg0: memref<?xf64>, %arg1: memref<?xi32>, %arg2: memref<?xi32>) -> memref<3x3xf64>
// BACK:          scf.for
// BACK-LABEL:  func.func @into_out(
// BACK-NEXT:     call @kernel(%arg0, %arg1, %arg2, %arg3) : (memref<?xf64>, memref<?xi32>, memref<?xi32>, memref<3x3xf64>) -> ()
// BACK-NEXT:     return
// A destination that is also read (as a donated input's buffer is) keeps the copy.
// BACK-LABEL:  func.func @read_too(
// BACK:          %[[R:.*]] = call @kernel2(
// BACK:          memref.copy %[[R]], %arg3
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
func.func private @kernel2(%v: tensor<?xf64>, %c: tensor<?xi32>, %p: tensor<?xi32>) -> tensor<3x3xf64> {
  %a = sparse_tensor.assemble (%p, %c), %v : (tensor<?xi32>, tensor<?xi32>), tensor<?xf64> to tensor<3x3xf64, #CSR>
  %d = sparse_tensor.convert %a : tensor<3x3xf64, #CSR> to tensor<3x3xf64>
  return %d : tensor<3x3xf64>
}
func.func @into_out(%v: tensor<?xf64>, %c: tensor<?xi32>, %p: tensor<?xi32>, %out: memref<3x3xf64>) {
  %r = call @kernel(%v, %c, %p) : (tensor<?xf64>, tensor<?xi32>, tensor<?xi32>) -> tensor<3x3xf64>
  bufferization.materialize_in_destination %r in restrict writable %out : (tensor<3x3xf64>, memref<3x3xf64>) -> ()
  return
}
func.func @read_too(%v: tensor<?xf64>, %c: tensor<?xi32>, %p: tensor<?xi32>, %out: memref<3x3xf64>) -> f64 {
  %r = call @kernel2(%v, %c, %p) : (tensor<?xf64>, tensor<?xi32>, tensor<?xi32>) -> tensor<3x3xf64>
  bufferization.materialize_in_destination %r in restrict writable %out : (tensor<3x3xf64>, memref<3x3xf64>) -> ()
  %c0 = arith.constant 0 : index
  %x = memref.load %out[%c0, %c0] : memref<3x3xf64>
  return %x : f64
}
