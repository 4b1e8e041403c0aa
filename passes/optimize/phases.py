"""The optimizer's phases per level: which tn passes the `tn-opt` stage runs.

`fast_run` runs every rewrite phase (canonicalize -> loop passes -> stabilize -> canonicalize ->
fuse); the loop passes (loops/) see canonical bodies and leave their debris (reshape chains,
duplicated hoisted ops) to the second canonicalize;
`fast_compile` only what lowering needs. Each entry is (pass name, callable on the module op);
the tn passes register themselves here and in `passes/registry.py`.
"""
from __future__ import annotations

from typing import Callable

from mlir import ir

from ..verify import verify_module
from .canonicalize import NAME as CANONICALIZE, canonicalize
from .dce_cse import run_dce
from .stabilize import NAME as STABILIZE, stabilize
from .fuse import NAME as FUSE, run_fuse
from .loops import LOOP_PHASES
from .loops.common import function_blocks

Phase = tuple[str, Callable[[ir.Operation], None]]

FAST_COMPILE: list[Phase] = [("tn-verify", verify_module), ("tn-dce", run_dce)]
FAST_RUN: list[Phase] = [
    ("tn-verify", verify_module),
    (CANONICALIZE, canonicalize),
    *LOOP_PHASES,
    (STABILIZE, stabilize),
    (CANONICALIZE, canonicalize),
]
EXPAND = "tn-expand-composites"


def expand_composites(module_op: ir.Operation, pass_: object = None) -> None:
    """softmax, log_softmax and logsumexp into their stable max-shift expansions, once the
    stabilizer no longer needs them whole: the expansion's max, exp, sum and log then fuse
    (lowering them one by one made a [100, 50] logsumexp 6x slower than one exp)."""
    from ..lower.convert_tn_to_linalg import decompose_ops

    for block in function_blocks(module_op):
        decompose_ops(block)


FAST_RUN += [(EXPAND, expand_composites), (CANONICALIZE, canonicalize)]
FAST_RUN.append((FUSE, run_fuse))  # last: fuse what the rewrite phases left

LEVELS: dict[str, list[Phase]] = {"fast_run": FAST_RUN, "fast_compile": FAST_COMPILE}


def phases(level: str) -> list[Phase]:
    """The tn passes of optimizer `level` ('fast_run' or 'fast_compile')."""
    if level not in LEVELS:
        raise ValueError(f"optimizer must be one of {sorted(LEVELS)}, got {level!r}")
    return LEVELS[level]
