"""th.config.threads by default (issue 19): its default and flags, OpenMP loops behind the cost
model (theanir-parallel-loops), and the same results with 1 and 2 threads.

Runs that execute OpenMP loops run in child processes (run_openmp_child), like the other
OpenMP tests; the tests that only look at the emitted IR run here (lowering loads nothing).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import theanir as th
from theanir.passes.lower.parallel_loops import MIN_WORK

from support import run_openmp_child


def _config_in_child(env: dict[str, str], expr: str) -> str:
    base = {k: v for k, v in os.environ.items()
            if k not in ("THEANIR_THREADS", "OMP_NUM_THREADS", "THEANIR_FLAGS", "THEANIR_OPENMP")}
    proc = subprocess.run([sys.executable, "-c", f"import theanir as th; print({expr})"], capture_output=True,
                          text=True, env={**base, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_default_threads_are_the_cpus_this_process_may_use():
    assert _config_in_child({}, "th.config.threads") == str(len(os.sched_getaffinity(0)))
    assert _config_in_child({}, "th.config.openmp") == "True"  # on by default (frontend/config.py)
    assert _config_in_child({"THEANIR_OPENMP": "0"}, "th.config.openmp") == "False"


def test_threads_from_the_environment_and_flags():
    assert _config_in_child({"THEANIR_FLAGS": "threads=3"}, "th.config.threads") == "3"
    assert _config_in_child({"THEANIR_THREADS": "2"}, "th.config.threads") == "2"
    assert _config_in_child({"THEANIR_THREADS": "2", "THEANIR_FLAGS": "threads=1"}, "th.config.threads") == "1"
    assert _config_in_child({"THEANIR_FLAGS": "openmp=False"}, "th.config.openmp") == "False"
    assert _config_in_child({"THEANIR_OPENMP": "0"}, "th.config.openmp") == "False"
    proc = subprocess.run([sys.executable, "-c", "import theanir"], capture_output=True, text=True,
                          env={**os.environ, "THEANIR_FLAGS": "threads=0"}, timeout=120)
    assert proc.returncode != 0 and "config.threads must be an int >= 1, got 0" in proc.stderr


def _chain(x):
    return th.tanh(x * 1.5 + 0.5) * x - x


@pytest.fixture
def two_threads(monkeypatch):
    monkeypatch.setattr(th.config, "openmp", True)
    monkeypatch.setattr(th.config, "threads", 2)


def test_small_calls_stay_serial(two_threads):
    """Below the threshold the emitted code is the serial loops (no OpenMP), above it an OpenMP
    loop whose team is set to config.threads; 1 thread never emits OpenMP."""
    f = th.jit(_chain)
    small, big = np.zeros(1000, np.float32), np.zeros(1 << 20, np.float32)
    assert 1000 * 20 < MIN_WORK < (1 << 20) * 20
    text = f.lower(small).as_text("llvm")
    assert "omp." not in text and "omp_set_num_threads" not in text
    text = f.lower(big).as_text("llvm")
    assert "omp.parallel" in text and "omp.wsloop" in text
    assert "llvm.mlir.constant(2 : i32)" in text and "omp_set_num_threads" in text
    th.config.threads = 1
    assert "omp." not in f.lower(big).as_text("llvm")


def test_sizes_known_in_the_call_branch_between_serial_and_parallel(two_threads):
    """Dynamic dims: the work is computed in the call and compared with MIN_WORK; both the
    OpenMP loop and the serial loops are in the code."""
    f = th.jit(_chain, dynamic_shapes=True)
    text = f.lower(np.zeros(10, np.float32)).as_text("llvm")
    assert "omp.parallel" in text and f"llvm.mlir.constant({MIN_WORK} : index)" in text


SAME_RESULTS = r"""
import numpy as np
import scipy.sparse as sp
import theanir as th
from theanir.tensor.nnet import conv2d
from theanir.tensor.signal import pool

rng = np.random.default_rng(0)
x = rng.standard_normal((1000, 1000)).astype(np.float32)
y = rng.standard_normal((1000, 1000)).astype(np.float32)
imgs = rng.standard_normal((64, 3, 28, 28)).astype(np.float32)
filt = rng.standard_normal((20, 3, 5, 5)).astype(np.float32)
s = sp.random(2000, 1500, density=0.05, format="csr", random_state=0, dtype=np.float64)
d = rng.standard_normal((1500, 40))
cases = {
    "chain": (lambda x, y: th.exp(-(th.tanh(x * 1.5 + y) * y - x) ** 2) + th.maximum(x, y), (x, y)),
    "chain_f64": (lambda x, y: th.tanh(x * 1.5 + y) * y - x, (x.astype(np.float64), y.astype(np.float64))),
    "rows": (lambda x, y: th.sum(x * y, axis=1), (x, y)),
    "cols": (lambda x, y: th.max(x - y, axis=0), (x, y)),
    "sum": (lambda x, y: th.sum(x * y), (x, y)),
    "matmul": (lambda x, y: th.tanh(x @ y.T), (x, y)),
    "conv": (lambda a, w: th.tanh(pool.pool_2d(conv2d(a, w), (2, 2), ignore_border=True)), (imgs, filt)),
    "conv_grad": (lambda a, w: th.grad(lambda w: th.sum(th.tanh(conv2d(a, w)) ** 2))(w), (imgs, filt)),
    "sparse": (lambda s, d: th.tanh(th.sparse.dot(s, d)), (s, d)),
}
out = {}
for threads in (1, 2):
    th.config.threads = threads
    for name, (fn, args) in cases.items():
        f = th.jit(fn)
        out[name, threads] = np.asarray(f(*args))
        if threads == 2 and name in ("chain", "conv", "rows"):
            assert "omp.parallel" in f.lower(*args).as_text("llvm"), name
for name in cases:  # OpenBLAS (products, conv's im2col GEMM) rounds by its thread count's blocking
    tol = 1e-4 if name in ("matmul", "conv", "conv_grad") else 2e-6
    np.testing.assert_allclose(out[name, 1], out[name, 2], rtol=tol, atol=tol, err_msg=name)
# each output element's reduction stays in one thread, in the same order: bit-identical
for name in ("rows", "cols", "sum", "chain", "chain_f64"):
    np.testing.assert_array_equal(out[name, 1], out[name, 2], err_msg=name)
ones = np.ones(2**25, np.float32)  # the hardening issue's exact long float32 sum, 2 threads
th.config.threads, th.config.openmp = 2, True
assert float(np.asarray(th.jit(lambda v: th.sum(v))(ones))) == 2.0**25
assert float(np.asarray(th.jit(lambda v: th.sum(v.reshape((4096, 8192)), axis=1))(ones))[0]) == 8192.0
print("ok")
"""


def test_one_and_two_threads_compute_the_same(tmp_path):
    """Elementwise chains, reductions, products, conv (+ its gradient) and a sparse product with
    1 and 2 threads; OpenMP loops were used. A child process: it loads libiomp5."""
    run_openmp_child(SAME_RESULTS, tmp_path)


CTRL_C_AND_ASYNC = r"""
import signal, threading, time
import numpy as np
import theanir as th

th.config.threads, th.config.openmp = 2, True
x = np.random.default_rng(0).standard_normal(1 << 21).astype(np.float32)
f = th.jit(lambda x: th.tanh(x * 1.5 + 0.5) * x - x)
want = np.tanh(x * 1.5 + 0.5) * x - x
results = [f(x) for _ in range(20)]  # queued on the runtime's worker: OpenMP loops there
assert "omp.parallel" in f.lower(x).as_text("llvm")
for r in results:
    np.testing.assert_allclose(np.asarray(r), want, rtol=1e-5, atol=1e-6)
# a long scan whose steps run OpenMP loops: Ctrl-C stops it (the scan polls the flag)
def body(c, _):
    return th.tanh(c * 0.5 + 0.25), None
g = th.jit(lambda x: th.lax.scan(body, x, None, length=100000)[0])
g(x[:16]).block_until_ready()
threading.Timer(1.0, lambda: signal.raise_signal(signal.SIGINT)).start()
t = time.perf_counter()
try:
    np.asarray(g(x))
    raise SystemExit("not interrupted")
except KeyboardInterrupt:
    pass
assert time.perf_counter() - t < 30
np.testing.assert_allclose(np.asarray(f(x)), want, rtol=1e-5, atol=1e-6)  # still works after
print("ok")
"""


def test_async_calls_and_ctrl_c_with_openmp_loops(tmp_path):
    run_openmp_child(CTRL_C_AND_ASYNC, tmp_path)


def test_small_programs_compile_the_same_code_with_one_and_two_threads(monkeypatch):
    """bench/overhead.py's SGD step (logistic regression, batch 1): no nest reaches MIN_WORK,
    so the code for 2 threads is the serial code, to the byte."""
    def loss(w, b, x, y):
        p = th.softmax(x @ w + b, axis=-1)
        return -th.mean(th.log(p[th.arange(x.shape[0]), y]))

    @th.jit
    def step(w, b, x, y):
        gw, gb = th.grad(loss, argnums=(0, 1))(w, b, x, y)
        return w - 0.01 * gw, b - 0.01 * gb

    args = (np.zeros((784, 10), np.float32), np.zeros(10, np.float32), np.ones((1, 784), np.float32),
            np.zeros(1, np.int32))
    monkeypatch.setattr(th.config, "openmp", True)
    texts = []
    for n in (1, 2):
        monkeypatch.setattr(th.config, "threads", n)
        texts.append(step.lower(*args).as_text("llvm"))
    assert texts[0] == texts[1] and "omp." not in texts[1]


SPLIT_PRODUCTS = """
import numpy as np
import theanir as th
from theanir.codegen import threads
th.config.threads = 2
assert th.config.openmp
rng = np.random.default_rng(0)
cases = [((600, 40), (40, 30)),    # long M: blocks of rows
         ((20, 300), (300, 900)),  # long N: blocks of columns
         ((50, 70), (70, 40)),     # too small to split: one call
         ((20, 6001), (6001, 25)), # both sides short, K long: blocks of K, partial products summed
         ((0, 40), (40, 64)), ((64, 0), (0, 64))]
for dtype, tol in ((np.float32, 2e-4), (np.float64, 1e-12)):
    for sa, sb in cases:
        a = rng.standard_normal(sa).astype(dtype)
        b = rng.standard_normal(sb).astype(dtype)
        want = a @ b
        for f in (th.jit(lambda x, y: x @ y), th.jit(lambda x, y: x @ y, dynamic_shapes=True)):
            np.testing.assert_allclose(np.asarray(f(a, b)), want, rtol=tol, atol=tol * 10)
        at, bt = np.ascontiguousarray(a.T), np.ascontiguousarray(b.T)
        g = th.jit(lambda x, y: x.T @ y.T)   # column-major operands
        np.testing.assert_allclose(np.asarray(g(at, bt)), want, rtol=tol, atol=tol * 10)
        if want.size:  # accumulated into an existing C (the helper's beta)
            c = rng.standard_normal(want.shape).astype(dtype)
            h = th.jit(lambda x, y, z: z * 0.5 + x @ y)
            np.testing.assert_allclose(np.asarray(h(a, b, c)), c * 0.5 + want, rtol=tol, atol=tol * 10)
    x = rng.standard_normal((3, 200, 30)).astype(dtype)
    w = rng.standard_normal((3, 30, 100)).astype(dtype)
    np.testing.assert_allclose(np.asarray(th.jit(lambda p, q: p @ q)(x, w)), x @ w, rtol=tol, atol=tol * 10)
    x = rng.standard_normal((200, 30)).astype(dtype)[::2]   # strided rows
    np.testing.assert_allclose(np.asarray(th.jit(lambda p, q: p @ q)(x, w[0])), x @ w[0], rtol=tol, atol=tol * 10)
assert threads.blas_threads() == 1   # OpenBLAS's own pool stays at one thread beside OpenMP
print("ok")
"""


def test_products_split_on_openmp_threads(tmp_path):
    """With OpenMP and 2 threads, big products run as blocks of rows, columns or (both short)
    K on the team, a one-thread BLAS call each (convert-linalg-matmul-to-blas); values match
    NumPy for every layout, float32 and float64, batched, accumulated into C, empty and too
    small to split. A child process."""
    run_openmp_child(SPLIT_PRODUCTS, tmp_path)
