"""Random number throughput: 10^7 float32 uniform and normal draws, one thread, theanir vs peers.

  theanir      th.jit of th.random.uniform / th.random.normal (Threefry-2x32-20: tn.random_bits,
               tn.random_normal, Box-Muller on both words of each block),
               timed to the result (block_until_ready)
  numpy        np.random.default_rng (PCG64): random(dtype=float32), standard_normal (ziggurat)
  jax          jax.jit of jax.random.uniform / normal (threefry), block_until_ready
  torch        torch.rand / torch.randn (into a preallocated tensor with out=)

Peers run only if they import. The thread limits (OMP/OpenBLAS/MKL/XLA, torch.set_num_threads,
th.config.threads) are set before any import; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset
(docs: DESIGN.md section 7). Timing: a warm-up call (compile included), then `--rounds` rounds
that run every implementation once in turn; the table shows the median and each peer's time
over theanir's (above 1: theanir is faster). Last, the seed MLP's batch-60 training step with
and without a dropout layer (rows "mlp step batch 60": time over the plain step's).

    python bench/random_draws.py [--n 10000000] [--rounds 15] [--results DIR]

Prints a table; with --results DIR also writes DIR/random.json (JSON lines) and random.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Callable

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "THEANIR_THREADS"):
    os.environ[_v] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
for _v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_v, None)

import numpy as np  # noqa: E402


def implementations(n: int) -> dict[str, dict[str, Callable[[], Any]]]:
    """{distribution: {implementation: call}}; each call returns when its numbers exist."""
    import theanir as th
    th.config.threads = 1
    key = np.asarray(th.random.key(0))
    tu = th.jit(lambda k: th.random.uniform(k, (n,), np.float32))
    tn = th.jit(lambda k: th.random.normal(k, (n,), np.float32))
    gen = np.random.default_rng(0)
    out = {"uniform": {"theanir": lambda: tu(key).block_until_ready(),
                       "numpy": lambda: gen.random(n, dtype=np.float32)},
           "normal": {"theanir": lambda: tn(key).block_until_ready(),
                      "numpy": lambda: gen.standard_normal(n, dtype=np.float32)}}
    try:
        import jax
        import jax.numpy as jnp
        jkey = jax.random.PRNGKey(0)
        ju = jax.jit(lambda k: jax.random.uniform(k, (n,), jnp.float32))
        jn = jax.jit(lambda k: jax.random.normal(k, (n,), jnp.float32))
        out["uniform"]["jax"] = lambda: ju(jkey).block_until_ready()
        out["normal"]["jax"] = lambda: jn(jkey).block_until_ready()
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(1)
        buf = torch.empty(n, dtype=torch.float32)
        out["uniform"]["torch"] = lambda: torch.rand(n, out=buf)
        out["normal"]["torch"] = lambda: torch.randn(n, out=buf)
    except ImportError:
        pass
    return out


def measure(n: int, rounds: int) -> list[dict]:
    rows = []
    for dist, impls in implementations(n).items():
        for f in impls.values():  # warm-up: compile, first-touch pages
            f()
        times: dict[str, list[float]] = {name: [] for name in impls}
        for _ in range(rounds):
            for name, f in impls.items():
                t0 = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t0)
        ours = statistics.median(times["theanir"])
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append({"bench": "random", "dist": dist, "impl": name, "n": n, "threads": 1,
                         "median_s": round(med, 5), "min_s": round(min(ts), 5),
                         "ns_per_draw": round(med / n * 1e9, 3),
                         "peer_over_theanir": round(med / ours, 2)})
    return rows


def dropout_overhead(rounds: int, steps: int = 200) -> list[dict]:
    """The seed MLP (784-500-10, tanh, softmax cross-entropy, SGD, float32) at batch 60: one
    jitted training step with and without inverted dropout (rate 0.5) on the hidden layer."""
    import theanir as th
    rng = np.random.default_rng(0)
    params = [rng.normal(0, 0.05, (784, 500)).astype(np.float32), np.zeros(500, np.float32),
              rng.normal(0, 0.05, (500, 10)).astype(np.float32), np.zeros(10, np.float32)]
    x = rng.uniform(0, 1, (60, 784)).astype(np.float32)
    y = rng.integers(0, 10, 60)

    def loss(ps, x, y, key):
        w1, b1, w2, b2 = ps
        h = th.tanh(x @ w1 + b1)
        if key is not None:
            h = th.where(th.random.bernoulli(key, np.float32(0.5), h.shape), h * 2.0, 0.0)
        logp = th.log_softmax(h @ w2 + b2, axis=-1)
        return -th.mean(th.take_along_axis(logp, y[:, None], axis=1))

    def step(ps, x, y, key, drop):
        key, sub = th.random.split(key)
        g = th.grad(loss)(ps, x, y, sub if drop else None)
        return [p - 0.01 * gp for p, gp in zip(ps, g)], key

    plain = th.jit(lambda ps, x, y, k: step(ps, x, y, k, False), donate_argnums=0)
    drop = th.jit(lambda ps, x, y, k: step(ps, x, y, k, True), donate_argnums=0)
    state = {"plain": ([p.copy() for p in params], th.random.key(0)),
             "dropout": ([p.copy() for p in params], th.random.key(0))}
    fns = {"plain": plain, "dropout": drop}

    def run(name: str) -> None:
        ps, k = state[name]
        for _ in range(steps):
            ps, k = fns[name](ps, x, y, k)
        np.asarray(ps[-1])
        state[name] = (ps, k)

    for name in fns:
        run(name)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name in fns:
            t0 = time.perf_counter()
            run(name)
            times[name].append((time.perf_counter() - t0) / steps)
    base = statistics.median(times["plain"])
    return [{"bench": "random", "dist": "mlp step batch 60", "impl": name, "n": 60, "threads": 1,
             "median_s": round(statistics.median(ts), 6), "min_s": round(min(ts), 6),
             "ns_per_draw": None, "peer_over_theanir": round(statistics.median(ts) / base, 3)}
            for name, ts in times.items()]


def table(rows: list[dict]) -> str:
    lines = ["| distribution | implementation | median (ms) | ns / draw | time / theanir's |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['dist']} | {r['impl']} | {r['median_s'] * 1e3:.3f} | {r['ns_per_draw']} | "
                     f"{r['peer_over_theanir']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--results", default=None, help="write random.json and random.md here")
    args = ap.parse_args(argv)
    rows = measure(args.n, args.rounds) + dropout_overhead(max(3, args.rounds // 2))
    text = table(rows)
    print(text)
    if args.results:
        os.makedirs(args.results, exist_ok=True)
        from compile_ops import machine  # bench/ is first on sys.path: CPU flags, BLAS kernel, commit
        meta = dict(bench="random", kind="machine", **machine())
        with open(os.path.join(args.results, "random.json"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in [meta] + rows)
        with open(os.path.join(args.results, "random.md"), "w") as f:
            f.write(f"# Random throughput, {args.n} float32 draws, 1 thread\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
