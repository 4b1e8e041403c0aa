"""Generate the dialect's IRDL from the op table and load it into MLIR contexts.

The generated text is also what `theanir-opt` and `mlir-opt --irdl-file` load, so the CLI and
Python see one dialect. IRDL ops print in generic form and cannot be terminators; region
ops (`tn.scan`, `tn.cond`) end their regions with `gpu.yield`, the upstream terminator that
has no parent constraint (DESIGN.md §2).
"""
from __future__ import annotations

import functools

from mlir import ir
from mlir.dialects import irdl

from .registry import ATTR_IRDL_BASE, OPS, OpDef


def _op_irdl(op: OpDef) -> str:
    lines = [f"  irdl.operation @{op.mnemonic} {{"]
    shared_declared = False
    counter = 0

    def constraint(name: str) -> str:
        nonlocal shared_declared, counter
        if name.rstrip("*?") in op.same_type:
            if not shared_declared:
                lines.append('    %same = irdl.any')
                shared_declared = True
            return "%same"
        counter += 1
        lines.append(f"    %c{counter} = irdl.any")
        return f"%c{counter}"

    def clause(names: list[str]) -> str:
        parts = []
        for n in names:
            var = constraint(n)
            variadic = {"*": "variadic ", "?": "optional "}.get(n[-1], "")
            parts.append(f"{n.rstrip('*?')}: {variadic}{var}")
        return ", ".join(parts)

    operands = clause(op.operands)
    results = clause(op.results)
    lines.append(f"    irdl.operands({operands})")
    lines.append(f"    irdl.results({results})")
    attr_parts = []
    for i, (name, kind) in enumerate(op.attrs.items()):
        base = ATTR_IRDL_BASE[kind]
        var = f"%a{i}"
        lines.append(f"    {var} = irdl.base {base}" if base else f"    {var} = irdl.any")
        attr_parts.append(f'"{name}" = {var}')
    if attr_parts:
        lines.append("    irdl.attributes { " + ", ".join(attr_parts) + " }")
    if op.regions:
        regs = []
        for i, r in enumerate(op.regions):
            lines.append(f"    %r{i} = irdl.region")
            regs.append(f"{r}: %r{i}")
        lines.append("    irdl.regions(" + ", ".join(regs) + ")")
    lines.append("  }")
    return "\n".join(lines)


@functools.cache
def irdl_text() -> str:
    """The whole dialect in IRDL, generated from the op table."""
    from . import ops  # noqa: F401  (registers every family)

    body = "\n".join(_op_irdl(op) for op in OPS.values())
    return "irdl.dialect @tn {\n" + body + "\n}\n"


def register_dialect(ctx: ir.Context) -> None:
    """Load `tn` into `ctx` (about a millisecond; needed once per context)."""
    with ctx, ir.Location.unknown():
        irdl.load_dialects(ir.Module.parse(irdl_text()))
