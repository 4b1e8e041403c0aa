"""docs/aot.md's complete C example compiles against the library its first Python example
builds, runs, and prints what the page says it prints."""
from __future__ import annotations

import os
import pathlib
import re
import subprocess

from aot_support import cc, run

DOC = pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "aot.md"


def test_c_example_of_the_docs(tmp_path):
    text = DOC.read_text()
    python = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    c_source = re.search(r"```c\n(.*?)```", text, re.S).group(1)
    build = tmp_path / "build"
    assert "tempfile.mkdtemp()" in python
    exec(compile(python.replace("tempfile.mkdtemp()", repr(str(build))), "<docs/aot.md>", "exec"), {})
    (tmp_path / "main.c").write_text(c_source)
    cmd = [cc(), "-Wall", "-Werror", "main.c", "-I", "build", "-L", "build", "-lmlp", "-Wl,-rpath,$ORIGIN/build",
           "-o", "main"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = run([str(tmp_path / "main")]).stdout.splitlines()
    documented = re.search(r"It prints `(.*?)` and\n`(.*?)`", text, re.S)
    assert out == [documented.group(1), documented.group(2)], out
    assert os.path.exists(build / "mlp.h")
