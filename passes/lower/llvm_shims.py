"""Replace a function the module only declares by its definition, parsed from LLVM-dialect text.

The run-time hooks of generated code (theanir-cancel-points' poll, theanir-runtime-checks'
report) are declared where they are used (by the lowering of loops, of checks) and defined
once per module by their pass: each artifact then has its own internal definition and its
own exported setter, and a module that never declares the function gets nothing.
"""
from __future__ import annotations

from mlir import ir


def define_declared(module_op: ir.Operation, symbol: str, definitions: str, pass_name: str) -> None:
    """If the module declares @symbol, erase the declaration and insert `definitions` (which
    define it, with whatever globals and setters it needs) at the top of the module."""
    body = module_op.regions[0].blocks[0]
    decl = None
    for op in body.operations:
        if "sym_name" in op.operation.attributes and ir.StringAttr(op.operation.attributes["sym_name"]).value == symbol:
            decl = op.operation
    if decl is None:
        return
    if decl.regions[0].blocks:
        raise ValueError(f"{pass_name}: @{symbol} is already defined")
    decl.erase()
    with module_op.context, module_op.location:
        shim = ir.Module.parse(definitions)
        ip = ir.InsertionPoint(body.operations[0])
        for op in shim.body.operations:
            op.operation.clone(ip)
