"""A damaged disk cache is a miss, never an exception forever nor a hang (item 12 of issue 12).

Every manifest field is validated (types, ranges); `lib.so`, `manifest.json` and the trace
aliases are read only when they are regular files of sane size; an alias is tied to its own
name and to its artifact's library checksum; the manifest's entry symbol must be the one
expected. Cases that could block or crash run in a child process with a timeout.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import theanir as th
from theanir.codegen.artifact import MANIFEST, ArtifactError, load_artifact, read_manifest, verify_artifact
from theanir.codegen.native import STATS

from support import entries


def aliases(cache_dir) -> list[str]:
    return sorted(os.listdir(cache_dir / "traces"))


def add_mul(x, y):
    return x * y + 1.0


def add_mul_2(x, y):
    return x * y + 2.0


X, Y = np.arange(6.0).reshape(2, 3), np.full(3, 2.0)


def replace(path, data: bytes) -> None:
    """A new file (the process may have the old lib.so mapped: never shrink it in place)."""
    tmp = str(path) + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def edit_manifest(entry, edit) -> None:
    m = json.loads((entry / MANIFEST).read_text())
    text = edit(m)
    replace(entry / MANIFEST, (text if isinstance(text, str) else json.dumps(m)).encode())


def recompiles_then_hits(fn=add_mul, want=X * Y + 1) -> None:
    before = dict(STATS)
    np.testing.assert_allclose(th.jit(fn)(X, Y), want)  # a fresh jit: goes to the disk cache
    assert STATS["llvm_compiles"] - before.get("llvm_compiles", 0) == 1
    np.testing.assert_allclose(th.jit(fn)(X, Y), want)
    assert STATS["llvm_compiles"] - before.get("llvm_compiles", 0) == 1  # repaired: a hit now


# ----------------------------------------------------------------- manifest fields
BAD_ALIAS = {"string": '"x"', "overflow": "1e999", "nan": "NaN", "float": "1.5", "bool": "true",
             "out of range": "7", "below -1": "-2", "huge int": str(2**80)}


@pytest.mark.parametrize("text", BAD_ALIAS.values(), ids=BAD_ALIAS.keys())
def test_bad_alias_field_is_a_miss_not_an_exception(cache, text):
    th.jit(add_mul)(X, Y)
    [key] = entries(cache)

    def edit(m):
        m["args"][-1]["alias"] = "@@"
        return json.dumps(m).replace('"@@"', text)

    edit_manifest(cache / key, edit)
    before = dict(STATS)
    recompiles_then_hits()
    assert STATS["cache_bad_entries"] - before.get("cache_bad_entries", 0) >= 1
    verify_artifact(str(cache / key), key)  # rewritten


def _fields_and_bad_values():
    good = {"format": 1, "key": "0" * 32, "entry": "_mlir__mlir_ciface_main", "library": "lib.so",
            "sha256": "0" * 64, "source_hash": "0" * 64, "theanir": "0.1.0", "llvm": "22.1.8",
            "target": {"triple": "x86_64-unknown-linux-gnu"}, "opt_level": 2,
            "args": [{"name": "x", "dtype": "float64", "shape": [2, 3], "contiguous": True, "output": False},
                     {"name": "output 0", "dtype": "float64", "shape": [2, 3], "contiguous": True,
                      "output": True, "alias": -1}]}
    bad = [None, "x", float("inf"), float("nan"), -1, 2**80, True, [], {}, [1, [2]], 1.5, ""]
    cases = [(f, v) for f in good for v in bad]
    arg_fields = ["name", "dtype", "shape", "contiguous", "output", "alias"]
    cases += [(f"args.{f}", v) for f in arg_fields for v in bad + [[-1], [1.5], [2**63], ["3"]]]
    cases += [("library", "../lib.so"), ("library", "."), ("entry", "main; rm -rf"), ("dtype", "float16")]
    return good, cases


def _valid_after_all(field: str, value) -> bool:
    """Values of the right type and range (versions are compared later, as staleness)."""
    if field in ("theanir", "llvm", "args.name"):
        return isinstance(value, str)
    if field in ("entry", "library"):
        return value == "x"
    return (field, value) in (("target", {}), ("args", []), ("args.shape", []))


def test_every_malformed_manifest_field_is_an_artifact_error(tmp_path):
    """Fuzz each field with wrong types and ranges: reading fails with ArtifactError only."""
    good, cases = _fields_and_bad_values()
    (tmp_path / "lib.so").write_bytes(b"\x7fELF not really")
    seen = 0
    for field, value in cases:
        m = json.loads(json.dumps(good))
        if field.startswith("args."):
            m["args"][1][field[5:]] = value
        elif field == "dtype":
            m["args"][0]["dtype"] = value
        else:
            m[field] = value
        if m == good or _valid_after_all(field, value):
            continue
        (tmp_path / MANIFEST).write_text(json.dumps(m))
        with pytest.raises(ArtifactError, match="malformed manifest|unreadable manifest"):
            read_manifest(str(tmp_path))
        seen += 1
    for extra in ({**good, "unexpected": 1}, {k: v for k, v in good.items() if k != "sha256"}, [good], "x", 3):
        (tmp_path / MANIFEST).write_text(json.dumps(extra))
        with pytest.raises(ArtifactError):
            read_manifest(str(tmp_path))
    (tmp_path / MANIFEST).write_text("[" * 100000)  # nesting deep enough to exhaust the parser
    with pytest.raises(ArtifactError):
        read_manifest(str(tmp_path))
    (tmp_path / MANIFEST).write_text(json.dumps(good))
    assert read_manifest(str(tmp_path)).key == "0" * 32 and seen > 150
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(str(tmp_path))


def test_wrong_entry_symbol_is_stale_not_called(tmp_path):
    """`_mlir_ciface_main` exists in lib.so but takes another ABI than the packed entry:
    calling it would crash. It must be compared with the expected symbol (in a child)."""
    child = textwrap.dedent("""
        import json, os, sys
        import numpy as np
        import theanir as th
        from theanir.codegen.native import STATS
        x, y = np.arange(6.0).reshape(2, 3), np.full(3, 2.0)
        out = th.jit(lambda x, y: x * y + 1.0)(x, y)
        print(json.dumps({"out": np.asarray(out).tolist(), "stats": dict(STATS)}))
    """)
    env = {**os.environ, "THEANIR_CACHE_DIR": str(tmp_path), "THEANIR_CACHE": "1"}
    env.pop("THEANIR_CODEGEN", None)
    first = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    [key] = entries(tmp_path)
    m = json.loads((tmp_path / key / MANIFEST).read_text())
    m["entry"] = "_mlir_ciface_main"
    (tmp_path / key / MANIFEST).write_text(json.dumps(m))
    again = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    result = json.loads(again.stdout.strip().splitlines()[-1])
    assert result["out"] == (np.arange(6.0).reshape(2, 3) * 2 + 1).tolist()
    assert result["stats"].get("cache_bad_entries") == 1 and result["stats"].get("llvm_compiles") == 1
    assert read_manifest(str(tmp_path / key), key).entry == "_mlir__mlir_ciface_main"


# ----------------------------------------------------------------- files that are not files
SPECIAL = ["lib.so fifo", "lib.so urandom", "manifest fifo", "manifest urandom", "alias fifo", "entry is a fifo"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_special_files_do_not_block_or_read_forever(tmp_path, kind):
    code = textwrap.dedent(f"""
        import json, os, sys
        import numpy as np
        import theanir as th
        from theanir.codegen.native import STATS
        cache = {str(tmp_path)!r}
        th.config.cache_dir = cache
        x, y = np.arange(6.0).reshape(2, 3), np.full(3, 2.0)
        th.jit(lambda x, y: x * y + 1.0)(x, y)
        [key] = [e for e in os.listdir(cache) if len(e) == 32]
        entry = os.path.join(cache, key)
        [alias] = os.listdir(os.path.join(cache, "traces"))
        kind = {kind!r}
        target = {{"lib.so": os.path.join(entry, "lib.so"), "manifest": os.path.join(entry, "manifest.json"),
                   "alias": os.path.join(cache, "traces", alias), "entry": entry}}[kind.split()[0]]
        if os.path.isdir(target):
            import shutil
            shutil.rmtree(target)
        else:
            os.unlink(target)
        if kind.endswith("fifo"):
            os.mkfifo(target)
        else:
            os.symlink("/dev/urandom", target)
        before = dict(STATS)
        out = th.jit(lambda x, y: x * y + 1.0)(x, y)  # a new jit: reads the disk cache
        out2 = th.jit(lambda x, y: x * y + 1.0)(x, y)
        print(json.dumps({{"ok": np.allclose(out, x * y + 1) and np.allclose(out2, x * y + 1),
                          "compiles": STATS["llvm_compiles"] - before.get("llvm_compiles", 0)}}))
    """)
    env = {**os.environ, "THEANIR_CACHE": "1"}
    env.pop("THEANIR_CODEGEN", None)
    # Bounded: reading /dev/urandom to its end would take all memory (MemoryError instead).
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # noqa: E731
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          preexec_fn=limit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"] and result["compiles"] == (0 if kind.startswith("alias") else 1), result


# ----------------------------------------------------------------- trace aliases
def test_alias_naming_another_artifact_is_not_used(cache):
    """Two functions of one signature: an alias pointing at the other's artifact (copied
    over, or in the old bare-key form) must not run the other function."""
    th.jit(add_mul)(X, Y)
    [alias_1] = aliases(cache)
    th.jit(add_mul_2)(X, Y)
    [alias_2] = [a for a in aliases(cache) if a != alias_1]
    record_2 = json.loads((cache / "traces" / alias_2).read_text())
    assert set(record_2) == {"trace", "key", "sha256"} and record_2["trace"] == alias_2

    (cache / "traces" / alias_1).write_text((cache / "traces" / alias_2).read_text())  # copied
    before = dict(STATS)
    np.testing.assert_allclose(th.jit(add_mul)(X, Y), X * Y + 1)
    assert STATS["trace_alias_hits"] == before.get("trace_alias_hits", 0)

    (cache / "traces" / alias_1).write_text(record_2["key"])  # the old format: a bare key
    np.testing.assert_allclose(th.jit(add_mul)(X, Y), X * Y + 1)

    forged = {**record_2, "trace": alias_1, "sha256": "0" * 64}  # names itself, wrong checksum
    (cache / "traces" / alias_1).write_text(json.dumps(forged))
    np.testing.assert_allclose(th.jit(add_mul)(X, Y), X * Y + 1)
    assert STATS["trace_alias_hits"] == before.get("trace_alias_hits", 0)
    verify_artifact(str(cache / record_2["key"]), record_2["key"])  # the other artifact is kept
    assert len(entries(cache)) == 2
    np.testing.assert_allclose(th.jit(add_mul_2)(X, Y), X * Y + 2)  # and still hits through its alias
    assert STATS["trace_alias_hits"] == before.get("trace_alias_hits", 0) + 1
    assert json.loads((cache / "traces" / alias_1).read_text())["trace"] == alias_1  # rewritten


def test_stale_alias_is_a_miss_that_keeps_the_artifact(cache):
    th.jit(add_mul)(X, Y)
    [alias] = aliases(cache)
    record = json.loads((cache / "traces" / alias).read_text())
    record["sha256"] = "f" * 64
    (cache / "traces" / alias).write_text(json.dumps(record))
    before = dict(STATS)
    np.testing.assert_allclose(th.jit(add_mul)(X, Y), X * Y + 1)
    assert STATS["trace_alias_hits"] == before.get("trace_alias_hits", 0)
    # the artifact itself is fine: found by its key after the optimizer ran, not recompiled
    assert STATS["cache_hits"] - before.get("cache_hits", 0) == 1
    assert STATS["llvm_compiles"] == before.get("llvm_compiles", 0)
    np.testing.assert_allclose(th.jit(add_mul)(X, Y), X * Y + 1)
    assert STATS["trace_alias_hits"] == before.get("trace_alias_hits", 0) + 1  # the alias was rewritten


def test_entry_path_that_is_a_file_is_replaced(cache):
    th.jit(add_mul)(X, Y)
    [key] = entries(cache)
    import shutil

    shutil.rmtree(cache / key)
    (cache / key).write_text("not a directory")
    recompiles_then_hits()
    verify_artifact(str(cache / key), key)
    assert not [e for e in os.listdir(cache) if e.startswith(".stale")]


def test_elf_header_with_undersized_program_headers_is_refused(cache):
    """A consistent checksum over an ELF header whose program headers claim 1 byte each: the
    check must refuse it (it raised struct.error, on every call) and the entry recompiles."""
    import hashlib
    import struct

    th.jit(add_mul)(X, Y)
    [key] = entries(cache)
    lib = bytearray((cache / key / "lib.so").read_bytes())
    struct.pack_into("<Q", lib, 32, len(lib) - 4)  # e_phoff: near the end
    struct.pack_into("<HH", lib, 54, 1, 1)  # e_phentsize = 1, e_phnum = 1
    replace(cache / key / "lib.so", bytes(lib))
    edit_manifest(cache / key, lambda m: m.update(sha256=hashlib.sha256(lib).hexdigest()))
    recompiles_then_hits()
