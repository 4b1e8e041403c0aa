"""Every ```python block in README.md and docs/*.md runs (so the documentation cannot rot)."""
from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def _blocks():
    for doc in DOCS:
        for i, m in enumerate(BLOCK.finditer(doc.read_text())):
            yield pytest.param(m.group(1), id=f"{doc.name}-{i}")


@pytest.mark.parametrize("code", list(_blocks()))
def test_doc_example_runs(code, capsys):
    exec(compile(code, "<doc example>", "exec"), {"__name__": "__doc_example__"})
