"""JAX's module paths run with `jax` -> `theanir` in the import lines (frontend/jax_modules/)."""
from __future__ import annotations

import importlib

import pytest

PATHS = {
    "theanir.numpy": ["sin", "linalg", "ndarray", "einsum", "pi"],
    "theanir.scipy": ["linalg", "special", "stats"],
    "theanir.scipy.special": ["logsumexp", "gammaln", "digamma", "expit", "erf"],
    "theanir.scipy.linalg": ["cholesky", "solve_triangular", "cho_solve", "cho_factor"],
    "theanir.scipy.stats": ["norm", "multivariate_normal"],
    "theanir.nn": ["relu", "gelu", "initializers", "one_hot", "standardize"],
    "theanir.lax": ["scan", "cond", "fori_loop", "while_loop", "dynamic_slice", "dynamic_slice_in_dim"],
    "theanir.tree_util": ["tree_map", "register_pytree_node", "tree_flatten"],
    "theanir.test_util": ["check_grads"],
}


@pytest.mark.parametrize("path", list(PATHS))
def test_jax_path_imports(path):
    module = importlib.import_module(path)
    for name in PATHS[path]:
        assert hasattr(module, name), f"{path}.{name}"


def test_forwarders_are_the_frontend_functions():
    import theanir as th
    import theanir.lax
    import theanir.numpy as jnp
    from theanir.scipy.linalg import cholesky
    assert jnp.sin is th.sin and theanir.lax.scan is th.frontend.lax.scan
    assert cholesky is th.frontend.scipy.linalg.cholesky
