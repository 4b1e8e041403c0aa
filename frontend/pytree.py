"""Pytrees: nested containers of arrays flattened into leaves and rebuilt (JAX's model).

Containers: tuples, lists, dicts (keys sorted), None (a node with no children, not a leaf),
NamedTuples (their type is part of the structure), and any class registered with
`register_pytree_node(cls, flatten, unflatten)` or `@register_pytree_node_class` (dataclasses
included). Everything else is a leaf. A structure (`TreeDef`) is hashable and compares equal
for equal nesting, so it keys th.jit's cache; the auxiliary data of a registered class must
therefore be hashable too, as in JAX.

    leaves, treedef = th.tree_util.tree_flatten({"w": w, "b": (b1, b2)})
    params = th.tree.map(lambda p: p - lr * g, params)   # also th.tree_util.tree_map
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

__all__ = ["TreeDef", "LEAF", "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves",
           "tree_structure", "register_pytree_node", "register_pytree_node_class",
           "tree_flatten_with_path", "is_namedtuple"]


@dataclass(frozen=True)
class TreeDef:
    """kind: "leaf", "none", "tuple", "list", "dict", "namedtuple", "custom"
    (register_pytree_node) or "node" (register_node). `keys` holds a dict's keys, a
    NamedTuple's (type,), a registered class's (type, aux data), a node's (index, aux data)."""

    kind: str
    children: tuple["TreeDef", ...] = ()
    keys: tuple[Any, ...] = ()

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    @property
    def num_nodes(self) -> int:
        return 1 + sum(c.num_nodes for c in self.children)

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        return tree_unflatten(self, list(leaves))

    def __repr__(self) -> str:
        return f"PyTreeDef({_describe(self)})"


LEAF = TreeDef("leaf")

# Registered node types (theanir.sparse's matrices): (match, flatten, unflatten); flatten(x)
# -> (children, hashable aux); unflatten(aux, children) -> the node. A TreeDef "node" keeps
# (registry index, aux) in `keys`.
NODES: list[tuple[Callable[[Any], bool], Callable[[Any], tuple[list, Any]], Callable[[Any, list], Any]]] = []


def register_node(match: Callable[[Any], bool], flatten: Callable[[Any], tuple[list, Any]],
                  unflatten: Callable[[Any, list], Any]) -> None:
    """Make values for which `match` holds pytree nodes (their children are flattened)."""
    NODES.append((match, flatten, unflatten))


# type -> (flatten(x) -> (children, aux), unflatten(aux, children) -> x)
_REGISTRY: dict[type, tuple[Callable[[Any], tuple[Iterable[Any], Any]], Callable[[Any, Iterable[Any]], Any]]] = {}


def register_pytree_node(nodetype: type, flatten_func: Callable[[Any], tuple[Iterable[Any], Any]],
                         unflatten_func: Callable[[Any, Iterable[Any]], Any]) -> None:
    """Make instances of `nodetype` containers: `flatten_func(x) -> (children, aux_data)`,
    `unflatten_func(aux_data, children) -> x` (JAX's signature). `aux_data` is static (part
    of the structure, so of th.jit's cache key) and must be hashable."""
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node: nodetype must be a class, got {nodetype!r}")
    if nodetype in _REGISTRY or nodetype in (tuple, list, dict, type(None)):
        raise ValueError(f"register_pytree_node: {nodetype.__name__} is already a pytree node type")
    _REGISTRY[nodetype] = (flatten_func, unflatten_func)


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: `cls.tree_flatten(self) -> (children, aux)` and the classmethod
    `cls.tree_unflatten(aux, children)` make it a container (JAX's decorator)."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], TreeDef]:
    """The leaves of `tree` (left to right, dict keys sorted) and its structure. `is_leaf(x)`
    True stops the descent at `x`."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves, is_leaf)


def _flatten(x: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> TreeDef:
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return LEAF
    if x is None:
        return TreeDef("none")
    t = type(x)
    if t is tuple:
        return TreeDef("tuple", tuple(_flatten(c, leaves, is_leaf) for c in x))
    if t is list:
        return TreeDef("list", tuple(_flatten(c, leaves, is_leaf) for c in x))
    if t is dict:
        keys = tuple(sorted(x, key=repr))
        return TreeDef("dict", tuple(_flatten(x[k], leaves, is_leaf) for k in keys), keys)
    if t in _REGISTRY:
        children, aux = _REGISTRY[t][0](x)
        return TreeDef("custom", tuple(_flatten(c, leaves, is_leaf) for c in children), (t, aux))
    for i, (match, flatten, _) in enumerate(NODES):
        if match(x):
            children, aux = flatten(x)
            return TreeDef("node", tuple(_flatten(c, leaves, is_leaf) for c in children), (i, aux))
    if is_namedtuple(x):
        return TreeDef("namedtuple", tuple(_flatten(c, leaves, is_leaf) for c in x), (t,))
    if isinstance(x, (tuple, list, dict)):  # subclasses (OrderedDict, defaultdict ...) as their base
        base = "tuple" if isinstance(x, tuple) else "list" if isinstance(x, list) else "dict"
        return _flatten(dict(x) if base == "dict" else (tuple(x) if base == "tuple" else list(x)),
                        leaves, is_leaf)
    leaves.append(x)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves: Iterable[Any]) -> Any:
    """The container `treedef` describes, holding `leaves` in order."""
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: {treedef} has {treedef.num_leaves} leaves, got {len(leaves)}")
    return _unflatten(treedef, iter(leaves))


def _unflatten(td: TreeDef, it) -> Any:
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    kids = [_unflatten(c, it) for c in td.children]
    if td.kind == "node":
        return NODES[td.keys[0]][2](td.keys[1], kids)
    if td.kind == "tuple":
        return tuple(kids)
    if td.kind == "list":
        return kids
    if td.kind == "dict":
        return dict(zip(td.keys, kids))
    if td.kind == "namedtuple":
        return td.keys[0](*kids)
    cls, aux = td.keys
    return _REGISTRY[cls][1](aux, kids)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> TreeDef:
    return tree_flatten(tree, is_leaf)[1]


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """`fn` applied leaf by leaf; with more trees (`rest`), to the matching leaves of each,
    which must have `tree`'s structure."""
    leaves, td = tree_flatten(tree, is_leaf)
    others = []
    for j, r in enumerate(rest):
        r_leaves, r_td = tree_flatten(r, is_leaf)
        if r_td != td:
            raise ValueError(f"tree_map: tree {j + 1} has structure {r_td}, but the first tree has {td}")
        others.append(r_leaves)
    return tree_unflatten(td, [fn(*xs) for xs in zip(leaves, *others)])


def tree_flatten_with_path(tree: Any) -> tuple[list[tuple[str, Any]], TreeDef]:
    """(path, leaf) pairs, the path written as Python indexing: `['w']`, `[0]`, `.bias`."""
    leaves, td = tree_flatten(tree)
    return list(zip(_paths(td, ""), leaves)), td


def _paths(td: TreeDef, path: str) -> list[str]:
    if td.kind == "leaf":
        return [path]
    if td.kind == "dict":
        parts = [f"[{k!r}]" for k in td.keys]
    elif td.kind == "namedtuple":
        parts = [f".{f}" for f in td.keys[0]._fields]
    else:
        parts = [f"[{i}]" for i in range(len(td.children))]
    return [p for c, part in zip(td.children, parts) for p in _paths(c, path + part)]


def _describe(td: TreeDef) -> str:
    if td.kind == "leaf":
        return "*"
    if td.kind == "none":
        return "None"
    inner = ", ".join(_describe(c) for c in td.children)
    if td.kind == "tuple":
        return f"({inner}{',' if len(td.children) == 1 else ''})"
    if td.kind == "list":
        return f"[{inner}]"
    if td.kind == "dict":
        return "{" + ", ".join(f"{k!r}: {_describe(c)}" for k, c in zip(td.keys, td.children)) + "}"
    if td.kind == "node":
        return f"node({inner})"
    return f"{td.keys[0].__name__}({inner})"
