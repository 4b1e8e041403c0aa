"""Compile time of a function with ~200 elementwise and matmul ops (issue 2's target: < 2 s).

Runs each measurement in a fresh Python process (so MLIR's context creation and every cache
start cold), prints one JSON line per run and a Markdown table.

    python bench/compile_ops.py [--repeats 3] [--ops 200]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    import theanir as th
    t_import = time.perf_counter() - t0
    n_ops = int(sys.argv[1])

    def model(x, w):
        h = x
        count = 0
        while count < n_ops:
            h = th.tanh(h @ w) * 0.5 + h          # matmul, tanh, mul, add (+ broadcasts)
            h = th.exp(-h * h) - th.sigmoid(h)    # mul, neg, exp, sigmoid, sub
            count += 9
        return h.sum()

    x = np.random.rand(16, 32)
    w = np.random.rand(32, 32) / 32
    f = th.jit(model)
    t1 = time.perf_counter()
    lowered = f.lower(x, w)
    t_trace = time.perf_counter() - t1
    tn_ops = lowered.as_text("tn").count('"tn.')
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t_compile = time.perf_counter() - t2
    t3 = time.perf_counter()
    compiled(x, w)
    t_first_call = time.perf_counter() - t3
    t4 = time.perf_counter()
    f(x, w)
    t_jit_first = time.perf_counter() - t4
    print(json.dumps(dict(bench="compile_ops", tn_ops=tn_ops, import_s=round(t_import, 3),
                          trace_s=round(t_trace, 3), compile_s=round(t_compile, 3),
                          first_call_s=round(t_first_call, 4),
                          jit_first_result_s=round(t_jit_first, 3))))
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ops", type=int, default=200)
    args = ap.parse_args()
    rows = []
    for _ in range(args.repeats):
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.ops)], check=True,
                             capture_output=True, text=True).stdout
        line = out.strip().splitlines()[-1]
        print(line, flush=True)
        rows.append(json.loads(line))
    print("\n| tn ops | import s | trace s | lower+codegen s | jit first result s (trace+compile+run) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['tn_ops']} | {r['import_s']} | {r['trace_s']} | {r['compile_s']} | {r['jit_first_result_s']} |")


if __name__ == "__main__":
    main()
