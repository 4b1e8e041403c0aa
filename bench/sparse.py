"""Sparse CSR kernels, 1 thread: theanir vs scipy.sparse, torch.sparse (CSR)
and JAX's BCOO, with GFLOP/s and each peer's time over ours.

Problems (float64, 10^4 x 10^4 CSR at 0.1% = 10^5 nonzeros, random pattern, seed 0):
  csr_x_dense   A @ B, B dense 10^4 x 64           flops 2 nnz(A) 64
  csr_x_vector  A @ v, v dense 10^4                flops 2 nnz(A)
  spgemm        A @ A2 (A2 another such matrix)     flops 2 sum_p nnz(row col(p) of A2)
  sparse_add    A + A2                             flops nnz(A + A2)
  logreg_step   a logistic-regression SGD step on a 5000 x 10^4 bag-of-words matrix (0.4%):
                p = sigmoid(X w + b), w -= lr (X^T (p - y) / n + 2 l2 w)  flops ~ 4 nnz(X)

theanir runs each as a th.jit function called with SciPy matrices (zero-copy in; the input
check of the arrays, O(nnz), is part of the call; sparse results come back as SciPy
matrices); logreg_step as th.function with shared weights and in-place updates. Peers: scipy
(its own C++ kernels), torch (torch.sparse_csr_tensor, torch.sparse.mm / autograd), JAX
(BCOO under jax.jit; sparse @ sparse and + through jax.experimental.sparse). Each result is
checked against SciPy before timing. Timing: ~0.3 s of calls per round, median of `--rounds`
rounds (best in JSON), wall and CPU time (process_time, the fairer figure on a loaded
machine); `th.Array` results are waited for. theanir's kernels: our loops for CSR x vector,
A + B, A @ B and CSR x dense (dialects/tn/ops/sparse_loops.py), and for logreg_step's X^T g, a
CSC x vector product (dialects/tn/ops/sparse_csc.py).

1 thread: OMP/OpenBLAS/MKL variables, torch.set_num_threads(1) and XLA's single-thread flags
are set before the imports, and the process is pinned to one CPU. `--threads 2` also runs
theanir with th.config.openmp (the sparsifier's parallel outer loop) on 2 CPUs in a child.

    python bench/sparse.py [--rounds 5] [--peers all|none|scipy,torch,jax] [--threads 1 2]

Writes bench/results/sparse.jsonl (JSON lines) and bench/results/sparse.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _pin(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "THEANIR_THREADS"):
        os.environ[var] = str(threads)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                               "intra_op_parallelism_threads=1").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cpus[:threads]))
    except (AttributeError, OSError):
        pass


def _timeit(fn: Callable[[], Any], sync: Callable[[Any], Any], rounds: int,
            round_s: float = 0.3) -> tuple[float, float, float]:
    """(median, best, median CPU) seconds per call. The CPU time (process_time: all threads)
    is what a loaded machine distorts least: wall time there includes the time others ran."""
    sync(fn())
    t = time.perf_counter()
    sync(fn())
    one = max(time.perf_counter() - t, 1e-6)
    n = max(1, int(round_s / one))
    times, cpu = [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(n):
            out = fn()
        sync(out)
        times.append((time.perf_counter() - t) / n)
        cpu.append((time.process_time() - c) / n)
    return statistics.median(times), min(times), statistics.median(cpu)


def _random_csr(m: int, k: int, density: float, seed: int):
    """A canonical CSR matrix with about density * m * k entries at random positions
    (scipy.sparse.random draws without replacement over m * k: a minute at 10^8)."""
    import numpy as np
    import scipy.sparse as sp
    rng = np.random.default_rng(seed)
    nnz = int(density * m * k)
    a = sp.coo_matrix((rng.standard_normal(nnz), (rng.integers(0, m, nnz), rng.integers(0, k, nnz))),
                      shape=(m, k)).tocsr()
    a.sum_duplicates()
    return a


def _problems():
    import numpy as np
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    n = 10_000
    a, a2 = (_random_csr(n, n, 0.001, seed) for seed in (1, 2))
    b = rng.standard_normal((n, 64))
    v = rng.standard_normal(n)
    n_docs, per_doc = 5000, 40
    rows = np.repeat(np.arange(n_docs), per_doc)
    cols = rng.integers(0, n, n_docs * per_doc)
    x = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_docs, n))
    y = (x @ rng.standard_normal(n) > 0).astype(np.float64)
    row_len = np.diff(a2.indptr)
    spgemm_flops = 2 * int(row_len[a.indices].sum())
    flops = {"csr_x_dense": 2 * a.nnz * 64, "csr_x_vector": 2 * a.nnz, "spgemm": spgemm_flops,
             "sparse_add": (a + a2).nnz, "logreg_step": 4 * x.nnz}
    return dict(a=a, a2=a2, b=b, v=v, x=x, y=y), flops


LR, L2 = 0.5, 1e-5


def _logreg_numpy(x, y, w, b):
    import numpy as np
    p = 1 / (1 + np.exp(-(x @ w + b)))
    g = p - y
    w -= LR * (x.T @ g / x.shape[0] + 2 * L2 * w)
    b -= LR * g.mean()
    return w, b


# ----------------------------------------------------------------------------- implementations
def theanir_impls(d):
    import numpy as np
    import theanir as th
    import theanir.sparse as sparse
    import theanir.tensor as T
    f_mm = th.jit(sparse.structured_dot)
    f_add = th.jit(sparse.add)
    f_gemm = th.jit(sparse.true_dot)
    x, t = sparse.csr_matrix("x"), T.dvector("t")
    w = th.shared(np.zeros(d["x"].shape[1]), name="w")
    b = th.shared(0.0, name="b")
    p = T.nnet.sigmoid(sparse.structured_dot(x, w) + b)
    g = p - t
    nw = w - LR * (sparse.structured_dot(g, x) / d["x"].shape[0] + 2 * L2 * w)
    step = th.function([x, t], [], updates=[(w, nw), (b, b - LR * g.mean())])
    return {
        "csr_x_dense": (lambda: f_mm(d["a"], d["b"]), _wait),
        "csr_x_vector": (lambda: f_mm(d["a"], d["v"]), _wait),
        "spgemm": (lambda: f_gemm(d["a"], d["a2"]), _wait),
        "sparse_add": (lambda: f_add(d["a"], d["a2"]), _wait),
        "logreg_step": (lambda: (step(d["x"], d["y"]), w.get_value(borrow=True))[1], _wait),
        "_logreg_state": lambda: (w.set_value(np.zeros(d["x"].shape[1])), b.set_value(0.0)),
        "_logreg_read": lambda: w.get_value(),
    }


def _wait(out):
    import numpy as np
    if hasattr(out, "data") and hasattr(out, "indptr"):
        return out
    return np.asarray(out)


def scipy_impls(d):
    import numpy as np
    state = {}

    def step():
        state["w"], state["b"] = _logreg_numpy(d["x"], d["y"], state["w"], state["b"])
        return state["w"]

    return {
        "csr_x_dense": (lambda: d["a"] @ d["b"], _wait),
        "csr_x_vector": (lambda: d["a"] @ d["v"], _wait),
        "spgemm": (lambda: d["a"] @ d["a2"], _wait),
        "sparse_add": (lambda: d["a"] + d["a2"], _wait),
        "logreg_step": (step, _wait),
        "_logreg_state": lambda: state.update(w=np.zeros(d["x"].shape[1]), b=0.0),
        "_logreg_read": lambda: state["w"],
    }


def torch_impls(d):
    import torch
    torch.set_num_threads(1)

    def csr(m):
        return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype("int64")),
                                       torch.from_numpy(m.indices.astype("int64")), torch.from_numpy(m.data),
                                       size=m.shape)

    a, a2, x = csr(d["a"]), csr(d["a2"]), csr(d["x"])
    b, v, y = torch.from_numpy(d["b"]), torch.from_numpy(d["v"]), torch.from_numpy(d["y"])
    state = {}

    def step():
        w = state["w"].requires_grad_(True)
        p = torch.sigmoid(x @ w + state["b"])
        loss = torch.nn.functional.binary_cross_entropy(p, y, reduction="mean")
        (gw,) = torch.autograd.grad(loss, [w])
        with torch.no_grad():
            g = p - y
            state["w"] = (w - LR * (gw + 2 * L2 * w)).detach()
            state["b"] = state["b"] - LR * float(g.mean())
        return state["w"]

    return {
        "csr_x_dense": (lambda: a @ b, lambda o: o),
        "csr_x_vector": (lambda: a @ v, lambda o: o),
        "spgemm": (lambda: a @ a2, lambda o: o),
        "sparse_add": (lambda: a + a2, lambda o: o),
        "logreg_step": (step, lambda o: o),
        "_logreg_state": lambda: state.update(w=torch.zeros(d["x"].shape[1], dtype=torch.float64), b=0.0),
        "_logreg_read": lambda: state["w"].numpy(),
    }


def jax_impls(d):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.experimental import sparse as jsp
    a, a2, x = (jsp.BCOO.from_scipy_sparse(d[k]) for k in ("a", "a2", "x"))
    b, v, y = jnp.asarray(d["b"]), jnp.asarray(d["v"]), jnp.asarray(d["y"])
    mm = jax.jit(lambda a, b: a @ b)
    gemm = jsp.sparsify(lambda a, c: a @ c)
    add = jsp.sparsify(lambda a, c: a + c)

    @jax.jit
    def jstep(w, bias):
        def loss(w, bias):
            p = jax.nn.sigmoid(x @ w + bias)
            return -jnp.mean(y * jnp.log(p) + (1 - y) * jnp.log1p(-p)), p
        (l_, p), gw = jax.value_and_grad(loss, has_aux=True)(w, bias)
        return w - LR * (gw + 2 * L2 * w), bias - LR * jnp.mean(p - y)

    state = {}

    def step():
        state["w"], state["b"] = jstep(state["w"], state["b"])
        return state["w"]

    return {
        "csr_x_dense": (lambda: mm(a, b), lambda o: o.block_until_ready()),
        "csr_x_vector": (lambda: mm(a, v), lambda o: o.block_until_ready()),
        "spgemm": (lambda: gemm(a, a2), lambda o: o.data.block_until_ready()),
        "sparse_add": (lambda: add(a, a2), lambda o: o.data.block_until_ready()),
        "logreg_step": (step, lambda o: o.block_until_ready()),
        "_logreg_state": lambda: state.update(w=jnp.zeros(d["x"].shape[1]), b=jnp.asarray(0.0)),
        "_logreg_read": lambda: __import__("numpy").asarray(state["w"]),
    }


IMPLS = {"theanir": theanir_impls, "scipy": scipy_impls, "torch": torch_impls, "jax": jax_impls}


def _dense(o):
    import numpy as np
    if hasattr(o, "todense") and not hasattr(o, "indptr"):  # JAX BCOO
        return np.asarray(o.todense())
    if hasattr(o, "to_dense"):  # torch
        return o.to_dense().numpy()
    if hasattr(o, "toarray"):
        return o.toarray()
    if hasattr(o, "numpy") and not isinstance(o, np.ndarray):
        try:
            return o.numpy()
        except Exception:  # noqa: BLE001
            pass
    return np.asarray(o)


def _check(name, impl, ref) -> str | None:
    import numpy as np
    try:
        if name == "logreg_step":
            impl["_logreg_state"]()
            for _ in range(3):
                impl[name][1](impl[name][0]())
            got = np.asarray(impl["_logreg_read"]())
        else:
            got = _dense(impl[name][1](impl[name][0]()))
        want = ref
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
        return None
    except Exception as e:  # noqa: BLE001 - a peer that cannot run a problem: reported, not fatal
        return f"{type(e).__name__}: {str(e)[:160]}"


def run(peers: list[str], rounds: int, threads: int) -> list[dict]:
    import numpy as np
    d, flops = _problems()
    refs = {"csr_x_dense": d["a"] @ d["b"], "csr_x_vector": d["a"] @ d["v"], "spgemm": (d["a"] @ d["a2"]).toarray(),
            "sparse_add": (d["a"] + d["a2"]).toarray()}
    w, b = np.zeros(d["x"].shape[1]), 0.0
    for _ in range(3):
        w, b = _logreg_numpy(d["x"], d["y"], w, b)
    refs["logreg_step"] = w
    rows = []
    for impl_name in ["theanir"] + [p for p in peers if p != "theanir"]:
        if threads > 1 and impl_name != "theanir":
            continue
        try:
            impl = IMPLS[impl_name](d)
        except ImportError as e:
            print(f"# {impl_name}: not installed ({e})", file=sys.stderr)
            continue
        for name in flops:
            err = _check(name, impl, refs[name])
            row = {"problem": name, "impl": impl_name, "threads": threads, "flops": flops[name]}
            if err is not None:
                row["error"] = err
                print(f"# {impl_name} {name}: {err}", file=sys.stderr)
            else:
                if name == "logreg_step":
                    impl["_logreg_state"]()
                med, best, cpu = _timeit(impl[name][0], impl[name][1], rounds)
                row.update(median_s=med, best_s=best, cpu_s=cpu, gflops=flops[name] / med / 1e9)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def _env() -> dict:
    info = {"python": platform.python_version(), "machine": platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
        info["cpu_flags"] = [x for x in flags if x.startswith(("avx", "fma", "sse4"))]
        info["cpus"] = os.cpu_count()
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads")} for p in threadpool_info()]
    except ImportError:
        pass
    return info


def markdown(rows: list[dict]) -> str:
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    impls = list(dict.fromkeys(r["impl"] + ("" if r["threads"] == 1 else f" ({r['threads']} thr)") for r in rows))
    by = {(r["problem"], r["impl"] + ("" if r["threads"] == 1 else f" ({r['threads']} thr)")): r for r in rows}
    out = ["| problem | " + " | ".join(impls) + " | fastest peer / theanir | same, CPU time |",
           "| --- |" + " --- |" * (len(impls) + 2)]
    for p in problems:
        ours = by.get((p, "theanir"))
        cells, peer_best, peer_cpu = [], None, None
        for i in impls:
            r = by.get((p, i))
            if r is None or "median_s" not in r:
                cells.append("n/a" if r is None else "fails")
                continue
            cpu = f", CPU {r['cpu_s'] * 1e3:.3g} ms" if "cpu_s" in r else ""
            cells.append(f"{r['median_s'] * 1e3:.3g} ms, {r['gflops']:.3g} GF/s{cpu}")
            if not i.startswith("theanir") and (peer_best is None or r["median_s"] < peer_best):
                peer_best = r["median_s"]
            if not i.startswith("theanir") and "cpu_s" in r and (peer_cpu is None or r["cpu_s"] < peer_cpu):
                peer_cpu = r["cpu_s"]
        ratio = f"{peer_best / ours['median_s']:.2f}x" if ours and "median_s" in ours and peer_best else "n/a"
        cpu_ratio = f"{peer_cpu / ours['cpu_s']:.2f}x" if ours and "cpu_s" in ours and peer_cpu else "n/a"
        out.append(f"| {p} | " + " | ".join(cells) + f" | {ratio} | {cpu_ratio} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peers", default="all")
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--results", default=RESULTS)
    args = ap.parse_args()
    peers = ["scipy", "torch", "jax"] if args.peers == "all" else \
        [] if args.peers == "none" else args.peers.split(",")
    if args.child:
        _pin(args.child)
        if args.child > 1:
            import theanir as th
            th.config.openmp = True
        run(peers, args.rounds, args.child)
        return
    rows = []
    for n in args.threads:
        cmd = [sys.executable, __file__, "--child", str(n), "--rounds", str(args.rounds), "--peers", ",".join(peers) or "none"]
        out = subprocess.run(cmd, capture_output=True, text=True)
        sys.stderr.write(out.stderr)
        rows += [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    env = _env()
    os.makedirs(args.results, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    with open(os.path.join(args.results, "sparse.jsonl"), "a") as f:
        for r in rows:
            f.write(json.dumps({**r, "time": stamp, "env": env}) + "\n")
    table = markdown(rows)
    with open(os.path.join(args.results, "sparse.md"), "w") as f:
        f.write(f"# bench/sparse.py ({stamp}, float64, 10^4 x 10^4 at 0.1%; a busy shared machine: "
                f"noisy)\n\n{table}\nCPU: {env.get('cpus')} cpus, {' '.join(env.get('cpu_flags', []))}\n")
    print(table)


if __name__ == "__main__":
    main()
