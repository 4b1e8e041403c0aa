"""Structured and regular gradients of sparse matrices (Theano's two kinds), for `T.grad`.

A sparse matrix's values are its `data` Tensor, so reverse mode gives one number per stored
entry: the *structured* gradient (same pattern), Theano's rule for `structured_dot`,
`sp_sum(sparse_grad=True)` and the structured elementwise ops. Theano's `sparse.dot` instead
has a *regular* gradient: d cost / d A over every entry, a dense matrix (`gz @ y.T`).

How: a sparse matrix bound to a `th.function` input or shared variable carries `regular`
(a list). `sparse.dot` on it computes its product from `stop_gradient(data)` (so the
structured sweep does not see it) and records (product, dense factor, side). `T.grad` with
respect to the matrix then runs the structured sweep on `data`, and one more sweep for the
cotangents gz of the recorded products; with any recorded use the gradient is dense:
densified structured part + sum of gz @ y.T (or x.T @ gz for `x @ A`). Without one it is a
SparseTensor on the matrix's pattern.
"""
from __future__ import annotations

from typing import Any, Sequence

from theanir.passes.autodiff import vjp_values

from . import numpy_api as tnp
from .sparse import SparseTensor, dense_from_sparse
from .tensor import Tensor


class RegularUses(list):
    """(product Tensor, dense factor Tensor, 'left' for A @ y or 'right' for x @ A)."""


def track_regular(s: SparseTensor) -> SparseTensor:
    """Mark a bound sparse input so that `sparse.dot` records its regular-gradient uses."""
    s.regular = RegularUses()
    return s


def wrt_tensors(wrt: Sequence[Any]) -> list[Any]:
    """The value each `wrt` is differentiated as: a sparse matrix's `data`."""
    return [w.data if isinstance(w, SparseTensor) else w for w in wrt]


def regular_parts(wrt: Sequence[Any], outputs: list, cts: list, stop: list) -> dict[int, Tensor]:
    """For each sparse `wrt` with recorded regular uses: the sum of their dense gradients."""
    uses = [(i, u) for i, w in enumerate(wrt) if isinstance(w, SparseTensor)
            for u in (getattr(w, "regular", None) or ())]
    if not uses or not outputs:
        return {}
    gzs = vjp_values(outputs, [u[0].value for _, u in uses], cts, stop=stop)
    out: dict[int, Tensor] = {}
    for (i, (prod, factor, side)), gz in zip(uses, gzs):
        if gz is None:
            continue
        gz = Tensor(gz)
        if side == "left":  # A @ y: gz @ y.T
            part = (tnp.outer(gz, factor) if gz.ndim == 1 else tnp.matmul(gz, tnp.transpose(factor)))
        else:  # x @ A: x.T @ gz
            part = (tnp.outer(factor, gz) if gz.ndim == 1 else tnp.matmul(tnp.transpose(factor), gz))
        out[i] = part if i not in out else out[i] + part
    return out


def sparse_result(w: Any, g: Any, regular: Tensor | None) -> Any:
    """The gradient of sparse `w` from its data's gradient `g` (a Tensor or None) and its
    regular part: structured (a SparseTensor) or, with a regular part, dense."""
    if regular is None:
        data = Tensor(g) if g is not None else tnp.zeros_like(w.data)
        return w.with_data(tnp.astype(data, w.dtype))
    if g is None:
        return tnp.astype(regular, w.dtype)
    return tnp.astype(dense_from_sparse(w.with_data(Tensor(g))) + regular, w.dtype)
