"""Paired dynamic-vs-static cost of one bench/mlp.py cell (issue 16).

    THEANIR_SPECIALIZE_AFTER=0 env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/mlp_pair.py deep 10

Builds "theanir function" (dynamic batch dim), "theanir function static" and "theanir jit" with bench/mlp.py's
builders, calibrates each to `--round-s` seconds, then alternates them for `--rounds` rounds in one process and
reports the per-round ratio dynamic / static (median and quartiles). Interleaving cancels the drift of a shared VM
that separates single runs of the same cell by 10-30% (bench/results/mlp_dynamic_cost.md).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlp  # noqa: E402

NAMES = ["theanir function", "theanir function static", "theanir jit"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("network", choices=sorted(mlp.NETWORKS))
    ap.add_argument("batch", type=int)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--round-s", type=float, default=0.2)
    args = ap.parse_args()
    problem = mlp.make_problem(mlp.NETWORKS[args.network], args.batch)
    runners = {n: mlp.BUILDERS[n](problem) for n in NAMES}
    steps = {n: mlp.calibrate(runners[n].run, args.round_s) for n in NAMES}
    rates: dict[str, list[float]] = {n: [] for n in NAMES}
    for _ in range(args.rounds):
        for n in NAMES:
            t = time.perf_counter()
            runners[n].run(steps[n])
            rates[n].append(steps[n] * args.batch / (time.perf_counter() - t))
    for n in NAMES:
        print(f"{n:28s} examples/s median {statistics.median(rates[n]):10.0f} best {max(rates[n]):10.0f}")
    ratio = [a / b for a, b in zip(rates["theanir function"], rates["theanir function static"])]
    quart = [round(x, 3) for x in statistics.quantiles(ratio, n=4)]
    print(f"paired ratio dynamic/static: median {statistics.median(ratio):.3f}, quartiles {quart}, "
          f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
