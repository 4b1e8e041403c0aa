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
// Both sides short and K long (>= 1024 per thread): each thread multiplies a block of K into
// its slice of a buffer allocated before the loop (beta 0), then a serial pass adds the
// partial products into C (times beta).
// SPLIT:             %[[MINK:.+]] = arith.constant 2048 : index
// SPLIT:             scf.if %{{.+}} {
// SPLIT:               %[[TMP:.+]] = memref.alloc(%[[T]], %arg0, %arg1)
// SPLIT:               scf.parallel
// SPLIT:                 call @__theanir_sgemm(%arg0, %arg1, %{{.+}}, %arg3, %{{.+}}, %arg5, %arg6, %arg7, %{{.+}}, %arg9, %arg10, %{{.+}}, %{{.+}}, %arg1,
// SPLIT:               } {theanir.keep_parallel}
// SPLIT:               scf.for
// SPLIT:                 scf.for
// SPLIT:                   llvm.load
// SPLIT:                   scf.for
// SPLIT:                     memref.load %[[TMP]]
// SPLIT:                   llvm.store
// SPLIT:               memref.dealloc %[[TMP]]
// SPLIT:             } else {
// SPLIT:               call @__theanir_sgemm(%arg0, %arg1, %arg2,

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
// Its zero fill is C's own: BLAS gets beta = 0 and the fill moves into the loops' branch.
// CHECK-LABEL: func.func @entry
// CHECK-NOT:     memref.alloc
// CHECK:         call @__theanir_gemm_ok
// CHECK-NEXT:    %[[BETA:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    scf.if
// CHECK-NEXT:      call @__theanir_sgemm({{.*}}, %[[BETA]])
// CHECK-NEXT:    } else {
// CHECK-NEXT:      linalg.fill ins(%{{.+}} : f32) outs(%arg2 : memref<4x5xf32>)
// CHECK-NEXT:      linalg.matmul ins(%arg0, %arg1 : memref<4x3xf32>, memref<3x5xf32>) outs(%arg2 : memref<4x5xf32>)
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

// A zero fill through reshapes of C (conv1 of LeNet: filled as [2, 3, 2], multiplied as
// [2, 6]) is C's too. A fill of another value, or one that something reads in between, stays
// before the product with beta = 1, as does any fill when K may be 0 (C must still be zeroed).
// CHECK-LABEL: func.func @fill_through_reshape
// CHECK:         call @__theanir_gemm_ok
// CHECK-NEXT:    %[[B0:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    scf.if
// CHECK-NEXT:      call @__theanir_sgemm({{.*}}, %[[B0]])
// CHECK-NEXT:    } else {
// CHECK-NEXT:      linalg.fill
// CHECK-NEXT:      linalg.matmul
// CHECK-LABEL: func.func @fills_that_stay
// CHECK:         linalg.fill ins(%{{.+}} : f32) outs(%arg2
// CHECK:         %[[B1:.+]] = arith.constant 1.000000e+00 : f32
// CHECK:           call @__theanir_sgemm({{.*}}, %[[B1]])
// CHECK:         linalg.fill ins(%{{.+}} : f32) outs(%arg5
// CHECK-NEXT:    memref.copy %arg5, %arg6
// CHECK:         %[[B2:.+]] = arith.constant 1.000000e+00 : f32
// CHECK:           call @__theanir_sgemm({{.*}}, %[[B2]])
// CHECK:         linalg.fill ins(%{{.+}} : f32) outs(%arg9
// CHECK:         %[[B3:.+]] = arith.constant 1.000000e+00 : f32
// CHECK:           call @__theanir_sgemm({{.*}}, %[[B3]])
func.func @fill_through_reshape(%a: memref<2x3xf32>, %b: memref<3x6xf32>) -> memref<2x6xf32> {
  %zero = arith.constant 0.0 : f32
  %t = memref.alloc() {alignment = 64 : i64} : memref<2x6xf32>
  %e = memref.expand_shape %t [[0], [1, 2]] output_shape [2, 3, 2] : memref<2x6xf32> into memref<2x3x2xf32>
  linalg.fill ins(%zero : f32) outs(%e : memref<2x3x2xf32>)
  %c = memref.collapse_shape %e [[0], [1, 2]] : memref<2x3x2xf32> into memref<2x6xf32>
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x6xf32>) outs(%c : memref<2x6xf32>)
  return %t : memref<2x6xf32>
}
func.func @fills_that_stay(%a: memref<2x3xf32>, %b: memref<3x6xf32>, %c: memref<2x6xf32>,
                           %a2: memref<2x3xf32>, %b2: memref<3x6xf32>, %c2: memref<2x6xf32>, %d: memref<2x6xf32>,
                           %a3: memref<2x?xf32>, %b3: memref<?x6xf32>, %c3: memref<2x6xf32>) {
  %one = arith.constant 1.0 : f32
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%one : f32) outs(%c : memref<2x6xf32>)
  linalg.matmul ins(%a, %b : memref<2x3xf32>, memref<3x6xf32>) outs(%c : memref<2x6xf32>)
  linalg.fill ins(%zero : f32) outs(%c2 : memref<2x6xf32>)
  memref.copy %c2, %d : memref<2x6xf32> to memref<2x6xf32>
  linalg.matmul ins(%a2, %b2 : memref<2x3xf32>, memref<3x6xf32>) outs(%c2 : memref<2x6xf32>)
  linalg.fill ins(%zero : f32) outs(%c3 : memref<2x6xf32>)
  linalg.matmul ins(%a3, %b3 : memref<2x?xf32>, memref<?x6xf32>) outs(%c3 : memref<2x6xf32>)
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
