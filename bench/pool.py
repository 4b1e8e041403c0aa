"""Runtime memory: the intermediate-buffer pool (allow_gc) and in-place updates, and the warm
call of th.function vs th.jit. Median microseconds per call (warm; each timed batch of calls
ends with th.synchronize(), so a row is the time per completed call, not dispatch).

  mlp-function   MLP 784-500-10 SGD step, Theano style: th.shared params, th.function([x, y],
                 loss, updates=...) (updates written in place), float32, batch 1 and 60,
                 allow_gc=True (buffers freed every call) vs False (kept in a pool)
  mlp-function-copy  the same without in-place updates (each update written to a new array,
                 as before issue 6; a private switch: the JitFunction's `donate` emptied)
  mlp-jit        the same step as th.jit(step)(params, x, y) -> (loss, new params), params fed
                 back (new output buffers every call), allow_gc True vs False
  big-temp       th.jit(lambda x, w: (x @ w).sum()) with a 64 MB float32 temporary (4096 x 8
                 @ 8 x 4096): above glibc's largest mmap threshold (32 MB), so each call maps,
                 faults in and unmaps it unless the pool keeps it (allow_gc True vs False)
  x+y            jitted `x + y` vs th.function([x, y], x + y) on 10-element float64 vectors

Configurations are interleaved round by round (the machine is shared and noisy); 1 thread
(set before any import). Prints JSON lines; `--save` appends them to bench/results/pool.json.

    python bench/pool.py [--rounds 7] [--save]
"""
from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "THEANIR_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

import theanir as th  # noqa: E402
import theanir.tensor as T  # noqa: E402

DT = "float32"


def time_us(fn: Callable[[], object], calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    th.synchronize()
    return (time.perf_counter() - t0) / calls * 1e6


def init(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(0, 784 ** -0.5, (784, 500)).astype(DT), np.zeros(500, DT),
            rng.normal(0, 500 ** -0.5, (500, 10)).astype(DT), np.zeros(10, DT)]


def data(rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.random((batch, 784)).astype(DT), np.eye(10, dtype=DT)[rng.integers(0, 10, batch)]


def mlp_function(batch: int, allow_gc: bool, in_place: bool = True) -> Callable[[], object]:
    rng = np.random.default_rng(0)
    params = [th.shared(v, name=n) for v, n in zip(init(rng), ("w1", "b1", "w2", "b2"))]
    w1, b1, w2, b2 = params
    x, y = T.matrix("x", dtype=DT), T.matrix("y", dtype=DT)
    p = T.nnet.softmax(T.dot(T.tanh(T.dot(x, w1) + b1), w2) + b2)
    loss = -T.mean(T.sum(y * T.log(p), axis=1))
    lr = np.asarray(0.01, DT)
    step = th.function([x, y], loss, updates=[(q, q - lr * g) for q, g in zip(params, T.grad(loss, params))],
                       allow_gc=allow_gc)
    if not in_place:
        step._jit.donate = ()  # the updates go to new arrays, as before in-place updates
    xs, ys = data(rng, batch)
    step(xs, ys)
    return lambda: step(xs, ys)


def mlp_jit(batch: int, allow_gc: bool) -> Callable[[], object]:
    def loss_fn(params, x, y):
        w1, b1, w2, b2 = params
        logp = th.log_softmax(th.tanh(x @ w1 + b1) @ w2 + b2, axis=1)
        return -th.mean(th.sum(y * logp, axis=1))

    def sgd(params, x, y):
        loss, grads = th.value_and_grad(loss_fn)(params, x, y)
        return loss, [w - np.float32(0.01) * g for w, g in zip(params, grads)]

    rng = np.random.default_rng(0)
    state = [init(rng)]
    xs, ys = data(rng, batch)
    step = th.jit(sgd, allow_gc=allow_gc)
    step(state[0], xs, ys)

    def run() -> None:
        _, state[0] = step(state[0], xs, ys)

    return run


def big_temp(allow_gc: bool) -> Callable[[], object]:
    rng = np.random.default_rng(0)
    x, w = rng.random((4096, 8)).astype(DT), rng.random((8, 4096)).astype(DT)
    f = th.jit(lambda x, w: (x @ w).sum(), allow_gc=allow_gc)
    f(x, w)
    return lambda: f(x, w)


def add_jit() -> Callable[[], object]:
    f = th.jit(lambda x, y: x + y)
    x, y = np.arange(10.0), np.ones(10)
    f(x, y)
    return lambda: f(x, y)


def add_function() -> Callable[[], object]:
    a, b = T.dvector("x"), T.dvector("y")
    f = th.function([a, b], a + b)
    x, y = np.arange(10.0), np.ones(10)
    f(x, y)
    return lambda: f(x, y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    cases: dict[tuple, tuple[Callable[[], object], int]] = {}
    for batch in (1, 60):
        calls = 300 if batch == 1 else 30
        for gc in (True, False):
            cases[("mlp-function", batch, gc)] = (mlp_function(batch, gc), calls)
            cases[("mlp-jit", batch, gc)] = (mlp_jit(batch, gc), calls)
        cases[("mlp-function-copy", batch, True)] = (mlp_function(batch, True, in_place=False), calls)
    for gc in (True, False):
        cases[("big-temp", 4096, gc)] = (big_temp(gc), 10)
    cases[("x+y-jit", 10, None)] = (add_jit(), 5000)
    cases[("x+y-function", 10, None)] = (add_function(), 5000)
    samples: dict[tuple, list[float]] = {k: [] for k in cases}
    for r in range(args.rounds):
        keys = list(cases)
        for k in keys[r % len(keys):] + keys[:r % len(keys)]:
            fn, calls = cases[k]
            samples[k].append(time_us(fn, calls))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = []
    for (mode, size, gc), s in samples.items():
        row = {"bench": "pool", "mode": mode, "size": size, "allow_gc": gc, "us": round(statistics.median(s), 2),
               "best_us": round(min(s), 2), "when": stamp, "load_average": round(os.getloadavg()[0], 2)}
        lines.append(json.dumps(row))
        print(lines[-1], flush=True)
    if args.save:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "pool.json")
        with open(path, "a") as f:
            f.write("".join(line + "\n" for line in lines))


if __name__ == "__main__":
    main()
