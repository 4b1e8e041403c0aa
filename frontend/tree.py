"""`th.tree`: JAX's short pytree names (`th.tree.map`, `th.tree.leaves` ...), the same
functions as `th.tree_util.tree_*` (frontend/pytree.py)."""
from __future__ import annotations

from .pytree import tree_flatten as flatten  # noqa: F401
from .pytree import tree_leaves as leaves  # noqa: F401
from .pytree import tree_map as map  # noqa: F401
from .pytree import tree_structure as structure  # noqa: F401
from .pytree import tree_unflatten as unflatten  # noqa: F401
from .tree_util import tree_all as all  # noqa: F401
from .tree_util import tree_reduce as reduce  # noqa: F401

__all__ = ["map", "flatten", "unflatten", "leaves", "structure", "reduce", "all"]
