"""docs/aot.md's and the README's complete C examples compile against the library their first
Python example builds, run, and print what the page says they print."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess

from aot_support import cc, run

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "aot.md"


def _section(path: pathlib.Path) -> str:
    text = path.read_text()
    if path.name == "README.md":  # the AOT section only
        return text[text.index("### Shared libraries for C"):text.index("### Errors")]
    return text


@pytest.mark.parametrize("page,lib", [("docs/aot.md", "mlp"), ("README.md", "layer")])
def test_c_example_of_the_docs(tmp_path, page, lib):
    text = _section(ROOT / page)
    python = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    c_source = re.search(r"```c\n(.*?)```", text, re.S).group(1)
    build = tmp_path / "build"
    assert "tempfile.mkdtemp()" in python
    exec(compile(python.replace("tempfile.mkdtemp()", repr(str(build))), "<docs/aot.md>", "exec"), {})
    (tmp_path / "main.c").write_text(c_source)
    cmd = [cc(), "-Wall", "-Werror", "main.c", "-I", "build", "-L", "build", f"-l{lib}", "-Wl,-rpath,$ORIGIN/build",
           "-o", "main"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = run([str(tmp_path / "main")]).stdout.splitlines()
    documented = re.search(r"It prints `(.*?)` and\n`(.*?)`", text, re.S)
    assert out == [documented.group(1), documented.group(2)], out
    assert os.path.exists(build / f"{lib}.h")
