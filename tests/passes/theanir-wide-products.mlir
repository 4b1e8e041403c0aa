// RUN: theanir-opt %s --theanir-wide-products | FileCheck %s

// A float32 product left to loops (no BLAS) accumulates in a float64 buffer: C is widened
// into it (matmul accumulates), the products are summed in f64, the result rounded once.
// CHECK-LABEL: func.func @loops
// CHECK:         %[[W:.+]] = memref.alloc() {alignment = 64 : i64} : memref<4x3xf64>
// CHECK:         linalg.generic {{.+}} ins(%[[C:.+]] : memref<4x3xf32>) outs(%[[W]] : memref<4x3xf64>)
// CHECK:           arith.extf
// CHECK:         linalg.generic {{.+}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.+}}, %{{.+}} : memref<4x300xf32>, memref<300x3xf32>) outs(%[[W]] : memref<4x3xf64>)
// CHECK:           %[[X:.+]] = arith.extf
// CHECK:           %[[Y:.+]] = arith.extf
// CHECK:           %[[P:.+]] = arith.mulf %[[X]], %[[Y]] : f64
// CHECK:           arith.addf %{{.+}}, %[[P]] fastmath<reassoc> : f64
// CHECK:         linalg.generic {{.+}} ins(%[[W]] : memref<4x3xf64>) outs(%[[C]] : memref<4x3xf32>)
// CHECK:           arith.truncf
// CHECK:         memref.dealloc %[[W]]
// CHECK-NOT:     linalg.matmul
// CHECK:         return
func.func @loops(%a: memref<4x300xf32>, %b: memref<300x3xf32>, %c: memref<4x3xf32>) {
  linalg.matmul ins(%a, %b : memref<4x300xf32>, memref<300x3xf32>) outs(%c : memref<4x3xf32>)
  return
}

// Dynamic sizes, B read transposed, batched: the buffer takes C's sizes, the maps B's layout.
// CHECK-LABEL: func.func @batched_transposed
// CHECK:         %[[D0:.+]] = memref.dim %[[C:.+]], %{{.+}} : memref<?x?x?xf32>
// CHECK:         %[[D1:.+]] = memref.dim %[[C]], %{{.+}} : memref<?x?x?xf32>
// CHECK:         %[[D2:.+]] = memref.dim %[[C]], %{{.+}} : memref<?x?x?xf32>
// CHECK:         memref.alloc(%[[D0]], %[[D1]], %[[D2]]) {alignment = 64 : i64} : memref<?x?x?xf64>
// CHECK:         iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-NOT:     linalg.batch_matmul
// CHECK:         return
func.func @batched_transposed(%a: memref<?x?x?xf32>, %b: memref<?x?x?xf32>, %c: memref<?x?x?xf32>) {
  linalg.batch_matmul indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>,
                                       affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>,
                                       affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>]
    ins(%a, %b : memref<?x?x?xf32>, memref<?x?x?xf32>) outs(%c : memref<?x?x?xf32>)
  return
}

// Left alone: K of at most 256 (one float32 chain, as a block of blocked sums), float64, integers.
// CHECK-LABEL: func.func @kept
// CHECK-NOT:     memref.alloc
// CHECK:         linalg.matmul ins(%{{.+}}, %{{.+}} : memref<4x256xf32>, memref<256x3xf32>)
// CHECK:         linalg.matmul ins(%{{.+}}, %{{.+}} : memref<4x100xf64>, memref<100x3xf64>)
// CHECK:         linalg.matmul ins(%{{.+}}, %{{.+}} : memref<4x100xi32>, memref<100x3xi32>)
// CHECK:         return
func.func @kept(%a: memref<4x256xf32>, %b: memref<256x3xf32>, %c: memref<4x3xf32>,
                %d: memref<4x100xf64>, %e: memref<100x3xf64>, %f: memref<4x3xf64>,
                %g: memref<4x100xi32>, %h: memref<100x3xi32>, %i: memref<4x3xi32>) {
  linalg.matmul ins(%a, %b : memref<4x256xf32>, memref<256x3xf32>) outs(%c : memref<4x3xf32>)
  linalg.matmul ins(%d, %e : memref<4x100xf64>, memref<100x3xf64>) outs(%f : memref<4x3xf64>)
  linalg.matmul ins(%g, %h : memref<4x100xi32>, memref<100x3xi32>) outs(%i : memref<4x3xi32>)
  return
}
