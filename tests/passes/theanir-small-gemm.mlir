// RUN: theanir-opt %s --theanir-small-gemm | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-small-gemm{target-features=+avx2,+fma,+avx512f})' \
// RUN:   | FileCheck %s --check-prefix=AVX512
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-small-gemm{target-features=+avx2,+fma})' \
// RUN:   | FileCheck %s --check-prefix=AVX2

// The target-features option picks the kernels' vector width: 512-bit vectors (16 f32 lanes)
// with +avx512f, 256-bit (8) without; no option asks the host.
// AVX512: func.func private @__theanir_rkp_f32
// AVX512: vector<16xf32>
// AVX2-NOT: vector<16xf32>
// AVX2: func.func private @__theanir_rkp_f32
// AVX2: vector<8xf32>

// A minibatch product (10 rows): one block of rows, the row-broadcast kernel over every
// column, defined once in the module; with K > 16, B streams through once, so the variant
// that prefetches B's rows ahead (rkp). The block's width (1 or 2 vectors) depends on the
// host's vector registers.
// CHECK-LABEL: func.func @forward
// CHECK:         %[[PA:.+]] = llvm.inttoptr
// CHECK:         %[[PB:.+]] = llvm.inttoptr
// CHECK:         %[[PC:.+]] = llvm.inttoptr
// CHECK:         scf.for %[[I:.+]] = %{{.+}} to %{{.+}} step
// CHECK:           call @__theanir_rkp_f32_[[RK:[0-9]+x[0-9]]](%[[PA]], %{{.+}}, %{{.+}}, %[[PB]], %{{.+}}, %[[PC]], %{{.+}}, %[[I]],
// CHECK-NOT:     linalg.matmul
// CHECK:         return
func.func @forward(%a: memref<10x784xf32>, %b: memref<784x500xf32>, %c: memref<10x500xf32>) {
  linalg.matmul ins(%a, %b : memref<10x784xf32>, memref<784x500xf32>) outs(%c : memref<10x500xf32>)
  return
}

// d @ W.T with W read in place (transposed indexing map): the dot kernel (dk), 2 x 6 blocks
// over 10 x 9 outputs, then the 3 leftover columns.
// CHECK-LABEL: func.func @backward_f64
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             call @__theanir_dk_f64_2x6(
// CHECK:         scf.for
// CHECK:           call @__theanir_dk_f64_2x3(
// CHECK-NOT:     linalg.matmul
func.func @backward_f64(%d: memref<10x40xf64>, %w: memref<9x40xf64>, %c: memref<10x9xf64>) {
  linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%d, %w : memref<10x40xf64>, memref<9x40xf64>) outs(%c : memref<10x9xf64>)
  return
}

// A rank-10 update W += Hᵀ D (K = 10, the batch): rk over blocks of rows of W, the last
// 784 mod (block) rows by a smaller instance.
// CHECK-LABEL: func.func @update
// CHECK:         scf.for
// CHECK:           call @__theanir_rk_f32_
// CHECK:         call @__theanir_rk_f32_
// CHECK-NOT:     linalg.matmul
func.func @update(%h: memref<10x784xf32>, %d: memref<10x500xf32, strided<[500, 1], offset: 5000>>, %w: memref<784x500xf32>) {
  linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d2, d0)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%h, %d : memref<10x784xf32>, memref<10x500xf32, strided<[500, 1], offset: 5000>>) outs(%w : memref<784x500xf32>)
  return
}

// A long K (4100 > 1024) runs in chunks of 64 steps (A and B advanced to each chunk) and a
// last chunk of 4, each a call of the variant that sums from zero and adds C once at the
// end (rkpz), so no float32 chain is longer than 64 + 4100 / 64. K > 16384 is left to BLAS.
// CHECK-LABEL: func.func @long_k
// CHECK:         scf.for %[[K0:.+]] = %{{.+}} to %{{.+}} step
// CHECK:           arith.muli %[[K0]]
// CHECK:           llvm.inttoptr
// CHECK:           call @__theanir_rkpz_f32_[[RKZ:[0-9]+x[0-9]]](
// CHECK:         call @__theanir_rkpz_f32_[[RKZ]](
// CHECK-NOT:     linalg.matmul
// CHECK:         return
func.func @long_k(%a: memref<10x4100xf32>, %b: memref<4100x64xf32>, %c: memref<10x64xf32>) {
  linalg.matmul ins(%a, %b : memref<10x4100xf32>, memref<4100x64xf32>) outs(%c : memref<10x64xf32>)
  return
}
// CHECK-LABEL: func.func @too_long_k
// CHECK-NOT:     call @__theanir_
// CHECK:         linalg.matmul
func.func @too_long_k(%a: memref<10x16385xf32>, %b: memref<16385x64xf32>, %c: memref<10x64xf32>) {
  linalg.matmul ins(%a, %b : memref<10x16385xf32>, memref<16385x64xf32>) outs(%c : memref<10x64xf32>)
  return
}

// Sizes known only in the call (a minibatch of any size, ? rows): a run-time branch on the
// sizes; in the then-branch a loop over ceil(M / 6) equal blocks of rows, each calling the
// kernel for its row count (rkp, the prefetching one, as K is not known to be small); the
// product itself (for BLAS or the loops) in the else-branch.
// CHECK-LABEL: func.func @sized_in_call
// CHECK:         %[[M:.+]] = memref.dim %{{.+}}, %{{.+}} : memref<?x?xf32>
// CHECK:         arith.cmpi ule, %[[M]]
// CHECK:         scf.if
// CHECK:           scf.for
// CHECK:             call @__theanir_rkp_f32_1x
// CHECK:             call @__theanir_rkp_f32_2x
// CHECK-NOT:     call @__theanir_rk_f32
// CHECK:           linalg.matmul
// CHECK:         return
func.func @sized_in_call(%a: memref<?x?xf32>, %b: memref<?x?xf32>, %c: memref<?x?xf32>) {
  linalg.matmul ins(%a, %b : memref<?x?xf32>, memref<?x?xf32>) outs(%c : memref<?x?xf32>)
  return
}

// The backward product d @ W.T sized in the call: dot kernels over 2 x 6 blocks, the odd row
// and the leftover columns one at a time (4 kernels whatever the sizes).
// CHECK-LABEL: func.func @sized_in_call_backward
// CHECK:         scf.if
// CHECK:           call @__theanir_dk_f64_2x6(
// CHECK:           call @__theanir_dk_f64_1x6(
// CHECK:           call @__theanir_dk_f64_2x1(
// CHECK:           call @__theanir_dk_f64_1x1(
// CHECK:         } else {
// CHECK-NEXT:      linalg.matmul
func.func @sized_in_call_backward(%d: memref<?x40xf64>, %w: memref<?x40xf64>, %c: memref<?x?xf64>) {
  linalg.matmul indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>] ins(%d, %w : memref<?x40xf64>, memref<?x40xf64>) outs(%c : memref<?x?xf64>)
  return
}

// Left alone: no small side, a matrix-vector product (BLAS's gemv), dynamic strides, a
// column-strided C, integers, a batch.
// CHECK-LABEL: func.func @kept
// CHECK-NOT:     call @__theanir_
// CHECK-COUNT-5: linalg.matmul
// CHECK:         linalg.batch_matmul
// CHECK:         return
func.func @kept(%a: memref<64x64xf32>, %v: memref<1x64xf32>, %s: memref<8x64xf32, strided<[?, 1], offset: ?>>,
                %ct: memref<8x64xf32, strided<[1, 8]>>, %i: memref<8x64xi32>,
                %c: memref<64x64xf32>, %c1: memref<1x64xf32>, %c8: memref<8x64xf32>,
                %ba: memref<2x4x3xf32>, %bb: memref<2x3x5xf32>, %bc: memref<2x4x5xf32>, %ii: memref<64x64xi32>) {
  linalg.matmul ins(%a, %a : memref<64x64xf32>, memref<64x64xf32>) outs(%c : memref<64x64xf32>)
  linalg.matmul ins(%v, %a : memref<1x64xf32>, memref<64x64xf32>) outs(%c1 : memref<1x64xf32>)
  linalg.matmul ins(%s, %a : memref<8x64xf32, strided<[?, 1], offset: ?>>, memref<64x64xf32>) outs(%c8 : memref<8x64xf32>)
  linalg.matmul ins(%c8, %a : memref<8x64xf32>, memref<64x64xf32>) outs(%ct : memref<8x64xf32, strided<[1, 8]>>)
  linalg.matmul ins(%i, %ii : memref<8x64xi32>, memref<64x64xi32>) outs(%i : memref<8x64xi32>)
  linalg.batch_matmul ins(%ba, %bb : memref<2x4x3xf32>, memref<2x3x5xf32>) outs(%bc : memref<2x4x5xf32>)
  return
}

// The kernels: private functions; rk's k loop carries its accumulators (vector.fma of a
// broadcast A element and a row of B), its last column block is masked; rkp prefetches.
// CHECK:       func.func private @__theanir_dk_f64_2x3(
// CHECK:         vector.reduction <add>
// CHECK:       func.func private @__theanir_dk_f64_2x6(
// CHECK:       func.func private @__theanir_rk_f32_
// CHECK-NOT:     llvm.intr.prefetch
// CHECK:       func.func private @__theanir_rkp_f32_
// CHECK:       func.func private @__theanir_rkp_f32_[[RK]](
// CHECK:         scf.for {{.+}} iter_args(
// CHECK:           llvm.intr.prefetch
// CHECK:           vector.broadcast
// CHECK:           vector.fma
// CHECK:         vector.create_mask
// CHECK:         llvm.intr.masked.store
