"""Host facts a compile depends on, resolved into `CompileOptions` before any key is made.

Passes never probe the host (passes/options.py): whether the BLAS library is installed and
the CPU's LLVM feature string are facts of this machine that change the generated code, so
they are fields of the options, filled here: by the frontend when it builds the options
(frontend/options.py) and again by `compile_module` for callers that built them by hand.
"""
from __future__ import annotations

import dataclasses

from theanir.passes.options import CompileOptions

from .llvm_c import host_target
from .threads import blas_library


def host_options(opts: CompileOptions) -> CompileOptions:
    """`opts` with the host's facts: `blas` only if the library is installed; an empty
    `target_features` becomes the host CPU's feature string."""
    blas = opts.blas and blas_library() is not None
    features = opts.target_features or host_target().features
    if blas == opts.blas and features == opts.target_features:
        return opts
    return dataclasses.replace(opts, blas=blas, target_features=features)
