"""Child-process driver for test_boundaries.py: random bad inputs at the public boundaries.

    python boundary_probe.py calls SEED COUNT     jitted functions, th.function, set_value
    python boundary_probe.py opt SEED COUNT       theanir-opt on mutated .mlir text
    python boundary_probe.py module 0 0           print the valid module the mutations start from

Runs in its own process (a crash must not take pytest down) under an address-space limit
(huge allocations fail fast instead of swapping). Before each case it prints
`START <json case>`, after it `RESULT <json outcome>`, so the parent can name the case that
killed the process. The parent judges the outcomes; this file only runs them.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import tempfile

import numpy as np

ADDRESS_SPACE_HEADROOM = 3 << 30  # bytes of address space allowed beyond what imports used


def _limit_memory() -> None:
    with open("/proc/self/statm") as f:
        vsize = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vsize + ADDRESS_SPACE_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


# ---- random values -----------------------------------------------------------------------

_ARRAY_DTYPES = ["float32", "float64", "int32", "int64", "bool", "int8", "uint8", "uint64", "float16",
                 "complex64", "longdouble", "object", "U3", "S2", "datetime64[D]", "struct"]
_PY_INTS = [0, -1, 7, 2**31 - 1, 2**31, -2**31 - 1, 2**40, 2**63 - 1, 2**63, -2**63 - 1, 2**64, 2**100]
_PY_FLOATS = [0.5, -0.0, float("nan"), float("inf"), -float("inf"), 1e308, 5e-324, 3.4e38]
_LAYOUTS = ["c", "transposed", "strided", "reversed", "stride0", "packed", "unaligned", "readonly", "byteswapped"]


def _values(rng: np.random.Generator, dtype: np.dtype, n: int) -> np.ndarray:
    special = rng.random() < 0.3
    if dtype.kind == "f":
        vals = rng.choice(_PY_FLOATS, n) if special else rng.uniform(-3, 3, n)
        with np.errstate(all="ignore"):
            return np.asarray(vals).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        pool = [info.min, info.max, 0, 1] if special else list(range(-3, 4)) if dtype.kind == "i" else list(range(7))
        return np.asarray(rng.choice(pool, n)).astype(dtype)
    if dtype.kind == "b":
        return rng.random(n) < 0.5
    return rng.uniform(-3, 3, n).astype(dtype)


def random_array(rng: np.random.Generator) -> tuple[np.ndarray, str]:
    name = str(rng.choice(_ARRAY_DTYPES))
    rank = int(rng.integers(0, 4))
    shape = tuple(int(rng.choice([0, 1, 2, 3])) for _ in range(rank))
    n = int(np.prod(shape, dtype=np.int64))
    layout = str(rng.choice(_LAYOUTS))
    if name == "object":
        arr = np.empty(n, object)
        for i in range(n):
            arr[i] = [1.5, None, "x", 2**70, object()][int(rng.integers(0, 5))]
        return arr.reshape(shape), f"object{list(shape)}"
    if name == "struct":
        return np.zeros(shape, dtype=[("a", "f8"), ("b", "i4")]), f"struct{list(shape)}"
    if name in ("U3", "S2", "datetime64[D]"):
        return np.zeros(shape, dtype=name), f"{name}{list(shape)}"
    dt = np.dtype(name)
    desc = f"{name}{list(shape)} {layout}"
    if layout == "packed" and rank >= 1:  # a field of a packed struct: strides not a multiple of the itemsize
        rec = np.zeros(shape, dtype=[("pad", "i1"), ("v", dt)])
        rec["v"] = _values(rng, dt, n).reshape(shape)
        return rec["v"], desc
    if layout == "unaligned" and rank >= 1:
        buf = bytearray(n * dt.itemsize + 1)
        arr = np.frombuffer(buf, dtype=dt, offset=1, count=n).reshape(shape)
        arr[...] = _values(rng, dt, n).reshape(shape)
        return arr, desc
    if layout == "transposed" and rank >= 2:
        return _values(rng, dt, n).reshape(shape[::-1]).T, desc
    if layout == "strided" and rank >= 1:
        return np.repeat(_values(rng, dt, n).reshape(shape), 2, axis=-1)[..., ::2], desc
    if layout == "reversed" and rank >= 1:
        return _values(rng, dt, n).reshape(shape)[::-1], desc
    if layout == "stride0" and rank >= 1:
        huge = int(rng.integers(0, rank))  # one long axis: the element count stays below 2**63
        big = tuple(int(rng.choice([2**20, 2**31 + 1, 2**40])) if a == huge else int(rng.choice([1, 2]))
                    for a in range(rank))
        return np.broadcast_to(_values(rng, dt, 1).reshape((1,) * rank), big), f"{name}{list(big)} stride0"
    arr = _values(rng, dt, n).reshape(shape)
    if layout == "readonly":
        arr.setflags(write=False)
    if layout == "byteswapped" and dt.itemsize > 1:
        arr = arr.astype(dt.newbyteorder())
    return arr, desc


def random_python(rng: np.random.Generator) -> tuple[object, str]:
    kind = int(rng.integers(0, 7))
    if kind == 0:
        v = int(rng.choice(np.array(_PY_INTS, dtype=object)))
    elif kind == 1:
        v = float(rng.choice(_PY_FLOATS))
    elif kind == 2:
        v = [int(x) for x in rng.choice(np.array(_PY_INTS, dtype=object), int(rng.integers(0, 4)))]
    elif kind == 3:
        v = [[1.0, 2.0], [3.0]]  # ragged
    elif kind == 4:
        v = [None, "abc", {"a": 1}, complex(1, 2), b"xy", True][int(rng.integers(0, 6))]
    elif kind == 5:
        v = [float(x) for x in rng.choice(_PY_FLOATS, int(rng.integers(1, 4)))]
    else:
        v = np.float16(1.5) if rng.random() < 0.5 else np.int8(-3)
    return v, repr(v)[:80]


def random_value(rng: np.random.Generator) -> tuple[object, str]:
    return random_array(rng) if rng.random() < 0.65 else random_python(rng)


# ---- targets -----------------------------------------------------------------------------

def _targets():
    import theanir as th
    import theanir.tensor as T

    v, x, n = T.ivector("v"), T.dvector("x"), T.iscalar("n")
    shared_i = th.shared(np.zeros(3, np.int32), name="w")
    shared_f = th.shared(np.zeros(2, np.float32), name="p")

    def set_i(value):
        shared_i.set_value(value)
        return shared_i.get_value()

    def set_f(value):
        shared_f.set_value(value)
        return shared_f.get_value()

    static = th.jit(lambda a, k: a * k, static_argnums=1)
    return {
        # name: (callable, kind, declared dtype, declared ndim, the same computation in NumPy)
        "jit": (th.jit(lambda a: a * 2.0), "jit", None, None, lambda a: a * 2.0),
        "compiled": (th.jit(lambda a: a * 2.0).compiled_for(np.zeros((3, 2)))[0], "fixed", "float64", 2,
                     lambda a: a * 2.0),
        "function_ivector": (th.function([v], v + 1), "declared", "int32", 1, lambda a: a + np.int32(1)),
        "function_dvector": (th.function([x], x * 2.0), "declared", "float64", 1, lambda a: a * 2.0),
        "function_iscalar": (th.function([n], n * 2), "declared", "int32", 0, lambda a: a * np.int32(2)),
        "set_value_int32": (set_i, "declared", "int32", 1, lambda a: a),
        "set_value_float32": (set_f, "declared", "float32", 1, lambda a: a),
        "static_arg": (lambda value: static(np.arange(3.0), value), "static", None, None,
                       lambda k: np.arange(3.0) * k),
    }


def _outcome(fn, value) -> dict:
    try:
        out = fn(value)
        arr = np.asarray(out)
        return {"ok": True, "dtype": str(arr.dtype), "shape": list(arr.shape),
                "values": arr.ravel()[:16].tolist() if arr.dtype.kind in "biuf" else None}
    except BaseException as e:  # noqa: BLE001 (KeyboardInterrupt aside, the parent judges every kind)
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"ok": False, "type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__],
                "message": str(e)[:400]}


def run_calls(seed: int, count: int) -> None:
    import theanir as th

    th.config.sync = True  # errors at the call, not at a later read
    targets = _targets()
    rng = np.random.default_rng(seed)
    names = list(targets)
    _limit_memory()
    for i in range(count):
        target = names[i % len(names)] if i < len(names) * 2 else str(rng.choice(names))
        value, desc = random_value(rng)
        fn, kind, dtype, ndim, mirror = targets[target]
        case = {"i": i, "target": target, "kind": kind, "dtype": dtype, "ndim": ndim, "value": desc}
        print("START " + json.dumps(case), flush=True)
        result = _outcome(fn, value)
        result["reference"] = reference(kind, dtype, ndim, value, mirror)
        print("RESULT " + json.dumps({**case, **result}, default=str), flush=True)
    print("DONE", flush=True)


def _listed(a) -> dict:
    a = np.asarray(a)
    return {"values": a.ravel()[:16].tolist(), "shape": list(a.shape)}


def _python_ints(value) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(v, int) and not isinstance(v, bool) for v in items)


def reference(kind: str, dtype: str | None, ndim: int | None, value, mirror) -> dict:
    """What a correct call returns, or that it must raise: NumPy on the same data (jit), or the
    value converted to the declared dtype when that conversion round-trips (declared types)."""
    if kind in ("jit", "static") and isinstance(value, (list, tuple, dict)):
        return {"any": "a pytree, not an array: Python's own errors are fine"}
    if kind == "static":  # used as the Python value it is (NumPy's weak scalar rules)
        try:
            hash(value)
            with np.errstate(all="ignore"):
                return _listed(mirror(value))
        except (TypeError, ValueError, OverflowError) as e:
            return {"must_raise": f"NumPy: {type(e).__name__}: {e}"[:200]}
    try:
        with np.errstate(all="ignore"):
            arr = np.asarray(value)
            if kind in ("jit", "fixed") and arr.dtype in (np.complex64, np.complex128):
                # complex is data since issue 20: computed, or refused with a TypeError by an op
                # that takes no complex values (ordering, max ...); never a crash
                return {"any": "complex: computed or refused by the op"}
            if arr.dtype.kind not in "biuf" or arr.dtype.byteorder == ">":
                if arr.dtype.kind in "biuf":  # same numbers, other byte order: still data
                    arr = arr.astype(arr.dtype.newbyteorder("="))
                elif _python_ints(value) and kind == "declared" and np.dtype(dtype).kind == "f":
                    # ints beyond int64 make an object array, but a float target rounds them
                    # as NumPy's np.asarray(value, dtype) does
                    arr = np.asarray(value, dtype=dtype)
                else:
                    return {"must_raise": f"not numbers ({arr.dtype})"}
            if kind == "jit":
                return _listed(mirror(arr))
            if kind == "fixed":
                return _listed(mirror(arr))
            if arr.ndim != ndim:
                return {"must_raise": f"ndim {arr.ndim}, declared {ndim}"}
            conv = arr.astype(dtype)
            # an int target keeps every value exactly (issue 12, item 8: no wrapping); a float
            # target rounds as NumPy's cast does (even 1e308 -> inf in float32: either that or
            # an error is accepted, the issue does not decide it)
            exact = np.array_equal(conv.astype(arr.dtype), arr, equal_nan=True)
            fits = exact or np.dtype(dtype).kind == "f" or np.can_cast(arr.dtype, dtype, "safe")
            if not fits:
                return {"must_raise": f"{value!r:.60} does not round-trip through {dtype}"}
            return _listed(mirror(conv))
    except (TypeError, ValueError, OverflowError, MemoryError) as e:
        return {"must_raise": f"NumPy: {type(e).__name__}: {e}"[:200]}


# ---- theanir-opt -------------------------------------------------------------------------

def valid_module() -> str:
    import theanir as th

    def f(x, y):
        h = th.tanh(x @ y + 1.0)
        return th.softmax(h, axis=-1).sum(axis=0), th.maximum(h, 0.0)[::-1, :2]

    return th.jit(f).lower(np.ones((4, 3), np.float32), np.ones((3, 5), np.float32)).as_text("tn")


_SNIPPETS = [b"\x00", b"\xff\xfe", b"tensor<99999999999999999999xf32>", b"tensor<?xf32>", b"%0", b"}", b"{",
             b'"tn.exp"', b"i1", b"-1", b"9223372036854775807", b"#map", b"\n// -----\n", b"\\", b'"', b"<<"]
_PIPELINES = [[], ["--tn-canonicalize"], ["--convert-tn-to-linalg"], ["--lower-to-cpu"],
              ["--split-input-file", "--tn-cse"], ["--lower-to-cpu", "--emit=llvm"]]


def mutate(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    kinds = []
    for _ in range(int(rng.integers(1, 4))):
        kind = str(rng.choice(["flip", "insert", "delete", "truncate", "snippet", "duplicate", "nul"]))
        pos = int(rng.integers(0, len(data) + 1))
        if kind == "flip" and data:
            pos = min(pos, len(data) - 1)
            data = data[:pos] + bytes([data[pos] ^ (1 << int(rng.integers(0, 8)))]) + data[pos + 1:]
        elif kind == "insert":
            data = data[:pos] + bytes(rng.integers(0, 256, int(rng.integers(1, 5)), dtype=np.uint8)) + data[pos:]
        elif kind == "delete":
            data = data[:pos] + data[pos + int(rng.integers(1, 20)):]
        elif kind == "truncate":
            data = data[:pos]
        elif kind == "snippet":
            data = data[:pos] + _SNIPPETS[int(rng.integers(0, len(_SNIPPETS)))] + data[pos:]
        elif kind == "duplicate":
            lines = data.split(b"\n")
            j = int(rng.integers(0, len(lines)))
            data = b"\n".join(lines[:j + 1] + lines[j:])
        else:
            data = data[:pos] + b"\x00" + data[pos:]
        kinds.append(f"{kind}@{pos}")
    return data, ",".join(kinds)


def run_opt(seed: int, count: int) -> None:
    from theanir.frontend.cli.opt import main

    rng = np.random.default_rng(seed)
    original = valid_module().encode()
    _limit_memory()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            data, how = mutate(rng, original)
            argv = list(_PIPELINES[int(rng.integers(0, len(_PIPELINES)))])
            path = os.path.join(tmp, f"in{i}.mlir")
            with open(path, "wb") as f:
                f.write(data)
            case = {"i": i, "mutation": how, "argv": argv, "has_nul": b"\x00" in data, "path": path}
            print("START " + json.dumps(case), flush=True)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main([path, *argv])
            print("RESULT " + json.dumps({**case, "rc": rc, "stdout_len": len(out.getvalue()),
                                          "stderr": err.getvalue()[-2000:], "input": data.decode("latin-1")}),
                  flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    mode, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if mode == "module":  # the valid module the mutations start from
        sys.stdout.write(valid_module())
    else:
        (run_calls if mode == "calls" else run_opt)(seed, count)
