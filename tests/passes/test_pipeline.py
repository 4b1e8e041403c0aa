"""The stage table (passes/pipeline.py) and pass options (passes/base.py)."""
from __future__ import annotations

import pytest
from mlir import passmanager

from theanir.dialects.tn.context import new_context
from theanir.passes.base import PassOptionError
from theanir.passes.options import CompileOptions
from theanir.passes.pipeline import CONDITIONS, STAGES, stage_steps
from theanir.passes.registry import PASSES, lookup


def test_every_step_is_a_registered_pass_or_upstream_text():
    with new_context():
        for stage in STAGES:
            for step in stage.steps:
                assert step.when in CONDITIONS, (stage.name, str(step))
                if step.name not in PASSES:
                    passmanager.PassManager.parse(f"builtin.module({step.name})")  # raises if unknown


def test_optimizer_levels_are_conditions_of_one_table():
    run_steps = stage_steps("tn", "tn-opt", CompileOptions(optimizer="fast_run"))
    compile_steps = stage_steps("tn", "tn-opt", CompileOptions(optimizer="fast_compile"))
    fast_run, fast_compile = [n for n, _ in run_steps], [n for n, _ in compile_steps]
    # fast_compile fuses only huge functions (a compile-time rewrite); fast_run every one
    assert fast_compile == ["tn-verify", "tn-dce", "tn-row-updates", "tn-fuse"]
    assert compile_steps[-1][1].min_ops == 1024 and run_steps[-1][1].min_ops == 0
    assert fast_run[:2] == ["tn-verify", "tn-canonicalize"] and fast_run[-1] == "tn-fuse"
    assert fast_run.count("tn-canonicalize") == 3 and "tn-scan-hoist" in fast_run
    with pytest.raises(ValueError, match="optimizer must be one of"):
        stage_steps("tn", "tn-opt", CompileOptions(optimizer="fast"))


def test_options_come_from_compile_options():
    opts = CompileOptions(fast_math=True, target_features="+avx2", blas=False, entry="f",
                          contiguous=[True, False], donate=[(0, 0)])
    steps = dict(stage_steps("tn", "llvm", opts))
    assert steps["tn-canonicalize"].fast_math is True
    assert steps["theanir-small-gemm"].target_features == "+avx2"
    assert steps["theanir-matmul-into-result"].blas is False
    assert "convert-linalg-matmul-to-blas" not in steps  # the blas condition
    abi = steps["theanir-entry-abi"]
    assert (abi.entry, abi.contiguous, abi.donate) == ("f", (True, False), ((0, 0),))
    defaults = dict(stage_steps("tn", "llvm", CompileOptions()))
    assert all(o is None or o == PASSES[n].Options() for n, o in defaults.items())


def test_option_text_round_trip_and_errors():
    abi = lookup("theanir-entry-abi")
    options = abi.parse_options({"contiguous": "true,false", "donate": "1:0,2:1", "entry": "g"})
    assert options == abi.Options("g", (True, False), ((1, 0), (2, 1)))
    assert abi.options_text(options) == "{entry=g contiguous=true,false donate=1:0,2:1}"
    assert abi.options_text(abi.Options()) == ""
    with pytest.raises(PassOptionError, match="has no option 'x' \\(its options: entry, contiguous, donate\\)"):
        abi.parse_options({"x": "1"})
    with pytest.raises(PassOptionError, match="option 'donate': expected 2 values separated by ':'"):
        abi.parse_options({"donate": "1"})
    with pytest.raises(PassOptionError, match="takes no options"):
        lookup("tn-cse").parse_options({"x": "1"})
