"""`theanir.printing`: Theano's graph printers for symbolic variables and compiled functions.

    debugprint(f)                  # the indented tree, as Theano prints it
    pp(y)                          # one line: '(tanh((x @ W) + b) * TensorConstant{2.0})'
    pydotprint(f, "graph.png")     # a drawing (Graphviz's `dot`), else the .dot text

The graph printed is the user's symbolic graph (`Apply` nodes of frontend/symbolic_graph.py):
the nodes are theanir's frontend functions (`add`, `matmul`, `tanh`, `grad`, `scan` ...),
not Theano's Op classes, and optimization happens later on the `tn` IR, so a compiled
function prints its outputs and update expressions as written (`print_tn=True` adds the
optimized `tn` IR of each signature it has compiled). A `th.function` is printed from its
`outputs` and `updates` (or `f.maker.fgraph.outputs` where that exists).
"""
from __future__ import annotations

import io
import operator
import os
import shutil
import subprocess
import sys
import warnings
from typing import Any, TextIO

import numpy as np

from .symbolic_graph import (Apply, Constant, Variable, _describe_index, _getitem, as_variable,
                             toposort)
from .debug import escape, print_tensor
from .lift import lift
from .tensor import Tensor

__all__ = ["debugprint", "pp", "pprint", "pydotprint", "Print"]


# ------------------------------------------------------------------ names
def _type_text(v: Variable) -> str:
    t = v.type
    return repr(t) if t is not None else "TensorType(unknown)"


def _const_text(c: Constant) -> str:
    value = c.value
    if np.ndim(value) == 0:
        return f"TensorConstant{{{np.asarray(value).item()!r}}}"
    return f"TensorConstant{{{np.array2string(np.asarray(value), threshold=6, separator=',')}}}".replace("\n", "")


def _leaf_text(v: Variable) -> str:
    """How Theano names a leaf: its name, a constant's value, else its type in brackets."""
    if isinstance(v, Constant):
        return v.name or _const_text(v)
    return v.name or f"<{_type_text(v)}>"


def _param_text(a: Any) -> str:
    text = repr(a.name if isinstance(a, np.dtype) else a)
    return text if len(text) <= 30 else text[:27] + "..."


def _empty(a: Any) -> bool:
    """None or an empty list/tuple: nothing worth a parameter (T.grad's unused options)."""
    return a is None or (isinstance(a, (list, tuple)) and not a)


def op_text(node: Apply) -> str:
    """The op of a node with its non-variable parameters: `sum{axis=1}`, `getitem{1:3}`."""
    if node.fn is _getitem:
        return f"getitem{{{_describe_index(node.args[1:], 1)}}}"
    if node.fn in _INFIX or node.fn in _PREFIX:  # numbers are constant operands, shown as children
        return node.label
    params = [_param_text(a) for a in node.args if not _empty(a) and not _has_variable(a)]
    params += [f"{k}={_param_text(v)}" for k, v in node.kwargs.items()
               if not _empty(v) and v is not False and not _has_variable(v)]
    return node.label + (f"{{{', '.join(params)}}}" if params else "")


def _operands(node: Apply) -> list[Variable]:
    """The children of a node: its variables; an operator's numbers as constants (Theano's
    graph holds `TensorConstant{0.1}` where the program wrote 0.1)."""
    if (node.fn in _INFIX or node.fn in _PREFIX) and not node.kwargs:
        return [a if isinstance(a, Variable) else Constant(a) for a in node.args]
    return node.inputs()


def _has_variable(a: Any) -> bool:
    if isinstance(a, Variable):
        return True
    if isinstance(a, (list, tuple)):
        return any(_has_variable(x) for x in a)
    if isinstance(a, dict):
        return any(_has_variable(x) for x in a.values())
    return False


# ------------------------------------------------------------------ ids
def _char_id(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> BA: Theano's `char_from_number`."""
    out = ""
    while True:
        out = chr(ord("A") + n % 26) + out
        n //= 26
        if n == 0:
            return out


class _Ids:
    def __init__(self, style: str):
        if style not in ("CHAR", "id", "int", ""):
            raise ValueError(f"debugprint: ids must be 'CHAR', 'id', 'int' or '', got {style!r}")
        self.style = style
        self.seen: dict[Any, str] = {}

    def __call__(self, key: Any) -> str:
        if self.style == "":
            return ""
        if key not in self.seen:
            n = len(self.seen)
            self.seen[key] = {"CHAR": _char_id(n), "int": str(n), "id": str(id(key))}[self.style]
        return f"[id {self.seen[key]}]"


# ------------------------------------------------------------------ what to print
def _roots(obj: Any) -> tuple[list[Variable], bool, Any]:
    """(root variables, whether obj is a compiled function, the function or None)."""
    if isinstance(obj, Variable):
        return [obj], False, None
    if isinstance(obj, (list, tuple)):
        roots: list[Variable] = []
        for o in obj:
            roots += _roots(o)[0]
        return roots, False, None
    if hasattr(obj, "outputs") and hasattr(obj, "updates") and hasattr(obj, "inputs"):  # th.function
        news = [as_variable(n) for _, n in obj.updates]
        return [as_variable(o) for o in obj.outputs] + news, True, obj
    fgraph = getattr(getattr(obj, "maker", None), "fgraph", obj)
    if hasattr(fgraph, "outputs"):
        return [as_variable(o) for o in fgraph.outputs], True, None
    raise TypeError(f"debugprint: expected a symbolic variable, a list of them or a compiled function, "
                    f"got {type(obj).__name__}")


# ------------------------------------------------------------------ debugprint
def debugprint(obj: Any, depth: int = -1, print_type: bool = False, file: Any = None, ids: str = "CHAR",
               stop_on_name: bool = False, done: dict | None = None, print_storage: bool = False,
               used_ids: dict | None = None, print_tn: bool = False) -> Any:
    """Print the graph of `obj` (a Variable, a list of them, or a compiled `th.function`) as
    Theano's indented tree: one line per node, `op [id A] 'name'`, children below with ` |`.

    A node printed before shows its line again without its children. `print_type` adds the
    `<TensorType(float64, matrix)>` of each variable; `ids` picks the ids (`'CHAR'`: A, B, ...;
    `'int'`; `'id'`: Python ids; `''`: none); `depth` limits the levels (-1: all);
    `stop_on_name` does not expand named variables. For a function each node's line ends with
    its position in a topological order, as Theano's does. The inner graphs of scans follow;
    `print_tn=True` then prints the optimized tn IR of each signature compiled so far.
    `file`: None prints to stdout, `'str'` returns the text, a file object is written.
    `done`, `print_storage`, `used_ids` are accepted for Theano's signature."""
    out: TextIO = io.StringIO() if file == "str" or file is None else file
    roots, is_function, fn = _roots(obj)
    nodes = toposort(roots)
    order = {node: i for i, node in enumerate(nodes)} if is_function else {}
    printer = _TreePrinter(out, _Ids(ids), print_type, depth, stop_on_name, order)
    for r in roots:
        printer.tree(r)
    inner = [n for n in nodes if getattr(n.fn, "roots", None) is not None]
    if inner:
        out.write("\nInner graphs:\n\n")
        for node in inner:
            printer.inner(node)
    if print_tn and fn is not None:
        out.write(tn_text(fn))
    if file == "str":
        return out.getvalue()
    if file is None:
        sys.stdout.write(out.getvalue())
        return None
    out.flush()
    return file


class _TreePrinter:
    def __init__(self, out: TextIO, ids: _Ids, print_type: bool, depth: int, stop_on_name: bool,
                 order: dict[Apply, int]):
        self.out, self.ids, self.print_type = out, ids, print_type
        self.depth, self.stop_on_name, self.order = depth, stop_on_name, order
        self.expanded: set[Apply] = set()

    def line(self, v: Variable, prefix: str) -> bool:
        """Write v's line; True when its children should follow."""
        typ = f" <{_type_text(v)}>" if self.print_type else ""
        node = v.owner
        if node is None:
            ident = self.ids(v)
            self.out.write(f"{prefix}{_leaf_text(v)}{' ' + ident if ident else ''}{typ}\n")
            return False
        ident = self.ids(node)
        op = op_text(node) + ("" if v.index is None else f".{v.index}")
        pos = f"   {self.order[node]}" if node in self.order else ""
        self.out.write(f"{prefix}{op}{' ' + ident if ident else ''}{typ} '{v.name or ''}'{pos}\n")
        first = node not in self.expanded
        self.expanded.add(node)
        return first

    def tree(self, root: Variable, prefix: str = "") -> None:
        """Depth-first with an explicit stack (no recursion limit on deep graphs)."""
        stack: list[tuple[Variable, str, str, int]] = [(root, prefix, prefix, 1)]
        while stack:
            v, p, child_prefix, level = stack.pop()
            if self.depth >= 0 and level > self.depth:
                continue
            if not self.line(v, p) or (self.stop_on_name and v.name and level > 1):
                continue
            kids = _operands(v.owner)
            for i in reversed(range(len(kids))):
                last = i == len(kids) - 1
                stack.append((kids[i], child_prefix + " |", child_prefix + ("  " if last else " |"), level + 1))

    def inner(self, node: Apply) -> None:
        """A scan node, then its step graph's outputs after ` >` (Theano's "Inner graphs")."""
        self.line(node.outputs[0], "")
        saved, self.expanded = self.expanded, set()
        for r in node.fn.roots:
            self.tree(r, " >")
        self.expanded = saved


def tn_text(fn: Any) -> str:
    """The optimized tn IR (stage tn-opt) of every signature `fn` has compiled so far."""
    compiled = list(getattr(getattr(fn, "_jit", None), "_cache", {}).values())
    if not compiled:
        return "\n(no compiled signatures yet: call the function first to see its tn IR)\n"
    from .api import Lowered  # the frontend's own module; here to keep printing light to import

    jit = fn._jit
    parts = []
    for c in compiled:
        specs = ", ".join(str(a.spec) for a in c.traced.in_specs)  # float64[?, 3]: ? = dynamic
        options = jit._signature_options(jit._options(), c.traced, c.signature)
        parts.append(f"\ntn IR for ({specs}):\n{Lowered(c.traced, options, c.signature).as_text('tn-opt')}")
    return "".join(parts)


# ------------------------------------------------------------------ pp
_INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/",
          operator.floordiv: "//", operator.mod: "%", operator.pow: "**", operator.matmul: "@",
          operator.and_: "&", operator.or_: "|", operator.xor: "^", operator.lt: "<", operator.le: "<=",
          operator.gt: ">", operator.ge: ">="}
_PREFIX = {operator.neg: "-", operator.invert: "~"}


def pp(var: Any) -> str:
    """One line of infix text for a variable's graph, as Theano's `pp`: `((x + y) * 2)`;
    leaves by name (unnamed: `<TensorType(float64, matrix)>`), constants as
    `TensorConstant{2.0}`, other nodes as calls `tanh(x)`."""
    if isinstance(var, (list, tuple)):
        return "\n".join(pp(v) for v in var)
    if not isinstance(var, Variable):
        raise TypeError(f"pp: expected a symbolic variable, got {type(var).__name__}")
    text: dict[Variable, str] = {}
    stack = [var]
    while stack:  # post-order, iterative
        v = stack[-1]
        if v in text:
            stack.pop()
            continue
        pending = [d for d in (v.owner.inputs() if v.owner is not None else []) if d not in text]
        if pending:
            stack.extend(pending)
            continue
        text[v] = _pp_one(v, text)
        stack.pop()
    return text[var]


def _pp_arg(a: Any, text: dict[Variable, str]) -> str:
    if isinstance(a, Variable):
        return text[a]
    if isinstance(a, (list, tuple)) and _has_variable(a):
        inner = ", ".join(_pp_arg(x, text) for x in a)
        return f"[{inner}]" if isinstance(a, list) else f"({inner})"
    return _param_text(a)


def _pp_one(v: Variable, text: dict[Variable, str]) -> str:
    node = v.owner
    if node is None:
        return _leaf_text(v)
    args = node.args
    if node.fn in _INFIX and len(args) == 2 and not node.kwargs:
        a, b = (_pp_operand(x, text) for x in args)
        out = f"({a} {_INFIX[node.fn]} {b})"
    elif node.fn in _PREFIX and len(args) == 1:
        out = f"({_PREFIX[node.fn]}{_pp_operand(args[0], text)})"
    elif node.fn is _getitem:
        index = ", ".join(_pp_index(e, text) for e in args[1:])
        out = f"{_pp_arg(args[0], text)}[{index}]"
    else:
        parts = [_pp_arg(a, text) for a in args if a is not None]
        parts += [f"{k}={_pp_arg(x, text)}" for k, x in node.kwargs.items() if x is not None and x is not False]
        out = f"{node.label}({', '.join(parts)})"
    return out if v.index is None else f"{out}[{v.index}]"


def _pp_operand(a: Any, text: dict[Variable, str]) -> str:
    return text[a] if isinstance(a, Variable) else _const_text(Constant(a))


def _pp_index(e: Any, text: dict[Variable, str]) -> str:
    if isinstance(e, tuple) and e[:1] == ("slice",):
        parts = ["" if p is None else _pp_arg(p, text) for p in e[1:]]
        return ":".join(parts[:2] if e[3] is None else parts)
    return _pp_arg(e, text)


pprint = pp  # Theano's `theano.printing.pprint` is the printer `pp` calls


# ------------------------------------------------------------------ pydotprint
_COLORS = {"input": "limegreen", "output": "dodgerblue", "shared": "cyan", "constant": "SpringGreen",
           "apply": "white"}


def dot_text(obj: Any, with_ids: bool = False, max_label_size: int = 70) -> str:
    """The graph in Graphviz's DOT language: Apply nodes as ellipses, variables as boxes
    (inputs green, outputs blue, shared variables cyan, constants spring green); an edge from
    a variable to the node that reads it carries the input's position when there are several."""
    roots, _, fn = _roots(obj)
    outputs = set(roots)
    names: dict[Any, str] = {}

    def key(x: Any) -> str:
        return names.setdefault(x, f"n{len(names)}")

    def clip(s: str) -> str:
        s = s if len(s) <= max_label_size else s[:max_label_size - 3] + "..."
        return s.replace("\\", "\\\\").replace('"', '\\"')

    lines = ["digraph G {", "  graph [rankdir=TB];"]

    def var_box(v: Variable) -> str:
        if v not in names:
            kind = ("shared" if hasattr(v, "get_value") else "constant" if isinstance(v, Constant)
                    else "output" if v in outputs else "input")
            label = clip(_leaf_text(v) if v.owner is None else (v.name or _type_text(v)))
            label += f"\\n{_type_text(v)}" if v.owner is None and v.name else ""
            lines.append(f'  {key(v)} [label="{label}", shape=box, style=filled, fillcolor={_COLORS[kind]}];')
        return names[v]

    for i, node in enumerate(toposort(roots)):
        label = clip(op_text(node) + (f" id={i}" if with_ids else ""))
        lines.append(f'  {key(node)} [label="{label}", shape=ellipse];')
        ins = node.inputs()
        for j, v in enumerate(ins):
            src = key(v.owner) if v.owner is not None else var_box(v)
            edge = f' [label="{j}"]' if len(ins) > 1 else ""
            lines.append(f"  {src} -> {key(node)}{edge};")
    for r in roots:
        if r.owner is None:
            var_box(r)
            continue
        box = key(("out", r))
        lines.append(f'  {box} [label="{clip(r.name or _type_text(r))}", shape=box, style=filled, '
                     f'fillcolor={_COLORS["output"]}];')
        lines.append(f"  {key(r.owner)} -> {box};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def pydotprint(fct: Any, outfile: str | None = None, compact: bool = True, format: str = "png",
               with_ids: bool = False, high_contrast: bool = True, cond_highlight: Any = None,
               colorCodes: Any = None, max_label_size: int = 70, scan_graphs: bool = False,
               var_with_name_simple: bool = False, print_output_file: bool = True,
               return_image: bool = False) -> Any:
    """Draw the graph of a compiled function or variable(s) into `outfile` (default
    `graph.<format>`) with Graphviz's `dot`, found on PATH.

    Without `dot` (the Debian/Ubuntu package `graphviz`) the DOT text is written next to
    `outfile` with the suffix `.dot` and a warning says so, so the graph can be rendered
    elsewhere. `format='dot'` always writes the text. `return_image=True` returns the rendered
    bytes instead of writing a file. The other options are Theano's, accepted."""
    if not isinstance(format, str) or not format.isalnum():
        raise ValueError(f"pydotprint: format must be a Graphviz output format such as 'png', got {format!r}")
    text = dot_text(fct, with_ids, max_label_size)
    outfile = outfile or f"graph.{format}"
    if format == "dot":
        _write(outfile, text.encode())
        return text if return_image else None
    dot = shutil.which("dot")
    if dot is None:
        dot_file = os.path.splitext(outfile)[0] + ".dot"
        _write(dot_file, text.encode())
        warnings.warn(f"pydotprint: Graphviz's `dot` program was not found on PATH, so no {format} "
                      f"was drawn; the graph's DOT text is in {dot_file} (install Graphviz, e.g. "
                      f"`apt-get install graphviz`, or render it with `dot -T{format} {dot_file} -o "
                      f"{outfile}`)", UserWarning, stacklevel=2)
        return None
    try:
        proc = subprocess.run([dot, f"-T{format}"], input=text.encode(), capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"pydotprint: running {dot} failed: {e}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"pydotprint: {dot} -T{format} failed (exit {proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace').strip()[:500]}")
    if return_image:
        return proc.stdout
    _write(outfile, proc.stdout)
    if print_output_file:
        print(f"The output file is available at {outfile}")
    return None


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# ------------------------------------------------------------------ Print
_STATIC_ATTRS = ("dtype", "ndim")


def _print_node(x: Any, message: str, attrs: tuple) -> Any:
    for attr in attrs:
        prefix = escape(f"{message} {attr} = ")
        if attr == "__str__":
            x = print_tensor(x, prefix + "{}\n", "value")
        elif attr == "shape":
            x = print_tensor(x, prefix + "{}\n", "shape")
        else:  # known when tracing: the message carries it
            t = x if isinstance(x, Tensor) else np.asarray(x)
            value = t.dtype.name if attr == "dtype" else t.ndim
            x = print_tensor(x, prefix + escape(str(value)) + "\n", "shape")
    return x


_print_node.label = "Print"  # type: ignore[attr-defined]
_lifted_print = lift("Print", _print_node)


class Print:
    """Theano's `Print(message, attrs=('__str__',))(x)`: `x` unchanged (values and gradients),
    and each time the compiled code runs, one line per attribute: `message __str__ = <value>`
    (NumPy-like text), `message shape = (2, 3)`, `dtype` or `ndim`. A `tn.print` op each
    (frontend/debug.py): works in `th.function`, `th.jit` and scan bodies (a line per step).
    As in Theano, the print happens only if the result is used on the way to an output.
    `global_fn` (a Python callback) is refused: compiled code does not call into Python."""

    def __init__(self, message: str = "", attrs: tuple = ("__str__",), global_fn: Any = None):
        if global_fn is not None:
            raise NotImplementedError(
                f"theanir.printing.Print({message!r}, global_fn=...): compiled code cannot call a "
                f"Python function; the attributes {_PRINT_ATTRS} are printed by the runtime")
        attrs = tuple(attrs)
        bad = [a for a in attrs if a not in _PRINT_ATTRS]
        if bad:
            raise ValueError(f"theanir.printing.Print: attrs must be among {_PRINT_ATTRS}, got {bad}")
        self.message, self.attrs, self.global_fn = str(message), attrs, global_fn

    def __call__(self, x: Any) -> Any:
        return _lifted_print(x, self.message, self.attrs)


_PRINT_ATTRS = ("__str__", "shape") + _STATIC_ATTRS
