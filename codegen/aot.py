"""Build an AOT library: llvm-stage module -> `libNAME.so` (+ `NAME.h`) with a plain C ABI.

The object code is what every compile emits (`emit_object`, the artifact of DESIGN §6); the
library adds the generated C wrapper (codegen/aot_c.py) and links both with `cc -shared`:

* only the `NAME_*` functions are exported (a version script makes the rest local: the
  compiled code's `main`, `_mlir_ciface_main` and hook setters would otherwise collide with
  the C program's `main` or another theanir library);
* `-z nodelete`: a dlclose leaves it mapped (threads that called it hold per-thread buffer
  caches whose destructor is its code; OpenBLAS's threads outlive any caller);
* `-Wl,--no-undefined`: every symbol resolves to libc, libm, the BLAS or libiomp5, so a
  library that links here loads anywhere those are (MLIR's runner utils are not needed:
  the wrapper defines the `memrefCopy` the code may call);
* the BLAS (`libscipy_openblas.so`) and, with OpenMP on, `libiomp5.so` are copied next to
  the library and found through its `$ORIGIN` rpath, only if the code calls them.

Targets: "native" (this CPU's features), or the x86-64 micro-architecture levels "x86-64-v2",
"x86-64-v3" (AVX2, FMA) and "x86-64-v4" (+AVX-512), so a library runs on another machine;
the manifest (embedded, `NAME_manifest()`) records it and the features the code needs,
which both the library (`NAME_check_cpu`, every call) and `th.aot.load` check.
`THEANIR_AOT_CFLAGS` adds flags to the wrapper's compile and the link (the tests build an
AddressSanitizer wrapper with `-fsanitize=address`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

import numpy as np
from mlir import ir

from theanir.passes.options import CompileOptions

from . import aot_c
from .native import CodegenError, c_compiler, emit_object, host_target, packed_symbol
from .llvm_c import Target
from .threads import blas_library, openmp_library
from .version import __version__

_V2 = "+cx16,+popcnt,+sahf,+sse3,+sse4.1,+sse4.2,+ssse3"
_V3 = _V2 + ",+avx,+avx2,+bmi,+bmi2,+f16c,+fma,+lzcnt,+movbe,+xsave"
_V4 = _V3 + ",+avx512bw,+avx512cd,+avx512dq,+avx512f,+avx512vl"
LEVELS = {"x86-64-v2": _V2, "x86-64-v3": _V3, "x86-64-v4": _V4}
TARGETS = ("native", *LEVELS)
MANIFEST_FORMAT = 1


class AotBuildError(RuntimeError):
    """The C compiler or linker failed on an AOT library (the message has their output)."""


def resolve_target(target: str) -> tuple[Target, str]:
    """(LLVM target, its feature string) for a `target=` name."""
    host = host_target()
    if target == "native":
        return host, host.features
    if target not in LEVELS:
        raise ValueError(f"th.aot.compile: target must be one of {list(TARGETS)}, got {target!r}")
    if not host.triple.startswith("x86_64"):
        raise ValueError(f"th.aot.compile: target {target!r} is an x86-64 level; this machine is {host.triple}")
    return Target(host.triple, target, LEVELS[target], host.llvm_version), LEVELS[target]


def target_options(opts: CompileOptions, target: str) -> CompileOptions:
    """`opts` for code that runs on `target` (the passes' CPU facts: small-GEMM kernel width)."""
    # OpenMP loops take the team OpenMP gives the program that loads the library (OMP_NUM_THREADS)
    return dataclasses.replace(opts, target_features=resolve_target(target)[1], threads=0 if opts.openmp else 1)


def split_path(path: str) -> tuple[str, str]:
    """("build", "mlp") from "build/libmlp", "build/libmlp.so" or "build/mlp"."""
    folder, base = os.path.split(os.fspath(path))
    if base.endswith(".so"):
        base = base[:-3]
    if base.startswith("lib") and len(base) > 3:
        base = base[3:]
    return folder or ".", aot_c.c_identifier(base, "the library name (from the path)")


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AotBuildError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")


def needed_libraries(lib: str) -> list[str]:
    """The DT_NEEDED entries of a shared library (readelf, else objdump)."""
    for tool, args in (("readelf", ["-d"]), ("objdump", ["-p"])):
        exe = shutil.which(tool)
        if exe:
            out = subprocess.run([exe, *args, lib], capture_output=True, text=True).stdout
            return re.findall(r"NEEDED\)?\s+(?:Shared library: \[)?([^\]\s]+)", out)
    return []


def build_library(module: ir.Module, opts: CompileOptions, spec: dict[str, Any], folder: str,
                  header: bool = True, state_values: list[np.ndarray] | None = None,
                  source_hash: str = "") -> dict[str, Any]:
    """Write `folder/libNAME.so` (and `NAME.h`) from an llvm-stage `module`; returns the
    manifest. `spec` (see codegen/aot_c.py): name, function, args (role, cname, dtype,
    shape, contiguous, alias, state), states (name, dtype, shape, updated, in_place);
    `state_values`: the states' initial values, embedded in the library."""
    cc = c_compiler()
    if cc is None:
        raise AotBuildError("th.aot.compile needs a C compiler (cc, or $CC) to build the library")
    name = spec["name"]
    llvm_target, features = resolve_target(spec["target"]["name"])
    spec["target"].update(cpu=llvm_target.cpu, triple=llvm_target.triple,
                          required=aot_c.required_features(features))
    spec["packed"] = packed_symbol(opts.entry)
    blob = bytearray()
    for s, value in zip(spec["states"], state_values or []):
        data = np.ascontiguousarray(value, dtype=s["dtype"]).tobytes()
        s["offset"], s["nbytes"] = len(blob), len(data)
        blob += data + b"\0" * (-len(data) % 64)
    os.makedirs(folder, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".aot-{name}-", dir=folder)
    try:
        obj = os.path.join(work, "code.o")
        emit_object(module, opts.entry, opts.opt_level, llvm_target, obj)
        libs = [lib for lib in (blas_library() if opts.blas else None, openmp_library() if opts.openmp else None)
                if lib]
        manifest = {"format": MANIFEST_FORMAT, "kind": "theanir-aot", "name": name, "function": spec["function"],
                    "packed": spec["packed"], "args": spec["args"], "states": spec["states"],
                    "target": spec["target"], "theanir": __version__, "llvm": llvm_target.llvm_version,
                    "opt_level": opts.opt_level, "source_hash": source_hash,
                    "libraries": [os.path.basename(lib) for lib in libs]}
        hdr = aot_c.header(spec)
        with open(os.path.join(work, f"{name}.h"), "w") as f:
            f.write(hdr)
        blob_path = None
        if spec["states"]:
            blob_path = os.path.join(work, "state.bin")
            with open(blob_path, "wb") as f:
                f.write(bytes(blob) or b"\0")
        # the manifest's library list is final only after the link; the wrapper embeds it
        # with the candidates and the link below drops what the code does not call
        wrapper = os.path.join(work, "wrapper.c")
        with open(wrapper, "w") as f:
            f.write(aot_c.source(spec, json.dumps(manifest, sort_keys=True), blob_path))
        wobj = os.path.join(work, "wrapper.o")
        extra = os.environ.get("THEANIR_AOT_CFLAGS", "").split()  # e.g. -fsanitize=address (tests)
        compile_wrapper = [cc, "-std=gnu11", "-O2", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wno-unused-function",
                           *extra, "-I", work, "-c", wrapper, "-o", wobj]
        _run(compile_wrapper, "compiling the C wrapper")
        script = os.path.join(work, "exports.map")
        with open(script, "w") as f:
            f.write(f"{{ global: {name}_*; local: *; }};\n")
        out = os.path.join(work, f"lib{name}.so")
        link = [cc, "-shared", *extra, "-o", out, wobj, obj, f"-Wl,--version-script={script}", "-Wl,--no-undefined",
                "-Wl,-z,noexecstack", "-Wl,-z,nodelete", "-Wl,-rpath,$ORIGIN", "-Wl,--as-needed"]
        link += [f"-L{d}" for d in sorted({os.path.dirname(lib) for lib in libs})]
        link += [f"-l:{os.path.basename(lib)}" for lib in libs] + ["-lm", "-lpthread"]
        _run(link, "linking the library")
        needed = needed_libraries(out)
        shipped = [lib for lib in libs if os.path.basename(lib) in needed]
        if [os.path.basename(x) for x in shipped] != manifest["libraries"]:
            manifest["libraries"] = [os.path.basename(x) for x in shipped]
            with open(wrapper, "w") as f:  # again, with the final list (no new dependencies)
                f.write(aot_c.source(spec, json.dumps(manifest, sort_keys=True), blob_path))
            _run(compile_wrapper, "compiling the C wrapper")
            _run(link, "linking the library")
        for lib in shipped:
            dest = os.path.join(folder, os.path.basename(lib))
            if not (os.path.exists(dest) and os.path.getsize(dest) == os.path.getsize(lib)):
                shutil.copy2(lib, dest + ".tmp")
                os.replace(dest + ".tmp", dest)
        os.replace(out, os.path.join(folder, f"lib{name}.so"))
        if header:
            os.replace(os.path.join(work, f"{name}.h"), os.path.join(folder, f"{name}.h"))
        return manifest
    except CodegenError as e:
        raise AotBuildError(str(e)) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
