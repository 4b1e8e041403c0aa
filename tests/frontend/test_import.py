"""Import-time behaviour: a missing or broken MLIR install gives one clear error."""
from __future__ import annotations

import subprocess
import sys


def test_missing_mlir_gives_one_clear_import_error():
    code = "import sys; sys.modules['mlir'] = None\nimport theanir"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "MLIRUnavailableError" in last
    assert "xtc-mlir-python-bindings==22.1.8.4" in last and "pip install -e ." in last


def test_import_is_lazy_about_contexts():
    code = ("import time; t = time.perf_counter(); import theanir as th; "
            "import theanir.dialects.tn.context as c; print(c._context is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
