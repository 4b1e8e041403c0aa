// RUN: theanir-opt %s --convert-linalg-matmul-to-cublas | FileCheck %s

// On the CUDA path a float product is one host call of the runtime's cuBLAS gemm (no loops
// kept: the runtime checks the layout, a device pointer cannot be read here).
// CHECK-LABEL: func.func @gemm_f32
// CHECK:         %{{.+}}, %[[OA:.+]], %{{.+}}:2, %[[SA:.+]]:2 = memref.extract_strided_metadata %arg0
// CHECK:         %[[PA:.+]] = memref.extract_aligned_pointer_as_index
// CHECK:         call @__theanir_cublas_sgemm(%{{.+}}, %{{.+}}, %{{.+}}, %[[PA]], %[[OA]], %[[SA]]#0, %[[SA]]#1,
// CHECK-NOT:     linalg.matmul
// CHECK:         return
func.func @gemm_f32(%a: memref<4x3xf32>, %b: memref<3x5xf32>, %c: memref<4x5xf32>) {
  linalg.matmul ins(%a, %b : memref<4x3xf32>, memref<3x5xf32>) outs(%c : memref<4x5xf32>)
  return
}

// A batch is a host loop of calls (queued on one stream), each at the batch's offset.
// CHECK-LABEL: func.func @batch_f64
// CHECK:         scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step
// CHECK:           arith.muli %[[I]],
// CHECK:           call @__theanir_cublas_dgemm(
// CHECK-NOT:     linalg.batch_matmul
func.func @batch_f64(%a: memref<2x4x3xf64, strided<[?, ?, ?], offset: ?>>, %b: memref<2x3x5xf64>, %c: memref<2x4x5xf64>) {
  linalg.batch_matmul ins(%a, %b : memref<2x4x3xf64, strided<[?, ?, ?], offset: ?>>, memref<2x3x5xf64>) outs(%c : memref<2x4x5xf64>)
  return
}

// Integer products stay loops (the nvvm stage makes a kernel of them).
// CHECK-LABEL: func.func @gemm_i32
// CHECK:         linalg.matmul
// CHECK: func.func private @__theanir_cublas_sgemm(index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, f32)
// CHECK: func.func private @__theanir_cublas_dgemm(
func.func @gemm_i32(%a: memref<4x3xi32>, %b: memref<3x5xi32>, %c: memref<4x5xi32>) {
  linalg.matmul ins(%a, %b : memref<4x3xi32>, memref<3x5xi32>) outs(%c : memref<4x5xi32>)
  return
}
