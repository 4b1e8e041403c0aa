"""Compile time against program size: 10^2, 10^3 and 10^4 tn ops, fast_run and fast_compile.

Issue 13's target: compile time grows linearly, i.e. at 10^4 ops the time per op is at most
2x the 10^2-op figure, and 10^4 ops compile in <= 20 s on the project's 2-vCPU machine.

The program is a chain of blocks `h = tanh(h @ w_k) * 0.5 + h; h = exp(-h * h) - sigmoid(h)`
(matmul, tanh, mul, add, neg, exp, sub, sigmoid plus the broadcasts of the scalars), with
the weights cycling through four distinct matrices, repeated until the traced module holds the
requested number of `"tn.` ops (counted at stage tn and reported). Every block depends on the
previous one and every value is used, so neither CSE nor DCE can shorten it; at fast_run the
elementwise runs between two matmuls fuse into `tn.fusion`s (`tn_fusions`; `tn_opt_ops`
counts the ops inside their regions too), at fast_compile nothing is fused.

Each measurement runs in a fresh Python process with the disk cache off (THEANIR_CACHE=0) and
reports, in seconds:

  trace_s     th.jit(f).lower(...): tracing to the tn module
  opt_s       the tn optimizer (stage tn-opt)
  lower_s     tn-opt -> LLVM dialect (convert-tn-to-linalg, bufferization, to LLVM)
  codegen_s   LLVM dialect -> loaded native code (LLVM IR, LLVM's optimizer and code
              generator, linking, loading)
  total_s     trace + the whole `Lowered.compile()` (opt + lower + codegen + bookkeeping)
  compile_cpu_s  CPU time of `Lowered.compile()`, all threads of the process (on a shared
              machine less noisy than wall time; LLVM's code generation runs on several)

    python bench/compile_ops.py [--ops 100,1000,10000] [--optimizer fast_run,fast_compile]
                                [--repeats 1] [--profile DIR] [--results DIR | --no-write]

Prints JSON lines (with the machine: CPU model and flags, the BLAS kernel) and a Markdown
table with the time per op and its ratio to the smallest size's figure; writes
bench/results/compile_ops.json and compile_ops.md. `--profile DIR` also writes one cProfile
file per measurement (DIR/<optimizer>-<ops>.prof; slower, for finding hot spots).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

CHILD = textwrap.dedent("""
    import json, os, sys, time
    t0 = time.perf_counter()
    import numpy as np
    import theanir as th
    import theanir.frontend.api as api
    t_import = time.perf_counter() - t0
    n_ops, optimizer, profile = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    # Stage timers: wrap the compile path's own run_until and object emission wherever the
    # compile path (api.compile_module's module) finds them, so the figures add up to compile().
    where = sys.modules[api.compile_module.__module__]
    times = {"opt_s": 0.0, "lower_s": 0.0, "codegen_emit_s": 0.0}
    real_run_until = where.run_until
    def run_until(module, stage, opts=None, start="tn"):
        t = time.perf_counter()
        try:
            return real_run_until(module, stage, opts, start=start)
        finally:
            times["opt_s" if stage == "tn-opt" else "lower_s"] += time.perf_counter() - t
    where.run_until = run_until

    def block(h, w):
        h = th.tanh(h @ w) * 0.5 + h
        return th.exp(-h * h) - th.sigmoid(h)

    def make(blocks):
        def model(x, ws):
            h = x
            for i in range(blocks):
                h = block(h, ws[i % len(ws)])
            return h.sum()
        return model

    rng = np.random.default_rng(0)
    x = rng.random((16, 32), dtype=np.float32)
    ws = [rng.random((32, 32), dtype=np.float32) / 32 for _ in range(4)]
    count = lambda lowered, stage: lowered.as_text(stage).count('"tn.')
    per_block = count(th.jit(make(2)).lower(x, ws), "tn") - count(th.jit(make(1)).lower(x, ws), "tn")
    fixed = count(th.jit(make(1)).lower(x, ws), "tn") - per_block
    blocks = max(1, round((n_ops - fixed) / per_block))

    f = th.jit(make(blocks), optimizer=optimizer)
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    t1 = time.perf_counter()
    lowered = f.lower(x, ws)
    t_trace = time.perf_counter() - t1
    t2, c2 = time.perf_counter(), time.process_time()
    compiled = lowered.compile()
    t_compile, c_compile = time.perf_counter() - t2, time.process_time() - c2
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    where.run_until = real_run_until
    tn_ops = count(lowered, "tn")
    opt_text = lowered.as_text("tn-opt")
    opt_ops, fusions = opt_text.count('"tn.'), opt_text.count('"tn.fusion"')
    t3 = time.perf_counter()
    out = compiled(x, ws)
    float(np.asarray(out))
    t_first_call = time.perf_counter() - t3
    codegen = t_compile - times["opt_s"] - times["lower_s"]
    print(json.dumps(dict(bench="compile_ops", optimizer=optimizer, requested_ops=n_ops, tn_ops=tn_ops,
                          tn_opt_ops=opt_ops, tn_fusions=fusions, blocks=blocks, import_s=round(t_import, 3),
                          trace_s=round(t_trace, 3), opt_s=round(times["opt_s"], 3),
                          lower_s=round(times["lower_s"], 3), codegen_s=round(codegen, 3),
                          compile_s=round(t_compile, 3), compile_cpu_s=round(c_compile, 3),
                          total_s=round(t_trace + t_compile, 3),
                          first_call_s=round(t_first_call, 4), profiled=bool(profile))))
""")


def machine() -> dict:
    """CPU model and SIMD flags, core count, load, the BLAS kernel (threadpoolctl), git commit."""
    info: dict = {"cpu": "unknown", "flags": [], "cpus": os.cpu_count(), "machine": platform.machine(),
                  "load_average": round(os.getloadavg()[0], 2), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name") and info["cpu"] == "unknown":
                    info["cpu"] = ln.split(":", 1)[1].strip()
                if ln.startswith("flags") and not info["flags"]:
                    have = set(ln.split(":", 1)[1].split())
                    info["flags"] = sorted(have & {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                                                   "avx512_bf16", "amx_tile", "neon", "asimd"})
    except OSError:
        pass
    try:
        import numpy  # noqa: F401 (threadpoolctl sees only loaded libraries)
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                        for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    import importlib.util  # the measured theanir: where this interpreter imports it from
    spec = importlib.util.find_spec("theanir.frontend")
    root = os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))) if spec and spec.origin else "."
    info["theanir_source"] = root
    try:
        info["git_head"] = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                                          capture_output=True, text=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "-C", root, "status", "--porcelain"], capture_output=True,
                                text=True, timeout=10).stdout.splitlines()
        info["git_changed_files"] = sum(1 for ln in status if " bench/" not in ln)
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def run_child(ops: int, optimizer: str, profile: str, timeout: float) -> dict:
    env = {**os.environ, "THEANIR_CACHE": "0"}
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(ops), optimizer, profile], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(bench="compile_ops", optimizer=optimizer, requested_ops=ops, error=f"timeout after {timeout:g} s")
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return dict(bench="compile_ops", optimizer=optimizer, requested_ops=ops,
                    error=f"exit {proc.returncode}: {' | '.join(tail)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    """Per optimizer and size: the median of repeats, per-op times in ms, ratios to the smallest size."""
    lines = ["| optimizer | tn ops | tn-opt ops | trace s | opt s | lower s | codegen s | total s "
             "| compile CPU s | trace ms/op | compile ms/op | total ms/op | total/op ÷ smallest |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for opt in dict.fromkeys(r["optimizer"] for r in rows):
        base = None
        for ops in sorted({r["requested_ops"] for r in rows if r["optimizer"] == opt}):
            runs = [r for r in rows if r["optimizer"] == opt and r["requested_ops"] == ops]
            good = sorted((r for r in runs if "error" not in r), key=lambda r: r["total_s"])
            if not good:
                lines.append(f"| {opt} | ~{ops} | | | | | | {runs[0]['error']} | | | | | |")
                continue
            r = good[len(good) // 2]
            n = r["tn_ops"]
            per = r["total_s"] / n * 1e3
            base = base or per
            cpu = f"{r['compile_cpu_s']:.2f}" if "compile_cpu_s" in r else ""
            lines.append(f"| {opt} | {n} | {r['tn_opt_ops']} | {r['trace_s']:.2f} | {r['opt_s']:.2f} | "
                         f"{r['lower_s']:.2f} | {r['codegen_s']:.2f} | {r['total_s']:.2f} | {cpu} | "
                         f"{r['trace_s'] / n * 1e3:.2f} | {r['compile_s'] / n * 1e3:.2f} | {per:.2f} | "
                         f"{per / base:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", default="100,1000,10000", help="comma-separated tn op counts")
    ap.add_argument("--optimizer", default="fast_run,fast_compile", help="comma-separated optimizer levels")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per measurement")
    ap.add_argument("--profile", metavar="DIR", help="write a cProfile file per measurement into DIR")
    ap.add_argument("--results", default=RESULTS, help="where compile_ops.json/.md go")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    meta = dict(bench="compile_ops", kind="machine", **machine(),
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    print(json.dumps(meta), flush=True)
    rows = []
    for opt in args.optimizer.split(","):
        for ops in (int(s) for s in args.ops.split(",")):
            for _ in range(args.repeats):
                prof = os.path.join(args.profile, f"{opt}-{ops}.prof") if args.profile else ""
                if prof:
                    os.makedirs(args.profile, exist_ok=True)
                row = run_child(ops, opt, prof, args.timeout)
                print(json.dumps(row), flush=True)
                rows.append(row)
    md = table(rows)
    print("\n" + md)
    if args.no_write:
        return
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "compile_ops.json"), "w") as f:
        for r in [meta] + rows:
            f.write(json.dumps(r) + "\n")
    flags = " ".join(meta["flags"])
    with open(os.path.join(args.results, "compile_ops.md"), "w") as f:
        f.write(f"Compile time against program size ({meta['date']}; {meta['cpu']}, {meta['cpus']} CPUs, "
                f"flags {flags}, load average {meta['load_average']} at the start; theanir at "
                f"{meta.get('git_head', '?')} (+{meta.get('git_changed_files', '?')} changed files)).\n"
                f"`python bench/compile_ops.py --ops {args.ops} --optimizer {args.optimizer} "
                f"--repeats {args.repeats}`\n\n{md}\n")


if __name__ == "__main__":
    main()
