"""SGD training throughput of three networks, the Theano paper's Figure 1: theanir vs peers.

Networks (float32, tanh hidden layers, softmax cross-entropy on int labels, plain SGD with
lr 0.01, random data of MNIST's shape): logistic regression 784->10, an MLP 784-500-10 and a
deep MLP 784-1000-1000-1000-10; batch sizes 1, 10 and 60; examples per second in steady state.

  theanir jit           th.jit of the whole step (params in, new params out, the params
                        donated: donate_argnums, as for JAX), plain call
  theanir trust_input   the same with th.jit(..., trust_input=True)
  theanir function      Theano style: th.shared params, th.function([x, y], loss, updates=...):
                        one compile per input types (the batch dim is dynamic, issue 16)
  theanir function static  the same with th.function(..., dynamic_shapes=False): compiled per
                        shape; the two rows give the cost of dynamic dims (target <= 10%)
  theanir run           f.run(n_calls=N) of a function without inputs: the minibatch is taken
                        from a shared dataset by a shared index that the updates increment
  numpy                 hand-written forward/backward, in-place updates
  torch                 PyTorch eager, torch.autograd.grad + torch._foreach_add_ under no_grad
  torch.compile         torch.compile(fullgraph=True) of the whole step (torch.func.grad_and_value)
  jax                   jax.jit of the whole step with donate_argnums
  pytensor              pytensor.function with updates (default mode), trust_input=True

Each peer runs only if it imports (`--peers none`: theanir and NumPy only). All start from the
same initial parameters and minibatches; the first two steps' losses are checked against a
float64 NumPy reference (rel. 1e-4) before timing. Every thread count runs in its own child
process pinned to that many CPUs (JAX ignores its thread flags), with OMP/OpenBLAS/MKL/THEANIR
thread variables, torch.set_num_threads and XLA flags set before any import; with `--alternate N`
the counts' children run N times in turn (1, 2, 1, 2, ...), each with 1/N of the rounds, and a
count's figures are the median (and best) of all its rounds: the speed of a shared host drifts
by tens of percent over a minute, and counts timed one after the other took the drift as
scaling. Timing: after warm-up (the first call's time, compile included, is reported
as compile_s), `--rounds` rounds; each round runs every implementation in turn (rotated order)
for ~`--round-s` seconds and forces the result at the end (theanir/JAX block on the last loss).
Tables use the median round; JSON rows also hold the best.

    python bench/mlp.py [--threads 1 2] [--alternate N] [--quick] [--peers all|none|torch,jax,...]

Writes bench/results/mlp.json (JSON lines), mlp.md and mlp.png (full runs; `--quick` writes
only with an explicit `--results DIR`).
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
import warnings
from typing import Any, Callable, NamedTuple

import numpy as np

NETWORKS = {"logreg": (784, 10), "mlp": (784, 500, 10), "deep": (784, 1000, 1000, 1000, 10)}
TITLES = {"logreg": "logistic regression 784-10", "mlp": "MLP 784-500-10",
          "deep": "deep MLP 784-1000-1000-1000-10"}
LR = 0.01
N_BATCHES = 8  # distinct minibatches cycled through (theanir run: a shared dataset of them)
PEERS = ("torch", "torch.compile", "jax", "pytensor")
THEANIR = ("theanir jit", "theanir trust_input", "theanir function", "theanir function static", "theanir run")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


class Runner(NamedTuple):
    """One implementation on one problem: `run(n)` does n more SGD steps and returns the last
    loss as a float (which forces asynchronous work); losses are those of the first two steps."""
    losses: list[float]
    compile_s: float
    run: Callable[[int], float]


class Problem(NamedTuple):
    sizes: tuple[int, ...]
    batch: int
    params: list[np.ndarray]  # [w0, b0, w1, b1, ...], float32
    xs: list[np.ndarray]      # N_BATCHES minibatches (batch, 784) float32, read-only
    ys: list[np.ndarray]      # (batch,) int64 labels


def make_problem(sizes: tuple[int, ...], batch: int, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(6.0 / (a + b))  # Glorot uniform, as the Theano tutorials
        params += [rng.uniform(-bound, bound, (a, b)).astype(np.float32), np.zeros(b, np.float32)]
    xs = [rng.random((batch, sizes[0]), dtype=np.float32) for _ in range(N_BATCHES)]
    ys = [rng.integers(0, sizes[-1], batch).astype(np.int64) for _ in range(N_BATCHES)]
    for a in xs + ys:
        a.setflags(write=False)  # the data set is constant: no framework needs a defensive copy
    return Problem(tuple(sizes), batch, params, xs, ys)


def _runner(run: Callable[[int], float]) -> Runner:
    """Two first steps (the first one's time, compile included, is compile_s)."""
    t = time.perf_counter()
    loss = run(1)
    return Runner([loss, run(1)], time.perf_counter() - t, run)


# ----------------------------------------------------------------------------- NumPy

def numpy_losses_f64(p: Problem, steps: int = 2) -> list[float]:
    """The reference: the same SGD steps in float64."""
    ps = [a.astype(np.float64) for a in p.params]
    return [_numpy_step(ps, p.xs[i].astype(np.float64), p.ys[i]) for i in range(steps)]


def _numpy_step(ps: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    n, hs = len(ps) // 2, [x]
    for i in range(n - 1):
        hs.append(np.tanh(hs[-1] @ ps[2 * i] + ps[2 * i + 1]))
    z = hs[-1] @ ps[-2] + ps[-1]
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(len(y))
    loss = float(np.mean(np.log(s[:, 0]) - z[rows, y]))
    d = e / s  # dloss/dz = (softmax - onehot) / batch
    d[rows, y] -= 1
    d /= len(y)
    for i in range(n - 1, -1, -1):
        w, h = ps[2 * i], hs[i]
        dh = (d @ w.T) * (1 - h * h) if i else None
        w -= LR * (h.T @ d)
        ps[2 * i + 1] -= LR * d.sum(axis=0)
        d = dh
    return loss


def build_numpy(p: Problem) -> Runner:
    ps = [a.copy() for a in p.params]
    state = {"i": 0}

    def run(n: int) -> float:
        i, loss = state["i"], 0.0
        for k in range(i, i + n):
            loss = _numpy_step(ps, p.xs[k % N_BATCHES], p.ys[k % N_BATCHES])
        state["i"] = i + n
        return loss

    return _runner(run)


# ----------------------------------------------------------------------------- theanir

def _th_step(n_layers: int) -> Callable:
    import theanir as th

    def loss_fn(ps: list, x: Any, y: Any) -> Any:
        h = x
        for i in range(n_layers):
            z = h @ ps[2 * i] + ps[2 * i + 1]
            h = th.tanh(z) if i < n_layers - 1 else z
        return th.mean(th.logsoftmax_crossentropy(h, y))

    def step(x: Any, y: Any, *ps: Any) -> tuple:
        # Flat positional arguments and results: warm calls take the runtime's FastCache path
        # (a list of params is a pytree, which goes through the full Python signature).
        loss, grads = th.value_and_grad(loss_fn)(list(ps), x, y)
        return (loss, *[w - LR * g for w, g in zip(ps, grads)])

    return step


def build_theanir_jit(p: Problem, trust_input: bool) -> Runner:
    import theanir as th
    n_params = 2 * (len(p.sizes) - 1)
    f = th.jit(_th_step(len(p.sizes) - 1), trust_input=trust_input,
               donate_argnums=tuple(range(2, 2 + n_params)))  # step(x, y, *params)
    state: dict[str, Any] = {"ps": [a.copy() for a in p.params], "i": 0}

    def run(n: int) -> float:
        ps, i, out = state["ps"], state["i"], None
        for k in range(i, i + n):
            out = f(p.xs[k % N_BATCHES], p.ys[k % N_BATCHES], *ps)
            ps = out[1:]
        state["ps"], state["i"] = ps, i + n
        return float(out[0])  # waits for the last step

    return _runner(run)


def _cycling_minibatches(f: Callable, p: Problem) -> Callable[[int], float]:
    """`run(n)` for a compiled step `f(x, y) -> loss` whose updates hold the parameters: n
    calls on the problem's minibatches in turn, then the last loss as a float."""
    state = {"i": 0}

    def run(n: int) -> float:
        i, out = state["i"], None
        for k in range(i, i + n):
            out = f(p.xs[k % N_BATCHES], p.ys[k % N_BATCHES])
        state["i"] = i + n
        return float(out)

    return run


def _th_symbolic_loss(h: Any, y: Any, shared: list) -> Any:
    import theanir.tensor as T
    n = len(shared) // 2
    for i in range(n):
        z = T.dot(h, shared[2 * i]) + shared[2 * i + 1]
        h = T.tanh(z) if i < n - 1 else z
    return T.mean(T.logsoftmax_crossentropy(h, y))


def build_theanir_function(p: Problem, dynamic_shapes: bool = True) -> Runner:
    """th.function: one compile per input types (dynamic batch dim); `dynamic_shapes=False`
    (the "static" row) compiles per shape, so the two rows measure what dynamic dims cost."""
    import theanir as th
    import theanir.tensor as T
    shared = [th.shared(a.copy(), name=f"p{i}") for i, a in enumerate(p.params)]
    x, y = T.fmatrix("x"), T.lvector("y")
    loss = _th_symbolic_loss(x, y, shared)
    grads = T.grad(loss, shared)
    f = th.function([x, y], loss, updates=[(s, s - LR * g) for s, g in zip(shared, grads)],
                    dynamic_shapes=dynamic_shapes)
    out = _runner(_cycling_minibatches(f, p))  # the first call compiles
    if dynamic_shapes and not f.dynamic_shapes:
        raise RuntimeError(f"theanir function: compiled per shape ({f.dynamic_error})")
    return out


def build_theanir_run(p: Problem) -> Runner:
    """All inputs shared: minibatch `idx % N_BATCHES` of a shared dataset, idx += 1 per step."""
    import theanir as th
    import theanir.tensor as T
    shared = [th.shared(a.copy(), name=f"p{i}") for i, a in enumerate(p.params)]
    data_x = th.shared(np.concatenate(p.xs), name="data_x")
    data_y = th.shared(np.concatenate(p.ys), name="data_y")
    index = th.shared(np.int64(0), name="index")
    rows = (index % N_BATCHES) * p.batch + T.arange(p.batch)
    loss = _th_symbolic_loss(T.take(data_x, rows, axis=0), T.take(data_y, rows, axis=0), shared)
    grads = T.grad(loss, shared)
    updates = [(s, s - LR * g) for s, g in zip(shared, grads)] + [(index, index + 1)]
    f = th.function([], loss, updates=updates)
    return _runner(lambda n: float(f.run(n_calls=n)))


# ----------------------------------------------------------------------------- peers

def build_torch(p: Problem, compiled: bool) -> Runner:
    import torch
    import torch.nn.functional as F
    n_layers = len(p.sizes) - 1
    xs = [torch.from_numpy(np.array(a)) for a in p.xs]
    ys = [torch.from_numpy(np.array(a)) for a in p.ys]

    def loss_fn(ps: list, x: Any, y: Any) -> Any:
        h = x
        for i in range(n_layers):
            z = torch.addmm(ps[2 * i + 1], h, ps[2 * i])
            h = torch.tanh(z) if i < n_layers - 1 else z
        return F.cross_entropy(h, y)

    if compiled:
        from torch.func import grad_and_value
        torch._dynamo.reset()  # each configuration compiles its own static-shape graph

        def step_fn(ps: list, x: Any, y: Any) -> tuple:
            grads, loss = grad_and_value(loss_fn)(ps, x, y)
            return loss, [w - LR * g for w, g in zip(ps, grads)]

        step = torch.compile(step_fn, fullgraph=True, dynamic=False)
        state: dict[str, Any] = {"ps": [torch.from_numpy(a.copy()) for a in p.params], "i": 0}

        def run(n: int) -> float:
            ps, i, loss = state["ps"], state["i"], None
            for k in range(i, i + n):
                loss, ps = step(ps, xs[k % N_BATCHES], ys[k % N_BATCHES])
            state["ps"], state["i"] = ps, i + n
            return float(loss)
    else:
        params = [torch.from_numpy(a.copy()).requires_grad_() for a in p.params]
        state = {"i": 0}

        def run(n: int) -> float:
            i, loss = state["i"], None
            for k in range(i, i + n):
                loss = loss_fn(params, xs[k % N_BATCHES], ys[k % N_BATCHES])
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    torch._foreach_add_(params, grads, alpha=-LR)
            state["i"] = i + n
            return float(loss)

    return _runner(run)


def build_jax(p: Problem) -> Runner:
    import jax
    import jax.numpy as jnp
    n_layers = len(p.sizes) - 1
    xs, ys = [jax.device_put(a) for a in p.xs], [jax.device_put(a) for a in p.ys]

    def loss_fn(ps: tuple, x: Any, y: Any) -> Any:
        h = x
        for i in range(n_layers):
            z = h @ ps[2 * i] + ps[2 * i + 1]
            h = jnp.tanh(z) if i < n_layers - 1 else z
        logp = jax.nn.log_softmax(h, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def step_fn(ps: tuple, x: Any, y: Any) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(ps, x, y)
        return loss, tuple(w - LR * g for w, g in zip(ps, grads))

    step = jax.jit(step_fn, donate_argnums=0)
    state: dict[str, Any] = {"ps": tuple(jax.device_put(a.copy()) for a in p.params), "i": 0}

    def run(n: int) -> float:
        ps, i, loss = state["ps"], state["i"], None
        for k in range(i, i + n):
            loss, ps = step(ps, xs[k % N_BATCHES], ys[k % N_BATCHES])
        state["ps"], state["i"] = ps, i + n
        return float(loss.block_until_ready())

    return _runner(run)


def build_pytensor(p: Problem) -> Runner:
    import pytensor
    import pytensor.tensor as pt
    shared = [pytensor.shared(a.copy()) for a in p.params]
    x, y = pt.fmatrix("x"), pt.lvector("y")
    h, n = x, len(shared) // 2
    for i in range(n):
        z = pt.dot(h, shared[2 * i]) + shared[2 * i + 1]
        h = pt.tanh(z) if i < n - 1 else z
    logp = pt.special.log_softmax(h, axis=1)
    loss = -pt.mean(logp[pt.arange(y.shape[0]), y])
    grads = pytensor.grad(loss, shared)
    f = pytensor.function([x, y], loss, updates=[(s, s - np.float32(LR) * g) for s, g in zip(shared, grads)],
                          trust_input=True)
    return _runner(_cycling_minibatches(f, p))


BUILDERS: dict[str, Callable[[Problem], Runner]] = {
    "theanir jit": lambda p: build_theanir_jit(p, False),
    "theanir trust_input": lambda p: build_theanir_jit(p, True),
    "theanir function": build_theanir_function,
    "theanir function static": lambda p: build_theanir_function(p, dynamic_shapes=False),
    "theanir run": build_theanir_run,
    "numpy": build_numpy,
    "torch": lambda p: build_torch(p, False),
    "torch.compile": lambda p: build_torch(p, True),
    "jax": build_jax,
    "pytensor": build_pytensor,
}


# ----------------------------------------------------------------------------- the child

def versions(names: list[str]) -> dict[str, str]:
    import importlib
    out: dict[str, Any] = {"numpy": np.__version__, "python": platform.python_version()}
    for mod in ("theanir", "torch", "jax", "pytensor"):
        if any(n.startswith(mod) for n in names):
            out[mod] = importlib.import_module(mod).__version__
    if "pytensor" in names:
        import pytensor
        from pytensor.compile.mode import get_default_mode
        out["pytensor_linker"] = type(get_default_mode().linker).__name__
    import theanir as th
    out["theanir_config"] = {k: v for k, v in vars(th.config).items() if k not in ("cache_dir",)}
    return out


def available(peers: list[str]) -> tuple[list[str], dict[str, str]]:
    """The implementations to run and, for each peer left out, why."""
    names, skipped = list(THEANIR) + ["numpy"], {}
    modules = {"torch": "torch", "torch.compile": "torch", "jax": "jax", "pytensor": "pytensor"}
    for peer in peers:
        try:
            __import__(modules[peer])
            names.append(peer)
        except Exception as e:  # noqa: BLE001 (a broken install is as good as a missing one)
            skipped[peer] = f"import {modules[peer]}: {type(e).__name__}: {e}"
    return names, skipped


def calibrate(run: Callable[[int], float], round_s: float) -> int:
    """Steps per round: ~round_s seconds, from timed probes of at least 0.1 s (or round_s / 2 if
    less) each, the fastest of three. A single 20 ms probe once gave the deep MLP's first
    variant, calibrated right after its compile, 36 steps per 0.5 s round against ~100 for
    the others: its short rounds paid the round's start and final read-back three times as
    often, and its 2-thread figure came out 5-15% below theirs in every run."""
    n, probe = 1, min(0.1, round_s / 2)
    while True:
        t = time.perf_counter()
        run(n)
        dt = time.perf_counter() - t
        if dt > probe or n >= 4096:
            break
        n *= 2
    for _ in range(2):
        t = time.perf_counter()
        run(n)
        dt = min(dt, time.perf_counter() - t)
    return max(1, int(round_s / (dt / n)))


def bench_config(net: str, batch: int, names: list[str], args: argparse.Namespace,
                 emit: Callable[[dict], None]) -> None:
    p = make_problem(NETWORKS[net], batch)
    ref = numpy_losses_f64(p)
    runners, steps, base = {}, {}, {"bench": "mlp", "network": net, "batch": batch, "threads": args.child}
    for name in names:
        try:
            r = BUILDERS[name](p)
        except Exception as e:  # noqa: BLE001 (e.g. torch.compile without a working toolchain)
            emit({**base, "framework": name, "error": f"{type(e).__name__}: {str(e)[:500]}"})
            continue
        rel = max(abs(a - b) / abs(b) for a, b in zip(r.losses, ref))
        if rel > 1e-4:
            print(f"mlp.py: {name} {net} batch {batch}: losses {r.losses} vs reference {ref}",
                  file=sys.stderr)
        runners[name] = (r, rel)
    for name, (r, _) in runners.items():  # once all are compiled and warm
        steps[name] = calibrate(r.run, args.round_s)
    samples: dict[str, list[float]] = {n: [] for n in runners}
    first_loss = {n: r.run(1) for n, (r, _) in runners.items()}
    order = list(runners)
    for rnd in range(args.rounds):
        for name in order[rnd % len(order):] + order[:rnd % len(order)]:
            if args.child > 1:
                # let the spinning BLAS/OpenMP pools of the last one go idle: before every
                # round, the first included (it followed the first_loss calls at once, which
                # end with NumPy's 2-thread BLAS)
                time.sleep(0.1)
            t = time.perf_counter()
            runners[name][0].run(steps[name])
            samples[name].append(steps[name] * batch / (time.perf_counter() - t))
    for name, (r, rel) in runners.items():
        emit({**base, "framework": name, "examples_per_s": round(statistics.median(samples[name]), 1),
              "best_examples_per_s": round(max(samples[name]), 1), "rounds": args.rounds,
              "samples": [round(v, 1) for v in samples[name]],
              "steps_per_round": steps[name], "compile_s": round(r.compile_s, 4),
              "loss_first_steps": [round(v, 6) for v in r.losses], "loss_reference": [round(v, 6) for v in ref],
              "loss_rel_err": float(f"{rel:.2e}"), "loss_ok": rel <= 1e-4,
              "loss_before_timing": round(first_loss[name], 5), "loss_after": round(r.run(1), 5)})


def child_main(args: argparse.Namespace) -> None:
    warnings.filterwarnings("ignore")
    if any(p.startswith("torch") for p in args.peer_list):
        try:
            import torch
            torch.set_num_threads(args.child)
        except Exception:  # noqa: BLE001 (available() reports it)
            pass
    names, skipped = available(args.peer_list)
    meta = {"bench": "mlp", "kind": "machine", "threads": args.child, **machine(), "versions": versions(names),
            "skipped": skipped, "theanir_run_data": "per-step minibatch: T.take from a shared dataset at a "
            "shared index incremented by the updates"}
    print(json.dumps(meta), flush=True)
    for net in args.networks:
        for batch in args.batches:
            bench_config(net, batch, names, args, lambda row: print(json.dumps(row), flush=True))


# ----------------------------------------------------------------------------- the parent

def describe(meta: dict[str, Any]) -> str:
    """One line for a results file: machine, versions, theanir's commit and settings."""
    vers = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if not isinstance(v, dict))
    cfg = meta["versions"].get("theanir_config", {})
    keys = ("opt_level", "optimizer", "blas", "threads", "sync", "allow_gc", "fast_math", "openmp")
    settings = ", ".join(f"{k}={cfg[k]}" for k in keys if k in cfg)
    git = f"theanir at {meta.get('git_head', '?')} (+{meta.get('git_changed_files', '?')} changed files)"
    return (f"{meta['cpu']}, {meta['cpus']} CPUs, load average {meta['load_average']} at the start; {vers}; "
            f"{git}; th.config: {settings}.")


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "machine": platform.machine(), "load_average": round(os.getloadavg()[0], 2), **git_state()}


def git_state() -> dict[str, Any]:
    """Which theanir is measured: its source directory and, for a git checkout, the commit and
    how many files outside bench/ differ from it; else $BENCH_THEANIR_REV (e.g. for an
    exported `git archive` of a commit)."""
    import importlib.util
    spec = importlib.util.find_spec("theanir.frontend")
    root = os.path.dirname(os.path.dirname(os.path.realpath(spec.origin))) if spec and spec.origin else ""
    out: dict[str, Any] = {"theanir_source": root}
    try:
        top = subprocess.run(["git", "-C", root, "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        if top and os.path.realpath(top) == root:
            head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
            status = subprocess.run(["git", "-C", root, "status", "--porcelain"], capture_output=True,
                                    text=True, timeout=10).stdout.splitlines()
            return {**out, "git_head": head, "git_changed_files": sum(1 for ln in status if " bench/" not in ln)}
    except (OSError, subprocess.SubprocessError):
        pass
    return {**out, "git_head": os.environ.get("BENCH_THEANIR_REV", "unknown"), "git_changed_files": 0}


def pin_cpus(n: int) -> None:
    """Confine this process (and the threads it starts later) to its first n allowed CPUs.

    Thread variables alone do not bound every peer: JAX's CPU client ignores
    `intra_op_parallelism_threads=1` and used 1.6 cores on the deep MLP, so an "n threads"
    row must also be an n-CPU affinity mask to compare like with like."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])


def thread_env(n: int) -> dict[str, str]:
    env = {k: str(n) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "THEANIR_THREADS", "NUMBA_NUM_THREADS")}
    xla = f"--xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} intra_op_parallelism_threads={n}"
    env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + xla).strip()
    return env


def run_child(threads: int, argv: list[str]) -> list[dict]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(threads)] + argv
    proc = subprocess.Popen(cmd, env={**os.environ, **thread_env(threads)}, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: pin_cpus(threads))
    rows = []
    for line in proc.stdout:
        print(line, end="", flush=True)
        rows.append(json.loads(line))
    if proc.wait() != 0:
        raise SystemExit(f"mlp.py: the {threads}-thread child failed (exit {proc.returncode})")
    return rows


def table(rows: list[dict], threads: int) -> str:
    rows = [r for r in rows if r.get("threads") == threads and "examples_per_s" in r]
    names = [n for n in BUILDERS if any(r["framework"] == n for r in rows)]
    peers = [n for n in names if not n.startswith("theanir")]
    head = "| network | batch | " + " | ".join(names) + " | theanir / fastest peer |"
    lines = [f"examples/s, {threads} thread{'s' if threads > 1 else ''}, median of rounds "
             f"(the ratio takes the fastest theanir variant)\n", head, "|---|---:|" + "---:|" * (len(names) + 1)]
    for net in NETWORKS:
        for batch in sorted({r["batch"] for r in rows if r["network"] == net}):
            cell = {r["framework"]: r for r in rows if r["network"] == net and r["batch"] == batch}
            vals = [f"{cell[n]['examples_per_s']:,.0f}" + ("" if cell[n]["loss_ok"] else " (loss!)")
                    if n in cell else "-" for n in names]
            ours = max((cell[n]["examples_per_s"], n) for n in cell if n.startswith("theanir"))
            best_peer = max((cell[n]["examples_per_s"], n) for n in cell if n in peers)
            ratio = f"{ours[0] / best_peer[0]:.2f} ({ours[1][8:]} / {best_peer[1]})"
            lines.append(f"| {net} | {batch} | " + " | ".join(vals) + f" | {ratio} |")
    return "\n".join(lines)


def chart(rows: list[dict], path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("mlp.py: matplotlib is not installed; no chart", file=sys.stderr)
        return
    rows = [r for r in rows if "examples_per_s" in r]
    threads = sorted({r["threads"] for r in rows})
    names = [n for n in BUILDERS if any(r["framework"] == n for r in rows)]
    fig, axes = plt.subplots(len(threads), len(NETWORKS), figsize=(5 * len(NETWORKS), 4 * len(threads)),
                             squeeze=False)
    ours = [n for n in names if n.startswith("theanir")]
    blues = plt.get_cmap("Blues")
    peer_colors = iter([c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 0])
    colors = {n: blues(0.45 + 0.55 * i / max(1, len(ours) - 1)) for i, n in enumerate(ours)}
    colors.update({n: next(peer_colors) for n in names if n not in colors})
    width = 0.8 / len(names)
    for ti, th_n in enumerate(threads):
        for ni, net in enumerate(NETWORKS):
            ax = axes[ti][ni]
            batches = sorted({r["batch"] for r in rows if r["network"] == net})
            for k, name in enumerate(names):
                vals = [next((r["examples_per_s"] for r in rows if r["network"] == net and r["batch"] == b
                              and r["framework"] == name and r["threads"] == th_n), 0) for b in batches]
                ax.bar([i + (k - (len(names) - 1) / 2) * width for i in range(len(batches))], vals, width,
                       label=name, color=colors[name])
            ax.set_xticks(range(len(batches)), [f"batch {b}" for b in batches])
            ax.set_yscale("log")
            ax.set_title(f"{TITLES[net]}, {th_n} thread{'s' if th_n > 1 else ''}", fontsize=9)
            ax.set_ylabel("examples / s")
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"mlp.py: wrote {path}", file=sys.stderr)


def write_results(rows: list[dict], threads: list[int], out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "mlp.json"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    meta = next(r for r in rows if r.get("kind") == "machine")
    md = [f"# bench/mlp.py: SGD training, examples/s\n\n{describe(meta)}\n"]
    md += [table(rows, t) + "\n" for t in threads]
    with open(os.path.join(out, "mlp.md"), "w") as f:
        f.write("\n".join(md))
    chart(rows, os.path.join(out, "mlp.png"))


def merge_alternations(rows: list[dict]) -> list[dict]:
    """`--alternate`: one row per (network, batch, framework, threads) from the children of one
    count: their rounds' samples together, the median and best of all of them; the first
    machine row of each count."""
    merged: dict[tuple, dict] = {}
    out: list[dict] = []
    for r in rows:
        if r.get("kind") == "machine":
            key: tuple = ("machine", r["threads"])
        elif "examples_per_s" in r:
            key = (r["network"], r["batch"], r["framework"], r["threads"])
        else:
            out.append(r)  # an error row
            continue
        if key not in merged:
            merged[key] = dict(r)
            out.append(merged[key])
        elif "samples" in r:
            m = merged[key]
            m["samples"] = m["samples"] + r["samples"]
            m["rounds"] += r["rounds"]
            m["children"] = m.get("children", 1) + 1
            m["examples_per_s"] = round(statistics.median(m["samples"]), 1)
            m["best_examples_per_s"] = round(max(m["samples"]), 1)
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--networks", nargs="+", choices=list(NETWORKS), default=None)
    ap.add_argument("--batches", type=int, nargs="+", default=None)
    ap.add_argument("--peers", default="all", help="all, none, or a comma list of " + ", ".join(PEERS))
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per implementation (5)")
    ap.add_argument("--round-s", type=float, default=None, help="seconds per round (0.15)")
    ap.add_argument("--alternate", type=int, default=1,
                    help="run the thread counts' children this many times in turn (1, 2, 1, 2, ...), "
                         "each with rounds/N of the rounds; a count's figure is the median of all its "
                         "rounds (a drifting machine then biases no count)")
    ap.add_argument("--quick", action="store_true", help="smoke run: logreg and mlp, batch 1 and 10, short")
    ap.add_argument("--results", default=None, help="write mlp.json/md/png here (default bench/results; "
                    "none with --quick)")
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.networks = args.networks or (["logreg", "mlp"] if args.quick else list(NETWORKS))
    args.batches = args.batches or ([1, 10] if args.quick else [1, 10, 60])
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.round_s = args.round_s or (0.03 if args.quick else 0.15)
    args.peer_list = peer_list(ap, args.peers, PEERS)
    return args


def peer_list(ap: argparse.ArgumentParser, text: str, known: tuple[str, ...]) -> list[str]:
    """--peers: 'all', 'none' or a comma list of `known` names (bench/rnn.py uses it too)."""
    if text == "all":
        return list(known)
    if text == "none":
        return []
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in known]
    if bad:
        ap.error(f"unknown peers {bad}; choose from {', '.join(known)}")
    return names


def main() -> None:
    args = parse()
    if args.child:
        child_main(args)
        return
    argv = [a for a in sys.argv[1:]]
    rows = []
    per_child = max(1, -(-args.rounds // args.alternate))  # rounds of each child, rounded up
    for _ in range(args.alternate):
        for threads in args.threads:
            rows += run_child(threads, argv + (["--rounds", str(per_child)] if args.alternate > 1 else []))
    rows = merge_alternations(rows)
    print()
    for threads in args.threads:
        print(table(rows, threads) + "\n")
    out = args.results or (None if args.quick else RESULTS)
    if out:
        write_results(rows, args.threads, out)


if __name__ == "__main__":
    main()
