"""theanir-runtime-memory: generated code allocates its buffers through the runtime.

`finalize-memref-to-llvm{use-generic-functions use-aligned-alloc}` lowers `memref.alloc` and
`memref.dealloc` to calls of `_mlir_memref_to_llvm_aligned_alloc(alignment, size)` and
`_mlir_memref_to_llvm_free(ptr)`, left undefined. This pass defines both in the module
(internal, so every artifact has its own), calling through two function pointers that
`__theanir_set_memory_hooks(alloc, free)` (exported) installs; until it is called they are
libc's `aligned_alloc` and `free`, so a library loaded without theanir still works.

A failed allocation never reaches generated code (it would write through the null pointer):
the runtime's hook does not return one while the call can unwind to the runtime, which
raises MemoryError (runtime/src/pool.h); where it cannot, and on libc's path, the shim
writes a message to stderr and aborts.

The allocation function returns `noalias` (each call a buffer no other live pointer reaches,
as malloc's) and is never inlined (inlining drops that): LLVM then knows that loops reading
one buffer and writing another need no run-time overlap checks, which it refuses to add to
loops of few steps, so those vectorize (codegen/native.py).

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
from ..base import Pass

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
llvm.func internal @_mlir_memref_to_llvm_aligned_alloc(%align: i64, %size: i64) -> (!llvm.ptr {llvm.noalias}) attributes {no_inline} {
  %h = llvm.mlir.addressof @__theanir_memory_hooks : !llvm.ptr
  %f = llvm.load %h : !llvm.ptr -> !llvm.ptr
  %z = llvm.mlir.zero : !llvm.ptr
  %none = llvm.icmp "eq" %f, %z : !llvm.ptr
  llvm.cond_br %none, ^libc, ^hook
^libc:
  %p = llvm.call @aligned_alloc(%align, %size) : (i64, i64) -> !llvm.ptr
  llvm.br ^check(%p : !llvm.ptr)
^hook:
  %q = llvm.call %f(%align, %size) : !llvm.ptr, (i64, i64) -> !llvm.ptr
  llvm.br ^check(%q : !llvm.ptr)
^check(%r: !llvm.ptr):
  %null = llvm.icmp "eq" %r, %z : !llvm.ptr
  %c0 = llvm.mlir.constant(0 : i64) : i64
  %some = llvm.icmp "ne" %size, %c0 : i64
  %failed = llvm.and %null, %some : i1
  llvm.cond_br %failed, ^fail, ^ok
^ok:
  llvm.return %r : !llvm.ptr
^fail:
  %m = llvm.mlir.addressof @__theanir_out_of_memory : !llvm.ptr
  %fd = llvm.mlir.constant(2 : i32) : i32
  %n = llvm.mlir.constant(MESSAGE_LENGTH : i64) : i64
  %w = llvm.call @write(%fd, %m, %n) : (i32, !llvm.ptr, i64) -> i64
  llvm.call @abort() : () -> ()
  llvm.unreachable
}
"""

# Written to stderr before aborting when an allocation fails where the runtime cannot raise
# MemoryError (no theanir hooks, or inside an OpenMP parallel region): the alternative is a
# write through the null pointer, a SIGSEGV that says nothing.
_MESSAGE = b"theanir: out of memory: compiled code could not allocate a buffer; aborting\n"
_MESSAGE_GLOBAL = ("llvm.mlir.global internal constant @__theanir_out_of_memory(\""
                   + "".join(chr(c) if 32 <= c < 127 and c not in b'"\\' else f"\\{c:02X}" for c in _MESSAGE)
                   + f'") {{addr_space = 0 : i32}} : !llvm.array<{len(_MESSAGE)} x i8>\n')
_ALLOC = _ALLOC.replace("MESSAGE_LENGTH", str(len(_MESSAGE)))

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

_LIBC = {"aligned_alloc": "llvm.func @aligned_alloc(i64, i64) -> !llvm.ptr", "free": "llvm.func @free(!llvm.ptr)",
         "write": "llvm.func @write(i32, !llvm.ptr, i64) -> i64", "abort": "llvm.func @abort()"}


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
    text = _HOOKS + (_MESSAGE_GLOBAL + _ALLOC if ALLOC in declared else "") + (_FREE if FREE in declared else "")
    text += "\n".join(decl for name, decl in _LIBC.items() if name not in symbols)
    with module_op.context, module_op.location:
        shim = ir.Module.parse(text)
        ip = ir.InsertionPoint(body.operations[0])  # before the module's own ops, in order
        for op in shim.body.operations:
            op.operation.clone(ip)


class RuntimeMemory(Pass):
    """In the LLVM dialect: define the generic alloc/free functions to call the runtime's
    hooks (its buffer pool), aligned_alloc/free until installed."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        runtime_memory(module_op)
