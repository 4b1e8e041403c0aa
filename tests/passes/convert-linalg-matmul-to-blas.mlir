// RUN: theanir-opt %s --theanir-matmul-into-result --convert-linalg-matmul-to-blas | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(convert-linalg-matmul-to-blas{threads=2})' \
// RUN:   | FileCheck %s --check-prefix=SPLIT

// With threads=2 (OpenMP on) a product calls the splitting helper: big products run as 2 blocks
// of C's rows or columns in an scf.parallel that theanir-parallel-loops keeps, each a
// one-thread BLAS call at its block's offset; small ones make one call. Products whose static
// sizes are too small call the plain helper: small programs compile as with one thread.
// SPLIT-LABEL: func.func @gemm_f32
// SPLIT:         call @__theanir_sgemm(
// SPLIT-LABEL: func.func @gemm_sized_in_call
// SPLIT:         call @__theanir_sgemm_split(
// SPLIT-LABEL: func.func private @__theanir_sgemm_split(
// SPLIT:         %[[T:.+]] = arith.constant 2 : index
// SPLIT:         %[[MINS:.+]] = arith.constant 32 : index
// SPLIT:         scf.if %{{.+}} {
// SPLIT:           scf.parallel (%[[I:.+]]) = (%{{.+}}) to (%[[T]])
// SPLIT:             %[[R0A:.+]] = arith.muli %[[I]], %arg0 : index
// SPLIT:             %[[R0:.+]] = arith.divui %[[R0A]], %[[T]] : index
// SPLIT:             call @__theanir_sgemm(%{{.+}}, %arg1, %arg2, %arg3,
// SPLIT:           } {theanir.keep_parallel}
// SPLIT:         } else {
// SPLIT:           scf.if %{{.+}} {
// SPLIT:             scf.parallel
// SPLIT:               call @__theanir_sgemm(%arg0, %{{.+}}, %arg2,
// SPLIT:             } {theanir.keep_parallel}
// SPLIT:           } else {
// SPLIT:             call @__theanir_sgemm(%arg0, %arg1, %arg2,

// Float matrix products on memrefs become a run-time layout check, then a call of the BLAS
// helper (scipy_cblas_?gemm / ?gemv) when the strides suit BLAS, else the original loops.
// CHECK-LABEL: func.func @gemm_f32
// CHECK:         %{{.+}}, %[[OA:.+]], %{{.+}}:2, %[[SA:.+]]:2 = memref.extract_strided_metadata %arg0
// CHECK:         %[[PA:.+]] = memref.extract_aligned_pointer_as_index
// CHECK:         %[[OK:.+]] = call @__theanir_gemm_ok(
// CHECK:         scf.if %[[OK]] {
// CHECK:           call @__theanir_sgemm(%{{.+}}, %{{.+}}, %{{.+}}, %[[PA]], %[[OA]], %[[SA]]#0, %[[SA]]#1,
// CHECK:         } else {
// CHECK:           linalg.matmul ins(%arg0, %arg1
func.func @gemm_f32(%a: memref<4x3xf32>, %b: memref<3x5xf32>, %c: memref<4x5xf32>) {
  linalg.matmul ins(%a, %b : memref<4x3xf32>, memref<3x5xf32>) outs(%c : memref<4x5xf32>)
  return
}

func.func @gemm_sized_in_call(%a: memref<?x?xf32>, %b: memref<?x?xf32>, %c: memref<?x?xf32>) {
  linalg.matmul ins(%a, %b : memref<?x?xf32>, memref<?x?xf32>) outs(%c : memref<?x?xf32>)
  return
}

// A batch is a loop of calls, each at the batch's offset; any strided layout is accepted.
// CHECK-LABEL: func.func @batch_f64
// CHECK:         scf.if %{{.+}} {
// CHECK:           scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step
// CHECK:             arith.muli %[[I]],
// CHECK:             call @__theanir_dgemm(
// CHECK:         } else {
// CHECK:           linalg.batch_matmul
func.func @batch_f64(%a: memref<2x4x3xf64, strided<[?, ?, ?], offset: ?>>, %b: memref<2x3x5xf64>, %c: memref<2x4x5xf64>) {
  linalg.batch_matmul ins(%a, %b : memref<2x4x3xf64, strided<[?, ?, ?], offset: ?>>, memref<2x3x5xf64>) outs(%c : memref<2x4x5xf64>)
  return
}

// Integer products and transposed indexing maps keep the loops.
// CHECK-LABEL: func.func @int_and_maps
// CHECK-NOT:     call
// CHECK:         linalg.matmul ins(%arg0, %arg1 : memref<4x3xi32>
// CHECK:         linalg.matmul indexing_maps
// CHECK:         return
func.func @int_and_maps(%a: memref<4x3xi32>, %b: memref<3x5xi32>, %c: memref<4x5xi32>,
                        %d: memref<3x4xf32>, %e: memref<3x5xf32>, %f: memref<4x5xf32>) {
  linalg.matmul ins(%a, %b : memref<4x3xi32>, memref<3x5xi32>) outs(%c : memref<4x5xi32>)
  linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d2, d0)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%d, %e : memref<3x4xf32>, memref<3x5xf32>) outs(%f : memref<4x5xf32>)
  return
}

// In the entry function, a product computed into a temporary that is then copied into a
// result buffer is computed in the result buffer directly (theanir-matmul-into-result, run first).
// CHECK-LABEL: func.func @entry
// CHECK-NOT:     memref.alloc
// CHECK:         linalg.fill ins(%{{.+}} : f32) outs(%arg2 : memref<4x5xf32>)
// CHECK:         call @__theanir_sgemm
// CHECK:         linalg.matmul ins(%arg0, %arg1 : memref<4x3xf32>, memref<3x5xf32>) outs(%arg2 : memref<4x5xf32>)
// CHECK-NOT:     memref.copy
// CHECK:         return
func.func @entry(%a: memref<4x3xf32>, %b: memref<3x5xf32>, %o: memref<4x5xf32>) attributes {llvm.emit_c_interface} {
  %cst = arith.constant 0.0 : f32
  %t = memref.alloc() {alignment = 64 : i64} : memref<4x5xf32>
  linalg.fill ins(%cst : f32) outs(%t : memref<4x5xf32>)
  linalg.matmul ins(%a, %b : memref<4x3xf32>, memref<3x5xf32>) outs(%t : memref<4x5xf32>)
  memref.copy %t, %o : memref<4x5xf32> to memref<4x5xf32>
  memref.dealloc %t : memref<4x5xf32>
  return
}

// The helpers are declared once, with the CBLAS functions they call.
// CHECK:       func.func private @__theanir_blas_layout
// CHECK:       func.func private @__theanir_gemm_ok
// CHECK:       func.func private @scipy_cblas_sgemm(i32, i32, i32, i32, i32, i32, f32, !llvm.ptr, i32, !llvm.ptr, i32, f32, !llvm.ptr, i32)
// CHECK:       func.func private @scipy_cblas_sgemv(
// CHECK:       func.func private @__theanir_sgemm(
// CHECK:       func.func private @scipy_cblas_dgemm(
// CHECK:       func.func private @__theanir_dgemm(
