"""Flatten nested tuples/lists/dicts (and None) into leaves and rebuild them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class TreeDef:
    kind: str  # "leaf", "none", "tuple", "list", "dict", "node" (register_node)
    children: tuple["TreeDef", ...] = ()
    keys: tuple[Any, ...] = ()

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)


LEAF = TreeDef("leaf")

# Registered node types (theanir.sparse's matrices): (match, flatten, unflatten); flatten(x)
# -> (children, hashable aux); unflatten(aux, children) -> the node. A TreeDef "node" keeps
# (registry index, aux) in `keys`.
NODES: list[tuple[Callable[[Any], bool], Callable[[Any], tuple[list, Any]], Callable[[Any, list], Any]]] = []


def register_node(match: Callable[[Any], bool], flatten: Callable[[Any], tuple[list, Any]],
                  unflatten: Callable[[Any, list], Any]) -> None:
    """Make values for which `match` holds pytree nodes (their children are flattened)."""
    NODES.append((match, flatten, unflatten))


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(x: Any, leaves: list[Any]) -> TreeDef:
    if x is None:
        return TreeDef("none")
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return TreeDef("tuple", tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, list):
        return TreeDef("list", tuple(_flatten(c, leaves) for c in x))
    if isinstance(x, dict):
        keys = tuple(sorted(x, key=repr))
        return TreeDef("dict", tuple(_flatten(x[k], leaves) for k in keys), keys)
    for i, (match, flatten, _) in enumerate(NODES):
        if match(x):
            children, aux = flatten(x)
            return TreeDef("node", tuple(_flatten(c, leaves) for c in children), (i, aux))
    leaves.append(x)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves: list[Any]) -> Any:
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


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
    return dict(zip(td.keys, kids))


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, td = tree_flatten(tree)
    return tree_unflatten(td, [fn(x) for x in leaves])
