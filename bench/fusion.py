"""Fusion: a chain of 20 elementwise ops on 10^7 float32 elements, fused vs unfused (target >= 5x).

Fused is `optimizer="fast_run"` (tn-fuse: the whole chain is one linalg.generic, one pass over
memory); unfused is `optimizer="fast_compile"` (neither tn-fuse nor upstream linalg fusion
run: every op writes a 40 MB temporary). Both are compiled in this process, warmed up, then
timed interleaved; each figure is the median of `--repeats` calls. NumPy's time (one
temporary per op, like the unfused code) is shown for scale. Prints one JSON line per
measurement, then a Markdown table.

    python bench/fusion.py [--n 10000000] [--repeats 7] [--chain mixed|arith|both] [--threads 1 2]

`--threads 1 2`: the fused chain compiled once per `th.config.threads` value (OpenMP loops
behind the cost model, passes/lower/parallel_loops.py), the variants timed interleaved in
this one process (config.threads set before each call), plus each count's ratio against the
first; the load average is recorded (the machine is shared). In each round every count makes
one untimed call and then the timed one, so each timed call follows a call of its own count.
Timing single calls in turn made every 2-thread call the first after a 1-thread call, whose
~6 ms left the second CPU idle: on the 2-vCPU Xeon VM such a call took 3.4-3.85 ms against
2.3 ms after a 2-thread call (the arith chain; after 50 ms of sleep, 5.1 ms), while the
1-thread calls always followed a busy 2-thread call. That put the arith chain at 1.73-1.77x
in one process where back-to-back calls gave 2.00-2.06x.

Chains (20 tn math ops each, not counting the tn.broadcast_to of each Python scalar):
  mixed: add/mul/sub/maximum/minimum/where/compare with one tanh and one exp (an activation +
         gating epilogue); the two libm calls per element make the fused loop compute-bound.
  arith: the same shape of chain without transcendental functions (memory-bound unfused).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any, Callable

import numpy as np

import theanir as th


def mixed(m: Any, x, y):
    """20 ops: 12 add/sub/mul, max, min, neg, gt, where, tanh, exp (+ broadcast scalars)."""
    a = x * 1.5 + y                       # mul, add
    b = a - y * 0.25                      # mul, sub
    c = m.maximum(b, 0.0)                 # maximum
    d = c * c + a                         # mul, add
    e = m.where(d > 1.0, d, a * 0.5)      # gt, mul, where
    f = m.tanh(e)                         # tanh
    g = f * y - x                         # mul, sub
    h = m.exp(-(g * g))                   # mul, neg, exp
    k = h * 0.5 + f                       # mul, add
    return m.minimum(k, 2.0) * x          # minimum, mul


def arith(m: Any, x, y):
    """20 ops: add/sub/mul/max/min/abs/compare/where, no transcendental function."""
    a = x * 1.5 + y                       # mul, add
    b = a - y * 0.25                      # mul, sub
    c = m.maximum(b, 0.0)                 # maximum
    d = c * c + a                         # mul, add
    e = m.where(d > 1.0, d, a * 0.5)      # gt, mul, where
    f = m.abs(e) * 0.75                   # abs, mul
    g = f * y - x                         # mul, sub
    h = -(g * g)                          # mul, neg
    k = h * 0.5 + f                       # mul, add
    return m.minimum(k, 2.0) * x          # minimum, mul


CHAINS: dict[str, Callable] = {"mixed": mixed, "arith": arith}


def count_ops(fn: Callable, x: np.ndarray, y: np.ndarray) -> dict[str, int]:
    """tn ops of the traced chain (math ops vs the broadcasts of Python scalars)."""
    text = th.jit(lambda a, b: fn(th, a, b)).lower(x, y).as_text("tn")
    total = text.count('"tn.')
    consts = text.count('"tn.constant"')
    bcasts = text.count('"tn.broadcast_to"')
    return {"math_ops": total - consts - bcasts, "broadcasts": bcasts}


def median_time(call: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def run_chain(name: str, n: int, repeats: int) -> list[dict]:
    fn = CHAINS[name]
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, n).astype(np.float32)
    y = rng.uniform(-2, 2, n).astype(np.float32)
    fused = th.jit(lambda a, b: fn(th, a, b), optimizer="fast_run")
    unfused = th.jit(lambda a, b: fn(th, a, b), optimizer="fast_compile")
    variants = {  # a jitted call returns at once (its queue runs it): time it to its result
        "fused": lambda a, b: fused(a, b).block_until_ready(),
        "unfused": lambda a, b: unfused(a, b).block_until_ready(),
        "numpy": lambda a, b: fn(np, a, b),
    }
    ref = fn(np, x, y)
    for v, f in variants.items():  # warm-up: compile, first-touch pages, check numbers
        np.testing.assert_allclose(f(x, y), ref, rtol=1e-4, atol=1e-5, err_msg=v)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(repeats):  # interleaved, so drift hits every variant alike
        for v, f in variants.items():
            times[v] += median_time(lambda: f(x, y), 1)[1]
    ops = count_ops(fn, x[:8], y[:8])
    rows = []
    for v in variants:
        med = statistics.median(times[v])
        rows.append({"bench": "fusion", "chain": name, "variant": v, "n": n, **ops,
                     "median_s": round(med, 5), "min_s": round(min(times[v]), 5),
                     "runs_s": [round(t, 5) for t in times[v]],
                     "gb_per_s_io": round(3 * 4 * n / med / 1e9, 2)})
    fused = statistics.median(times["fused"])
    rows.append({"bench": "fusion", "chain": name, "variant": "ratio", "n": n,
                 "unfused_over_fused": round(statistics.median(times["unfused"]) / fused, 2),
                 "numpy_over_fused": round(statistics.median(times["numpy"]) / fused, 2)})
    return rows


def run_threads(name: str, n: int, repeats: int, counts: list[int]) -> list[dict]:
    """The fused chain at each thread count, interleaved; ratios against counts[0]."""
    fn = CHAINS[name]
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, n).astype(np.float32)
    y = rng.uniform(-2, 2, n).astype(np.float32)
    ref = fn(np, x, y)
    jitted = {}
    for k in counts:
        th.config.threads = k
        jitted[k] = th.jit(lambda a, b: fn(th, a, b))
        np.testing.assert_allclose(np.asarray(jitted[k](x, y)), ref, rtol=1e-4, atol=1e-5, err_msg=f"threads={k}")

    def call(k: int) -> None:
        th.config.threads = k
        jitted[k](x, y).block_until_ready()

    times: dict[int, list[float]] = {k: [] for k in counts}
    load = [os.getloadavg()[0]]
    for _ in range(repeats):
        for k in counts:
            call(k)  # untimed: the timed call follows one of its own count (module doc)
            times[k] += median_time(lambda: call(k), 1)[1]
    load.append(os.getloadavg()[0])
    base = statistics.median(times[counts[0]])
    return [{"bench": "fusion", "chain": name, "variant": f"fused_threads{k}", "threads": k, "n": n,
             "median_s": round(statistics.median(times[k]), 5), "min_s": round(min(times[k]), 5),
             "runs_s": [round(t, 5) for t in times[k]], "speedup": round(base / statistics.median(times[k]), 2),
             "loadavg_1min": load} for k in counts]


def table(rows: list[dict]) -> str:
    lines = ["| chain | math ops | fused (ms) | unfused (ms) | NumPy (ms) | unfused / fused | NumPy / fused |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for chain in dict.fromkeys(r["chain"] for r in rows):
        by = {r["variant"]: r for r in rows if r["chain"] == chain}
        ms = {v: f"{by[v]['median_s'] * 1e3:.1f}" for v in ("fused", "unfused", "numpy")}
        lines.append(f"| {chain} | {by['fused']['math_ops']} | {ms['fused']} | {ms['unfused']} | "
                     f"{ms['numpy']} | **{by['ratio']['unfused_over_fused']}x** | "
                     f"{by['ratio']['numpy_over_fused']}x |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--chain", choices=[*CHAINS, "both"], default="both")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="time the fused chain at these th.config.threads values (interleaved)")
    args = ap.parse_args()
    names = list(CHAINS) if args.chain == "both" else [args.chain]
    rows = []
    if args.threads:
        for name in names:
            for row in run_threads(name, args.n, args.repeats, args.threads):
                print(json.dumps(row), flush=True)
                rows.append(row)
        print()
        print("| chain | threads | median (ms) | min (ms) | speedup (median) |\n| --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| {r['chain']} | {r['threads']} | {r['median_s'] * 1e3:.1f} | {r['min_s'] * 1e3:.1f} | "
                  f"{r['speedup']}x |")
        return
    for name in names:
        for row in run_chain(name, args.n, args.repeats):
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print(f"n = {args.n:,} float32 elements, median of {args.repeats} calls after warm-up "
          f"(NumPy's times are bimodal from allocating its temporaries: see min_s)")
    print(table(rows))


if __name__ == "__main__":
    main()
