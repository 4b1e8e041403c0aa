"""The compiled artifact: one directory holding `lib.so` and `manifest.json`.

It is what `@jit` loads, what the disk cache stores (passes/cache.py) and what an AOT build
ships (DESIGN §6). The manifest names the packed entry point (`void fn(void**)`), the
arguments in call order (inputs, then the outputs the caller allocates), the hash of the
optimized tn module it came from, the cache key, the versions and the target:

    {"format": 1, "key": "3f…", "entry": "_mlir__mlir_ciface_main", "library": "lib.so",
     "sha256": "…", "source_hash": "…", "theanir": "0.1.0", "llvm": "22.1.8",
     "target": {"triple": "x86_64-unknown-linux-gnu", "cpu": "znver4"}, "opt_level": 2,
     "args": [{"name": "x", "dtype": "float32", "shape": [60, 784], "contiguous": true,
               "output": false}, …]}

A directory is published with one `rename` of a fully written temporary directory, so a
reader sees a complete entry or none; `rename` refuses to replace a non-empty directory, so
of two concurrent writers of the same key the first wins and the second reuses it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from .native import NativeCode, load_shared

FORMAT = 1
LIBRARY = "lib.so"
MANIFEST = "manifest.json"


class ArtifactError(RuntimeError):
    """An artifact directory is missing, corrupt, stale or does not match what is expected."""


@dataclass
class Manifest:
    key: str
    entry: str
    args: list[dict[str, Any]]
    source_hash: str
    theanir: str
    llvm: str
    target: dict[str, str]
    opt_level: int
    sha256: str = ""
    library: str = LIBRARY
    format: int = FORMAT


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_artifact(dest: str, library: str, manifest: Manifest) -> str:
    """Publish `library` (a linked .so, moved) with `manifest` as directory `dest`.

    Returns the directory to load from: `dest`, or, when `dest` could not be published
    (another writer holds a corrupt entry there), the private temporary directory."""
    parent = os.path.dirname(dest) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.", dir=parent)
    os.replace(library, os.path.join(tmp, manifest.library))
    manifest.sha256 = file_sha256(os.path.join(tmp, manifest.library))
    with open(os.path.join(tmp, MANIFEST), "w") as f:
        json.dump(asdict(manifest), f, indent=1)
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, dest)
        return dest
    except OSError:
        pass  # `dest` exists: a concurrent writer won, or a bad entry sits there
    try:
        verify_artifact(dest, manifest.key)
        shutil.rmtree(tmp, ignore_errors=True)
        return dest
    except ArtifactError:
        pass
    discard_artifact(dest)
    try:
        os.rename(tmp, dest)
        return dest
    except OSError:
        return tmp  # lost a race again: use our own copy; the caller removes it after loading


def discard_artifact(path: str) -> None:
    """Remove a bad entry: renamed aside first (atomic), so no reader sees half of it."""
    trash = os.path.join(os.path.dirname(path), f".stale-{uuid.uuid4().hex[:12]}")
    try:
        os.rename(path, trash)
    except OSError:
        return  # already gone (or replaced by a concurrent writer)
    shutil.rmtree(trash, ignore_errors=True)


def read_manifest(path: str, key: str | None = None) -> Manifest:
    """The manifest of artifact directory `path`; raises ArtifactError if unusable."""
    try:
        with open(os.path.join(path, MANIFEST)) as f:
            data = json.load(f)
        manifest = Manifest(**data)
    except (OSError, ValueError, TypeError) as e:
        raise ArtifactError(f"{path}: unreadable manifest ({e})") from None
    if manifest.format != FORMAT:
        raise ArtifactError(f"{path}: manifest format {manifest.format}, expected {FORMAT}")
    if not _well_formed(manifest):
        raise ArtifactError(f"{path}: malformed manifest")
    if key is not None and manifest.key != key:
        raise ArtifactError(f"{path}: manifest is for key {manifest.key}, expected {key}")
    return manifest


def load_artifact(path: str, key: str | None = None, expect: dict[str, Any] | None = None,
                  args: list[dict[str, Any]] | None = None) -> tuple[Manifest, NativeCode]:
    """Verify and dlopen an artifact directory.

    `expect` lists manifest fields that must match (versions, target); `args` the argument
    specs the caller will pass (names are not compared). Raises ArtifactError."""
    manifest = read_manifest(path, key)
    for name, value in (expect or {}).items():
        if getattr(manifest, name, None) != value:
            raise ArtifactError(f"{path}: stale ({name} is {getattr(manifest, name, None)!r}, "
                                f"expected {value!r})")
    if args is not None and [_layout(a) for a in manifest.args] != [_layout(a) for a in args]:
        raise ArtifactError(f"{path}: argument specs differ from the call's")
    lib = _check_library(path, manifest)
    try:
        return manifest, load_shared(lib, manifest.entry)
    except (OSError, RuntimeError) as e:
        raise ArtifactError(f"{path}: cannot load {manifest.library} ({e})") from None


def verify_artifact(path: str, key: str | None = None) -> Manifest:
    """Check manifest and library checksum without loading; raises ArtifactError."""
    manifest = read_manifest(path, key)
    _check_library(path, manifest)
    return manifest


def _check_library(path: str, manifest: Manifest) -> str:
    lib = os.path.join(path, manifest.library)
    try:
        with open(lib, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ArtifactError(f"{path}: unreadable library ({e})") from None
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise ArtifactError(f"{path}: {manifest.library} does not match its manifest's sha256")
    if not _elf_complete(data):
        raise ArtifactError(f"{path}: {manifest.library} is not a complete ELF file")
    return lib


def _elf_complete(data: bytes) -> bool:
    """Every loadable segment and the section table lie inside the file. dlopen maps
    segments past the end of a truncated file and the process dies of SIGBUS."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only (x86-64, aarch64)
        return False
    end = "<" if data[5] == 1 else ">"
    phoff, shoff = struct.unpack_from(end + "QQ", data, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from(end + "HHHH", data, 54)
    if phoff + phnum * phentsize > len(data) or shoff + shnum * shentsize > len(data):
        return False
    for i in range(phnum):
        ptype, _, offset, _, _, filesz = struct.unpack_from(end + "IIQQQQ", data, phoff + i * phentsize)
        if ptype == 1 and offset + filesz > len(data):  # PT_LOAD
            return False
    return True


def _well_formed(m: Manifest) -> bool:
    fields = (m.key, m.entry, m.sha256, m.library, m.source_hash)
    if not all(isinstance(f, str) for f in fields) or os.path.basename(m.library) != m.library:
        return False
    try:
        [_layout(a) for a in m.args]
    except (KeyError, TypeError):
        return False
    return True


def _layout(a: dict[str, Any]) -> tuple:
    return (a["dtype"], tuple(a["shape"]), bool(a["contiguous"]), bool(a["output"]), int(a.get("alias", -1)))
