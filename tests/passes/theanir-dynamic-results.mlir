// RUN: theanir-opt %s --theanir-dynamic-results | FileCheck %s

// A result with dynamic dims leaves through its slot argument: the buffer's address, then its
// sizes, stored as i64; the function returns nothing. A fresh allocation is handed over as it
// is; anything else (here an input) is copied into a new one first.
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    %{{.+}}: memref<?x3xf32>, %[[S:.+]]: memref<3xi64>, %[[T:.+]]: memref<2xi64>, %[[Y:.+]]: memref<?xf32>) {
// CHECK:         %[[A:.+]] = memref.alloc(%{{.+}}) : memref<?x3xf32>
// CHECK:         %[[P:.+]] = memref.extract_aligned_pointer_as_index %[[A]]
// CHECK:         %[[D0:.+]] = memref.dim %[[A]], %{{.+}} : memref<?x3xf32>
// CHECK:         %[[PI:.+]] = arith.index_cast %[[P]] : index to i64
// CHECK:         memref.store %[[PI]], %[[S]][%{{.+}}] : memref<3xi64>
// CHECK:         arith.index_cast %[[D0]] : index to i64
// CHECK:         memref.store %{{.+}}, %[[S]]
// CHECK:         memref.store %{{.+}}, %[[S]]
// CHECK:         %[[C:.+]] = memref.alloc(%{{.+}}) : memref<?xf32>
// CHECK:         memref.copy %[[Y]], %[[C]]
// CHECK:         memref.extract_aligned_pointer_as_index %[[C]]
// CHECK:         memref.store %{{.+}}, %[[T]]
// CHECK:         memref.store %{{.+}}, %[[T]]
// CHECK-NEXT:    return{{$}}
// CHECK-NOT:     theanir.result_slots
func.func @main(%x: memref<?x3xf32>, %s: memref<3xi64>, %t: memref<2xi64>, %y: memref<?xf32>)
    -> (memref<?x3xf32>, memref<?xf32>) attributes {theanir.result_slots = array<i64: 1, 2>} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x3xf32>
  %a = memref.alloc(%n) : memref<?x3xf32>
  memref.copy %x, %a : memref<?x3xf32> to memref<?x3xf32>
  return %a, %y : memref<?x3xf32>, memref<?xf32>
}

// A prefix of a fresh allocation (a kernel that filled the first %k entries of an array sized
// for the most it could produce) is handed over as it is: its address is the allocation's.
// The same allocation's second view, and a view at another offset, are copied.
// CHECK-LABEL: func.func @prefix(
// CHECK-SAME:    %{{.+}}: index, %[[K:.+]]: index, %[[S:.+]]: memref<2xi64>, %[[T:.+]]: memref<2xi64>, %[[U:.+]]: memref<2xi64>) {
// CHECK:         %[[A:.+]] = memref.alloc(%{{.+}}) : memref<?xf64>
// CHECK:         %[[V:.+]] = memref.reinterpret_cast %[[A]] to offset: [0], sizes: [%[[K]]], strides: [1]
// CHECK:         %[[W:.+]] = memref.reinterpret_cast %[[A]] to offset: [0], sizes: [%[[K]]], strides: [1]
// CHECK:         %[[O:.+]] = memref.reinterpret_cast %[[A]] to offset: [1]
// CHECK-NOT:     memref.copy %[[V]]
// CHECK:         memref.extract_aligned_pointer_as_index %[[V]]
// CHECK:         memref.store %{{.+}}, %[[S]]
// CHECK:         memref.copy %[[W]], %{{.+}}
// CHECK:         memref.store %{{.+}}, %[[T]]
// CHECK:         memref.copy %[[O]], %{{.+}}
// CHECK:         memref.store %{{.+}}, %[[U]]
func.func @prefix(%n: index, %k: index, %s: memref<2xi64>, %t: memref<2xi64>, %u: memref<2xi64>)
    -> (memref<?xf64>, memref<?xf64>, memref<?xf64, strided<[1], offset: 1>>)
    attributes {theanir.result_slots = array<i64: 2, 3, 4>} {
  %a = memref.alloc(%n) : memref<?xf64>
  %v = memref.reinterpret_cast %a to offset: [0], sizes: [%k], strides: [1] : memref<?xf64> to memref<?xf64>
  %w = memref.reinterpret_cast %a to offset: [0], sizes: [%k], strides: [1] : memref<?xf64> to memref<?xf64>
  %o = memref.reinterpret_cast %a to offset: [1], sizes: [%k], strides: [1] : memref<?xf64> to memref<?xf64, strided<[1], offset: 1>>
  return %v, %w, %o : memref<?xf64>, memref<?xf64>, memref<?xf64, strided<[1], offset: 1>>
}
