"""JAX-style transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp; verify_grad.

Each transform traces the user function into the current tn block (or into a fresh jitted
trace when called with concrete arrays) and differentiates it there with
`theanir.passes.autodiff`, so transforms compose with each other and with `th.jit`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from theanir.dialects.tn.builder import describe_location, emit1
from theanir.passes.autodiff import DifferentiationError, jvp_values, vjp_values

from . import numpy_api as tnp
from .api import JitFunction, jit
from .np_base import refine
from .pytree import tree_flatten, tree_unflatten
from .tensor import Tensor, TracerError
from .vmap import vmap

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "jacrev", "jacfwd", "hessian",
           "hvp", "DifferentiationError"]


def _fresh(x: Any) -> Tensor:
    """A distinct SSA value equal to `x`, so differentiating w.r.t. one argument does not
    follow other uses of the same value (grad(f)(x, x) differentiates only the first)."""
    t = tnp.as_tensor(x)
    if t.weak:
        t = tnp.astype(t, t.dtype)
    if not t.spec.is_static:  # an identity op that makes a new value (no check: same type)
        return Tensor(emit1("tn.ensure_shape", [t.value], {"shape": tuple(-1 if n is None else n for n in t.shape)}))
    return Tensor(emit1("tn.broadcast_to", [t.value], {"shape": t.shape}))


def _argnums(argnums: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int):
        return (argnums,), True
    return tuple(argnums), False


def _split_diff_args(args: tuple, nums: tuple[int, ...], fname: str, holomorphic: bool = False):
    """Replace the differentiated arguments' leaves by fresh values; return them flat.
    Float and complex leaves differentiate (complex: JAX's convention, docs/jax-programs.md);
    with `holomorphic` only complex ones, as JAX."""
    args = list(args)
    diff_leaves: list[Tensor] = []
    trees = []
    for n in nums:
        if n >= len(args):
            raise TypeError(f"{fname}: argnums {n} but only {len(args)} positional arguments")
        leaves, td = tree_flatten(args[n])
        fresh = []
        for leaf in leaves:
            t = tnp.as_tensor(leaf)
            if holomorphic and t.dtype.kind != "c":
                raise TypeError(f"{fname} with holomorphic=True requires inputs with complex dtype, but got "
                                f"{t.dtype.name} for argument {n} (at {describe_location()})")
            if t.dtype.kind not in "fc":
                raise TypeError(f"{fname} requires float or complex inputs to differentiate, got "
                                f"{t.dtype.name} for argument {n} (at {describe_location()})")
            fresh.append(_fresh(t))
        diff_leaves.extend(fresh)
        trees.append((n, td, len(fresh)))
        args[n] = tree_unflatten(td, fresh)
    return args, diff_leaves, trees


def _regroup(values: list[Tensor], trees, single: bool):
    out, i = [], 0
    for _, td, n in trees:
        out.append(tree_unflatten(td, values[i:i + n]))
        i += n
    return out[0] if single else tuple(out)


def _zeros_or(v, like: Tensor) -> Tensor:
    return Tensor(v) if v is not None else tnp.zeros_like(like)


def _value_and_grad_traced(f: Callable, argnums, has_aux: bool, args: tuple, kwargs: dict,
                           holomorphic: bool = False):
    nums, single = _argnums(argnums)
    name = getattr(f, "__name__", "f")
    args, diff, trees = _split_diff_args(args, nums, "grad", holomorphic)
    out = f(*args, **kwargs)
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"grad(has_aux=True): {name} must return a pair (output, aux)")
        out, aux = out
    y = tnp.as_tensor(out)
    if holomorphic and y.dtype.kind != "c":
        raise TypeError(f"grad with holomorphic=True requires outputs with complex dtype, but {name} "
                        f"returned {y.dtype.name}")
    if not holomorphic and y.dtype.kind == "c":
        raise TypeError(f"grad requires real-valued outputs, but {name} returned {y.dtype.name}. For "
                        f"holomorphic differentiation, pass holomorphic=True. For differentiation of "
                        f"non-holomorphic functions involving complex outputs, use th.vjp directly.")
    if y.shape != () or y.dtype.kind not in "fc":
        raise TypeError(f"grad requires a scalar float output; {name} returned shape {y.shape} "
                        f"dtype {y.dtype.name} (use th.vjp or th.jacobian for non-scalar outputs)")
    one = tnp.ones_like(y)
    gs = vjp_values([y.value], [d.value for d in diff], [one.value])
    grads = _regroup([_zeros_or(g, d) for g, d in zip(gs, diff)], trees, single)
    return ((y, aux), grads) if has_aux else (y, grads)


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   holomorphic: bool = False) -> Callable:
    """`(f(x), df/dx)` for a scalar-valued `f`; with has_aux, `((f(x), aux), df/dx)`."""
    return _ConcreteRetry(_named_like(f, lambda *a, **k: _value_and_grad_traced(f, argnums, has_aux, a, k,
                                                                                holomorphic)))


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         holomorphic: bool = False) -> Callable:
    """The gradient of a scalar-valued `f` w.r.t. argument(s) `argnums` (pytrees allowed).

    Complex inputs follow JAX: for a real-valued f of z = x + iy the result is
    df/dx - i df/dy (so 2 conj(z) for |z|^2: step against its conjugate to descend); a
    complex-valued f needs `holomorphic=True` (complex inputs and output) and then gives
    f'(z)."""
    def traced(*a, **k):
        out, g = _value_and_grad_traced(f, argnums, has_aux, a, k, holomorphic)
        return (g, out[1]) if has_aux else g

    return _ConcreteRetry(_named_like(f, traced))


def _seeds(fname: str, what: str, partner: str, values: Sequence, likes: Sequence[Tensor]) -> list[Tensor]:
    """Tangents/cotangents as Tensors in their partner's dtype; their shapes must agree."""
    out = []
    for like, v in zip(likes, values):
        t = tnp.astype(tnp.as_tensor(v), like.dtype)
        if len(t.shape) != len(like.shape) or any(a != b and a is not None and b is not None
                                                  for a, b in zip(t.shape, like.shape)):
            raise ValueError(f"{fname}: {what} shape {t.shape} differs from {partner} shape {like.shape}")
        if t.shape != like.shape:  # dynamic dims on either side: equal when the code runs (checked)
            t = refine(t, like.shape)
            if t.shape != like.shape:
                t = Tensor(emit1("tn.ensure_shape", [t.value], {"shape": tuple(-1 if n is None else n for n in like.shape)}))
        out.append(t)
    return out


def _jvp_traced(f: Callable, primals: Sequence, tangents: Sequence):
    if len(primals) != len(tangents):
        raise TypeError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    args, diff, _ = _split_diff_args(tuple(primals), tuple(range(len(primals))), "jvp")
    t_leaves, _ = tree_flatten(list(tangents))
    ts = _seeds("jvp", "tangent", "primal", t_leaves, diff)
    out = f(*args)
    leaves, td = tree_flatten(out)
    outs = [tnp.as_tensor(o) for o in leaves]
    touts = jvp_values([o.value for o in outs], [d.value for d in diff], [t.value for t in ts])
    return tree_unflatten(td, outs), tree_unflatten(td, [_zeros_or(t, o) for t, o in zip(touts, outs)])


def jvp(f: Callable, primals: Sequence, tangents: Sequence):
    """Forward mode: `(f(*primals), J·tangents)`."""
    return jit(lambda p, t: _jvp_traced(f, p, t))(tuple(primals), tuple(tangents))


def _vjp_traced(f: Callable, primals: Sequence, cts: Any):
    args, diff, trees = _split_diff_args(tuple(primals), tuple(range(len(primals))), "vjp")
    out = f(*args)
    leaves, td = tree_flatten(out)
    outs = [tnp.as_tensor(o) for o in leaves]
    ct_leaves, _ = tree_flatten(cts)
    if len(ct_leaves) != len(outs):
        raise TypeError(f"vjp: {len(outs)} outputs but {len(ct_leaves)} cotangents")
    ct_ts = _seeds("vjp", "cotangent", "output", ct_leaves, outs)
    gs = vjp_values([o.value for o in outs], [d.value for d in diff], [c.value for c in ct_ts])
    return _regroup([_zeros_or(g, d) for g, d in zip(gs, diff)], trees, False)


def vjp(f: Callable, *primals: Any):
    """Reverse mode: `(f(*primals), vjp_fn)` where `vjp_fn(ct)` returns one cotangent per primal."""
    out = jit(f)(*primals)
    pullback = jit(lambda p, c: _vjp_traced(f, p, c))

    def vjp_fn(ct: Any):
        return pullback(tuple(primals), ct)

    return out, vjp_fn


def _jacobian(f: Callable, argnums: int, forward: bool) -> Callable:
    """Jacobian of shape out.shape + in.shape: one jvp (forward) or vjp (reverse) sweep,
    vmapped over the basis of the input (forward) or output (reverse) space, so the traced
    IR holds one batched sweep whatever the size (JAX's jacfwd/jacrev)."""
    def traced(*args):
        args, diff, _ = _split_diff_args(args, (argnums,), "jacobian")
        (x,) = diff
        y = tnp.as_tensor(f(*args))
        basis, result_like = (x, y) if forward else (y, x)
        sweep = jvp_values if forward else vjp_values
        if basis.size == 0 or result_like.size == 0:
            return tnp.zeros(y.shape + x.shape, y.dtype)

        def one(seed: Tensor) -> Tensor:
            (r,) = sweep([y.value], [x.value], [seed.value])
            return _zeros_or(r, result_like)

        eye = tnp.reshape(tnp.eye(basis.size, dtype=basis.dtype), (basis.size,) + basis.shape)  # iota-made
        rows = vmap(one)(eye)  # (basis.size,) + result_like.shape
        if not forward:  # rows J[i, :]
            return tnp.reshape(rows, y.shape + x.shape)
        cols = tnp.reshape(rows, (x.size, y.size))  # columns J[:, i]
        return tnp.reshape(tnp.transpose(cols), y.shape + x.shape)

    return jit(_named_like(f, traced))


def jacrev(f: Callable, argnums: int | Sequence[int] = 0, holomorphic: bool = False) -> Callable:
    """Jacobian by reverse mode (one vjp per output element). For arrays: shape
    out.shape + in.shape; for pytrees (JAX's layout): the output's structure holding, per
    output leaf, the input's structure (a tuple of them for a tuple `argnums`) of blocks of
    shape out_leaf.shape + in_leaf.shape."""
    return _jacobian_tree(f, argnums, forward=False, holomorphic=holomorphic)


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0, holomorphic: bool = False) -> Callable:
    """Jacobian by forward mode (one jvp per input element); layout as `jacrev`. With
    `holomorphic` (complex inputs and outputs, JAX's flag): the complex Jacobian df_i/dz_j."""
    return _jacobian_tree(f, argnums, forward=True, holomorphic=holomorphic)


def _jacobian_tree(f: Callable, argnums: int | Sequence[int], forward: bool, holomorphic: bool = False) -> Callable:
    """Pytrees in and out: the differentiated leaves are raveled into one vector and the
    outputs into another, the array Jacobian (`_jacobian`) of that flat function is taken,
    and its blocks are cut and reshaped back (JAX's ravel_pytree route)."""
    nums, single = _argnums(argnums)
    name = "jacfwd" if forward else "jacrev"

    def traced(*args):
        for n in nums:
            if n >= len(args):
                raise TypeError(f"{name}: argnums {n} but only {len(args)} positional arguments")
        in_trees = [tree_flatten(args[n]) for n in nums]
        ins = [_float_leaf(name, leaf, n, holomorphic) for (leaves, _), n in zip(in_trees, nums) for leaf in leaves]
        dtype = tnp.result_type(*ins) if ins else np.dtype(np.float32)
        flat_in = _ravel(ins, dtype)
        out_tree: list = []

        def flat_f(vec):
            pieces, i = _unravel(vec, ins), 0
            new = list(args)
            for (leaves, td), n in zip(in_trees, nums):
                new[n] = tree_unflatten(td, pieces[i:i + len(leaves)])
                i += len(leaves)
            leaves, td = tree_flatten(f(*new))
            outs = [tnp.as_tensor(o) for o in leaves]
            kinds = {o.dtype.kind for o in outs}
            if holomorphic and kinds - {"c"}:
                raise TypeError(f"{name} with holomorphic=True requires outputs with complex dtype")
            if not holomorphic and "c" in kinds:
                raise TypeError(f"{name} requires real-valued outputs; for holomorphic differentiation, "
                                f"pass holomorphic=True")
            out_tree.append((td, outs))
            return _ravel(outs, tnp.result_type(*outs) if outs else dtype)

        jac = _jacobian(flat_f, 0, forward)(flat_in)  # (outputs, inputs)
        td, outs = out_tree[0]
        per_out, row = [], 0
        for o in outs:
            col, k, per_arg = 0, 0, []
            for leaves, in_td in in_trees:
                blocks = []
                for leaf in ins[k:k + len(leaves)]:
                    blk = jac[row:row + o.size, col:col + leaf.size]
                    blocks.append(tnp.astype(tnp.reshape(blk, o.shape + leaf.shape), o.dtype))
                    col += leaf.size
                k += len(leaves)
                per_arg.append(tree_unflatten(in_td, blocks))
            row += o.size
            per_out.append(per_arg[0] if single else tuple(per_arg))
        return tree_unflatten(td, per_out)

    return jit(_named_like(f, traced))


class _ConcreteRetry(JitFunction):
    """th.grad's function: compiled once per signature like th.jit; but when `f` branches in
    Python on a traced value (`if x > 0`, `float(x)`), which a trace over abstract values
    cannot follow, a call with concrete arrays outside a trace traces again with the call's
    values as constants: the Python control flow then follows them, as JAX's grad does. That
    trace is compiled for this call only (slower: one compile per call)."""

    def _call_slow(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._call_slow(*args, **kwargs)
        except TracerError:
            leaves, _ = tree_flatten((args, kwargs))
            if any(isinstance(x, Tensor) for x in leaves):
                raise
        fn = self.fn
        return jit(functools.wraps(fn)(lambda: fn(*args, **kwargs)))()


def _named_like(f: Callable, wrapper: Callable) -> Callable:
    """`wrapper` carrying `f`'s name and signature, so errors name the user's arguments."""
    try:
        return functools.wraps(f)(wrapper)
    except (AttributeError, TypeError):
        return wrapper


def _float_leaf(fname: str, leaf: Any, n: int, holomorphic: bool = False) -> Tensor:
    t = tnp.as_tensor(leaf)
    if holomorphic and t.dtype.kind != "c":
        raise TypeError(f"{fname} with holomorphic=True requires inputs with complex dtype, but got "
                        f"{t.dtype.name} for argument {n} (at {describe_location()})")
    if t.dtype.kind == "c" and not holomorphic:
        raise TypeError(f"{fname} requires real-valued inputs, but got {t.dtype.name} for argument {n}. "
                        f"For holomorphic differentiation, pass holomorphic=True (at {describe_location()})")
    if t.dtype.kind not in "fc":
        raise TypeError(f"{fname} requires float inputs to differentiate, got {t.dtype.name} for "
                        f"argument {n} (at {describe_location()})")
    if not t.spec.is_static:
        raise NotImplementedError(f"{fname}: the Jacobian of an argument with dynamic dims "
                                  f"{t.shape} (its size decides the number of sweeps)")
    return t


def _ravel(xs: list[Tensor], dtype: Any) -> Tensor:
    """One vector of every element of `xs`, in `dtype`."""
    if not xs:
        return tnp.zeros((0,), dtype)
    return tnp.concatenate([tnp.reshape(tnp.astype(x, dtype), (x.size,)) for x in xs])


def _unravel(vec: Tensor, likes: list[Tensor]) -> list[Tensor]:
    out, i = [], 0
    for x in likes:
        out.append(tnp.astype(tnp.reshape(vec[i:i + x.size], x.shape), x.dtype))
        i += x.size
    return out


jacobian = jacrev


def hessian(f: Callable, argnums: int = 0, holomorphic: bool = False) -> Callable:
    """Second derivatives of a scalar `f`: forward over reverse."""
    return jacfwd(grad(f, argnums, holomorphic=holomorphic), argnums, holomorphic=holomorphic)


def hvp(f: Callable, primals: Sequence, v: Sequence):
    """Hessian-vector product `H(f)(primals) · v` (forward over reverse, one extra sweep)."""
    nums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(f, nums), primals, v)[1]
