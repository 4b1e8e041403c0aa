"""Compile time of `th.hessian` as the input grows (issue 20: a 400-input Hessian in <= 2 s).

jacfwd/jacrev/hessian vmap one jvp/vjp sweep over the basis (frontend/autodiff.py), so the
traced IR no longer grows with the input size; before, one sweep per basis vector was
unrolled into the trace (17.8 s for 400 inputs, 143 s for 30x40, issue 20). Each size runs
in a new process with the compile cache off: `first_call_s` is trace + compile + first run,
`run_s` the best of 5 later calls. JAX's figure (jax.jit(jax.hessian(f)), float64) is added
when JAX imports in this Python or in the one `--jax-python` names.

    python bench/hessian.py [--sizes 100 400 30x40] [--jax-python PATH] [--out bench/results/hessian.jsonl]
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

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np
    shape = tuple(int(s) for s in sys.argv[1].split("x"))
    lib = sys.argv[2]
    x = np.random.default_rng(0).normal(size=shape)
    if lib == "theanir":
        import theanir as np_like
        th = np_like
        hess = th.hessian
    else:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as th
        hess = lambda f: jax.jit(jax.hessian(f))

    def f(x):
        v = th.reshape(x, (-1,))
        return th.sum(th.tanh(v) ** 2) + th.sum(v[:-1] * v[1:]) + th.sum(th.sin(x) * x)

    h = hess(f)
    t0 = time.perf_counter()
    out = np.asarray(h(x))
    first = time.perf_counter() - t0
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.asarray(h(x))
        runs.append(time.perf_counter() - t0)
    print(json.dumps({"first_call_s": first, "run_s": min(runs), "shape": list(out.shape),
                      "checksum": float(out.sum())}))
""")


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return sorted(f for f in line.split(":")[1].split() if f.startswith(("avx", "fma")))
    except OSError:
        pass
    return []


def _has_jax(python: str) -> bool:
    return subprocess.run([python, "-c", "import jax"], capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", default=["100", "400", "30x40"])
    ap.add_argument("--jax-python", default=sys.executable, help="a Python that has JAX")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "hessian.jsonl"))
    args = ap.parse_args()
    env = dict(os.environ, THEANIR_CACHE="0")
    pythons = {"theanir": sys.executable, "jax": args.jax_python}
    libs = ["theanir"] + (["jax"] if _has_jax(args.jax_python) else [])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "a") as out:
        for size in args.sizes:
            for lib in libs:
                proc = subprocess.run([pythons[lib], "-c", SCRIPT, size, lib], capture_output=True,
                                      text=True, env=env)
                if proc.returncode != 0:
                    print(f"{lib} {size}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                rec = {"bench": "hessian", "lib": lib, "input": size, **json.loads(proc.stdout.strip().splitlines()[-1]),
                       "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.machine(),
                       "cpu_flags": _cpu_flags(), "nproc": os.cpu_count()}
                print(f"{lib:8s} input {size:6s} first call {rec['first_call_s']:.2f} s, run {rec['run_s'] * 1e3:.2f} ms")
                out.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
