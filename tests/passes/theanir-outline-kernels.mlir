// RUN: theanir-opt %s --pass-pipeline='builtin.module(theanir-outline-kernels{min-ops=4})' | FileCheck %s
// A body of at most min-ops (default 1024, the threshold of theanir-split-functions) top-level
// ops is left as it is.
// RUN: theanir-opt %s --theanir-outline-kernels | FileCheck %s --check-prefix=SMALL

// @main has 6 top-level ops: each linalg op becomes a call. The two generics that differ only
// in their buffers share one kernel, in which the constant their bodies read is cloned; the
// third generic reads another constant and the fill fills with a third: kernels of their own.
// The operands come first, then the non-constant values the body reads (%s). The kernels
// land before the function, in first-use order.
// CHECK-LABEL: func.func private @__theanir_kernel0(%arg0: memref<4x8xf32>, %arg1: memref<4x8xf32>, %arg2: f32)
// CHECK-NEXT:    %[[C:.+]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT:    linalg.generic {{.+}} ins(%arg0 : memref<4x8xf32>) outs(%arg1 : memref<4x8xf32>)
// CHECK:           arith.mulf %{{.+}}, %[[C]] : f32
// CHECK:           arith.addf %{{.+}}, %arg2 : f32
// CHECK:         return
// CHECK-LABEL: func.func private @__theanir_kernel1(%arg0: memref<4x8xf32>, %arg1: memref<4x8xf32>, %arg2: f32)
// CHECK-NEXT:    arith.constant 2.500000e-01 : f32
// CHECK-LABEL: func.func private @__theanir_kernel2(%arg0: memref<4x8xf32>)
// CHECK-NEXT:    %[[Z:.+]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT:    linalg.fill ins(%[[Z]] : f32) outs(%arg0 : memref<4x8xf32>)
// CHECK-NOT:   func.func private @__theanir_kernel3
// CHECK-LABEL: func.func @main(%arg0: memref<4x8xf32>, %arg1: memref<4x8xf32>, %arg2: memref<4x8xf32>, %arg3: f32)
// CHECK:         call @__theanir_kernel0(%arg0, %arg1, %arg3)
// CHECK-NEXT:    call @__theanir_kernel0(%arg1, %arg2, %arg3)
// CHECK-NEXT:    call @__theanir_kernel1(%arg2, %arg1, %arg3)
// CHECK-NEXT:    call @__theanir_kernel2(%arg0)
// CHECK-NOT:     linalg.
// CHECK:         return

// SMALL-LABEL: func.func @main
// SMALL-NOT:     call
// SMALL:         linalg.generic
// SMALL-NOT:     call
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%a: memref<4x8xf32>, %b: memref<4x8xf32>, %c: memref<4x8xf32>, %s: f32) {
  %half = arith.constant 0.5 : f32
  %quarter = arith.constant 0.25 : f32
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<4x8xf32>) outs(%b : memref<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %m = arith.mulf %x, %half : f32
    %r = arith.addf %m, %s : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%b : memref<4x8xf32>) outs(%c : memref<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %m = arith.mulf %x, %half : f32
    %r = arith.addf %m, %s : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<4x8xf32>) outs(%b : memref<4x8xf32>) {
  ^bb0(%x: f32, %y: f32):
    %m = arith.mulf %x, %quarter : f32
    %r = arith.addf %m, %s : f32
    linalg.yield %r : f32
  }
  linalg.fill ins(%zero : f32) outs(%a : memref<4x8xf32>)
  return
}
