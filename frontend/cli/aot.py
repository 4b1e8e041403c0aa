"""theanir-aot: build an AOT library (th.aot.compile) from the command line.

    theanir-aot my_model.py:train_step --example-args spec.json -o build/libmlp.so --header
    theanir-aot my_model.py:forward --example-args spec.json -o build/libmlp.so --target x86-64-v3

`my_model.py:NAME` names a module-level th.function or a function th.jit can trace (a
module path `pkg.mod:NAME` works too). `spec.json` is a JSON list, one entry per argument:
`{"shape": [60, 784], "dtype": "float32"}` (zeros of that shape: only shapes and dtypes
matter to the compile) or a literal value (a number or nested lists). Errors are one line,
`theanir-aot: error: ...`, exit code 1 (2 for a bad command line).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import runpy
import sys
from typing import Any, Sequence

import numpy as np

PROG = "theanir-aot"


class UserError(Exception):
    pass


def _target(ref: str) -> Any:
    if ":" not in ref:
        raise UserError(f"expected FILE.py:NAME or module:NAME, got {ref!r}")
    where, name = ref.rsplit(":", 1)
    if where.endswith(".py"):
        if not os.path.isfile(where):
            raise UserError(f"no file {where!r}")
        sys.path.insert(0, os.path.dirname(os.path.abspath(where)))
        namespace = runpy.run_path(where, run_name="__theanir_aot__")
    else:
        namespace = vars(importlib.import_module(where))
    if name not in namespace:
        raise UserError(f"{where} has no {name!r}")
    return namespace[name]


def _example_args(path: str) -> list[Any]:
    try:
        with open(path) as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read the example arguments {path!r}: {e}") from None
    if not isinstance(spec, list):
        raise UserError(f"{path}: expected a JSON list with one entry per argument")
    out = []
    for i, entry in enumerate(spec):
        if isinstance(entry, dict):
            if set(entry) - {"shape", "dtype"} or "shape" not in entry:
                raise UserError(f"{path}: argument {i}: expected {{\"shape\": [...], \"dtype\": \"float32\"}}, "
                                f"got {entry}")
            try:
                out.append(np.zeros(entry["shape"], dtype=entry.get("dtype", "float32")))
            except (TypeError, ValueError) as e:
                raise UserError(f"{path}: argument {i}: {e}") from None
        else:
            out.append(np.asarray(entry))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Compile a function into a shared library with a "
                                     "plain C ABI (th.aot.compile; docs/aot.md).")
    parser.add_argument("function", help="FILE.py:NAME or module:NAME (a th.function or a th.jit-able function)")
    parser.add_argument("--example-args", required=True, help="JSON list of {shape, dtype} or values, one per argument")
    parser.add_argument("-o", "--output", required=True, help="the library to write, e.g. build/libmlp.so")
    parser.add_argument("--header", action="store_true", help="also write NAME.h beside the library")
    parser.add_argument("--target", default="native", help="native (default), x86-64-v2, x86-64-v3 or x86-64-v4")
    parser.add_argument("--function-name", default=None, help="the entry's C name after NAME_ (default: the NAME "
                        "after the colon)")
    parser.add_argument("--dynamic-shapes", action="store_true", help="dims of any size (th.function's dynamic dims; "
                        "for th.jit every dim but size-1 ones) instead of the example arguments' shapes")
    args = parser.parse_args(argv)
    try:
        fn = _target(args.function)
        example = _example_args(args.example_args)
        from theanir.frontend.aot_build import compile as build

        path = build(fn, example, args.output, header=args.header, target=args.target,
                     function_name=args.function_name or args.function.rsplit(":", 1)[-1],
                     dynamic_shapes=args.dynamic_shapes)
    except (UserError, TypeError, ValueError, NotImplementedError, RuntimeError, ImportError, OSError) as e:
        what = "" if isinstance(e, UserError) else f"{type(e).__name__}: "
        lines = str(e).strip().splitlines() or [""]
        more = f" (+{len(lines) - 1} lines: run th.aot.compile in Python for all of it)" if len(lines) > 1 else ""
        print(f"{PROG}: error: {what}{lines[0]}{more}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
