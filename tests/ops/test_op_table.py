"""The op table's rows (tests/op_rows.py), expanded, and the checks that they cover the registry.

Per row: forward vs NumPy/SciPy in float32 and float64 (all cases plus a non-contiguous copy of
the first, in one compiled function); in float64 on the first case, reverse and forward mode
against central differences (th.verify_grad's check) and the inner-product identity
<vjp(u), v> = <u, jvp(v)> (random u, v; rtol 1e-10), which checks the transpose rules against
the jvp rules they invert (one compiled function gives all three numbers). Coverage is keyed to
`OPS`: each op needs a numeric row, each differentiable op a gradient row, each op with a jvp
rule an inner-product row, unless `EXEMPT` names it with a reason; and each row's traced tn IR
must hold the op it is keyed to (test_row_emits_its_op), so a row cannot claim an op it misses.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import theanir as th
from op_rows import EXEMPT, ROWS, Row
from support import assert_close, noncontiguous
from theanir.dialects.tn.registry import OPS, OpDef

_OP_NAME = re.compile(r'"(tn\.[a-z_0-9]+)"')
IP_RTOL = 1e-10


def _ids(rows: list[Row]) -> list[str]:
    return [r.id for r in rows]


def _tuple(out) -> tuple:
    return out if isinstance(out, tuple) else (out,)


def traced_ops(row: Row) -> set[str]:
    """The tn ops in the row's function as traced (stage tn, before any optimizer)."""
    args = row.inputs(np.random.default_rng(0), row.cases[0], np.float64)
    return set(_OP_NAME.findall(th.jit(row.fn).lower(*args).as_text("tn")))


def numeric_ops() -> set[str]:
    return {r.op for r in ROWS if r.ref is not None}


def gradient_ops() -> set[str]:
    return {r.op for r in ROWS if r.grad}


GRAD_ROWS = [r for r in ROWS if r.grad]
NUMERIC_ROWS = [r for r in ROWS if r.ref is not None]


# ------------------------------------------------------------------ the registry is covered
def _missing(required: set[str], covered: set[str]) -> list[str]:
    return sorted(required - covered - set(EXEMPT))


def test_every_op_has_a_numeric_row():
    missing = _missing(set(OPS), numeric_ops())
    assert not missing, f"ops with no numeric row in tests/op_rows.py ROWS (or EXEMPT): {missing}"


def test_every_differentiable_op_has_a_gradient_row():
    required = {n for n, d in OPS.items() if d.differentiable}
    missing = _missing(required, gradient_ops())
    assert not missing, f"differentiable ops with no gradient row (grad=True): {missing}"


def test_every_op_with_a_jvp_rule_has_an_inner_product_row():
    required = {n for n, d in OPS.items() if d.jvp is not None or d.jvp_region is not None}
    missing = _missing(required, gradient_ops())
    assert not missing, f"ops with a jvp rule and no <vjp(u), v> = <u, jvp(v)> row: {missing}"


def test_exemptions_are_current():
    """An exempted op that left the registry or gained a row must leave EXEMPT."""
    gone = sorted(set(EXEMPT) - set(OPS))
    assert not gone, f"EXEMPT names ops that are not in OPS: {gone}"
    covered = sorted(set(EXEMPT) & {r.op for r in ROWS})
    assert not covered, f"exempted ops now have rows; remove them from EXEMPT: {covered}"
    unknown = sorted({r.op for r in ROWS} - set(OPS))
    assert not unknown, f"rows keyed to ops that are not in OPS: {unknown}"


def test_a_new_op_without_rows_fails(monkeypatch):
    """Adding an op to the registry forces rows: each enforcement test names it."""
    monkeypatch.setitem(OPS, "tn.new_op", OpDef(name="tn.new_op", operands=["x"], results=["out"],
                                                jvp=lambda primals, tangents, outs: tangents))
    for check in (test_every_op_has_a_numeric_row, test_every_differentiable_op_has_a_gradient_row,
                  test_every_op_with_a_jvp_rule_has_an_inner_product_row):
        with pytest.raises(AssertionError, match="tn.new_op"):
            check()


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_row_emits_its_op(row):
    ops = traced_ops(row)
    assert row.op in ops, f"{row.id}: the traced function emits {sorted(ops)}, not {row.op}"


# ------------------------------------------------------------------ the rows
def _all_cases(row: Row, rng: np.random.Generator, dtype) -> list[list[np.ndarray]]:
    cases = [row.inputs(rng, shapes, dtype) for shapes in row.cases]
    first = cases[0]
    if any(a.ndim for a in first):
        cases.append([noncontiguous(a) for a in first])
    return cases


@pytest.mark.parametrize("row", NUMERIC_ROWS, ids=_ids(NUMERIC_ROWS))
def test_numeric(row, rng):
    """Every case in every dtype of the row, in one compiled function (one compile per row)."""
    cases = [(dt, args) for dt in row.dtypes for args in _all_cases(row, rng, dt)]
    sizes = [len(args) for _, args in cases]

    def every_case(*flat):
        outs, i = [], 0
        for n in sizes:
            outs.append(row.fn(*flat[i:i + n]))
            i += n
        return tuple(outs)

    got = th.jit(every_case)(*[a for _, args in cases for a in args])
    for (dtype, args), g in zip(cases, got):
        for gi, wi in zip(_tuple(g), _tuple(row.ref(*args))):
            try:
                assert_close(gi, np.asarray(wi), dtype, rtol=row.rtol)
            except AssertionError as e:
                where = f"{[a.shape for a in args]} {np.dtype(dtype).name}"
                raise AssertionError(f"{row.id} on {where}: {e}") from None


# The derivative rows: one compiled function per row gives jvp(v), vjp(u) and f(x +- eps v);
# test_gradient and test_inner_product read the same numbers.
_DERIVATIVES: dict[int, dict[str, float]] = {}
FD_RTOL = 1e-5  # th.verify_grad's float64 default


def _seed(rng: np.random.Generator, shape, dyadic: bool) -> np.ndarray:
    if dyadic:
        return rng.integers(-8, 9, size=shape) / 4.0
    return rng.standard_normal(shape)


def _dot(a, b) -> float:
    return sum(float(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64))) for x, y in zip(a, b))


def derivatives(row: Row) -> dict[str, float]:
    """<vjp(u), v>, <u, jvp(v)> and the central difference of <u, f> along v, in float64
    (computed once per row)."""
    if id(row) not in _DERIVATIVES:
        _DERIVATIVES[id(row)] = _derivatives(row)
    return _DERIVATIVES[id(row)]


def _derivatives(row: Row) -> dict[str, float]:
    rng = np.random.default_rng(7)
    eps = 0.5 if row.dyadic else 1e-6
    xs = row.inputs(rng, row.cases[0], np.float64, for_grad=True)
    want = row.ref(*xs) if row.ref is not None else th.jit(row.fn)(*xs)
    single = not isinstance(want, tuple)
    us = tuple(_seed(rng, np.shape(o), row.dyadic) for o in _tuple(want))
    vs = tuple(_seed(rng, x.shape, row.dyadic) for x in xs)

    def every(xs, vs, us):
        _, jv = th.jvp(row.fn, xs, vs)
        _, pullback = th.vjp(row.fn, *xs)
        cts = pullback(us[0] if single else us)
        plus = row.fn(*[x + eps * v for x, v in zip(xs, vs)])
        minus = row.fn(*[x - eps * v for x, v in zip(xs, vs)])
        return cts, jv, plus, minus

    cts, jv, plus, minus = th.jit(every)(tuple(xs), vs, us)
    cts = cts if isinstance(cts, (tuple, list)) else (cts,)
    return {"rev": _dot(cts, vs), "fwd": _dot(us, _tuple(jv)),
            "fd": (_dot(us, _tuple(plus)) - _dot(us, _tuple(minus))) / (2 * eps)}


@pytest.mark.parametrize("row", GRAD_ROWS, ids=_ids(GRAD_ROWS))
def test_gradient(row):
    """Reverse and forward mode against central differences (th.verify_grad's check)."""
    d = derivatives(row)
    tol = FD_RTOL * max(1.0, abs(d["fd"]))
    assert abs(d["rev"] - d["fd"]) <= tol, f"{row.id}: <vjp(u), v> = {d['rev']!r}, finite differences {d['fd']!r}"
    assert abs(d["fwd"] - d["fd"]) <= tol, f"{row.id}: <u, jvp(v)> = {d['fwd']!r}, finite differences {d['fd']!r}"


@pytest.mark.parametrize("row", GRAD_ROWS, ids=_ids(GRAD_ROWS))
def test_inner_product(row):
    """<vjp(u), v> == <u, jvp(v)>: reverse mode (linearize + transpose) is the adjoint of
    forward mode, for random u, v at a random point, float64, rtol 1e-10."""
    try:
        _check_inner_product(derivatives(row))
    except AssertionError as e:
        raise AssertionError(f"{row.id}: {e}") from None


def _check_inner_product(d: dict[str, float]) -> None:
    scale = max(1.0, abs(d["rev"]), abs(d["fwd"]))
    assert abs(d["rev"] - d["fwd"]) <= IP_RTOL * scale, \
        f"<vjp(u), v> = {d['rev']!r} but <u, jvp(v)> = {d['fwd']!r}"


def test_inner_product_detects_a_wrong_transpose(monkeypatch):
    """A transpose rule that forgets its sign (tn.neg's, made the identity) breaks the identity."""
    (row,) = [r for r in GRAD_ROWS if r.op == "tn.neg"]
    monkeypatch.setattr(OPS["tn.neg"], "transpose", lambda cts, primals, **attrs: list(cts))
    with pytest.raises(AssertionError, match="jvp"):
        _check_inner_product(_derivatives(row))
