"""theanir-opt's command line: errors (one line, located, never a traceback), I/O, reports.

Most cases call `main(argv)` in this process (it forks its crash guard, and relays the child's
output to sys.stdout/sys.stderr, so capsys sees everything); the crash guard itself and the
console entry points are checked in subprocesses.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import theanir as th
from theanir.frontend.cli.opt import main, split_pipeline

HERE = Path(__file__).parent
GOOD = """\
func.func @main(%arg0: tensor<3xf32>, %arg1: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tn.exp"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
  %1 = "tn.exp"(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
  %2 = "tn.add"(%0, %1) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %3 = "tn.mul"(%2, %arg1) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %3 : tensor<3xf32>
}
"""
MIXED_TYPES = """\
func.func @main(%a: tensor<3xf32>, %b: tensor<3xf64>) -> tensor<3xf32> {
  %0 = "tn.add"(%a, %b) : (tensor<3xf32>, tensor<3xf64>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}
"""
BAD_RESULT = """\
func.func @main(%a: tensor<3xf32>) -> tensor<3x3xf32> {
  %0 = "tn.broadcast_to"(%a) {shape = array<i64: 2, 3>} : (tensor<3xf32>) -> tensor<3x3xf32>
  return %0 : tensor<3x3xf32>
}
"""
UNPARSABLE = """\
func.func @main(%a: tensor<3xf32>) -> tensor<3xf32> {
  %0 = "tn.exp"(%a) : (tensor<3xf32>) -> tensor<3xf32>
  return %0 tensor<3xf32>
}
"""
I1_LOAD = """\
func.func @f(%m: memref<4xi1>, %i: index) -> i1 {
  %v = memref.load %m[%i] : memref<4xi1>
  return %v : i1
}
"""


def write(tmp_path: Path, text: str, name: str = "in.mlir") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, err: str, *expected: str) -> str:
    assert rc != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# ---- errors ---------------------------------------------------------------------------------

def test_unknown_pass_names_only_itself_and_the_hint(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    rc, out, err = cli(capsys, path, "--pass-pipeline=builtin.module(tn-canonicalize,tn-no-such-pass,tn-to-linalg)")
    line = assert_one_line_error(rc, err, "'tn-no-such-pass'", "--list-passes")
    assert line == "--pass-pipeline:1:32: error: unknown pass 'tn-no-such-pass' (see --list-passes)"
    assert out == ""


def test_unknown_shorthand_flag(tmp_path, capsys):
    rc, out, err = cli(capsys, write(tmp_path, GOOD), "--tn-no-such-pass")
    assert_one_line_error(rc, err, "--tn-no-such-pass", "--list-passes")
    assert rc == 2


@pytest.mark.parametrize("pipeline, expected", [
    ("builtin.module(cse,func.func(canonicalize)", "--pass-pipeline:1:15: error: unclosed '('"),
    ("builtin.module(cse))", "--pass-pipeline:1:20: error: unbalanced ')'"),
    ("builtin.module(cse,,tn-cse)", "--pass-pipeline:1:20: error: empty pass name"),
    ("builtin.module(tn-cse{x=1})", "--pass-pipeline:1:22: error: theanir pass 'tn-cse' takes no options"),
    ("builtin.module(tn-canonicalize{fast=1})",
     "--pass-pipeline:1:31: error: theanir pass 'tn-canonicalize' has no option 'fast' (its options: fast-math)"),
    ("builtin.module(tn-canonicalize{fast-math=maybe})",
     "--pass-pipeline:1:31: error: theanir pass 'tn-canonicalize': option 'fast-math': expected true or false, "
     "got 'maybe'"),
    ("builtin.module(tn-canonicalize fast-math)",
     "--pass-pipeline:1:31: error: expected '{key=value ...}' after theanir pass 'tn-canonicalize'"),
    ("builtin.module(func.func(tn-cse))", "--pass-pipeline:1:26: error: theanir pass 'tn-cse' runs on the whole module"),
    ("builtin.module(func.func(nope))", "--pass-pipeline:1:26: error: unknown pass 'nope' (see --list-passes)"),
    ("builtin.module(canonicalize{max-iterations=x})",
     "--pass-pipeline:1:16: error: failed to add `canonicalize` with options `max-iterations=x`: "
     "for the --max-iterations option: 'x' value invalid"),
])
def test_malformed_pipeline(tmp_path, capsys, pipeline, expected):
    rc, out, err = cli(capsys, write(tmp_path, GOOD), f"--pass-pipeline={pipeline}")
    assert_one_line_error(rc, err, expected)


@pytest.mark.parametrize("text, line_col, message", [
    (UNPARSABLE, "3:12", "error: expected ':'"),
    (MIXED_TYPES, "2:8", "error: expected 'tensor<3xf32>' but got 'tensor<3xf64>' (op 'tn.add')"),
    (BAD_RESULT, "2:8", "error: tn.broadcast_to: result types ['float32[3, 3]'] differ from the op's rule"),
])
def test_bad_input_is_refused_before_any_pass(tmp_path, capsys, text, line_col, message):
    path = write(tmp_path, text)
    rc, out, err = cli(capsys, path, "--convert-tn-to-linalg", "--mlir-print-ir-after-all")
    assert_one_line_error(rc, err, f"{path}:{line_col}: {message}")
    assert out == ""  # and no IR dump: no pass ran


def test_missing_input_file(tmp_path, capsys):
    rc, out, err = cli(capsys, str(tmp_path / "nope.mlir"))
    assert_one_line_error(rc, err, "theanir-opt: error: cannot read", "nope.mlir")


def test_failing_upstream_pass_reports_the_op_location(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    rc, out, err = cli(capsys, path, "--pass-pipeline=builtin.module(one-shot-bufferize)")
    assert_one_line_error(rc, err, f"{path}:2:8: error: in pass pipeline 'one-shot-bufferize': "
                                   "op was not bufferized (op 'tn.exp')")


def test_failing_python_pass(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("@main", "@other"))
    rc, out, err = cli(capsys, path, "--theanir-entry-abi")
    assert_one_line_error(rc, err, "theanir-opt: error: theanir-entry-abi: no function @main")


def test_mlir_assertion_becomes_one_line():
    """finalize-memref-to-llvm asserts on i1 loads (DESIGN.md §4): the guard reports it."""
    proc = subprocess.run([sys.executable, "-m", "theanir.frontend.cli.opt", "-",
                           "--pass-pipeline=builtin.module(finalize-memref-to-llvm)"],
                          input=I1_LOAD, capture_output=True, text=True, timeout=120)
    line = assert_one_line_error(proc.returncode, proc.stderr, "MLIR crashed in 'finalize-memref-to-llvm'",
                                 "integralElementType.getWidth() >= 8")
    assert "Stack dump" not in line and proc.stdout == ""


def test_emit_llvm_refuses_a_module_not_in_the_llvm_dialect(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    rc, out, err = cli(capsys, path, "--emit=llvm")
    assert_one_line_error(rc, err, f"{path}:1:1: error: --emit=llvm needs the LLVM dialect",
                          "'func.func'", "--lower-to-cpu")


# ---- input, output, reports -----------------------------------------------------------------

def test_output_file(tmp_path, capsys):
    out_path = tmp_path / "out.mlir"
    rc, out, err = cli(capsys, write(tmp_path, GOOD), "--tn-cse", "-o", str(out_path))
    assert (rc, out, err) == (0, "", "")
    assert out_path.read_text().count('"tn.exp"') == 1


@pytest.mark.parametrize("argv", [["-"], []], ids=["dash", "no-input"])
def test_stdin(monkeypatch, capsys, argv):
    monkeypatch.setattr(sys, "stdin", io.StringIO(GOOD))
    rc, out, err = cli(capsys, *argv, "--tn-cse")
    assert rc == 0 and err == ""
    assert out.count('"tn.exp"') == 1 and '"tn.mul"' in out


def test_stdin_errors_name_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(MIXED_TYPES))
    rc, out, err = cli(capsys)
    assert_one_line_error(rc, err, "<stdin>:2:8: error: expected 'tensor<3xf32>'")


def test_shorthand_flags_run_in_command_line_order(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    rc, out, err = cli(capsys, path, "--tn-dce", "--pass-pipeline=builtin.module(canonicalize)", "--tn-cse",
                       "--mlir-print-ir-after-all")
    assert rc == 0
    headers = re.findall(r"// -----// IR Dump After (.*) //----- //", err)
    assert headers == ["Dce (tn-dce)", "Canonicalizer (canonicalize)", "Cse (tn-cse)"]  # MLIR's printing


def test_print_ir_after_all_shows_each_pass(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    rc, out, err = cli(capsys, path, "--pass-pipeline=builtin.module(tn-cse,tn-to-linalg,func.func(canonicalize,cse))",
                       "--mlir-print-ir-after-all")
    assert rc == 0
    headers = re.findall(r"// -----// IR Dump After (.*) //----- //", err)
    assert headers == ["Cse (tn-cse)", "ConvertTnToLinalg (convert-tn-to-linalg)", "Canonicalizer (canonicalize)",
                       "CSE (cse)"]
    after_cse = err.split("IR Dump After Cse (tn-cse)")[1].split("IR Dump After")[0]
    assert after_cse.count('"tn.exp"') == 1
    assert "linalg.generic" in out


def test_timing_report(tmp_path, capsys):
    rc, out, err = cli(capsys, write(tmp_path, GOOD), "--tn-canonicalize", "--lower-to-cpu", "--mlir-timing")
    assert rc == 0 and "llvm.func @main" in out
    assert "Execution time report" in err
    names = re.findall(r"^\s+\d+\.\d+ \(\s*\d+\.\d%\)\s+(.*)$", err, re.M)
    assert names[0] == "Parser" and names[-2:] == ["Output", "Total"]
    for name in ["tn-canonicalize", "tn-verify", "convert-tn-to-linalg", "theanir-entry-abi",
                 "finalize-memref-to-llvm", "reconcile-unrealized-casts", "theanir-runtime-memory"]:
        assert any(n == name or n.startswith(name + "{") for n in names), name  # upstream: with options


def test_list_passes(capsys):
    from theanir.passes.registry import ALIASES, PASSES

    rc, out, err = cli(capsys, "--list-passes")
    assert rc == 0 and err == ""
    for name in [*PASSES, *ALIASES, "tn-canonicalize", "convert-tn-to-linalg", "lower-to-cpu", "lower-to-nvvm"]:
        assert re.search(rf"^\s+{re.escape(name)}\s", out, re.M), name


def test_help_exits_zero(capsys):
    rc, out, err = cli(capsys, "--help")
    assert rc == 0 and "--pass-pipeline" in out and "--lower-to-cpu" in out


def test_split_input_file(tmp_path, capsys):
    text = GOOD + "// -----\n" + GOOD.replace("@main", "@second")
    rc, out, err = cli(capsys, write(tmp_path, text), "--split-input-file", "--tn-cse")
    assert rc == 0 and err == ""
    first, second = out.split("// -----\n")
    assert "@main" in first and "@second" in second


def test_split_pipeline_keeps_nested_elements_whole():
    text = "builtin.module(tn-cse, func.func(canonicalize,cse),one-shot-bufferize{a=1 b=\"x,y\"})"
    assert [(e.text, e.offset) for e in split_pipeline(text)] == [
        ("tn-cse", 15), ("func.func(canonicalize,cse)", 23), ('one-shot-bufferize{a=1 b="x,y"}', 51)]
    assert [e.text for e in split_pipeline("tn-cse,cse")] == ["tn-cse", "cse"]
    assert split_pipeline("builtin.module()") == []


# ---- emitting LLVM IR and the round trip from th.jit ------------------------------------------

def _traced_tn() -> tuple[str, "th.jit"]:
    def f(x, y):
        a = th.exp(x) + y
        return th.tanh(a * (th.exp(x) + y)) + 1.0

    lowered = th.jit(f).lower(np.ones((2, 3), np.float32), np.ones((3,), np.float32))
    return lowered.as_text("tn"), lowered


def test_round_trip_from_jit(tmp_path, capsys):
    text, lowered = _traced_tn()
    path = write(tmp_path, text)
    rc, out, err = cli(capsys, path)
    assert (rc, err) == (0, "") and out == text  # the tn stage parses, verifies and prints back
    rc, out, err = cli(capsys, path, "--lower-to-cpu")
    assert rc == 0 and err == ""
    assert out == lowered.as_text("llvm")  # the CLI and th.jit lower through one stage table
    assert "llvm.func @_mlir_ciface_main" in out and '"tn.' not in out and "func.func" not in out


def test_emit_llvm(tmp_path, capsys):
    text, _ = _traced_tn()
    out_path = tmp_path / "out.ll"
    rc, out, err = cli(capsys, write(tmp_path, text), "--lower-to-cpu", "--emit=llvm", "-o", str(out_path))
    assert (rc, out, err) == (0, "", "")
    ir_text = out_path.read_text()
    assert "define void @_mlir_ciface_main(ptr" in ir_text and "@llvm.fma.f32" in ir_text


# ---- the entry points -----------------------------------------------------------------------

def _console_script() -> str | None:
    path = Path(sys.executable).parent / "theanir-opt"
    return str(path) if path.exists() else None


@pytest.mark.parametrize("entry", ["module", "script"])
def test_entry_points(entry):
    cmd = [sys.executable, "-m", "theanir.frontend.cli.opt"] if entry == "module" else [_console_script()]
    if cmd[0] is None:
        pytest.skip("theanir-opt console script not installed next to this python")
    ok = subprocess.run(cmd + ["--tn-cse"], input=GOOD, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.count('"tn.exp"') == 1, ok.stderr
    bad = subprocess.run(cmd + ["--pass-pipeline=builtin.module(tn-no-such-pass)"], input=GOOD, capture_output=True,
                         text=True, timeout=120)
    assert_one_line_error(bad.returncode, bad.stderr, "unknown pass 'tn-no-such-pass'")


def test_in_process_mode_and_aliases(tmp_path, capsys):
    from theanir.passes.registry import lookup

    assert lookup("tn-to-linalg") is lookup("convert-tn-to-linalg")
    rc, out, err = cli(capsys, write(tmp_path, GOOD), "--no-crash-guard", "--tn-to-linalg")
    assert (rc, err) == (0, "") and "linalg.generic" in out and '"tn.' not in out
