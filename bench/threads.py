"""Issue 19's scaling run: 1 vs 2 threads (or any counts) for the four programs it names, in one run.

    python bench/threads.py [--threads 1 2] [--results DIR] [--rounds-conv 5] [--rounds-mlp 9]

Runs, one after the other, each with `--threads 1 2` (its thread counts interleaved inside
one process, or pinned children per count for mlp.py, run in turn three times: 1, 2, 1, 2, 1, 2):

  conv      bench/conv.py --peers none           LeNet-5 training step, theanir jit (ms)
  mlp       bench/mlp.py --peers none --networks deep --batches 60 --alternate 3
                                                 deep MLP 784-1000x3-10 SGD step, every theanir
                                                 variant and NumPy (examples/s)
  fusion    bench/fusion.py --chain both         fused 20-op chains on 10^7 float32 (ms)
  overhead  bench/overhead.py --peers none       10-element add and batch-1 SGD step (us)

and prints one table: each row's figure per thread count, the ratio against the first count
(speedup for the steps and chains; time ratio for the overhead rows), and the target of the
issue (>= 1.6x; overhead within 5%). Writes threads.jsonl (one line per row, plus the machine:
CPU flags, BLAS kernel from threadpoolctl, load averages before and after each bench, the
git head) and threads_run.md into --results (default bench/results).

Benchmark with the OpenBLAS variables unset in the command alone:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/threads.py
The machine must be idle: the ratios say nothing when other jobs hold the CPUs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
ALTERNATE = 3  # mlp.py's children: 1, 2, 1, 2, 1, 2 threads, 3 rounds each (--rounds-mlp 9)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": len(os.sched_getaffinity(0))}
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.readlines()
        flags = next(line for line in lines if line.startswith("flags")).split()
        info["cpu"] = next(line for line in lines if line.startswith("model name")).split(":")[1].strip()
        info["cpu_flags"] = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512_bf16") if f in flags]
    except (OSError, StopIteration):
        pass
    probe = ("import json, theanir as th, numpy as np; th.jit(lambda a, b: a @ b)(np.ones((64, 64), np.float32), "
             "np.ones((64, 64), np.float32)).block_until_ready(); from threadpoolctl import threadpool_info; "
             "print(json.dumps([{k: d.get(k) for k in ('internal_api', 'version', 'num_threads', 'architecture', "
             "'filepath')} for d in threadpool_info()]))")
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        info["blas"] = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        info["blas"] = "unknown (threadpoolctl probe failed)"
    info["env"] = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "THEANIR_OPENMP",
                                                   "KMP_BLOCKTIME")}
    try:
        info["git_head"] = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                                          text=True).stdout.strip()
    except OSError:
        pass
    return info


def run(name: str, argv: list[str]) -> tuple[list[dict], str, list[float]]:
    """One bench as a child: its JSON lines (stdout), its text, the load before and after."""
    load = [round(os.getloadavg()[0], 2)]
    t = time.time()
    proc = subprocess.run([sys.executable, os.path.join(HERE, argv[0]), *argv[1:]], capture_output=True, text=True)
    load.append(round(os.getloadavg()[0], 2))
    if proc.returncode != 0:
        raise SystemExit(f"threads.py: {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    rows = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    print(f"{name}: {time.time() - t:.0f} s, load {load[0]} -> {load[1]}", file=sys.stderr, flush=True)
    return rows, proc.stdout, load


def conv_rows(tmp: str, counts: list[int], rounds: int) -> tuple[list[dict], list[float]]:
    _, _, load = run("conv", ["conv.py", "--peers", "none", "--threads", *map(str, counts), "--rounds",
                              str(rounds), "--results", tmp])
    with open(os.path.join(tmp, "conv_threads.jsonl")) as f:
        raw = [json.loads(line) for line in f]
    return [{"bench": "conv", "case": "LeNet-5 step, batch 500, theanir jit", "unit": "ms", "higher_is_better": False,
             "values": {r["threads"]: round(r["step_ms"], 2) for r in raw}}], load


def mlp_rows(tmp: str, counts: list[int], rounds: int) -> tuple[list[dict], list[float]]:
    _, _, load = run("mlp", ["mlp.py", "--peers", "none", "--networks", "deep", "--batches", "60", "--threads",
                                *map(str, counts), "--rounds", str(rounds), "--round-s", "0.5", "--alternate",
                                str(ALTERNATE), "--results", tmp])
    with open(os.path.join(tmp, "mlp.json")) as f:  # the children's rows merged per count (its stdout: each child's)
        rows = [json.loads(line) for line in f]
    out: dict[str, dict] = {}
    for r in rows:
        if "examples_per_s" not in r:
            continue
        case = f"deep MLP batch 60, {r['framework']}"
        out.setdefault(case, {"bench": "mlp", "case": case, "unit": "examples/s", "higher_is_better": True,
                              "values": {}})["values"][r["threads"]] = r["examples_per_s"]
    return list(out.values()), load


def fusion_rows(tmp: str, counts: list[int]) -> tuple[list[dict], list[float]]:
    rows, _, load = run("fusion", ["fusion.py", "--chain", "both", "--repeats", "11", "--threads", *map(str, counts)])
    out: dict[str, dict] = {}
    for r in rows:
        case = f"fused 20-op chain, 10^7 float32, {r['chain']}"
        out.setdefault(case, {"bench": "fusion", "case": case, "unit": "ms", "higher_is_better": False,
                              "values": {}})["values"][r["threads"]] = round(r["median_s"] * 1e3, 2)
    return list(out.values()), load


def overhead_rows(tmp: str, counts: list[int]) -> tuple[list[dict], list[float]]:
    rows, _, load = run("overhead", ["overhead.py", "--peers", "none", "--threads", *map(str, counts),
                                     "--results", tmp])
    out: dict[str, dict] = {}
    for r in rows:
        if "us" not in r or "@" not in r.get("framework", ""):
            continue
        case = f"overhead: {r['part']}, {r['framework'].split(' @')[0]}, {r['column']}"
        out.setdefault(case, {"bench": "overhead", "case": case, "unit": "us", "higher_is_better": False,
                              "overhead": True, "values": {}})["values"][r["threads"]] = r["us"]
    return list(out.values()), load


def ratio(row: dict, base: int, k: int) -> float:
    a, b = row["values"][base], row["values"][k]
    if row.get("overhead"):
        return b / a  # time ratio: within 5% of 1 is the target
    return b / a if row["higher_is_better"] else a / b  # speedup


def target(row: dict, r: float) -> str:
    if row.get("overhead"):
        return "ok (<= 1.05)" if r <= 1.05 else "MISSED (> 1.05)"
    return "ok (>= 1.6x)" if r >= 1.6 else "MISSED (< 1.6x)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--results", default=RESULTS)
    ap.add_argument("--rounds-conv", type=int, default=5)
    ap.add_argument("--rounds-mlp", type=int, default=9)
    args = ap.parse_args()
    counts = args.threads
    info = machine()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    rows, loads = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("conv", lambda: conv_rows(tmp, counts, args.rounds_conv)),
                           ("mlp", lambda: mlp_rows(tmp, counts, args.rounds_mlp)),
                           ("fusion", lambda: fusion_rows(tmp, counts)),
                           ("overhead", lambda: overhead_rows(tmp, counts))):
            got, loads[name] = make()
            for r in got:
                r["load_before_after"] = loads[name]
            rows += got
    base = counts[0]
    head = " | ".join(f"{k} thread{'s' if k > 1 else ''}" for k in counts)
    lines = [f"| case | unit | {head} | {' | '.join(f'{k} vs {base}' for k in counts[1:])} | target | load |",
             "| --- | --- | " + " | ".join("---:" for _ in counts) + " | " + " | ".join("---:" for _ in counts[1:])
             + " | --- | --- |"]
    for r in rows:
        rs = [ratio(r, base, k) for k in counts[1:]]
        r["ratios"] = {k: round(x, 3) for k, x in zip(counts[1:], rs)}
        r["target"] = target(r, rs[-1])
        vals = " | ".join(f"{r['values'].get(k, float('nan')):,}" for k in counts)
        kind = "time" if r.get("overhead") else "x"
        rat = " | ".join(f"{x:.3f} ({kind})" if r.get("overhead") else f"{x:.2f}x" for x in rs)
        lines.append(f"| {r['case']} | {r['unit']} | {vals} | {rat} | {r['target']} | "
                     f"{r['load_before_after'][0]}-{r['load_before_after'][1]} |")
    table = "\n".join(lines)
    print(table)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "threads.jsonl"), "a") as f:
        f.write(json.dumps({"kind": "machine", "time": stamp, **info}) + "\n")
        for r in rows:
            f.write(json.dumps({"time": stamp, **r}) + "\n")
    with open(os.path.join(args.results, "threads_run.md"), "w") as f:
        f.write(f"# bench/threads.py, {stamp}\n\nMachine: {info.get('cpu')}, {info.get('cpu_flags')}, "
                f"{info.get('cpus')} CPUs; BLAS {info.get('blas')}; env {info.get('env')}; "
                f"git {info.get('git_head')}\n\n{table}\n")


if __name__ == "__main__":
    main()
