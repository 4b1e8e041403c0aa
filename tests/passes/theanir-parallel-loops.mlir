// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-parallel-loops{threads=2})' | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-parallel-loops{threads=2 min-work=1})' \
// RUN:   | FileCheck %s --check-prefix=ALL
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-parallel-loops{threads=2 dynamic=true})' \
// RUN:   | FileCheck %s --check-prefix=DYN

// The team is set through libiomp5 (`threads`, dynamic adjustment off unless asked), declared once.
// CHECK-DAG:   func.func private @omp_set_num_threads(i32)
// CHECK-DAG:   func.func private @omp_set_dynamic(i32)

// A small nest (64 x tanh, work 64 * 19 < min-work): the serial scf.for, no OpenMP call.
// CHECK-LABEL: func.func @small
// CHECK-NOT:     scf.parallel
// CHECK-NOT:     omp_set_num_threads
// CHECK:         scf.for %{{.*}} = %c0 to %c64 step %c1
// CHECK:           math.tanh
// CHECK-NOT:     scf.parallel
// CHECK:         return
// ALL-LABEL:   func.func @small
// ALL:           call @omp_set_num_threads
// ALL:           scf.parallel

// A big static nest (10^6 iterations of an inner loop of 4 ops): parallel, team of 2; the
// inner parallel loop (nested parallelism) became a loop of its own thread.
// CHECK-LABEL: func.func @big
// CHECK:         %[[OFF:.*]] = arith.constant 0 : i32
// CHECK:         call @omp_set_dynamic(%[[OFF]])
// DYN-LABEL:   func.func @big
// DYN:           %[[ON:.*]] = arith.constant 1 : i32
// DYN:           call @omp_set_dynamic(%[[ON]])
// CHECK:         %[[T:.*]] = arith.constant 2 : i32
// CHECK:         call @omp_set_num_threads(%[[T]])
// CHECK:         scf.parallel (%{{.*}}) = (%c0) to (%c1000)
// CHECK:           scf.for
// CHECK-NOT:       scf.parallel
// CHECK:           scf.reduce

// Sizes known at run time: work = 18 * m * n compared with 2^21; parallel or the scf.for nest.
// The parallel nest keeps its leading dim only (sized at run time: enough iterations), the
// other becomes an scf.for inside (so OpenMP does not collapse the two into a loop that
// rebuilds each index by division and remainder).
// CHECK-LABEL: func.func @dynamic
// CHECK:         %[[M:.*]] = memref.dim %arg0, %c0
// CHECK:         %[[N:.*]] = memref.dim %arg0, %c1
// CHECK:         %[[W0:.*]] = arith.muli %{{.*}}, %[[M]]
// CHECK:         %[[W:.*]] = arith.muli %[[W0]], %[[N]]
// CHECK:         %[[MIN:.*]] = arith.constant 2097152 : index
// CHECK:         %[[BIG:.*]] = arith.cmpi uge, %[[W]], %[[MIN]]
// CHECK:         scf.if %[[BIG]] {
// CHECK:           func.call @omp_set_num_threads
// CHECK:           scf.parallel (%{{.*}}) = (%c0) to (%[[M]]) step (%c1) {
// CHECK-NEXT:        scf.for %{{.*}} = %c0 to %[[N]] step %c1 {
// CHECK:               math.exp
// CHECK:             scf.reduce
// CHECK:         } else {
// CHECK:           scf.for %{{.*}} = %c0 to %[[M]]
// CHECK:             scf.for %{{.*}} = %c0 to %[[N]]
// CHECK:               math.exp
// CHECK:         }
module {
  func.func @small(%a: memref<64xf32>, %b: memref<64xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
      %x = memref.load %a[%i] : memref<64xf32>
      %y = math.tanh %x : f32
      memref.store %y, %b[%i] : memref<64xf32>
      scf.reduce
    }
    return
  }
  func.func @big(%a: memref<1000x1000xf32>, %b: memref<1000x1000xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c1000 = arith.constant 1000 : index
    scf.parallel (%i) = (%c0) to (%c1000) step (%c1) {
      scf.parallel (%j) = (%c0) to (%c1000) step (%c1) {
        %x = memref.load %a[%i, %j] : memref<1000x1000xf32>
        %y = arith.addf %x, %x : f32
        memref.store %y, %b[%i, %j] : memref<1000x1000xf32>
        scf.reduce
      }
      scf.reduce
    }
    return
  }
  func.func @dynamic(%a: memref<?x?xf32>, %b: memref<?x?xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %m = memref.dim %a, %c0 : memref<?x?xf32>
    %n = memref.dim %a, %c1 : memref<?x?xf32>
    scf.parallel (%i, %j) = (%c0, %c0) to (%m, %n) step (%c1, %c1) {
      %x = memref.load %a[%i, %j] : memref<?x?xf32>
      %y = math.exp %x : f32
      memref.store %y, %b[%i, %j] : memref<?x?xf32>
      scf.reduce
    }
    return
  }
// A static 3-D nest: 4 x 6 = 24 < 8 chunks per thread x 2 threads needs the first two dims
// (4 alone is too few), the innermost (32768, contiguous) stays a serial loop that vectorizes.
// CHECK-LABEL: func.func @leading_dims
// CHECK:         scf.parallel (%{{.*}}, %{{.*}}) = (%c0, %c0) to (%c4, %c6) step (%c1, %c1) {
// CHECK-NEXT:      scf.for %{{.*}} = %c0 to %c32768 step %c1 {
// CHECK-NEXT:        memref.load
// CHECK:         scf.reduce
  func.func @leading_dims(%a: memref<4x6x32768xf32>, %b: memref<4x6x32768xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c6 = arith.constant 6 : index
    %c32768 = arith.constant 32768 : index
    scf.parallel (%i, %j, %k) = (%c0, %c0, %c0) to (%c4, %c6, %c32768) step (%c1, %c1, %c1) {
      %x = memref.load %a[%i, %j, %k] : memref<4x6x32768xf32>
      %y = math.exp %x : f32
      memref.store %y, %b[%i, %j, %k] : memref<4x6x32768xf32>
      scf.reduce
    }
    return
  }
// A zero fill of 2^20 float32 (4 MB, memory-bound): loads and stores weigh MEMORY_WEIGHT (3),
// so its work (3 x 2^20) reaches min-work and it runs on the team; 2^18 elements stay serial.
// CHECK-LABEL: func.func @fills
// CHECK:         call @omp_set_num_threads
// CHECK:         scf.parallel (%{{.*}}) = (%c0) to (%c1048576)
// CHECK:         scf.reduce
// CHECK-NOT:     scf.parallel
// CHECK:         scf.for %{{.*}} = %c0 to %c262144
// CHECK:         return
  func.func @fills(%a: memref<1048576xf32>, %b: memref<262144xf32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %big = arith.constant 1048576 : index
    %small = arith.constant 262144 : index
    %zero = arith.constant 0.0 : f32
    scf.parallel (%i) = (%c0) to (%big) step (%c1) {
      memref.store %zero, %a[%i] : memref<1048576xf32>
      scf.reduce
    }
    scf.parallel (%i) = (%c0) to (%small) step (%c1) {
      memref.store %zero, %b[%i] : memref<262144xf32>
      scf.reduce
    }
    return
  }
// A nest its maker marked theanir.keep_parallel (convert-linalg-matmul-to-blas's blocks of BLAS
// calls, whose cost is not countable here) stays parallel, with its team set before it.
// CHECK-LABEL: func.func @kept_blas_blocks
// CHECK:         call @omp_set_dynamic
// CHECK:         call @omp_set_num_threads
// CHECK:         scf.parallel
// CHECK:           call @work
  func.func private @work(index)
  func.func @kept_blas_blocks() {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
      func.call @work(%i) : (index) -> ()
      scf.reduce
    } {theanir.keep_parallel}
    return
  }
// The mark on an op of the nest's body (an scf.forall's attributes do not survive
// scf-forall-to-parallel, its body's do: the CSC kernels' worker loops, whose trip counts the
// nest computes) keeps it parallel too.
// CHECK-LABEL: func.func @kept_by_body
// CHECK:         call @omp_set_num_threads
// CHECK:         scf.parallel
// CHECK:           scf.for
// CHECK:           } {theanir.keep_parallel}
  func.func @kept_by_body(%n: index) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    scf.parallel (%i) = (%c0) to (%c2) step (%c1) {
      %lo = arith.muli %i, %n : index
      %hi = arith.addi %lo, %n : index
      scf.for %j = %lo to %hi step %c1 {
        func.call @work(%j) : (index) -> ()
      } {theanir.keep_parallel}
      scf.reduce
    }
    return
  }
}
