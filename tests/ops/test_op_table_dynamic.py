"""The op table's rows (tests/op_rows.py) under `th.jit(fn, dynamic_shapes=True)` (issue 16).

Per row: every case of the row in one function compiled with dynamic shapes (each dim but the
size-1 ones is `?`), called on the cases as written and again with every dim grown by 2 (a
second size, where a size-1 dim stays 1: it is static), forward vs the row's NumPy reference
in float64 and float32, and both sizes must share one compile (`cache_size == 1`). For
gradient rows, the reverse-mode derivative (a vjp with a random cotangent) on the first case
at both sizes against the static-shape vjp, float64.

Rows whose op cannot compile with dynamic shapes yet are listed in `UNSUPPORTED` with the
reason; their test asserts the failure is a clear error that names the op (no crash, no wrong
answer): where the row's own function fails before reaching the op (it computes attributes
from x.shape), a probe emits the op on dynamic operands. Rows whose function reads a static
size run a `VARIANTS` function that reaches the same op through `th.shape(x)`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pytest

import theanir as th
from op_rows import _CONV, ROWS, Row, _emit, _scatter_index, _traced_int
from theanir.dialects.tn.builder import emit1
from support import assert_close

GROW = 2

def _pad_probe(x):
    return _emit("tn.pad_slice", [x], starts=(5, 1), steps=(-2, 2), shape=(7, 5))


def _update_probe(x, y):
    return _emit("tn.update_slice", [x, y], starts=(3, 0), steps=(-1, 1))


def _rows_probe(op: str, **attrs):
    return lambda acc, upd: _emit(op, [acc, upd, _scatter_index(6) % 3], axis=0, **attrs)


_MATRIX, _PAIR = [(3, 2)], [(3, 2), (6, 2)]
_STATIC_ATTRS = "the row computes its op's static attributes from x.shape (None for a dynamic dim)"
_INDEX_ROWS = ("the scan-gradient accumulators (h-loops' slice); static sizes in the shape rule: "
               "the probe emits the op on dynamic operands")
# row id -> (error, regex naming the op, why, probe: a function of the case's arrays that
# emits the op with dynamic operands, or None for the row's own function, case shapes)
UNSUPPORTED: dict[str, tuple[type, str, str, Any, list]] = {
    "tn.pad_slice": (ValueError, r"tn.pad_slice: static positions cannot address a dynamic dim",
                     "static positions; slices of dynamic dims transpose to tn.dynamic_pad_slice. "
                     + _STATIC_ATTRS, _pad_probe, _MATRIX),
    "tn.update_slice": (ValueError, r"tn.update_slice: static positions cannot address a dynamic dim",
                        "static positions (np_update's slice updates). " + _STATIC_ATTRS,
                        _update_probe, [(4, 3), (2, 3)]),
    "tn.take": (TypeError, r"NoneType", "h-loops changes tn.take (and its frontend index checks read "
                "a static axis length)", None, None),
    "tn.scatter_add": (ValueError, r"tn.scatter_add: updates \(None, None\) do not hold indices",
                       "tn.take's transpose (h-loops changes take)",
                       lambda x: _emit("tn.scatter_add", [x, _scatter_index(6)], axis=0, dim_size=4), [(6, 2)]),
    "tn.index_set": (ValueError, r"tn.index_set: updates float64\[\?, \?\] must be", _INDEX_ROWS,
                     _rows_probe("tn.index_set"), _PAIR),
    **{f"tn.index_reduce[{k}]": (ValueError, r"tn.index_reduce: updates float64\[\?, \?\] must be",
                                 _INDEX_ROWS, _rows_probe("tn.index_reduce", kind=k), _PAIR)
       for k in ("mul", "min", "max")},
    "tn.random_bits": (TypeError, r"th.random.uniform: shape must be an int or a sequence of ints",
                       "random draws of a traced shape (frontend/random.py) are not supported yet",
                       lambda x: x + th.random.uniform(th.random.key(7), th.shape(x), x.dtype), _MATRIX),
    "tn.random_normal": (TypeError, r"th.random.normal: shape must be an int or a sequence of ints",
                         "random draws of a traced shape (frontend/random.py) are not supported yet",
                         lambda x: x + th.random.normal(th.random.key(7), th.shape(x), x.dtype),
                         [(3, 2)]),
    # issue 19: convolution and pooling take a dynamic batch dim only (tests/ops/test_conv.py);
    # other dynamic dims are refused, so th.function compiles those per shape
    **{op: (NotImplementedError, r"(convolution|pooling) (with|over) dynamic", "only the batch dim may be dynamic",
            None, None)
       for op in ("tn.conv2d", "tn.conv2d_filter_grad", "tn.max_pool2d",
                  "tn.max_pool2d_select", "tn.max_pool2d_scatter")},
    "tn.conv2d_input_grad": (NotImplementedError, r"convolution with dynamic dims", "only the batch dim may be "
                             "dynamic. " + _STATIC_ATTRS, lambda g, w: _emit("tn.conv2d_input_grad", [g, w], shape=(6, 6),
                                                                             **_CONV), [(2, 4, 3, 7), (4, 3, 3, 2)]),
}

# gradient-only failures: row id -> (error, regex, why)
GRAD_UNSUPPORTED: dict[str, tuple[type, str, str]] = {
    "tn.cond[pair]": (ValueError, r"the sizes of a linear operand of shape \(None, None\) are unknown",
                      "h-loops' slice: the transpose of tn.cond's region gets no primal for a "
                      "reduction's operand (passes/autodiff/control.py)"),
}

# rows whose function reads a static size (x.shape): under dynamic shapes the same op is
# reached with `th.shape(x)` (the traced size); the reference stays the row's
def _dynamic_slice(x):
    """op_rows' _dynamic_slice with the traced size: x[n-1:n-4:-2] of a traced n, or
    x[i:i + 2, j:j + n] (a length known when the code runs, on a dynamic dim)."""
    if x.ndim == 1:
        i = _traced_int(x, 0) + th.shape(x)[0] - 1
        return x[i:i - 3:-2]
    i, j = _traced_int(x, 1), _traced_int(x, 0)
    return x[i:i + 2, j:j + th.shape(x)[1]]


def _dynamic_pad_slice(x):
    """op_rows' _dynamic_pad_slice with the output's dynamic sizes as operands."""
    i = _traced_int(x, 1)
    sizes = th.shape(x)
    starts = th.stack([i] * x.ndim)
    stops = th.stack([i + n for n in sizes])
    dims = [(n + 2).value for n in sizes if isinstance(n, th.Tensor)]
    shape = tuple(-1 if isinstance(n, th.Tensor) else n + 2 for n in sizes)
    return th.Tensor(emit1("tn.dynamic_pad_slice", [x.value, starts.value, stops.value, *dims],
                           {"steps": (1,) * x.ndim, "shape": shape}))


VARIANTS: dict[str, Any] = {
    "tn.iota": lambda x: x * th.arange(th.shape(x)[-1], dtype=x.dtype),
    # the row's mask (2 rows + 1 entries, every other one True) from the traced row count
    "tn.masked_scatter": lambda y: _emit("tn.masked_scatter",
                                         [y, th.arange(2 * th.shape(y)[0] + 1) % 2 == 1]),
    # the row's index vector from the traced sizes (the row reads x.shape while tracing)
    "tn.index_add": lambda acc, upd: _emit(
        "tn.index_add", [acc, upd, (th.arange(th.shape(upd)[0]) * 3) % 4 % th.shape(acc)[0]], axis=0),
    "tn.dynamic_slice": _dynamic_slice,
    "tn.dynamic_pad_slice": _dynamic_pad_slice,
}

# rows whose grown case is invalid input: the compiled function must refuse it with this error
# (a run-time check), not compute a wrong answer
GROWN_FAILS: dict[str, tuple[type, str]] = {
    # the target (2, 3, 4) is static: a dynamic dim of x grown from 3 to 5 cannot broadcast
    "tn.broadcast_to": (ValueError, r"dim 0 of a tensor of shape \(\?, 1\) is 5, where 3 is required"),
}


def _ids(rows: list[Row]) -> list[str]:
    return [r.id for r in rows]


def _tuple(out: Any) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def grown(shapes: Sequence[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    """Each dim but the size-1 ones (static under dynamic_shapes) grown by GROW."""
    return tuple(tuple(n if n == 1 else n + GROW for n in s) for s in shapes)


def _every_case(row: Row, sizes: list[int]):
    fn = VARIANTS.get(row.id, row.fn)

    def every_case(*flat):
        outs, i = [], 0
        for n in sizes:
            outs.append(fn(*flat[i:i + n]))
            i += n
        return tuple(outs)
    return every_case


def _check_forward(row: Row, f, cases: list[list[np.ndarray]], dtype) -> None:
    got = f(*[a for args in cases for a in args])
    for args, g in zip(cases, got):
        for gi, wi in zip(_tuple(g), _tuple(row.ref(*args))):
            try:
                assert_close(gi, np.asarray(wi), dtype, rtol=row.rtol)
            except AssertionError as e:
                raise AssertionError(f"{row.id} on {[a.shape for a in args]} {np.dtype(dtype).name}: {e}") from None


def _run_forward(row: Row, rng: np.random.Generator, dtype) -> Any:
    f = th.jit(_every_case(row, [len(s) for s in row.cases]), dynamic_shapes=True)
    _check_forward(row, f, [row.inputs(rng, s, dtype) for s in row.cases], dtype)
    bigger = [row.inputs(rng, grown(s), dtype) for s in row.cases]
    if row.id in GROWN_FAILS:
        error, pattern = GROWN_FAILS[row.id]
        with pytest.raises(error, match=pattern):
            [np.asarray(o) for out in f(*[a for args in bigger for a in args]) for o in _tuple(out)]
        return f
    _check_forward(row, f, bigger, dtype)
    return f


# Sparse rows (issue 17) bake one sparsity pattern (indices, indptr, the matrix shape) into
# the row's function, so the table's grown case (more values, a bigger dense operand) is an
# invalid input for them: it must be refused by a run-time check or a shape error, never
# computed. Their gradients under dynamic dense operands are not supported yet (the sparse
# transposes build cotangents of static shapes; th.function then compiles per shape).
PATTERN_ROWS = [r for r in ROWS if r.op.startswith("tn.sparse_")]
NUMERIC_ROWS = [r for r in ROWS if r.ref is not None and r.id not in UNSUPPORTED and r not in PATTERN_ROWS]
GRAD_ROWS = [r for r in ROWS if r.grad and r.id not in UNSUPPORTED and r.id not in GRAD_UNSUPPORTED
             and r not in PATTERN_ROWS]
FAILING_ROWS = [r for r in ROWS if r.id in UNSUPPORTED]


@pytest.mark.parametrize("row", NUMERIC_ROWS, ids=_ids(NUMERIC_ROWS))
def test_numeric_dynamic(row, rng):
    """Every case at two sizes, float64 and float32, one compile per dtype."""
    for dtype in row.dtypes:
        f = _run_forward(row, rng, dtype)
        assert f.cache_size == 1, f"{row.id}: {f.cache_size} compiles for two sizes ({np.dtype(dtype).name})"


def _vjp(row: Row, fn=None):
    fn = fn or VARIANTS.get(row.id, row.fn)

    def pullback(xs, us):
        _, back = th.vjp(fn, *xs)
        cts = back(us[0] if len(us) == 1 else us)
        return tuple(cts) if isinstance(cts, (tuple, list)) else (cts,)
    return pullback


@pytest.mark.parametrize("row", GRAD_ROWS, ids=_ids(GRAD_ROWS))
def test_gradient_dynamic(row):
    """The vjp under dynamic shapes equals the static-shape vjp at two sizes (float64)."""
    rng = np.random.default_rng(11)
    dynamic = th.jit(_vjp(row), dynamic_shapes=True)
    static = th.jit(_vjp(row, row.fn))
    sizes = (row.cases[0],) if row.id in GROWN_FAILS else (row.cases[0], grown(row.cases[0]))
    patterns = set()  # size-1 dims are part of a signature (they broadcast): one compile per pattern
    for shapes in sizes:
        xs = tuple(row.inputs(rng, shapes, np.float64, for_grad=True))
        outs = _tuple(th.jit(row.fn)(*xs))
        us = tuple(rng.standard_normal(np.shape(o)) for o in outs)
        patterns.add(tuple(tuple(d == 1 for d in np.shape(a)) for a in xs + us))
        want = static(xs, us)
        got = dynamic(xs, us)
        for g, w in zip(got, want):
            assert_close(g, np.asarray(w), np.float64, rtol=1e-10, atol=1e-12)
    assert dynamic.cache_size == len(patterns), \
        f"{row.id}: {dynamic.cache_size} compiles of the vjp for two sizes ({len(patterns)} size-1 patterns)"


@pytest.mark.parametrize("row", PATTERN_ROWS, ids=_ids(PATTERN_ROWS))
def test_sparse_rows_dynamic_first_case_and_grown_refused(row, rng):
    """A sparse row compiled with dynamic shapes computes its own case right and refuses the
    grown one (its fixed pattern no longer fits): an error, never a wrong answer."""
    f = th.jit(VARIANTS.get(row.id, row.fn), dynamic_shapes=True)
    args = tuple(row.inputs(rng, row.cases[0], np.float64))
    if row.op == "tn.sparse_from_dense":  # the matrix's shape must be static: refused clearly
        with pytest.raises(NotImplementedError, match="shape must be static"):
            f(*args)
        return
    for g, w in zip(_tuple(f(*args)), _tuple(row.ref(*args))):
        got = g.toarray() if hasattr(g, "toarray") else np.asarray(g)
        assert_close(got, np.asarray(w.toarray() if hasattr(w, "toarray") else w), np.float64, rtol=1e-9)
    bigger = tuple(row.inputs(rng, grown(row.cases[0]), np.float64))
    with pytest.raises((ValueError, TypeError)):
        for g in _tuple(f(*bigger)):
            np.asarray(g.toarray() if hasattr(g, "toarray") else g)


@pytest.mark.parametrize("row", FAILING_ROWS, ids=_ids(FAILING_ROWS))
def test_unsupported_rows_fail_clearly(row, rng):
    """A row listed in UNSUPPORTED fails with its error naming the op, never a wrong answer."""
    error, pattern, _why, probe, shapes = UNSUPPORTED[row.id]
    with pytest.raises(error, match=pattern):
        if probe is None:
            _run_forward(row, rng, np.float64)
        else:
            th.jit(probe, dynamic_shapes=True)(*[rng.standard_normal(s) for s in shapes])


GRAD_FAILING = [r for r in ROWS if r.id in GRAD_UNSUPPORTED]


@pytest.mark.parametrize("row", GRAD_FAILING, ids=_ids(GRAD_FAILING))
def test_unsupported_gradients_fail_clearly(row):
    error, pattern, _why = GRAD_UNSUPPORTED[row.id]
    xs = tuple(row.inputs(np.random.default_rng(1), row.cases[0], np.float64, for_grad=True))
    us = tuple(np.ones(np.shape(o)) for o in _tuple(th.jit(row.fn)(*xs)))
    with pytest.raises(error, match=pattern):
        th.jit(_vjp(row), dynamic_shapes=True)(xs, us)


def test_tables_name_rows():
    ids = {r.id for r in ROWS}
    unknown = sorted((set(UNSUPPORTED) | set(GRAD_UNSUPPORTED) | set(VARIANTS)) - ids)
    assert not unknown, f"UNSUPPORTED/GRAD_UNSUPPORTED/VARIANTS name rows that do not exist: {unknown}"
