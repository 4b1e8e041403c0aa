"""Control flow in traced code: loops and lazy branches as `tn.scan` / `tn.cond` region ops.

    outputs, updates = th.scan(fn, sequences=x, outputs_info=h0, non_sequences=W)  # Theano
    carry, ys = th.lax.scan(f, init, xs)                                           # JAX
    th.while_loop(cond_fn, body_fn, init); th.lax.fori_loop(0, n, body_fn, init)
    th.cond(pred, true_fn, false_fn, *operands); th.ifelse(c, a, b)    # lazy: one branch runs
    th.switch(c, a, b)                                                  # eager elementwise where

Each body function is traced ONCE, into the block of the region op (the insertion point moves
there, block arguments become Tensors); outer Tensors are simply used inside, since regions
capture values from above. A body is traced before its op can be built (the result types
come from the body), so it goes into a scratch holder op first and moves into the real op.
The Theano symbolic form (Variables from `theanir.tensor`) is `control_symbolic.py`, which
imports this module and registers its graph builders here (`register_symbolic`).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir

from theanir.dialects.tn import interpreter
from theanir.dialects.tn.builder import describe_location
from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.ops.control import DYNAMIC, MAX_CARRIES, MAX_COND_RESULTS, MAX_SCAN_RESULTS
from theanir.dialects.tn.ops.control_ad import TRUNCATE
from theanir.dialects.tn.registry import ShapeError
from theanir.dialects.tn.regions import Region, emit_region_op
from theanir.dialects.tn.types import TensorSpec

from . import control_eager
from . import numpy_api as tnp
from .pytree import tree_flatten, tree_unflatten
from .symbolic_graph import NpFn, apply, is_symbolic
from .tensor import Tensor

_I64 = np.dtype(np.int64)
_I64_MAX = int(np.iinfo(np.int64).max)
_KIND_ORDER = "bif"  # a weak (Python-scalar) value may take a dtype of the same or a later kind


# ------------------------------------------------------------------ tracing into regions
# `Region` and `emit_region_op` live in the dialect (the autodiff rules of tn.scan/tn.cond
# build regions too); block arguments and results come back as lax Values, made Tensors here.
def _tensors(values: Sequence[Any]) -> list[Tensor]:
    return [Tensor(v.value) for v in values]


# ------------------------------------------------------------------ symbolic variables
# th.scan and th.ifelse on Theano Variables record graph nodes (control_symbolic.py). Those
# nodes run this module's scan and ifelse when evaluated, so control_symbolic imports this
# module and registers its builders here instead of being imported back (no import cycle);
# importing theanir.frontend imports it.
_symbolic_builders: dict[str, Callable[..., Any]] = {}


def register_symbolic(name: str, builder: Callable[..., Any]) -> None:
    """Make `builder` what th.`name` ("scan" or "ifelse") calls on symbolic variables."""
    _symbolic_builders[name] = builder


def _symbolic(name: str) -> Callable[..., Any]:
    builder = _symbolic_builders.get(name)
    if builder is None:
        raise RuntimeError(f"th.{name} on symbolic variables needs theanir.frontend.control_symbolic "
                           f"(import theanir first)")
    return builder


# ------------------------------------------------------------------ values
def tracing() -> bool:
    """Whether tn ops are being traced (inside th.jit, or a th.function being compiled)."""
    try:
        ir.InsertionPoint.current
    except ValueError:
        return False
    return True


def require_trace(who: str, *args: Any) -> None:
    """The JAX-style functions work on traced values only."""
    if is_symbolic(*args):
        raise TypeError(f"{who} takes traced arrays (inside th.jit); with Theano symbolic "
                        f"variables use th.scan and th.ifelse")
    if not tracing():
        raise TypeError(f"{who} runs inside a traced function: call it from a function "
                        f"compiled with th.jit")


def runs_eagerly(*args: Any) -> bool:
    """JAX-style control flow called with concrete values outside a trace runs eagerly
    (control_eager.py)."""
    return not tracing() and not is_symbolic(*args)


def concrete(x: Any) -> Tensor:
    """`x` as a Tensor with a fixed dtype (Python scalars lose their weak typing)."""
    t = tnp.as_tensor(x)
    return Tensor(t.value) if t.weak else t


def conform(x: Any, spec: TensorSpec, who: str, what: str, initial: str) -> Tensor:
    """A loop-carried (or branch) value must keep the type of `initial`; weak Python scalars
    adopt its dtype when no precision is lost."""
    t = tnp.as_tensor(x)
    if t.dtype != spec.dtype:
        if t.weak and _KIND_ORDER.index(t.dtype.kind) <= _KIND_ORDER.index(spec.dtype.kind):
            t = tnp.astype(t, spec.dtype)
        else:
            raise TypeError(f"{who}: {what} has dtype {t.dtype.name}, but {initial} has dtype "
                            f"{spec.dtype.name}; the types must match (cast one of them with "
                            f".astype), at {describe_location()}")
    if t.shape != spec.shape:
        raise ShapeError(f"{who}: {what} has shape {t.shape}, but {initial} has shape "
                         f"{spec.shape}; the shapes must match, at {describe_location()}")
    return Tensor(t.value)


def static_value(x: Any, budget: int = 256) -> np.ndarray | None:
    """The value of `x` if it is known while tracing: Python/NumPy values, and Tensors computed
    from constants only (the dialect's interpreter folds them, visiting at most `budget`
    values); else None."""
    if not isinstance(x, Tensor):
        return np.asarray(x)
    return interpreter.static_value(x.value, limit=None, depth=None, budget=budget)


def _steps_tensor(n_steps: Any, who: str, arg: str) -> Tensor:
    t = tnp.as_tensor(n_steps)
    if t.ndim != 0 or t.dtype.kind != "i":
        raise TypeError(f"{who}: {arg} must be an integer scalar, got {t.dtype.name} of shape "
                        f"{t.shape}, at {describe_location()}")
    return tnp.astype(t, _I64)


def _flag(x: Any, who: str, arg: str) -> Tensor:
    t = tnp.as_tensor(x)
    if t.ndim != 0:
        raise ShapeError(f"{who}: {arg} must be a scalar, got shape {t.shape}, at "
                         f"{describe_location()}")
    return tnp.astype(t, np.bool_) if t.dtype != np.bool_ else Tensor(t.value)


# ------------------------------------------------------------------ the loop every API shares
Step = Callable[[Tensor, list[Tensor]], tuple[Sequence[Any], Sequence[Any], Any]]


def loop(step: Step, inits: Sequence[Tensor], n_steps: Any, length: int, *, who: str,
         names: Sequence[str], truncate_gradient: int = -1) -> tuple[list[Tensor], list[Tensor]]:
    """Emit one tn.scan; returns (final carries, stacked per-step values).

    `step(i, carries) -> (new carries, per-step values, stop flag or None)` is traced once; a
    stop flag makes the loop a do-while (`until`). New carries must keep the types of `inits`
    (named `names` in errors). `length` is the static number of rows of the stacked values,
    or DYNAMIC (-1): as many rows as steps, max(n_steps, 0), known when the code runs;
    `n_steps` (int or traced) the trip count. `truncate_gradient = k >= 0` makes reverse mode
    backpropagate through the last k steps only (Theano's truncated BPTT).
    """
    inits = [concrete(t) for t in inits]
    if len(inits) > MAX_CARRIES:
        raise ValueError(f"{who}: at most {MAX_CARRIES} loop-carried arrays are supported, got "
                         f"{len(inits)}")
    n = _steps_tensor(n_steps, who, "n_steps")
    region = Region([TensorSpec((), _I64)] + [t.spec for t in inits])

    def body(i: Tensor, *carries: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        new, ys, stop = step(i, list(carries))
        new, ys = list(new), [concrete(y) for y in ys]
        if len(new) != len(inits):
            raise ValueError(f"{who}: the body returns {len(new)} loop-carried values for "
                             f"{len(inits)} initial values")
        new = [conform(x, t.spec, who, f"the new value of {nm}", nm)
               for x, t, nm in zip(new, inits, names)]
        flags = [] if stop is None else [_flag(stop, who, "the stop condition")]
        return new, ys, flags

    new, ys, flags = region.trace(body, *_tensors(region.args))
    if len(inits) + len(ys) > MAX_SCAN_RESULTS:
        region.discard()
        raise ValueError(f"{who}: at most {MAX_SCAN_RESULTS} outputs and carried values in all")
    region.close(new + ys + flags)
    if flags:  # a do-while loop stacks the rows that ran (Theano's until): known at run time
        length = DYNAMIC
    rows = None if length == DYNAMIC else length
    specs = [t.spec for t in inits] + [TensorSpec((rows,) + y.shape, y.dtype) for y in ys]
    attrs = {"length": length, "until": bool(flags)}
    results = _tensors(emit_region_op("tn.scan", [n, *inits], attrs, specs, [region]))
    if truncate_gradient >= 0 and results:
        op = results[0].value.owner.operation
        op.attributes[TRUNCATE] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), truncate_gradient)
    return results[:len(inits)], results[len(inits):]


# ------------------------------------------------------------------ Theano's scan
class until:  # noqa: N801  (Theano's name)
    """`return outputs, th.until(condition)` from a scan step: stop after this step when true."""

    def __init__(self, condition: Any):
        self.condition = condition


@dataclass
class _Seq:
    x: Tensor
    taps: list[int]
    name: str

    @property
    def span(self) -> int:
        return max(max(self.taps), 0) - min(min(self.taps), 0)

    @property
    def steps(self) -> int | None:
        """The steps this sequence provides; None for a dynamic leading dim."""
        return None if self.x.shape[0] is None else self.x.shape[0] - self.span

    def steps_tensor(self) -> Tensor:
        """The steps it provides, as a traced int64 (a dynamic leading dim read at run time)."""
        n = self.x.shape[0]
        n = Tensor(tn_lax.dim(self.x, 0).value) if n is None else tnp.as_tensor(np.int64(n))
        return n if self.span == 0 else tnp.maximum(n - self.span, 0)

    def index(self, i: Tensor, k: int, backwards: bool) -> Tensor:
        """Theano's slicing: tap k at step t reads x[t + k - min(taps, 0)] (reversed slices
        with go_backwards)."""
        if backwards:
            n = self.x.shape[0]
            n = Tensor(tn_lax.dim(self.x, 0).value) if n is None else n
            return (n - 1 - max(max(self.taps), 0) + k) - i
        return i + (k - min(min(self.taps), 0))


@dataclass
class _Out:
    initial: Tensor | None  # None: not fed back (a "map" output)
    taps: list[int]
    name: str

    @property
    def lag(self) -> int:
        return -min(self.taps) if self.initial is not None else 0

    def registers(self) -> list[Tensor]:
        """The carries: the last `lag` values, oldest first (taps [-1]: the initial itself)."""
        if self.initial is None:
            return []
        if self.taps == [-1]:
            return [self.initial]
        return [self.initial[j] for j in range(self.lag)]


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _sequences(sequences: Any) -> list[_Seq]:
    out = []
    for j, s in enumerate(_as_list(sequences)):
        name = f"sequences[{j}]"
        x, taps = (s.get("input"), s.get("taps", [0])) if isinstance(s, dict) else (s, [0])
        taps = [0] if taps is None else _as_list(taps)
        if x is None:
            raise ValueError(f"th.scan: {name} is a dict without 'input'")
        if not taps or not all(isinstance(k, (int, np.integer)) for k in taps):
            raise TypeError(f"th.scan: {name}: taps must be a non-empty list of ints, got {taps!r}")
        x = tnp.as_tensor(x)
        if x.ndim == 0:
            raise ShapeError(f"th.scan: {name} is a scalar; a sequence needs a leading axis to "
                             f"iterate over")
        seq = _Seq(x, [int(k) for k in taps], name)
        if seq.steps is not None and seq.steps < 0:
            raise ValueError(f"th.scan: the taps {seq.taps} of {name} reach {seq.span} steps "
                             f"apart, beyond its {x.shape[0]} elements")
        out.append(seq)
    return out


def _outputs(outputs_info: Any) -> list[_Out]:
    out = []
    for i, o in enumerate(_as_list(outputs_info)):
        name = f"outputs_info[{i}]"
        if isinstance(o, dict):
            initial, taps = o.get("initial"), o.get("taps")
            if initial is None and taps is not None:
                raise ValueError(f"th.scan: {name} has taps {taps} but no 'initial' value")
        else:
            initial, taps = o, None
        if initial is None:
            out.append(_Out(None, [], name))
            continue
        taps = [-1] if taps is None else [int(k) for k in _as_list(taps)]
        if not taps or any(k >= 0 for k in taps) or len(set(taps)) != len(taps):
            raise ValueError(f"th.scan: {name}: the taps of an output must be distinct negative "
                             f"ints (past values), got {taps}")
        init = concrete(initial)
        lag = -min(taps)
        if taps != [-1] and (init.ndim == 0 or init.shape[0] < lag):
            have = 0 if init.ndim == 0 else init.shape[0]
            raise ValueError(f"th.scan: {name}: taps {taps} reach {lag} steps before the first "
                             f"step, but its 'initial' value provides {have} (a leading axis of "
                             f"at least {lag} past values is needed)")
        out.append(_Out(init, taps, name))
    return out


def _n_steps(seqs: list[_Seq], n_steps: Any) -> tuple[int, Any]:
    """(rows of the stacked outputs, trip count). Static: n_steps if given (checked), else
    the sequences' minimum, both rows and trip. Dynamic - a sequence with a dynamic leading
    dim or a traced n_steps - gives rows DYNAMIC and a traced trip count: n_steps if given,
    capped at what the sequences provide (a step past a sequence's end would read a clamped
    row), else the sequences' minimum."""
    if isinstance(n_steps, (bool, np.bool_)):
        raise TypeError(f"th.scan: n_steps must be an integer, got {n_steps!r}")
    value = None if n_steps is None else static_value(n_steps)
    if n_steps is not None and value is None:
        n = _steps_tensor(n_steps, "th.scan", "n_steps")
        for s in seqs:
            n = tnp.minimum(n, s.steps_tensor())
        return DYNAMIC, n
    if value is not None and (value.ndim != 0 or value.dtype.kind not in "iu"):
        raise TypeError(f"th.scan: n_steps must be an integer scalar, got {value!r}")
    if any(s.steps is None for s in seqs):
        trips = [s.steps_tensor() for s in seqs]
        n = trips[0] if value is None else tnp.as_tensor(np.int64(int(value)))
        if value is not None and int(value) < 0:
            raise ValueError(f"th.scan: n_steps must be >= 0, got {int(value)}")
        for t in trips[1 if value is None else 0:]:
            n = tnp.minimum(n, t)
        return DYNAMIC, n
    if value is None:
        if not seqs:
            raise ValueError("th.scan: n_steps is required when there are no sequences")
        n = min(s.steps for s in seqs)
        return n, n
    n = int(value)
    if n < 0:
        raise ValueError(f"th.scan: n_steps must be >= 0, got {n}")
    for s in seqs:
        if n > s.steps:
            raise ValueError(f"th.scan: n_steps={n} is inconsistent with {s.name}, which provides "
                             f"only {s.steps} steps (length {s.x.shape[0]}, taps {s.taps})")
    return n, n


def _split_return(ret: Any) -> tuple[list[Any], Any]:
    """fn's return -> (outputs, until condition or None); Theano's forms: outs, (outs, until),
    (outs, updates), (outs, updates, until), until alone."""
    parts = list(ret) if isinstance(ret, tuple) else [ret]
    stop = None
    if parts and isinstance(parts[-1], until):
        stop = parts.pop().condition
    if parts and isinstance(parts[-1], dict):
        if parts.pop():
            raise NotImplementedError("th.scan: updates of shared variables returned by the step "
                                      "function are not supported yet")
    if len(parts) == 1 and isinstance(parts[0], (list, tuple)):
        parts = list(parts[0])
    return parts, stop


def scan(fn: Callable[..., Any], sequences: Any = None, outputs_info: Any = None,
         non_sequences: Any = None, n_steps: Any = None, *, go_backwards: bool = False,
         truncate_gradient: int = -1, mode: Any = None, name: str | None = None,
         profile: Any = False, allow_gc: Any = None, strict: bool = False,
         return_list: bool = False) -> tuple[Any, OrderedDict]:
    """Theano's scan: returns (outputs, updates).

    fn receives, in order, each sequence's slices (one per tap), the past values of each
    output fed back (one per tap), then the non-sequences, and returns the outputs (in
    `outputs_info` order), optionally with `th.until(cond)` last (a do-while loop). Outputs
    are stacked per step. `n_steps` may be traced, and sequences may have a dynamic leading
    dim (`th.jit(..., dynamic_shapes=True)`): the outputs then have as many rows as steps ran,
    known when the code runs (a traced n_steps is capped at the steps the sequences
    provide); with `until`, only the rows of the steps that ran are returned (Theano's
    do-while; the number of rows is known when the code runs). `mode`, `name`, `profile`,
    `allow_gc` are accepted and ignored; `strict=True` on symbolic variables refuses a step
    that reads a shared variable not passed in `non_sequences` (Theano's rule; traced
    Tensors are not checked). `truncate_gradient=k` (k > 0)
    backpropagates through the last k steps only (-1: all). Arguments after n_steps are
    keyword-only.
    """
    if is_symbolic(sequences, outputs_info, non_sequences, n_steps) or not tracing():
        return _symbolic("scan")(fn, sequences, outputs_info, non_sequences, n_steps,
                                 go_backwards, return_list, truncate_gradient, strict=strict)
    seqs, outs = _sequences(sequences), _outputs(outputs_info)
    non_seqs = [x if isinstance(x, Tensor) else tnp.as_tensor(x) for x in _as_list(non_sequences)]
    length, trip = _n_steps(seqs, n_steps)
    inits = [r for o in outs for r in o.registers()]
    names = [o.name for o in outs for _ in o.registers()]

    def step(i: Tensor, carries: list[Tensor]):
        args = [step_slice(s.x, s.index(i, k, go_backwards)) for s in seqs for k in s.taps]
        pos = 0
        for o in outs:
            regs = carries[pos:pos + o.lag]
            args += [regs[o.lag + k] for k in o.taps] if o.initial is not None else []
            pos += o.lag
        values, stop = _split_return(fn(*args, *non_seqs))
        if outputs_info is not None and len(values) != len(outs):
            raise ValueError(f"th.scan: fn returns {len(values)} outputs but outputs_info has "
                             f"{len(outs)} entries (use None for outputs that are not fed back)")
        news, ys, pos = [], [], 0
        for idx, v in enumerate(values):
            o = outs[idx] if idx < len(outs) else _Out(None, [], f"output {idx}")
            if o.initial is not None:
                spec = carries[pos + o.lag - 1].spec
                v = conform(v, spec, "th.scan", f"the step function's output {idx}",
                            f"its initial value {o.name}")
                news += carries[pos + 1:pos + o.lag] + [v]
                pos += o.lag
            ys.append(v)
        return news, ys, stop

    if isinstance(truncate_gradient, bool) or not isinstance(truncate_gradient, (int, np.integer)) \
            or not (truncate_gradient == -1 or truncate_gradient > 0):
        raise ValueError(f"th.scan: truncate_gradient must be -1 (no truncation) or a positive "
                         f"int, got {truncate_gradient!r}")
    _, stacked = loop(step, inits, trip, length, who="th.scan", names=names,
                      truncate_gradient=int(truncate_gradient))
    result = stacked if (return_list or len(stacked) != 1) else stacked[0]
    return result, OrderedDict()


# ------------------------------------------------------------------ JAX-style loops
def while_loop(cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init_val: Any) -> Any:
    """`while cond_fun(val): val = body_fun(val)`, on a pytree of arrays (JAX's while_loop).

    One tn.scan (do-while) whose step is `p = cond_fun(val); val = cond(p, body_fun, id)(val);
    stop = not p`: both functions are traced once, the body runs only while p holds.
    """
    if runs_eagerly(init_val):
        return control_eager.while_loop(cond_fun, body_fun, init_val)
    require_trace("th.while_loop", init_val)
    leaves, tree = tree_flatten(init_val)
    inits = [concrete(x) for x in leaves]
    names = [f"init_val leaf {j}" for j in range(len(inits))] if len(inits) > 1 else ["init_val"]

    def step(i: Tensor, carries: list[Tensor]):
        val = tree_unflatten(tree, carries)
        p = _flag(cond_fun(val), "th.while_loop", "cond_fun's result")

        def run(v: Any) -> Any:
            new_leaves, new_tree = tree_flatten(body_fun(v))
            if new_tree != tree:
                raise TypeError(f"th.while_loop: body_fun returns a structure {new_tree} "
                                f"different from init_val's {tree}")
            return [conform(x, t.spec, "th.while_loop", f"body_fun's {nm}", nm)
                    for x, t, nm in zip(new_leaves, carries, names)]

        new = cond(p, run, lambda v: tree_flatten(v)[0], val) if carries else []
        return list(new), [], tnp.logical_not(p)

    finals, _ = loop(step, inits, np.iinfo(np.int64).max, 0, who="th.while_loop", names=names)
    return tree_unflatten(tree, finals)


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any) -> Any:
    """`for i in range(lower, upper): val = body_fun(i, val)` (bounds may be traced)."""
    if runs_eagerly(lower, upper, init_val):
        return control_eager.fori_loop(lower, upper, body_fun, init_val)
    require_trace("th.lax.fori_loop", lower, upper, init_val)
    leaves, tree = tree_flatten(init_val)
    inits = [concrete(x) for x in leaves]
    names = [f"init_val leaf {j}" for j in range(len(inits))] if len(inits) > 1 else ["init_val"]
    lo, hi = tnp.as_tensor(lower), tnp.as_tensor(upper)
    for t, arg in ((lo, "lower"), (hi, "upper")):
        if t.ndim != 0 or t.dtype.kind != "i":
            raise TypeError(f"th.lax.fori_loop: {arg} must be an integer scalar, got "
                            f"{t.dtype.name} of shape {t.shape}")
    index_dtype = tnp.result_type(lo, hi)
    n = _trip_count(lo, hi)

    def step(i: Tensor, carries: list[Tensor]):
        new_leaves, new_tree = tree_flatten(body_fun(tnp.astype(i + lo, index_dtype),
                                                     tree_unflatten(tree, carries)))
        if new_tree != tree:
            raise TypeError(f"th.lax.fori_loop: body_fun returns a structure {new_tree} different "
                            f"from init_val's {tree}")
        return new_leaves, [], None

    finals, _ = loop(step, inits, n, 0, who="th.lax.fori_loop", names=names)
    return tree_unflatten(tree, finals)


def _trip_count(lo: Tensor, hi: Tensor) -> Tensor:
    """len(range(lo, hi)) as int64: 0 when hi <= lo; a range longer than int64 holds (from
    -2**63 to 2**63 - 1) saturates at 2**63 - 1 steps instead of wrapping to a small count."""
    lo_v, hi_v = static_value(lo), static_value(hi)
    if lo_v is not None and hi_v is not None:  # a constant: reverse mode can bound its residuals
        return tnp.as_tensor(np.int64(min(max(int(hi_v) - int(lo_v), 0), _I64_MAX)))
    lo64, hi64 = tnp.astype(lo, _I64), tnp.astype(hi, _I64)
    diff = hi64 - lo64  # wraps to a negative value when the true difference exceeds int64
    return tnp.where(hi64 > lo64, tnp.where(diff < 0, _I64_MAX, diff), 0)


def step_slice(x: Tensor, index: Tensor) -> Tensor:
    """`x[index]` along axis 0 in a loop body. An empty `x` means a loop of 0 steps whose body
    never runs: it still needs a value of the slice's type to trace, and tn.take refuses to
    index an empty axis, so zeros stand in."""
    if x.shape[0] == 0:
        return tnp.zeros(x.shape[1:], x.dtype)
    return tnp.take(x, index, axis=0)


# ------------------------------------------------------------------ branches
def cond(pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any) -> Any:
    """`true_fun(*operands) if pred else false_fun(*operands)`, lazily: one tn.cond whose
    regions hold each function traced once; only the taken one runs. Both must return the
    same structure of arrays with equal shapes and dtypes (Python scalars adapt)."""
    if runs_eagerly(pred, operands):
        return control_eager.cond(pred, true_fun, false_fun, *operands)
    require_trace("th.cond", pred, operands)
    if not isinstance(pred, Tensor):
        return true_fun(*operands) if bool(np.asarray(pred)) else false_fun(*operands)
    p = _flag(pred if pred.dtype == np.bool_ else tnp.not_equal(pred, 0), "th.cond", "pred")
    then, other = Region([]), Region([])
    try:
        a, a_tree = then.trace(_branch, true_fun, operands)
        b, b_tree = other.trace(_branch, false_fun, operands)
        if a_tree != b_tree:
            raise TypeError(f"th.cond: true_fun and false_fun return different structures: "
                            f"{a_tree} and {b_tree}")
        if len(a) > MAX_COND_RESULTS:
            raise ValueError(f"th.cond: at most {MAX_COND_RESULTS} results are supported")
        pairs = [_unify(x, y, then, other, f"result {j}" if len(a) > 1 else "result")
                 for j, (x, y) in enumerate(zip(a, b))]
    except BaseException:
        then.discard()
        other.discard()
        raise
    then.close([x for x, _ in pairs])
    other.close([y for _, y in pairs])
    outs = _tensors(emit_region_op("tn.cond", [p], {}, [x.spec for x, _ in pairs], [then, other]))
    return tree_unflatten(a_tree, outs)


def _branch(fn: Callable[..., Any], operands: tuple) -> tuple[list[Tensor], Any]:
    leaves, tree = tree_flatten(fn(*operands))
    return [tnp.as_tensor(x) for x in leaves], tree


def _unify(x: Tensor, y: Tensor, then: Region, other: Region, what: str) -> tuple[Tensor, Tensor]:
    """One type for a result of both branches; a weak scalar adopts the other side's dtype."""
    if x.weak and not y.weak:
        return then.trace(conform, x, y.spec, "th.cond", f"true_fun's {what}", f"false_fun's"), y
    y = other.trace(conform, y, x.spec, "th.cond", f"false_fun's {what}", f"true_fun's")
    return Tensor(x.value), y


def ifelse(condition: Any, then_branch: Any, else_branch: Any, name: str | None = None) -> Any:
    """Theano's lazy ifelse on values (a Tensor or a list of them): only the taken side's
    computation runs, because the ops that only one side needs are moved into its branch
    when the function is compiled (`sink_into_branches`)."""
    if is_symbolic(condition, then_branch, else_branch) or not tracing():
        return _symbolic("ifelse")(condition, then_branch, else_branch)
    many = isinstance(then_branch, (list, tuple))
    a, b = _as_list(then_branch), _as_list(else_branch)
    if len(a) != len(b):
        raise ValueError(f"th.ifelse: then_branch has {len(a)} values but else_branch has {len(b)}")
    c = tnp.as_tensor(condition)
    if c.ndim != 0:
        raise ShapeError(f"th.ifelse: condition must be a scalar, got shape {c.shape}")
    pred = c if c.dtype == np.bool_ else tnp.not_equal(c, 0)
    outs = cond(Tensor(pred.value), lambda: list(a), lambda: list(b))
    return list(outs) if many else outs[0]


def switch(cond: Any, ift: Any, iff: Any) -> Any:
    """Theano's switch: the elementwise, eager `where` (both sides are computed)."""
    if is_symbolic(cond, ift, iff) or not tracing():
        return apply(NpFn("where"), cond, ift, iff)
    return tnp.where(cond, ift, iff)
