// RUN: theanir-opt %s --theanir-inline-alloca-scopes | FileCheck %s

// The scope convert-scf-to-openmp puts around an iteration that allocates nothing is
// inlined (its result replaced by the returned value); one that allocates stays.
// CHECK-LABEL: func.func @f
// CHECK-NOT:     memref.alloca_scope
// CHECK:         %[[Y:.*]] = arith.addf %arg0, %arg0
// CHECK:         memref.store %[[Y]], %arg1[%c0]
// CHECK:         memref.alloca_scope {
// CHECK:           memref.alloca()
// CHECK:         }
module {
  func.func @f(%x: f32, %out: memref<2xf32>) {
    %c0 = arith.constant 0 : index
    %y = memref.alloca_scope -> f32 {
      %s = arith.addf %x, %x : f32
      memref.alloca_scope.return %s : f32
    }
    memref.store %y, %out[%c0] : memref<2xf32>
    memref.alloca_scope {
      %t = memref.alloca() : memref<4xf32>
      memref.alloca_scope.return
    }
    return
  }
}
