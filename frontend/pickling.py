"""Pickles and deep copies of compiled functions, symbolic graphs and shared variables.

    pickle.dump((train, predict), f)        # both functions, their graphs, their shared variables
    train, predict = pickle.load(f)         # in a new process: ready, nothing re-optimized

Theano's semantics: an unpickled (or deep-copied) `th.function` has its own copies of its
shared variables, holding their values at pickling time (pending asynchronous updates are
waited for); functions pickled together in one `pickle.dumps((f, g))` keep sharing theirs,
as one pickle keeps any shared object once; `copy.copy(f)` shares them with `f`.

What a pickled function holds: its symbolic graph (inputs, outputs, updates, givens), the
layouts of the signatures it had compiled and their disk-cache entries (the artifact the jit
and the cache share: manifest + library, and the trace alias naming it; codegen/cache.py
`export_entry`). Unpickling rebuilds the function, writes those entries into this process's
cache (`import_entry`: checksums first) and loads each signature through it: the traced
module finds its *trace alias*, which names the optimized artifact, so nothing is optimized
or lowered again (Theano's `reoptimize_unpickled_function=False`), also on another machine
with the same CPU, LLVM and theanir. Where an entry is for another CPU or version, missing or
damaged (or th.config.cache is off) it compiles, and a signature that fails to load warns and
compiles on its first call. Calls with new shapes trace the graph as usual. A deep copy in
the same process reuses the compiled code itself.

The graph is written as a flat table, not as nested objects, so a deep graph does not reach
Python's recursion limit: each Apply node is one record whose Variables are references into
the table (`persistent_id`); leaf variables (inputs, shared variables, constants) are left
to the outer pickle, which keeps their identity across everything pickled together. Node
functions that pickle by reference (module-level functions, classes) do; closures and
lambdas (type rules, step functions) are written by value (code + closure cells), which
ties a pickle to the Python version. Every pickle carries a header (format, theanir and
Python versions, the graph's sha256): another version, or damaged bytes, raise
`PickleVersionError` (an `UnpicklingError`) naming both versions, never a crash.

A `th.jit` function pickles by reference to its Python function (which must be importable,
as with any pickled function): unpickled, it compiles on the first call, from the disk cache.
"""
from __future__ import annotations

import builtins
import copyreg
import hashlib
import importlib
import io
import marshal
import os
import pickle
import sys
import types
import warnings
from typing import Any

import numpy as np

from theanir.codegen.cache import export_entry, import_entry
from theanir.codegen.version import __version__

from .api import JitFunction
from .config import config
from .symbolic import Function, SharedVariable, function
from .symbolic_graph import Apply, Constant, Variable

__all__ = ["PickleVersionError", "dump_graph", "load_graph"]

FORMAT = 1
_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
_NODE_SLOTS = tuple(n for n in Apply.__slots__ if n != "outputs")
_OUT_SKIP = ("owner", "index", "_eval_cache")  # rebuilt, or a compiled cache that stays behind


class PickleVersionError(pickle.UnpicklingError):
    """A pickle made by another theanir, pickle format or Python version, or damaged bytes."""


# ------------------------------------------------------------------ functions by value
class _EmptyCell:
    """Marks a closure cell without a value (a variable assigned after the closure was made)."""


def _importable(fn: Any, allow_main: bool = False) -> bool:
    """Whether pickle can find `fn` again by its module and qualified name."""
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not mod or "<" in qual or (mod == "__main__" and not allow_main) or mod not in sys.modules:
        return False
    obj: Any = sys.modules[mod]
    for part in qual.split("."):
        obj = getattr(obj, part, None)
    return obj is fn


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _reduce_function_by_value(fn: types.FunctionType) -> tuple:
    cells = []
    for cell in fn.__closure__ or ():
        try:
            cells.append(cell.cell_contents)
        except ValueError:
            cells.append(_EmptyCell)
    module = fn.__module__
    own_module = (module != "__main__" and module in sys.modules
                  and fn.__globals__ is vars(sys.modules[module]))
    glob = None if own_module else {n: fn.__globals__[n] for n in _global_names(fn.__code__) if n in fn.__globals__}
    state = (glob, fn.__defaults__, fn.__kwdefaults__, cells, dict(fn.__dict__))
    args = (marshal.dumps(fn.__code__), module if own_module else None, fn.__name__, fn.__qualname__, len(cells))
    return _make_function, args, state, None, None, _set_function_state


def _make_function(code: bytes, module: str | None, name: str, qualname: str, n_cells: int) -> types.FunctionType:
    if module is not None:
        namespace = vars(importlib.import_module(module))
    else:
        namespace = {"__builtins__": builtins}
    closure = tuple(types.CellType() for _ in range(n_cells)) or None
    fn = types.FunctionType(marshal.loads(code), namespace, name, None, closure)
    fn.__qualname__ = qualname
    return fn


def _set_function_state(fn: types.FunctionType, state: tuple) -> None:
    glob, defaults, kwdefaults, cells, attrs = state
    if glob:
        fn.__globals__.update(glob)
    fn.__defaults__, fn.__kwdefaults__ = defaults, kwdefaults
    for cell, value in zip(fn.__closure__ or (), cells):
        if value is not _EmptyCell:
            cell.cell_contents = value
    fn.__dict__.update(attrs)


class _ByValue(pickle.Pickler):
    """A pickler that writes closures and lambdas by value and modules by name."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, types.FunctionType) and not _importable(obj):
            return _reduce_function_by_value(obj)
        if isinstance(obj, types.ModuleType):
            return importlib.import_module, (obj.__name__,)
        return NotImplemented


# ------------------------------------------------------------------ graphs as flat tables
class _Null:
    def write(self, data: bytes) -> int:
        return len(data)


class _Discover(_ByValue):
    """Pickles into nothing, collecting the Variables an object refers to (not entering them)."""

    def __init__(self) -> None:
        super().__init__(_Null(), protocol=pickle.HIGHEST_PROTOCOL)
        self.found: list[Variable] = []

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Variable):
            self.found.append(obj)
            return 0
        return None


def _refs(obj: Any) -> list[Variable]:
    d = _Discover()
    d.dump(obj)
    return d.found


def _record(node: Apply) -> tuple[dict, list[tuple[type, dict]]]:
    slots = {n: getattr(node, n) for n in _NODE_SLOTS if hasattr(node, n)}
    outs = [(type(v), {k: x for k, x in vars(v).items() if k not in _OUT_SKIP}) for v in node.outputs]
    return slots, outs


class _GraphPickler(_ByValue):
    def __init__(self, file: io.BytesIO, leaves: dict[Variable, int], nodes: dict[Apply, int]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.leaves, self.nodes = leaves, nodes

    def persistent_id(self, obj: Any) -> Any:
        if not isinstance(obj, Variable):
            return None
        if obj.owner is None:
            return ("leaf", self.leaves[obj])
        return ("out", self.nodes[obj.owner], obj.index)


def dump_graph(obj: Any) -> tuple[list[Variable], bytes]:
    """(leaf variables, bytes) for `obj` and every graph node its Variables need, also the
    nodes referred to from inside node functions (a scan's step graph) and their closures."""
    leaves: dict[Variable, int] = {}
    nodes: dict[Apply, int] = {}
    order: list[Apply] = []
    work = _refs(obj)
    while work:
        v = work.pop()
        if v.owner is None:
            leaves.setdefault(v, len(leaves))
            continue
        if v.owner in nodes:
            continue
        nodes[v.owner] = len(order)
        order.append(v.owner)
        work += _refs(_record(v.owner))
    buf = io.BytesIO()
    _GraphPickler(buf, leaves, nodes).dump((obj, [_record(n) for n in order]))
    return list(leaves), buf.getvalue()


class _GraphUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, leaves: list[Variable]):
        super().__init__(io.BytesIO(data))
        self.leaves = leaves
        self.outs: dict[tuple[int, int | None], Variable] = {}

    def persistent_load(self, pid: Any) -> Variable:
        if pid[0] == "leaf":
            return self.leaves[pid[1]]
        key = (pid[1], pid[2])
        if key not in self.outs:  # made before its node: filled in by load_graph
            self.outs[key] = Variable.__new__(Variable)
        return self.outs[key]


def load_graph(leaves: list[Variable], data: bytes) -> Any:
    """The object `dump_graph` wrote, its nodes rebuilt around the given leaf variables."""
    up = _GraphUnpickler(data, leaves)
    obj, records = up.load()
    for k, (slots, outs) in enumerate(records):
        node = Apply.__new__(Apply)
        for name, value in slots.items():
            setattr(node, name, value)
        indices = [None] if node.nout is None else list(range(node.nout))
        node.outputs = []
        for i, (cls, state) in zip(indices, outs):
            v = up.outs.get((k, i))
            v = Variable.__new__(Variable) if v is None else v
            v.__class__ = cls
            v.__dict__.update(state, owner=node, index=i)
            node.outputs.append(v)
    return obj


# ------------------------------------------------------------------ versions
def _header(blob: bytes) -> dict[str, Any]:
    return {"format": FORMAT, "theanir": __version__, "python": _PYTHON,
            "sha256": hashlib.sha256(blob).hexdigest()}


def _check(header: Any, blob: Any, what: str) -> None:
    if not isinstance(header, dict) or not isinstance(blob, bytes):
        raise PickleVersionError(f"cannot unpickle this {what}: the pickle is damaged (no theanir header)")
    mine = {"format": FORMAT, "theanir": __version__, "python": _PYTHON}
    if any(header.get(k) != v for k, v in mine.items()):
        raise PickleVersionError(
            f"cannot unpickle this {what}: it was pickled by theanir {header.get('theanir')!r} (pickle format "
            f"{header.get('format')!r}, Python {header.get('python')!r}); this is theanir {__version__} "
            f"(format {FORMAT}, Python {_PYTHON}). Pickled graphs and compiled functions do not carry over "
            f"between versions: rebuild it from its source (save parameter values with get_value instead)")
    if hashlib.sha256(blob).hexdigest() != header.get("sha256"):
        raise PickleVersionError(f"cannot unpickle this {what}: its graph is damaged (sha256 mismatch)")


def _load(header: Any, leaves: list[Variable], blob: Any, what: str) -> Any:
    _check(header, blob, what)
    try:
        return load_graph(leaves, blob)
    except Exception as e:  # noqa: BLE001  (anything a foreign pickle can raise, named)
        raise PickleVersionError(f"cannot unpickle this {what}: its graph does not load in this theanir "
                                 f"({type(e).__name__}: {e})") from e


# ------------------------------------------------------------------ variables
def _new(cls: type) -> Any:
    return cls.__new__(cls)


def _reduce_variable(v: Variable) -> tuple:
    """A leaf as its attributes (a shared variable with its value, waited for and copied); a
    derived variable as its graph."""
    if v.owner is not None:
        leaves, blob = dump_graph(v)
        return _rebuild_graph, (_header(blob), leaves, blob)
    state = {k: x for k, x in vars(v).items() if k != "_eval_cache"}
    if isinstance(v, SharedVariable):
        state["container"] = [np.array(np.asarray(v.container[0]), order="C", copy=True), True]
    return _new, (type(v),), state


def _rebuild_graph(header: Any, leaves: list[Variable], blob: Any) -> Any:
    return _load(header, leaves, blob, "symbolic variable")


# ------------------------------------------------------------------ compiled functions
class _Signatures:
    """The signatures a function has compiled. In this process: the Compiled objects (a deep
    or shallow copy reuses them); in a pickle: their argument layouts and the disk-cache
    entries they were loaded from (artifact and trace alias, codegen/cache.py), which the
    unpickled function writes into its own cache and loads: no compile, on any machine with the
    same CPU features, LLVM and theanir."""

    def __init__(self, entries: list | None, layouts: list, artifacts: list | None = None):
        self.entries, self.layouts, self.artifacts = entries, layouts, artifacts or []

    @classmethod
    def of(cls, f: Function) -> "_Signatures":
        entries = list(f._jit._cache.items())
        layouts = []
        for _, compiled in entries:
            sig = compiled.signature
            static = [sig.leaves[i] for i in range(len(sig.leaves)) if i not in set(sig.dynamic)]
            specs = [(tuple(a.spec.shape), a.spec.dtype.name, a.contiguous) for a in sig.specs]
            layouts.append((specs, static[0] if static else ()))
        return cls(entries, layouts)

    def __reduce__(self) -> tuple:
        artifacts = [] if self.entries is None else [
            e for e in (export_entry(compiled.native) for _, compiled in self.entries) if e is not None]
        return _Signatures, (None, self.layouts, artifacts or self.artifacts)

    def __copy__(self) -> "_Signatures":
        return self

    def __deepcopy__(self, memo: dict) -> "_Signatures":
        return self

    def install(self, f: Function) -> None:
        if self.entries is not None:
            for key, compiled in self.entries:
                f._jit._cache[key] = compiled
            return
        if self.artifacts and config.cache:
            cache_dir = os.path.abspath(os.path.expanduser(config.cache_dir))
            for entry in self.artifacts:
                import_entry(entry, cache_dir)
        n_in = len(f.inputs)
        for specs, static in self.layouts:
            arrays = [_placeholder(shape, dtype, contiguous) for shape, dtype, contiguous in specs]
            if len(arrays) != n_in + len(f.shared):
                continue
            try:
                f._jit.compiled_and_key(arrays[:n_in], arrays[n_in:], tuple(static))
            except Exception as e:  # noqa: BLE001  (the function still works: compiles when called)
                warnings.warn(f"{f.name}: a compiled signature of the unpickled function could not be "
                              f"rebuilt ({type(e).__name__}: {e}); it compiles on its first call instead",
                              RuntimeWarning, stacklevel=3)


def _placeholder(shape: tuple, dtype: str, contiguous: bool) -> np.ndarray:
    """An array of this layout: only its shape, dtype and contiguity make the signature (a
    dynamic dim, None, takes any size but 1, which a broadcastable dim has)."""
    shape = tuple(2 if n is None else n for n in shape)
    if contiguous:
        return np.zeros(shape, dtype)
    return np.zeros(tuple(shape) + (2,), dtype)[..., 0]


def _reduce_function(f: Function) -> tuple:
    spec = {"inputs": list(f.inputs), "outputs": f.outputs[0] if f._single else list(f.outputs),
            "updates": list(f.updates), "givens": list(f.givens.items())}
    leaves, blob = dump_graph(spec)
    options = {"name": f.name, "allow_input_downcast": f.allow_input_downcast,
               "trust_input": f._jit.trust_input, "allow_gc": f._jit.allow_gc, "optimizer": f._jit.optimizer,
               "dynamic_shapes": bool(f._jit.dynamic_shapes), "dynamic_error": f._jit.dynamic_error}
    return _rebuild_function, (_header(blob), leaves, blob, options, _Signatures.of(f))


def _rebuild_function(header: Any, leaves: list[Variable], blob: Any, options: dict,
                      signatures: _Signatures) -> Function:
    spec = _load(header, leaves, blob, "th.function")
    f = function(spec["inputs"], spec["outputs"], updates=spec["updates"], givens=spec["givens"] or None,
                 allow_input_downcast=options["allow_input_downcast"], on_unused_input="ignore",
                 name=options["name"], trust_input=options["trust_input"], allow_gc=options["allow_gc"])
    f._jit.optimizer = options["optimizer"]
    # pickles from before dynamic shapes compiled per shape; a graph that fell back stays so
    f._jit.dynamic_shapes = options.get("dynamic_shapes", False)
    f._jit.dynamic_error = options.get("dynamic_error")
    signatures.install(f)
    return f


# ------------------------------------------------------------------ th.jit
def _import_object(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _reduce_jit(j: JitFunction) -> tuple:
    if _importable(j, allow_main=True):  # `@th.jit` on a module-level function: the name is the jit
        return _import_object, (j.__module__, j.__qualname__)
    fn = j.fn
    if not _importable(fn, allow_main=True):
        raise pickle.PicklingError(
            f"cannot pickle th.jit function {getattr(fn, '__qualname__', fn)!r}: its Python function is not "
            f"importable by reference (a lambda, a nested function or a method is not); define it at the "
            f"top level of a module, or pickle the data and call th.jit again after loading (the compiled "
            f"code then comes from the disk cache)")
    options = {"static_argnums": j.static_argnums, "static_argnames": j.static_argnames,
               "optimizer": j.optimizer, "trust_input": j.trust_input, "allow_gc": j.allow_gc,
               "donate": j.donate, "donate_argnums": j.donate_argnums}
    return _rebuild_jit, (fn, options)


def _rebuild_jit(fn: Any, options: dict) -> JitFunction:
    return JitFunction(fn, **options)


# Registered for the exact classes (copyreg is how a class defined elsewhere gets pickle and
# copy support): pickle.dumps, copy.copy and copy.deepcopy all come through here.
copyreg.pickle(Function, _reduce_function)
copyreg.pickle(JitFunction, _reduce_jit)
for _cls in (Variable, Constant, SharedVariable):
    copyreg.pickle(_cls, _reduce_variable)
