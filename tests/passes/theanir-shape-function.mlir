// RUN: theanir-opt %s --theanir-shape-function | FileCheck %s

// Result 0's size follows from the input shapes (the dim of %x): its slot becomes a
// destination written with materialize_in_destination, and @main_shapes computes its dims.
// Result 1's size is read from data (a load): it keeps its slot and its flag is 0.
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    %[[X:.+]]: memref<?x3xf32>, %{{.+}}: memref<1xi64>, %[[D:.+]]: memref<?x3xf32>, %{{.+}}: memref<2xi64>) -> tensor<?xf32>
// CHECK-SAME:    theanir.result_slots = array<i64: 3>
// CHECK-NOT:     theanir.inputs
// CHECK:         bufferization.materialize_in_destination %{{.+}} in restrict writable %[[D]]
// CHECK-NOT:     tensor.dim
// CHECK:         return %{{.+}} : tensor<?xf32>
// CHECK-LABEL: func.func @main_shapes(
// CHECK-SAME:    %[[SX:.+]]: memref<?x3xf32>, %{{.+}}: memref<1xi64>, %[[OUT:.+]]: memref<5xi64>) attributes {llvm.emit_c_interface}
// CHECK:         %[[N:.+]] = memref.dim %[[SX]], %{{.+}} : memref<?x3xf32>
// CHECK:         %[[ONE:.+]] = arith.constant 1 : i64
// CHECK:         memref.store %[[ONE]], %[[OUT]]
// CHECK:         %[[ZERO:.+]] = arith.constant 0 : i64
// CHECK:         memref.store %[[ZERO]], %[[OUT]]
// CHECK:         %[[NI:.+]] = arith.index_cast %[[N]] : index to i64
// CHECK:         memref.store %[[NI]], %[[OUT]]
// CHECK:         %[[THREE:.+]] = arith.constant 3 : i64
// CHECK:         memref.store %[[THREE]], %[[OUT]]
// CHECK:         memref.store %{{.+}}, %[[OUT]]
// CHECK-NEXT:    return
// CHECK-NOT:     __theanir_shape_marker
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: memref<?x3xf32>, %k: memref<1xi64>, %s: memref<3xi64>, %t: memref<2xi64>)
    -> (tensor<?x3xf32>, tensor<?xf32>)
    attributes {llvm.emit_c_interface, theanir.inputs = 2 : i64, theanir.result_slots = array<i64: 2, 3>} {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 0.0 : f32
  %xt = bufferization.to_tensor %x restrict : memref<?x3xf32> to tensor<?x3xf32>
  %n = memref.dim %x, %c0 : memref<?x3xf32>
  %e = tensor.empty(%n) : tensor<?x3xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%xt : tensor<?x3xf32>) outs(%e : tensor<?x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %y = math.exp %in : f32
    linalg.yield %y : f32
  } -> tensor<?x3xf32>
  %k0 = memref.load %k[%c0] : memref<1xi64>
  %kk = arith.index_cast %k0 : i64 to index
  %e2 = tensor.empty(%kk) : tensor<?xf32>
  %r2 = linalg.fill ins(%cst : f32) outs(%e2 : tensor<?xf32>) -> tensor<?xf32>
  return %r, %r2 : tensor<?x3xf32>, tensor<?xf32>
}
