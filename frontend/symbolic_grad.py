"""Derivative nodes of the symbolic graph: `T.grad`, `T.Lop`, `T.Rop`, `T.jacobian`, `T.hessian`.

Each is an `Apply` whose function runs at trace time on the Tensors its arguments evaluated
to, calling the autodiff core (`vjp_values` / `jvp_values`) in the same block: derivative
code is compiled with the rest of the step, and a variable used by several nodes (the
forward pass of `T.Lop(f, θ, T.Rop(f, θ, γ))`) is evaluated once. The result types come
from the differentiated variables (a type rule), so inferring types never differentiates.

    gW, gb = T.grad(cost, [W, b])
    Gv = T.Lop(y, W, T.Rop(y, W, V))     # Gauss-Newton product Jᵀ J V: one forward, one
                                         # forward-mode sweep, one transposed sweep
    gW = T.grad(cost, W, consider_constant=[target], known_grads={h: g_h})

consider_constant and known_grads become the autodiff driver's `stop` and `cut` value sets;
which variables are connected at all is decided on the graph (`grad_ancestors`, which also
knows theanir.gradient's disconnected_grad / zero_grad nodes), so the disconnected-input
policy applies when `T.grad` is called, as in Theano.
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from theanir.passes.autodiff import jvp_values, vjp_values

from . import numpy_api as tnp
from .config import config
from .sparse import SparseTensor
from .sparse_grad import regular_parts, sparse_result, wrt_tensors
from .symbolic_graph import Apply, Variable, as_variable, describe
from .tensor import Tensor

__all__ = ["grad", "Lop", "Rop", "jacobian", "hessian", "DisconnectedInputError", "DisconnectedType",
           "grad_ancestors"]

_POLICIES = ("raise", "warn", "ignore")


class DisconnectedInputError(ValueError):
    """`T.grad` was asked for the gradient w.r.t. a variable the cost does not depend on."""


def _as_list(x: Any) -> tuple[list[Variable], bool]:
    """(variables, was_a_sequence)."""
    if isinstance(x, (list, tuple)):
        return [as_variable(v) for v in x], True
    return [as_variable(x)], False


def _check_policy(policy: str) -> None:
    if policy not in _POLICIES:
        raise ValueError(f"disconnected_inputs must be one of {_POLICIES}, got {policy!r}")


def _disconnected(who: str, var: Variable, cost_desc: str, policy: str) -> None:
    """Apply Theano's disconnected_inputs policy to one variable."""
    msg = (f"{who}: the cost {cost_desc} does not depend on {describe(var)} (it is not part "
           f"of the cost's graph, or is used only by a non-differentiable operator); pass "
           f"disconnected_inputs='warn' or 'ignore' to get zeros")
    if policy == "raise":
        raise DisconnectedInputError(msg)
    if policy == "warn":
        warnings.warn(msg, UserWarning, stacklevel=3)


def _zeros_for(w: Tensor) -> Tensor:
    """The zero gradient of `w` (float of floatX for an integer `w`, as Theano)."""
    dt = w.dtype if w.dtype.kind == "f" else np.dtype(config.floatX)
    return tnp.zeros_like(w, dtype=dt)


def _float_type(v: Variable) -> tuple[int | None, np.dtype | None]:
    dt = v.dtype
    if dt is not None and dt.kind != "f":
        dt = np.dtype(config.floatX)
    return v.ndim, dt


def _tensors(vals: Sequence[Any], vars_: Sequence[Variable], who: str) -> list[Tensor]:
    out = []
    for v, var in zip(vals, vars_):
        if not isinstance(v, Tensor):
            raise TypeError(f"{who}: {describe(var)} evaluated to {v!r}, not a tensor")
        out.append(v)
    return out


# ------------------------------------------------------------------ disconnected gradients
class DisconnectedType:
    """Theano's type of a gradient that does not exist because the cost does not depend on
    the variable (`T.grad(..., return_disconnected='Disconnected')` returns its variables)."""

    def __call__(self, name: str | None = None) -> "DisconnectedVariable":
        return DisconnectedVariable(self, name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DisconnectedType)

    def __hash__(self) -> int:
        return hash(DisconnectedType)

    def __repr__(self) -> str:
        return "DisconnectedType"


class DisconnectedVariable(Variable):
    """A variable of DisconnectedType: a marker, it has no value (a function using it fails)."""

    def __init__(self, type_: DisconnectedType, name: str | None = None):  # noqa: D107
        # (no Variable.__init__: a leaf of Variable's needs a tensor type, this has none)
        self.owner, self.index, self.name = None, None, name
        self._disconnected_type = type_

    type = property(lambda self: self._disconnected_type)  # type: ignore[assignment]
    ndim = property(lambda self: None)  # type: ignore[assignment]
    dtype = property(lambda self: None)  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<DisconnectedType {self.name or 'variable'}>"


def grad_ancestors(roots: Sequence[Variable], constants: Sequence[Variable] = (),
                   through_zero: bool = True) -> set[Variable]:
    """Variables the gradient of `roots` can reach: the walk does not enter what computes a
    `constants` variable (consider_constant), the input of a `disconnected_grad` node, nor,
    with through_zero=False, that of a `zero_grad` node (frontend/gradient.py marks them with
    `grad_stop`)."""
    stops = set(constants)
    seen: set[Variable] = set()
    stack = list(roots)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v.owner is None or v in stops:
            continue
        stop = getattr(v.owner.fn, "grad_stop", None)
        if stop == "disconnected" or (stop == "zero" and not through_zero):
            continue
        stack.extend(v.owner.inputs())
    return seen


def _known_pairs(known_grads: Any) -> list[tuple[Variable, Any]]:
    if known_grads is None:
        return []
    if not hasattr(known_grads, "items"):
        raise TypeError(f"T.grad: known_grads must be a dict {{variable: gradient}}, got "
                        f"{type(known_grads).__name__}")
    return [(as_variable(v), g) for v, g in known_grads.items()]


# ------------------------------------------------------------------ grad
class _GradFn:
    """At trace time: d cost / d wrt[i] by one reverse sweep, seeded with 1 on the cost and
    with the known gradients on their variables (which are cut from the cost's sweep), not
    flowing into what computes a consider_constant variable."""

    label = "grad"

    def __init__(self, cost: Variable | None, wrt: list[Variable], policy: str,
                 flagged: set[Variable], direct: set[Variable], known: list[Variable]):
        self.cost, self.wrt, self.policy, self.flagged = cost, wrt, policy, flagged
        self.direct, self.known = direct, known

    def _cost_seed(self, cost: Any) -> tuple[list, list]:
        if self.cost is None or self.cost in self.known:
            return [], []
        c = tnp.as_tensor(cost)
        if c.shape != ():
            raise TypeError(f"T.grad: the cost {describe(self.cost)} must be a scalar, but it "
                            f"has shape {c.shape} (sum or average it, or use T.Lop/T.jacobian)")
        if c.dtype.kind != "f":
            raise TypeError(f"T.grad: the cost {describe(self.cost)} must be a float, got {c.dtype.name}")
        return [c.value], [tnp.ones_like(c).value]

    def __call__(self, cost: Any, wrt: list, consts: list, known: list, known_g: list) -> tuple[Tensor, ...]:
        outputs, cts = self._cost_seed(cost)
        cut = []
        for var, v, g in zip(self.known, known, known_g):
            t = tnp.as_tensor(v)
            if t.dtype.kind != "f":
                continue  # an integer variable has no gradient to know
            gt = _cast_to("T.grad", g, t, f"known_grads[{describe(var)}]")
            outputs.append(t.value)
            cts.append(gt.value)
            cut.append(t.value)
        stop = [c.value for c in consts if isinstance(c, Tensor)]
        ws = _tensors(wrt_tensors(wrt), self.wrt, "T.grad")  # a sparse matrix: its data
        regular = regular_parts(wrt, outputs, cts, stop)  # sparse.dot's dense gradients
        gs = vjp_values(outputs, [w.value for w in ws], cts, stop=stop, cut=cut)
        out = []
        for i, (var, w, g) in enumerate(zip(self.wrt, ws, gs)):
            if g is None and i not in regular and w.dtype.kind == "f" and var not in self.flagged \
                    and var in self.direct:
                _disconnected("T.grad", var, describe(self.cost), self.policy)
            if isinstance(wrt[i], SparseTensor):  # structured (sparse) or regular (dense)
                out.append(sparse_result(wrt[i], g, regular.get(i)))
                continue
            out.append(Tensor(g) if g is not None else _zeros_for(w))
        return tuple(out)


def grad(cost: Variable | None, wrt: Any, consider_constant: Sequence[Variable] | None = None,
         disconnected_inputs: str = "raise", add_names: bool = True,
         known_grads: dict | None = None, return_disconnected: str = "zero",
         null_gradients: str = "raise") -> Any:
    """Theano's `T.grad`: gradient(s) of the scalar `cost` w.r.t. `wrt` (a variable or a list).

    consider_constant: variables the gradient does not flow through (what computes them is
    treated as constant). known_grads: {variable: gradient} seeds the sweep with gradients
    known from elsewhere (the cost may then be None); a known variable's gradient is the one
    given, not what flows back from its users. A `wrt` the cost does not depend on raises
    DisconnectedInputError, warns or not (`disconnected_inputs='raise'|'warn'|'ignore'`) and
    its gradient is zeros, None or a DisconnectedType variable
    (`return_disconnected='zero'|'None'|'Disconnected'`); integer `wrt` get zeros. A
    non-scalar cost is refused (now when its ndim is known, else when the function is traced).
    """
    _check_policy(disconnected_inputs)
    if return_disconnected not in ("zero", "None", "Disconnected"):
        raise ValueError(f"T.grad: return_disconnected must be 'zero', 'None' or 'Disconnected', "
                         f"got {return_disconnected!r}")
    if null_gradients not in ("raise", "return"):
        raise ValueError(f"T.grad: null_gradients must be 'raise' or 'return', got {null_gradients!r}")
    known = _known_pairs(known_grads)
    if cost is None and not known:
        raise ValueError("T.grad: the cost is None and known_grads is empty: nothing to differentiate")
    cost = None if cost is None else as_variable(cost)
    ws, many = _as_list(wrt)
    consts = [as_variable(c) for c in (consider_constant or ())]
    if cost is not None:
        _check_cost(cost)
    roots = ([cost] if cost is not None else []) + [v for v, _ in known]
    connected = grad_ancestors(roots, consts)
    direct = grad_ancestors(roots, consts, through_zero=False)
    flagged = {w for w in ws if w not in connected}
    what = describe(cost) if cost is not None else "(known_grads)"
    for w in ws:
        if w in flagged:
            _disconnected("T.grad", w, what, disconnected_inputs)
    used_consts = [c for c in consts if c in connected]
    fn = _GradFn(cost, ws, disconnected_inputs, flagged, direct, [v for v, _ in known])
    node = Apply(fn, (cost, ws, used_consts, [v for v, _ in known], [g for _, g in known]), {},
                 nout=len(ws), type_rule=lambda i: _float_type(ws[i]))
    if add_names and cost is not None and cost.name:
        for w, g in zip(ws, node.outputs):
            g.name = f"(d{cost.name}/d{w.name})" if w.name else None
    outs = [_disconnected_result(g, return_disconnected) if w in flagged else g
            for w, g in zip(ws, node.outputs)]
    return outs if many else outs[0]


def _check_cost(cost: Variable) -> None:
    if cost.ndim not in (None, 0):
        raise TypeError(f"T.grad: the cost {describe(cost)} must be a scalar, but it has ndim "
                        f"{cost.ndim} (sum or average it, or use T.Lop/T.jacobian)")
    if cost.dtype is not None and cost.dtype.kind != "f":
        raise TypeError(f"T.grad: the cost {describe(cost)} must be a float, got {cost.dtype.name}")


def _disconnected_result(g: Variable, how: str) -> Any:
    if how == "None":
        return None
    if how == "Disconnected":
        return DisconnectedType()()
    return g


# ------------------------------------------------------------------ Lop, Rop
def _cast_to(who: str, point: Any, like: Tensor, what: str) -> Tensor:
    p = tnp.astype(tnp.as_tensor(point), like.dtype)
    if p.shape != like.shape:
        raise ValueError(f"{who}: the eval point of {what} has shape {p.shape}, but {what} has "
                         f"shape {like.shape}")
    return p


class _LopFn:
    """At trace time: Σ_j eval_points[j]ᵀ · ∂f[j]/∂wrt[i] (one transposed sweep)."""

    label = "Lop"

    def __init__(self, f: list[Variable], wrt: list[Variable], policy: str, flagged: set[Variable],
                 direct: set[Variable]):
        self.f, self.wrt, self.policy, self.flagged, self.direct = f, wrt, policy, flagged, direct

    def __call__(self, *vals: Any) -> tuple[Tensor, ...]:
        nf, nw = len(self.f), len(self.wrt)
        fs = _tensors(vals[:nf], self.f, "T.Lop")
        ws = _tensors(vals[nf:nf + nw], self.wrt, "T.Lop")
        us = [_cast_to("T.Lop", u, f, describe(fv))
              for u, f, fv in zip(vals[nf + nw:nf + nw + nf], fs, self.f)]
        stop = [c.value for c in vals[nf + nw + nf:] if isinstance(c, Tensor)]
        gs = vjp_values([f.value for f in fs], [w.value for w in ws], [u.value for u in us], stop=stop)
        out = []
        for var, w, g in zip(self.wrt, ws, gs):
            if g is None and w.dtype.kind == "f" and var not in self.flagged and var in self.direct:
                _disconnected("T.Lop", var, ", ".join(describe(v) for v in self.f), self.policy)
            out.append(Tensor(g) if g is not None else _zeros_for(w))
        return tuple(out)


def Lop(f: Any, wrt: Any, eval_points: Any, consider_constant: Sequence[Variable] | None = None,
        disconnected_inputs: str = "raise") -> Any:
    """Theano's L-operator: the vector-Jacobian product `eval_points · ∂f/∂wrt`.

    `eval_points` match `f` (one per output); the result matches `wrt`. The gradient does not
    flow into what computes a `consider_constant` variable.
    """
    _check_policy(disconnected_inputs)
    consts = [as_variable(c) for c in (consider_constant or ())]
    fs, _ = _as_list(f)
    ws, many = _as_list(wrt)
    us, _ = _as_list(eval_points)
    if len(us) != len(fs):
        raise ValueError(f"T.Lop: {len(fs)} outputs but {len(us)} eval points")
    reachable = grad_ancestors(fs, consts)
    flagged = {w for w in ws if w not in reachable}
    for w in ws:
        if w in flagged:
            _disconnected("T.Lop", w, ", ".join(describe(v) for v in fs), disconnected_inputs)
    direct = grad_ancestors(fs, consts, through_zero=False)
    used = [c for c in consts if c in reachable]
    node = Apply(_LopFn(fs, ws, disconnected_inputs, flagged, direct), (*fs, *ws, *us, *used), {},
                 nout=len(ws), type_rule=lambda i: _float_type(ws[i]))
    return list(node.outputs) if many else node.outputs[0]


class _RopFn:
    """At trace time: Σ_i ∂f[j]/∂wrt[i] · eval_points[i] (one forward-mode sweep)."""

    label = "Rop"

    def __init__(self, f: list[Variable], wrt: list[Variable]):
        self.f, self.wrt = f, wrt

    def __call__(self, *vals: Any) -> tuple[Tensor, ...]:
        nf, nw = len(self.f), len(self.wrt)
        fs = _tensors(vals[:nf], self.f, "T.Rop")
        ws = _tensors(vals[nf:nf + nw], self.wrt, "T.Rop")
        vs = [_cast_to("T.Rop", v, w, describe(wv)) for v, w, wv in zip(vals[nf + nw:], ws, self.wrt)]
        ts = jvp_values([f.value for f in fs], [w.value for w in ws], [v.value for v in vs])
        return tuple(Tensor(t) if t is not None else _zeros_for(f) for t, f in zip(ts, fs))


def Rop(f: Any, wrt: Any, eval_points: Any) -> Any:
    """Theano's R-operator: the Jacobian-vector product `∂f/∂wrt · eval_points`.

    `eval_points` match `wrt` (one per variable); the result matches `f`. Outputs that do not
    depend on `wrt` get zeros.
    """
    fs, many = _as_list(f)
    ws, _ = _as_list(wrt)
    vs, _ = _as_list(eval_points)
    if len(vs) != len(ws):
        raise ValueError(f"T.Rop: {len(ws)} variables but {len(vs)} eval points")
    node = Apply(_RopFn(fs, ws), (*fs, *ws, *vs), {}, nout=len(fs),
                 type_rule=lambda i: _float_type(fs[i]))
    return list(node.outputs) if many else node.outputs[0]


# ------------------------------------------------------------------ jacobian, hessian
class _JacobianFn:
    """At trace time: one reverse sweep per element of the expression (Theano uses a scan)."""

    label = "jacobian"

    def __init__(self, expr: Variable, wrt: list[Variable]):
        self.expr, self.wrt = expr, wrt

    def __call__(self, expr: Any, wrt: list, consts: list) -> tuple[Tensor, ...]:
        y = tnp.as_tensor(expr)
        ws = _tensors(wrt, self.wrt, "T.jacobian")
        stop = [c.value for c in consts if isinstance(c, Tensor)]
        rows: list[list[Tensor]] = [[] for _ in ws]
        for i in range(y.size):
            seed = np.zeros(y.size, y.dtype)
            seed[i] = 1
            gs = vjp_values([y.value], [w.value for w in ws], [tnp.constant(seed.reshape(y.shape)).value],
                            stop=stop)
            for r, g, w in zip(rows, gs, ws):
                r.append(Tensor(g) if g is not None else _zeros_for(w))
        return tuple(tnp.reshape(tnp.stack(r), y.shape + w.shape) if r else
                     tnp.zeros(y.shape + w.shape, _zeros_for(w).dtype) for r, w in zip(rows, ws))


def jacobian(expression: Variable, wrt: Any, consider_constant: Sequence[Variable] | None = None,
             disconnected_inputs: str = "raise") -> Any:
    """Theano's `T.jacobian`: ∂expression/∂wrt of shape expression.shape + wrt.shape (the
    gradient does not flow into what computes a `consider_constant` variable)."""
    _check_policy(disconnected_inputs)
    consts = [as_variable(c) for c in (consider_constant or ())]
    expr = as_variable(expression)
    ws, many = _as_list(wrt)
    reachable = grad_ancestors([expr], consts)
    for w in ws:
        if w not in reachable:
            _disconnected("T.jacobian", w, describe(expr), disconnected_inputs)

    def rule(i: int) -> tuple[int | None, np.dtype | None]:
        ndim, dt = _float_type(ws[i])
        return (None if ndim is None or expr.ndim is None else expr.ndim + ndim), dt

    used = [c for c in consts if c in reachable]
    node = Apply(_JacobianFn(expr, ws), (expr, ws, used), {}, nout=len(ws), type_rule=rule)
    return list(node.outputs) if many else node.outputs[0]


def hessian(cost: Variable, wrt: Any, consider_constant: Sequence[Variable] | None = None,
            disconnected_inputs: str = "raise") -> Any:
    """Theano's `T.hessian`: the jacobian of the gradient (per `wrt` variable)."""
    ws, many = _as_list(wrt)
    out = [jacobian(grad(cost, w, consider_constant, disconnected_inputs), w, consider_constant, "ignore")
           for w in ws]
    return out if many else out[0]
