// RUN: theanir-opt %s --theanir-gpu-expand-remf | FileCheck %s

// fmod without libdevice: f32 computed in f64 as a - trunc(a / b) b, with sign fix-ups.
// CHECK-LABEL: func.func @fmod_f32
// CHECK-NOT:     arith.remf
// CHECK:         %[[X:.+]] = arith.extf %arg0 : f32 to f64
// CHECK:         %[[Y:.+]] = arith.extf %arg1 : f32 to f64
// CHECK:         %[[D:.+]] = arith.divf %[[X]], %[[Y]] : f64
// CHECK:         %[[Q:.+]] = math.trunc %[[D]] : f64
// CHECK:         %[[N:.+]] = arith.negf %[[Q]] : f64
// CHECK:         math.fma %[[N]], %[[Y]], %[[X]] : f64
// CHECK:         math.copysign
// CHECK:         arith.truncf %{{.+}} : f64 to f32
func.func @fmod_f32(%a: f32, %b: f32) -> f32 {
  %r = arith.remf %a, %b : f32
  return %r : f32
}

// f64 stays f64.
// CHECK-LABEL: func.func @fmod_f64
// CHECK-NOT:     arith.extf
// CHECK:         arith.divf %arg0, %arg1 : f64
// CHECK-NOT:     arith.remf
func.func @fmod_f64(%a: f64, %b: f64) -> f64 {
  %r = arith.remf %a, %b : f64
  return %r : f64
}
