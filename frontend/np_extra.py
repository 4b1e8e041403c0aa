"""More of jax.numpy's array functions (issue 20), composed from existing ops.

    th.array / asarray / ndim          th.diag, diagonal, trace, meshgrid
    th.cumsum / cumprod                log2(n) shifted-product steps (Hillis-Steele scan)
    th.sort / argsort                  ranks from an n x n comparison, applied by a one-hot matmul
    th.tile / repeat / pad / roll      broadcasts, or a gather with constant indices
    th.einsum                          pairwise contractions as batched matmuls

Each composition is differentiable through its parts' rules (sort's and argsort's one-hot
permutation is piecewise constant, so the gradient of sort moves with the values, as JAX's).
Costs worth knowing: sort/argsort build an n x n comparison per sorted axis (fine to a few
thousand elements), cumsum/cumprod take ceil(log2 n) steps of n elements.
"""
from __future__ import annotations

import string
from typing import Any

import numpy as np

from .np_base import as_tensor, astype, broadcast_to, constant, isnan, logical_and, logical_not, logical_or, where
from .np_creation import eye, iota
from .np_linalg import matmul
from .np_reduce import sum as _sum
from .np_shape import concatenate, moveaxis, reshape, stack, take, transpose
from .tensor import Tensor

__all__ = ["array", "asarray", "ndim", "size", "split", "diff", "diag", "diagonal", "trace", "meshgrid", "cumsum", "cumprod",
           "sort", "argsort", "tile", "repeat", "pad", "roll", "einsum"]


def array(object: Any, dtype: Any = None, copy: bool = True) -> Tensor:
    """jnp.array: nested lists of arrays and numbers are stacked; `dtype` casts."""
    if isinstance(object, (list, tuple)) and any(_holds_tensor(o) for o in object):
        t = stack([array(o) for o in object])
    else:
        t = as_tensor(object)
    if dtype is not None:
        return astype(t, np.dtype(dtype))
    return Tensor(t.value) if t.weak else t  # an array, not a weakly typed scalar


def _holds_tensor(x: Any) -> bool:
    if isinstance(x, Tensor):
        return True
    return isinstance(x, (list, tuple)) and any(_holds_tensor(o) for o in x)


def asarray(a: Any, dtype: Any = None) -> Tensor:
    return array(a, dtype)


def ndim(a: Any) -> int:
    """The number of axes (a Python int: known while tracing)."""
    shape = getattr(a, "shape", None)
    return len(shape) if shape is not None else np.ndim(a)


def size(a: Any, axis: int | None = None) -> int:
    """The number of elements (along `axis`): a Python int, known while tracing."""
    shape = tuple(getattr(a, "shape", np.shape(a)))
    return int(np.prod(shape, dtype=np.int64)) if axis is None else int(shape[axis])


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Pieces of `ary` along `axis`: `sections` equal ones, or cut before each index."""
    x = as_tensor(ary)
    axis = int(axis) % x.ndim
    n = x.shape[axis]
    if np.ndim(indices_or_sections) == 0:
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: an axis of length {n} does not split into {k} equal sections")
        cuts = [n // k * i for i in range(1, k)]
    else:
        cuts = [int(i) for i in indices_or_sections]
    bounds = [0] + [min(max(c if c >= 0 else c + n, 0), n) for c in cuts] + [n]
    y = moveaxis(x, axis, 0)
    return [moveaxis(y[b:max(b, e)], 0, axis) for b, e in zip(bounds[:-1], bounds[1:])]


def diff(a: Any, n: int = 1, axis: int = -1) -> Tensor:
    """The n-th forward difference along `axis`."""
    x = moveaxis(as_tensor(a), axis, -1)
    for _ in range(int(n)):
        x = x[..., 1:] - x[..., :-1]
    return moveaxis(x, -1, axis)


def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """The elements a[..., i, i + offset] of axes (axis1, axis2), moved last (NumPy's rule)."""
    x = moveaxis(as_tensor(a), (axis1, axis2), (-2, -1))
    n, m = x.shape[-2], x.shape[-1]
    rows = np.arange(max(0, min(n, m - offset) if offset >= 0 else min(n + offset, m)))
    r, c = (rows, rows + offset) if offset >= 0 else (rows - offset, rows)
    flat = reshape(x, x.shape[:-2] + (n * m,))
    return take(flat, constant((r * m + c).astype(np.int64)), axis=-1)


def diag(v: Any, k: int = 0) -> Tensor:
    """A vector: the square matrix with it on diagonal k; a matrix: its diagonal k."""
    x = as_tensor(v)
    if x.ndim == 2:
        return diagonal(x, k)
    if x.ndim != 1:
        raise ValueError(f"diag: needs a vector or a matrix, got shape {x.shape}")
    n = x.shape[0] + abs(k)
    padded = concatenate([x, constant(np.zeros(abs(k), x.dtype))]) if k else x
    line = reshape(padded, (n, 1)) if k >= 0 else reshape(padded, (1, n))
    return where(eye(n, n, k, dtype=np.bool_), line, constant(np.zeros((), x.dtype)))


def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Tensor:
    d = _sum(diagonal(a, offset, axis1, axis2), axis=-1)
    return d if dtype is None else astype(d, np.dtype(dtype))


def meshgrid(*xi: Any, indexing: str = "xy", sparse: bool = False, copy: bool = True) -> list[Tensor]:
    """Coordinate arrays: indexing "xy" (the first two axes swapped) or "ij"."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [reshape(as_tensor(x), (-1,)) for x in xi]
    n = len(xs)
    shape = [x.shape[0] for x in xs]
    if indexing == "xy" and n >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(xs):
        axis = (1 - i if i < 2 else i) if indexing == "xy" and n >= 2 else i
        view = reshape(x, tuple(x.shape[0] if d == axis else 1 for d in range(n)))
        out.append(view if sparse else broadcast_to(view, tuple(shape)))
    return out


def _scan_along(x: Tensor, axis: int, combine: str) -> Tensor:
    """Inclusive prefix sums/products along `axis`: step k combines each element with the one
    2**k before it (identity padding), ceil(log2 n) steps."""
    y = moveaxis(x, axis, -1)
    n = y.shape[-1]
    identity = 0 if combine == "sum" else 1
    shift = 1
    while shift < n:
        pad = constant(np.full(y.shape[:-1] + (shift,), identity, y.dtype))
        before = concatenate([pad, y[..., :n - shift]], axis=-1)
        y = y + before if combine == "sum" else y * before
        shift *= 2
    return moveaxis(y, -1, axis)


def _cumulative(name: str, a: Any, axis: Any, dtype: Any) -> Tensor:
    x = as_tensor(a)
    if dtype is not None:
        x = astype(x, np.dtype(dtype))
    elif x.dtype == np.bool_ or (x.dtype.kind == "i" and x.dtype.itemsize < 8):
        x = astype(x, np.int64)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if x.ndim == 0:
        return reshape(x, (1,))
    return _scan_along(x, int(axis) % x.ndim, name)


def cumsum(a: Any, axis: Any = None, dtype: Any = None) -> Tensor:
    return _cumulative("sum", a, axis, dtype)


def cumprod(a: Any, axis: Any = None, dtype: Any = None) -> Tensor:
    return _cumulative("prod", a, axis, dtype)


def _one_hot_ranks(x: Tensor, descending: bool) -> Tensor:
    """P[..., r, i] = 1 where element i has rank r along the last axis (a stable order; NaNs
    last, as NumPy sorts them)."""
    a, b = x[..., :, None], x[..., None, :]  # a: element i (rows), b: element j (columns)
    n = x.shape[-1]
    if x.dtype.kind == "f":
        na, nb = isnan(a), isnan(b)
        less = logical_or(logical_and(logical_not(nb), na), b > a) if descending else \
            logical_or(logical_and(na, logical_not(nb)), b < a)
        ties = logical_or(b == a, logical_and(na, nb))
    else:
        less = b > a if descending else b < a
        ties = b == a
    earlier = constant(np.tri(n, n, -1, dtype=bool))  # [i, j]: j < i
    before = logical_or(less, logical_and(ties, earlier))  # j sorts before i
    rank = _sum(astype(before, np.int64), axis=-1)  # [..., i]
    return rank[..., None, :] == iota((n, 1), 0, np.int64)  # [..., r, i]


def _sorted_by(name: str, a: Any, axis: Any, descending: bool, indices: bool) -> Tensor:
    x = as_tensor(a)
    if axis is None:
        x, axis = reshape(x, (-1,)), -1
    if x.ndim == 0:
        raise ValueError(f"{name}: a 0-d array has no axis to sort along")
    y = moveaxis(x, int(axis), -1)
    onehot = _one_hot_ranks(y, descending)
    if indices:
        positions = iota(y.shape[-1:], 0, np.int64)
        out = _sum(where(onehot, positions, 0), axis=-1)
    else:  # a select and a sum, not a matmul: 0 * inf or 0 * nan would spread to every row
        out = _sum(where(onehot, y[..., None, :], constant(np.zeros((), y.dtype))), axis=-1)
    return moveaxis(out, -1, int(axis))


def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, stable: bool = True,
         descending: bool = False) -> Tensor:
    """The elements in ascending order along `axis` (None: flattened); NaNs last."""
    return _sorted_by("sort", a, axis, descending, False)


def argsort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, stable: bool = True,
            descending: bool = False) -> Tensor:
    """The indices that sort `a` along `axis` (stable: equal elements keep their order)."""
    return _sorted_by("argsort", a, axis, descending, True)


def tile(A: Any, reps: Any) -> Tensor:
    x = as_tensor(A)
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    n = max(len(reps), x.ndim)
    reps = (1,) * (n - len(reps)) + reps
    x = reshape(x, (1,) * (n - x.ndim) + x.shape)
    expanded = reshape(x, tuple(d for s in x.shape for d in (1, s)))
    big = broadcast_to(expanded, tuple(d for r, s in zip(reps, x.shape) for d in (r, s)))
    return reshape(big, tuple(r * s for r, s in zip(reps, x.shape)))


def repeat(a: Any, repeats: Any, axis: Any = None, total_repeat_length: Any = None) -> Tensor:
    """Each element repeated `repeats` times along `axis` (None: flattened); `repeats` may be
    a sequence (one count per element, known while tracing)."""
    x = as_tensor(a)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = int(axis) % max(x.ndim, 1)
    if isinstance(repeats, Tensor):
        raise NotImplementedError("repeat: traced repeats give a data-dependent shape; pass them "
                                  "as Python ints or a NumPy array")
    counts = np.broadcast_to(np.asarray(repeats, np.int64), (x.shape[axis],))
    index = np.repeat(np.arange(x.shape[axis]), counts)
    return take(x, constant(index), axis=axis)


def _pad_widths(pad_width: Any, ndim: int) -> list[tuple[int, int]]:
    w = np.asarray(pad_width, np.int64)
    if np.any(w < 0):
        raise ValueError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    return [tuple(int(v) for v in row) for row in np.broadcast_to(w, (ndim, 2))]


def pad(array: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """np.pad for modes constant, edge, reflect, symmetric and wrap (the last four gather with
    the positions np.pad gives an index array)."""
    x = as_tensor(array)
    widths = _pad_widths(pad_width, x.ndim)
    for axis, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        if mode == "constant":
            fill = astype(as_tensor(constant_values), x.dtype)
            parts = [broadcast_to(fill, x.shape[:axis] + (w,) + x.shape[axis + 1:]) for w in (lo, hi)]
            x = concatenate([parts[0], x, parts[1]], axis=axis)
        elif mode in ("edge", "reflect", "symmetric", "wrap"):
            index = np.pad(np.arange(x.shape[axis]), (lo, hi), mode=mode)
            x = take(x, constant(index.astype(np.int64)), axis=axis)
        else:
            raise NotImplementedError(f"pad: mode {mode!r} is not supported (constant, edge, reflect, "
                                      f"symmetric, wrap)")
    return x


def roll(a: Any, shift: Any, axis: Any = None) -> Tensor:
    x = as_tensor(a)
    if axis is None:
        return reshape(roll(reshape(x, (-1,)), shift, 0), x.shape)
    shifts = np.broadcast_to(np.asarray(shift, np.int64), np.shape(axis))
    axes = np.broadcast_to(np.asarray(axis, np.int64), shifts.shape)
    for s, ax in zip(np.atleast_1d(shifts), np.atleast_1d(axes)):
        ax = int(ax) % x.ndim
        x = take(x, constant(np.roll(np.arange(x.shape[ax]), int(s)).astype(np.int64)), axis=ax)
    return x


# ------------------------------------------------------------------ einsum
def einsum(subscripts: str, *operands: Any, optimize: Any = None, precision: Any = None) -> Tensor:
    """Einstein summation: operands are contracted left to right, each pair as one batched
    matmul (indices of both kept in the output or in a later operand are batch dims), so no
    outer product larger than the result of each step is built."""
    if not isinstance(subscripts, str):
        raise TypeError("einsum: only the string form einsum('ij,jk->ik', a, b) is supported")
    ins, out = _parse(subscripts, [as_tensor(o) for o in operands])
    xs = [as_tensor(o) for o in operands]
    xs = [_diagonals(x, s) for x, s in zip(xs, ins)]
    ins = ["".join(dict.fromkeys(s)) for s in ins]
    acc, acc_s = xs[0], ins[0]
    for k in range(1, len(xs)):
        keep = set(out) | set("".join(ins[k + 1:]))
        acc, acc_s = _contract(acc, acc_s, xs[k], ins[k], keep)
    # indices left that the output does not name are summed
    gone = [i for i, c in enumerate(acc_s) if c not in out]
    if gone:
        acc = _sum(acc, axis=tuple(gone))
        acc_s = "".join(c for c in acc_s if c in out)
    return transpose(acc, tuple(acc_s.index(c) for c in out)) if acc_s != out else acc


def _parse(subscripts: str, xs: list[Tensor]) -> tuple[list[str], str]:
    spec = subscripts.replace(" ", "")
    lhs, arrow, out = spec.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(xs):
        raise ValueError(f"einsum: {len(ins)} operand subscripts for {len(xs)} operands")
    ell = ""
    if "..." in spec:
        free = [c for c in string.ascii_letters if c not in spec]
        width = max(x.ndim - (len(s) - 3) for s, x in zip(ins, xs) if "..." in s)
        ell = "".join(free[:width])
        ins = [s.replace("...", ell[width - (x.ndim - (len(s) - 3)):]) if "..." in s else s
               for s, x in zip(ins, xs)]
        out = out.replace("...", ell) if arrow else out
    for s, x in zip(ins, xs):
        if len(s) != x.ndim:
            raise ValueError(f"einsum: subscripts {s!r} for an operand of shape {x.shape}")
    if not arrow:
        counts = {c: "".join(ins).count(c) for c in "".join(ins)}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return ins, out


def _diagonals(x: Tensor, s: str) -> Tensor:
    """An index repeated within one operand ('ii->i'): its diagonal."""
    while len(set(s)) != len(s):
        c = next(c for c in s if s.count(c) > 1)
        i, j = s.index(c), s.index(c, s.index(c) + 1)
        x = diagonal(x, 0, i, j)  # the diagonal axis goes last
        s = s[:i] + s[i + 1:j] + s[j + 1:] + c
    return x


def _contract(a: Tensor, sa: str, b: Tensor, sb: str, keep: set[str]) -> tuple[Tensor, str]:
    for x_s, other in ((sa, sb), (sb, sa)):  # sum out indices only one side has and nobody needs
        gone = [c for c in x_s if c not in other and c not in keep]
        if gone and x_s == sa:
            a, sa = _sum(a, axis=tuple(sa.index(c) for c in gone)), "".join(c for c in sa if c not in gone)
        elif gone:
            b, sb = _sum(b, axis=tuple(sb.index(c) for c in gone)), "".join(c for c in sb if c not in gone)
    batch = [c for c in sa if c in sb and c in keep]
    summed = [c for c in sa if c in sb and c not in keep]
    free_a = [c for c in sa if c not in sb]
    free_b = [c for c in sb if c not in sa]
    dims = {c: n for s, x in ((sa, a), (sb, b)) for c, n in zip(s, x.shape)}

    def size(cs):
        return int(np.prod([dims[c] for c in cs], dtype=np.int64))

    at = transpose(a, tuple(sa.index(c) for c in batch + free_a + summed))
    bt = transpose(b, tuple(sb.index(c) for c in batch + summed + free_b))
    at = reshape(at, (size(batch), size(free_a), size(summed)))
    bt = reshape(bt, (size(batch), size(summed), size(free_b)))
    out = matmul(at, bt)
    names = batch + free_a + free_b
    return reshape(out, tuple(dims[c] for c in names)), "".join(names)
