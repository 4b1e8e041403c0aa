"""Theano-style symbolic variables: a small lazy expression graph, evaluated at trace time.

A Theano variable has a dtype, a number of dimensions and a broadcast pattern but no shape,
while our tracer needs static shapes. So operators on a `Variable` only record an `Apply`
node (a theanir frontend function and its arguments); `th.function` evaluates the graph
inside one `th.jit` trace per call signature, with `Tensor`s bound to the inputs and shared
variables, so every node becomes tn ops and derivative nodes (`T.grad`, `T.Lop`, `T.Rop`)
call the autodiff core on the Tensors their arguments evaluated to.

The type of a derived variable comes from its node's type rule (derivative nodes; reshape,
flatten, alloc: symbolic_shape.py) or from abstract evaluation on stand-ins
(symbolic_infer.py), so the frontend functions stay the only type rules. `var.dtype` is a
str as in Theano (a DType, symbolic_types.py); where nothing tells, `ndim`/`dtype` are None
and the checks wait for the trace.

    x = T.dmatrix("x")
    y = T.tanh(x @ W + b)       # Variable: tanh(add(matmul(x, W), b))
    y.ndim, y.dtype             # 2, 'float64'
"""
from __future__ import annotations

import operator
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from mlir import ir

from theanir.dialects.tn.builder import location_override, user_frame
from theanir.dialects.tn.types import check_dtype

from . import numpy_api as tnp
from .config import config
from .pytree import tree_flatten, tree_unflatten
from .symbolic_fns import _identity, _norm, _shape, _size, _transpose, dimshuffle  # noqa: F401
from .symbolic_types import DType, TensorType, as_pattern
from .tensor import Tensor


class MissingInputError(TypeError):
    """The graph needs a variable that is neither an input, a shared variable nor given."""


# ------------------------------------------------------------------ types
# A node's type is (ndim, NumPy dtype) with an optional third entry, the broadcast pattern;
# `Variable.dtype` reports the dtype as a DType (a str), `Variable.type` as a TensorType.
TypeTuple = tuple  # (ndim | None, np.dtype | None) or (ndim, dtype, broadcastable)


def type_of_value(value: Any) -> tuple[int | None, np.dtype | None]:
    """(ndim, dtype) of what a node evaluated to: a Tensor, a Python number, a shape tuple."""
    if isinstance(value, Tensor):
        return value.ndim, value.dtype
    if isinstance(value, (bool, int, float)):
        return 0, tnp.result_type(value)
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return 1, np.dtype(np.int64)  # a shape (Theano's `x.shape` is an lvector)
    if isinstance(value, (np.ndarray, np.generic)):
        return np.ndim(value), np.dtype(value.dtype)
    return None, None


# ------------------------------------------------------------------ nodes
class Apply:
    """One recorded call `fn(*args, **kwargs)`; Variables may sit anywhere in the arguments.

    `nout` is None for a single result, else the number of results (a tuple). `type_rule`
    (optional) gives (ndim, dtype) of output i without evaluating: derivative nodes use it so
    that type inference never emits derivative code. `where` is the user's source line.
    """

    __slots__ = ("fn", "args", "kwargs", "nout", "type_rule", "where", "outputs")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, nout: int | None = None,
                 type_rule: Callable[[int], tuple[int | None, np.dtype | None]] | None = None):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.nout = nout
        self.type_rule = type_rule
        self.where = user_frame()
        if nout is None:
            self.outputs = [Variable(owner=self)]
        else:
            self.outputs = [Variable(owner=self, index=i) for i in range(nout)]

    @property
    def label(self) -> str:
        return getattr(self.fn, "label", None) or getattr(self.fn, "__name__", type(self.fn).__name__)

    @property
    def inputs(self) -> "NodeInputs":
        """The Variables among the arguments, in order (Theano's `node.inputs`)."""
        leaves, _ = tree_flatten((self.args, self.kwargs))
        return NodeInputs(x for x in leaves if isinstance(x, Variable))

    @property
    def op(self) -> "OpLabel":
        """What the node computes, printable as Theano prints an Op (`str(node.op)`)."""
        return OpLabel(self.label, self.fn)

    def __repr__(self) -> str:
        return f"{self.label}({', '.join(describe(v, 1) for v in self.inputs)})"


class NodeInputs(list):
    """`node.inputs`: a list, also callable (`node.inputs()`, the form this module used before
    Theano's attribute form) so code written either way keeps working."""

    def __call__(self) -> "NodeInputs":
        return self


class OpLabel:
    """`node.op`: the node's label (str() gives it) and the function it calls (`fn`)."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn: Callable):
        self.name = name
        self.fn = fn

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"OpLabel({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpLabel) and (self.name, self.fn) == (other.name, other.fn)

    def __hash__(self) -> int:
        return hash(self.name)


def apply(fn: Callable, *args: Any, **kwargs: Any) -> "Variable":
    """Record `fn(*args, **kwargs)` as a node; returns its (single) output variable."""
    return Apply(fn, args, kwargs).outputs[0]


class NpFn:
    """A numpy_api function looked up by name when called (so the families can grow)."""

    __slots__ = ("label",)

    def __init__(self, name: str):
        self.label = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(tnp, self.label, None)
        if fn is None:
            raise NotImplementedError(f"theanir has no function {self.label!r} yet")
        return fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"NpFn({self.label!r})"


def _np(name: str) -> Callable[..., "Variable"]:
    return lambda *a, **k: apply(NpFn(name), *a, **k)


# ------------------------------------------------------------------ Tensor-level helpers
def _getitem(x: Any, *entries: Any) -> Any:
    """x[idx] with the index rebuilt from `entries` (slices packed as ("slice", a, b, c))."""
    idx = tuple(slice(*e[1:]) if isinstance(e, tuple) and e[:1] == ("slice",) else e for e in entries)
    idx = idx[0] if len(idx) == 1 else idx
    if isinstance(x, tuple):  # a shape
        return x[idx]
    return tnp.getitem(x, idx)


def _pack_index(idx: Any) -> tuple:
    items = idx if isinstance(idx, tuple) else (idx,)
    return tuple(("slice", s.start, s.stop, s.step) if isinstance(s, slice) else s for s in items)


def _label(fn: Callable, name: str) -> Callable:
    fn.label = name  # type: ignore[attr-defined]
    return fn


for _fn, _name in [(_getitem, "getitem"), (_norm, "norm"), (_shape, "shape"), (_size, "size"),
                   (_transpose, "transpose")]:  # (those four: symbolic_fns.py)
    _label(_fn, _name)
# x.shape and x.size depend only on x's static shape, known while tracing: a node that needs
# their value at trace time (scan's n_steps) does not need x's value (frontend/symbolic.py).
_shape.shape_only = _size.shape_only = True  # type: ignore[attr-defined]


_COMPARISONS = (operator.lt, operator.le, operator.gt, operator.ge)


class _Hooks:
    """What modules importing this one provide (this one cannot import them back): the
    reshape/flatten nodes (symbolic_shape.py), type inference (symbolic_infer.py) and
    `var.eval` (symbolic.py). Each registers itself when imported; `import theanir` imports
    them all."""

    reshape: Callable[..., "Variable"] | None = None
    flatten: Callable[..., "Variable"] | None = None
    infer_type: Callable[["Variable"], tuple] | None = None
    infer_broadcastable: Callable[["Variable"], tuple] | None = None


hooks = _Hooks()


# ------------------------------------------------------------------ variables
class Variable:
    """A symbolic tensor of known dtype and ndim (Theano's TensorVariable).

    Leaves are inputs (`T.matrix('x')`), shared variables and constants; others are outputs
    of an `Apply`. Operators and methods mirror `Tensor`'s and record nodes. `==` is
    identity, as in Theano (use `T.eq`), so variables can key dicts (`givens`, `updates`).
    """

    __array_ufunc__ = None  # ndarray <op> Variable defers to the Variable's reflected operator

    def __init__(self, ndim: int | None = None, dtype: Any = None, name: str | None = None,
                 owner: Apply | None = None, index: int | None = None,
                 broadcastable: Sequence[bool] | None = None):
        self.owner = owner
        self.index = index
        self.name = name
        self._type: tuple[int | None, np.dtype | None] | None = None
        self._bcast: tuple[bool, ...] | None = None
        if owner is None:
            self._type = (int(ndim), check_dtype(dtype))
            self._bcast = (False,) * int(ndim) if broadcastable is None else as_pattern(broadcastable)
            if len(self._bcast) != int(ndim):
                raise ValueError(f"broadcastable {self._bcast} does not match ndim {ndim}")

    # ------------------------------------------------------------- types
    def _infer(self) -> tuple[int | None, np.dtype | None]:
        if self._type is None:
            self._type = infer_type(self)
        return self._type

    @property
    def ndim(self) -> int | None:
        return self._infer()[0]

    @property
    def dtype(self) -> DType | None:
        """The dtype as Theano names it: a str ('float32'; a DType, see symbolic_types)."""
        dt = self._infer()[1]
        return None if dt is None else DType(dt)

    @property
    def type(self) -> TensorType | None:
        ndim, dtype = self._infer()
        bcast = self.broadcastable
        return None if ndim is None or dtype is None or bcast is None else TensorType(dtype, bcast)

    @property
    def broadcastable(self) -> tuple[bool, ...] | None:
        """Which dimensions are known to have length 1 (Theano's pattern)."""
        if self._bcast is None and self.ndim is not None:
            self._bcast = infer_broadcastable(self)
        return self._bcast

    @property
    def tag(self) -> SimpleNamespace:
        """Theano's scratchpad (`x.tag.test_value = ...`): kept and unused, as test values are
        (config.compute_test_value has no effect: shapes are checked when traced)."""
        tag = self.__dict__.get("_tag")
        if tag is None:
            tag = self.__dict__["_tag"] = SimpleNamespace()
        return tag

    def __repr__(self) -> str:
        return describe(self)

    __str__ = __repr__

    # ------------------------------------------------------------- truth values
    def __bool__(self) -> bool:
        """True (Theano's `if shared_var:` tests that a variable exists), except for comparisons:
        `if x > 0:` cannot be decided while building the graph."""
        if self.owner is not None and self.owner.fn in _COMPARISONS:
            raise TypeError(f"the truth value of the comparison {describe(self)} is not known until "
                            f"it is computed (and `a < b < c` is not supported): use "
                            f"T.switch(cond, a, b), or th.ifelse for a branch in the graph")
        return True

    def __iter__(self):
        raise TypeError(f"symbolic variable {describe(self)} is not iterable (its length is "
                        f"not known until it is computed); index it instead")

    # ------------------------------------------------------------- operators
    def __add__(self, o): return apply(operator.add, self, o)
    def __radd__(self, o): return apply(operator.add, o, self)
    def __sub__(self, o): return apply(operator.sub, self, o)
    def __rsub__(self, o): return apply(operator.sub, o, self)
    def __mul__(self, o): return apply(operator.mul, self, o)
    def __rmul__(self, o): return apply(operator.mul, o, self)
    def __truediv__(self, o): return apply(operator.truediv, self, o)
    def __rtruediv__(self, o): return apply(operator.truediv, o, self)
    def __floordiv__(self, o): return apply(operator.floordiv, self, o)
    def __rfloordiv__(self, o): return apply(operator.floordiv, o, self)
    def __mod__(self, o): return apply(operator.mod, self, o)
    def __rmod__(self, o): return apply(operator.mod, o, self)
    def __pow__(self, o): return apply(operator.pow, self, o)
    def __rpow__(self, o): return apply(operator.pow, o, self)
    def __matmul__(self, o): return apply(operator.matmul, self, o)
    def __rmatmul__(self, o): return apply(operator.matmul, o, self)
    def __neg__(self): return apply(operator.neg, self)
    def __pos__(self): return self
    def __abs__(self): return apply(operator.abs, self)
    def __invert__(self): return apply(operator.invert, self)
    def __and__(self, o): return apply(operator.and_, self, o)
    def __rand__(self, o): return apply(operator.and_, o, self)
    def __or__(self, o): return apply(operator.or_, self, o)
    def __ror__(self, o): return apply(operator.or_, o, self)
    def __xor__(self, o): return apply(operator.xor, self, o)
    def __rxor__(self, o): return apply(operator.xor, o, self)
    def __lt__(self, o): return apply(operator.lt, self, o)
    def __le__(self, o): return apply(operator.le, self, o)
    def __gt__(self, o): return apply(operator.gt, self, o)
    def __ge__(self, o): return apply(operator.ge, self, o)
    def __getitem__(self, idx): return apply(_getitem, self, *_pack_index(idx))

    # ------------------------------------------------------------- methods
    @property
    def T(self) -> "Variable": return apply(NpFn("transpose"), self)
    @property
    def shape(self) -> "Variable": return apply(_shape, self)
    @property
    def size(self) -> "Variable": return apply(_size, self)
    @property
    def real(self) -> "Variable": return apply(NpFn("real"), self)
    @property
    def imag(self) -> "Variable": return apply(NpFn("imag"), self)
    def conj(self) -> "Variable": return apply(NpFn("conj"), self)
    def astype(self, dtype): return apply(NpFn("astype"), self, np.dtype(dtype))
    def sum(self, axis=None, dtype=None, keepdims=False): return _np("sum")(self, axis, dtype=dtype, keepdims=keepdims)
    def mean(self, axis=None, dtype=None, keepdims=False): return _np("mean")(self, axis, dtype=dtype, keepdims=keepdims)
    def var(self, axis=None, ddof=0, keepdims=False): return _np("var")(self, axis, ddof=ddof, keepdims=keepdims)
    def std(self, axis=None, ddof=0, keepdims=False): return _np("std")(self, axis, ddof=ddof, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _np("max")(self, axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _np("min")(self, axis, keepdims=keepdims)
    def prod(self, axis=None, dtype=None, keepdims=False): return _np("prod")(self, axis, dtype=dtype, keepdims=keepdims)
    def any(self, axis=None, keepdims=False): return _np("any")(self, axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return _np("all")(self, axis, keepdims=keepdims)
    def argmax(self, axis=None, keepdims=False): return _np("argmax")(self, axis, keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return _np("argmin")(self, axis, keepdims=keepdims)
    def reshape(self, *shape, ndim=None): return hooks.reshape(self, shape, ndim)
    def transpose(self, *axes): return apply(_transpose, self, *axes)
    def dimshuffle(self, *pattern): return apply(dimshuffle, self, *pattern)
    def flatten(self, ndim=1, outdim=None): return hooks.flatten(self, outdim or ndim)
    def ravel(self): return hooks.flatten(self, 1)
    def squeeze(self, axis=None): return _np("squeeze")(self, axis)
    def swapaxes(self, a, b): return _np("swapaxes")(self, a, b)
    def take(self, indices, axis=None): return _np("take")(self, indices, axis)
    def dot(self, o): return _np("dot")(self, o)
    def clip(self, a_min=None, a_max=None): return _np("clip")(self, a_min, a_max)
    def round(self): return _np("round")(self)
    def norm(self, L=2, axis=None): return apply(_norm, self, L, axis)
    def zeros_like(self, dtype=None): return _np("zeros_like")(self, dtype)
    def ones_like(self, dtype=None): return _np("ones_like")(self, dtype)
    def copy(self): return apply(_label(_identity, "copy"), self)

    def eval(self, inputs_to_values: dict | None = None) -> np.ndarray:
        """Compile and run this variable (Theano's `var.eval({x: value})`)."""
        if _eval_variable is None:
            raise RuntimeError("Variable.eval needs theanir.frontend.symbolic (import theanir first)")
        return _eval_variable(self, inputs_to_values or {})


# `var.eval()` compiles with th.function (symbolic.py), which imports this module: symbolic
# registers its evaluator here instead of being imported back (no import cycle).
_eval_variable: Callable[[Variable, dict], np.ndarray] | None = None


def register_eval(fn: Callable[[Variable, dict], np.ndarray]) -> None:
    """Make `fn(var, inputs_to_values)` what `Variable.eval` calls (symbolic.eval_variable)."""
    global _eval_variable
    _eval_variable = fn


class Constant(Variable):
    """A value fixed in the graph (Theano's TensorConstant).

    A Python number stays one (a weak constant: `x32 * T.constant(0.5)` stays float32); its
    reported dtype is config.floatX for floats, int64 for ints.
    """

    def __init__(self, value: Any, name: str | None = None, dtype: Any = None):
        if dtype is not None:
            value = np.asarray(value, dtype=dtype)
        if isinstance(value, (bool, int, float)):
            dt = np.dtype(config.floatX) if isinstance(value, float) else tnp.result_type(value)
            super().__init__(0, dt, name)
        else:
            value = np.asarray(value)
            super().__init__(value.ndim, tnp.result_type(value), name,
                             broadcastable=tuple(n == 1 for n in value.shape))
        self.value = value


def as_variable(x: Any, name: str | None = None) -> Variable:
    """`x` if it is a Variable, else a Constant holding it."""
    return x if isinstance(x, Variable) else Constant(x, name)


TensorVariable = Variable
TensorConstant = Constant


def is_symbolic(*xs: Any) -> bool:
    """Whether a leaf of `xs` is a Variable: th.scan, th.ifelse and th.switch then record graph
    nodes instead of tracing (control_flow.py asks, control_symbolic.py builds them)."""
    leaves, _ = tree_flatten(list(xs))
    return any(isinstance(x, Variable) for x in leaves)


# ------------------------------------------------------------------ describing variables
_KINDS = {0: "scalar", 1: "vector", 2: "matrix"}


def describe(v: Variable, depth: int = 2) -> str:
    """A short readable name for messages: the name, or the expression it came from."""
    if v.name:
        return repr(v.name)
    if isinstance(v, Constant):
        return f"constant({v.value!r})" if np.size(v.value) <= 4 else f"constant{np.shape(v.value)}"
    if v.owner is None:
        shared = "shared " if hasattr(v, "get_value") else ""
        return f"<{shared}{v.dtype} {_KINDS.get(v.ndim, f'{v.ndim}-d tensor')}>"
    if depth == 0:
        return "..."
    if v.owner.fn is _getitem:
        return f"{describe(v.owner.args[0], depth - 1)}[{_describe_index(v.owner.args[1:], depth - 1)}]"
    args = ", ".join(_describe_arg(a, depth - 1) for a in v.owner.args)
    out = f"{v.owner.label}({args})"
    return out if v.index is None else f"{out}[{v.index}]"


def _describe_index(entries: tuple, depth: int) -> str:
    def one(e: Any) -> str:
        if isinstance(e, tuple) and e[:1] == ("slice",):
            parts = ["" if p is None else _describe_arg(p, depth) for p in e[1:]]
            return ":".join(parts[:2] if e[3] is None else parts)
        return _describe_arg(e, depth)

    return ", ".join(one(e) for e in entries)


def _describe_arg(a: Any, depth: int) -> str:
    if isinstance(a, Variable):
        return describe(a, depth)
    text = repr(a)
    return text if len(text) <= 20 else text[:17] + "..."


# ------------------------------------------------------------------ graph walks
def ancestors(roots: Iterable[Variable]) -> set[Variable]:
    """Every variable the roots depend on (the roots included)."""
    seen: set[Variable] = set()
    stack = list(roots)
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v.owner is not None:
            stack.extend(v.owner.inputs)
    return seen


def toposort(roots: Iterable[Variable]) -> list[Apply]:
    """The Apply nodes the roots need, each after the nodes of its inputs (iterative)."""
    order: list[Apply] = []
    done: set[Apply] = set()
    stack: list[tuple[Apply, bool]] = [(r.owner, False) for r in reversed(list(roots)) if r.owner is not None]
    while stack:
        node, expanded = stack.pop()
        if node in done:
            continue
        if expanded:
            done.add(node)
            order.append(node)
            continue
        stack.append((node, True))
        stack += [(v.owner, False) for v in reversed(node.inputs()) if v.owner is not None and v.owner not in done]
    return order


def graph_leaves(roots: Iterable[Variable], replaced: Sequence[Variable] = ()) -> list[Variable]:
    """Leaf variables (inputs, shared, constants) reached from `roots`, in discovery order;
    the walk stops at `replaced` variables (they are substituted by `givens`)."""
    seen: set[Variable] = set(replaced)
    out: list[Variable] = []
    stack = list(reversed(list(roots)))
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v.owner is None:
            out.append(v)
            continue
        stack.extend(reversed(v.owner.inputs))
    return out


# ------------------------------------------------------------------ evaluation
class Evaluator:
    """Evaluates variables to Tensors (or Python values) at the current insertion point.

    `bindings` maps leaves to their values; `givens` maps variables to replacements (the
    replacement graphs are evaluated without the givens, as Theano does). Each node is
    evaluated once (memoized), so a shared subexpression emits its ops once. `leaf` supplies
    values for unbound leaves (abstract evaluation); `probe` evaluates derivative nodes by
    their type rule instead of differentiating.
    """

    def __init__(self, bindings: dict[Variable, Any], givens: dict[Variable, Any] | None = None,
                 leaf: Callable[[Variable], Any] | None = None, probe: bool = False,
                 patterns: bool = False, fallback: Callable[[Apply], Any] | None = None):
        self.bindings = bindings
        self.givens = givens or {}
        self.leaf = leaf
        self.probe = probe
        self.patterns = patterns  # probe stand-ins follow broadcast patterns (see standin)
        self.fallback = fallback  # probe: stand-ins for a node its function refused, or None
        self.memo: dict[Variable, Any] = {}
        self.applied: dict[Apply, Any] = {}
        self._plain: Evaluator | None = None

    def value(self, root: Variable) -> Any:
        """The value of `root`, evaluating (iteratively, no recursion limit) what it needs."""
        stack = [root]
        while stack:
            v = stack[-1]
            if v in self.memo:
                stack.pop()
                continue
            pending = [d for d in self._deps(v) if d not in self.memo]
            if pending:
                stack.extend(pending)
                continue
            self.memo[v] = self._compute(v)
            stack.pop()
        return self.memo[root]

    def _deps(self, v: Variable) -> list[Variable]:
        if v.owner is None or v in self.givens or v.owner in self.applied:
            return []
        return v.owner.inputs

    def _compute(self, v: Variable) -> Any:
        if v in self.givens:
            return self._given(v)
        if v.owner is None:
            return self._leaf(v)
        node = v.owner
        if node not in self.applied:
            self.applied[node] = self._apply(node)
        out = self.applied[node]
        return out if v.index is None else out[v.index]

    def _leaf(self, v: Variable) -> Any:
        if v in self.bindings:
            return self.bindings[v]
        if isinstance(v, Constant):
            return v.value
        if self.leaf is not None:
            return self.leaf(v)
        raise MissingInputError(f"the graph needs {describe(v)}, which is not an input of the "
                                f"function, a shared variable or given a value in `givens`")

    def _given(self, v: Variable) -> Any:
        repl = self.givens[v]
        if not isinstance(repl, Variable):
            return tnp.as_tensor(repl, v.dtype)
        if self._plain is None:
            self._plain = Evaluator(self.bindings, None, self.leaf, self.probe, self.patterns, self.fallback)
        return self._plain.value(repl)

    def _apply(self, node: Apply) -> Any:
        leaves, tree = tree_flatten((node.args, node.kwargs))
        vals = [self.memo[x] if isinstance(x, Variable) else x for x in leaves]
        args, kwargs = tree_unflatten(tree, vals)
        if self.probe and node.type_rule is not None:
            outs = [self._standin(node.type_rule(i)) for i in range(node.nout or 1)]
            return outs[0] if node.nout is None else tuple(outs)
        if self.probe and self.fallback is not None:
            if node.fn is _getitem:  # the index's form gives the type; evaluating a slice of a
                out = self.fallback(node)  # short stand-in may give an empty one that a later
                if out is not None:        # node (argmax, a reduction) then refuses
                    return out
            try:
                return node.fn(*args, **kwargs)
            except Exception:  # noqa: BLE001  (refused on stand-ins: the fallback may know)
                out = self.fallback(node)
                if out is None:
                    raise
                return out
        if node.where is None:
            return node.fn(*args, **kwargs)
        with location_override(ir.Location.file(node.where[0], node.where[1], 0)):
            return node.fn(*args, **kwargs)


    def _standin(self, typ: TypeTuple) -> Tensor:
        if not self.patterns:
            return standin(typ[0], typ[1])
        return standin(typ[0], typ[1], typ[2] if len(typ) > 2 else (False,) * (typ[0] or 0))


# ------------------------------------------------------------------ abstract evaluation
def standin(ndim: int | None, dtype: np.dtype | None, pattern: tuple[bool, ...] | None = None) -> Tensor:
    """A Tensor of the given type: every dimension 1, or with a broadcast `pattern`, 1 where
    it is broadcastable and 2 elsewhere (so a result's length-1 dims are the ones it must
    have: its broadcastable dims)."""
    if ndim is None or dtype is None:
        raise TypeError("unknown type")
    shape = (1,) * ndim if pattern is None else tuple(1 if b else 2 for b in pattern)
    return tnp.broadcast_to(tnp.constant(np.zeros((), np.dtype(dtype))), shape)


def infer_type(v: Variable) -> tuple[int | None, np.dtype | None]:
    """(ndim, dtype) of a derived variable (symbolic_infer.py)."""
    return hooks.infer_type(v)


def infer_broadcastable(v: Variable) -> tuple[bool, ...]:
    """The broadcast pattern of a derived variable of known ndim (symbolic_infer.py)."""
    return hooks.infer_broadcastable(v)


TensorType.variable_class = Variable
