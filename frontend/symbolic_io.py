"""Theano's function I/O and compile modes: `In`, `Out`, `Mode`, and `f.maker.fgraph`.

    x, lr = T.dvector("x"), T.dscalar("lr")
    f = th.function([x, th.In(lr, value=0.1, name="rate")], x * lr)
    f([1.0, 2.0])                  # lr takes its default, 0.1
    f([1.0, 2.0], rate=0.5)        # or a value by keyword
    th.function([x], x * 2, mode="FAST_COMPILE")   # mode -> the optimizer compile option

A mode names how much the graph is optimized: its `optimizer` maps onto theanir's
`optimizer` compile option ("fast_run": every tn rewrite; "fast_compile": only what
lowering needs). Theano's linkers (`c`, `cvm`, `py`) and rewrite tags (`including`,
`excluding`) have no counterpart here: they are accepted and change nothing, since theanir
generates one native step whatever the linker.

`f.maker.fgraph` is the compiled graph as Theano shows it (`inputs`: the inputs, then the
shared variables; `outputs`: the outputs, then the updates' new values; `toposort()`: the
Apply nodes, each after the nodes it reads), for graph printers such as `debugprint`.
"""
from __future__ import annotations

from typing import Any, Sequence

from .config import config
from .config_flags import optimizer_name
from .pytree import tree_flatten, tree_unflatten
from .symbolic_graph import Apply, Constant, Variable, as_variable, toposort


# ------------------------------------------------------------------ In / Out
class In:
    """An input of `th.function` with options (Theano's `theano.In`).

    value: a default, used when the call omits this input. name: the keyword the call may
    use (default: the variable's name). strict: only the exact dtype is accepted.
    allow_downcast: this input's own allow_input_downcast. mutable, borrow: accepted; the
    compiled step never writes its inputs and results are fresh arrays, so both are safe
    either way.
    """

    def __init__(self, variable: Variable, name: str | None = None, value: Any = None,
                 update: Any = None, mutable: bool | None = None, strict: bool = False,
                 allow_downcast: bool | None = None, autoname: bool = True,
                 implicit: bool | None = None, borrow: bool = False, shared: bool = False):
        if not isinstance(variable, Variable):
            raise TypeError(f"theanir.In: expected a symbolic variable, got {variable!r}")
        if update is not None:
            raise TypeError("theanir.In: update= (an input that updates its own default) is not "
                            "supported; hold the value in th.shared and pass updates= to th.function")
        if isinstance(value, Variable):
            raise TypeError(f"theanir.In: value= must be a value (a NumPy array or a number), got "
                            f"the symbolic {value!r}; use givens= to substitute a variable")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"theanir.In: name must be a str, got {name!r}")
        self.variable = variable
        self.name = name if name is not None else (variable.name if autoname else None)
        self.value = value
        self.has_default = value is not None
        self.mutable = bool(mutable)
        self.strict = bool(strict)
        self.allow_downcast = allow_downcast
        self.borrow = bool(borrow)
        self.implicit = bool(implicit)

    def __repr__(self) -> str:
        default = f", value={self.value!r}" if self.has_default else ""
        return f"In({self.variable!r}{default})"


class Out:
    """An output of `th.function` with options (Theano's `theano.Out`). borrow: accepted;
    results are fresh arrays (th.Arrays), never a buffer the function reuses."""

    def __init__(self, variable: Any, borrow: bool = False):
        self.variable = as_variable(variable)
        self.borrow = bool(borrow)

    def __repr__(self) -> str:
        return f"Out({self.variable!r}, borrow={self.borrow})"


def split_inputs(inputs: Any) -> tuple[list[Any], list[In]]:
    """The input variables of `th.function` and an In for each (plain variables get a default In)."""
    if isinstance(inputs, (Variable, In)):
        raise TypeError("th.function: inputs must be a list of variables, e.g. [x]")
    ins = [x if isinstance(x, In) else In(x) if isinstance(x, Variable) else x for x in inputs]
    return [i.variable if isinstance(i, In) else i for i in ins], [i for i in ins]


def split_outputs(outputs: Any) -> Any:
    """Outputs with every Out unwrapped (a single output, a list, or None)."""
    if isinstance(outputs, Out):
        return outputs.variable
    if isinstance(outputs, (list, tuple)):
        return [o.variable if isinstance(o, Out) else o for o in outputs]
    return outputs


# ------------------------------------------------------------------ modes
class Mode:
    """Theano's compile mode: a linker (accepted, no effect) and an optimizer.

    `optimizer` None means th.config.optimizer at compile time.
    """

    def __init__(self, linker: Any = None, optimizer: Any = "default"):
        self.linker = linker
        self.optimizer = None if optimizer == "default" else optimizer_name(optimizer)

    def including(self, *tags: str) -> "Mode":
        """Theano adds rewrite tags; theanir's rewrites are not tagged: the same mode."""
        return Mode(self.linker, self.optimizer or "default")

    excluding = requiring = including

    def clone(self, **kwargs: Any) -> "Mode":
        return Mode(kwargs.get("linker", self.linker), kwargs.get("optimizer", self.optimizer or "default"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mode) and self.optimizer == other.optimizer

    def __hash__(self) -> int:
        return hash(self.optimizer)

    def __repr__(self) -> str:
        return f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r})"


FAST_RUN = Mode("cvm", "fast_run")
FAST_COMPILE = Mode("py", "fast_compile")
# Theano's debugging modes check each op against a Python reference; theanir's one native
# step has no per-op checks, so they compile as FAST_COMPILE does (the fewest rewrites).
predefined_modes = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE, "DebugMode": FAST_COMPILE,
                    "DEBUG_MODE": FAST_COMPILE, "NanGuardMode": FAST_COMPILE, "ProfileMode": FAST_RUN,
                    "PROFILE_MODE": FAST_RUN}


def get_mode(mode: Any) -> Mode:
    """A Mode from a name ('FAST_RUN', 'FAST_COMPILE', ...), a Mode, or None (the default)."""
    if mode is None:
        return get_default_mode()
    if isinstance(mode, Mode):
        return mode
    if isinstance(mode, str):
        if mode in predefined_modes:
            return predefined_modes[mode]
        if mode.upper() in predefined_modes:
            return predefined_modes[mode.upper()]
        raise ValueError(f"unknown mode {mode!r}; use one of {sorted(predefined_modes)} or a theanir.Mode")
    raise TypeError(f"mode must be a name such as 'FAST_RUN' or a theanir.compile.mode.Mode, got {mode!r}")


def get_default_mode() -> Mode:
    """The mode of th.config.mode (None: th.config.optimizer decides)."""
    name = config.mode  # (read at each call: a th.config change applies at once)
    return Mode() if name in (None, "Mode") else get_mode(name)


# ------------------------------------------------------------------ the compiled graph
def clone_replace(outputs: Sequence[Variable], replace: dict[Variable, Any]) -> list[Variable]:
    """Copies of the graphs of `outputs` with the variables of `replace` substituted
    (Theano's `theano.clone(outputs, replace=...)`); leaves are kept, not copied."""
    new: dict[Variable, Variable] = {k: as_variable(v) for k, v in replace.items()}
    done: dict[Apply, Apply] = {}

    def copy(v: Variable) -> Variable:
        stack = [v]
        while stack:
            u = stack[-1]
            if u in new or u.owner is None:
                new.setdefault(u, u)
                stack.pop()
                continue
            pending = [d for d in u.owner.inputs if d not in new]
            if pending:
                stack.extend(pending)
                continue
            node = u.owner
            if node not in done:
                leaves, tree = tree_flatten((node.args, node.kwargs))
                args, kwargs = tree_unflatten(tree, [new[x] if isinstance(x, Variable) else x for x in leaves])
                clone = Apply(node.fn, args, kwargs, node.nout, node.type_rule)
                clone.where = node.where
                done[node] = clone
            new[u] = done[node].outputs[u.index or 0]
            stack.pop()
        return new[v]

    return [copy(as_variable(o)) for o in outputs]


class FunctionGraph:
    """The graph of a compiled function (Theano's FunctionGraph), for printing and inspection."""

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self._order = toposort(self.outputs)

    def toposort(self) -> list[Apply]:
        """The Apply nodes, each after the nodes whose outputs it reads."""
        return list(self._order)

    @property
    def apply_nodes(self) -> set[Apply]:
        return set(self._order)

    @property
    def variables(self) -> set[Variable]:
        out: set[Variable] = set(self.inputs) | set(self.outputs)
        for node in self._order:
            out.update(node.inputs)
            out.update(node.outputs)
        return out

    def __repr__(self) -> str:
        return f"FunctionGraph({', '.join(map(repr, self.outputs))})"


class FunctionMaker:
    """`f.maker` (Theano's FunctionMaker): the inputs (as In), the mode, and `fgraph`, built
    on first use (with `givens` substituted into a copy of the graph, as Theano does)."""

    def __init__(self, ins: list[In], outputs: list[Variable], updates: list[tuple[Variable, Any]],
                 givens: dict[Variable, Any], shared: list[Variable], mode: Mode):
        self.inputs = ins
        self.mode = mode
        self._parts = (outputs, updates, givens, shared)
        self._fgraph: FunctionGraph | None = None

    @property
    def outputs(self) -> list[Out]:
        return [Out(o) for o in self._parts[0]]

    @property
    def fgraph(self) -> FunctionGraph:
        if self._fgraph is None:
            outputs, updates, givens, shared = self._parts
            roots = list(outputs) + [as_variable(new) for _, new in updates]
            if givens:
                roots = clone_replace(roots, givens)
            ins = [i.variable for i in self.inputs] + [s for s in shared if not isinstance(s, Constant)]
            self._fgraph = FunctionGraph(ins, roots)
        return self._fgraph
