"""`th.linalg`: jax.numpy.linalg on traced and concrete arrays, with derivatives.

No LAPACK: each factorization is a COMPOSITE of tn ops, one `th.lax.fori_loop` (a `tn.scan`)
over the columns or rotations, so the trace has one loop body whatever n is, the code runs
through the ordinary lowering, and reverse and forward mode differentiate it through the
loop (tn.scan's own rules). The algorithms, O(n^3) unless noted:

    cholesky          left-looking Cholesky, one column per step (NaN for a matrix that is not
                      positive definite, as JAX)
    triangular_solve  forward/back substitution, one row per step
    solve, inv, det,  Gaussian elimination with partial pivoting (the pivot row picked by
    slogdet           argmax each step); det/slogdet carry the sign of the row swaps
    qr                Householder reflections, one per column (LAPACK's sign convention)
    eigh              cyclic Jacobi rotations, a fixed number of sweeps, each rotation a pair
                      of n x n matmuls (O(n^5) per sweep: meant for small n, ~50 at most);
                      eigenvalues ascending
    svd               one-sided (Hestenes) Jacobi rotations of the columns; singular values
                      descending
    norm              vector p-norms, Frobenius, nuclear (svd), 1/inf/2 matrix norms

Leading batch dims are supported everywhere (`a` of shape (..., n, n)). Derivatives through
the pivot choice, the rotations' angles and the sort of eigenvalues are those of the
computation taken (piecewise smooth), so they agree with the analytic ones away from ties.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import numpy_api as tnp
from .control_flow import fori_loop
from .np_creation import iota
from .eager import eager
from .tensor import Tensor

__all__ = ["norm", "inv", "solve", "cholesky", "det", "slogdet", "eigh", "eigvalsh", "svd", "qr",
           "triangular_solve", "solve_triangular", "matrix_power", "pinv"]

JACOBI_SWEEPS = {np.dtype(np.float32): 8, np.dtype(np.float64): 12}


def _square(name: str, a: Any) -> Tensor:
    x = tnp.as_tensor(a)
    if x.dtype.kind != "f":
        x = tnp.astype(x, np.float64)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise tnp.ShapeError(f"th.linalg.{name}: needs square matrices (..., n, n), got shape {x.shape}")
    if None in x.shape:
        raise NotImplementedError(f"th.linalg.{name}: dynamic dims {x.shape} (the loops need n)")
    return x


def _idx(n: int) -> Tensor:
    return iota((n,), 0, np.int64)


def _set_col(m: Tensor, j: Any, col: Tensor) -> Tensor:
    """m with column j (traced) replaced by col (..., n)."""
    return tnp.where((_idx(m.shape[-1]) == j)[None, :], col[..., :, None], m)


def _set_row(m: Tensor, i: Any, row: Tensor) -> Tensor:
    return tnp.where((_idx(m.shape[-2]) == i)[:, None], row[..., None, :], m)


def _row(m: Tensor, i: Any) -> Tensor:
    return tnp.take(m, i, axis=-2)


def _col(m: Tensor, j: Any) -> Tensor:
    return tnp.take(m, j, axis=-1)


def _safe(d: Tensor) -> Tensor:
    """d with zeros replaced by ones: a divisor whose unused branch must not make NaN
    gradients through a `where`."""
    return tnp.where(d == 0, tnp.ones_like(d), d)


# ------------------------------------------------------------------ Cholesky, triangular solves
def _cholesky(a: Any) -> Tensor:
    x = _square("cholesky", a)
    n = x.shape[-1]
    idx = _idx(n)

    def column(j, L):
        v = _col(x, j) - tnp.matmul(L, _row(L, j)[..., :, None])[..., 0]  # a[:, j] - L L[j, :]^T
        d = tnp.sqrt(_col(v, j))[..., None]
        col = tnp.where(idx > j, v / d, tnp.where(idx == j, d, tnp.zeros_like(v)))
        return _set_col(L, j, col)

    return fori_loop(0, n, column, tnp.zeros_like(x))


def _solve_lower(a: Tensor, b: Tensor, unit_diagonal: bool) -> Tensor:
    """x with a x = b, a lower triangular (..., n, n), b (..., n, k)."""
    n = a.shape[-1]
    idx = _idx(n)

    def row(i, x):
        a_row = tnp.where(idx < i, _row(a, i), tnp.zeros_like(_row(a, i)))  # strictly left of the diagonal
        r = _row(b, i) - tnp.matmul(a_row[..., None, :], x)[..., 0, :]
        xi = r if unit_diagonal else r / _col(_row(a, i), i)[..., None]
        return _set_row(x, i, xi)

    return fori_loop(0, n, row, tnp.zeros_like(b))


def _flip2(m: Tensor) -> Tensor:
    return tnp.flip(m, axis=(-2, -1))


def _triangular(a: Tensor, b: Tensor, lower: bool, transpose: bool, unit_diagonal: bool) -> Tensor:
    """a x = b (or a^T x = b), b (..., n, k)."""
    if transpose:
        a, lower = tnp.swapaxes(a, -1, -2), not lower
    if lower:
        return _solve_lower(a, b, unit_diagonal)
    # U x = b  <=>  (J U J)(J x) = J b with J the reversal: J U J is lower triangular
    return tnp.flip(_solve_lower(_flip2(a), tnp.flip(b, axis=-2), unit_diagonal), axis=-2)


def _as_matrix_rhs(name: str, a: Tensor, b: Any) -> tuple[Tensor, bool]:
    bt = tnp.as_tensor(b)
    bt = tnp.astype(bt, tnp.result_type(a, bt)) if bt.dtype.kind == "f" else tnp.astype(bt, a.dtype)
    vector = bt.ndim == a.ndim - 1 or bt.ndim == 1
    m = bt[..., None] if vector else bt
    if m.shape[-2] != a.shape[-1]:
        raise tnp.ShapeError(f"th.linalg.{name}: a has shape {a.shape} but b has shape {bt.shape} "
                             f"(b's rows must number {a.shape[-1]})")
    return m, vector


def _solve_triangular(a: Any, b: Any, trans: Any = 0, lower: bool = False, unit_diagonal: bool = False,
                      overwrite_b: bool = False, debug: Any = None, check_finite: bool = True) -> Tensor:
    """scipy.linalg.solve_triangular: x with a x = b (trans 1/'T': a^T x = b)."""
    x = _square("solve_triangular", a)
    m, vector = _as_matrix_rhs("solve_triangular", x, b)
    x = tnp.astype(x, m.dtype)
    out = _triangular(x, m, lower, trans in (1, 2, "T", "C"), unit_diagonal)
    return out[..., 0] if vector else out


def _triangular_solve(a: Any, b: Any, left_side: bool = False, lower: bool = False,
                      transpose_a: bool = False, conjugate_a: bool = False,
                      unit_diagonal: bool = False) -> Tensor:
    """jax.lax.linalg.triangular_solve: left_side=True solves a x = b, left_side=False
    (JAX's default) x a = b; b is (..., m, n)."""
    x = _square("triangular_solve", a)
    bt = tnp.astype(tnp.as_tensor(b), x.dtype)
    if left_side:
        return _triangular(x, bt, lower, transpose_a, unit_diagonal)
    # x a = b  <=>  a^T x^T = b^T
    out = _triangular(x, tnp.swapaxes(bt, -1, -2), lower, not transpose_a, unit_diagonal)
    return tnp.swapaxes(out, -1, -2)


# ------------------------------------------------------------------ elimination with pivoting
def _eliminate(a: Tensor, rhs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gaussian elimination with partial pivoting of [a | rhs]: (U, rhs', sign of the
    permutation)."""
    n = a.shape[-1]
    idx = _idx(n)
    m0 = tnp.concatenate([a, rhs], axis=-1)
    sign0 = tnp.ones(a.shape[:-2], a.dtype)

    def step(k, carry):
        m, sign = carry
        col = _col(m, k)
        p = tnp.argmax(tnp.where(idx >= k, tnp.abs(col), -tnp.ones_like(col)), axis=-1)  # [...]
        at_p = idx == p[..., None]  # [..., n]
        row_p = tnp.sum(tnp.where(at_p[..., :, None], m, tnp.zeros_like(m)), axis=-2)
        row_k = _row(m, k)
        m = tnp.where((idx == k)[:, None], row_p[..., None, :],
                      tnp.where(at_p[..., :, None], row_k[..., None, :], m))
        sign = tnp.where(p == k, sign, -sign)
        pivot = _col(row_p, k)[..., None]
        factor = tnp.where(idx > k, _col(m, k) / _safe(pivot), tnp.zeros_like(col))
        m = m - factor[..., :, None] * row_p[..., None, :]
        return m, sign

    m, sign = fori_loop(0, n, step, (m0, sign0))
    return m[..., :n], m[..., n:], sign


def _solve(a: Any, b: Any) -> Tensor:
    x = _square("solve", a)
    rhs, vector = _as_matrix_rhs("solve", x, b)
    x = tnp.astype(x, rhs.dtype)
    u, y, _ = _eliminate(x, rhs)
    out = _triangular(u, y, False, False, False)
    return out[..., 0] if vector else out


def _inv(a: Any) -> Tensor:
    x = _square("inv", a)
    eye = tnp.broadcast_to(tnp.eye(x.shape[-1], dtype=x.dtype), x.shape)
    return _solve(x, eye)


def _slogdet(a: Any) -> tuple[Tensor, Tensor]:
    x = _square("slogdet", a)
    u, _, sign = _eliminate(x, tnp.zeros(x.shape[:-1] + (0,), x.dtype))
    d = tnp.diagonal(u, 0, -2, -1)
    sign = sign * tnp.prod(tnp.sign(d), axis=-1)
    return sign, tnp.sum(tnp.log(tnp.abs(d)), axis=-1)


def _det(a: Any) -> Tensor:
    x = _square("det", a)
    u, _, sign = _eliminate(x, tnp.zeros(x.shape[:-1] + (0,), x.dtype))
    return sign * tnp.prod(tnp.diagonal(u, 0, -2, -1), axis=-1)


# ------------------------------------------------------------------ QR
def _qr(a: Any, mode: str = "reduced") -> Any:
    x = tnp.as_tensor(a)
    if x.dtype.kind != "f":
        x = tnp.astype(x, np.float64)
    if x.ndim < 2:
        raise tnp.ShapeError(f"th.linalg.qr: needs matrices (..., m, n), got shape {x.shape}")
    m, n = x.shape[-2], x.shape[-1]
    k = min(m, n)
    idx = _idx(m)
    eye = tnp.broadcast_to(tnp.eye(m, dtype=x.dtype), x.shape[:-2] + (m, m))

    def reflect(j, carry):
        q, r = carry
        v = tnp.where(idx >= j, _col(r, j), tnp.zeros_like(_col(r, j)))  # [..., m]
        xj = _col(v, j)
        below = tnp.sum(tnp.where(idx > j, v * v, tnp.zeros_like(v)), axis=-1)[..., None, None]
        norm = tnp.sqrt(tnp.sum(v * v, axis=-1))
        alpha = -tnp.where(xj < 0, -tnp.ones_like(xj), tnp.ones_like(xj)) * norm
        v = v - tnp.where(idx == j, alpha[..., None], tnp.zeros_like(v))
        vv = tnp.sum(v * v, axis=-1)[..., None, None]
        h = eye - 2 * (v[..., :, None] * v[..., None, :]) / _safe(vv)
        h = tnp.where(below == 0, eye, h)  # nothing below the diagonal: no reflection (LAPACK's tau = 0)
        return tnp.matmul(q, h), tnp.matmul(h, r)

    q, r = fori_loop(0, k, reflect, (eye, x))
    if mode == "r":
        return r[..., :k, :]
    if mode == "complete":
        return q, r
    if mode != "reduced":
        raise ValueError(f"th.linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    return q[..., :, :k], r[..., :k, :]


# ------------------------------------------------------------------ Jacobi: eigh, svd
def _pairs(n: int) -> np.ndarray:
    return np.array([(p, q) for p in range(n) for q in range(p + 1, n)] or [(0, 0)], np.int64)


def _rotation(app: Tensor, aqq: Tensor, apq: Tensor) -> tuple[Tensor, Tensor]:
    """(c, s) of the Jacobi rotation zeroing apq: t = sign(th) / (|th| + sqrt(th^2 + 1)),
    th = (aqq - app) / (2 apq); the identity when apq = 0."""
    zero = apq == 0
    theta = (aqq - app) / (2 * _safe(apq))
    sgn = tnp.where(theta < 0, -tnp.ones_like(theta), tnp.ones_like(theta))
    t = sgn / (tnp.abs(theta) + tnp.sqrt(theta * theta + 1))
    c = 1 / tnp.sqrt(t * t + 1)
    return tnp.where(zero, tnp.ones_like(c), c), tnp.where(zero, tnp.zeros_like(c), t * c)


def _jacobi(x: Tensor, sweeps: int, step: Callable) -> Any:
    n = x.shape[-1]
    pairs = tnp.constant(_pairs(n))
    count = pairs.shape[0]
    return lambda init: fori_loop(0, sweeps * count, lambda t, c: step(pairs[t % count, 0], pairs[t % count, 1], c),
                                  init)


def _eigh(a: Any, UPLO: str = "L", symmetrize_input: bool = True) -> tuple[Tensor, Tensor]:
    x = _square("eigh", a)
    if symmetrize_input:
        x = (x + tnp.swapaxes(x, -1, -2)) / 2
    n = x.shape[-1]
    idx = _idx(n)

    eye = tnp.broadcast_to(tnp.eye(n, dtype=x.dtype), x.shape)

    def rotate(p, q, carry):
        # m <- J^T m J, v <- v J with J the rotation in the (p, q) plane, as matmuls: few
        # intermediates, so the loop's derivative keeps few values per step
        m, v = carry
        op, oq = tnp.astype(idx == p, x.dtype), tnp.astype(idx == q, x.dtype)
        app, aqq, apq = _col(_row(m, p), p), _col(_row(m, q), q), _col(_row(m, p), q)
        c, s = _rotation(app, aqq, apq)
        c, s = c[..., None, None], s[..., None, None]
        pp, qq, pq = op[:, None] * op[None, :], oq[:, None] * oq[None, :], op[:, None] * oq[None, :]
        j = eye + (c - 1) * (pp + qq) + s * (pq - tnp.swapaxes(pq, -1, -2))
        return tnp.matmul(tnp.matmul(tnp.swapaxes(j, -1, -2), m), j), tnp.matmul(v, j)

    m, v = _jacobi(x, JACOBI_SWEEPS[x.dtype], rotate)((x, eye)) if n > 1 else (x, eye)
    w = tnp.diagonal(m, 0, -2, -1)
    order = tnp.argsort(w, axis=-1)
    w = tnp.take_along_axis(w, order, axis=-1)
    v = tnp.take_along_axis(v, tnp.broadcast_to(order[..., None, :], v.shape), axis=-1)
    return w, v


def _eigvalsh(a: Any, UPLO: str = "L") -> Tensor:
    return _eigh(a, UPLO)[0]


def _svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    x = tnp.as_tensor(a)
    if x.dtype.kind != "f":
        x = tnp.astype(x, np.float64)
    if x.ndim < 2:
        raise tnp.ShapeError(f"th.linalg.svd: needs matrices (..., m, n), got shape {x.shape}")
    m, n = x.shape[-2], x.shape[-1]
    if m < n:  # the SVD of a^T, transposed back
        out = _svd(tnp.swapaxes(x, -1, -2), full_matrices, compute_uv)
        if not compute_uv:
            return out
        u, s, vh = out
        return tnp.swapaxes(vh, -1, -2), s, tnp.swapaxes(u, -1, -2)
    if full_matrices and m != n and compute_uv:
        raise NotImplementedError("th.linalg.svd: full_matrices=True for a non-square matrix (the "
                                  "complement of U); pass full_matrices=False")

    def rotate(p, q, carry):
        u, v = carry
        up, uq = _col(u, p), _col(u, q)
        alpha, beta, gamma = tnp.sum(up * up, -1), tnp.sum(uq * uq, -1), tnp.sum(up * uq, -1)
        c, s = _rotation(alpha, beta, gamma)
        c, s = c[..., None], s[..., None]
        u = _set_col(_set_col(u, p, c * up - s * uq), q, s * up + c * uq)
        vp, vq = _col(v, p), _col(v, q)
        v = _set_col(_set_col(v, p, c * vp - s * vq), q, s * vp + c * vq)
        return u, v

    eye = tnp.broadcast_to(tnp.eye(n, dtype=x.dtype), x.shape[:-2] + (n, n))
    u, v = _jacobi(eye, JACOBI_SWEEPS[x.dtype], rotate)((x, eye)) if n > 1 else (x, eye)
    s = tnp.sqrt(tnp.sum(u * u, axis=-2))
    order = tnp.argsort(-s, axis=-1)
    s = tnp.take_along_axis(s, order, axis=-1)
    if not compute_uv:
        return s
    u = tnp.take_along_axis(u, tnp.broadcast_to(order[..., None, :], u.shape), axis=-1) / _safe(s)[..., None, :]
    v = tnp.take_along_axis(v, tnp.broadcast_to(order[..., None, :], v.shape), axis=-1)
    return u, s, tnp.swapaxes(v, -1, -2)


# ------------------------------------------------------------------ norms and the rest
def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:
    t = tnp.as_tensor(x)
    if t.dtype.kind == "c":  # vector norms and Frobenius of |z|; matrix 2-norms need a complex SVD
        if ord in (2, -2, "nuc") and (axis is None and t.ndim == 2 or axis is not None and np.ndim(axis) and len(axis) == 2):
            raise TypeError(f"th.linalg.norm: ord={ord!r} of a complex matrix is not supported (no complex SVD)")
        t = tnp.abs(t)
    if t.dtype.kind != "f":
        t = tnp.astype(t, np.float64)
    if axis is None:
        if ord is None:
            return _keep(tnp.sqrt(tnp.sum(t * t)), t.ndim, keepdims)
        axis = tuple(range(t.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(int(a) % t.ndim for a in axes)
    a = tnp.abs(t)
    if len(axes) == 1:
        ax = axes[0]
        if ord is None or ord == 2:
            out = tnp.sqrt(tnp.sum(t * t, axis=ax))
        elif ord == np.inf:
            out = tnp.max(a, axis=ax)
        elif ord == -np.inf:
            out = tnp.min(a, axis=ax)
        elif ord == 0:
            out = tnp.sum(tnp.astype(t != 0, t.dtype), axis=ax)
        elif ord == 1:
            out = tnp.sum(a, axis=ax)
        else:
            out = tnp.power(tnp.sum(tnp.power(a, ord), axis=ax), 1.0 / ord)
        return tnp.expand_dims(out, ax) if keepdims else out
    if len(axes) != 2:
        raise ValueError(f"th.linalg.norm: axis must name 1 or 2 axes, got {axis!r}")
    r, c = axes
    if ord is None or ord == "fro":
        out = tnp.sqrt(tnp.sum(t * t, axis=axes))
    elif ord in (1, -1):
        s = tnp.sum(a, axis=r)
        out = (tnp.max if ord == 1 else tnp.min)(s, axis=c - (c > r))
    elif ord in (np.inf, -np.inf):
        s = tnp.sum(a, axis=c)
        out = (tnp.max if ord == np.inf else tnp.min)(s, axis=r - (r > c))
    elif ord in (2, -2, "nuc"):
        sv = _svd(tnp.moveaxis(t, (r, c), (-2, -1)), compute_uv=False)
        out = tnp.sum(sv, axis=-1) if ord == "nuc" else (tnp.max if ord == 2 else tnp.min)(sv, axis=-1)
    else:
        raise ValueError(f"th.linalg.norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        for ax in sorted(axes):
            out = tnp.expand_dims(out, ax)
    return out


def _keep(v: Tensor, ndim: int, keepdims: bool) -> Tensor:
    return tnp.reshape(v, (1,) * ndim) if keepdims else v


def _matrix_power(a: Any, n: int) -> Tensor:
    x = _square("matrix_power", a)
    n = int(n)
    if n < 0:
        x, n = _inv(x), -n
    out = tnp.broadcast_to(tnp.eye(x.shape[-1], dtype=x.dtype), x.shape)
    while n:
        if n & 1:
            out = tnp.matmul(out, x)
        x, n = tnp.matmul(x, x), n >> 1
    return out


def _pinv(a: Any, rcond: Any = None) -> Tensor:
    x = tnp.as_tensor(a)
    u, s, vh = _svd(x, full_matrices=False)
    cutoff = float(10 * max(x.shape[-2:]) * np.finfo(s.dtype).eps if rcond is None else rcond) * tnp.max(s, axis=-1, keepdims=True)
    sinv = tnp.where(s > cutoff, 1 / _safe(s), tnp.zeros_like(s))
    return tnp.matmul(tnp.swapaxes(vh, -1, -2) * sinv[..., None, :], tnp.swapaxes(u, -1, -2))


def _public(fn: Callable, name: str) -> Callable:
    fn.__name__ = fn.__qualname__ = name
    return eager(fn)


norm = _public(_norm, "norm")
inv = _public(_inv, "inv")
solve = _public(_solve, "solve")
cholesky = _public(_cholesky, "cholesky")
det = _public(_det, "det")
slogdet = _public(_slogdet, "slogdet")
eigh = _public(_eigh, "eigh")
eigvalsh = _public(_eigvalsh, "eigvalsh")
svd = _public(_svd, "svd")
qr = _public(_qr, "qr")
triangular_solve = _public(_triangular_solve, "triangular_solve")
solve_triangular = _public(_solve_triangular, "solve_triangular")
matrix_power = _public(_matrix_power, "matrix_power")
pinv = _public(_pinv, "pinv")
