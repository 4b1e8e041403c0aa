// RUN: theanir-opt %s --theanir-runtime-memory | FileCheck %s

// The generic allocation functions that finalize-memref-to-llvm{use-generic-functions
// use-aligned-alloc} declares get internal definitions calling the hooks that the exported
// setter installs, with libc's aligned_alloc/free until then; callers are unchanged. A null
// result of a non-empty allocation is never returned: a message on stderr, then abort.
// The allocation returns noalias (each buffer distinct, as malloc's) and is never inlined
// (that would drop it): LLVM's vectorizer then needs no overlap checks between buffers.
// CHECK:       llvm.mlir.global internal @__theanir_memory_hooks()
// CHECK:       llvm.func @__theanir_set_memory_hooks(%{{.+}}: !llvm.ptr, %{{.+}}: !llvm.ptr)
// CHECK:         llvm.store
// CHECK:       llvm.mlir.global internal constant @__theanir_out_of_memory("theanir: out of memory
// CHECK:       llvm.func internal @_mlir_memref_to_llvm_aligned_alloc(%[[A:.+]]: i64, %[[S:.+]]: i64) -> (!llvm.ptr {llvm.noalias}) attributes {no_inline}
// CHECK:         %[[F:.+]] = llvm.load
// CHECK:         llvm.call @aligned_alloc(%[[A]], %[[S]])
// CHECK:         llvm.call %[[F]](%[[A]], %[[S]])
// CHECK:         llvm.icmp "eq"
// CHECK:         llvm.icmp "ne" %[[S]]
// CHECK:         llvm.cond_br
// CHECK:         llvm.call @write(
// CHECK-NEXT:    llvm.call @abort()
// CHECK-NEXT:    llvm.unreachable
// CHECK:       llvm.func internal @_mlir_memref_to_llvm_free(%[[P:.+]]: !llvm.ptr)
// CHECK:         llvm.call @free(%[[P]])
// CHECK:       llvm.func @aligned_alloc(i64, i64) -> !llvm.ptr
// CHECK:       llvm.func @free(!llvm.ptr)
// CHECK:       llvm.func @write(i32, !llvm.ptr, i64) -> i64
// CHECK:       llvm.func @abort()
// CHECK-LABEL: llvm.func @main
// CHECK:         llvm.call @_mlir_memref_to_llvm_aligned_alloc
// CHECK:         llvm.call @_mlir_memref_to_llvm_free
// CHECK-NOT:   llvm.func @_mlir_memref_to_llvm
llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)
llvm.func @_mlir_memref_to_llvm_aligned_alloc(i64, i64) -> !llvm.ptr
llvm.func @main(%n: i64) {
  %a = llvm.mlir.constant(64 : i64) : i64
  %p = llvm.call @_mlir_memref_to_llvm_aligned_alloc(%a, %n) : (i64, i64) -> !llvm.ptr
  llvm.call @_mlir_memref_to_llvm_free(%p) : (!llvm.ptr) -> ()
  llvm.return
}
