"""CSC products alone (dialects/tn/ops/sparse_csc.py): each kernel variant against MLIR's
sparsifier and SciPy, in one process, rounds interleaved.

  vector  X^T g of bench/sparse.py's logreg_step: X 5000 x 10^4 CSR at 0.4% (2 x 10^5 nonzeros),
          `structured_dot(g, X)`, a 10^4 x 5000 CSC matrix times a vector. A call also checks its
          arrays (O(nnz)), so the kernel is timed as (a program of 10 products - one of 1) / 9.
  dense   A @ B: A 10^4 x 10^4 CSC at 0.1%, B 10^4 x 64 (SciPy: A.tocsc() @ B).

1 thread: CPU time (process_time); more: wall time. Median and best of `--rounds` rounds.

    python bench/sparse_csc.py [--threads 1] [--dtype float64] [--rounds 9]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

REPS = 10


def _timed(fns: dict, args: tuple, calls: int, rounds: int, clock) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {v: [] for v in fns}
    for _ in range(rounds):
        for v, f in fns.items():
            t0 = clock()
            for _ in range(calls):
                f(*args)
            out[v].append((clock() - t0) / calls * 1e6)
    return out


def vector_case(dt, threads: int, rounds: int, clock) -> None:
    import theanir as th
    import theanir.sparse as sparse
    from theanir.dialects.tn.ops import sparse_csc
    x = sp.random(5000, 10000, 0.004, format="csr", dtype=dt, random_state=0)
    g = np.random.default_rng(0).standard_normal(5000).astype(dt)

    def ten(g, x):
        acc = sparse.structured_dot(g, x)
        for i in range(1, REPS):
            acc = acc + sparse.structured_dot(g * float(i + 1), x)
        return acc
    one, many = {}, {}
    for v in ("sparsifier", "scalar", "unroll4", "gather"):
        sparse_csc.CSC_LOOPS, sparse_csc.CSC_MATVEC = v != "sparsifier", v if v != "sparsifier" else "gather"
        one[v], many[v] = th.jit(sparse.structured_dot), th.jit(ten)
        np.testing.assert_allclose(np.asarray(one[v](g, x)), x.T @ g, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(np.asarray(many[v](g, x)), 55 * (x.T @ g), rtol=1e-4, atol=1e-3)
    one["scipy"] = lambda g, x: x.T @ g
    many["scipy"] = lambda g, x: [x.T @ (g * float(i + 1)) for i in range(REPS)]
    t1 = _timed(one, (g, x), 200, rounds, clock)
    t10 = _timed(many, (g, x), 30, rounds, clock)
    print(f"CSC x vector (X^T g, {x.nnz} nonzeros), {np.dtype(dt).name}, {threads} thread(s): us per product")
    for v in one:
        per = (np.median(t10[v]) - np.median(t1[v])) / (REPS - 1)
        print(f"  {v:10s} {per:7.1f}   (a call: median {np.median(t1[v]):.1f}, best {min(t1[v]):.1f})")


def dense_case(dt, threads: int, rounds: int, clock) -> None:
    import theanir as th
    import theanir.sparse as sparse
    from theanir.dialects.tn.ops import sparse_csc
    a = sp.random(10000, 10000, 0.001, format="csc", dtype=dt, random_state=0)
    b = np.random.default_rng(0).standard_normal((10000, 64)).astype(dt)
    fns = {}
    for v in ("sparsifier", "loops"):
        sparse_csc.CSC_LOOPS = v == "loops"
        fns[v] = th.jit(sparse.structured_dot)
        np.testing.assert_allclose(np.asarray(fns[v](a, b)), a @ b, rtol=1e-4, atol=1e-4)
    fns["scipy"] = lambda a, b: a @ b
    t = _timed(fns, (a, b), 20, rounds, clock)
    print(f"CSC x dense (10^4 x 10^4 at 0.1% @ 10^4 x 64), {np.dtype(dt).name}, {threads} thread(s): ms")
    for v, ts in t.items():
        print(f"  {v:10s} {np.median(ts) / 1e3:7.3f}   (best {min(ts) / 1e3:.3f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    import theanir as th
    th.config.cache = False  # (the disk cache keys on the tn module, not on the switches)
    th.config.threads, th.config.openmp = args.threads, args.threads > 1
    clock = time.process_time if args.threads == 1 else time.perf_counter
    dt = np.dtype(args.dtype)
    vector_case(dt, args.threads, args.rounds, clock)
    dense_case(dt, args.threads, args.rounds, clock)


if __name__ == "__main__":
    main()
