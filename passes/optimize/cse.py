"""tn-cse: merge identical pure tn ops (the walk is `cse_block` in dce_cse.py, shared with the
rewrite driver)."""
from __future__ import annotations

from mlir import ir

from ..base import Pass
from .dce_cse import CSE_NAME, run_cse


class Cse(Pass):
    """Merge identical pure tn ops (upstream cse cannot: IRDL ops carry no side-effect traits)."""

    NAME = CSE_NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        run_cse(module_op)
