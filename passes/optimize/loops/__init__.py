"""Loop optimizations on `tn.scan` (dialects/tn/ops/control.py), one pass per module:

    tn-scan-inline            trip statically 0 or 1: the body inlined at index 0 / the inits
    tn-scan-dce               unused stacked outputs and dead carry chains dropped
    tn-scan-merge             independent scans over the same steps fused into one loop
    tn-scan-hoist             loop-invariant pure ops moved before the scan
    tn-scan-vecmat-to-matmat  row(xs, i) @ W per step -> one xs @ W before the loop
    tn-scan-accumulate-to-matmat  acc += P_i @ Q_i per step -> P, Q stacked, one product after

Their order in the `fast_run` optimizer is in the stage table (passes/pipeline.py, tn-opt).
"""
from __future__ import annotations

from .accumulate import NAME as SCAN_ACCUMULATE, run_scan_accumulate_to_matmat
from .dce import NAME as SCAN_DCE, run_scan_dce
from .hoist import NAME as SCAN_HOIST, run_scan_hoist
from .inline import NAME as SCAN_INLINE, run_scan_inline
from .merge import NAME as SCAN_MERGE, run_scan_merge
from .vecmat import NAME as SCAN_VECMAT, run_scan_vecmat_to_matmat

__all__ = ["SCAN_ACCUMULATE", "SCAN_DCE", "SCAN_HOIST", "SCAN_INLINE",
           "SCAN_MERGE", "SCAN_VECMAT", "run_scan_accumulate_to_matmat", "run_scan_dce",
           "run_scan_hoist", "run_scan_inline", "run_scan_merge", "run_scan_vecmat_to_matmat"]
