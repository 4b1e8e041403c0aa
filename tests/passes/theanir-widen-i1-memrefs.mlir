// RUN: theanir-opt %s --theanir-widen-i1-memrefs | FileCheck %s

// i1 buffers (the ownership flags buffer-deallocation-pipeline keeps for loops) become i8:
// stores write the zero extension, loads are truncated back to i1 for their users; casts,
// call arguments and function types follow.
// CHECK-LABEL: func.func private @helper(%arg0: memref<?xi8>)
// CHECK:         %[[V:.+]] = memref.load %arg0[%{{.+}}] : memref<?xi8>
// CHECK:         %[[B:.+]] = arith.trunci %[[V]] : i8 to i1
// CHECK:         %[[W:.+]] = arith.extui %[[B]] : i1 to i8
// CHECK:         memref.store %[[W]], %arg0[%{{.+}}] : memref<?xi8>
// CHECK-LABEL: func.func @main(%arg0: i1)
// CHECK:         %[[M:.+]] = memref.alloc() : memref<2xi8>
// CHECK:         %[[E:.+]] = arith.extui %arg0 : i1 to i8
// CHECK:         memref.store %[[E]], %[[M]][%{{.+}}] : memref<2xi8>
// CHECK:         %[[C:.+]] = memref.cast %[[M]] : memref<2xi8> to memref<?xi8>
// CHECK:         call @helper(%[[C]]) : (memref<?xi8>) -> ()
// CHECK:         %[[L:.+]] = memref.load %[[M]][%{{.+}}] : memref<2xi8>
// CHECK:         %[[T:.+]] = arith.trunci %[[L]] : i8 to i1
// CHECK:         scf.if %[[T]]
// CHECK-NOT:     xi1>
func.func private @helper(%arg0: memref<?xi1>) {
  %c0 = arith.constant 0 : index
  %0 = memref.load %arg0[%c0] : memref<?xi1>
  memref.store %0, %arg0[%c0] : memref<?xi1>
  return
}
func.func @main(%arg0: i1) {
  %c1 = arith.constant 1 : index
  %m = memref.alloc() : memref<2xi1>
  memref.store %arg0, %m[%c1] : memref<2xi1>
  %cast = memref.cast %m : memref<2xi1> to memref<?xi1>
  call @helper(%cast) : (memref<?xi1>) -> ()
  %b = memref.load %m[%c1] : memref<2xi1>
  scf.if %b {
    memref.dealloc %m : memref<2xi1>
  }
  return
}
