"""Compile time of the MLP 784-500-10 SGD training step, cold and from the disk cache.

Issue targets: a new process with an empty cache gets its first result in <= 0.4 s (JAX:
0.5 s, PyTensor: 26 s, torch.compile: 13 s); with the cache warm, in <= 50 ms. Times are
from just before the first call to its result (import time is reported separately) and
include the step's own run time. Each scenario runs in a new Python process:

  cold        empty cache (a fresh temporary cache directory)
  warm        a second process on the cache the cold run left
  no-cache    THEANIR_CACHE=0 (object route, nothing kept)
  engine      THEANIR_CODEGEN=engine (MLIR's ExecutionEngine, the route before the cache)
  same-proc   in one process: a new `th.jit` of the same function after the first
              (cache hit) and with the cache off (recompile), for reference
  breakdown   where the cold compile's time goes, stage by stage

    python bench/compile.py [--repeats 3] [--dtype float32 float64] [--out bench/results/compile.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

MODEL = textwrap.dedent("""
    import os, time
    t0 = time.perf_counter()
    import numpy as np
    import theanir as th
    t_import = time.perf_counter() - t0
    dt = np.dtype(os.environ["BENCH_DTYPE"])

    def loss_fn(params, x, y_onehot):
        (w1, b1), (w2, b2) = params
        h = th.tanh(x @ w1 + b1)
        logp = th.log_softmax(h @ w2 + b2, axis=1)
        return -th.mean(th.sum(y_onehot * logp, axis=1))

    def sgd_step(params, x, y_onehot, lr):
        loss, grads = th.value_and_grad(loss_fn)(params, x, y_onehot)
        return loss, [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)]

    rng = np.random.default_rng(0)
    params = [(rng.normal(0, 784 ** -0.5, (784, 500)).astype(dt), np.zeros(500, dt)),
              (rng.normal(0, 500 ** -0.5, (500, 10)).astype(dt), np.zeros(10, dt))]
    x = rng.random((60, 784)).astype(dt)
    y = np.eye(10, dtype=dt)[rng.integers(0, 10, 60)]
    lr = dt.type(0.1)
""")

FIRST_CALL = MODEL + textwrap.dedent("""
    from theanir.codegen.native import STATS
    step = th.jit(sgd_step)
    t1 = time.perf_counter()
    loss, new = step(params, x, y, lr)
    t_first = time.perf_counter() - t1
    t2 = time.perf_counter()
    step(params, x, y, lr)
    t_run = time.perf_counter() - t2
    print(json.dumps(dict(import_s=t_import, first_call_s=t_first, run_s=t_run, loss=float(loss),
                          stats=dict(STATS))))
""")

SAME_PROCESS = MODEL + textwrap.dedent("""
    out = {}
    th.jit(sgd_step)(params, x, y, lr)  # warm the process (context, imports) and the cache
    for label, cache in (("same_proc_hit_s", True), ("same_proc_recompile_s", False)):
        th.config.cache = cache
        best = 1e9
        for _ in range(3):
            t1 = time.perf_counter()
            th.jit(sgd_step)(params, x, y, lr)
            best = min(best, time.perf_counter() - t1)
        out[label] = best
    print(json.dumps(out))
""")

BREAKDOWN = MODEL + textwrap.dedent("""
    import tempfile
    from mlir import ir
    from theanir.dialects.tn.context import get_context
    from theanir.codegen import native
    from theanir.passes import pipeline
    T = {}
    def tick(name, t):
        T[name] = T.get(name, 0.0) + time.perf_counter() - t
    t = time.perf_counter(); get_context(); tick("context", t)
    f = th.jit(sgd_step)
    t = time.perf_counter(); low = f.lower(params, x, y, lr); tick("trace", t)
    m = pipeline.clone(low.traced.module)
    with m.context, ir.Location.unknown():
        for stage in pipeline.stage_path("tn", "llvm"):
            prev = pipeline.STAGES[pipeline.STAGE_NAMES.index(pipeline.parent(stage.name))]
            t = time.perf_counter()
            pipeline.run_until(m, stage.name, low.options, start=prev.name)
            tick("mlir:" + stage.name, t)
    work = tempfile.mkdtemp()
    target = native.host_target()
    t = time.perf_counter()
    native.emit_object(m, "main", low.options.opt_level, target, os.path.join(work, "m.o"))
    tick("llvm:translate+passes+codegen", t)
    obj, lib = os.path.join(work, "m.o"), os.path.join(work, "m.so")
    t = time.perf_counter(); native.link_shared(obj, lib); tick("link", t)
    t = time.perf_counter(); code = native.load_shared(lib, "_mlir__mlir_ciface_main"); tick("dlopen", t)
    from theanir.frontend.api import Compiled
    c = Compiled(low.traced, code, low.options, low.signature)
    t = time.perf_counter(); c(params, x, y, lr); tick("first run", t)
    print(json.dumps({k: round(v, 4) for k, v in T.items()}))
""")


def child(script: str, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", "import json\n" + script], env={**os.environ, **env},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_dtype(dtype: str, repeats: int) -> list[dict]:
    rows = []

    def record(row: dict) -> None:
        row = {"bench": "compile_mlp", "dtype": dtype, **row}
        print(json.dumps(row), flush=True)
        rows.append(row)

    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="theanir-bench-") as cache:
            env = {"BENCH_DTYPE": dtype, "THEANIR_CACHE": "1", "THEANIR_CACHE_DIR": cache}
            record({"scenario": "cold", **child(FIRST_CALL, env)})
            record({"scenario": "warm", **child(FIRST_CALL, env)})
            record({"scenario": "no-cache", **child(FIRST_CALL, {**env, "THEANIR_CACHE": "0"})})
            record({"scenario": "engine", **child(FIRST_CALL, {**env, "THEANIR_CODEGEN": "engine"})})
            record({"scenario": "same-proc", **child(SAME_PROCESS, env)})
            record({"scenario": "breakdown", **child(BREAKDOWN, env)})
    return rows


def table(rows: list[dict], dtype: str, repeats: int) -> None:
    def median(scenario: str, field: str) -> float:
        vals = sorted(r[field] for r in rows if r["scenario"] == scenario and field in r)
        return vals[len(vals) // 2]

    print(f"\nMLP 784-500-10 SGD step, {dtype}, batch 60; medians of {repeats} new processes\n")
    print("| scenario | import s | first call s | of which compile/load s | one step s | target |")
    print("|---|---|---|---|---|---|")
    for sc, target in (("cold", "<= 0.4"), ("warm", "<= 0.05"), ("no-cache", ""), ("engine", "(old route)")):
        overs = sorted(r["first_call_s"] - r["run_s"] for r in rows if r["scenario"] == sc)
        over = overs[len(overs) // 2]
        print(f"| {sc} | {median(sc, 'import_s'):.3f} | {median(sc, 'first_call_s'):.3f} | {over:.3f} | "
              f"{median(sc, 'run_s'):.4f} | {target} |")
    print(f"| same process, new jit, cache hit | | {median('same-proc', 'same_proc_hit_s'):.3f} | | | |")
    recompile = median('same-proc', 'same_proc_recompile_s')
    print(f"| same process, new jit, cache off | | {recompile:.3f} | | | |")
    print("\n| cold compile stage | s |\n|---|---|")
    last = [r for r in rows if r["scenario"] == "breakdown"][-1]
    for k in (k for k in last if k not in ("bench", "dtype", "scenario")):
        print(f"| {k} | {median('breakdown', k):.4f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", nargs="+", choices=["float32", "float64"], default=["float32"])
    ap.add_argument("--out", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args()
    rows = []
    for dtype in args.dtype:
        rows += run_dtype(dtype, args.repeats)
    for dtype in args.dtype:
        table([r for r in rows if r["dtype"] == dtype], dtype, args.repeats)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"load_average": os.getloadavg(), "cpus": os.cpu_count(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
