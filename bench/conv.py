"""The LeNet-5 training step (issue 19): theanir vs PyTorch (eager, torch.compile), JAX, PyTensor.

The network of examples/lenet.py in float32: conv 20 5x5 -> max-pool 2x2 -> +b, tanh -> conv
50 5x5 -> max-pool 2x2 -> +b, tanh -> 800-500 tanh -> 500-10 softmax cross-entropy on int
labels, plain SGD (lr 0.1), batch 500 of 28x28 images (random data: the speed does not
depend on it). One step = forward, gradients of all 8 parameters, the update.

  theanir jit        th.jit of the whole step (params in, new params out, donated)
  theanir function   Theano style: th.shared params, th.function([x, y], loss, updates=...)
  torch              PyTorch eager: torch.autograd.grad + in-place updates under no_grad
  torch.compile      torch.compile of the same step function
  jax                jax.jit of the step with donate_argnums
  pytensor           pytensor.function with updates (default mode), where PyTensor still has
                     Theano's conv2d and pool_2d (PyTensor 3.0.7 has neither: skipped)

All run in this process with one thread (OMP/OpenBLAS/MKL/XLA variables set before any import,
torch.set_num_threads(1), the process pinned to one CPU). Every implementation starts from the
same parameters and minibatch, and its first loss is checked against theanir's (rel. 1e-3).
Timing: the first call (compile included) is compile_s; then `--rounds` rounds, each running
every implementation in turn (rotated order) for ~`--round-s` seconds; the median round counts.

    python bench/conv.py [--quick] [--peers all|none|torch,jax,...] [--profile]
    python bench/conv.py --threads 1 2     # scaling: theanir jit at each th.config.threads

`--threads 1 2`: only the theanir jit step, once per thread count (config.threads set before
each call: OpenBLAS's pool and the OpenMP loops that count was compiled for), interleaved
in rounds like the peers; no pinning, no thread variables; rows go to conv_threads.jsonl.

Writes bench/results/conv.jsonl (JSON lines, appended) and conv.md (full runs only).
"""
from __future__ import annotations

import os

import sys  # noqa: E402

if "--threads" not in sys.argv:  # the scaling run sets th.config.threads itself
    for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "THEANIR_THREADS"):
        os.environ[_v] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
BATCH, LR = 500, 0.1
SHAPES = [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (800, 500), (500,), (500, 10), (10,)]
PEERS = ("torch", "torch.compile", "jax", "pytensor")


def init_params(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for s in SHAPES:
        fan_in = int(np.prod(s[1:])) if len(s) == 4 else s[0]
        out.append((rng.uniform(-1, 1, s) / np.sqrt(fan_in) if len(s) > 1 else np.zeros(s)).astype(np.float32))
    return out


def data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH).astype(np.int32)


# ------------------------------------------------------------------ implementations
def theanir_jit(params, x, y):
    import theanir as th
    from theanir.tensor.nnet import conv2d
    from theanir.tensor.signal import pool

    def loss(ps, x, y):
        w0, b0, w1, b1, w2, b2, w3, b3 = ps
        h = th.tanh(pool.pool_2d(conv2d(x, w0, filter_flip=False), (2, 2), ignore_border=True) + b0[:, None, None])
        h = th.tanh(pool.pool_2d(conv2d(h, w1, filter_flip=False), (2, 2), ignore_border=True) + b1[:, None, None])
        h = th.tanh(h.reshape((BATCH, 800)) @ w2 + b2)
        logp = th.log_softmax(h @ w3 + b3, axis=-1)
        return -th.mean(logp[th.arange(BATCH), y])

    @th.jit(donate_argnums=0)
    def step(ps, x, y):
        value, grads = th.value_and_grad(loss)(ps, x, y)
        return [p - LR * g for p, g in zip(ps, grads)], value

    state = {"ps": [p.copy() for p in params]}

    def run():
        state["ps"], value = step(state["ps"], x, y)
        return value
    return run, lambda v: float(np.asarray(v))


def theanir_function(params, x, y):
    import theanir as theano
    import theanir.tensor as T
    from theanir.tensor.nnet import conv2d
    from theanir.tensor.signal import pool

    ps = [theano.shared(p) for p in params]
    w0, b0, w1, b1, w2, b2, w3, b3 = ps
    X, Y = T.tensor4("x", dtype="float32"), T.ivector("y")
    h = T.tanh(pool.pool_2d(conv2d(X, w0, filter_flip=False), (2, 2), ignore_border=True) + b0.dimshuffle("x", 0, "x", "x"))
    h = T.tanh(pool.pool_2d(conv2d(h, w1, filter_flip=False), (2, 2), ignore_border=True) + b1.dimshuffle("x", 0, "x", "x"))
    h = T.tanh(T.dot(h.flatten(2), w2) + b2)
    p = T.nnet.softmax(T.dot(h, w3) + b3)
    cost = -T.mean(T.log(p)[T.arange(Y.shape[0]), Y])
    f = theano.function([X, Y], cost, updates=[(q, q - LR * g) for q, g in zip(ps, T.grad(cost, ps))])
    return (lambda: f(x, y)), float


def torch_impl(params, x, y, compiled: bool = False):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()

    def loss(ps):
        w0, b0, w1, b1, w2, b2, w3, b3 = ps
        h = torch.tanh(F.max_pool2d(F.conv2d(xt, w0), 2) + b0[:, None, None])
        h = torch.tanh(F.max_pool2d(F.conv2d(h, w1), 2) + b1[:, None, None])
        h = torch.tanh(h.reshape(BATCH, 800) @ w2 + b2)
        return F.cross_entropy(h @ w3 + b3, yt)

    def step():
        value = loss(ps)
        grads = torch.autograd.grad(value, ps)
        with torch.no_grad():
            torch._foreach_add_(ps, grads, alpha=-LR)
        return value.detach()

    run = torch.compile(step) if compiled else step
    return run, lambda v: float(v)


def jax_impl(params, x, y):
    import jax
    import jax.numpy as jnp

    def loss(ps, x, y):
        w0, b0, w1, b1, w2, b2, w3, b3 = ps

        def conv_pool(h, w, b):
            h = jax.lax.conv_general_dilated(h, w, (1, 1), "VALID")
            h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            return jnp.tanh(h + b[:, None, None])
        h = conv_pool(conv_pool(x, w0, b0), w1, b1)
        h = jnp.tanh(h.reshape(BATCH, 800) @ w2 + b2)
        logp = jax.nn.log_softmax(h @ w3 + b3)
        return -jnp.mean(logp[jnp.arange(BATCH), y])

    @jax.jit
    def step(ps, x, y):
        value, grads = jax.value_and_grad(loss)(ps, x, y)
        return [p - LR * g for p, g in zip(ps, grads)], value
    step = jax.jit(step, donate_argnums=0)
    state = {"ps": [jnp.asarray(p) for p in params]}
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def run():
        state["ps"], value = step(state["ps"], xj, yj)
        return value
    return run, lambda v: float(v.block_until_ready())


def pytensor_impl(params, x, y):
    import pytensor
    import pytensor.tensor as pt
    try:
        from pytensor.tensor.conv import conv2d
        from pytensor.tensor.signal.pool import pool_2d
    except ImportError:  # PyTensor 3 dropped Theano's NN conv2d and pooling
        raise ImportError(f"PyTensor {pytensor.__version__} has no tensor.conv.conv2d / signal.pool.pool_2d "
                          "(only signal.convolve2d, one scipy call per 2-D image)") from None

    ps = [pytensor.shared(p) for p in params]
    w0, b0, w1, b1, w2, b2, w3, b3 = ps
    X, Y = pt.tensor4("x", dtype="float32"), pt.ivector("y")
    h = pt.tanh(pool_2d(conv2d(X, w0, filter_flip=False), (2, 2), ignore_border=True) + b0.dimshuffle("x", 0, "x", "x"))
    h = pt.tanh(pool_2d(conv2d(h, w1, filter_flip=False), (2, 2), ignore_border=True) + b1.dimshuffle("x", 0, "x", "x"))
    h = pt.tanh(pt.dot(h.flatten(2), w2) + b2)
    logp = pt.special.log_softmax(pt.dot(h, w3) + b3, axis=-1)
    cost = -pt.mean(logp[pt.arange(Y.shape[0]), Y])
    f = pytensor.function([X, Y], cost, updates=[(q, q - np.float32(LR) * g) for q, g in zip(ps, pytensor.grad(cost, ps))])
    return (lambda: f(x, y)), float


IMPLS: dict[str, Callable] = {
    "theanir jit": theanir_jit, "theanir function": theanir_function, "torch": torch_impl,
    "torch.compile": lambda *a: torch_impl(*a, compiled=True), "jax": jax_impl, "pytensor": pytensor_impl,
}


# ------------------------------------------------------------------ lowering choice per shape
def lowerings(rounds: int) -> list[dict[str, Any]]:
    """tn.conv2d at LeNet's shapes (and a tiny one) through both lowerings: the named
    linalg.conv_2d_nchw_fchw loops vs im2col + GEMM (dialects/tn/ops/conv.py `use_gemm`)."""
    import theanir as th
    from theanir.dialects.tn.builder import emit1
    from theanir.dialects.tn.ops import conv as conv_ops

    attrs = {"strides": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1)}
    rng = np.random.default_rng(0)
    shapes = {"conv1 500x1x28x28 * 20x1x5x5": ((BATCH, 1, 28, 28), (20, 1, 5, 5)),
              "conv2 500x20x12x12 * 50x20x5x5": ((BATCH, 20, 12, 12), (50, 20, 5, 5)),
              "tiny 1x1x6x6 * 1x1x3x3": ((1, 1, 6, 6), (1, 1, 3, 3)),
              "small 4x3x8x8 * 4x3x3x3": ((4, 3, 8, 8), (4, 3, 3, 3))}
    out = []
    saved = conv_ops.GEMM_FROM_MACS
    try:
        for label, (xs, ws) in shapes.items():
            x, w = rng.random(xs, dtype=np.float32), rng.random(ws, dtype=np.float32)
            for route, threshold in (("named conv loops", 1 << 62), ("im2col + GEMM", 0)):
                conv_ops.GEMM_FROM_MACS = threshold
                f = th.jit(lambda x, w: th.Tensor(emit1("tn.conv2d", [th.as_tensor(x).value, th.as_tensor(w).value],
                                                        attrs)))
                np.asarray(f(x, w))
                ts = []
                for _ in range(rounds):
                    n, t0 = 0, time.perf_counter()
                    while n < 3 or time.perf_counter() - t0 < 0.3:
                        np.asarray(f(x, w))
                        n += 1
                    ts.append((time.perf_counter() - t0) / n)
                out.append({"shape": label, "route": route, "ms": statistics.median(ts) * 1e3})
                print(f"{label}: {route} {out[-1]['ms']:.3f} ms", file=sys.stderr, flush=True)
    finally:
        conv_ops.GEMM_FROM_MACS = saved
    return out


# ------------------------------------------------------------------ the run
def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": len(os.sched_getaffinity(0))}
    try:
        flags = next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split()
        info["cpu_flags"] = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512_bf16") if f in flags]
        info["cpu"] = next(l for l in open("/proc/cpuinfo") if l.startswith("model name")).split(":")[1].strip()
    except (OSError, StopIteration):
        pass
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                        for d in threadpool_info()]
    except ImportError:
        pass
    info["load"] = os.getloadavg()
    info["env"] = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds of 1 s")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--round-s", type=float, default=3.0)
    ap.add_argument("--peers", default="all")
    ap.add_argument("--only", default="", help="comma-separated implementation names")
    ap.add_argument("--results", default=None)
    ap.add_argument("--lowerings", action="store_true", help="also time both conv lowerings per shape")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="scaling: the theanir jit step at each of these th.config.threads values")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.round_s = 2, 1.0
    if args.threads:
        return threads_main(args)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    peers = PEERS if args.peers == "all" else () if args.peers == "none" else tuple(args.peers.split(","))
    names = [n for n in IMPLS if n.startswith("theanir") or n in peers]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    choice = lowerings(args.rounds) if args.lowerings else []
    params, (x, y) = init_params(), data()
    runs: dict[str, tuple[Callable, Callable]] = {}
    rows: dict[str, dict[str, Any]] = {}
    ref = None
    for name in names:
        try:
            run, value = IMPLS[name]([p.copy() for p in params], x, y)
        except ImportError as e:
            print(f"{name}: skipped ({e})", file=sys.stderr)
            continue
        t = time.perf_counter()
        first = value(run())
        compile_s = time.perf_counter() - t
        ref = first if ref is None else ref
        if abs(first - ref) > 1e-3 * abs(ref):
            raise SystemExit(f"{name}: first loss {first} differs from {ref}")
        runs[name] = (run, value)
        rows[name] = {"impl": name, "compile_s": compile_s, "first_loss": first, "rounds": []}
        print(f"{name}: first loss {first:.6f}, first call {compile_s:.2f} s", file=sys.stderr, flush=True)
    order = list(runs)
    for r in range(args.rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            run, value = runs[name]
            n, t0 = 0, time.perf_counter()
            while True:
                v = run()
                n += 1
                if time.perf_counter() - t0 > args.round_s:
                    break
            value(v)
            rows[name]["rounds"].append((time.perf_counter() - t0) / n)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    info = machine()
    for row in rows.values():
        row.update(step_ms=statistics.median(row["rounds"]) * 1e3, best_ms=min(row["rounds"]) * 1e3,
                   threads=1, batch=BATCH, time=stamp, machine=info)
    fastest_peer = min((r["step_ms"] for n, r in rows.items() if not n.startswith("theanir")), default=None)
    lines = ["| implementation | step (ms, median) | best (ms) | first call (s) | vs fastest peer |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["step_ms"]):
        ratio = f"{fastest_peer / r['step_ms']:.2f}x" if fastest_peer else ""
        lines.append(f"| {name} | {r['step_ms']:.1f} | {r['best_ms']:.1f} | {r['compile_s']:.2f} | {ratio} |")
    table = "\n".join(lines)
    if choice:
        table += ("\n\ntn.conv2d alone, per lowering (ms, median):\n\n| shape | named conv loops | im2col + GEMM |\n"
                  "| --- | ---: | ---: |\n")
        for label in dict.fromkeys(c["shape"] for c in choice):
            ms = {c["route"]: c["ms"] for c in choice if c["shape"] == label}
            table += f"| {label} | {ms['named conv loops']:.3f} | {ms['im2col + GEMM']:.3f} |\n"
    print(table)
    out = args.results or (None if args.quick else RESULTS)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "conv.jsonl"), "a") as f:
            for r in rows.values():
                f.write(json.dumps(r) + "\n")
            for c in choice:
                f.write(json.dumps({**c, "kind": "lowering", "time": stamp, "threads": 1}) + "\n")
        with open(os.path.join(out, "conv.md"), "w") as f:
            f.write(f"# LeNet-5 training step, batch {BATCH}, float32, 1 thread ({stamp})\n\n"
                    f"Machine: {info.get('cpu')}, {info.get('cpu_flags')}, load {info['load']}\n"
                    f"BLAS: {info.get('blas')}\n\n{table}\n\n"
                    "'vs fastest peer' > 1 means theanir is faster. The machine is shared: figures are noisy.\n")


def threads_main(args: argparse.Namespace) -> None:
    """The theanir jit step at each thread count, interleaved rounds; speedups vs the first."""
    import theanir as th

    params, (x, y) = init_params(), data()
    runs: dict[int, Callable] = {}
    rows: dict[int, dict[str, Any]] = {}
    for k in args.threads:
        th.config.threads = k
        run, value = theanir_jit([p.copy() for p in params], x, y)

        def call(run: Callable = run, k: int = k) -> Any:
            th.config.threads = k
            return run()
        t = time.perf_counter()
        first = value(call())
        rows[k] = {"impl": "theanir jit", "threads": k, "compile_s": time.perf_counter() - t, "first_loss": first,
                   "rounds": []}
        runs[k] = lambda call=call, value=value: value(call())
    load = [os.getloadavg()[0]]
    order = list(runs)
    for r in range(args.rounds):
        for k in order[r % len(order):] + order[:r % len(order)]:
            n, t0 = 0, time.perf_counter()
            while True:
                runs[k]()  # to its result: the step's loss read back
                n += 1
                if time.perf_counter() - t0 > args.round_s:
                    break
            rows[k]["rounds"].append((time.perf_counter() - t0) / n)
    load.append(os.getloadavg()[0])
    stamp, info = time.strftime("%Y-%m-%dT%H:%M:%S"), machine()
    base = statistics.median(rows[order[0]]["rounds"])
    lines = ["| threads | step (ms, median) | best (ms) | speedup (median) |", "| ---: | ---: | ---: | ---: |"]
    for k, row in rows.items():
        med = statistics.median(row["rounds"])
        row.update(step_ms=med * 1e3, best_ms=min(row["rounds"]) * 1e3, speedup=base / med, batch=BATCH,
                   time=stamp, loadavg_1min=load, machine=info)
        lines.append(f"| {k} | {row['step_ms']:.1f} | {row['best_ms']:.1f} | {row['speedup']:.2f}x |")
    print("\n".join(lines))
    out = args.results or (None if args.quick else RESULTS)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "conv_threads.jsonl"), "a") as f:
            for row in rows.values():
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
