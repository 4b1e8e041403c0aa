"""The compiled artifact: one directory holding `lib.so` and `manifest.json`.

It is what `@jit` loads, what the disk cache stores (codegen/cache.py) and what an AOT build
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
import stat
import struct
import tempfile
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from theanir.dialects.tn.types import SUPPORTED_DTYPES

from .native import NativeCode, load_shared

FORMAT = 1
LIBRARY = "lib.so"
MANIFEST = "manifest.json"
# Files of an entry are read whole, so their size is checked first: a generated library is
# a few MB, a manifest a few KB; anything far larger is not ours.
MAX_LIBRARY_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 16 << 20
_DTYPE_NAMES = frozenset(d.name for d in SUPPORTED_DTYPES)
_HEX = frozenset("0123456789abcdef")


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


def read_regular_file(path: str, limit: int) -> bytes:
    """The bytes of `path`, which must be a regular file (not a symlink) of at most `limit`
    bytes; raises ArtifactError (OSError when it cannot be opened).

    Checked on the open descriptor before reading: a FIFO would block the read forever (the
    open itself does not, with O_NONBLOCK), a device such as /dev/urandom never ends."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError(f"{path} is not a regular file")
        if st.st_size > limit:
            raise ArtifactError(f"{path} has {st.st_size} bytes, more than the {limit} expected")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while being read
        raise ArtifactError(f"{path} has more than the {limit} bytes expected")
    return data


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
    if os.path.isdir(trash) and not os.path.islink(trash):
        shutil.rmtree(trash, ignore_errors=True)
        return
    try:  # a file, FIFO or link where an entry directory belongs
        os.unlink(trash)
    except OSError:
        pass


def read_manifest(path: str, key: str | None = None) -> Manifest:
    """The manifest of artifact directory `path`; raises ArtifactError if unusable."""
    try:
        data = json.loads(read_regular_file(os.path.join(path, MANIFEST), MAX_MANIFEST_BYTES))
    except (OSError, ValueError, RecursionError) as e:
        raise ArtifactError(f"{path}: unreadable manifest ({e})") from None
    problem = manifest_problem(data)
    if problem is not None:
        raise ArtifactError(f"{path}: malformed manifest: {problem}")
    manifest = Manifest(**data)
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
        data = read_regular_file(lib, MAX_LIBRARY_BYTES)
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
    if phnum and phentsize < 56:  # smaller than an Elf64_Phdr: the reads below would overrun
        return False
    for i in range(phnum):
        ptype, _, offset, _, _, filesz = struct.unpack_from(end + "IIQQQQ", data, phoff + i * phentsize)
        if ptype == 1 and offset + filesz > len(data):  # PT_LOAD
            return False
    return True


def manifest_problem(data: Any) -> str | None:
    """What is wrong with a parsed manifest (every field: type, range), or None.

    Anything a damaged or foreign file may hold (a string or 1e999 where an int belongs, a
    path for the library name) is refused here, so loading can only fail as ArtifactError."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    names = {f.name for f in fields(Manifest)}
    if set(data) != names:
        return f"fields {sorted(set(data) ^ names)} missing or unexpected"
    if data["format"] != FORMAT or type(data["format"]) is not int:
        return f"format {data['format']!r}, expected {FORMAT}"
    for name, length in (("key", 32), ("source_hash", 64), ("sha256", 64)):
        if not _hex(data[name], length):
            return f"{name} must be {length} hex digits, got {data[name]!r:.80}"
    for name in ("theanir", "llvm"):
        if not isinstance(data[name], str):
            return f"{name} must be a string, got {data[name]!r:.80}"
    entry, lib = data["entry"], data["library"]
    if not (isinstance(entry, str) and 0 < len(entry) < 256 and entry.replace("_", "a").isalnum()
            and entry.isascii()):
        return f"entry must be a C symbol name, got {entry!r:.80}"
    if not (isinstance(lib, str) and lib and os.path.basename(lib) == lib and lib not in (".", "..")):
        return f"library must be a file name, got {lib!r:.80}"
    target = data["target"]
    if not (isinstance(target, dict) and all(isinstance(v, str) for v in target.values())):
        return f"target must map names to strings, got {target!r:.80}"
    if type(data["opt_level"]) is not int or not 0 <= data["opt_level"] <= 3:
        return f"opt_level must be an int 0..3, got {data['opt_level']!r:.80}"
    args = data["args"]
    if not isinstance(args, list):
        return f"args must be a list, got {type(args).__name__}"
    for i, a in enumerate(args):
        problem = _arg_problem(a, len(args))
        if problem is not None:
            return f"args[{i}]: {problem}"
    return None


def _arg_problem(a: Any, n_args: int) -> str | None:
    if not isinstance(a, dict):
        return f"expected an object, got {type(a).__name__}"
    required = {"name", "dtype", "shape", "contiguous", "output"}
    if not required <= set(a) <= required | {"alias"}:
        return f"fields {sorted(set(a) ^ required)} missing or unexpected"
    if not isinstance(a["name"], str):
        return f"name must be a string, got {a['name']!r:.80}"
    if not isinstance(a["dtype"], str) or a["dtype"] not in _DTYPE_NAMES:
        return f"dtype must be one of {sorted(_DTYPE_NAMES)}, got {a['dtype']!r:.80}"
    shape = a["shape"]
    if not (isinstance(shape, list) and all(n is None or (type(n) is int and 0 <= n < 2**63) for n in shape)):
        return f"shape must be a list of non-negative int64 sizes or null (dynamic), got {shape!r:.80}"
    if type(a["contiguous"]) is not bool or type(a["output"]) is not bool:
        return "contiguous and output must be true or false"
    alias = a.get("alias", -1)
    if type(alias) is not int or not -1 <= alias < n_args:
        return f"alias must be -1 or an argument index, got {alias!r:.80}"
    return None


def _hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= _HEX


def _layout(a: dict[str, Any]) -> tuple:
    return (a["dtype"], tuple(a["shape"]), bool(a["contiguous"]), bool(a["output"]), int(a.get("alias", -1)))
