"""The import contracts of pyproject.toml's [tool.importlinter] hold (issue 13): the layers
frontend > runtime > codegen > passes > dialects only import downwards, the independent
packages stay independent, and no modules import each other in a circle.

Runs `lint-imports` from this interpreter's environment (import-linter is in the `test`
extra) and fails with its report.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lint_imports() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    if not os.path.exists(exe):
        pytest.fail(f"lint-imports not found next to {sys.executable}: install the test extra "
                    f"(pip install -e '.[test]')")
    return exe


def test_import_contracts_hold():
    proc = subprocess.run([_lint_imports(), "--no-cache", os.path.join(ROOT, "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    report = proc.stdout + proc.stderr
    assert "does not exist" not in report, f"import-linter cannot see a layer package:\n{report}"
    if proc.returncode != 0:
        pytest.fail(f"lint-imports found broken import contracts:\n{report}", pytrace=False)


def test_every_layer_is_seen():
    """Each layer package resolves to the checkout's folder (the editable install's redirect),
    so the contracts are checked against these sources, not a stale installed copy."""
    import importlib.util

    for name in ("frontend", "runtime", "codegen", "passes", "dialects"):
        spec = importlib.util.find_spec(f"theanir.{name}")
        assert spec is not None and spec.origin is not None, f"theanir.{name} is not a regular package"
        assert os.path.dirname(spec.origin) == os.path.join(ROOT, name), (name, spec.origin)
