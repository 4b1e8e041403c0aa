// RUN: theanir-opt %s --theanir-sparsify | FileCheck %s --check-prefix=DECL
// RUN: theanir-opt %s --theanir-sparsify --theanir-sparse-kernels | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-sparsify{parallel=true},theanir-sparse-kernels)' | FileCheck %s --check-prefix=PAR

// Alone, the pass leaves a declaration where the kernel was (its callers are bufferized
// against it: its arguments are only read, so they pass their buffers without a copy) and
// the compiled kernel aside, under a token.
// DECL: module attributes {theanir.sparse_kernels = "{{[0-9]+}}"}
// DECL: func.func private @main(tensor<?xf64> {bufferization.access = "read"}, tensor<?xi32> {bufferization.access = "read"}, tensor<?xi32> {bufferization.access = "read"}, tensor<6x2xf64> {bufferization.access = "read"}) -> tensor<4x2xf64>
// DECL: func.func @dense(%arg0: tensor<2xf64>) -> tensor<2xf64>

// With parallel=true (th.config.openmp) the row loop is an scf.parallel (OpenMP later), in
// the kernels whose outermost loop is a parallel one (CSR x dense: rows; a sparse matrix to
// dense). CSC x dense stays serial: its outer loop is the summed index (A's columns), every
// iteration scatters into the whole output (the race seen on the logistic regression's X^T g).
// PAR-LABEL: func.func @main
// PAR:         scf.parallel
// PAR-LABEL: func.func @csc_times_dense
// PAR-NOT:     scf.parallel
// PAR:         scf.for
// PAR-LABEL: func.func @csc_to_dense
// PAR:         scf.parallel

// A CSR x dense kernel (what tn.sparse_matmul lowers to): the sparsifier turns the generic
// into loops over the rows and their nonzeros, reading the positions/coordinates/values
// buffers directly (no runtime library); theanir-sparse-kernels puts it back, bufferized.
#CSR = #sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed), posWidth = 32, crdWidth = 32}>
// CHECK-LABEL: func.func @main(%arg0: memref<?xf64>, %arg1: memref<?xi32>, %arg2: memref<?xi32>, %arg3: memref<6x2xf64>) -> memref<4x2xf64>
// CHECK-NOT:     sparse_tensor.
// CHECK:         scf.for
// CHECK:           memref.load %{{.+}} : memref<{{.*}}xi32
// CHECK:           scf.for
// CHECK:             arith.mulf
// CHECK:             arith.addf
func.func @main(%v: tensor<?xf64>, %c: tensor<?xi32>, %p: tensor<?xi32>, %b: tensor<6x2xf64>) -> tensor<4x2xf64> {
  %a = sparse_tensor.assemble (%p, %c), %v : (tensor<?xi32>, tensor<?xi32>), tensor<?xf64> to tensor<4x6xf64, #CSR>
  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<4x2xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<4x2xf64>) -> tensor<4x2xf64>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (k, j)>,
                       affine_map<(i, j, k) -> (i, j)>], iterator_types = ["parallel", "parallel", "reduction"]}
       ins(%a, %b : tensor<4x6xf64, #CSR>, tensor<6x2xf64>) outs(%f : tensor<4x2xf64>) {
  ^bb0(%x: f64, %y: f64, %o: f64):
    %m = arith.mulf %x, %y : f64
    %s = arith.addf %o, %m : f64
    linalg.yield %s : f64
  } -> tensor<4x2xf64>
  return %r : tensor<4x2xf64>
}

#CSC = #sparse_tensor.encoding<{map = (i, j) -> (j : dense, i : compressed), posWidth = 32, crdWidth = 32}>
// CHECK-LABEL: func.func @csc_times_dense
func.func @csc_times_dense(%v: tensor<?xf64>, %c: tensor<?xi32>, %p: tensor<?xi32>, %b: tensor<6x2xf64>) -> tensor<4x2xf64> {
  %a = sparse_tensor.assemble (%p, %c), %v : (tensor<?xi32>, tensor<?xi32>), tensor<?xf64> to tensor<4x6xf64, #CSC>
  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<4x2xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<4x2xf64>) -> tensor<4x2xf64>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (k, j)>,
                       affine_map<(i, j, k) -> (i, j)>], iterator_types = ["parallel", "parallel", "reduction"]}
       ins(%a, %b : tensor<4x6xf64, #CSC>, tensor<6x2xf64>) outs(%f : tensor<4x2xf64>) {
  ^bb0(%x: f64, %y: f64, %o: f64):
    %m = arith.mulf %x, %y : f64
    %s = arith.addf %o, %m : f64
    linalg.yield %s : f64
  } -> tensor<4x2xf64>
  return %r : tensor<4x2xf64>
}

// CHECK-LABEL: func.func @csc_to_dense
func.func @csc_to_dense(%v: tensor<?xf64>, %c: tensor<?xi32>, %p: tensor<?xi32>) -> tensor<4x6xf64> {
  %a = sparse_tensor.assemble (%p, %c), %v : (tensor<?xi32>, tensor<?xi32>), tensor<?xf64> to tensor<4x6xf64, #CSC>
  %z = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<4x6xf64>
  %f = linalg.fill ins(%z : f64) outs(%e : tensor<4x6xf64>) -> tensor<4x6xf64>
  %r = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x6xf64, #CSC>) outs(%f : tensor<4x6xf64>) {
  ^bb0(%x: f64, %o: f64):
    %s = arith.addf %o, %x : f64
    linalg.yield %s : f64
  } -> tensor<4x6xf64>
  return %r : tensor<4x6xf64>
}

// Functions without sparse ops are left alone (bufferized later with the rest).
// CHECK-LABEL: func.func @dense(%arg0: tensor<2xf64>) -> tensor<2xf64>
// CHECK-NEXT:    return %arg0 : tensor<2xf64>
func.func @dense(%x: tensor<2xf64>) -> tensor<2xf64> {
  return %x : tensor<2xf64>
}
