"""JAX's utilities (issue 20): `th.check_grads` (also `th.test_util.check_grads`),
`th.make_tn` (JAX's make_jaxpr: the tn IR of a function), `th.device_put`, `th.devices`,
`th.block_until_ready`.

    th.check_grads(f, (x, params), order=2)       # raises th.GradientError on a mismatch
    print(th.make_tn(f)(x))                       # the traced tn module, as text
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from theanir.runtime import Array

from .api import jit
from .autodiff import jvp, vjp
from .gradcheck import verify_grad
from .pytree import tree_flatten, tree_map, tree_unflatten
from .trace import widen_input

__all__ = ["check_grads", "make_tn", "make_jaxpr", "TnText", "device_put", "block_until_ready"]


def check_grads(f: Callable, args: Sequence[Any], order: int, modes: Sequence[str] = ("fwd", "rev"),
                atol: float | None = None, rtol: float | None = None, eps: float | None = None) -> None:
    """JAX's check: derivatives of `f` at `args` (a tuple of pytrees of float arrays) up to
    `order` agree with central finite differences, in forward and/or reverse mode (random
    directions, th.verify_grad). Order k checks the derivative of the order k-1 derivative
    along fixed random directions."""
    if order < 1:
        raise ValueError(f"check_grads: order must be >= 1, got {order}")
    modes = tuple(modes)
    if not set(modes) <= {"fwd", "rev"}:
        raise ValueError(f"check_grads: modes must be 'fwd' and/or 'rev', got {modes}")
    leaves, tree = tree_flatten(tuple(args))
    leaves = [np.asarray(x) for x in leaves]
    flat = _flat(f, tree)
    tol = rtol if rtol is not None else atol
    rng = np.random.default_rng(0)
    for _ in range(order - 1):  # go one derivative up, along fixed random directions
        flat = _derivative(flat, leaves, modes, rng)
    verify_grad(flat, leaves, eps=eps, rtol=tol, rng=rng, modes=tuple("rev" if m == "rev" else "fwd" for m in modes))


def _flat(f: Callable, tree: Any) -> Callable:
    def flat(*leaves: Any) -> Any:
        out = f(*tree_unflatten(tree, list(leaves)))
        outs, _ = tree_flatten(out)
        return outs[0] if len(outs) == 1 else tuple(outs)
    return flat


def _derivative(flat: Callable, leaves: list[np.ndarray], modes: tuple[str, ...], rng: np.random.Generator) -> Callable:
    directions = [rng.standard_normal(np.shape(x)).astype(x.dtype) for x in leaves]
    if "fwd" in modes:
        return lambda *xs: jvp(flat, xs, directions)[1]
    out = flat(*leaves)
    cts = tree_map(lambda o: rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype), out)

    def pulled(*xs: Any) -> Any:
        grads = vjp(flat, *xs)[1](cts)
        return grads[0] if len(grads) == 1 else tuple(grads)
    return pulled


class TnText:
    """The tn module of a traced function: prints as its text (JAX's ClosedJaxpr prints)."""

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text)


def make_tn(fun: Callable, static_argnums: int | Sequence[int] = (), stage: str = "tn") -> Callable[..., TnText]:
    """`make_tn(f)(*args)`: the IR `th.jit(f)` traces for these arguments (JAX's make_jaxpr);
    `stage` picks a later stage of the pipeline ("tn-opt", "linalg", ...)."""
    jf = jit(fun, static_argnums=static_argnums)

    def traced(*args: Any, **kwargs: Any) -> TnText:
        return TnText(jf.lower(*args, **kwargs).as_text(stage))

    return traced


make_jaxpr = make_tn


def device_put(x: Any, device: Any = None, **kwargs: Any) -> Any:
    """The leaves of the pytree `x` on `device` (th.device_put per leaf, frontend/device.py:
    ready th.Arrays on the CPU; JAX's CPU device names mean the CPU)."""
    from .device import device_put as put_one

    if device is not None and str(device).lower() in ("tfrt_cpu_0", "cpudevice(id=0)"):
        device = "cpu"
    return tree_map(lambda v: put_one(v if isinstance(v, Array) else widen_input(np.asarray(v)), device), x)


def block_until_ready(x: Any) -> Any:
    """Wait for every th.Array in the pytree `x`; returns `x`."""
    for leaf in tree_flatten(x)[0]:
        if isinstance(leaf, Array):
            leaf.block_until_ready()
    return x
