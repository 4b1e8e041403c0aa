"""Call overhead of a tiny jitted function, th.jit(lambda x, y: x + y) on two 10-element
vectors: median microseconds per call (warm), sync vs async (dispatch only, and dispatch
plus reading the result), and the parts: the runtime alone (Executable.call_async) and the
frontend's per-call signature. Prints one JSON line per mode."""
import json
import statistics
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
    for r in rows:
        print(json.dumps({"bench": "call_overhead", **r, "us": round(r["us"], 3)}))


if __name__ == "__main__":
    main()
