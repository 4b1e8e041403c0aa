"""Helpers of the AOT tests: build C programs against a theanir library with `cc`."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
C_DIR = os.path.join(HERE, "c")


def cc() -> str:
    exe = shutil.which(os.environ.get("CC", "cc"))
    if exe is None:
        pytest.fail("the AOT tests need a C compiler (cc)")
    return exe


def build_program(source: str, lib_dir: str, lib_name: str, out: str, asan: bool = False) -> str:
    """Compile tests/aot/c/`source` against lib`lib_name`.so in `lib_dir` (found at run time via rpath)."""
    flags = ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"] if asan else ["-O2"]
    cmd = [cc(), "-std=c11", "-Wall", "-Werror", *flags, "-I", lib_dir, os.path.join(C_DIR, source), "-o", out,
           f"-L{lib_dir}", f"-l{lib_name}", f"-Wl,-rpath,{lib_dir}", "-lm", "-pthread"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    return out


def run(cmd: list[str], env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full = dict(os.environ, **(env or {}))
    full.pop("LD_PRELOAD", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc
