// RUN: theanir-opt %s --theanir-matmul-into-result | FileCheck %s
// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-matmul-into-result{blas=false})' | FileCheck %s --check-prefix=NOBLAS

// In the entry function, a product that bufferization computed into a temporary, then copied
// into a result buffer, is computed in the result buffer directly: the fill and the product
// write %arg2, the alloc, copy and dealloc are gone. A 32x24x40 float product is BLAS-bound (too big for the kernels);
// with blas=false it is left to loops, and the temporary stays (the generated loops were
// measured with it).
// CHECK-LABEL: func.func @entry
// CHECK-NOT:     memref.alloc
// CHECK:         linalg.fill ins(%{{.+}} : f32) outs(%arg2 : memref<32x24xf32>)
// CHECK:         linalg.matmul ins(%arg0, %arg1 : memref<32x40xf32>, memref<40x24xf32>) outs(%arg2 : memref<32x24xf32>)
// CHECK-NOT:     memref.copy
// CHECK:         return
// NOBLAS-LABEL: func.func @entry
// NOBLAS:         memref.alloc
// NOBLAS:         memref.copy
func.func @entry(%a: memref<32x40xf32>, %b: memref<40x24xf32>, %o: memref<32x24xf32>) attributes {llvm.emit_c_interface} {
  %cst = arith.constant 0.0 : f32
  %t = memref.alloc() {alignment = 64 : i64} : memref<32x24xf32>
  linalg.fill ins(%cst : f32) outs(%t : memref<32x24xf32>)
  linalg.matmul ins(%a, %b : memref<32x40xf32>, memref<40x24xf32>) outs(%t : memref<32x24xf32>)
  memref.copy %t, %o : memref<32x24xf32> to memref<32x24xf32>
  memref.dealloc %t : memref<32x24xf32>
  return
}

// A small-GEMM-bound product (10 rows, static sizes) writes its result without BLAS too.
// CHECK-LABEL: func.func @small
// CHECK-NOT:     memref.alloc
// CHECK:         linalg.matmul ins(%arg0, %arg1 : memref<10x64xf32>, memref<64x32xf32>) outs(%arg2 : memref<10x32xf32>)
// NOBLAS-LABEL: func.func @small
// NOBLAS-NOT:     memref.alloc
// NOBLAS:         linalg.matmul ins(%arg0, %arg1 : memref<10x64xf32>, memref<64x32xf32>) outs(%arg2 : memref<10x32xf32>)
func.func @small(%a: memref<10x64xf32>, %b: memref<64x32xf32>, %o: memref<10x32xf32>) attributes {llvm.emit_c_interface} {
  %cst = arith.constant 0.0 : f32
  %t = memref.alloc() {alignment = 64 : i64} : memref<10x32xf32>
  linalg.fill ins(%cst : f32) outs(%t : memref<10x32xf32>)
  linalg.matmul ins(%a, %b : memref<10x64xf32>, memref<64x32xf32>) outs(%t : memref<10x32xf32>)
  memref.copy %t, %o : memref<10x32xf32> to memref<10x32xf32>
  memref.dealloc %t : memref<10x32xf32>
  return
}

// Outside the entry function (its result buffers may be inputs) nothing changes.
// CHECK-LABEL: func.func @helper
// CHECK:         memref.alloc
// CHECK:         memref.copy
func.func @helper(%a: memref<4x3xf32>, %b: memref<3x5xf32>, %o: memref<4x5xf32>) {
  %cst = arith.constant 0.0 : f32
  %t = memref.alloc() {alignment = 64 : i64} : memref<4x5xf32>
  linalg.fill ins(%cst : f32) outs(%t : memref<4x5xf32>)
  linalg.matmul ins(%a, %b : memref<4x3xf32>, memref<3x5xf32>) outs(%t : memref<4x5xf32>)
  memref.copy %t, %o : memref<4x5xf32> to memref<4x5xf32>
  memref.dealloc %t : memref<4x5xf32>
  return
}
