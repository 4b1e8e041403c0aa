"""The CPU the passes generate code for, as `CompileOptions.target_features` says.

Passes never probe the host: the frontend resolves the host's LLVM feature string into
`CompileOptions.target_features` (codegen/host.py), and `run_until` (passes/pipeline.py)
makes it current while a compile's steps run, for passes that take no options yet
(theanir-small-gemm's kernel shapes). Outside a compile (`theanir-opt`, a pass run by
hand) the features are "" unless a caller sets them: generic code, no AVX-512 kernels.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_FEATURES: ContextVar[str] = ContextVar("theanir_target_features", default="")


def target_features() -> str:
    """The LLVM feature string of the current compile's target ("+avx2,+fma,..."; "" if unknown)."""
    return _FEATURES.get()


def has_feature(name: str) -> bool:
    """Whether the current target has the LLVM feature `name` (e.g. "avx512f")."""
    return f"+{name}" in target_features().split(",")


@contextmanager
def using_target(features: str) -> Iterator[None]:
    """Make `features` the current target while the block runs."""
    token = _FEATURES.set(features)
    try:
        yield
    finally:
        _FEATURES.reset(token)
