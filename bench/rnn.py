"""Elman RNN training throughput, char-level, batch 1, full BPTT: theanir vs peers (issue 4).

The model (float32): a vocabulary of 50 symbols, one-hot inputs xs [100, 50], int labels
ys [100] (the next symbol), hidden sizes 50-800:

    h_t = tanh(x_t @ W + h_{t-1} @ U + b),  h_0 = 0
    y_t = softmax(h_t @ V + c),  loss = sum_t cross-entropy(y_t, ys[t])

One step = one sequence of 100 elements: forward, backpropagation through the whole sequence
and one plain-SGD update (lr 0.01) of W, U, b, V, c. Figure: sequence elements per second
(100 x steps per second) in steady state.

  theanir jit        @th.jit of the whole step, th.scan(fn, sequences=xs, outputs_info=h0,
                     non_sequences=[W, U, b]) with x_t @ W written inside the step (the
                     compiler hoists it: tn-scan-vecmat-to-matmat), th.value_and_grad,
                     the params donated (donate_argnums, as for JAX)
  theanir function   Theano style: th.shared params, th.scan on symbolic variables, T.grad,
                     th.function([xs, ys], loss, updates=...): one compile per input types
  theanir function static  the same, th.function(..., dynamic_shapes=False): per shape (the
                     cost of dynamic dims, target <= 10%)
  torch loop         PyTorch eager, a Python loop over the cell (input projection xs @ W + b
                     computed once before it), torch.autograd.grad, torch._foreach_add_
  torch nn.RNN       torch.nn.RNN(tanh) for the recurrence (bias_hh frozen at 0, so the
                     model is the same), the output layer and update as above
  jax                jax.jit of the whole step (lax.scan, value_and_grad, update),
                     donate_argnums; input projection before the scan
  pytensor           pytensor.scan + pytensor.grad + pytensor.function(updates=...), default
                     mode, trust_input; input projection before the scan

The table's "theanir" is the faster theanir variant and "pytorch" the faster torch one; the
ratio is theanir / the fastest peer (targets: >= 1.5 at hidden 50-200, >= 1.0 at 400-800).

Correctness guard (fails the run): from the same parameters and data, every implementation's
first loss matches a float64 NumPy reference (forward + hand-written BPTT) to 1e-4 relative,
and at hidden 50 theanir's gradients match JAX's (and the reference's) to 1e-4 relative
(max |a - b| / max |b| per parameter).

Everything runs on one thread and one CPU (an affinity mask: JAX ignores its thread flags):
OMP/OpenBLAS/MKL/THEANIR thread variables and XLA_FLAGS are set at the top of this file before any import, torch.set_num_threads(1), th.config.threads = 1.
Timing: after the first call (its time, compile included, is compile_s; theanir compiles into
a fresh empty disk cache), `--rounds` rounds; each round runs every implementation in turn
(rotated order) for ~`--round-s` seconds, in chunks of ~`--chunk-s` seconds (at least one
step) that each end by forcing the last loss. The table shows the best chunk over all rounds,
the speed when the shared machine left the process alone; JSON rows also hold the median
round (the median of its chunks).

    python bench/rnn.py [--quick] [--hidden 50 100 ...] [--peers all|none|torch,jax,pytensor]
                        [--forward] [--lengths random]

`--lengths random` is the varying-length benchmark of bench/rnn_lengths.py (issue 16).

`--forward` adds forward-only (loss) rows for theanir and JAX (diagnosis). Writes
bench/results/rnn.json (JSON lines) and rnn.md (full runs; `--quick` writes only with an
explicit `--results DIR`).
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "THEANIR_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_k] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# compile_s of theanir is a cold compile: a fresh disk cache (removed at exit) unless the
# caller chose one
if "THEANIR_CACHE_DIR" not in os.environ:
    os.environ["THEANIR_CACHE_DIR"] = tempfile.mkdtemp(prefix="theanir-rnn-bench-")
    atexit.register(shutil.rmtree, os.environ["THEANIR_CACHE_DIR"], ignore_errors=True)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any, Callable, NamedTuple  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlp  # noqa: E402  (the machine description and --peers parsing)

mlp.pin_cpus(1)  # one CPU as well as one thread: JAX ignores its thread flags

VOCAB, SEQ, LR = 50, 100, 0.01
HIDDEN = (50, 100, 200, 400, 800)
TARGETS = {50: 1.5, 100: 1.5, 200: 1.5, 400: 1.0, 800: 1.0}
N_SEQS = 4  # distinct sequences cycled through
PEERS = ("torch", "jax", "pytensor")
THEANIR = ("theanir jit", "theanir function", "theanir function static")
FORWARD = ("theanir jit fwd", "jax fwd")
COLUMNS = {"theanir": THEANIR, "pytorch": ("torch loop", "torch nn.RNN"), "jax": ("jax",),
           "pytensor": ("pytensor",)}
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
PARAMS = ("W", "U", "b", "V", "c")


class Runner(NamedTuple):
    """`run(n)` does n more SGD steps and returns the last loss as a float (forcing pending
    work); `loss0` is the first step's loss, `compile_s` the first call's time."""
    loss0: float
    compile_s: float
    run: Callable[[int], float]


class Problem(NamedTuple):
    hidden: int
    params: list[np.ndarray]  # W [50, n], U [n, n], b [n], V [n, 50], c [50]; float32
    xs: list[np.ndarray]      # N_SEQS one-hot [100, 50] float32, read-only
    ys: list[np.ndarray]      # N_SEQS labels [100] int64, read-only


def make_problem(hidden: int, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    s = 1.0 / np.sqrt(hidden)  # PyTorch's RNN initialization
    params = [rng.uniform(-s, s, (VOCAB, hidden)), rng.uniform(-s, s, (hidden, hidden)),
              rng.uniform(-s, s, hidden), rng.uniform(-s, s, (hidden, VOCAB)), np.zeros(VOCAB)]
    params = [a.astype(np.float32) for a in params]
    xs, ys = [], []
    for _ in range(N_SEQS):
        sym = rng.integers(0, VOCAB, SEQ + 1)
        xs.append(np.eye(VOCAB, dtype=np.float32)[sym[:-1]])
        ys.append(sym[1:].astype(np.int64))
    for a in xs + ys:
        a.setflags(write=False)  # constant data: no framework needs a defensive copy
    return Problem(hidden, params, xs, ys)


def _first_call(fn: Callable[[], float]) -> tuple[float, float]:
    t = time.perf_counter()
    loss = fn()
    return loss, time.perf_counter() - t


def _cycle(step: Callable[[int, Any], tuple[Any, Any]], state: Any) -> Callable[[int], float]:
    """run(n): n steps of `step(k, state) -> (state, loss)` on sequences k % N_SEQS."""
    box = {"state": state, "k": 0}

    def run(n: int) -> float:
        st, k, loss = box["state"], box["k"], None
        for i in range(k, k + n):
            st, loss = step(i % N_SEQS, st)
        box["state"], box["k"] = st, k + n
        return float(loss)

    return run


def _runner(run: Callable[[int], float]) -> Runner:
    loss0, t = _first_call(lambda: run(1))
    return Runner(loss0, t, run)


# ----------------------------------------------------------------------------- reference

def reference(p: Problem, k: int = 0) -> tuple[float, list[np.ndarray]]:
    """Loss and gradients of sequence k in float64: forward, then hand-written BPTT."""
    W, U, b, V, c = (a.astype(np.float64) for a in p.params)
    xs, ys = p.xs[k].astype(np.float64), p.ys[k]
    hs = np.zeros((SEQ + 1, p.hidden))
    for t in range(SEQ):
        hs[t + 1] = np.tanh(xs[t] @ W + hs[t] @ U + b)
    z = hs[1:] @ V + c
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1)
    rows = np.arange(SEQ)
    loss = float(np.sum(np.log(s) - z[rows, ys]))
    dz = e / s[:, None]
    dz[rows, ys] -= 1
    dV, dc = hs[1:].T @ dz, dz.sum(axis=0)
    dh_out = dz @ V.T
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    carry = np.zeros(p.hidden)
    for t in range(SEQ - 1, -1, -1):
        da = (dh_out[t] + carry) * (1 - hs[t + 1] ** 2)
        dW += np.outer(xs[t], da)
        dU += np.outer(hs[t], da)
        db += da
        carry = da @ U.T
    return loss, [dW, dU, db, dV, dc]


# ----------------------------------------------------------------------------- theanir

def theanir_loss(ps: Any, xs: Any, ys: Any) -> Any:
    import theanir as th
    W, U, b, V, c = ps
    h0 = th.zeros((W.shape[1],), np.float32)
    hs, _ = th.scan(lambda x, h, W, U, b: th.tanh(x @ W + h @ U + b),
                    sequences=xs, outputs_info=h0, non_sequences=[W, U, b])
    return th.logsoftmax_crossentropy(hs @ V + c, ys).sum()


def theanir_step(ps: Any, xs: Any, ys: Any) -> tuple:
    """The issue's signature: step(params, xs, ys) -> (new_params, loss)."""
    import theanir as th
    loss, grads = th.value_and_grad(theanir_loss)(list(ps), xs, ys)
    return [w - LR * g for w, g in zip(ps, grads)], loss


def _theanir_flat_step(xs: Any, ys: Any, *ps: Any) -> tuple:
    # flat positional arguments and results: warm calls take the runtime's FastCache path
    new, loss = theanir_step(list(ps), xs, ys)
    return (loss, *new)


def build_theanir_jit(p: Problem) -> Runner:
    import theanir as th
    f = th.jit(_theanir_flat_step, donate_argnums=tuple(range(2, 2 + len(PARAMS))))

    def step(k: int, ps: tuple) -> tuple:
        out = f(p.xs[k], p.ys[k], *ps)
        return out[1:], out[0]

    return _runner(_cycle(step, tuple(a.copy() for a in p.params)))


def build_theanir_fwd(p: Problem) -> Runner:
    import theanir as th
    f = th.jit(lambda xs, ys, *ps: theanir_loss(ps, xs, ys))
    ps = [a.copy() for a in p.params]
    return _runner(_cycle(lambda k, st: (st, f(p.xs[k], p.ys[k], *ps)), None))


def build_theanir_function(p: Problem, dynamic_shapes: bool = True) -> Runner:
    """th.function: one compile per input types (the sequence length is dynamic, issue 16);
    `dynamic_shapes=False` (the "static" row) compiles per shape: the cost of dynamic dims."""
    import theanir as th
    import theanir.tensor as T
    shared = [th.shared(a.copy(), name=n) for a, n in zip(p.params, PARAMS)]
    W, U, b, V, c = shared
    xs, ys = T.fmatrix("xs"), T.lvector("ys")
    h0 = T.zeros((p.hidden,), dtype="float32")
    hs, _ = th.scan(lambda x, h, W, U, b: T.tanh(T.dot(x, W) + T.dot(h, U) + b),
                    sequences=xs, outputs_info=h0, non_sequences=[W, U, b])
    loss = T.logsoftmax_crossentropy(T.dot(hs, V) + c, ys).sum()
    grads = T.grad(loss, shared)
    f = th.function([xs, ys], loss, updates=[(s, s - LR * g) for s, g in zip(shared, grads)],
                    dynamic_shapes=dynamic_shapes)
    out = _runner(_cycle(lambda k, st: (st, f(p.xs[k], p.ys[k])), None))
    if dynamic_shapes and not f.dynamic_shapes:
        raise RuntimeError(f"theanir function: compiled per shape ({f.dynamic_error})")
    return out


def theanir_grads(p: Problem) -> tuple[float, list[np.ndarray]]:
    import theanir as th
    loss, grads = th.jit(th.value_and_grad(theanir_loss))([a.copy() for a in p.params], p.xs[0], p.ys[0])
    return float(loss), [np.asarray(g, np.float64) for g in grads]


# ----------------------------------------------------------------------------- PyTorch

def _torch_data(p: Problem) -> tuple[list, list]:
    import torch
    return [torch.from_numpy(np.array(a)) for a in p.xs], [torch.from_numpy(np.array(a)) for a in p.ys]


def _torch_sgd(params: list, loss_fn: Callable[[int], Any]) -> Callable[[int, Any], tuple]:
    import torch

    def step(k: int, st: Any) -> tuple:
        loss = loss_fn(k)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            torch._foreach_add_(params, grads, alpha=-LR)
        return st, loss.detach()

    return step


def build_torch_loop(p: Problem) -> Runner:
    import torch
    import torch.nn.functional as F
    xs, ys = _torch_data(p)
    params = [torch.from_numpy(a.copy()).requires_grad_() for a in p.params]
    W, U, b, V, c = params

    def loss_fn(k: int) -> Any:
        xw = torch.addmm(b, xs[k], W)  # all input projections at once
        h, hs = torch.zeros(p.hidden), []
        for t in range(SEQ):
            h = torch.tanh(torch.addmv(xw[t], U.t(), h))  # h @ U = U^T h
            hs.append(h)
        logits = torch.addmm(c, torch.stack(hs), V)
        return F.cross_entropy(logits, ys[k], reduction="sum")

    return _runner(_cycle(_torch_sgd(params, loss_fn), None))


def build_torch_rnn(p: Problem) -> Runner:
    import torch
    import torch.nn.functional as F
    xs, ys = _torch_data(p)
    W, U, b, V, c = p.params
    rnn = torch.nn.RNN(VOCAB, p.hidden, nonlinearity="tanh", bias=True)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b))
        rnn.bias_hh_l0.zero_()
    rnn.bias_hh_l0.requires_grad_(False)  # one bias, as the model (a second would double b's step)
    V_t, c_t = (torch.from_numpy(a.copy()).requires_grad_() for a in (V, c))
    params = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, V_t, c_t]
    h0 = torch.zeros(1, p.hidden)

    def loss_fn(k: int) -> Any:
        hs, _ = rnn(xs[k], h0)  # unbatched: [100, 50] -> [100, n]
        return F.cross_entropy(torch.addmm(c_t, hs, V_t), ys[k], reduction="sum")

    return _runner(_cycle(_torch_sgd(params, loss_fn), None))


# ----------------------------------------------------------------------------- JAX

def _jax_loss() -> Callable:
    import jax
    import jax.numpy as jnp

    def loss_fn(ps: tuple, xs: Any, ys: Any) -> Any:
        W, U, b, V, c = ps
        xw = xs @ W + b  # all input projections at once

        def cell(h: Any, xw_t: Any) -> tuple:
            h = jnp.tanh(xw_t + h @ U)
            return h, h

        _, hs = jax.lax.scan(cell, jnp.zeros(W.shape[1], W.dtype), xw)
        logp = jax.nn.log_softmax(hs @ V + c, axis=-1)
        return -jnp.take_along_axis(logp, ys[:, None], axis=-1).sum()

    return loss_fn


def build_jax(p: Problem) -> Runner:
    import jax
    loss_fn = _jax_loss()

    def step_fn(ps: tuple, xs: Any, ys: Any) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(ps, xs, ys)
        return tuple(w - LR * g for w, g in zip(ps, grads)), loss

    f = jax.jit(step_fn, donate_argnums=0)
    xs, ys = [jax.device_put(a) for a in p.xs], [jax.device_put(a) for a in p.ys]

    def step(k: int, ps: tuple) -> tuple:
        ps, loss = f(ps, xs[k], ys[k])
        return ps, loss

    run = _cycle(step, tuple(jax.device_put(a.copy()) for a in p.params))
    return _runner(run)  # float(loss) waits for the step


def build_jax_fwd(p: Problem) -> Runner:
    import jax
    f = jax.jit(_jax_loss())
    xs, ys = [jax.device_put(a) for a in p.xs], [jax.device_put(a) for a in p.ys]
    ps = tuple(jax.device_put(a.copy()) for a in p.params)
    return _runner(_cycle(lambda k, st: (st, f(ps, xs[k], ys[k])), None))


def jax_grads(p: Problem) -> tuple[float, list[np.ndarray]]:
    import jax
    loss, grads = jax.jit(jax.value_and_grad(_jax_loss()))(tuple(a.copy() for a in p.params), p.xs[0], p.ys[0])
    return float(loss), [np.asarray(g, np.float64) for g in grads]


# ----------------------------------------------------------------------------- PyTensor

def build_pytensor(p: Problem) -> Runner:
    import pytensor
    import pytensor.tensor as pt
    shared = [pytensor.shared(a.copy(), name=n) for a, n in zip(p.params, PARAMS)]
    W, U, b, V, c = shared
    xs, ys = pt.fmatrix("xs"), pt.lvector("ys")
    h0 = pt.zeros((p.hidden,), dtype="float32")
    hs, _ = pytensor.scan(lambda xw_t, h, U: pt.tanh(xw_t + pt.dot(h, U)),
                          sequences=pt.dot(xs, W) + b, outputs_info=h0, non_sequences=[U])
    logp = pt.special.log_softmax(pt.dot(hs, V) + c, axis=-1)
    loss = -logp[pt.arange(SEQ), ys].sum()
    grads = pytensor.grad(loss, shared)
    f = pytensor.function([xs, ys], loss, updates=[(s, s - np.float32(LR) * g) for s, g in zip(shared, grads)],
                          trust_input=True)
    return _runner(_cycle(lambda k, st: (st, f(p.xs[k], p.ys[k])), None))


BUILDERS: dict[str, Callable[[Problem], Runner]] = {
    "theanir jit": build_theanir_jit,
    "theanir function": build_theanir_function,
    "theanir function static": lambda p: build_theanir_function(p, dynamic_shapes=False),
    "torch loop": build_torch_loop,
    "torch nn.RNN": build_torch_rnn,
    "jax": build_jax,
    "pytensor": build_pytensor,
    "theanir jit fwd": build_theanir_fwd,
    "jax fwd": build_jax_fwd,
}
MODULE = {"torch loop": "torch", "torch nn.RNN": "torch", "jax": "jax", "pytensor": "pytensor",
          "jax fwd": "jax"}


# ----------------------------------------------------------------------------- checks

def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def check_gradients(names: list[str], emit: Callable[[dict], None]) -> None:
    """theanir's gradients vs JAX's and the float64 reference at hidden 50; exits on a mismatch."""
    p = make_problem(50)
    ref_loss, ref = reference(p)
    loss, g = theanir_grads(p)
    row: dict[str, Any] = {"bench": "rnn", "kind": "grad_check", "hidden": 50,
                           "theanir_vs_reference": {n: float(f"{_rel(a, r):.2e}") for n, a, r in zip(PARAMS, g, ref)},
                           "loss_theanir": loss, "loss_reference": ref_loss}
    worst = max(row["theanir_vs_reference"].values())
    if "jax" in names:
        jloss, jg = jax_grads(p)
        row["theanir_vs_jax"] = {n: float(f"{_rel(a, r):.2e}") for n, a, r in zip(PARAMS, g, jg)}
        row["jax_vs_reference"] = {n: float(f"{_rel(a, r):.2e}") for n, a, r in zip(PARAMS, jg, ref)}
        row["loss_jax"] = jloss
        worst = max(worst, *row["theanir_vs_jax"].values())
    row["ok"] = worst <= 1e-4
    emit(row)
    print(f"rnn.py: gradient check at hidden 50: worst relative difference {worst:.2e} "
          f"({'ok' if row['ok'] else 'FAILED'})", file=sys.stderr)
    if not row["ok"]:
        raise SystemExit(f"rnn.py: theanir's gradients disagree: {json.dumps(row)}")


# ----------------------------------------------------------------------------- timing

def calibrate(run: Callable[[int], float], chunk_s: float) -> int:
    """Steps per timed chunk: ~chunk_s seconds (at least one step), from a probe of a few steps."""
    n = 1
    while True:
        t = time.perf_counter()
        run(n)
        dt = time.perf_counter() - t
        if dt > 0.03 or n >= 4096:
            return max(1, round(chunk_s / (dt / n)))
        n *= 4


def timed_round(run: Callable[[int], float], steps: int, round_s: float) -> list[float]:
    """Chunks of `steps` steps for ~round_s seconds (at least one): elements/s of each."""
    rates: list[float] = []
    end = time.perf_counter() + round_s
    while not rates or time.perf_counter() < end:
        t = time.perf_counter()
        run(steps)  # returns a float: the chunk's work is finished
        rates.append(steps * SEQ / (time.perf_counter() - t))
    return rates


def bench_hidden(hidden: int, names: list[str], args: argparse.Namespace,
                 emit: Callable[[dict], None]) -> list[str]:
    """Time every implementation at one hidden size; returns the failures of the loss check."""
    p = make_problem(hidden)
    ref_loss, _ = reference(p)
    runners: dict[str, tuple[Runner, float]] = {}
    steps, failures = {}, []
    base = {"bench": "rnn", "hidden": hidden, "seq": SEQ, "vocab": VOCAB, "batch": 1}
    for name in names:
        try:
            r = BUILDERS[name](p)
        except Exception as e:  # noqa: BLE001 (report it, go on with the others)
            emit({**base, "framework": name, "error": f"{type(e).__name__}: {str(e)[:500]}"})
            failures.append(f"{name} at hidden {hidden}: {type(e).__name__}: {e}")
            continue
        rel = abs(r.loss0 - ref_loss) / abs(ref_loss)
        if rel > 1e-4:
            failures.append(f"{name} at hidden {hidden}: first loss {r.loss0} vs reference {ref_loss}")
        runners[name] = (r, rel)
        steps[name] = calibrate(r.run, args.chunk_s)
    chunks: dict[str, list[float]] = {n: [] for n in runners}
    rounds: dict[str, list[float]] = {n: [] for n in runners}
    order = list(runners)
    for rnd in range(args.rounds):
        for name in order[rnd % len(order):] + order[:rnd % len(order)]:
            rates = timed_round(runners[name][0].run, steps[name], args.round_s)
            chunks[name] += rates
            rounds[name].append(statistics.median(rates))
    for name, (r, rel) in runners.items():
        emit({**base, "framework": name, "elements_per_s": round(max(chunks[name]), 1),
              "median_elements_per_s": round(statistics.median(rounds[name]), 1),
              "rounds": args.rounds, "chunks": len(chunks[name]), "steps_per_chunk": steps[name],
              "compile_s": round(r.compile_s, 4),
              "loss_first": round(r.loss0, 6), "loss_reference": round(ref_loss, 6),
              "loss_rel_err": float(f"{rel:.2e}"), "loss_ok": rel <= 1e-4, "loss_after": round(r.run(1), 5)})
    return failures


# ----------------------------------------------------------------------------- report

def versions(names: list[str]) -> dict[str, str]:
    import importlib
    out = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("theanir", "torch", "jax", "pytensor"):
        if mod == "theanir" or any(MODULE.get(n) == mod for n in names):
            out[mod] = str(getattr(importlib.import_module(mod), "__version__", "?"))
    return out


def available(peers: list[str], forward: bool) -> tuple[list[str], dict[str, str]]:
    """The implementations to run and, for each peer module left out, why."""
    wanted = list(THEANIR) + [n for n in BUILDERS if MODULE.get(n) in peers and n not in FORWARD]
    wanted += [n for n in FORWARD if forward and (n.startswith("theanir") or MODULE[n] in peers)]
    names, skipped = [], {}
    for name in wanted:
        mod = MODULE.get(name)
        try:
            if mod:
                __import__(mod)
            names.append(name)
        except Exception as e:  # noqa: BLE001 (a broken install is as good as a missing one)
            skipped[mod] = f"import {mod}: {type(e).__name__}: {e}"
    return names, skipped


def _best(cell: dict[str, dict], column: str) -> tuple[float, str] | None:
    vals = [(cell[n]["elements_per_s"], n) for n in COLUMNS[column] if n in cell]
    return max(vals) if vals else None


def table(rows: list[dict]) -> str:
    rows = [r for r in rows if "elements_per_s" in r]
    cols = [c for c in COLUMNS if any(r["framework"] in COLUMNS[c] for r in rows)]
    head = "| hidden | " + " | ".join(cols) + " | theanir / fastest peer | target |"
    lines = [head, "|---:|" + "---:|" * (len(cols) + 2)]
    for hidden in sorted({r["hidden"] for r in rows}):
        cell = {r["framework"]: r for r in rows if r["hidden"] == hidden}
        vals = []
        for c in cols:
            best = _best(cell, c)
            bad = best is not None and not cell[best[1]]["loss_ok"]
            vals.append("-" if best is None else f"{best[0]:,.0f}" + (" (loss!)" if bad else ""))
        ours = _best(cell, "theanir")
        peers = [b for c in cols if c != "theanir" and (b := _best(cell, c))]
        ratio = "-"
        if ours and peers:
            top = max(peers)
            ok = ours[0] / top[0] >= TARGETS.get(hidden, 1.0)
            ratio = f"{ours[0] / top[0]:.2f} ({top[1]}){'' if ok else ' MISS'}"
        lines.append(f"| {hidden} | " + " | ".join(vals) + f" | {ratio} | >= {TARGETS.get(hidden, 1.0)} |")
    return "\n".join(lines)


def detail(rows: list[dict]) -> str:
    rows = [r for r in rows if "elements_per_s" in r]
    names = [n for n in BUILDERS if any(r["framework"] == n for r in rows)]
    lines = ["| hidden | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for hidden in sorted({r["hidden"] for r in rows}):
        cell = {r["framework"]: r for r in rows if r["hidden"] == hidden}
        lines.append(f"| {hidden} | " + " | ".join(
            f"{cell[n]['elements_per_s']:,.0f} / {cell[n]['compile_s']:.2f} s" if n in cell else "-"
            for n in names) + " |")
    return "\n".join(lines)


def write_results(rows: list[dict], out: str) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "rnn.json"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    meta = next(r for r in rows if r.get("kind") == "machine")
    vers = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    grad = next((r for r in rows if r.get("kind") == "grad_check"), None)
    md = [f"# bench/rnn.py: Elman RNN training (vocab {VOCAB}, 100 steps, batch 1, full BPTT, SGD)\n",
          f"{meta['cpu']}, {meta['cpus']} CPUs (load average {meta['load_average']} at the start), "
          f"1 thread everywhere; {vers}; theanir at {meta.get('git_head', '?')} (+{meta.get('git_changed_files', '?')} changed files).\n",
          f"Sequence elements per second: the best ~{meta.get('chunk_s', 0.02) * 1e3:.0f} ms chunk of "
          f"{meta['rounds']} interleaved rounds (the machine is shared; JSON rows also hold the median "
          "round); "
          "theanir = the faster of its variants, pytorch = the faster of the loop and nn.RNN.\n",
          table(rows) + "\n",
          "Every implementation: elements/s / first call (compile included; theanir into an empty "
          "disk cache, PyTensor with its persistent compiledir).\n",
          detail(rows) + "\n"]
    if grad:
        worst = max(list(grad["theanir_vs_reference"].values()) + list(grad.get("theanir_vs_jax", {}).values()))
        md.append(f"Gradient check at hidden 50 (max |a - b| / max |b| per parameter): worst {worst:.1e} "
                  f"(theanir vs JAX: {grad.get('theanir_vs_jax')}; theanir vs float64 NumPy: "
                  f"{grad['theanir_vs_reference']}).\n")
    with open(os.path.join(out, "rnn.md"), "w") as f:
        f.write("\n".join(md))
    print(f"rnn.py: wrote {out}/rnn.json and rnn.md", file=sys.stderr)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, nargs="+", default=None, help="hidden sizes (50 100 200 400 800)")
    ap.add_argument("--peers", default="all", help="all, none, or a comma list of " + ", ".join(PEERS))
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per implementation (7)")
    ap.add_argument("--round-s", type=float, default=None, help="seconds per implementation and round (0.4)")
    ap.add_argument("--chunk-s", type=float, default=0.02, help="seconds per timed chunk (0.02)")
    ap.add_argument("--forward", action="store_true", help="also time forward-only (theanir, JAX)")
    ap.add_argument("--quick", action="store_true", help="smoke run: hidden 50, short rounds")
    ap.add_argument("--lengths", choices=["fixed", "random"], default="fixed",
                    help="random: train on sequences of lengths 5..100, total wall time with every "
                         "compile (bench/rnn_lengths.py)")
    ap.add_argument("--results", default=None, help="write rnn.json/md here (default bench/results; "
                    "none with --quick)")
    args = ap.parse_args(argv)
    args.hidden = args.hidden or ([50] if args.quick else list(HIDDEN))
    args.rounds = args.rounds or (2 if args.quick else 7)
    args.round_s = args.round_s or (0.1 if args.quick else 0.4)
    args.peer_list = mlp.peer_list(ap, args.peers, PEERS)
    return args


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse(argv)
    warnings.filterwarnings("ignore")
    import theanir as th
    th.config.threads = 1
    if args.lengths == "random":
        import rnn_lengths
        return rnn_lengths.main(args)
    if any(p == "torch" for p in args.peer_list):
        try:
            import torch
            torch.set_num_threads(1)
        except Exception:  # noqa: BLE001 (available() reports it)
            pass
    names, skipped = available(args.peer_list, args.forward)
    rows: list[dict] = []

    def emit(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    emit({"bench": "rnn", "kind": "machine", **mlp.machine(), "versions": versions(names), "skipped": skipped,
          "threads": 1, "rounds": args.rounds, "round_s": args.round_s, "chunk_s": args.chunk_s})
    check_gradients(names, emit)
    failures = []
    for hidden in args.hidden:
        failures += bench_hidden(hidden, names, args, emit)
    print("\n" + table(rows) + "\n")
    out = args.results or (None if args.quick else RESULTS)
    if out:
        write_results(rows, out)
    if failures:
        raise SystemExit("rnn.py: " + "; ".join(failures))
    return rows


if __name__ == "__main__":
    main()
