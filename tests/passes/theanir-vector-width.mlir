// RUN: theanir-opt %s --theanir-vector-width | FileCheck %s

// Defined functions get the prefer-vector-width hint (kept once when run twice, other
// passthrough attributes kept); declarations are left alone.
// CHECK-LABEL: llvm.func @f
// CHECK-SAME:    passthrough = ["noinline", ["prefer-vector-width", "256"]]
// CHECK-LABEL: llvm.func @g
// CHECK-SAME:    passthrough = {{\[}}["prefer-vector-width", "256"]]
// CHECK:       llvm.func @decl(f32) -> f32
// CHECK-NOT:     passthrough
module {
  llvm.func @f(%x: f32) -> f32 attributes {passthrough = ["noinline"]} {
    llvm.return %x : f32
  }
  llvm.func @g(%x: f32) -> f32 attributes {passthrough = [["prefer-vector-width", "256"]]} {
    %y = llvm.call @decl(%x) : (f32) -> f32
    llvm.return %y : f32
  }
  llvm.func @decl(f32) -> f32
}
