"""tn-fuse numerics: fused (fast_run) == unfused (fast_compile) == NumPy, over a table of chains.

Each case is written once against a module `m` (theanir or NumPy), so the same function is
the jitted program and its reference. Shapes cover broadcasting, size 0 and rank 0.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from mlir import ir

import theanir as th
from support import FLOATS, assert_close, rand
from theanir.dialects.tn.context import get_context
from theanir.dialects.tn.interpreter import interpret
from theanir.passes.optimize.fuse import run_fuse
from theanir.passes.verify import VerificationError, verify_module

SHAPE_PAIRS = [((5,), (5,)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 0, 3), (3,)), ((), ()),
               ((2, 1, 3), (4, 1)), ((0,), (1,))]


def _ax(x) -> int | None:
    return -1 if x.ndim else None


# name -> (f(m, x, y), needs a non-empty reduced extent)
CASES: dict[str, tuple[Callable, bool]] = {
    "chain": (lambda m, x, y: m.tanh(x * y + 1.0) - m.exp(-(x * x)) * 0.5, False),
    "bool_where": (lambda m, x, y: m.where((x > 0) & (y < 0.5), x * 2.0, m.maximum(y, -x)), False),
    "cast": (lambda m, x, y: ((x > y).astype(np.float64) * 3.0 + x.astype(np.float64)), False),
    "sum_keepdims": (lambda m, x, y: (m.exp(x) * y - 1.0).sum(axis=_ax(x * y), keepdims=True), False),
    "sum_all": (lambda m, x, y: (m.abs(x - y) * 0.25 + y).sum(), False),
    "max_axis0": (lambda m, x, y: m.maximum(x, y * 2.0).max(axis=0 if (x * y).ndim else None), True),
    "any": (lambda m, x, y: ((x > y) | (x < -2.0)).any(axis=_ax(x * y)), False),
    "prod": (lambda m, x, y: (x * 0.1 + 1.0 - y * 0.05).prod(axis=_ax(x * y), keepdims=True), False),
    "mean": (lambda m, x, y: (x * y).mean(axis=_ax(x * y)), True),
    "bool_out": (lambda m, x, y: ((x > y) & ~(y < -1.0)) | (x * y > 0.5), False),
    "two_outputs": (lambda m, x, y: (m.sqrt(m.abs(x) + 1.0) * y, m.sqrt(m.abs(x) + 1.0) + x), False),
}


def _run_all(name: str, dtype, xs: tuple, ys: tuple, rng: np.random.Generator):
    f, needs_extent = CASES[name]
    if needs_extent and 0 in np.broadcast_shapes(xs, ys):
        pytest.skip("max/mean of an empty axis")
    x, y = rand(rng, xs, dtype), rand(rng, ys, dtype)
    want = f(np, x, y)
    fused = th.jit(lambda a, b: f(th, a, b), optimizer="fast_run")(x, y)
    unfused = th.jit(lambda a, b: f(th, a, b), optimizer="fast_compile")(x, y)
    return fused, unfused, want


def _as_dtype(v, dtype):
    v = np.asarray(v)
    return v.astype(dtype) if v.dtype.kind == "f" and v.dtype != np.float64 else v


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("xs, ys", SHAPE_PAIRS, ids=[f"{a}-{b}" for a, b in SHAPE_PAIRS])
@pytest.mark.parametrize("name", list(CASES))
def test_fused_equals_unfused_and_numpy(name, xs, ys, dtype, rng):
    fused, unfused, want = _run_all(name, dtype, xs, ys, rng)
    outs = zip(fused, unfused, want) if isinstance(want, tuple) else [(fused, unfused, want)]
    for got, base, ref in outs:
        ref = _as_dtype(ref, dtype)
        assert_close(got, base)
        assert_close(got, ref, rtol=1e-4 if np.dtype(dtype) == np.float32 else None)


def _count(text: str, what: str) -> int:
    return text.count(what)


def test_chain_plus_sum_is_one_fusion_and_one_generic():
    f = th.jit(lambda x, b: (th.tanh(x * 2.0 + b) * x).sum(axis=1), optimizer="fast_run")
    low = f.lower(np.ones((3, 4), np.float32), np.ones(4, np.float32))
    tn_opt = low.as_text("tn-opt")
    assert _count(tn_opt, '"tn.fusion"') == 1
    assert _count(low.as_text("linalg"), "linalg.generic") == 1
    off = th.jit(f.fn, optimizer="fast_compile").lower(np.ones((3, 4), np.float32), np.ones(4, np.float32))
    assert '"tn.fusion"' not in off.as_text("tn-opt")
    assert _count(off.as_text("linalg"), "linalg.generic") > 1


def test_intermediate_used_outside_is_materialized():
    def f(x):
        e = th.exp(x)
        return e * e + 1.0, e

    low = th.jit(f).lower(np.ones(8, np.float32))
    text = low.as_text("tn-opt")
    assert text.index('"tn.exp"') < text.index('"tn.fusion"')  # exp stays outside the group
    x = rand(np.random.default_rng(1), (8,), np.float32)
    a, e = th.jit(f)(x)
    assert_close(e, np.exp(x))
    assert_close(a, np.exp(x) * np.exp(x) + np.float32(1), rtol=1e-5)


def test_reference_evaluation_of_fusion(rng):
    f = lambda x, y: th.where(x > y, th.exp(x - y), y * y).sum(axis=0, keepdims=True)
    x, y = rand(rng, (3, 4), np.float64), rand(rng, (4,), np.float64)
    m = th.jit(f).lower(x, y).module_at("tn-opt")
    assert '"tn.fusion"' in str(m)
    (got,) = interpret(m, x, y)  # tn.fusion runs its group through the ops' references
    assert_close(got, np.where(x > y, np.exp(x - y), y * y).sum(axis=0, keepdims=True))


BAD = {
    "differ from the op.s rule": """
      %0 = "tn.fusion"() ({
        %1 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
        %2 = "tn.neg"(%1) : (tensor<4xf32>) -> tensor<4xf32>
        gpu.yield %2 : tensor<4xf32>
      }) : () -> tensor<4xf64>""",
    "cannot be fused": """
      %0 = "tn.fusion"() ({
        %1 = "tn.reduce_sum"(%arg0) {axes = array<i64: 0>, keepdims = false} : (tensor<4xf32>) -> tensor<f32>
        %2 = "tn.neg"(%1) : (tensor<f32>) -> tensor<f32>
        gpu.yield %2 : tensor<f32>
      }) : () -> tensor<f32>""",
    "last op's result": """
      %0 = "tn.fusion"() ({
        %1 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
        %2 = "tn.neg"(%1) : (tensor<4xf32>) -> tensor<4xf32>
        gpu.yield %1 : tensor<4xf32>
      }) : () -> tensor<4xf32>""",
}


@pytest.mark.parametrize("message", list(BAD))
def test_verify_rejects_malformed_fusion(message):
    body = BAD[message]
    ret = body.strip().rsplit("-> ", 1)[1]
    text = f"func.func @main(%arg0: tensor<4xf32>) -> {ret} {{\n{body}\n  return %0 : {ret}\n}}"
    with get_context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        with pytest.raises(VerificationError, match=message):
            verify_module(module.operation)


def test_fuse_is_idempotent():
    text = """func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32> {
      %0 = "tn.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
      %1 = "tn.neg"(%0) : (tensor<4xf32>) -> tensor<4xf32>
      return %1 : tensor<4xf32>
    }"""
    with get_context(), ir.Location.unknown():
        module = ir.Module.parse(text)
        run_fuse(module.operation)
        once = str(module)
        run_fuse(module.operation)
        verify_module(module.operation)
        assert str(module) == once and once.count('"tn.fusion"') == 1


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_chain(dtype, rng):
    f = lambda x, y: ((x * y - 3) // 2 + x % 3).sum(axis=-1)
    x, y = rand(rng, (4, 5), dtype), rand(rng, (5,), dtype)
    assert_close(th.jit(f, optimizer="fast_run")(x, y), f(x, y))
    assert_close(th.jit(f, optimizer="fast_run")(x, y), th.jit(f, optimizer="fast_compile")(x, y))


def test_bool_input_and_output(rng):
    f = lambda b, x: (th.where(b, x * 2.0, -x) > 0.5) & b
    b, x = rand(rng, (6, 3), np.bool_), rand(rng, (6, 3), np.float32)
    low = th.jit(f).lower(b, x)
    assert low.as_text("tn-opt").count('"tn.fusion"') == 1
    assert_close(th.jit(f)(b, x), (np.where(b, x * 2, -x) > 0.5) & b)
