"""Call overhead: a jitted `x + y` on two 10-element float64 vectors, and one SGD step of
logistic regression 784->10 at batch 1 (float32), theanir vs NumPy, PyTorch, JAX, PyTensor.

Part 1, `x + y` (microseconds per call, warm):
  theanir jit / trust_input   th.jit(lambda x, y: x + y) on NumPy arrays (trust_input=True)
  theanir function            th.function([x, y], x + y) (Theano style)
  numpy                       x + y
  torch                       PyTorch eager, a + b on CPU tensors
  jax                         jax.jit(lambda x, y: x + y) on device arrays (asynchronous dispatch)
  pytensor                    pytensor.function([x, y], x + y, trust_input=True), default mode
three columns: the call alone (results forced once per batch of calls), the call followed by
its wait (`.block_until_ready()` for theanir and JAX; the others return finished results) and
the call followed by reading the result into NumPy (`np.asarray`, `np.asarray(torch)`).
Below them, theanir's parts: the call with th.Array inputs, with th.config.sync, the runtime
alone (`Executable.call_async`, sync and async) and the full per-call signature
(`make_signature`, which the runtime's FastCache skips on warm calls).

Part 2, one SGD step, microseconds per step: the implementations of bench/mlp.py (logreg,
batch 1, same initial weights, losses checked against a float64 NumPy reference), plus
th.jit with the params passed as a list (a pytree: the full call path), theanir
`f.run(n_calls=1000)` and a JAX `lax.fori_loop` of 1000 steps under one `jax.jit`.

Timing: every case is timed in batches of calls; `--rounds` rounds, each timing every case once
(rotated order), so the frameworks see the same machine load; tables show the median batch
(and the best in JSON). 1 thread everywhere (set before any import), pinned to one CPU.

    python bench/overhead.py [--quick] [--peers all|none|torch,jax,...] [--results DIR]
    python bench/overhead.py --threads 1 2    # theanir's rows at each th.config.threads

`--threads 1 2`: theanir's x+y and SGD rows only, built and timed once per thread count
(th.config.threads set before each batch), interleaved in the same rounds; no pinning and no
thread variables. Writes overhead_threads.json / .md.

Replaces bench/call_overhead.py (its modes are part 1's theanir rows; its earlier results stay
in bench/results/call_overhead.json). Writes bench/results/overhead.json (JSON lines) and
overhead.md (full runs; `--quick` writes only with an explicit `--results DIR`).
"""
from __future__ import annotations

import os

import sys  # noqa: E402

THREADS_RUN = "--threads" in sys.argv  # the scaling run sets th.config.threads itself
for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "THEANIR_THREADS", "NUMBA_NUM_THREADS"):
    if not THREADS_RUN:
        os.environ[_k] = "1"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any, Callable, NamedTuple  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlp  # noqa: E402  (the SGD implementations, problem and machine description)

if not THREADS_RUN:
    mlp.pin_cpus(1)  # one CPU as well as one thread: JAX ignores its thread flags

RESULTS = mlp.RESULTS
SCAN_STEPS = 1000


class Case(NamedTuple):
    """`run(n)` makes n calls (or steps) and leaves nothing pending; `unit` calls per sample."""
    part: str
    name: str
    column: str
    run: Callable[[int], Any]
    unit: int


def repeat(fn: Callable, *args: Any, after: Callable[[Any], Any] | None = None) -> Callable[[int], Any]:
    """n calls of fn(*args); `after(result)` on each (a wait or a read), else once at the end."""
    if after is None:
        def run(n: int) -> Any:
            out = None
            for _ in range(n):
                out = fn(*args)
            return _finish(out)
    else:
        def run(n: int) -> Any:
            for _ in range(n):
                after(fn(*args))
    return run


def _finish(out: Any) -> Any:
    wait = getattr(out, "block_until_ready", None)
    return wait() if wait is not None else out


def _wait(out: Any) -> Any:
    return out.block_until_ready()


# ----------------------------------------------------------------------------- part 1: x + y

def add_cases(peers: list[str], calls: int) -> list[Case]:
    import theanir as th
    import theanir.tensor as T
    from theanir.frontend.api import make_signature
    x, y = np.arange(10.0), np.ones(10)
    cases = []

    def trio(name: str, fn: Callable, a: Any, b: Any, wait: Callable | None, read: Callable) -> None:
        fn(a, b)
        cases.append(Case("x+y", name, "call", repeat(fn, a, b), calls))
        cases.append(Case("x+y", name, "call+wait", repeat(fn, a, b, after=wait or (lambda r: r)), calls))
        cases.append(Case("x+y", name, "call+read", repeat(fn, a, b, after=read), calls))

    f = th.jit(lambda x, y: x + y)
    trio("theanir jit", f, x, y, _wait, np.asarray)
    trio("theanir trust_input", th.jit(lambda x, y: x + y, trust_input=True), x, y, _wait, np.asarray)
    sx, sy = T.dvector("x"), T.dvector("y")
    trio("theanir function", th.function([sx, sy], sx + sy), x, y, _wait, np.asarray)
    trio("numpy", np.add, x, y, None, np.asarray)
    if "torch" in peers:
        import torch
        trio("torch", torch.add, torch.from_numpy(x), torch.from_numpy(y), None, np.asarray)
    if "jax" in peers:
        import jax
        trio("jax", jax.jit(lambda x, y: x + y), jax.device_put(x), jax.device_put(y), _wait, np.asarray)
    if "pytensor" in peers:
        import pytensor
        import pytensor.tensor as pt
        px, py = pt.dvector("x"), pt.dvector("y")
        trio("pytensor", pytensor.function([px, py], px + py, trust_input=True), x, y, None, np.asarray)
    # theanir's parts (the modes of the former bench/call_overhead.py)
    a, b = f(x, y), f(x, y)
    th.synchronize()
    exe = f.compiled_for(x, y)[0].executable
    sync_calls = repeat(f, x, y)

    def synced(n: int) -> None:
        th.config.sync = True  # the warm key keeps its entries; sync is read by each call
        try:
            sync_calls(n)
        finally:
            th.config.sync = False

    parts = [("call, th.Array inputs", repeat(f, a, b)),
             ("call, th.config.sync", synced),
             ("runtime alone: Executable.call_async", repeat(exe.call_async, [x, y])),
             ("runtime alone, sync", repeat(exe.call_async, [x, y], False, 0, 0, True)),
             ("make_signature (the full path's signature)", repeat(make_signature, f.fn, (x, y), {}, (), ()))]
    for label, run in parts:
        run(10)
        cases.append(Case("x+y parts", "theanir", label, run, calls))
    return cases


# ----------------------------------------------------------------------------- part 2: SGD step

class StepResult(NamedTuple):
    case: Case
    losses: list[float]
    compile_s: float


def sgd_cases(peers: list[str], steps: int) -> tuple[list[StepResult], list[float], dict[str, str]]:
    p = mlp.make_problem(mlp.NETWORKS["logreg"], 1)
    ref = mlp.numpy_losses_f64(p)
    out, errors = [], {}
    builders = dict(mlp.BUILDERS)
    builders["theanir jit, params as a list"] = build_theanir_pytree
    for name in [n for n in builders if n.startswith("theanir") or n == "numpy" or n in peers]:
        try:
            r = builders[name](p)
        except Exception as e:  # noqa: BLE001 (recorded, as bench/mlp.py)
            errors[name] = f"{type(e).__name__}: {str(e)[:300]}"
            continue
        column = "per step, run(n_calls=N)" if name == "theanir run" else "per call"
        unit = SCAN_STEPS if name == "theanir run" else steps
        out.append(StepResult(Case("sgd", name, column, r.run, unit), r.losses, r.compile_s))
    if "jax" in peers:
        try:
            r = build_jax_scan(p)
            out.append(StepResult(Case("sgd", "jax", f"per step, lax.fori_loop of {SCAN_STEPS} under jit",
                                       r.run, SCAN_STEPS), r.losses, r.compile_s))
        except Exception as e:  # noqa: BLE001
            errors["jax fori_loop"] = f"{type(e).__name__}: {str(e)[:300]}"
    return out, ref, errors


def build_theanir_pytree(p: mlp.Problem) -> mlp.Runner:
    """th.jit(step)(params_list, x, y): the natural spelling; a list argument misses the FastCache."""
    import theanir as th
    flat = mlp._th_step(len(p.sizes) - 1)

    def step(ps: list, x: Any, y: Any) -> tuple:
        loss, *new = flat(x, y, *ps)
        return loss, new

    f = th.jit(step)
    state: dict[str, Any] = {"ps": [a.copy() for a in p.params], "i": 0}

    def run(n: int) -> float:
        ps, i, loss = state["ps"], state["i"], None
        for k in range(i, i + n):
            loss, ps = f(ps, p.xs[k % mlp.N_BATCHES], p.ys[k % mlp.N_BATCHES])
        state["ps"], state["i"] = ps, i + n
        return float(loss)

    return mlp._runner(run)


def build_jax_scan(p: mlp.Problem) -> mlp.Runner:
    """n SGD steps in one jitted lax.fori_loop; the minibatch is `i % N_BATCHES` of the data set."""
    import jax
    import jax.numpy as jnp
    data_x, data_y = jnp.stack(p.xs), jnp.stack(p.ys)
    lr = mlp.LR

    def loss_fn(ps: tuple, x: Any, y: Any) -> Any:
        logp = jax.nn.log_softmax(x @ ps[0] + ps[1], axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def body(k: Any, carry: tuple) -> tuple:
        ps, _ = carry
        i = k % mlp.N_BATCHES
        loss, g = jax.value_and_grad(loss_fn)(ps, data_x[i], data_y[i])
        return tuple(w - lr * gw for w, gw in zip(ps, g)), loss

    def many(ps: tuple, start: Any, n: int) -> tuple:
        return jax.lax.fori_loop(start, start + n, body, (ps, jnp.float32(0)))

    jitted = jax.jit(many, static_argnums=2, donate_argnums=0)
    state: dict[str, Any] = {"ps": tuple(jax.device_put(a.copy()) for a in p.params), "i": 0}

    def run(n: int) -> float:
        state["ps"], loss = jitted(state["ps"], state["i"], n)
        state["i"] += n
        return float(loss.block_until_ready())

    t = time.perf_counter()
    l0 = run(1)
    l1 = run(1)
    compile_s = time.perf_counter() - t
    run(SCAN_STEPS)  # compile the n = SCAN_STEPS loop before timing
    return mlp.Runner([l0, l1], compile_s, run)


# ----------------------------------------------------------------------------- timing and output

def measure(cases: list[Case], rounds: int) -> dict[int, list[float]]:
    """Microseconds per call for each case, one sample per round, rotated order."""
    samples: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    order = list(range(len(cases)))
    for rnd in range(rounds):
        for i in order[rnd % len(order):] + order[:rnd % len(order)]:
            c = cases[i]
            t = time.perf_counter()
            c.run(c.unit)
            samples[i].append((time.perf_counter() - t) / c.unit * 1e6)
    return samples


def table_add(rows: list[dict]) -> str:
    lines = ["| x + y, 10 float64 | call µs | call + wait µs | call + read µs |", "|---|---:|---:|---:|"]
    for name in dict.fromkeys(r["framework"] for r in rows if r["part"] == "x+y"):
        cell = {r["column"]: r["us"] for r in rows if r["part"] == "x+y" and r["framework"] == name}
        lines.append(f"| {name} | " + " | ".join(f"{cell.get(c, float('nan')):.2f}" for c in
                                                  ("call", "call+wait", "call+read")) + " |")
    lines += ["", "| theanir x + y, the parts | µs |", "|---|---:|"]
    lines += [f"| {r['column']} | {r['us']:.2f} |" for r in rows if r["part"] == "x+y parts"]
    return "\n".join(lines)


def table_sgd(rows: list[dict]) -> str:
    lines = ["| logreg 784->10 SGD step, batch 1, float32 | how | µs per step | compile s |",
             "|---|---|---:|---:|"]
    for r in (r for r in rows if r["part"] == "sgd"):
        flag = "" if r["loss_ok"] else " (loss mismatch!)"
        lines.append(f"| {r['framework']} | {r['column']} | {r['us']:.2f}{flag} | {r['compile_s']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", default="all", help="all, none, or a comma list of " + ", ".join(mlp.PEERS))
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds (25; 5 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run: few, short rounds")
    ap.add_argument("--results", default=None, help="write overhead.json/md here (default bench/results; "
                    "none with --quick)")
    ap.add_argument("--threads", type=int, nargs="+", default=None,
                    help="theanir's rows only, at each of these th.config.threads values")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.threads:
        return threads_main(args)
    peers = list(mlp.PEERS) if args.peers == "all" else [] if args.peers == "none" else \
        [s.strip() for s in args.peers.split(",") if s.strip()]
    names, skipped = mlp.available(peers)
    peers = [p for p in peers if p in names]
    rounds = args.rounds or (5 if args.quick else 25)
    calls, steps = (200, 50) if args.quick else (2000, 300)
    cases = add_cases(peers, calls)
    sgd, ref, errors = sgd_cases(peers, steps)
    samples = measure(cases + [s.case for s in sgd], rounds)
    meta = {"bench": "overhead", "kind": "machine", **mlp.machine(), "versions": mlp.versions(names),
            "skipped": {**skipped, **errors}, "rounds": rounds, "threads": 1}
    rows = [meta]
    extra = {len(cases) + k: s for k, s in enumerate(sgd)}
    for i, c in enumerate(cases + [s.case for s in sgd]):
        row = {"bench": "overhead", "part": c.part, "framework": c.name, "column": c.column,
               "us": round(statistics.median(samples[i]), 3), "best_us": round(min(samples[i]), 3),
               "calls_per_sample": c.unit}
        if i in extra:
            s = extra[i]
            rel = max(abs(a - b) / abs(b) for a, b in zip(s.losses, ref))
            row.update(compile_s=round(s.compile_s, 4), loss_first_steps=[round(v, 6) for v in s.losses],
                       loss_reference=[round(v, 6) for v in ref], loss_ok=rel <= 1e-4)
        rows.append(row)
    for r in rows:
        print(json.dumps(r))
    md = table_add(rows[1:]) + "\n\n" + table_sgd(rows[1:])
    print("\n" + md)
    out = args.results or (None if args.quick else RESULTS)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "overhead.json"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        with open(os.path.join(out, "overhead.md"), "w") as f:
            f.write(f"# bench/overhead.py: call overhead, 1 thread\n\n{mlp.describe(meta)} Medians of {rounds} "
                    f"rounds.\n\n{md}\n")


def threads_main(args: argparse.Namespace) -> None:
    """theanir's jit rows (x+y call+read, SGD per call) per thread count, interleaved."""
    import theanir as th

    rounds = args.rounds or (5 if args.quick else 25)
    calls, steps = (200, 50) if args.quick else (2000, 300)
    keep = {("x+y", "theanir jit", "call+read"), ("x+y", "theanir jit", "call"),
            ("sgd", "theanir jit", "per call"), ("sgd", "theanir function", "per call")}
    cases: list[Case] = []
    for k in args.threads:
        th.config.threads = k
        built = add_cases([], calls) + [r.case for r in sgd_cases([], steps)[0]]
        for c in built:
            if (c.part, c.name, c.column) in keep:
                def run(n: int, run: Callable = c.run, k: int = k) -> Any:
                    th.config.threads = k
                    return run(n)
                cases.append(Case(c.part, f"{c.name} @{k}", c.column, run, c.unit))
    load = [os.getloadavg()[0]]
    samples = measure(cases, rounds)
    load.append(os.getloadavg()[0])
    meta = {"bench": "overhead", "kind": "machine", **mlp.machine(), "versions": mlp.versions(["theanir"]),
            "rounds": rounds, "threads": args.threads,
            "loadavg_1min": load}
    rows = [meta]
    for i, c in enumerate(cases):
        rows.append({"bench": "overhead", "part": c.part, "framework": c.name, "column": c.column,
                     "threads": int(c.name.rsplit("@", 1)[1]), "us": round(statistics.median(samples[i]), 3),
                     "best_us": round(min(samples[i]), 3), "calls_per_sample": c.unit})
    lines = ["| case | " + " | ".join(f"{k} thread(s) (us)" for k in args.threads) +
             f" | {args.threads[-1]} vs {args.threads[0]} |", "| --- |" + " ---: |" * (len(args.threads) + 1)]
    for part, name, column in sorted(keep):
        us = {r["threads"]: r["us"] for r in rows[1:]
              if (r["part"], r["framework"].rsplit(" @", 1)[0], r["column"]) == (part, name, column)}
        if us:
            lines.append(f"| {part}: {name}, {column} | " + " | ".join(f"{us[k]:.2f}" for k in args.threads) +
                         f" | {us[args.threads[-1]] / us[args.threads[0]]:.3f} |")
    md = "\n".join(lines)
    for r in rows:
        print(json.dumps(r))
    print("\n" + md)
    out = args.results or (None if args.quick else RESULTS)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "overhead_threads.json"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        with open(os.path.join(out, "overhead_threads.md"), "w") as f:
            f.write(f"# bench/overhead.py --threads {' '.join(map(str, args.threads))}\n\n{mlp.describe(meta)} "
                    f"Medians of {rounds} rounds, interleaved; load average (1 min) {load}.\n\n{md}\n")


if __name__ == "__main__":
    main()
