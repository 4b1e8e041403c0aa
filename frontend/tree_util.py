"""`th.tree_util`: JAX's pytree utilities (the model is frontend/pytree.py).

    from theanir import tree_util
    tree_util.register_pytree_node(Point, lambda p: ((p.x, p.y), None), lambda aux, c: Point(*c))
    grads = tree_util.tree_map(lambda g: g / n, grads)
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from .pytree import (TreeDef, register_pytree_node, register_pytree_node_class, tree_flatten,  # noqa: F401
                     tree_flatten_with_path, tree_leaves, tree_map, tree_structure, tree_unflatten)

__all__ = ["PyTreeDef", "register_pytree_node", "register_pytree_node_class", "tree_flatten",
           "tree_unflatten", "tree_map", "tree_leaves", "tree_structure", "tree_reduce",
           "tree_all", "tree_flatten_with_path", "treedef_children", "all_leaves"]

PyTreeDef = TreeDef


def tree_reduce(function: Callable[[Any, Any], Any], tree: Any, *initializer: Any,
                is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """`functools.reduce(function, tree_leaves(tree), *initializer)`."""
    return functools.reduce(function, tree_leaves(tree, is_leaf), *initializer)


def tree_all(tree: Any) -> bool:
    return all(tree_leaves(tree))


def treedef_children(treedef: TreeDef) -> list[TreeDef]:
    return list(treedef.children)


def all_leaves(iterable: Any) -> bool:
    """Whether every item of `iterable` is a leaf."""
    return all(tree_structure(x).kind == "leaf" for x in iterable)
