"""Theano's `shared` and `function`: compile a symbolic graph and its updates into one step.

    x, y = T.dmatrix("x"), T.dvector("y")
    w = th.shared(np.zeros(3), name="w")
    cost = T.nnet.binary_crossentropy(T.nnet.sigmoid(T.dot(x, w)), y).mean()
    train = th.function([x, y], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])
    train(X, Y)    # forward, backward and the update: one native call

Per call signature (input shapes/dtypes and the shared variables' current shapes) the graph
is evaluated inside a `th.jit` trace, with Tensors bound to the inputs and shared
variables; the traced step returns the outputs and the updates' new values. `set_value`
with a new shape makes the next call retrace.

Updates are in place: each update's result is written into its shared variable's own buffer
(a donated input/output pair of the compiled step, passes/lower/entry_abi.py), so a training
step allocates no new parameter arrays. That needs storage the function alone holds: a
shared variable's `container` is `[value, private]`, and `private` is cleared whenever the
buffer may have another holder (`get_value(borrow=True)`, `set_value(..., borrow=True)`); the
next call then first copies the value into a new private buffer. Updates that cannot be
written in place in any order (two variables swapping values) compile without donation and
store freshly written buffers instead.

Warm calls with positional NumPy arrays (of the inputs' exact dtypes) take the runtime's
FunctionCache (C++): no Python between the call and the native step.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn.types import check_dtype

from theanir.runtime import FunctionCache
from theanir.runtime._native import _lock_updates, _unlock_updates

from . import numpy_api as tnp
from .api import _MISS, JitFunction, Lowered
from .config import config
from .symbolic_graph import (Constant, Evaluator, MissingInputError, Variable, ancestors,
                             as_variable, describe, graph_leaves, register_eval)
from .pytree import tree_unflatten
from .symbolic_slicing import slice_static_inputs
from .symbolic_types import TensorType
from .sparse import SparseTensor, call_key as sparse_call_key, call_leaves as sparse_call_leaves, \
    canonical as sparse_canonical
from .sparse_grad import track_regular
from .symbolic_io import FunctionMaker, In, Mode, get_mode, split_inputs, split_outputs
from .tensor import Tensor

__all__ = ["shared", "function", "SharedVariable", "Function", "MissingInputError", "UnusedInputError",
           "In", "Mode"]


class UnusedInputError(ValueError):
    """An input of `th.function` is not needed by any output or update."""


# ------------------------------------------------------------------ values in, with Theano's casting rules
def _python_data(value: Any) -> bool:
    return not isinstance(value, (np.ndarray, np.generic))


def coerce_value(value: Any, dtype: np.dtype, ndim: int, who: str, downcast: bool | None) -> np.ndarray:
    """`value` as an array of `dtype` and rank `ndim`, or a TypeError naming `who`.

    Theano's rules: arrays may be upcast safely (int32 -> float64); Python numbers and lists
    convert when the kinds agree (a Python float fits any float dtype); anything else needs
    `downcast=True` (allow_input_downcast). Converting may round (0.1 to float32, 1.5 to an
    int with downcast) but never wraps or overflows: values outside the range of `dtype`
    (2**40 for int32, 1e300 for float32, NaN for an int) raise OverflowError naming `who`.
    """
    if isinstance(value, (Variable, Tensor)):
        raise TypeError(f"{who}: expected a value (a NumPy array or a number), got the symbolic "
                        f"{value!r}")
    dtype = np.dtype(dtype)  # (a Variable's dtype is a str, Theano's convention)
    arr = np.asarray(value)
    if _python_data(value) and (arr.dtype == object or (arr.dtype.kind == "f" and dtype.kind == "i")):
        arr = _python_ints(value, arr, dtype, who)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{who}: expected numbers, got an array of dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise TypeError(f"{who}: expected a {ndim}-d {dtype.name} array, got ndim {arr.ndim} "
                        f"(shape {arr.shape})")
    if arr.dtype == dtype:
        return arr
    if not _castable(arr.dtype, dtype, _python_data(value), downcast):
        raise TypeError(f"{who}: expected dtype {dtype.name}, got {arr.dtype.name}, which would lose "
                        f"precision; cast the value to {dtype.name} or pass allow_input_downcast=True")
    with np.errstate(all="ignore"):
        out = arr.astype(dtype)
    bad = _out_of_range(arr, out)
    if bad is not None:
        raise OverflowError(f"{who}: the value {bad!r} does not fit dtype {dtype.name} (it would "
                            f"become {_converted(bad, dtype)!r})")
    return out


def _out_of_range(arr: np.ndarray, out: np.ndarray) -> Any:
    """The first value of `arr` that its conversion `out` does not represent (wrapped, or
    overflowed to inf, or NaN/inf made an int), or None; rounding is representation."""
    if arr.size == 0 or out.dtype.kind == "b":
        return None
    if out.dtype.kind in "fc":  # finite values must stay finite
        bad = np.isfinite(arr) & ~np.isfinite(out) if arr.dtype.kind in "fc" else ~np.isfinite(out)
    else:
        info = np.iinfo(out.dtype)
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr) | (arr < info.min) | (arr >= -float(info.min))  # 2**31 for int32
        elif arr.dtype.kind in "iu":
            lo, hi = (int(arr.min()), int(arr.max()))
            if info.min <= lo and hi <= info.max:
                return None
            bad = (arr < info.min) | (arr > info.max) if arr.dtype.kind == "i" else arr > info.max
        else:
            return None
    where = np.flatnonzero(bad)
    return None if where.size == 0 else arr.reshape(-1)[where[0]].item()


def _converted(value: Any, dtype: np.dtype) -> Any:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return np.array(value).astype(dtype).item()
        except (OverflowError, ValueError):
            return "garbage"


def _python_ints(value: Any, arr: np.ndarray, dtype: np.dtype, who: str) -> np.ndarray:
    """Python data that NumPy could not hold as int64: ints beyond 64 bits (an object array)
    or beside ints of 2**63 and above (float64). Names the first int out of `dtype`'s range;
    otherwise, ints too large for int64 reach a float dtype as floats."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(reversed(v))
        elif isinstance(v, int) and not isinstance(v, bool) and not _int_fits(v, dtype):
            raise OverflowError(f"{who}: the Python int {_show_int(v)} does not fit dtype {dtype.name}")
    if arr.dtype == object and dtype.kind == "f":
        return np.asarray(value, dtype=np.float64)
    return arr


def _show_int(v: int) -> str:
    text = str(v)
    return text if len(text) <= 40 else f"{text[:12]}...({v.bit_length()} bits)"


def _int_fits(v: int, dtype: np.dtype) -> bool:
    if dtype.kind == "i":
        info = np.iinfo(dtype)
        return info.min <= v <= info.max
    if dtype.kind == "f":
        return abs(v) <= int(np.finfo(dtype).max)
    return True


def _castable(src: np.dtype, dst: np.dtype, python: bool, downcast: bool | None) -> bool:
    if downcast:
        return True
    if np.can_cast(src, dst, "safe"):
        return True
    # Python numbers: a float fits any float dtype, an int any int or float dtype (the values
    # are range-checked after converting; ints of 2**63 and above arrive as uint64)
    kind = "i" if src.kind == "u" else src.kind
    return bool(python and downcast is None and (dst.kind in "fc" and kind != "c" or kind == dst.kind))


# ------------------------------------------------------------------ shared variables
class SharedVariable(Variable):
    """A variable with a value that persists across calls (Theano's shared variable).

    Its dtype and ndim are fixed; its shape may change with `set_value` (the next call of a
    function using it retraces). `container` is the storage cell `[value, private]` that
    compiled functions read and update (see the module doc).
    """

    def __init__(self, value: np.ndarray, name: str | None = None, strict: bool = False,
                 allow_downcast: bool | None = None, private: bool = True,
                 broadcastable: Sequence[bool] | None = None):
        super().__init__(value.ndim, value.dtype, name, broadcastable=broadcastable)
        self.container: list[Any] = [value, private]
        self.strict = strict
        self.allow_downcast = allow_downcast
        # Theano's default update: applied by every th.function that uses this variable
        # (unless no_default_updates says otherwise, or updates= gives another)
        self.default_update: Any = None

    @property
    def _value(self) -> Any:
        return self.container[0]

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """The value: a copy, or the stored array itself with borrow=True (which later
        in-place updates would then write: the next update goes to a new buffer instead)."""
        value = np.asarray(self.container[0])  # after an update, a th.Array: waits for the call
        if not (borrow or return_internal_type):
            return value.copy()
        self.container[1] = False
        return value

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value; dtype and ndim must fit (the shape may change)."""
        who = f"set_value of shared variable {describe(self)}"
        if self.strict and isinstance(value, np.ndarray) and value.dtype != self.dtype:
            raise TypeError(f"{who}: strict shared variable needs dtype {self.dtype.name}, got {value.dtype.name}")
        arr = coerce_value(value, self.dtype, self.ndim, who, self.allow_downcast)
        bad = [i for i, b in enumerate(self.broadcastable) if b and arr.shape[i] != 1]
        if bad:
            raise TypeError(f"{who}: dimensions {bad} are broadcastable (length 1), but the value has "
                            f"shape {arr.shape}")
        keep = borrow and arr is value and arr.flags.c_contiguous
        self.container[:] = [arr, False] if keep else [np.array(arr, order="C", copy=True), True]

    @property
    def value(self) -> np.ndarray:
        return self.get_value()

    @value.setter
    def value(self, v: Any) -> None:
        self.set_value(v)


TensorSharedVariable = SharedVariable


# Values with shared variables of their own kind: (match, make(value, name, strict,
# allow_downcast, borrow)); frontend/sparse_symbolic.py adds SciPy's sparse matrices.
SHARED_KINDS: list[tuple[Any, Any]] = []


def shared(value: Any, name: str | None = None, strict: bool = False, allow_downcast: bool | None = None,
           borrow: bool = False, broadcastable: Sequence[bool] | None = None) -> SharedVariable:
    """A shared variable holding `value` (copied unless borrow=True).

    Python floats become config.floatX, Python ints int64; arrays keep their dtype (float32,
    float64, int32, int64, bool).
    """
    if isinstance(value, Variable):
        raise TypeError(f"th.shared: expected a value, got the symbolic {value!r}")
    for match, make in SHARED_KINDS:  # theanir.sparse: a sparse shared variable
        if match(value):
            return make(value, name, strict, allow_downcast, borrow)
    who = f"th.shared{'(' + repr(name) + ')' if name else ''}"
    try:
        if isinstance(value, float):
            arr = np.asarray(value, dtype=config.floatX)
        elif isinstance(value, bool) or isinstance(value, int):
            arr = np.asarray(value, dtype=np.bool_ if isinstance(value, bool) else np.int64)
        else:
            arr = np.asarray(value)
    except OverflowError:
        raise OverflowError(f"{who}: the Python int {_show_int(value)} does not fit dtype int64") from None
    if arr.dtype == object and _python_data(value):
        _python_ints(value, arr, np.dtype(np.int64), who)
    try:
        check_dtype(arr.dtype)
    except TypeError as e:
        raise TypeError(f"{who}: {e}") from None
    if broadcastable is not None and len(broadcastable) != arr.ndim:
        raise TypeError(f"th.shared: broadcastable {tuple(broadcastable)} does not match a value of ndim {arr.ndim}")
    if broadcastable is not None:
        bad = [i for i, b in enumerate(broadcastable) if b and arr.shape[i] != 1]
        if bad:
            raise TypeError(f"{who}: dimensions {bad} are broadcastable (length 1), but the value has "
                            f"shape {arr.shape}")
    keep = borrow and arr is value and arr.flags.c_contiguous
    return SharedVariable(arr if keep else np.array(arr, order="C", copy=True), name, strict, allow_downcast,
                          private=not keep, broadcastable=broadcastable)


# ------------------------------------------------------------------ function
def _pairs(x: Any, what: str) -> list[tuple[Any, Any]]:
    if x is None:
        return []
    if isinstance(x, Mapping):
        return list(x.items())
    try:
        pairs = [tuple(p) for p in x]
    except TypeError:
        raise TypeError(f"th.function: {what} must be a list of (variable, value) pairs or a dict") from None
    if any(len(p) != 2 for p in pairs):
        raise TypeError(f"th.function: every entry of {what} must be a (variable, value) pair")
    return pairs


def _value_ancestors(roots: Sequence[Any], givens: Mapping[Variable, Any]) -> set[Variable]:
    """The variables whose *values* the roots depend on: the walk does not enter the input of
    a shape-only node (`x.shape`, `x.size`: static while tracing, so `n_steps=x.shape[0]`
    needs no value of `x`), and follows `givens` to their replacements."""
    seen: set[Variable] = set()
    stack = [r for r in roots if isinstance(r, Variable)]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if isinstance(givens.get(v), Variable):
            stack.append(givens[v])
        elif v.owner is not None and not getattr(v.owner.fn, "shape_only", False):
            stack.extend(v.owner.inputs())
    return seen


def _static_type_check(who: str, target: Variable, new: Any) -> None:
    """Refuse now what is known to mismatch; the shapes are checked when tracing."""
    new_v = as_variable(new) if not isinstance(new, (bool, int, float)) else None
    if new_v is None:
        return
    ndim, dtype = new_v.ndim, new_v.dtype
    if ndim is not None and ndim != target.ndim:
        raise TypeError(f"{who}: the new value {describe(new_v)} has ndim {ndim}, but {describe(target)} "
                        f"has ndim {target.ndim}")
    if dtype is not None and dtype != target.dtype and not isinstance(new_v, Constant):
        raise TypeError(f"{who}: the new value {describe(new_v)} has dtype {dtype.name}, but "
                        f"{describe(target)} has dtype {target.dtype.name} (cast it with T.cast)")


class Function(FunctionCache):
    """A compiled Theano-style function; call it with one value per input.

    Calling it is C++ (the runtime's FunctionCache, its base class): a warm call of positional
    arrays runs the compiled step and stores the updates without Python; anything else comes to
    `_call_slow`.
    """

    def __init__(self, inputs: Sequence[Any], outputs: Any, updates: Any, givens: Any,
                 allow_input_downcast: bool | None, on_unused_input: str, name: str | None,
                 trust_input: bool = False, allow_gc: bool | None = None, mode: Any = None,
                 no_default_updates: Any = False):
        self.name = name or "th.function"
        self.allow_input_downcast = allow_input_downcast
        variables, self._ins = split_inputs(inputs)
        self._in_types: list | None = None  # (dtype, ndim, sparse format) per input: _arguments
        self.inputs = self._check_inputs(variables)
        self.mode = get_mode(mode)
        outputs = split_outputs(outputs)
        self._single = outputs is not None and not isinstance(outputs, (list, tuple))
        outs = [] if outputs is None else ([outputs] if self._single else list(outputs))
        self.outputs = [as_variable(o) for o in outs]
        self.givens = self._check_givens(_pairs(givens, "givens"))
        self.updates = self._check_updates(_pairs(updates, "updates"))
        self.updates = self._check_updates(self.updates + self._default_updates(no_default_updates))
        self.shared = self._collect(on_unused_input)
        self.maker = FunctionMaker(self._ins, self.outputs, self.updates, self.givens, self.shared, self.mode)
        self._static = self._static_inputs()
        # warm calls with SciPy sparse inputs: (sparse.call_key, warm key) -> Compiled
        self._sparse_in = any(getattr(v, "format", None) for v in self.inputs)
        self._sparse_calls: dict = {}
        # the storage cells the step reads, and for each update the cell its result goes to
        self._cells = [s.container for s in self.shared]
        self._updated = [self.shared.index(t) for t, _ in self.updates]
        n_out = len(self.outputs)
        # leaf offsets: a sparse input or shared variable flattens to 3 arrays (theanir.sparse)
        counts = [3 if getattr(v, "format", None) else 1 for v in self.inputs + self.shared]
        offsets = [sum(counts[:i]) for i in range(len(counts))]
        self._sparse = any(c == 3 for c in counts) or any(getattr(o, "format", None) for o in self.outputs)
        if any(getattr(t, "format", None) for t, _ in self.updates):
            raise NotImplementedError("th.function: updates of sparse shared variables are not supported yet")
        donate = [(offsets[len(self.inputs) + c], n_out + u) for u, c in enumerate(self._updated)]  # in place
        self._jit = JitFunction(self._step, static_argnums=2, optimizer=self.mode.optimizer,
                                trust_input=trust_input, allow_gc=allow_gc, donate=donate)
        self._jit.__name__ = self.name
        # one compile per input types (Theano's): the inputs' non-broadcastable dims are
        # dynamic; shared variables keep their shapes (docs/dynamic-shapes.md)
        self._jit.dynamic_shapes = True
        self._jit.dynamic_fallback = True
        self._jit.leaf_patterns = [p for v in self.inputs for p in
                                   ([(False,)] * 3 if getattr(v, "format", None) else [tuple(v.broadcastable)])]
        names = ([v.name or f"input {i}" for i, v in enumerate(self.inputs)]
                 + [f"shared variable {v.name or i}" for i, v in enumerate(self.shared)])
        self._jit.leaf_names = [f"{n}.{part}" if c == 3 else n for n, c in zip(names, counts)
                                for part in (("data", "indices", "indptr") if c == 3 else ("",))] + ["static inputs"]
        super().__init__(_MISS, self._cells, self._updated, n_out, self._single)
        self.trust_input = bool(trust_input)

    # ------------------------------------------------------------- construction checks
    def _check_inputs(self, inputs: Sequence[Variable]) -> list[Variable]:
        out = list(inputs)
        for i, v in enumerate(out):
            if not isinstance(v, Variable) or v.owner is not None:
                raise TypeError(f"th.function: input {i} ({v!r}) must be a symbolic variable such as "
                                f"T.matrix('x'), not an expression")
            if isinstance(v, (SharedVariable, Constant)):
                raise TypeError(f"th.function: input {i} {describe(v)} is a shared variable or a "
                                f"constant; these cannot be inputs (their value is in the graph)")
        if len(set(out)) != len(out):
            raise TypeError("th.function: the same variable appears twice among the inputs")
        names = [i.name for i in self._ins if i.name]
        if len(set(names)) != len(names):
            raise TypeError(f"th.function: two inputs have the same name ({names}); give them "
                            f"distinct names or th.In(var, name=...)")
        for i, spec in enumerate(self._ins):
            if spec.has_default:
                who = f"th.function: default value of input {i} {describe(spec.variable)}"
                spec.value = coerce_value(spec.value, spec.variable.dtype, spec.variable.ndim, who,
                                          self._downcast(spec))
        return out

    def _downcast(self, spec: In) -> bool | None:
        return self.allow_input_downcast if spec.allow_downcast is None else spec.allow_downcast

    def _default_updates(self, no_default_updates: Any) -> list[tuple[SharedVariable, Any]]:
        """Theano's default updates: a shared variable of the graph with a `default_update`
        is updated by it, unless `no_default_updates` is True or lists the variable, or
        updates= already updates it. Updates may reach more such variables (to a fixed point)."""
        if no_default_updates is True:
            return []
        skip = set(no_default_updates or [])
        have = {t for t, _ in self.updates}
        out: list[tuple[SharedVariable, Any]] = []
        roots = self.outputs + [as_variable(n) for _, n in self.updates]
        roots += [r for r in self.givens.values() if isinstance(r, Variable)]  # a given may draw too
        while roots:
            found = [v for v in graph_leaves(roots, replaced=list(self.givens))
                     if isinstance(v, SharedVariable) and v.default_update is not None
                     and v not in have and v not in skip]
            out += [(v, v.default_update) for v in found]
            have.update(found)
            roots = [as_variable(v.default_update) for v in found]
        return out

    def _check_updates(self, pairs: list[tuple[Any, Any]]) -> list[tuple[SharedVariable, Any]]:
        seen: set[Variable] = set()
        for target, new in pairs:
            if not isinstance(target, SharedVariable):
                raise TypeError(f"th.function: updates can only target shared variables, got {target!r}")
            if target in seen:
                raise ValueError(f"th.function: shared variable {describe(target)} is updated twice")
            seen.add(target)
            _static_type_check(f"th.function: update of shared variable {describe(target)}", target, new)
        return pairs

    def _check_givens(self, pairs: list[tuple[Any, Any]]) -> dict[Variable, Any]:
        for old, new in pairs:
            if not isinstance(old, Variable) or isinstance(old, Constant):
                raise TypeError(f"th.function: givens keys must be variables, got {old!r}")
            _static_type_check(f"th.function: givens for {describe(old)}", old, new)
        return dict(pairs)

    def _collect(self, on_unused_input: str) -> list[SharedVariable]:
        """Check every needed input is provided; return the shared variables to bind."""
        if on_unused_input not in ("raise", "warn", "ignore"):
            raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
        roots = self.outputs + [as_variable(n) for _, n in self.updates]
        roots += [r for r in self.givens.values() if isinstance(r, Variable)]
        leaves = graph_leaves(roots, replaced=list(self.givens))
        inputs = set(self.inputs)
        for v in leaves:
            if v.owner is None and not isinstance(v, (SharedVariable, Constant)) and v not in inputs:
                raise MissingInputError(f"th.function: the outputs or updates need {describe(v)}, which "
                                        f"is not among the inputs (nor given a value in `givens`)")
        used = set(leaves)
        for i, v in enumerate(self.inputs):
            if v not in used and on_unused_input != "ignore":
                msg = (f"th.function: input {i} {describe(v)} is not used to compute the outputs or "
                       f"updates (pass on_unused_input='ignore' to allow it)")
                if on_unused_input == "raise":
                    raise UnusedInputError(msg)
                warnings.warn(msg, UserWarning, stacklevel=3)
        shared = [v for v in leaves if isinstance(v, SharedVariable)]
        return shared + [t for t, _ in self.updates if t not in set(shared)]

    # ------------------------------------------------------------- the traced step
    def _static_inputs(self) -> tuple[int, ...]:
        """Inputs whose value a node needs while tracing (th.scan's n_steps, which sets the
        length of the stacked outputs; the bounds of a slice whose length they set): the
        trace specializes on their values."""
        roots = self.outputs + [as_variable(n) for _, n in self.updates]
        nodes = {a.owner for a in ancestors(roots) if a.owner is not None}
        needed = [v for node in nodes for v in getattr(node.fn, "static_inputs", ())]
        needed += [v for node in nodes for v in slice_static_inputs(node)]  # slices of varying length
        deps = _value_ancestors(needed, self.givens) if needed else set()
        return tuple(i for i, v in enumerate(self.inputs) if v in deps)

    def _static_values(self, values: list[np.ndarray]) -> tuple:
        return tuple(values[i].item() for i in self._static)

    def _step(self, inputs: list[Tensor], shared: list[Tensor], static: tuple = ()) -> tuple[list[Any], list[Tensor]]:
        inputs = [track_regular(v) if isinstance(v, SparseTensor) else v for v in inputs]
        shared = [track_regular(v) if isinstance(v, SparseTensor) else v for v in shared]
        bindings: dict[Variable, Any] = dict(zip(self.inputs, inputs))
        for i, value in zip(self._static, static):  # known while tracing: a constant
            bindings[self.inputs[i]] = tnp.constant(np.asarray(value, self.inputs[i].dtype))
        bindings.update(zip(self.shared, shared))
        ev = Evaluator(bindings, self.givens)
        outs = [_output(ev.value(o)) for o in self.outputs]
        news = [self._new_value(ev, target, bindings[target], new) for target, new in self.updates]
        return outs, news

    @staticmethod
    def _new_value(ev: Evaluator, target: SharedVariable, old: Tensor, new: Any) -> Tensor:
        value = ev.value(new) if isinstance(new, Variable) else new
        t = tnp.as_tensor(value)
        if (t.weak or not isinstance(value, Tensor)) and _castable(t.dtype, target.dtype, True, None):
            t = tnp.astype(t, target.dtype)  # numbers and constants take the variable's dtype
        if t.shape != old.shape or t.dtype != target.dtype:
            raise TypeError(f"th.function: update of shared variable {describe(target)}: the new value "
                            f"has shape {t.shape} and dtype {t.dtype.name}, but the variable holds shape "
                            f"{old.shape} and dtype {target.dtype.name}")
        return Tensor(t.value)

    # ------------------------------------------------------------- calling
    def _arguments(self, args: tuple, kwargs: dict) -> list[np.ndarray]:
        if len(args) > len(self.inputs):
            raise TypeError(f"{self.name}: takes {len(self.inputs)} inputs, got {len(args)}")
        values: list[Any] = list(args) + [_MISSING] * (len(self.inputs) - len(args))
        names = {spec.name: i for i, spec in enumerate(self._ins) if spec.name}
        for k, val in kwargs.items():
            if k not in names:
                raise TypeError(f"{self.name}: no input named {k!r} (the named inputs: {sorted(names)})")
            if values[names[k]] is not _MISSING:
                raise TypeError(f"{self.name}: input {k!r} is given both by position and by keyword")
            values[names[k]] = val
        out = []
        types = self._in_types
        if types is None:  # (a variable's dtype is inferred and wrapped per access: once here)
            types = self._in_types = [(np.dtype(s.variable.dtype), s.variable.ndim,
                                       getattr(s.variable, "format", None)) for s in self._ins]
        for i, (spec, val, (dtype, ndim, fmt)) in enumerate(zip(self._ins, values, types)):
            v = spec.variable
            who = f"{self.name}: input {i} {describe(v)}"
            if val is _MISSING:
                if not spec.has_default:
                    raise TypeError(f"{who} is missing (it has no default: th.In(var, value=...) gives one)")
                out.append(spec.value)
                continue
            if spec.strict and not (isinstance(val, np.ndarray) and val.dtype == dtype and val.ndim == ndim):
                raise TypeError(f"{who} is strict: it needs a NumPy array of dtype {v.dtype} and ndim "
                                f"{v.ndim}, got {type(val).__name__} {getattr(val, 'dtype', '')}".rstrip())
            if fmt:  # a sparse input: a canonical SciPy matrix of its format
                out.append(sparse_canonical(val, who, dtype, fmt))
                continue
            out.append(coerce_value(val, dtype, ndim, who, self._downcast(spec)))
        return out

    # __call__ is FunctionCache's (C++): the warm-call cache, else _call_slow.

    def _call_slow(self, *args: Any, **kwargs: Any) -> Any:
        """The full path: converts the arguments, compiles new signatures, remembers warm calls."""
        values = self._arguments(args, kwargs)
        if not self._updated:
            return self._call_locked(args, kwargs, values)
        # Read the variables, run, store the updates: one step for other updating calls (the
        # runtime's update lock, shared with the C++ warm path; reentrant on one thread).
        _lock_updates()
        try:
            return self._call_locked(args, kwargs, values)
        finally:
            _unlock_updates()

    def _call_locked(self, args: tuple, kwargs: dict, values: list[np.ndarray]) -> Any:
        self._own_updated_storage()
        cells = [c[0] for c in self._cells]
        # warm calls with sparse inputs: the code by a cheap key of the values (their
        # matrices were checked by _arguments), not the full signature (frontend/sparse.py)
        fast_key = sparse_call_key(values + cells) if self._sparse_in and not self._static else None
        compiled = self._sparse_calls.get((fast_key, config.compile_snapshot()[2])) if fast_key else None
        if compiled is not None:
            leaves, key = sparse_call_leaves(values + cells, check=False), None
        else:
            # the warm key of the settings it compiled under: a change meanwhile voids the entry
            compiled, leaves, key = self._jit.compiled_and_key(values, cells, self._static_values(values))
            if fast_key and self._jit.warm_ok and all(
                    a is b for a, b in zip(leaves, sparse_call_leaves(values + cells, check=False))):
                if len(self._sparse_calls) >= 64:  # (bounded: its entries keep their code loaded)
                    self._sparse_calls.clear()
                self._sparse_calls[(fast_key, key)] = compiled
        # SciPy sparse inputs are read in place: the call runs inline (api.Compiled.call_flat)
        flat = compiled.call_flat(leaves, self._jit.trust_input, inline=self._sparse_in)
        n_out = len(self.outputs)
        if self._sparse:  # sparse outputs are 3 leaves each: rebuild them (SciPy matrices)
            outs, news = tree_unflatten(compiled.traced.out_tree, flat)
            flat = list(outs) + list(news)
        for c, buf in zip(self._updated, flat[n_out:]):
            self._cells[c][0] = buf  # the variable's own buffer, updated in place (or a new one)
        if self._jit.warm_ok and not self._sparse and not kwargs and not self._static and len(args) == len(self.inputs) and all(
                v is a or type(a) in (float, int, bool) for v, a in zip(values, args)):
            self._fast_add(args, key, compiled.executable)  # no conversion needed: warm calls skip Python
        outs = flat[:n_out]
        return outs[0] if self._single else outs

    def _own_updated_storage(self) -> None:
        """An update may write its variable's buffer in place: give every updated variable
        whose buffer someone else may hold (borrowed) a private copy first."""
        for c in self._updated:
            cell = self._cells[c]
            if not cell[1]:
                cell[:] = [np.array(np.asarray(cell[0]), order="C", copy=True), True]

    @property
    def dynamic_shapes(self) -> bool:
        """Whether one compile serves every shape of the inputs' types (else: per shape, and
        `dynamic_error` says what could not be compiled with dynamic dims)."""
        return bool(self._jit.dynamic_shapes) and self._jit.dynamic_error is None

    @property
    def dynamic_error(self) -> str | None:
        return self._jit.dynamic_error

    @property
    def compile_count(self) -> int:
        """How many specializations this function compiled (1 with dynamic shapes)."""
        return self._jit.cache_size

    def free(self) -> None:
        """Theano's `Function.free()`: drop the intermediate buffers that allow_gc=False keeps."""
        for compiled in self._jit._cache.values():
            compiled.executable.release_memory()

    def run(self, n_calls: int = 1) -> Any:
        """Call the function `n_calls` times inside the runtime without returning to Python
        (one queued task); only for functions without explicit inputs (a training step over
        data held in shared variables). Each step's updates feed the next step; returns the
        last step's outputs."""
        if self.inputs:
            raise TypeError(f"{self.name}.run: the function has {len(self.inputs)} explicit inputs; run() "
                            f"needs a function whose inputs are all shared variables")
        if isinstance(n_calls, bool) or not isinstance(n_calls, (int, np.integer)) or n_calls < 1:
            raise ValueError(f"{self.name}.run: n_calls must be an int >= 1, got {n_calls!r}")
        _lock_updates()  # as in _call_slow
        try:
            self._own_updated_storage()
            compiled, leaves = self._jit.compiled_for([], [c[0] for c in self._cells], ())
            n_out = len(self.outputs)
            pairs = [(c, n_out + u) for u, c in enumerate(self._updated)]  # in place where donated
            flat = compiled.executable.run(leaves, int(n_calls), pairs, self._jit.trust_input, 0, 0, config.sync)
            for c, buf in zip(self._updated, flat[n_out:]):
                self._cells[c][0] = buf
        finally:
            _unlock_updates()
        outs = flat[:n_out]
        return outs[0] if self._single else outs

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """The traced step for these arguments (`.as_text(stage)` shows any stage)."""
        values = self._arguments(args, kwargs)
        return self._jit.lower(values, [s._value for s in self.shared], self._static_values(values))

    @property
    def cache_size(self) -> int:
        return self._jit.cache_size


_MISSING = object()  # an input the call did not give


def _output(value: Any) -> Any:
    """An output of the traced step: a Tensor, or a SparseTensor (returned as SciPy)."""
    return value if isinstance(value, SparseTensor) else tnp.as_tensor(value)


def function(inputs: Sequence[Any], outputs: Any = None, mode: Any = None, updates: Any = None,
             givens: Any = None, no_default_updates: Any = False, accept_inplace: bool = False,
             name: str | None = None, rebuild_strict: bool = True, allow_input_downcast: bool | None = None,
             profile: Any = None, on_unused_input: str | None = None, trust_input: bool = False,
             allow_gc: bool | None = None, dynamic_shapes: bool = True, **unknown: Any) -> Function:
    """Theano's `function`: compile `outputs` (a variable, an Out, or a list) of `inputs`
    (variables or th.In), with `updates` (pairs (shared, new value), applied after each call)
    and `givens` (substitutions).

    A single output returns an array, a list returns a list. `mode` ('FAST_RUN',
    'FAST_COMPILE' or a theanir.compile.mode.Mode) sets the optimizer compile option
    (symbolic_io.py). Shared variables with a `default_update` are updated by it unless
    `no_default_updates` is True or lists them. `on_unused_input`: 'raise' (default:
    th.config.on_unused_input), 'warn' or 'ignore'. `name` names the function in messages.
    `profile`, `accept_inplace` and `rebuild_strict` are accepted and change nothing
    (theanir has no per-op profiler; graphs are never rewritten in place). Calls return
    th.Arrays (computed asynchronously unless th.config.sync); `trust_input=True` as for
    th.jit. `f.run(n_calls)` loops a function without explicit inputs in the runtime.
    `allow_gc=False` (Theano's flag; None: th.config.allow_gc) keeps the intermediate
    buffers of the compiled step in a pool between calls; `f.free()` drops them. Updates are
    written into the shared variables' own buffers (see the module doc). `f.maker.fgraph`
    is the graph (symbolic_io.FunctionGraph). `dynamic_shapes` (default True): one compile
    per input types, the inputs' non-broadcastable dims dynamic (docs/dynamic-shapes.md); False
    compiles per input shape (static code, as th.jit's default).
    """
    if unknown:
        raise TypeError(f"th.function: unknown keyword arguments {sorted(unknown)}; it takes inputs, "
                        f"outputs, mode, updates, givens, no_default_updates, accept_inplace, name, "
                        f"rebuild_strict, allow_input_downcast, profile, on_unused_input, trust_input, allow_gc, "
                        f"dynamic_shapes")
    if on_unused_input is None:
        on_unused_input = getattr(config, "on_unused_input", "raise")
    f = Function(inputs, outputs, updates, givens, allow_input_downcast, on_unused_input, name, trust_input,
                 allow_gc, mode, no_default_updates)
    f._jit.dynamic_shapes = bool(dynamic_shapes)
    return f


def eval_variable(var: Variable, inputs_to_values: dict) -> np.ndarray:
    """`var.eval({x: value})`: compile (cached on the variable) and run."""
    keys = list(inputs_to_values)
    cache = var.__dict__.setdefault("_eval_cache", {})
    key = tuple(id(k) for k in keys)
    if key not in cache:
        cache[key] = function(keys, var, on_unused_input="ignore")
    return cache[key](*inputs_to_values.values())


register_eval(eval_variable)  # Variable.eval (symbolic_graph cannot import this module back)
TensorType.coerce_value = coerce_value  # TensorType.filter (symbolic_types.py)
