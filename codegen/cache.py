"""The persistent compile cache: (optimized tn module, target, compiler) -> artifact.

`compile_module` takes a traced module (stage `tn`) and returns native code:

1. key = sha256 of the module's generic form *without* locations (moving code in a file
   does not miss), the CompileOptions (`key_text()`: the one definition of what besides
   the module decides the code; passes/options.py), the target (triple, CPU, features, LLVM
   version) and the compiler fingerprint (theanir version, the stage table's steps, a hash
   of the codegen/, passes/ and dialects/ sources, the runtime libraries, LLVM_LEVELS);
2. hit: `<cache_dir>/<key>/` holds an artifact (codegen/artifact.py) whose manifest matches:
   dlopen it, skipping lowering and LLVM (~1 ms);
3. miss: lower to llvm, emit object code, link, publish the artifact atomically, load it.

A hit needs the optimized module, so the tn optimizer would run on every hit (~12 ms of a
~25 ms hit for the MLP step). Each compile therefore also leaves a *trace alias*,
`<cache_dir>/traces/<key of the traced module>`, a small JSON file naming its own key, the
artifact's key and the sha256 of the artifact's library: a new process that traces the same
module loads the artifact without optimizing. An alias is used only when all three agree (a
copied, edited or stale alias cannot run another artifact of the same signature). The
compiler fingerprint covers the optimizer's sources, so an optimizer change misses the alias
too.

Every path through here, cache on or off, produces and loads the same artifact (DESIGN §6):
with the cache off it is built in a temporary directory removed after loading. The
ExecutionEngine route (codegen/native.py) remains for `th.config.codegen = "engine"` and
as the fallback when no linker is found or object emission fails. An unreadable,
corrupt or stale entry is logged (logger `theanir.cache`) and recompiled, never fatal.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from typing import Any

from mlir import ir

from theanir.passes.options import CompileOptions
from theanir.passes.pipeline import STAGES, clone, run_until

from .artifact import (FORMAT, MANIFEST, MAX_LIBRARY_BYTES, MAX_MANIFEST_BYTES, ArtifactError, Manifest,
                       discard_artifact, load_artifact, read_manifest, read_regular_file, verify_artifact,
                       write_artifact)
from .host import host_options
from .native import (LLVM_LEVELS, STATS, CodegenError, NativeCode, can_link, compile_llvm_module,
                     emit_object, host_target, link_shared, packed_symbol)
from .threads import runtime_libraries
from .version import __version__

log = logging.getLogger("theanir.cache")


def module_hash(module: ir.Module) -> str:
    """sha256 of the module's generic form without debug locations, except for modules with
    dynamic dims: their run-time shape checks name the user's line (docs/dynamic-shapes.md),
    so the lines are part of what the artifact holds."""
    text = module.operation.get_asm(print_generic_op_form=True, enable_debug_info=False)
    if "?" in text:
        text = module.operation.get_asm(print_generic_op_form=True, enable_debug_info=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _describe(step: Any) -> str:
    if isinstance(step, str):
        return step
    names = [f"{getattr(step, '__module__', '')}.{getattr(step, '__qualname__', repr(step))}"]
    for cell in getattr(step, "__closure__", None) or ():  # `_py(fn)` wraps the real pass
        inner = cell.cell_contents
        if callable(inner):
            names.append(f"{getattr(inner, '__module__', '')}.{getattr(inner, '__qualname__', '')}")
    return ":".join(names)


@functools.cache
def compiler_fingerprint() -> str:
    """Everything besides the module and target that decides the generated code."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for root in (here, *(os.path.join(os.path.dirname(here), d) for d in ("passes", "dialects"))):
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(dirpath, name)
                h.update(os.path.relpath(path, root).encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    meta = {"theanir": __version__, "sources": h.hexdigest(),
            "stages": [[s.name, [_describe(st) for st in s.steps]] for s in STAGES],
            "runtime": runtime_libraries(), "llvm_levels": {str(k): v for k, v in LLVM_LEVELS.items()}}
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


def cache_key(source_hash: str, opts: CompileOptions, target: Any, stage: str = "tn-opt") -> str:
    """The artifact key (from the tn-opt module), or with stage="tn" a trace alias's name.
    Everything besides the module that decides the code is in `opts` (its `key_text()`)."""
    parts = {"format": FORMAT, "stage": stage, "source": source_hash, "options": opts.key_text(),
             "target": asdict(target), "compiler": compiler_fingerprint()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def compile_module(module: ir.Module, opts: CompileOptions, args: list[dict[str, Any]],
                   cache_dir: str | None = None) -> NativeCode:
    """Native code for `module` (at stage tn; not modified: lowering works on a copy).

    `args`: the manifest's argument records (name, dtype, shape, contiguous, output) in call
    order. `cache_dir=None` disables the persistent cache. `opts.codegen` picks the route
    (object code, or MLIR's ExecutionEngine); host facts missing from `opts` are filled in
    (codegen/host.py) before the key is made."""
    opts = host_options(opts)
    if opts.codegen == "engine" or not can_link():
        return _engine(clone(module), opts, start="tn")
    target = host_target()
    expect = {"theanir": __version__, "llvm": target.llvm_version,
              "target": _target_record(target), "opt_level": opts.opt_level,
              "entry": packed_symbol(opts.entry)}
    alias, tried = None, set()
    if cache_dir is not None:
        traced_key = cache_key(module_hash(module), opts, target, "tn")
        alias = os.path.join(cache_dir, "traces", traced_key)
        native = _lookup_alias(alias, cache_dir, expect, args, tried)
        if native is not None:
            native.trace_key = traced_key
            return native
    module = clone(module)
    run_until(module, "tn-opt", opts)
    source = module_hash(module)
    key = cache_key(source, opts, target)
    if cache_dir is not None:
        found = None if key in tried else _lookup(os.path.join(cache_dir, key), key, expect, args)
        if found is None:
            STATS["cache_misses"] += 1
            found = _compile(module, opts, target, args, source, key, expect, cache_dir)
        manifest, native = found
        if native.path is not None and manifest is not None:
            _write_alias(alias, key, manifest.sha256)
            native.trace_key = os.path.basename(alias)
        return native
    return _compile(module, opts, target, args, source, key, expect, None)[1]


def _compile(module: ir.Module, opts: CompileOptions, target: Any, args: list[dict[str, Any]],
             source: str, key: str, expect: dict[str, Any],
             cache_dir: str | None) -> tuple[Manifest | None, NativeCode]:
    """Lower, build and load; the manifest is None on the ExecutionEngine fallback."""
    STATS["lowerings"] += 1
    run_until(module, "llvm", opts, start="tn-opt")
    manifest = Manifest(key=key, entry=expect["entry"], args=args, source_hash=source,
                        theanir=expect["theanir"], llvm=target.llvm_version,
                        target=expect["target"], opt_level=opts.opt_level)
    try:
        return _build(module, opts, target, manifest, cache_dir)
    except (CodegenError, OSError, ArtifactError) as e:
        log.warning("object code route failed, using the ExecutionEngine: %s", e)
        return None, _engine(module, opts, start="llvm")


def _engine(module: ir.Module, opts: CompileOptions, start: str) -> NativeCode:
    if start != "llvm":
        STATS["lowerings"] += 1
        run_until(module, "llvm", opts, start=start)
    return compile_llvm_module(module, opts.entry, opts.opt_level)


def _target_record(target: Any) -> dict[str, str]:
    return {"triple": target.triple, "cpu": target.cpu, "features": target.features}


def _lookup(path: str, key: str, expect: dict[str, Any],
            args: list[dict[str, Any]]) -> tuple[Manifest, NativeCode] | None:
    """The entry at `path` loaded, or None (missing; or corrupt, stale, not matching `expect`:
    then discarded, so the compile that follows rewrites it)."""
    if not os.path.lexists(path):
        return None
    try:
        found = load_artifact(path, key, expect, args)
    except ArtifactError as e:
        log.warning("discarding cache entry: %s", e)
        STATS["cache_bad_entries"] += 1
        discard_artifact(path)
        return None
    STATS["cache_hits"] += 1
    return found


def _build(module: ir.Module, opts: CompileOptions, target: Any, manifest: Manifest,
           cache_dir: str | None) -> tuple[Manifest, NativeCode]:
    """Emit, link, publish (into the cache, or a temporary directory) and load."""
    root = _writable(cache_dir)
    persistent = root is not None
    if root is None:
        root = tempfile.mkdtemp(prefix="theanir-")
    work = tempfile.mkdtemp(prefix=".build-", dir=root)
    try:
        obj, lib = os.path.join(work, "main.o"), os.path.join(work, "lib.so")
        emit_object(module, opts.entry, opts.opt_level, target, obj)
        link_shared(obj, lib)
        where = write_artifact(os.path.join(root, manifest.key), lib, manifest)
        loaded, native = load_artifact(where, manifest.key)
        if not persistent or where != os.path.join(root, manifest.key):
            native.path = None  # loaded and mapped; the files are not kept
            shutil.rmtree(where, ignore_errors=True)
        return loaded, native  # another writer's entry may have won: its checksum
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not persistent:
            shutil.rmtree(root, ignore_errors=True)


# An alias is a few hundred bytes of JSON; anything larger is not one.
_MAX_ALIAS_BYTES = 4096


def _lookup_alias(alias: str, cache_dir: str, expect: dict[str, Any], args: list[dict[str, Any]],
                  tried: set[str]) -> NativeCode | None:
    """A trace alias names the artifact its traced module optimized to: a hit skips tn-opt.

    Used only if it names itself and the artifact's library checksum matches: an alias
    copied from another trace, or naming another artifact, is a miss (and is rewritten)."""
    try:
        record = json.loads(read_regular_file(alias, _MAX_ALIAS_BYTES))
    except (OSError, ValueError, ArtifactError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("trace") != os.path.basename(alias):
        return None
    key, sha = record.get("key"), record.get("sha256")
    if not (isinstance(key, str) and len(key) == 32 and key.isalnum() and key.isascii()
            and isinstance(sha, str) and len(sha) == 64):
        return None
    path = os.path.join(cache_dir, key)
    try:
        if read_manifest(path, key).sha256 != sha:
            return None  # the alias is stale, not the artifact: keep it, compile, rewrite the alias
    except ArtifactError:
        pass  # a bad entry: _lookup discards it
    tried.add(key)
    found = _lookup(path, key, expect, args)
    if found is None:
        return None
    STATS["trace_alias_hits"] += 1
    return found[1]


def _write_alias(alias: str, key: str, sha256: str) -> None:
    record = {"trace": os.path.basename(alias), "key": key, "sha256": sha256}
    try:
        os.makedirs(os.path.dirname(alias), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".alias-", dir=os.path.dirname(alias))
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, alias)
    except OSError as e:
        log.warning("cannot write cache alias %s: %s", alias, e)


def _writable(cache_dir: str | None) -> str | None:
    if cache_dir is None:
        return None
    try:
        os.makedirs(cache_dir, exist_ok=True)
        if os.access(cache_dir, os.W_OK):
            return cache_dir
    except OSError:
        pass
    log.warning("cache directory %s is not writable; compiling without the disk cache", cache_dir)
    return None


# ------------------------------------------------------------------ carrying entries elsewhere
# A pickled th.function carries the cache entries of the signatures it had compiled: the
# artifact (manifest + library bytes) and the trace alias naming it. Unpickling writes them
# into the local cache, where the signature's compile finds the alias: no tn optimization, no
# LLVM, on a machine that never compiled the function. An entry for another CPU, LLVM or
# theanir version is written too but never loaded (the lookup's `expect` refuses it, the
# signature compiles); a damaged one fails its checksum and is not written.


def export_entry(native: NativeCode) -> dict[str, Any] | None:
    """The cache entry `native` was loaded from, as bytes (None: not from the disk cache)."""
    if native.path is None or native.trace_key is None:
        return None
    try:
        manifest = verify_artifact(native.path)
        return {"trace": native.trace_key, "key": manifest.key,
                "manifest": read_regular_file(os.path.join(native.path, MANIFEST), MAX_MANIFEST_BYTES),
                "library": read_regular_file(os.path.join(native.path, manifest.library), MAX_LIBRARY_BYTES)}
    except (OSError, ArtifactError) as e:
        log.warning("cannot carry cache entry %s: %s", native.path, e)
        return None


def import_entry(entry: Any, cache_dir: str) -> bool:
    """Write an exported entry (and its alias) into `cache_dir` unless it holds the key
    already; False for anything malformed or damaged, which is skipped."""
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), (str, bytes)) for k in
                                              ("trace", "key", "manifest", "library")):
        return False
    trace, key = entry["trace"], entry["key"]
    if not all(isinstance(x, str) and len(x) == 32 and x.isascii() and x.isalnum() for x in (trace, key)):
        return False
    root = _writable(cache_dir)
    if root is None:
        return False
    dest = os.path.join(root, key)
    work = tempfile.mkdtemp(prefix=".import-", dir=root)
    try:
        with open(os.path.join(work, MANIFEST), "wb") as f:
            f.write(entry["manifest"])
        manifest = read_manifest(work, key)
        with open(os.path.join(work, manifest.library), "wb") as f:
            f.write(entry["library"])
        verify_artifact(work, key)  # the checksum and the ELF check, before anything is published
        if not os.path.lexists(dest):
            lib = os.path.join(work, manifest.library)
            manifest.sha256 = ""
            write_artifact(dest, lib, manifest)
        _write_alias(os.path.join(root, "traces", trace), key, read_manifest(dest, key).sha256)
        return True
    except (OSError, ArtifactError, TypeError) as e:
        log.warning("skipping a carried cache entry: %s", e)
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)
