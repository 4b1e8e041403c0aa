"""AOT libraries (th.aot, issue 18): C-caller overhead, the seed MLP step from C vs th.function,
library size and load time.

  overhead   a 10-element float32 add compiled with th.aot.compile, called from a C loop:
             ns per call of the public entry (all boundary checks) and, for reference, of
             the packed entry it wraps (prebuilt descriptors, no checks). Target <= 200 ns.
  mlp step   bench/mlp.py's MLP 784-500-10 SGD step (float32, tanh, softmax cross-entropy,
             lr 0.01, 8 random minibatches cycled), th.function with shared parameters and
             updates: the training library called from C (NAME_step per minibatch) vs the same
             th.function called from Python (dynamic batch dim, the default, and
             dynamic_shapes=False). Examples/s, median of `--rounds` interleaved rounds of
             ~`--round-s` s; the C rounds each run in a fresh process (init + warm-up untimed).
             The losses after the same steps are checked to agree.
  size/load  bytes of libNAME.so and of what ships beside it; dlopen + NAME_init time in a
             fresh C process; `import theanir.aot` + th.aot.load in a fresh Python process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python bench/aot.py [--threads 1] [--batches 1 10 60]

Writes JSON lines to bench/results/aot.jsonl and a table to bench/results/aot.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


def _threads_from_argv() -> int:
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv) and argv[i + 1].isdigit():
            return int(argv[i + 1])
        if a.startswith("--threads=") and a.split("=", 1)[1].isdigit():
            return int(a.split("=", 1)[1])
    return 1


for _var in ("THEANIR_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[_var] = str(_threads_from_argv())  # before NumPy, theanir or the C children load a BLAS

import numpy as np  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SIZES = (784, 500, 10)
LR = 0.01
N_BATCHES = 8

OVERHEAD_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "add.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  long n = atol(argv[1]);
  float a[10], b[10], c[10];
  for (int i = 0; i < 10; ++i) { a[i] = i; b[i] = 2 * i; }
  theanir_buffer ba = {a, sizeof a, THEANIR_FLOAT32, 1, {10}, NULL}, bb = {b, sizeof b, THEANIR_FLOAT32, 1, {10}, NULL};
  theanir_buffer bc = {c, sizeof c, THEANIR_FLOAT32, 0, {0}, NULL};
  double best = 1e9, best_raw = 1e9;
  int64_t da[5] = {(int64_t)a, (int64_t)a, 0, 10, 1}, db[5] = {(int64_t)b, (int64_t)b, 0, 10, 1}, dc[5] = {(int64_t)c, (int64_t)c, 0, 10, 1};
  void *p[3] = {da, db, dc}, *args[3] = {&p[0], &p[1], &p[2]};
  void (*entry)(void **) = (void (*)(void **))add_entry_point(0);
  for (int rep = 0; rep < 7; ++rep) {
    double t = now();
    for (long i = 0; i < n; ++i) if (add_add(&ba, &bb, &bc)) { fprintf(stderr, "%s\n", add_last_error()); return 1; }
    double dt = (now() - t) / n;
    if (dt < best) best = dt;
    t = now();
    for (long i = 0; i < n; ++i) entry(args);
    dt = (now() - t) / n;
    if (dt < best_raw) best_raw = dt;
  }
  if (c[9] != 27.0f) { fprintf(stderr, "wrong result %f\n", c[9]); return 1; }
  printf("{\"entry_ns\": %.2f, \"packed_ns\": %.2f}\n", best * 1e9, best_raw * 1e9);
  return 0;
}
"""

STEP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mlpstep.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  long batch = atol(argv[2]), warm = atol(argv[3]), check_steps = atol(argv[5]);
  double seconds = atof(argv[4]);
  size_t nx = (size_t)8 * batch * 784;
  float *xs = malloc(nx * sizeof(float));
  int64_t *ys = malloc((size_t)8 * batch * sizeof(int64_t));
  FILE *f = fopen(argv[1], "rb");
  if (!f || fread(xs, sizeof(float), nx, f) != nx || fread(ys, sizeof(int64_t), 8 * batch, f) != (size_t)(8 * batch)) return 2;
  fclose(f);
  theanir_buffer bx[8], by[8];
  for (int k = 0; k < 8; ++k) {
    bx[k] = (theanir_buffer){xs + (size_t)k * batch * 784, (int64_t)(batch * 784 * sizeof(float)), THEANIR_FLOAT32, 2, {batch, 784}, NULL};
    by[k] = (theanir_buffer){ys + (size_t)k * batch, (int64_t)(batch * sizeof(int64_t)), THEANIR_INT64, 1, {batch}, NULL};
  }
  float loss = 0;
  theanir_buffer bl = {&loss, sizeof loss, THEANIR_FLOAT32, 0, {0}, NULL};
  if (mlpstep_init()) { fprintf(stderr, "%s\n", mlpstep_last_error()); return 1; }
  for (long i = 0; i < check_steps; ++i)
    if (mlpstep_step(&bx[i % 8], &by[i % 8], &bl)) { fprintf(stderr, "%s\n", mlpstep_last_error()); return 1; }
  double check_loss = loss;
  for (long i = 0; i < warm; ++i) mlpstep_step(&bx[i % 8], &by[i % 8], &bl);
  long steps = 0;
  double t0 = now(), t = t0;
  while (t - t0 < seconds) {
    for (int k = 0; k < 8; ++k) mlpstep_step(&bx[k], &by[k], &bl);
    steps += 8;
    t = now();
  }
  printf("{\"steps\": %ld, \"seconds\": %.6f, \"check_loss\": %.7g}\n", steps, t - t0, check_loss);
  free(xs); free(ys);
  return 0;
}
"""

LOAD_C = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  double t = now();
  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  double t_open = now() - t;
  int (*init)(void) = (int (*)(void))dlsym(h, "mlpstep_init");
  t = now();
  if (init()) return 1;
  printf("{\"dlopen_ms\": %.3f, \"init_ms\": %.3f}\n", t_open * 1e3, (now() - t) * 1e3);
  return 0;
}
"""


def cc(source: str, folder: str, name: str, libs: list[str]) -> str:
    src = os.path.join(folder, f"{name}.c")
    with open(src, "w") as f:
        f.write(source)
    exe = os.path.join(folder, name)
    subprocess.run(["cc", "-O2", "-std=gnu11", "-I", folder, src, "-o", exe, f"-L{folder}",
                    *[f"-l{lib}" for lib in libs], f"-Wl,-rpath,{folder}", "-ldl"], check=True)
    return exe


def bench_overhead(th: Any, folder: str) -> dict[str, Any]:
    def add(a, b):
        return a + b

    x = np.zeros(10, np.float32)
    th.aot.compile(add, [x, x], os.path.join(folder, "libadd"))
    exe = cc(OVERHEAD_C, folder, "overhead", ["add"])
    runs = [json.loads(subprocess.run([exe, "2000000"], check=True, capture_output=True, text=True).stdout)
            for _ in range(2)]
    return {"bench": "overhead", "entry_ns": min(r["entry_ns"] for r in runs),
            "packed_ns": min(r["packed_ns"] for r in runs), "target_ns": 200.0, "runs": runs}


def make_data(batch: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(0)  # as bench/mlp.py's make_problem
    params = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        bound = np.sqrt(6.0 / (a + b))
        params += [rng.uniform(-bound, bound, (a, b)).astype(np.float32), np.zeros(b, np.float32)]
    xs = [rng.random((batch, SIZES[0]), dtype=np.float32) for _ in range(N_BATCHES)]
    ys = [rng.integers(0, SIZES[-1], batch).astype(np.int64) for _ in range(N_BATCHES)]
    return params, xs, ys


def make_function(th: Any, params: list[np.ndarray], dynamic_shapes: bool = True) -> Any:
    import theanir.tensor as T
    shared = [th.shared(a.copy(), name=f"p{i}") for i, a in enumerate(params)]
    x, y = T.fmatrix("x"), T.lvector("y")
    h = x
    for i in range(2):
        z = T.dot(h, shared[2 * i]) + shared[2 * i + 1]
        h = T.tanh(z) if i == 0 else z
    loss = T.mean(T.logsoftmax_crossentropy(h, y))
    grads = T.grad(loss, shared)
    return th.function([x, y], loss, updates=[(s, s - LR * g) for s, g in zip(shared, grads)],
                       dynamic_shapes=dynamic_shapes)


def python_round(f: Any, xs: list, ys: list, seconds: float) -> float:
    steps, t0 = 0, time.perf_counter()
    t = t0
    while t - t0 < seconds:
        for k in range(N_BATCHES):
            out = f(xs[k], ys[k])
        float(out)
        steps += N_BATCHES
        t = time.perf_counter()
    return steps / (t - t0)


def bench_mlp(th: Any, folder: str, batch: int, rounds: int, round_s: float, check_steps: int = 2) -> dict[str, Any]:
    params, xs, ys = make_data(batch)
    data = os.path.join(folder, f"data{batch}.bin")
    with open(data, "wb") as fh:
        fh.write(np.concatenate(xs).tobytes() + np.concatenate(ys).tobytes())
    t = time.perf_counter()
    th.aot.compile(make_function(th, params), [xs[0], ys[0]], os.path.join(folder, "libmlpstep"), function_name="step")
    build_s = time.perf_counter() - t
    exe = cc(STEP_C, folder, f"step{batch}", ["mlpstep"])
    funcs = {"th.function": make_function(th, params), "th.function static": make_function(th, params, False)}
    check = {}
    for name, f in funcs.items():
        for i in range(check_steps):
            loss = float(f(xs[i % N_BATCHES], ys[i % N_BATCHES]))
        check[name] = loss
        for i in range(20):  # warm-up
            f(xs[i % N_BATCHES], ys[i % N_BATCHES])
    rates: dict[str, list[float]] = {"C (AOT library)": [], **{k: [] for k in funcs}}
    c_loss = None
    for r in range(rounds):
        order = list(rates)
        order = order[r % len(order):] + order[:r % len(order)]
        for name in order:
            if name.startswith("C"):
                out = json.loads(subprocess.run([exe, data, str(batch), "20", str(round_s), str(check_steps)],
                                                check=True, capture_output=True, text=True).stdout)
                rates[name].append(out["steps"] / out["seconds"] * batch)
                c_loss = out["check_loss"]
            else:
                rates[name].append(python_round(funcs[name], xs, ys, round_s) * batch)
    for name, loss in check.items():
        if abs(loss - c_loss) > 1e-4 * max(1.0, abs(loss)):
            raise RuntimeError(f"loss after {check_steps} steps: C {c_loss}, {name} {loss}")
    med = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    return {"bench": "mlp_step", "batch": batch, "examples_per_s": med, "best_examples_per_s": best, "rounds": rates,
            "best_c_over_function": best["C (AOT library)"] / best["th.function"],
            "best_c_over_function_static": best["C (AOT library)"] / best["th.function static"],
            "c_over_function": med["C (AOT library)"] / med["th.function"],
            "c_over_function_static": med["C (AOT library)"] / med["th.function static"],
            "aot_build_s": round(build_s, 3), "loss_after_check_steps": c_loss}


def bench_size_load(folder: str) -> dict[str, Any]:
    lib = os.path.join(folder, "libmlpstep.so")
    beside = {f: os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
              if f.endswith(".so") and not f.startswith("lib" + "add") and f != "libmlpstep.so"}
    exe = cc(LOAD_C, folder, "load", [])
    c_runs = [json.loads(subprocess.run([exe, lib], check=True, capture_output=True, text=True).stdout) for _ in range(5)]
    block = ("import sys\nclass B:\n    def find_spec(self, name, path=None, target=None):\n"
             "        if name == 'mlir' or name.startswith('mlir.'): raise ImportError('blocked')\n"
             "sys.meta_path.insert(0, B())\n")
    code = ("import time; t = time.perf_counter(); import theanir.aot as a; t1 = time.perf_counter(); "
            f"f = a.load({lib!r}); t2 = time.perf_counter(); import sys; "
            "print(t1 - t, t2 - t1, any(m.startswith('mlir') for m in sys.modules))")
    py_runs, py_blocked = [], []
    for _ in range(3):
        for prefix, out in (("", py_runs), (block, py_blocked)):
            imp, load, mlir = subprocess.run([sys.executable, "-c", prefix + code], check=True, capture_output=True,
                                             text=True).stdout.split()
            out.append((float(imp), float(load), mlir))
    return {"bench": "size_load", "library_bytes": os.path.getsize(lib), "shipped_beside": beside,
            "c_dlopen_ms": statistics.median(r["dlopen_ms"] for r in c_runs),
            "c_init_ms": statistics.median(r["init_ms"] for r in c_runs),
            "py_import_aot_ms": round(1e3 * statistics.median(r[0] for r in py_runs), 2),
            "py_load_ms": round(1e3 * statistics.median(r[1] for r in py_runs), 2),
            "py_imported_mlir": py_runs[0][2] == "True",
            "py_no_mlir_import_aot_ms": round(1e3 * statistics.median(r[0] for r in py_blocked), 2),
            "py_no_mlir_load_ms": round(1e3 * statistics.median(r[1] for r in py_blocked), 2),
            "py_no_mlir_imported_mlir": py_blocked[0][2] == "True"}


def table(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["# AOT libraries (bench/aot.py)", "",
             f"{meta['cpu']}, {meta['cpus']} CPUs, load average {meta['load_average']} at the start; "
             f"BLAS/theanir threads {meta['threads']}; BLAS {meta.get('blas')}; theanir at {meta.get('git_head', '?')}. "
             "Shared, busy machine: figures are noisy.", ""]
    for r in rows:
        if r["bench"] == "overhead":
            lines += ["| C call of a 10-element add | ns per call |", "|---|---|",
                      f"| public entry (checks every buffer) | {r['entry_ns']:.1f} |",
                      f"| packed entry (no checks, reference) | {r['packed_ns']:.1f} |",
                      f"| target | <= {r['target_ns']:.0f} |", ""]
    mlp = [r for r in rows if r["bench"] == "mlp_step"]
    if mlp:
        lines += ["| MLP 784-500-10 SGD step, batch | C (AOT library) ex/s | th.function ex/s | th.function static ex/s "
                  "| C / th.function (median; best) | C / static (median; best) |", "|---|---|---|---|---|---|"]
        for r in mlp:
            e = r["examples_per_s"]
            lines.append(f"| {r['batch']} | {e['C (AOT library)']:,.0f} | {e['th.function']:,.0f} | "
                         f"{e['th.function static']:,.0f} | {r['c_over_function']:.3f}; {r['best_c_over_function']:.3f} | "
                         f"{r['c_over_function_static']:.3f}; {r['best_c_over_function_static']:.3f} |")
        lines += ["", "Examples/s: median of the rounds; the ratios of the medians and of the best rounds. The C "
                  "library is compiled for the batch's static shape (like `th.function static`); `th.function` "
                  "has a dynamic batch dim.", ""]
    for r in rows:
        if r["bench"] == "size_load":
            beside = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in r["shipped_beside"].items()) or "nothing"
            lines += ["| library | value |", "|---|---|",
                      f"| libmlpstep.so size | {r['library_bytes'] / 1e3:.1f} kB |",
                      f"| shipped beside it | {beside} |",
                      f"| C: dlopen (RTLD_NOW, incl. the BLAS) | {r['c_dlopen_ms']:.2f} ms |",
                      f"| C: mlpstep_init (state copied in) | {r['c_init_ms']:.3f} ms |",
                      f"| Python, MLIR installed: import theanir.aot (imports all of theanir) | "
                      f"{r['py_import_aot_ms']:.1f} ms |",
                      f"| Python, MLIR installed: th.aot.load | {r['py_load_ms']:.1f} ms |",
                      f"| Python, `import mlir` blocked: import theanir.aot | {r['py_no_mlir_import_aot_ms']:.1f} ms "
                      f"(MLIR imported: {r['py_no_mlir_imported_mlir']}) |",
                      f"| Python, `import mlir` blocked: th.aot.load | {r['py_no_mlir_load_ms']:.1f} ms |", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 10, 60])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-s", type=float, default=1.0)
    parser.add_argument("--results", default=RESULTS)
    args = parser.parse_args()
    import theanir as th
    from compile_ops import machine

    meta = dict(machine(), threads=args.threads)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-aot-") as folder:
        rows.append(bench_overhead(th, folder))
        print(json.dumps(rows[-1]), flush=True)
        for batch in args.batches:
            rows.append(bench_mlp(th, folder, batch, args.rounds, args.round_s))
            print(json.dumps(rows[-1]), flush=True)
        rows.append(bench_size_load(folder))
        print(json.dumps(rows[-1]), flush=True)
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "aot.jsonl"), "a") as f:
        for r in rows:
            f.write(json.dumps(dict(r, machine=meta)) + "\n")
    md = table(rows, meta)
    with open(os.path.join(args.results, "aot.md"), "w") as f:
        f.write(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
