"""GEMM and GEMV: `th.jit(lambda a, b: a @ b)` vs NumPy, GFLOP/s, float32/float64, 1 and 2 threads.

theanir's float matrix products call OpenBLAS (scipy-openblas32) from the generated code
(passes/lower/matmul_to_blas.py); NumPy calls its own bundled OpenBLAS. Both run in this
process with the same thread count: `th.config.threads` for ours, threadpoolctl (when
installed) for NumPy's. Each implementation is timed in its own block (warm-up, then
`--repeats` calls; the median counts) so that one library's spinning pool threads do not
steal the cores of the other. Prints one JSON line per measurement, then a Markdown table;
`--json PATH` also writes the JSON lines to a file (bench/results/gemm.json). Calls run
inline (`th.config.sync`) on read-only inputs, which the runtime does not copy (it copies
writable NumPy inputs of asynchronous calls: 16 MB per call for a 2048² operand).

    python bench/gemm.py [--sizes 256 512 1024 2048] [--threads 1 2] [--repeats 7]

On a 2-vCPU machine two busy threads get about one core's throughput (DESIGN.md §4):
the 2-thread rows show that threading costs nothing, not how it scales.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import time
from typing import Any, Callable

import numpy as np

import theanir as th


def _numpy_threads(n: int) -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(kind: str, n: int, dtype: str, threads: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n) if kind == "gemm" else (n,)).astype(dtype)
    for x in (a, b):  # NumPy reads its inputs in place; the runtime copies writable ones
        x.setflags(write=False)
    flops = 2.0 * n * n * (n if kind == "gemm" else 1)
    f = th.jit(lambda x, y: x @ y)
    th.config.threads = threads
    out = np.asarray(f(a, b))
    ref = a @ b
    tol = 1e-3 if dtype == "float32" else 1e-10
    err = float(np.max(np.abs(out - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    assert err < tol, f"{kind} {n} {dtype}: relative error {err}"
    with _numpy_threads(threads):
        time.sleep(0.3)  # OpenBLAS pool threads spin ~0.1 s after work: let the last ones settle
        t_np = _median_time(lambda: a @ b, repeats)
        time.sleep(0.3)
        t_th = _median_time(lambda: np.asarray(f(a, b)), repeats)  # waits for the result
    return {"bench": kind, "n": n, "dtype": dtype, "threads": threads,
            "theanir_ms": round(t_th * 1e3, 4), "numpy_ms": round(t_np * 1e3, 4),
            "theanir_gflops": round(flops / t_th / 1e9, 2), "numpy_gflops": round(flops / t_np / 1e9, 2),
            "ratio": round(t_np / t_th, 3), "machine": platform.machine()}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| product | n | dtype | threads | theanir GFLOP/s | NumPy GFLOP/s | theanir / NumPy |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        shape = f"{r['n']}² · {r['n']}²" if r["bench"] == "gemm" else f"{r['n']}² · {r['n']}"
        lines.append(f"| {r['bench']} {shape} | {r['n']} | {r['dtype']} | {r['threads']} | "
                     f"{r['theanir_gflops']} | {r['numpy_gflops']} | {r['ratio']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--gemv", type=int, default=2048, help="n of the n² · n GEMV (0: none)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--json", default=None, help="also write the JSON lines here")
    args = p.parse_args()
    th.config.sync = True  # calls run inline: time the product, not the queue hand-off
    rows = []
    for threads in args.threads:
        for dtype in ("float32", "float64"):
            for n in args.sizes:
                rows.append(measure("gemm", n, dtype, threads, args.repeats))
                print(json.dumps(rows[-1]), flush=True)
            if args.gemv:
                rows.append(measure("gemv", args.gemv, dtype, threads, max(args.repeats, 21)))
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
