"""The NumPy interpreter of tn (dialects/tn/interpreter.py) as the tests' oracle.

Each traced program runs three ways: the interpreter on its tn module (as traced, and after
tn-opt, where tn.fusion groups appear), the compiled code, and a NumPy program written
beside it; all three must agree. Then the interpreter's own contracts: every region op has
an evaluator, tn.cond is lazy, folding and static values keep their bounds.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from mlir import ir

import theanir as th
from support import assert_close, rand
from theanir.dialects.tn import interpreter
from theanir.dialects.tn.interpreter import (REGION_EVALUATORS, InterpreterError, fold, interpret,
                                             static_value)
from theanir.dialects.tn.registry import OPS


def _tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def check(f: Callable, reference: Callable, *args: np.ndarray, stages=("tn", "tn-opt"),
          expect: str | None = None, **tol) -> None:
    """interpret(module at each stage) == compiled f == reference, on `args`."""
    lowered = th.jit(f).lower(*args)
    compiled = _tuple(th.jit(f)(*args))
    want = _tuple(reference(*args))
    assert len(compiled) == len(want)
    for stage in stages:
        module = lowered.module_at(stage)
        if expect is not None and stage == "tn-opt":
            assert expect in str(module), f"no {expect} at {stage}:\n{module}"
        got = interpret(module, *args)
        assert len(got) == len(want), stage
        for g, c, w in zip(got, compiled, want):
            assert_close(g, np.asarray(c), **tol)
            assert_close(g, np.asarray(w, dtype=g.dtype), **tol)


# ---------------------------------------------------------------- traced programs
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_chain(dtype, rng):
    x, y = rand(rng, (3, 4), dtype), rand(rng, (4,), dtype)
    check(lambda x, y: th.exp(x) * y - th.tanh(x / 2) + th.maximum(x, y),
          lambda x, y: np.exp(x) * y - np.tanh(x / dtype(2)) + np.maximum(x, y), x, y,
          expect='"tn.fusion"', rtol=1e-5 if dtype == np.float32 else None)


def test_comparisons_where_and_casts(rng):
    x, y = rand(rng, (5, 2), np.float64), rand(rng, (5, 2), np.float64)
    check(lambda x, y: (th.where(x > y, x, -y).astype(np.float32), (x <= 0).astype(np.int32)),
          lambda x, y: (np.where(x > y, x, -y).astype(np.float32), (x <= 0).astype(np.int32)),
          x, y)


def test_reductions(rng):
    x = rand(rng, (4, 5, 3), np.float64)
    check(lambda x: (x.sum(axis=0), x.max(axis=(1, 2), keepdims=True), th.mean(x, axis=-1),
                     th.argmax(x, axis=1)),
          lambda x: (x.sum(axis=0), x.max(axis=(1, 2), keepdims=True), np.mean(x, axis=-1),
                     np.argmax(x, axis=1)), x)


def test_matmul(rng):
    a, b = rand(rng, (3, 4), np.float64), rand(rng, (4, 2), np.float64)
    v = rand(rng, (4,), np.float64)
    check(lambda a, b, v: (a @ b, a @ v, th.tanh(a @ b) + 1.0),
          lambda a, b, v: (a @ b, a @ v, np.tanh(a @ b) + 1.0), a, b, v)


def test_reshape_transpose_take(rng):
    x = rand(rng, (2, 3, 4), np.float64)
    idx = np.array([2, 0, 2, 1], np.int64)
    check(lambda x, i: (th.reshape(x, (6, 4)), th.transpose(x, (2, 0, 1)), th.take(x, i, axis=1),
                        x[1, ::2, 1:3]),
          lambda x, i: (np.reshape(x, (6, 4)), np.transpose(x, (2, 0, 1)), np.take(x, i, axis=1),
                        x[1, ::2, 1:3]), x, idx)


def test_scan_with_a_carry_and_stacked_outputs(rng):
    def f(xs, h0):
        def step(h, x):
            h = th.tanh(h + x)
            return h, (h * 2.0, h.sum())
        return th.lax.scan(step, h0, xs)

    def ref(xs, h0):
        h, ys, ss = h0, [], []
        for x in xs:
            h = np.tanh(h + x)
            ys.append(h * 2.0)
            ss.append(h.sum())
        return h, np.stack(ys), np.stack(ss)

    xs, h0 = rand(rng, (6, 3), np.float64), rand(rng, (3,), np.float64)
    check(lambda xs, h0: (lambda c, ys: (c, *ys))(*f(xs, h0)), ref, xs, h0)


def test_do_while_scan_stops_and_returns_the_rows_that_ran():
    def f(x):
        def step(v):
            v = v * 2.0
            return v, th.until(v.sum() > 40.0)
        vs, _ = th.scan(step, outputs_info=x, n_steps=8)
        return vs

    def ref(x):
        rows, v = [], x
        for _ in range(8):
            v = v * 2.0
            rows.append(v)
            if v.sum() > 40.0:
                break
        return np.stack(rows)

    x = np.array([1.0, 2.0])
    assert "until = true" in th.jit(f).lower(x).as_text("tn")
    check(f, ref, x)


def test_while_loop(rng):
    def f(x):
        return th.while_loop(lambda c: c[0] < 100.0, lambda c: (c[0] * 3.0, c[1] + 1),
                             (x, np.int64(0)))

    def ref(x):
        c, n = x, 0
        while c < 100.0:
            c, n = c * 3.0, n + 1
        return c, np.int64(n)

    check(f, ref, np.float64(1.5))


def test_cond():
    f = lambda p, x: th.cond(p, lambda x: th.exp(x) - 1.0, lambda x: x * x, x)
    x = np.array([0.5, -1.0, 2.0])
    for p in (True, False):
        check(f, lambda p, x: np.exp(x) - 1.0 if p else x * x, np.bool_(p), x)


def test_fused_group_with_a_reduction(rng):
    f = lambda x, y: th.where(x > y, th.exp(x - y), y * y).sum(axis=0, keepdims=True)
    x, y = rand(rng, (3, 4), np.float64), rand(rng, (4,), np.float64)
    check(f, lambda x, y: np.where(x > y, np.exp(x - y), y * y).sum(axis=0, keepdims=True), x, y,
          expect='"tn.fusion"')


# ---------------------------------------------------------------- the interpreter's contracts
def test_every_region_op_has_an_evaluator():
    region_ops = {name for name, op in OPS.items() if op.regions}
    assert region_ops <= set(REGION_EVALUATORS), region_ops - set(REGION_EVALUATORS)
    assert all(op.reference is not None
               for name, op in OPS.items() if name not in REGION_EVALUATORS)


def test_cond_runs_only_the_taken_branch(monkeypatch):
    calls = []
    exp = OPS["tn.exp"].reference
    monkeypatch.setattr(OPS["tn.exp"], "reference", lambda x: calls.append(1) or exp(x))
    f = lambda p, x: th.cond(p, lambda x: th.exp(x), lambda x: x - 1.0, x)
    module = th.jit(f).lower(np.bool_(False), np.ones(3)).traced.module
    (got,) = interpret(module, np.bool_(False), np.ones(3))
    assert_close(got, np.zeros(3))
    assert calls == []
    interpret(module, np.bool_(True), np.ones(3))
    assert calls == [1]


def test_interpret_checks_its_inputs():
    module = th.jit(lambda x: x + 1.0).lower(np.ones(3)).traced.module
    with pytest.raises(TypeError, match="takes 1 arguments, got 2"):
        interpret(module, np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"argument 0 has shape \(4,\), expected \(3,\)"):
        interpret(module, np.ones(4))
    (got,) = interpret(module, [1, 2, 3])  # converted to the argument's dtype
    assert_close(got, np.array([2.0, 3.0, 4.0]))


def _first(module: ir.Module, name: str) -> ir.Operation:
    block = interpreter.entry_function(module).regions[0].blocks[0]
    return next(o.operation for o in block.operations if o.operation.name == name)


def test_fold_is_silent_on_float_errors_and_refuses_what_the_reference_refuses(monkeypatch):
    module = th.jit(lambda x, y: x / y).lower(np.ones(2), np.ones(2)).traced.module
    div = _first(module, "tn.div")
    with np.errstate(all="raise"):
        out = fold(div, [np.array([1.0, 0.0]), np.array([0.0, 0.0])])
    assert out[0] == np.inf and np.isnan(out[1])
    with monkeypatch.context() as m:
        m.setattr(OPS["tn.div"], "reference", lambda a, b: np.true_divide(a, b, casting="no"))
        assert fold(div, [np.ones(2), np.ones(2, np.float32)]) is None  # left to run time
    assert fold(div, [np.ones(3), np.ones(3)]) is None  # a result of another shape
    with pytest.raises(InterpreterError, match=r"tn.div: the reference gave shape \(3,\)"):
        interpreter.apply_reference(div, [np.ones(3), np.ones(3)])


def test_static_value_keeps_its_bounds():
    def f(x):
        eye = th.eye(3)
        chain = th.ones(())
        for _ in range(20):
            chain = chain + 1.0
        return eye, chain, x + th.ones(3)

    module = th.jit(f).lower(np.ones(3)).traced.module
    ret = list(interpreter.entry_function(module).regions[0].blocks[0].operations)[-1]
    eye_v, chain, with_x = ret.operands
    assert_close(static_value(eye_v), np.eye(3))  # built from iotas
    assert static_value(eye_v, limit=8) is None  # 9 elements
    assert static_value(chain) is None  # 20 ops deep, over the default depth
    assert_close(static_value(chain, depth=None), np.float64(21.0))
    assert static_value(chain, depth=None, budget=10) is None
    assert static_value(with_x) is None  # reads an argument
