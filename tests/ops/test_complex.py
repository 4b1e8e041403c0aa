"""complex64/complex128 (issue 20): the complex ops against NumPy over shapes, layouts and both
complex dtypes; JAX's derivative conventions against NumPy formulas and central differences
in the real and imaginary directions; the ops that refuse complex operands."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import BROADCAST_PAIRS, SHAPES, assert_close, noncontiguous

COMPLEX = [np.complex64, np.complex128]
TOL = {np.dtype(np.complex64): 2e-5, np.dtype(np.complex128): 1e-12}


def crand(rng: np.random.Generator, shape, dtype, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return (rng.uniform(lo, hi, shape) + 1j * rng.uniform(lo, hi, shape)).astype(dtype)


def close(got, want, dtype, rtol=None):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    r = rtol or TOL[np.dtype(dtype)]
    np.testing.assert_allclose(got, want, rtol=r, atol=r)


UNARY = [
    (th.negative, np.negative), (th.exp, np.exp), (th.log, np.log), (th.sqrt, np.sqrt),
    (th.sin, np.sin), (th.cos, np.cos), (th.tanh, np.tanh), (th.square, np.square),
    (th.conj, np.conj), (th.conjugate, np.conjugate), (th.real, np.real), (th.imag, np.imag),
    (th.abs, np.abs), (th.angle, np.angle), (lambda z: z ** 3, lambda z: z ** 3),
    (lambda z: z ** -2, lambda z: z ** -2), (th.expm1, np.expm1), (th.log1p, np.log1p),
    (th.tan, np.tan),
]
BINARY = [
    (th.add, np.add), (th.subtract, np.subtract), (th.multiply, np.multiply),
    (th.divide, np.divide), (th.equal, np.equal), (th.not_equal, np.not_equal),
]


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("fn,ref", UNARY, ids=lambda f: getattr(f, "__name__", "f"))
def test_unary_matches_numpy(fn, ref, shape, dtype, rng):
    z = crand(rng, shape, dtype, 0.2, 2.0)  # away from the branch cuts and 0
    want = np.asarray(ref(z))
    f = th.jit(fn)
    close(f(z), want, dtype)
    close(f(noncontiguous(z)), want, dtype)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("sa,sb", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("fn,ref", BINARY, ids=lambda f: getattr(f, "__name__", "f"))
def test_binary_matches_numpy(fn, ref, sa, sb, dtype, rng):
    a, b = crand(rng, sa, dtype), crand(rng, sb, dtype, 0.5, 2.0)
    want = np.asarray(ref(a, b))
    got = th.jit(fn)(a, b)
    if want.dtype == np.bool_:
        assert_close(got, want)
        assert_close(th.jit(fn)(a, a), ref(a, a))  # equal values too
    else:
        close(got, want, dtype)
        close(th.jit(fn)(noncontiguous(a), b), want, dtype)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_promotion_follows_numpy(dtype, rng):
    z = crand(rng, (3,), dtype)
    for other in (np.ones(3, np.float32), np.ones(3, np.float64), np.ones(3, np.int32), 2.0, 3, True):
        want = z * other
        got = th.jit(lambda a, b: a * b)(z, other)
        assert np.asarray(got).dtype == want.dtype, (other, got.dtype, want.dtype)
        close(got, want, want.dtype)
    x = np.arange(3, dtype=np.float32)
    assert th.jit(lambda x: x + 1j)(x).dtype == np.complex64  # a Python complex is weak
    assert th.jit(lambda x: x * (1 + 2j))(x.astype(np.float64)).dtype == np.complex128
    close(th.jit(lambda x, c: x * c)(x, 2 - 1j), x * (2 - 1j), np.complex128)  # complex argument


@pytest.mark.parametrize("dtype", COMPLEX)
def test_casts_creation_and_parts(dtype, rng):
    z = crand(rng, (2, 3), dtype)
    part = np.finfo(dtype).dtype
    f = th.jit(lambda z, x: (z.astype(np.complex128), z.astype(np.complex64), x.astype(dtype),
                             z.real, z.imag, z.conj(), th.lax.complex(x, 2 * x), z != 0))
    x = rng.uniform(-1, 1, (2, 3)).astype(part)
    got = f(z, x)
    want = (z.astype(np.complex128), z.astype(np.complex64), x.astype(dtype), z.real, z.imag, z.conj(),
            (x + 2j * x).astype(dtype), z != 0)
    for g, w in zip(got, want):
        close(g, w, dtype) if w.dtype != np.bool_ else assert_close(g, w)
    made = th.jit(lambda: (th.zeros((2,), dtype), th.ones((2,), dtype), th.full((2,), 1 - 2j, dtype),
                           th.array([1 + 2j, 3], dtype), th.asarray(1 + 2j)))()
    for g, w in zip(made, (np.zeros(2, dtype), np.ones(2, dtype), np.full(2, 1 - 2j, dtype),
                           np.array([1 + 2j, 3], dtype), np.asarray(1 + 2j))):
        close(g, w, w.dtype)
    assert th.complex64 is np.complex64 and th.complex128 is np.complex128
    assert th.iscomplexobj(z) and not th.isrealobj(z) and th.isrealobj(x)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("shape,axis", [((3, 4), None), ((3, 4), 0), ((3, 4), 1), ((0, 3), 0),
                                        ((1,), None), ((2, 1, 3), (0, 2))], ids=str)
def test_reductions(shape, axis, dtype, rng):
    z = crand(rng, shape, dtype, 0.5, 1.0)
    f = th.jit(lambda z: (th.sum(z, axis), th.prod(z, axis), th.mean(z, axis) if z.size else th.sum(z, axis)))
    want = (np.sum(z, axis), np.prod(z, axis), np.mean(z, axis) if z.size else np.sum(z, axis))
    for g, w in zip(f(z), want):
        close(g, w, dtype)
    if z.size:
        close(th.jit(lambda z: th.var(z, axis))(z), np.var(z, axis), dtype)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4,)), ((2, 3, 4), (4, 2)), ((1, 1), (1, 1)),
                                   ((0, 3), (3, 2)), ((40, 30), (30, 20))], ids=str)
def test_matmul_dot_einsum(sa, sb, dtype, rng):
    a, b = crand(rng, sa, dtype), crand(rng, sb, dtype)
    got = th.jit(lambda a, b: (a @ b, th.dot(a, b), th.matmul(a, b)))(a, b)
    for g in got:
        close(g, a @ b, dtype, rtol=1e-4 if dtype == np.complex64 else None)
    if len(sa) == 2 and len(sb) == 2:
        close(th.jit(lambda a, b: th.einsum("ij,jk->ik", a, b))(a, b), a @ b, dtype, rtol=1e-4)
        close(th.jit(lambda a, b: a.T @ a @ b)(noncontiguous(a), b), a.T @ a @ b, dtype, rtol=1e-4)


# ------------------------------------------------------------------ derivatives (JAX's convention)
def _fd(f, z, h=1e-6):
    """(df/dx, df/dy) of a real-valued f by central differences in the real and imaginary directions."""
    dx = (f(z + h) - f(z - h)) / (2 * h)
    dy = (f(z + 1j * h) - f(z - 1j * h)) / (2 * h)
    return dx, dy


REAL_FNS = [
    (lambda z: th.abs(z) ** 2, lambda z: np.abs(z) ** 2, lambda z: 2 * np.conj(z)),
    (th.abs, np.abs, lambda z: np.conj(z) / np.abs(z)),
    (lambda z: th.real(z * z), lambda z: np.real(z * z), None),
    (lambda z: th.imag(th.exp(z)), lambda z: np.imag(np.exp(z)), None),
    (th.angle, np.angle, None),
    (lambda z: th.real(th.conj(z) * (2 + 1j)), lambda z: np.real(np.conj(z) * (2 + 1j)), lambda z: 2 - 1j + 0 * z),
    (lambda z: th.abs(th.sin(z) / z), lambda z: np.abs(np.sin(z) / z), None),
]


@pytest.mark.parametrize("k", range(len(REAL_FNS)))
def test_grad_of_real_function_is_jax_convention(k):
    """grad of a real f of z = x + iy is df/dx - i df/dy (JAX's: 2 conj(z) for |z|^2)."""
    fn, ref, formula = REAL_FNS[k]
    for z in (np.complex128(1 + 2j), np.complex128(-0.7 + 0.3j)):
        dx, dy = _fd(ref, z)
        g = th.grad(fn)(z)
        assert np.asarray(g).dtype == np.complex128
        np.testing.assert_allclose(g, dx - 1j * dy, rtol=1e-6, atol=1e-8)
        if formula is not None:
            np.testing.assert_allclose(g, formula(z), rtol=1e-12)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_grad_of_array_functions(dtype, rng):
    z = crand(rng, (2, 3), dtype)
    w = crand(rng, (3, 2), dtype)
    ref = lambda z: np.sum(np.abs(z @ w + z[:, :2].T.sum(0)) ** 2)  # noqa: E731
    g = np.asarray(th.grad(lambda z: th.sum(th.abs(z @ w + z[:, :2].T.sum(0)) ** 2))(z))
    assert g.dtype == dtype
    z64 = z.astype(np.complex128)
    want = np.zeros(z.shape, np.complex128)
    for i in np.ndindex(z.shape):
        e = np.zeros(z.shape)
        e[i] = 1e-6
        want[i] = (ref(z64 + e) - ref(z64 - e)) / 2e-6 - 1j * (ref(z64 + 1j * e) - ref(z64 - 1j * e)) / 2e-6
    np.testing.assert_allclose(g, want, rtol=1e-3 if dtype == np.complex64 else 1e-6, atol=1e-3)


HOLOMORPHIC = [
    (th.exp, np.exp), (lambda z: z ** 3, lambda z: 3 * z ** 2), (th.sin, np.cos),
    (lambda z: th.log(z) * z, lambda z: np.log(z) + 1), (lambda z: 1 / z, lambda z: -1 / z ** 2),
    (lambda z: th.tanh(z), lambda z: 1 - np.tanh(z) ** 2), (th.sqrt, lambda z: 0.5 / np.sqrt(z)),
]


@pytest.mark.parametrize("k", range(len(HOLOMORPHIC)))
def test_holomorphic_grad_is_the_complex_derivative(k):
    fn, deriv = HOLOMORPHIC[k]
    for z in (np.complex128(1 + 2j), np.complex64(0.5 - 0.25j)):
        g = th.grad(fn, holomorphic=True)(z)
        assert np.asarray(g).dtype == np.asarray(z).dtype
        np.testing.assert_allclose(g, deriv(z), rtol=1e-5 if z.dtype == np.complex64 else 1e-12)
    val, g = th.value_and_grad(th.exp, holomorphic=True)(np.complex128(1j))
    np.testing.assert_allclose((val, g), (np.exp(1j), np.exp(1j)))


def test_jvp_and_vjp_on_complex():
    z = np.array([1 + 2j, -0.5 + 1j])
    t = np.array([1j, 2 - 1j])
    y, ty = th.jvp(th.exp, (z,), (t,))
    np.testing.assert_allclose(y, np.exp(z))
    np.testing.assert_allclose(ty, np.exp(z) * t)  # holomorphic: f'(z) t
    y, pull = th.vjp(lambda z: z * z, z)
    (ct,) = pull(t)
    np.testing.assert_allclose(ct, 2 * z * t)  # transpose, not adjoint: no conjugation (JAX)
    # a non-holomorphic map: conj's jvp is conj(t), its transpose conj(ct)
    _, tc = th.jvp(th.conj, (z,), (t,))
    np.testing.assert_allclose(tc, np.conj(t))
    (cc,) = th.vjp(th.conj, z)[1](t)
    np.testing.assert_allclose(cc, np.conj(t))


def test_grad_errors_match_jax():
    with pytest.raises(TypeError, match="holomorphic=True"):
        th.grad(th.exp)(np.complex128(1j))  # complex output without holomorphic
    with pytest.raises(TypeError, match="requires inputs with complex dtype"):
        th.grad(lambda x: x * 1j, holomorphic=True)(1.0)
    with pytest.raises(TypeError, match="requires outputs with complex dtype"):
        th.grad(th.abs, holomorphic=True)(np.complex128(1j))


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("fn,name", [
    (lambda z: z < z, "tn.lt"), (lambda z: z >= 1, "tn.ge"), (lambda z: th.maximum(z, z), "tn.maximum"),
    (lambda z: th.floor(z), "tn.floor"), (lambda z: th.max(z), "tn.reduce_max"),
    (lambda z: th.sigmoid(z), "tn.sigmoid"), (lambda z: z // 2, "tn.floor_divide"),
    (lambda z: th.arctan2(z, z), "tn.atan2"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_ops_without_complex_refuse_with_type_error(fn, name):
    z = np.array([1 + 2j, 3j], np.complex64)
    with pytest.raises(TypeError, match=f"{name}.*complex64"):
        th.jit(fn)(z)


def test_vmap_of_complex_ops(rng):
    z = crand(rng, (4, 3), np.complex64)
    f = lambda z: th.sum(th.exp(z) * th.conj(z)) + th.abs(z[0])  # noqa: E731
    got = th.vmap(f)(z)
    want = np.array([np.sum(np.exp(r) * np.conj(r)) + np.abs(r[0]) for r in z])
    close(got, want, np.complex64, rtol=1e-5)


def test_theano_function_takes_and_returns_complex():
    T = th.tensor
    x = T.vector("x", dtype="complex64")
    f = th.function([x], [x * 2, abs(x), x.real, x.conj()])
    z = np.array([1 + 2j, 3j], np.complex64)
    for g, w in zip(f(z), (z * 2, np.abs(z), z.real, z.conj())):
        close(g, w, np.complex64)
    close(f([1 + 2j, 3])[0], np.array([2 + 4j, 6], np.complex64), np.complex64)  # Python numbers
    r = T.vector("r", dtype="float32")
    with pytest.raises(TypeError, match="float32"):
        th.function([r], r * 2)(z)  # complex into a float input: refused (would drop imaginary parts)


def test_aot_refuses_complex_clearly(tmp_path):
    with pytest.raises(NotImplementedError, match="complex64"):
        th.aot.compile(lambda z: z * 2, [np.ones(2, np.complex64)], str(tmp_path / "cx"))


def test_dynamic_shapes_and_arrays_in_and_out():
    f = th.jit(lambda z: (z * 2, th.real(z).sum()), dynamic_shapes=True)
    for n in (3, 5, 0):
        z = (np.arange(n) + 1j).astype(np.complex128)
        got = f(z)
        close(got[0], z * 2, np.complex128)
        close(got[1], z.real.sum(), np.complex128)
    a = th.jit(lambda z: z + 1)(np.ones(2, np.complex64))  # a th.Array of complex64, passed back in
    close(th.jit(lambda z: z * 1j)(a), np.full(2, 2j, np.complex64), np.complex64)


def test_more_numpy_functions_on_complex():
    z = np.array([1 + 2j, 3 - 1j, 0.5j, -1, np.nan + 1j, complex(1, np.inf)], np.complex128)
    f = th.jit(lambda z: (th.isnan(z), th.isinf(z), th.isfinite(z)))
    for g, w in zip(f(z), (np.isnan(z), np.isinf(z), np.isfinite(z))):
        assert_close(g, w)
    w = z[:4]
    got = th.jit(lambda z: (th.vdot(z, z[::-1]), th.linalg.norm(z), th.cumsum(z), th.outer(z, z).mean(0),
                            th.linalg.norm(th.outer(z, z)), th.linalg.norm(z, ord=1)))(w)
    want = (np.vdot(w, w[::-1]), np.linalg.norm(w), np.cumsum(w), np.outer(w, w).mean(0),
            np.linalg.norm(np.outer(w, w)), np.linalg.norm(w, ord=1))
    for g, v in zip(got, want):
        close(g, v, np.complex128)


def test_real_only_functions_refuse_complex_instead_of_dropping_imaginary_parts():
    z = np.array([[1 + 2j, 3], [0.5j, -1]], np.complex128)
    for fn in (th.linalg.inv, th.scipy.special.logsumexp, th.nn.softmax, th.sort, th.sign):
        with pytest.raises(TypeError, match="complex128"):
            th.jit(fn)(z)
    with pytest.warns(np.exceptions.ComplexWarning):  # the user's own cast: NumPy's behaviour
        got = th.jit(lambda z: z.astype(np.float64))(z)
    close(got, z.real, np.complex128)


def test_holomorphic_jacobians_and_hessian():
    z = np.array([1 + 2j, 0.5 - 1j, -0.3j])
    jf = th.jacfwd(th.exp, holomorphic=True)(z)
    np.testing.assert_allclose(jf, np.diag(np.exp(z)), rtol=1e-12)
    jr = th.jacrev(lambda z: z * z[::-1], holomorphic=True)(z)
    want = np.diag(z[::-1]) + np.fliplr(np.diag(z))  # d(z_i z_{n-1-i})/dz_j
    np.testing.assert_allclose(jr, want, rtol=1e-12)
    np.testing.assert_allclose(th.hessian(lambda z: th.sum(z ** 3), holomorphic=True)(z), np.diag(6 * z), rtol=1e-12)
    with pytest.raises(TypeError, match="holomorphic=True"):
        th.jacfwd(th.exp)(z)
    with pytest.raises(TypeError, match="holomorphic=True"):
        th.jacrev(lambda x: x * 1j)(np.ones(2))  # complex outputs of a real function
