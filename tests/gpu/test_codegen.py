"""CUDA code generation without a GPU: every op of the op table, and the seed MLP and RNN
training steps, lower through the nvvm stage to PTX for sm_90 that nvJitLink links into a
cubin (codegen/cuda.py). Needs no GPU and no CUDA toolkit, only the `nvidia-nvjitlink` wheel
(the optional extra `theanir[cuda]`); without it the nvJitLink half skips, saying so, and the
PTX half still runs.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import theanir as th
from op_rows import ROWS
from theanir.codegen import cuda

HAVE_NVJITLINK = cuda.nvjitlink_path() is not None
needs_nvjitlink = pytest.mark.skipif(not HAVE_NVJITLINK, reason="nvidia-nvjitlink wheel not installed (pip install 'theanir[cuda]')")

# one row per op: the first the table has for it (tests/op_rows.py keys every op of the registry)
FIRST_ROWS = list({r.op: r for r in reversed(ROWS)}.values())[::-1]


def _generate(fn, *args, link: bool = HAVE_NVJITLINK) -> cuda.CudaArtifact:
    low = th.jit(fn).lower(*args)
    return cuda.generate(low.traced.module, low.options, link=link)


def _check(art: cuda.CudaArtifact) -> None:
    for name, text in art.ptx.items():
        assert ".target sm_90" in text and ".visible .entry" in text, name
    launched = {k["module"] for k in art.kernels}
    assert launched <= set(art.ptx), f"launches of kernels with no PTX: {launched - set(art.ptx)}"
    if HAVE_NVJITLINK:
        assert set(art.cubins) == set(art.ptx)
        for name, cubin in art.cubins.items():
            assert cubin[:4] == b"\x7fELF", f"{name}: nvJitLink output is not an ELF cubin"


@pytest.mark.parametrize("row", FIRST_ROWS, ids=[r.id for r in FIRST_ROWS])
def test_op_row_to_ptx_and_cubin(row, tmp_path):
    args = row.inputs(np.random.default_rng(0), row.cases[0], np.float32)
    art = _generate(row.fn, *args)
    _check(art)
    art.save(str(tmp_path))
    manifest = json.loads((tmp_path / "kernels.json").read_text())
    assert manifest["chip"] == "sm_90" and manifest["modules"] == sorted(art.ptx)


def test_elementwise_chain_and_reduction_are_kernels():
    x = np.ones((8, 300), np.float32)
    art = _generate(lambda a, b: th.tanh(a * b + 1.0).sum(axis=1), x, x)
    assert art.kernels and not art.cublas
    # one thread per element of a 256-wide tile: the launch sizes are known at compile time
    assert all(k["block"][0] == 256 for k in art.kernels), art.kernels
    _check(art)


def test_matmul_calls_cublas_not_a_kernel():
    a, b = np.ones((60, 784), np.float32), np.ones((784, 100), np.float32)
    art = _generate(lambda x, w: x @ w, a, b)
    assert art.cublas == ["__theanir_cublas_sgemm"]
    assert "linalg.matmul" not in art.host
    art64 = _generate(lambda x, w: x @ w.T, a.astype(np.float64), b.T.astype(np.float64).copy())
    assert art64.cublas == ["__theanir_cublas_dgemm"]


def test_batched_matmul_is_a_host_loop_of_cublas_calls():
    a, b = np.ones((3, 4, 5), np.float32), np.ones((3, 5, 2), np.float32)
    art = _generate(lambda x, y: th.matmul(x, y), a, b)
    assert art.cublas == ["__theanir_cublas_sgemm"]


def _mlp_step(x, y, w1, b1, w2, b2):
    def loss(ps, x, y):
        h = th.tanh(x @ ps[0] + ps[1])
        return th.mean(th.logsoftmax_crossentropy(h @ ps[2] + ps[3], y))
    value, grads = th.value_and_grad(loss)([w1, b1, w2, b2], x, y)
    return (value, *[p - 0.1 * g for p, g in zip((w1, b1, w2, b2), grads)])


def test_seed_mlp_training_step():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 784)).astype(np.float32)
    y = rng.integers(0, 10, 60).astype(np.int32)
    ps = [rng.standard_normal(s).astype(np.float32) for s in ((784, 500), (500,), (500, 10), (10,))]
    art = _generate(_mlp_step, x, y, *ps)
    _check(art)
    assert len(art.cublas) >= 3  # forward 2, backward at least the weight gradients


def _rnn_step(xs, ys, W, U, b, V, c):
    def loss(ps, xs, ys):
        W, U, b, V, c = ps
        h0 = th.zeros((W.shape[1],), np.float32)
        hs, _ = th.scan(lambda x, h, W, U, b: th.tanh(x @ W + h @ U + b),
                        sequences=xs, outputs_info=h0, non_sequences=[W, U, b])
        return th.logsoftmax_crossentropy(hs @ V + c, ys).sum()
    value, grads = th.value_and_grad(loss)([W, U, b, V, c], xs, ys)
    return (value, *[p - 0.01 * g for p, g in zip((W, U, b, V, c), grads)])


def test_seed_rnn_training_step():
    rng = np.random.default_rng(0)
    T, V, H = 20, 30, 50
    xs = rng.standard_normal((T, V)).astype(np.float32)
    ys = rng.integers(0, V, T).astype(np.int32)
    ps = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((V, H), (H, H), (H,), (H, V), (V,))]
    art = _generate(_rnn_step, xs, ys, *ps)
    _check(art)
    assert art.kernels and art.cublas


@needs_nvjitlink
def test_nvjitlink_refuses_bad_ptx_with_its_log():
    with pytest.raises(cuda.NvJitLinkError, match="refused"):
        cuda.ptx_to_cubin(".version 8.0\n.target sm_90\n.address_size 64\nthis is not ptx\n")


def test_nvvm_stage_is_a_sibling_of_llvm():
    from theanir.passes.pipeline import parent, stage_path
    assert parent("nvvm") == "bufferized" and parent("llvm") == "bufferized"
    assert [s.name for s in stage_path("tn", "nvvm")] == ["tn-opt", "linalg", "bufferized", "nvvm"]
    with pytest.raises(ValueError, match="does not follow"):
        stage_path("llvm", "nvvm")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_remf_expansion_matches_frem_on_the_cpu(monkeypatch, dtype):
    """theanir-gpu-expand-remf's arithmetic, run through the CPU path (the same IR it gives
    the GPU), against the CPU's own fmod (LLVM's frem) under tn.mod, bit for bit: signs,
    zeros, infinities, NaN, quotients near integers; and against np.mod on finite values."""
    from theanir.passes import pipeline
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(-50, 50, 400), [-4.0, 4.0, -0.0, 0.0, 7.0, -7.0, np.inf, -np.inf, np.nan, 5.0,
                                                    1e7, 0.3 * 3, 1e-30]])
    b = np.concatenate([rng.uniform(-7, 7, 400), [2.0, -2.0, 3.0, -3.0, np.inf, np.inf, 2.0, 2.0, 1.0, 0.0,
                                                  0.1, 0.3, 1e-31]])
    a, b = a.astype(dtype), b.astype(dtype)
    monkeypatch.setattr(th.config, "cache", False)
    want = np.asarray(th.jit(lambda x, y: th.mod(x, y))(a, b))
    llvm = pipeline.STAGES[pipeline.STAGE_NAMES.index("llvm")]
    monkeypatch.setattr(llvm, "steps", [pipeline.Step("theanir-gpu-expand-remf")] + llvm.steps)
    got = np.asarray(th.jit(lambda x, y: th.mod(x, y))(a, b))
    np.testing.assert_array_equal(got, want)
    real = ~np.isnan(want)  # a NaN's sign bit is not part of fmod's contract
    assert np.array_equal(np.signbit(got[real]), np.signbit(want[real]))
    np.testing.assert_array_equal(got[:400], np.mod(a[:400], b[:400]))
