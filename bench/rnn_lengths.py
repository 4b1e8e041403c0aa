"""Elman RNN trained on sequences of varying length: total wall time, every compile included (issue 16).

    python bench/rnn.py --lengths random [--peers all|none|jax,pytensor] [--quick] [--results DIR]

The model is bench/rnn.py's (vocabulary 50, one-hot inputs, H = 100, full BPTT, plain SGD with
lr 0.01, float32), trained on N_SEQ = 500 sequences whose lengths are drawn uniformly from
5..100 (about 90 distinct lengths), one SGD step per sequence, in one pass. The figure is the
total wall time of that pass from the first call, compiles included:

  theanir function   Theano style (th.shared, th.scan over a T.fmatrix, T.grad,
                     th.function(updates=...)): one compile per input *types*
  theanir jit        th.jit(step, dynamic_shapes=(0, 1)): the sequence's dims are dynamic, one
                     compile per ranks and dtypes
  jax                jax.jit(step): a compile per new length, as JAX users get
  pytensor           pytensor.function: one compile (Theano's rule)

Targets: theanir >= 5x JAX and >= 1.5x PyTensor (the better theanir variant). Each
implementation also reports its compile count. Correctness guard (fails the run): the first
loss of every implementation matches a float64 NumPy reference to 1e-4 relative, and the next
two (after SGD steps) agree across implementations to 1e-3.
theanir compiles into a fresh empty disk cache; PyTensor uses its persistent compiledir (as
its users do), so its C compile may already be cached.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable

import numpy as np

import compile_ops  # bench/ is on sys.path (rnn.py put it there): CPU flags, BLAS kernel, commit
import rnn

H, N_SEQ, LO, HI = 100, 500, 5, 100


def make_data(n_seq: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    s = 1.0 / np.sqrt(H)
    params = [rng.uniform(-s, s, (rnn.VOCAB, H)), rng.uniform(-s, s, (H, H)), rng.uniform(-s, s, H),
              rng.uniform(-s, s, (H, rnn.VOCAB)), np.zeros(rnn.VOCAB)]
    params = [a.astype(np.float32) for a in params]
    xs, ys = [], []
    for n in rng.integers(LO, HI + 1, n_seq):
        sym = rng.integers(0, rnn.VOCAB, n + 1)
        xs.append(np.eye(rnn.VOCAB, dtype=np.float32)[sym[:-1]])
        ys.append(sym[1:].astype(np.int64))
    return params, xs, ys


def reference_loss(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    W, U, b, V, c = [a.astype(np.float64) for a in params]
    h = np.zeros(H)
    loss = 0.0
    for t in range(len(x)):
        h = np.tanh(x[t] @ W + h @ U + b)
        z = h @ V + c
        loss -= z[y[t]] - (np.log(np.exp(z - z.max()).sum()) + z.max())
    return loss


# ----------------------------------------------------------------------------- implementations
# Each returns (step(k) -> loss of step k as a float, compile_count() -> int).

def theanir_function(params, xs, ys):
    import theanir as th
    import theanir.tensor as T
    shared = [th.shared(a.copy(), name=n) for a, n in zip(params, rnn.PARAMS)]
    W, U, b, V, c = shared
    x, y = T.fmatrix("xs"), T.lvector("ys")
    h0 = T.zeros((H,), dtype="float32")
    hs, _ = th.scan(lambda x_t, h, W, U, b: T.tanh(T.dot(x_t, W) + T.dot(h, U) + b),
                    sequences=x, outputs_info=h0, non_sequences=[W, U, b])
    loss = T.logsoftmax_crossentropy(T.dot(hs, V) + c, y).sum()
    grads = T.grad(loss, shared)
    f = th.function([x, y], loss, updates=[(s, s - rnn.LR * g) for s, g in zip(shared, grads)])
    return (lambda k: float(f(xs[k], ys[k]))), (lambda: f.compile_count), \
        (lambda: None if f.dynamic_shapes else f.dynamic_error)


def theanir_jit(params, xs, ys):
    import theanir as th
    f = th.jit(rnn._theanir_flat_step, donate_argnums=tuple(range(2, 2 + len(rnn.PARAMS))),
               dynamic_shapes=(0, 1))  # the sequence and its labels; the parameters keep their shapes
    state = {"ps": tuple(a.copy() for a in params)}

    def step(k: int) -> float:
        out = f(xs[k], ys[k], *state["ps"])
        state["ps"] = out[1:]
        return float(out[0])

    return step, (lambda: f.cache_size), (lambda: None)


def jax_impl(params, xs, ys):
    import jax
    loss_fn = rnn._jax_loss()

    def step_fn(ps, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(ps, x, y)
        return tuple(w - rnn.LR * g for w, g in zip(ps, grads)), loss

    f = jax.jit(step_fn, donate_argnums=0)
    state = {"ps": tuple(jax.device_put(a.copy()) for a in params)}

    def step(k: int) -> float:
        state["ps"], loss = f(state["ps"], xs[k], ys[k])
        return float(loss)

    return step, (lambda: f._cache_size()), (lambda: None)


def pytensor_impl(params, xs, ys):
    import pytensor
    import pytensor.tensor as pt
    shared = [pytensor.shared(a.copy(), name=n) for a, n in zip(params, rnn.PARAMS)]
    W, U, b, V, c = shared
    x, y = pt.fmatrix("xs"), pt.lvector("ys")
    h0 = pt.zeros((H,), dtype="float32")
    hs, _ = pytensor.scan(lambda xw_t, h, U: pt.tanh(xw_t + pt.dot(h, U)),
                          sequences=pt.dot(x, W) + b, outputs_info=h0, non_sequences=[U])
    logp = pt.special.log_softmax(pt.dot(hs, V) + c, axis=-1)
    loss = -logp[pt.arange(y.shape[0]), y].sum()
    grads = pytensor.grad(loss, shared)
    f = pytensor.function([x, y], loss, updates=[(s, s - np.float32(rnn.LR) * g) for s, g in zip(shared, grads)],
                          trust_input=True)
    return (lambda k: float(f(xs[k], ys[k]))), (lambda: 1), (lambda: None)


IMPLS: dict[str, Callable] = {"theanir function": theanir_function, "theanir jit": theanir_jit,
                              "jax": jax_impl, "pytensor": pytensor_impl}
MODULE = {"jax": "jax", "pytensor": "pytensor"}


def run_one(name: str, params, xs, ys, ref: list[float]) -> dict:
    t0 = time.perf_counter()
    step, count, why = IMPLS[name](params, xs, ys)
    losses = [step(k) for k in range(len(xs))]
    wall = time.perf_counter() - t0
    first = losses[:3]
    err = max(abs(a - b) / abs(b) for a, b in zip(first, ref))
    row = {"bench": "rnn_lengths", "impl": name, "wall_s": round(wall, 3), "compiles": int(count()),
           "sequences": len(xs), "distinct_lengths": len({len(x) for x in xs}),
           "first_losses": [round(v, 5) for v in first], "first_loss_rel_err": err,
           "last_loss": losses[-1]}
    if why():
        row["static_fallback"] = why()
    return row


def main(args: Any) -> list[dict]:
    names = ["theanir function", "theanir jit"] + [p for p in ("jax", "pytensor") if p in args.peer_list]
    skipped = {}
    for n in list(names):
        if n in MODULE:
            try:
                __import__(MODULE[n])
            except Exception as e:  # noqa: BLE001
                skipped[n] = f"{type(e).__name__}: {e}"
                names.remove(n)
    n_seq = 60 if args.quick else N_SEQ
    params, xs, ys = make_data(n_seq)
    # the first loss against float64 NumPy; the next two (after SGD steps) across implementations
    ref = [reference_loss(params, xs[0], ys[0])]
    rows = [{"bench": "rnn_lengths", "kind": "machine", **compile_ops.machine(), "skipped": skipped,
             "versions": rnn.versions([n for n in names if n in MODULE])}]
    print(json.dumps(rows[0]), flush=True)
    failures = []
    for name in names:
        row = run_one(name, params, xs, ys, ref + [float("nan")] * 2)
        row["first_loss_rel_err"] = abs(row["first_losses"][0] - ref[0]) / abs(ref[0])
        if row["first_loss_rel_err"] > 1e-4:
            failures.append(f"{name}: first loss {row['first_losses'][0]} vs reference {ref[0]:.5f}")
        rows.append(row)
        print(json.dumps(row), flush=True)
    runs = {r["impl"]: r for r in rows[1:]}
    if len(runs) > 1:  # the next two losses agree across implementations (same SGD steps)
        base = runs[names[0]]["first_losses"]
        for r in runs.values():
            if max(abs(a - b) / abs(b) for a, b in zip(r["first_losses"], base)) > 1e-3:
                failures.append(f"{r['impl']}: losses {r['first_losses']} vs {names[0]} {base}")
    text = table(rows)
    print("\n" + text)
    out = args.results or (None if args.quick else rnn.RESULTS)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "rnn_lengths.json"), "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        meta = rows[0]
        with open(os.path.join(out, "rnn_lengths.md"), "w") as f:
            f.write(f"# bench/rnn.py --lengths random: Elman RNN (H {H}), {n_seq} sequences of lengths "
                    f"{LO}..{HI}, one SGD step each, total wall time with compiles\n\n"
                    f"{meta['cpu']} ({', '.join(meta.get('flags', []))}), BLAS "
                    f"{', '.join(str(b.get('internal_api')) + ' ' + str(b.get('architecture')) for b in meta.get('blas', []) if isinstance(b, dict))}; "
                    f"1 thread; load average {meta['load_average']} at the start; theanir at "
                    f"{meta.get('git_head', '?')}; versions {meta.get('versions')}.\n\n{text}\n\n"
                    "PyTensor compiles into its persistent compiledir (warm after a first run, as its "
                    "users see it); theanir into an empty disk cache.\n")
        print(f"rnn.py --lengths: wrote {out}/rnn_lengths.json and .md", file=sys.stderr)
    if failures:
        raise SystemExit("rnn.py --lengths: " + "; ".join(failures))
    return rows


def table(rows: list[dict]) -> str:
    runs = [r for r in rows if r.get("impl")]
    best_th = min((r["wall_s"] for r in runs if r["impl"].startswith("theanir")), default=None)
    lines = ["| implementation | total wall s | compiles | theanir speedup | target |", "|---|---:|---:|---:|---:|"]
    targets = {"jax": 5.0, "pytensor": 1.5}
    for r in runs:
        ratio = "" if r["impl"].startswith("theanir") or best_th is None else f"{r['wall_s'] / best_th:.2f}x"
        note = " (static fallback)" if r.get("static_fallback") else ""
        lines.append(f"| {r['impl']}{note} | {r['wall_s']:.2f} | {r['compiles']} | {ratio} | "
                     f"{targets.get(r['impl'], '')} |")
    return "\n".join(lines)
