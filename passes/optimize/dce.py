"""tn-dce: erase unused pure tn ops (the walk is `dce_block` in dce_cse.py, shared with the
rewrite driver)."""
from __future__ import annotations

from mlir import ir

from ..base import Pass
from .dce_cse import DCE_NAME, run_dce


class Dce(Pass):
    """Erase unused pure tn ops (upstream dce cannot: IRDL ops carry no side-effect traits)."""

    NAME = DCE_NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        run_dce(module_op)
