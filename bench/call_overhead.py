"""Call overhead of a tiny jitted function, th.jit(lambda x, y: x + y) on two 10-element
vectors: median microseconds per call (warm), sync vs async (dispatch only, and dispatch
plus reading the result), with trust_input=True, and the parts: the runtime alone
(Executable.call_async) and the frontend's full per-call signature (make_signature, which
the fast path skips). Also a 784->10 logistic-regression SGD step at batch 1 (float64).
Prints one JSON line per mode; `--save` appends them to bench/results/call_overhead.json."""
import json
import os
import statistics
import sys
import time

import numpy as np

import theanir as th
from theanir.frontend.api import make_signature


def per_call_us(fn, batch: int = 2000, repeats: int = 25) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t0) / batch * 1e6)
        th.synchronize()
    return statistics.median(samples)


def main() -> None:
    f = th.jit(lambda x, y: x + y)
    x, y = np.arange(10.0), np.ones(10)
    f(x, y).block_until_ready()
    rows = []
    th.config.sync = True
    rows.append(dict(mode="sync", us=per_call_us(lambda: f(x, y))))
    th.config.sync = False
    rows.append(dict(mode="async-dispatch", us=per_call_us(lambda: f(x, y))))
    rows.append(dict(mode="async-call+read", us=per_call_us(lambda: np.asarray(f(x, y)))))
    a, b = f(x, y), f(x, y)
    th.synchronize()
    rows.append(dict(mode="async-dispatch-Array-inputs", us=per_call_us(lambda: f(a, b))))
    c = f.compiled_for(x, y)[0]
    rows.append(dict(mode="async-executable-only", us=per_call_us(lambda: c.executable.call_async([x, y]))))
    rows.append(dict(mode="sync-executable-only",
                     us=per_call_us(lambda: c.executable.call_async([x, y], False, 0, 0, True))))
    rows.append(dict(mode="make_signature-only", us=per_call_us(
        lambda: make_signature(f.fn, (x, y), {}, (), ()))))
    rows.append(dict(mode="numpy x+y", us=per_call_us(lambda: x + y)))
    ft = th.jit(lambda x, y: x + y, trust_input=True)
    ft(x, y).block_until_ready()
    rows.append(dict(mode="async-dispatch-trust_input", us=per_call_us(lambda: ft(x, y))))
    rows.append(dict(mode="async-call+read-trust_input", us=per_call_us(lambda: np.asarray(ft(x, y)))))
    rows.append(dict(mode="logreg-784x10-sgd-batch1", us=per_call_us(logreg_step(), batch=500)))
    rows.append(dict(mode="logreg-784x10-sgd-batch1+read", us=per_call_us(logreg_step(read=True), batch=500)))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = [json.dumps({"bench": "call_overhead", **r, "us": round(r["us"], 3), "when": stamp,
                         "load_average": round(os.getloadavg()[0], 2)}) for r in rows]
    for line in lines:
        print(line)
    if "--save" in sys.argv:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "call_overhead.json")
        with open(path, "a") as f:
            f.write("".join(line + "\n" for line in lines))


def logreg_step(read: bool = False):
    """One SGD step of softmax regression 784->10 on a single example; returns a thunk that
    runs it (params fed back, as a training loop would)."""

    def step(w, b, x, y, lr):
        def loss(w, b):
            z = x @ w + b
            z = z - th.max(z, axis=1, keepdims=True)
            logp = z - th.log(th.sum(th.exp(z), axis=1, keepdims=True))
            return -th.sum(y * logp) / x.shape[0]

        gw, gb = th.grad(loss, argnums=(0, 1))(w, b)
        return w - lr * gw, b - lr * gb

    f = th.jit(step)
    rng = np.random.default_rng(0)
    state = [rng.standard_normal((784, 10)) * 0.01, np.zeros(10)]
    x = rng.standard_normal((1, 784))
    y = np.eye(10)[[3]]
    f(state[0], state[1], x, y, 0.1)[0].block_until_ready()

    def run():
        w, b = f(state[0], state[1], x, y, 0.1)
        if read:
            np.asarray(w)
        state[0], state[1] = w, b

    return run


if __name__ == "__main__":
    main()
