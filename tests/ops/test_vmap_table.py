"""vmap of every op in the registry, checked against a Python loop over the examples.

The op table's rows (tests/op_rows.py) are reused: each row's function is vmapped over a
batch of 3 examples (all arguments mapped at axis 0; for rows with several arguments also
the first mapped at its last axis and the others shared, in_axes=(-1, None, ...)) and
compared with the row's NumPy reference run on each example. VMAP_ROWS below add what the
op rows do not batch (indices, bounds and random keys that differ per example, loops whose
trip count differs). Coverage is keyed to `OPS`: every op's batching rule must run on a
batched operand in one of these rows, unless the op is in REFUSED (no batched form: vmap
raises NotImplementedError, checked here) or NEVER_BATCHED (it has no operands).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import theanir as th
from op_rows import ROWS, Row, _emit
from support import assert_close
from theanir.dialects.tn.registry import OPS

B = 3  # examples per batch


def _row(row_id: str) -> Row:
    return next(r for r in ROWS if r.id == row_id)

# Ops whose batching rule refuses (vmap raises NotImplementedError), with the function that
# reaches it; the reason is the rule's own text.
REFUSED: dict[str, Callable] = {
    "tn.masked_select": lambda x: x[x > 0],
    "tn.nonzero": lambda x: th.argwhere(x > 0),
    "tn.unique": lambda x: th.unique(x),
    "tn.iota": lambda n: th.arange(n),
    # sparse results: their entry counts differ per example (ragged)
    "tn.sparse_binary": lambda d: _row("tn.sparse_binary[add]").fn(d[:5], d[5:]),
    "tn.sparse_spgemm": lambda d: _row("tn.sparse_spgemm").fn(d[:5], d[5:]),
    "tn.sparse_from_dense": lambda x: _row("tn.sparse_from_dense").fn(x.reshape((2, 2))),
}
REFUSED_INPUTS: dict[str, Any] = {"tn.iota": np.array([2, 3, 4], np.int64),
                                   "tn.sparse_binary": np.ones((B, 9)), "tn.sparse_spgemm": np.ones((B, 9))}
NUMERIC_ROWS = [r for r in ROWS if r.ref is not None and r.op not in REFUSED]
NEVER_BATCHED: dict[str, str] = {
    "tn.constant": "it has no operands, so nothing it reads is batched",
    "tn.fusion": "made by the tn-fuse pass after tracing: vmap never sees it (its rule refuses)",
}


def _tuple(out) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def _examples(row: Row, dtype, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [row.inputs(rng, row.cases[0], dtype) for _ in range(B)]


def _loop_reference(ref: Callable, examples: list[list[np.ndarray]]) -> tuple:
    outs = [_tuple(ref(*ex)) for ex in examples]
    return tuple(np.stack([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0])))


def _check(got, want: tuple, dtype, rtol=None) -> None:
    got = _tuple(got)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype.kind == "f":
            assert_close(g, w, dtype, rtol=rtol)
        else:
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("row", NUMERIC_ROWS, ids=[r.id for r in NUMERIC_ROWS])
def test_vmap_row_all_mapped(row: Row):
    """All arguments mapped at axis 0 vs the reference on each example."""
    exs = _examples(row, np.float64)
    stacked = [np.stack([ex[k] for ex in exs]) for k in range(len(exs[0]))]
    _check(th.vmap(row.fn)(*stacked), _loop_reference(row.ref, exs), np.float64, row.rtol)


MULTI = [r for r in NUMERIC_ROWS if len(r.cases[0]) > 1]


@pytest.mark.parametrize("row", MULTI, ids=[r.id for r in MULTI])
def test_vmap_row_first_mapped_last_axis(row: Row):
    """in_axes=(-1, None, ...): the first argument mapped along its last axis, the others
    shared by every example (the rules' unbatched-operand paths)."""
    exs = _examples(row, np.float64)
    shared = exs[0][1:]
    exs = [[ex[0]] + shared for ex in exs]
    first = np.stack([ex[0] for ex in exs], axis=-1)
    f = th.vmap(row.fn, in_axes=(-1,) + (None,) * len(shared))
    _check(f(first, *shared), _loop_reference(row.ref, exs), np.float64, row.rtol)


@pytest.mark.parametrize("row", MULTI, ids=[r.id for r in MULTI])
def test_vmap_row_last_mapped(row: Row):
    """in_axes=(None, ..., 0) and out_axes=-1: only the last argument mapped."""
    exs = _examples(row, np.float64)
    shared = exs[0][:-1]
    exs = [shared + [ex[-1]] for ex in exs]
    last = np.stack([ex[-1] for ex in exs])
    f = th.vmap(row.fn, in_axes=(None,) * len(shared) + (0,), out_axes=-1)
    want = tuple(np.moveaxis(w, 0, -1) for w in _loop_reference(row.ref, exs))
    _check(f(*shared, last), want, np.float64, row.rtol)


# ------------------------------------------------------------------ rows the op table lacks
@dataclass(frozen=True)
class VRow:
    op: str
    fn: Callable
    inputs: Callable[[np.random.Generator], list[np.ndarray]]  # one example's arguments
    in_axes: Any = 0
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.op}[{self.label}]"


def _idx(rng, n, k):
    return rng.integers(-n, n + 2, size=k).astype(np.int64)  # negatives and past-the-end (clamped)


def _while(x):
    """Halve x until it is below 1: a trip count that differs per example."""
    return th.while_loop(lambda c: c[0] >= 1.0, lambda c: (c[0] / 2, c[1] + 1), (x, 0.0))


def _bounds(x, i):
    starts = th.stack([i, i * 0])
    stops = th.stack([i + x.shape[0], i * 0 + x.shape[1]])
    return _emit("tn.dynamic_pad_slice", [x, starts, stops], steps=(1, 1),
                 shape=(x.shape[0] + 3, x.shape[1]))


VMAP_ROWS = [
    VRow("tn.take", lambda x, i: th.take(x, i, axis=1),
         lambda r: [r.normal(size=(2, 4, 3)), _idx(r, 4, 5)], label="both"),
    VRow("tn.take", lambda x, i: th.take(x, i, axis=0),
         lambda r: [r.normal(size=(4, 3)), _idx(r, 4, 2)], in_axes=(None, 0), label="indices"),
    VRow("tn.scatter_add", lambda u, i: _emit("tn.scatter_add", [u, i % 4], axis=1, dim_size=4),
         lambda r: [r.normal(size=(2, 5, 3)), _idx(r, 4, 5)], label="indices"),
    *[VRow(op, (lambda op, kw: lambda a, u, i: _emit(op, [a, u, i], axis=1, **kw))(op, kw),
           lambda r: [r.normal(size=(2, 4, 3)), r.normal(size=(2, 6, 3)), _idx(r, 4, 6)], label=lab)
      for op, kw, lab in (("tn.index_add", {}, "indices"), ("tn.index_set", {}, "indices"),
                          ("tn.index_reduce", {"kind": "max"}, "max"))],
    VRow("tn.dynamic_slice", lambda x, i: x[i:i + 2], lambda r: [r.normal(size=(5, 2)), r.integers(0, 4)],
         label="bounds"),
    VRow("tn.dynamic_pad_slice", _bounds, lambda r: [r.normal(size=(2, 3)), r.integers(0, 4)], label="bounds"),
    VRow("tn.random_bits", lambda k: th.random.uniform(k, (2, 3)),
         lambda r: [r.integers(0, 2**31, size=2).astype(np.int32)], label="keys"),
    VRow("tn.random_normal", lambda k: th.random.normal(k, (4,), np.float32),
         lambda r: [r.integers(0, 2**31, size=2).astype(np.int32)], label="keys"),
    VRow("tn.scan", _while, lambda r: [r.uniform(0.5, 40.0)], label="while"),
    VRow("tn.scan", lambda x, w: th.scan(lambda xi, h: th.tanh(h * w + xi), sequences=x,
                                         outputs_info=th.zeros_like(w))[0],
         lambda r: [r.normal(size=(4, 2)), r.normal(size=2)], in_axes=(None, 0), label="captured"),
    VRow("tn.scan", lambda n, x: th.lax.fori_loop(0, n, lambda i, c: c * 0.5 + i, x),
         lambda r: [r.integers(0, 5), r.normal(size=2)], label="trip-count"),
    VRow("tn.cond", lambda p, x: th.cond(p > 0, lambda x: x * 2.0, lambda x: x - 1.0, x),
         lambda r: [r.normal(), r.normal(size=3)], in_axes=(None, 0), label="shared-predicate"),
    VRow("tn.cond", lambda p, x: th.cond(p > 0, lambda x: x * 2.0, lambda x: x - 1.0, x),
         lambda r: [r.normal(), r.normal(size=3)], label="predicate"),
    VRow("tn.matmul", lambda a, b: a @ b, lambda r: [r.normal(size=(2, 3, 4)), r.normal(size=(2, 4, 5))],
         in_axes=(None, 0), label="batched-rhs"),
    VRow("tn.masked_scatter", lambda y: _emit("tn.masked_scatter", [y, np.array([0, 1, 1, 0, 1], bool)]),
         lambda r: [r.normal(size=(3, 2))], label="values"),
]


def _vrow_case(row: VRow, seed: int = 1):
    rng = np.random.default_rng(seed)
    exs = [row.inputs(rng) for _ in range(B)]
    axes = row.in_axes if isinstance(row.in_axes, tuple) else (row.in_axes,) * len(exs[0])
    args = [np.stack([np.asarray(ex[k]) for ex in exs]) if a is not None else np.asarray(exs[0][k])
            for k, a in enumerate(axes)]
    exs = [[np.asarray(ex[k]) if a is not None else np.asarray(exs[0][k]) for k, a in enumerate(axes)]
           for ex in exs]
    return args, exs


@pytest.mark.parametrize("row", VMAP_ROWS, ids=[r.id for r in VMAP_ROWS])
def test_vmap_extra_rows(row: VRow):
    """vs a Python loop calling the same function (jitted) on each example."""
    args, exs = _vrow_case(row)
    got = th.vmap(row.fn, in_axes=row.in_axes)(*args)
    one = th.jit(row.fn)
    want = _loop_reference(lambda *a: tuple(np.asarray(o) for o in _flat(one(*a))), exs)
    got_leaves = _flat(got)
    assert len(got_leaves) == len(want)
    for g, w in zip(got_leaves, want):
        g = np.asarray(g)
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
        else:
            np.testing.assert_array_equal(g, w)


def _flat(x) -> list:
    from theanir.frontend.pytree import tree_flatten
    return tree_flatten(x)[0]


# ------------------------------------------------------------------ the registry is covered
@pytest.mark.parametrize("op", sorted(REFUSED))
def test_refused_ops_raise(op: str):
    x = REFUSED_INPUTS.get(op, np.random.default_rng(0).normal(size=(B, 4)))
    with pytest.raises(NotImplementedError, match=op.replace(".", r"\.")):
        th.vmap(REFUSED[op])(x)


def _exercised() -> set[str]:
    """Ops whose batching rule ran on a batched operand while tracing every row (no compile)."""
    seen: set[str] = set()
    saved = {}
    for name, d in OPS.items():
        saved[name] = (d.batch, d.batch_region)

        def wrap(rule, name=name):
            if rule is None:
                return None

            def recorded(*a, **k):
                seen.add(name)
                return rule(*a, **k)
            return recorded
        d.batch, d.batch_region = wrap(d.batch), wrap(d.batch_region)
    try:
        for row in NUMERIC_ROWS:
            exs = _examples(row, np.float64)
            stacked = [np.stack([ex[k] for ex in exs]) for k in range(len(exs[0]))]
            th.jit(th.vmap(row.fn)).lower(*stacked).as_text("tn")
        for row in VMAP_ROWS:
            args, _ = _vrow_case(row)
            th.jit(th.vmap(row.fn, in_axes=row.in_axes)).lower(*args).as_text("tn")
    finally:
        for name, (b, br) in saved.items():
            OPS[name].batch, OPS[name].batch_region = b, br
    return seen


def test_every_op_has_a_batching_rule():
    missing = sorted(n for n, d in OPS.items() if d.batch is None and d.batch_region is None)
    assert not missing, f"ops with no batching rule (def_batch / def_batch_region): {missing}"


def test_every_batching_rule_is_exercised():
    seen = _exercised()
    missing = sorted(set(OPS) - seen - set(REFUSED) - set(NEVER_BATCHED))
    assert not missing, f"ops whose batching rule no vmap row runs (add a row to VMAP_ROWS): {missing}"
    stale = sorted((set(REFUSED) | set(NEVER_BATCHED)) - set(OPS))
    assert not stale, f"REFUSED/NEVER_BATCHED name ops that are not in OPS: {stale}"
