"""theanir-parallel-loops' threshold: a fused elementwise chain at sizes around MIN_WORK, the
serial loops (th.config.threads = 1) against every nest forced onto OpenMP threads (min-work 0).

Each size is compiled once per variant in this process; rounds time every variant in turn
(interleaved: the machine is shared), batches of calls; prints the median and best per
variant and the load average. The crossover is where the threshold belongs
(passes/lower/parallel_loops.py records a run). The input lives in the runtime (device_put),
so a call copies nothing in.

`--mode wait` (the default) waits for each call's result before the next: a call's latency,
what "small calls never get slower" is about. `--mode backlog` queues the batch and waits
once: throughput, with the worker never idle between calls; its first round grows a backlog
of results, so its first-touch page faults are part of the median (the queue holds up to
th.config.max_pending_bytes).

    python bench/parallel_loops.py [--threads 2] [--rounds 7] [--exps 12 14 16 18 20 22]
    python bench/parallel_loops.py --sizes 131072 163840 196608 229376 262144 [--mode backlog]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

import theanir as th
from theanir.passes.lower import parallel_loops as pl


def chain(x):
    return th.tanh(x * 1.5 + 0.5) * x - x  # ~28 weighted ops per element (tanh expanded)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--exps", type=int, nargs="+", default=[12, 14, 16, 18, 20, 22])
    ap.add_argument("--sizes", type=int, nargs="+", help="element counts (instead of --exps' powers of two)")
    ap.add_argument("--mode", choices=("wait", "backlog"), default="wait")
    args = ap.parse_args()
    sizes = args.sizes or [1 << e for e in args.exps]
    # every nest on threads, whatever its work (the cost model's threshold at 0)
    pl.ParallelLoops.from_compile_options = classmethod(
        lambda cls, o: pl.ParallelLoopsOptions(threads=o.threads, min_work=0))
    fns = {}
    for e in sizes:
        x = th.device_put(np.random.default_rng(0).standard_normal(e).astype(np.float32))
        for t in (1, args.threads):
            th.config.threads = t
            g = th.jit(chain)
            np.asarray(g(x))
            fns[e, t] = (g, x)
    times: dict = {k: [] for k in fns}
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for (e, t), (g, x) in fns.items():
            th.config.threads = t
            reps = max(5, (1 << 21) // e)
            t0 = time.perf_counter()
            if args.mode == "wait":
                for _ in range(reps + 1):
                    g(x).block_until_ready()
            else:
                for _ in range(reps):
                    g(x)
                g(x).block_until_ready()
            times[e, t].append((time.perf_counter() - t0) / (reps + 1))
    load.append(os.getloadavg()[0])
    print(f"load average (1 min) before/after: {load}")
    print(f"| elements | serial (us) | {args.threads} threads (us) | ratio | best serial / best threaded (us) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for e in sizes:
        a, b = statistics.median(times[e, 1]), statistics.median(times[e, args.threads])
        print(json.dumps({"bench": "parallel_loops", "elements": e, "serial_us": a * 1e6,
                          "threaded_us": b * 1e6, "threads": args.threads, "load": load,
                          "mode": args.mode, "KMP_BLOCKTIME": os.environ.get("KMP_BLOCKTIME")}), flush=True)
        print(f"| {e} | {a * 1e6:.1f} | {b * 1e6:.1f} | {a / b:.2f} | "
              f"{min(times[e, 1]) * 1e6:.1f} / {min(times[e, args.threads]) * 1e6:.1f} |")


if __name__ == "__main__":
    main()
