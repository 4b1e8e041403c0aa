"""`compile_options`: the one place `th.config` and the jit arguments become `CompileOptions`.

`CompileOptions` (passes/options.py) is the one key of generated code: th.jit's and
th.function's in-process caches key on `key()`, the disk cache on `key_text()`
(codegen/cache.py), and the runtime's warm-call caches (runtime/src/fast_cache.h) on a
64-bit hash of it (`warm_key`), which frontend/config.py mirrors into C++ on every
assignment. Every `th.config` field is classified below: one that changes generated code
maps to the CompileOptions field it sets; any other says why it cannot. A field in neither
table fails tests/frontend/test_compile_options.py, so a new setting cannot slip into the
compile without reaching the keys.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

from theanir.codegen.host import host_options
from theanir.passes.options import CompileOptions

# th.config field -> the CompileOptions field it sets (same name: one meaning).
CODE_SETTINGS: dict[str, str] = {
    "optimizer": "optimizer",
    "opt_level": "opt_level",
    "fast_math": "fast_math",
    "blas": "blas",
    "openmp": "openmp",
    "threads": "threads",
    "codegen": "codegen",
    "device": "device",
}
# th.config fields that cannot change a compile's output, and why.
RUNTIME_SETTINGS: dict[str, str] = {
    "floatX": "read when a graph is built (symbolic variables, constants): its dtypes are in the traced "
              "module, which every key hashes",
    "cache": "whether the disk cache is used, not what it holds",
    "cache_dir": "where the disk cache lives",
    "sync": "whether calls run inline or on the queue; mirrored into C++ beside the warm key",
    "allow_gc": "the executable's buffer pool, set at each full-path call (part of the warm key, so a "
                "change reaches the executable)",
    "max_pending_bytes": "the runtime queue's byte limit",
    "jit_cache_size": "how many signatures a function keeps compiled",
    "specialize_after": "when a function with dynamic dims adds a static signature for a hot shape "
                        "(the signature, not the options, decides that code)",
    "mode": "read when th.function is called: the mode's optimizer becomes that function's optimizer "
            "option (frontend/symbolic_io.py), which its keys hold",
    "on_unused_input": "whether th.function refuses, warns about or ignores unused inputs",
}


def compile_options(config: Any, optimizer: str | None = None, donate: Sequence[tuple[int, int]] = (),
                    contiguous: Sequence[bool] | None = None) -> CompileOptions:
    """The options of a compile under `config` (th.config): the code-altering settings, the
    jit arguments (`optimizer` overrides config.optimizer; `donate`, `contiguous` come from
    the signature) and the host's facts (BLAS installed, CPU features; codegen/host.py)."""
    settings = {field: getattr(config, name) for name, field in CODE_SETTINGS.items()}
    if optimizer is not None:
        settings["optimizer"] = optimizer
    # OpenMP loops only with a team to run them; one thread compiles the serial code, the same
    # key whatever config.openmp says (OpenBLAS's pool follows config.threads at run time)
    settings["openmp"] = bool(settings["openmp"]) and settings["threads"] > 1
    settings["threads"] = settings["threads"] if settings["openmp"] else 1
    opts = CompileOptions(**settings, donate=tuple(donate),
                          contiguous=None if contiguous is None else list(contiguous))
    return host_options(opts)


def warm_key(opts: CompileOptions, allow_gc: bool) -> int:
    """The runtime's warm-call key: a 64-bit hash of `opts.key_text()` and `allow_gc` (which
    the full path applies to the executable). A warm entry made under another key misses."""
    text = f"{opts.key_text()}|allow_gc={bool(allow_gc)}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
