"""Randomized probes of the public boundaries, each batch in a child process (boundary_probe.py).

Calls: random bad values (unsupported, byte-swapped, object and string dtypes; wrong ranks;
transposed, strided, reversed, stride-0, packed-field and unaligned layouts; huge Python ints,
NaN/inf, ragged lists, non-numbers) passed to a jitted function, a fixed-signature compiled
function, th.function inputs of declared types, shared-variable set_value and a static
argument. Each call must either return what NumPy computes on the same data (or, for declared
types, on the value converted to that type when the conversion round-trips), or raise
TypeError/ValueError/OverflowError/MemoryError with a message that is not misleading. A crash
or hang of the child fails the test and names the case.

theanir-opt: random byte mutations of a valid tn module (flips, random bytes, NUL bytes,
truncation, duplicated lines, odd snippets) under several pipelines: exit 0, or non-zero with
exactly one `error:` line on stderr, no traceback, no crash report; any NUL byte is an error.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from budget import pick

PROBE = Path(__file__).with_name("boundary_probe.py")
ALLOWED = {"TypeError", "ValueError", "OverflowError", "MemoryError"}
SUPPORTED = "float32|float64|int32|int64|bool"


def run_probe(mode: str, seed: int, count: int, timeout: float) -> list[dict]:
    """The RESULT records of one child run; fails naming the case the child died or hung on."""
    try:
        proc = subprocess.run([sys.executable, str(PROBE), mode, str(seed), str(count)], capture_output=True,
                              text=True, timeout=timeout)
        stdout, status = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        stdout, status = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
        proc = None
    lines = stdout.splitlines()
    results = [json.loads(line[7:]) for line in lines if line.startswith("RESULT ")]
    if lines and lines[-1] == "DONE" and status == 0:
        return results
    started = [line[6:] for line in lines if line.startswith("START ")]
    last = started[-1] if started else "(before the first case)"
    how = "hung" if status == "timeout" else f"exited with status {status}" + (
        f" (signal {-status})" if isinstance(status, int) and status < 0 else "")
    tail = "" if proc is None else proc.stderr[-1500:]
    pytest.fail(f"the {mode} probe (seed {seed}) {how} during case {last}\n{tail}")


def summarize(problems: list[tuple[str, str]]) -> str:
    """One line per kind of problem (its first example, and how many more), not a flood."""
    kinds: dict[str, list[str]] = {}
    for kind, text in problems:
        kinds.setdefault(kind, []).append(text)
    return f"{len(problems)} bad outcomes of {len(kinds)} kinds:\n" + "\n".join(
        f"[{len(v)}x] {v[0]}" for v in kinds.values())


def _close(got: list, want: list) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if isinstance(w, float) and math.isnan(w):
            if not (isinstance(g, float) and math.isnan(g)):
                return False
        elif not (g == w or (isinstance(g, (int, float)) and isinstance(w, (int, float))
                             and abs(g - w) <= 1e-6 * max(abs(w), 1e-300))):
            return False
    return True


def judge_call(r: dict) -> tuple[str, str] | None:
    """(kind of problem, what is wrong) for a bad outcome, or None."""
    ref = r["reference"]
    if not r["ok"]:
        msg = r["message"]
        if not ALLOWED & set(r["mro"]):
            return "exception type", f"raised {r['type']} (expected one of {sorted(ALLOWED)}): {msg}"
        if re.search(rf"dtype ({SUPPORTED}) is not supported", msg):
            return "misleading message", f"calls a supported dtype unsupported (byte order?): {msg}"
        if re.search(r"expected a NumPy array.*got ndarray", msg):
            return "misleading message", f"says it expected a NumPy array but got an ndarray: {msg}"
        if r["kind"] == "jit" and re.fullmatch(r"-?\d{19,}", r["value"]) and "'a'" not in msg:
            return "unnamed argument", f"a Python int beyond int64: the error does not name argument 'a': {msg}"
        return None
    if "must_raise" in ref:
        return "accepted bad data", f"returned {r['values']} but must refuse it: {ref['must_raise']}"
    if "any" in ref:
        return None
    if r["shape"] != ref["shape"]:
        return "wrong result", f"shape {r['shape']}, expected {ref['shape']}"
    if not _close(r["values"], ref["values"]):
        return "wrong result", f"values {r['values']}, expected {ref['values']}"
    return None


def test_random_bad_inputs_raise_clear_errors(reliability_long):
    seeds = pick(reliability_long, [0], list(range(1, 21)))
    count = pick(reliability_long, 600, 500)
    problems = []
    for seed in seeds:
        for r in run_probe("calls", seed, count, timeout=pick(reliability_long, 180, 600)):
            bad = judge_call(r)
            if bad:
                problems.append((f"{r['target']}: {bad[0]}", f"seed {seed} case {r['i']}: {r['target']}({r['value']}): "
                                 f"{bad[1]}"))
    assert not problems, summarize(problems)


def judge_opt(r: dict) -> str | None:
    err = r["stderr"]
    if r["rc"] == 0:
        if r["has_nul"]:
            return "a NUL byte in the input, yet exit 0 (the text after it was ignored)"
        return None
    lines = err.strip().splitlines()
    if "Traceback" in err:
        return "a traceback"
    # --split-input-file reports each failing chunk on its own line
    chunks = r["input"].count("// -----") + 1 if "--split-input-file" in r["argv"] else 1
    if not 1 <= len(lines) <= chunks:
        return f"{len(lines)} lines on stderr ({chunks} input chunk(s))"
    for line in lines:
        if "error" not in line:
            return f"no 'error:' in {line!r}"
        if "MLIR crashed" in line or "internal error" in line:
            return "an internal error or crash (the input is malformed: it deserves a diagnostic)"
    return None


def test_mutated_mlir_gives_one_line_errors(reliability_long):
    seeds = pick(reliability_long, [0], list(range(1, 11)))
    count = pick(reliability_long, 150, 300)
    problems = []
    for seed in seeds:
        for r in run_probe("opt", seed, count, timeout=pick(reliability_long, 240, 1800)):
            why = judge_opt(r)
            if why:
                snippet = r["stderr"].strip().splitlines()[:3]
                problems.append((why.split(":")[0][:40],
                                 f"seed {seed} case {r['i']} ({r['mutation']}, argv {r['argv']}): {why}: {snippet}"))
    assert not problems, summarize(problems)


def test_opt_entry_point_refuses_a_nul_byte(tmp_path):
    """The console path (a real process, stdin and file input): a NUL byte is an error, not EOF."""
    text = subprocess.run([sys.executable, str(PROBE), "module", "0", "0"], capture_output=True, text=True,
                          timeout=120).stdout
    assert "func.func @main" in text
    cut = text.index("return")
    data = (text[:cut] + "\x00" + text[cut:]).encode()
    path = tmp_path / "nul.mlir"
    path.write_bytes(data)
    for argv, stdin in [([str(path)], None), (["-"], data)]:
        proc = subprocess.run([sys.executable, "-m", "theanir.frontend.cli.opt", *argv, "--tn-canonicalize"], input=stdin,
                              capture_output=True, timeout=120)
        err = proc.stderr.decode(errors="replace")
        assert proc.returncode != 0, f"exit 0 on a NUL byte ({argv}); stdout {proc.stdout[:200]!r}"
        assert len(err.strip().splitlines()) == 1 and "error" in err and "Traceback" not in err, err
