"""theanir-runtime-memory: generated code allocates its buffers through the runtime.

`finalize-memref-to-llvm{use-generic-functions use-aligned-alloc}` lowers `memref.alloc` and
`memref.dealloc` to calls of `_mlir_memref_to_llvm_aligned_alloc(alignment, size)` and
`_mlir_memref_to_llvm_free(ptr)`, left undefined. This pass defines both in the module
(internal, so every artifact has its own), calling through two function pointers that
`__theanir_set_memory_hooks(alloc, free)` (exported) installs; until it is called they are
libc's `aligned_alloc` and `free`, so a library loaded without theanir still works.

The runtime installs its hooks when it wraps the entry point (runtime/src/pool.h): while a
call of a function with `allow_gc=False` runs, buffers freed go back to that function's
pool and later allocations of the same size reuse them (Theano's no-GC linker).

    llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)       (declaration)
  ->
    llvm.mlir.global internal @__theanir_memory_hooks(...) : !llvm.array<2 x ptr>
    llvm.func internal @_mlir_memref_to_llvm_free(%p: !llvm.ptr) {
      %f = load hooks[1];  if %f == null: call @free(%p)  else: call %f(%p)
    }
    llvm.func @__theanir_set_memory_hooks(%alloc: !llvm.ptr, %free: !llvm.ptr)
"""
from __future__ import annotations

from mlir import ir

NAME = "theanir-runtime-memory"
ALLOC = "_mlir_memref_to_llvm_aligned_alloc"
FREE = "_mlir_memref_to_llvm_free"
SETTER = "__theanir_set_memory_hooks"

_HOOKS = """
llvm.mlir.global internal @__theanir_memory_hooks() {alignment = 8 : i64} : !llvm.array<2 x ptr> {
  %0 = llvm.mlir.zero : !llvm.array<2 x ptr>
  llvm.return %0 : !llvm.array<2 x ptr>
}
llvm.func @__theanir_set_memory_hooks(%alloc: !llvm.ptr, %free: !llvm.ptr) {
  %h = llvm.mlir.addressof @__theanir_memory_hooks : !llvm.ptr
  %g = llvm.getelementptr %h[0, 1] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<2 x ptr>
  llvm.store %alloc, %h : !llvm.ptr, !llvm.ptr
  llvm.store %free, %g : !llvm.ptr, !llvm.ptr
  llvm.return
}
"""

_ALLOC = """
llvm.func internal @_mlir_memref_to_llvm_aligned_alloc(%align: i64, %size: i64) -> !llvm.ptr {
  %h = llvm.mlir.addressof @__theanir_memory_hooks : !llvm.ptr
  %f = llvm.load %h : !llvm.ptr -> !llvm.ptr
  %z = llvm.mlir.zero : !llvm.ptr
  %none = llvm.icmp "eq" %f, %z : !llvm.ptr
  llvm.cond_br %none, ^libc, ^hook
^libc:
  %p = llvm.call @aligned_alloc(%align, %size) : (i64, i64) -> !llvm.ptr
  llvm.return %p : !llvm.ptr
^hook:
  %q = llvm.call %f(%align, %size) : !llvm.ptr, (i64, i64) -> !llvm.ptr
  llvm.return %q : !llvm.ptr
}
"""

_FREE = """
llvm.func internal @_mlir_memref_to_llvm_free(%p: !llvm.ptr) {
  %h = llvm.mlir.addressof @__theanir_memory_hooks : !llvm.ptr
  %g = llvm.getelementptr %h[0, 1] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<2 x ptr>
  %f = llvm.load %g : !llvm.ptr -> !llvm.ptr
  %z = llvm.mlir.zero : !llvm.ptr
  %none = llvm.icmp "eq" %f, %z : !llvm.ptr
  llvm.cond_br %none, ^libc, ^hook
^libc:
  llvm.call @free(%p) : (!llvm.ptr) -> ()
  llvm.return
^hook:
  llvm.call %f(%p) : !llvm.ptr, (!llvm.ptr) -> ()
  llvm.return
}
"""

_LIBC = {"aligned_alloc": "llvm.func @aligned_alloc(i64, i64) -> !llvm.ptr", "free": "llvm.func @free(!llvm.ptr)"}


def _symbol(op: ir.Operation) -> str | None:
    if "sym_name" not in op.attributes:
        return None
    return ir.StringAttr(op.attributes["sym_name"]).value


def runtime_memory(module_op: ir.Operation, pass_: object = None) -> None:
    """Define the generic allocation functions the module declares (see the module doc)."""
    body = module_op.regions[0].blocks[0]
    symbols = {_symbol(op.operation): op.operation for op in body.operations}
    declared = [name for name in (ALLOC, FREE) if name in symbols]
    if not declared:
        return  # nothing allocates
    for name in declared:
        op = symbols[name]
        if op.regions[0].blocks:
            raise ValueError(f"{NAME}: @{name} is already defined")
        op.erase()
    text = _HOOKS + (_ALLOC if ALLOC in declared else "") + (_FREE if FREE in declared else "")
    text += "\n".join(decl for name, decl in _LIBC.items() if name not in symbols)
    with module_op.context, module_op.location:
        shim = ir.Module.parse(text)
        ip = ir.InsertionPoint(body.operations[0])  # before the module's own ops, in order
        for op in shim.body.operations:
            op.operation.clone(ip)
