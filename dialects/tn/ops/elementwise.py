"""Elementwise ops: one table row per op (NumPy reference, scalar lowering, jvp).

All operands of a tn elementwise op have one type (IRDL enforces it): the frontend inserts
`tn.cast` and `tn.broadcast_to` for NumPy promotion and broadcasting, as JAX's lax does.

    %y = "tn.exp"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %z = "tn.add"(%x, %y) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %b = "tn.lt"(%x, %y) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
    %w = "tn.where"(%b, %x, %y) : (tensor<3xi1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from mlir import ir
from mlir.dialects import arith, complex as cx, math, scf

from .. import lax
from ..batching import elementwise_rule
from ..lowering import LowerCall, elementwise
from ..registry import OPS, Linear, ShapeError, defop
from ..types import TensorSpec

F, I, B, C = "f", "i", "b", "c"  # dtype kinds an op accepts: float, signed int, bool, complex
_KIND = {"f": F, "i": I, "b": B, "c": C}


def _kind(dtype: np.dtype) -> str:
    return _KIND[np.dtype(dtype).kind]


def _const_like(v: ir.Value, value: float) -> ir.Value:
    if _is_float(v):
        return arith.ConstantOp(v.type, ir.FloatAttr.get(v.type, float(value))).result
    return arith.ConstantOp(v.type, ir.IntegerAttr.get(v.type, int(value))).result


def _is_float(v: ir.Value) -> bool:
    return isinstance(v.type, ir.F32Type) or isinstance(v.type, ir.F64Type)


def _same_infer(name: str, kinds: str, result_bool: bool = False):
    def infer(specs: list[TensorSpec]) -> list[TensorSpec]:
        first = specs[0]
        for s in specs[1:]:
            if s != first:
                raise ShapeError(f"operands must have one type, got {first} and {s}")
        if _kind(first.dtype) not in kinds:
            if _kind(first.dtype) == C:  # NumPy/JAX refuse these too (ordering, rounding ...)
                raise ShapeError(f"complex dtypes are not supported (got {first.dtype.name})")
            raise ShapeError(f"dtype {first.dtype.name} is not accepted (kinds: {kinds})")
        return [TensorSpec(first.shape, np.dtype(np.bool_) if result_bool else first.dtype)]

    return infer


def _register(name: str, arity: int, kinds: str, reference: Callable, scalar: Callable,
              jvp: Callable | None, result_bool: bool = False, doc: str = ""):
    names = ["x"] if arity == 1 else ["lhs", "rhs"]
    same = tuple(names) + (() if result_bool else ("out",))
    op = defop(f"tn.{name}", names, same_type=same, doc=doc,
               differentiable=jvp is not None)
    op.def_infer(_same_infer(name, kinds, result_bool))
    op.def_reference(lambda *xs: np.asarray(reference(*xs)))
    if C in kinds:  # complex operands lower through MLIR's complex dialect
        real_scalar, complex_scalar = scalar, COMPLEX_SCALAR[name]

        def scalar(*xs):
            return (complex_scalar if isinstance(xs[0].type, ir.ComplexType) else real_scalar)(*xs)
    op.def_lower(lambda call: [elementwise(call, scalar)])
    op.def_scalar(lambda call, *xs: scalar(*xs))
    if jvp is not None:
        op.def_jvp(jvp)
    return op


# ------------------------------------------------------------------- scalar lowerings
def _neg(x):  # -x
    return arith.NegFOp(x).result if _is_float(x) else arith.SubIOp(_const_like(x, 0), x).result


def _abs(x):
    return math.AbsFOp(x).result if _is_float(x) else math.AbsIOp(x).result


def _sign(x):  # sign(nan) = nan: both compares are false and x passes through
    one, zero, mone = _const_like(x, 1), _const_like(x, 0), _const_like(x, -1)
    if _is_float(x):
        pos = arith.CmpFOp(arith.CmpFPredicate.OGT, x, zero).result
        neg = arith.CmpFOp(arith.CmpFPredicate.OLT, x, zero).result
        return arith.SelectOp(pos, one, arith.SelectOp(neg, mone, x).result).result
    pos = arith.CmpIOp(arith.CmpIPredicate.sgt, x, zero).result
    neg = arith.CmpIOp(arith.CmpIPredicate.slt, x, zero).result
    return arith.SelectOp(pos, one, arith.SelectOp(neg, mone, zero).result).result


# float32 exp without a libm call, so loops over it vectorize (softmax, sigmoid, softplus):
# exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in two parts (Cody-Waite), exp(r)
# by a degree-7 polynomial on |r| <= ln2/2 (Cephes' expf fit), 2^n as two exact powers of two
# (so results that overflow, or fall into denormals, round as they should). Within 2 ulp of
# the correctly rounded value; NaN stays NaN, +-inf give inf and 0. float64 keeps libm's exp.
_EXP_POLY = (5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3,
             1.3981999507e-3, 1.9875691500e-4)
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4


def _pow2(n_i32: ir.Value) -> ir.Value:
    """2^n as f32 for n in [-126, 127], built from its exponent bits."""
    i32 = ir.IntegerType.get_signless(32)
    biased = arith.AddIOp(n_i32, arith.ConstantOp(i32, 127).result).result
    bits = arith.ShLIOp(biased, arith.ConstantOp(i32, 23).result).result
    return arith.BitcastOp(ir.F32Type.get(), bits).result


def _exp(x):
    if not isinstance(x.type, ir.F32Type):
        return math.ExpOp(x).result
    i32 = ir.IntegerType.get_signless(32)
    xc = arith.MinimumFOp(arith.MaximumFOp(x, _const_like(x, -104.0)).result,
                          _const_like(x, 88.8)).result
    n = math.RoundEvenOp(arith.MulFOp(xc, _const_like(x, 1.4426950408889634)).result).result
    r = math.FmaOp(n, _const_like(x, -_LN2_HI), xc).result
    r = math.FmaOp(n, _const_like(x, -_LN2_LO), r).result
    acc = _const_like(x, _EXP_POLY[-1])
    for c in reversed(_EXP_POLY[:-1]):
        acc = math.FmaOp(acc, r, _const_like(x, c)).result
    r2 = arith.MulFOp(r, r).result
    y = arith.AddFOp(math.FmaOp(acc, r2, r).result, _const_like(x, 1.0)).result
    ni = arith.FPToSIOp(i32, n).result
    half = arith.ShRSIOp(ni, arith.ConstantOp(i32, 1).result).result
    rest = arith.SubIOp(ni, half).result
    out = arith.MulFOp(arith.MulFOp(y, _pow2(half)).result, _pow2(rest)).result
    nan = arith.CmpFOp(arith.CmpFPredicate.UNO, x, x).result
    return arith.SelectOp(nan, x, out).result


def _sigmoid(x):  # 1 / (1 + exp(-x)): exp overflows to inf for x << 0 and gives 0, as it should
    one = _const_like(x, 1)
    return arith.DivFOp(one, arith.AddFOp(one, _exp(arith.NegFOp(x).result)).result).result


# float32 tanh as a rational function of x (odd degree-13 numerator over even degree-6
# denominator, the minimax fit Eigen and XLA use, a few ulp from tanhf): plain arithmetic,
# so LLVM vectorizes it, where libm's tanhf is one scalar call per element (an RNN step
# spent more time there than in its matrix-vector product). float64 keeps libm's tanh.
_TANH_CLAMP = 7.90531110763549805  # tanh(x) rounds to +-1 in float32 beyond this
_TANH_NUM = (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
             5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
             -2.76076847742355e-16)
_TANH_DEN = (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
             1.19825839466702e-06)
_TANH_TINY = 0.0004  # below it, tanh(x) = x in float32


def _tanh(x):
    if not isinstance(x.type, ir.F32Type):
        return math.TanhOp(x).result

    def horner(z, coefficients):
        acc = _const_like(z, coefficients[-1])
        for c in reversed(coefficients[:-1]):
            acc = math.FmaOp(acc, z, _const_like(z, c)).result
        return acc

    clamp = _const_like(x, _TANH_CLAMP)
    xc = arith.MinimumFOp(arith.MaximumFOp(x, arith.NegFOp(clamp).result).result, clamp).result
    x2 = arith.MulFOp(xc, xc).result
    p = arith.MulFOp(xc, horner(x2, _TANH_NUM)).result
    q = horner(x2, _TANH_DEN)
    y = arith.DivFOp(p, q).result
    ax = math.AbsFOp(x).result
    tiny = arith.CmpFOp(arith.CmpFPredicate.OLT, ax, _const_like(x, _TANH_TINY)).result
    big = arith.CmpFOp(arith.CmpFPredicate.OGT, ax, _const_like(x, 9.0)).result
    y = arith.SelectOp(big, math.CopySignOp(_const_like(x, 1.0), x).result, y).result
    return arith.SelectOp(tiny, x, y).result


def _softplus(x):  # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), finite for any x
    zero = _const_like(x, 0)
    mx = arith.MaximumFOp(x, zero).result
    e = _exp(arith.NegFOp(math.AbsFOp(x).result).result)
    return arith.AddFOp(mx, _log1p(e)).result


# float32 log without a libm call, so loops over it vectorize (logf was one scalar call per
# element: most of th.random.normal's float32 time, bench/random_draws.py). Cephes' logf:
# x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) = f - f^2/2 + f^3 P(f) for f = m - 1 (P of
# degree 8), plus e ln 2 in two parts (Cody-Waite). Within 2 ulp of the correctly rounded
# value; subnormals are scaled by 2^23 first; log(0) = -inf, log(x < 0) = NaN, log(inf) = inf,
# NaN stays NaN. float64 keeps libm's log.
_LOG_POLY = (3.3333331174e-1, -2.4999993993e-1, 2.0000714765e-1, -1.6668057665e-1,
             1.4249322787e-1, -1.2420140846e-1, 1.1676998740e-1, -1.1514610310e-1,
             7.0376836292e-2)
_F32_MIN_NORMAL = 1.17549435e-38


def _log(x, positive_normal: bool = False):
    """log(x); `positive_normal`: the caller knows x is a normal float32 in (0, inf), so the
    subnormal scaling and the special values are left out (tn.random_normal)."""
    if not isinstance(x.type, ir.F32Type):
        return math.LogOp(x).result
    i32 = ir.IntegerType.get_signless(32)

    def ci(v: int) -> ir.Value:
        return arith.ConstantOp(i32, v).result

    sub = None if positive_normal else \
        arith.CmpFOp(arith.CmpFPredicate.OLT, x, _const_like(x, _F32_MIN_NORMAL)).result
    xs = x if sub is None else arith.SelectOp(sub, arith.MulFOp(x, _const_like(x, 8388608.0)).result, x).result
    bits = arith.BitcastOp(i32, xs).result
    e = arith.SubIOp(arith.ShRUIOp(bits, ci(23)).result, ci(126)).result  # x = m 2^e, m in [1/2, 1)
    if sub is not None:
        e = arith.SubIOp(e, arith.SelectOp(sub, ci(23), ci(0)).result).result
    m = arith.BitcastOp(x.type, arith.OrIOp(arith.AndIOp(bits, ci(0x007FFFFF)).result,
                                            ci(0x3F000000)).result).result
    low = arith.CmpFOp(arith.CmpFPredicate.OLT, m, _const_like(x, 0.707106781186547524)).result
    e = arith.SubIOp(e, arith.ExtUIOp(i32, low).result).result  # m < sqrt(1/2): m -> 2m
    f = arith.SubFOp(arith.SelectOp(low, arith.AddFOp(m, m).result, m).result, _const_like(x, 1.0)).result
    fe = arith.SIToFPOp(x.type, e).result
    acc = _const_like(x, _LOG_POLY[-1])
    for c in reversed(_LOG_POLY[:-1]):
        acc = math.FmaOp(acc, f, _const_like(x, c)).result
    f2 = arith.MulFOp(f, f).result
    y = arith.MulFOp(arith.MulFOp(acc, f).result, f2).result
    y = math.FmaOp(fe, _const_like(x, _LN2_LO), y).result
    y = math.FmaOp(f2, _const_like(x, -0.5), y).result
    out = math.FmaOp(fe, _const_like(x, _LN2_HI), arith.AddFOp(f, y).result).result
    if positive_normal:
        return out
    out = arith.SelectOp(arith.CmpFOp(arith.CmpFPredicate.OEQ, x, _const_like(x, float("inf"))).result,
                         x, out).result
    out = arith.SelectOp(arith.CmpFOp(arith.CmpFPredicate.OEQ, x, _const_like(x, 0.0)).result,
                         _const_like(x, float("-inf")), out).result
    out = arith.SelectOp(arith.CmpFOp(arith.CmpFPredicate.OLT, x, _const_like(x, 0.0)).result,
                         _const_like(x, float("nan")), out).result
    return arith.SelectOp(arith.CmpFOp(arith.CmpFPredicate.UNO, x, x).result, x, out).result


# math.log1p and math.expm1 lower (convert-math-to-llvm) to the naive log(1 + x) and
# exp(x) - 1, which lose every digit for tiny x; these are Kahan's accurate forms.
def _log1p(x):  # u = 1 + x; u == 1 or u == inf: x; else log(u) * (x / (u - 1))
    one, inf = _const_like(x, 1), _const_like(x, float("inf"))
    u = arith.AddFOp(one, x).result
    exact = arith.OrIOp(arith.CmpFOp(arith.CmpFPredicate.OEQ, u, one).result,
                        arith.CmpFOp(arith.CmpFPredicate.OEQ, u, inf).result).result
    scaled = arith.MulFOp(math.LogOp(u).result,
                          arith.DivFOp(x, arith.SubFOp(u, one).result).result).result
    return arith.SelectOp(exact, x, scaled).result


def _expm1(x):  # u = exp(x); u == 1: x; u - 1 == -1: -1; u == inf: inf; else (u - 1) * (x / log(u))
    one, mone, inf = _const_like(x, 1), _const_like(x, -1), _const_like(x, float("inf"))
    u = math.ExpOp(x).result
    um1 = arith.SubFOp(u, one).result
    scaled = arith.MulFOp(um1, arith.DivFOp(x, math.LogOp(u).result).result).result
    out = arith.SelectOp(arith.CmpFOp(arith.CmpFPredicate.OEQ, u, inf).result, u, scaled).result
    out = arith.SelectOp(arith.CmpFOp(arith.CmpFPredicate.OEQ, um1, mone).result, mone, out).result
    return arith.SelectOp(arith.CmpFOp(arith.CmpFPredicate.OEQ, u, one).result, x, out).result


def _relu(x):  # max(x, 0), NaN propagates as in np.maximum
    zero = _const_like(x, 0)
    return arith.MaximumFOp(x, zero).result if _is_float(x) else arith.MaxSIOp(x, zero).result


def _square(x):
    return arith.MulFOp(x, x).result if _is_float(x) else arith.MulIOp(x, x).result


def _not(x):
    return arith.XOrIOp(x, _const_like(x, 1)).result


def _isnan(x):
    return arith.CmpFOp(arith.CmpFPredicate.UNO, x, x).result


def _fi(fop, iop):
    return lambda a, b: (fop if _is_float(a) else iop)(a, b).result


def _minmax(fop, bop, iop):
    """max/min: NaN-propagating for floats (as NumPy), or/and for bools, signed for ints."""
    def build(a, b):
        if _is_float(a):
            return fop(a, b).result
        return (bop if ir.IntegerType(a.type).width == 1 else iop)(a, b).result
    return build


def _cmp(fpred, ipred, upred):
    def build(a, b):
        if _is_float(a):
            return arith.CmpFOp(fpred, a, b).result
        width = ir.IntegerType(a.type).width
        return arith.CmpIOp(upred if width == 1 else ipred, a, b).result
    return build


def _safe_divisor(b):
    """b with 0 and -1 replaced by 1: LLVM's sdiv traps on x/0 and INT_MIN/-1."""
    zero, mone, one = _const_like(b, 0), _const_like(b, -1), _const_like(b, 1)
    bad = arith.OrIOp(arith.CmpIOp(arith.CmpIPredicate.eq, b, zero).result,
                      arith.CmpIOp(arith.CmpIPredicate.eq, b, mone).result).result
    return arith.SelectOp(bad, one, b).result


def _int_divmod(a, b):
    """NumPy floor division and modulo for ints; x // 0 = x % 0 = 0 as NumPy returns."""
    zero, mone = _const_like(b, 0), _const_like(b, -1)
    bs = _safe_divisor(b)
    q = arith.DivSIOp(a, bs).result
    r = arith.RemSIOp(a, bs).result
    # b == -1: q = -a, r = 0 (computed without the trapping division)
    is_m1 = arith.CmpIOp(arith.CmpIPredicate.eq, b, mone).result
    q = arith.SelectOp(is_m1, arith.SubIOp(zero, a).result, q).result
    r = arith.SelectOp(is_m1, zero, r).result
    # floor: when r != 0 and sign(r) != sign(b), q -= 1 and r += b
    rnz = arith.CmpIOp(arith.CmpIPredicate.ne, r, zero).result
    sdiff = arith.XOrIOp(arith.CmpIOp(arith.CmpIPredicate.slt, r, zero).result,
                         arith.CmpIOp(arith.CmpIPredicate.slt, b, zero).result).result
    fix = arith.AndIOp(rnz, sdiff).result
    q = arith.SelectOp(fix, arith.AddIOp(q, mone).result, q).result
    r = arith.SelectOp(fix, arith.AddIOp(r, b).result, r).result
    bz = arith.CmpIOp(arith.CmpIPredicate.eq, b, zero).result
    return arith.SelectOp(bz, zero, q).result, arith.SelectOp(bz, zero, r).result


def _float_divmod(a, b):
    """NumPy's npy_divmod for floats (so 1 // 0.1 == 9.0 exactly as NumPy says)."""
    zero, one, half = _const_like(a, 0), _const_like(a, 1), _const_like(a, 0.5)
    mod = arith.RemFOp(a, b).result
    div = arith.DivFOp(arith.SubFOp(a, mod).result, b).result
    mod_nz = arith.CmpFOp(arith.CmpFPredicate.UNE, mod, zero).result
    sdiff = arith.XOrIOp(arith.CmpFOp(arith.CmpFPredicate.OLT, b, zero).result,
                         arith.CmpFOp(arith.CmpFPredicate.OLT, mod, zero).result).result
    fix = arith.AndIOp(mod_nz, sdiff).result
    mod = arith.SelectOp(fix, arith.AddFOp(mod, b).result, mod).result
    div = arith.SelectOp(fix, arith.SubFOp(div, one).result, div).result
    mod = arith.SelectOp(mod_nz, mod, math.CopySignOp(zero, b).result).result
    fl = math.FloorOp(div).result
    up = arith.CmpFOp(arith.CmpFPredicate.OGT, arith.SubFOp(div, fl).result, half).result
    fl = arith.SelectOp(up, arith.AddFOp(fl, one).result, fl).result
    div_nz = arith.CmpFOp(arith.CmpFPredicate.UNE, div, zero).result
    q = arith.SelectOp(div_nz, fl, math.CopySignOp(zero, arith.DivFOp(a, b).result).result).result
    b_zero = arith.CmpFOp(arith.CmpFPredicate.OEQ, b, zero).result
    q = arith.SelectOp(b_zero, arith.DivFOp(a, b).result, q).result
    return q, mod


def _floordiv(a, b):
    return (_float_divmod if _is_float(a) else _int_divmod)(a, b)[0]


def _mod(a, b):
    return (_float_divmod if _is_float(a) else _int_divmod)(a, b)[1]


def _pow(a, b):
    return math.PowFOp(a, b).result if _is_float(a) else _ipow(a, b)


# Integer a ** b by square-and-multiply, wrapping on overflow as NumPy does. Not math.ipowi:
# the pipeline cannot lower it, and upstream's convert-math-to-funcs divides 1 by 0 (SIGFPE)
# for 0 ** -n. Negative exponents follow JAX/XLA: 1 ** -n = 1, (-1) ** -n = +-1, others 0
# (NumPy raises instead; numpy_api.power refuses concrete negative exponents the same way).
def _ipow(a, b):
    t = a.type
    zero, one = _const_like(a, 0), _const_like(a, 1)
    negative = arith.CmpIOp(arith.CmpIPredicate.slt, b, zero).result
    loop = scf.WhileOp([t, t, t], [one, a, arith.SelectOp(negative, zero, b).result])
    before = loop.before.blocks.append(t, t, t)
    with ir.InsertionPoint(before):  # while e != 0
        acc, base, e = before.arguments
        scf.ConditionOp(arith.CmpIOp(arith.CmpIPredicate.ne, e, zero).result, [acc, base, e])
    after = loop.after.blocks.append(t, t, t)
    with ir.InsertionPoint(after):  # acc *= base if e odd; base *= base; e >>= 1
        acc, base, e = after.arguments
        odd = arith.CmpIOp(arith.CmpIPredicate.ne, arith.AndIOp(e, one).result, zero).result
        acc = arith.SelectOp(odd, arith.MulIOp(acc, base).result, acc).result
        scf.YieldOp([acc, arith.MulIOp(base, base).result, arith.ShRUIOp(e, one).result])
    b_odd = arith.CmpIOp(arith.CmpIPredicate.ne, arith.AndIOp(b, one).result, zero).result
    minus_one = arith.SelectOp(b_odd, _const_like(a, -1), one).result  # (-1) ** b
    inverse = arith.SelectOp(arith.CmpIOp(arith.CmpIPredicate.eq, a, one).result, one,
                             arith.SelectOp(arith.CmpIOp(arith.CmpIPredicate.eq, a, _const_like(a, -1)).result,
                                            minus_one, zero).result).result
    return arith.SelectOp(negative, inverse, loop.results[0]).result


def _np_floordiv(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.floor_divide(a, b)


def _np_mod(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mod(a, b)


def _np_pow(a, b):
    if a.dtype.kind == "i":
        return np.power(a, np.maximum(b, 0)) * (b >= 0) + (b < 0) * ((a == 1) | ((a == -1) & (b % 2 == 0))) - (b < 0) * ((a == -1) & (b % 2 != 0))
    with np.errstate(all="ignore"):
        return np.power(a, b)


_TWO_OVER_SQRT_PI = 1.1283791670955126


def _special(name: str):
    """scipy.special's function, imported when the reference first runs (scipy is heavy)."""
    import scipy.special

    fn = getattr(scipy.special, name)
    return lambda x: fn(x).astype(x.dtype)


def _quiet(fn):
    def run(*xs):
        with np.errstate(all="ignore"):
            return fn(*xs)
    return run


def _sigmoid_np(x):
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-x))).astype(x.dtype)


# ------------------------------------------------------------------- jvp rules
# Unary: jvp(primals, tangents, outs) with x = primals[0], t = tangents[0], y = outs[0].
def _u(fn):
    def jvp(primals, tangents, outs):
        (t,) = tangents
        return [None if t is None else fn(primals[0], t, outs[0])]
    return jvp


def _b(fa, fb):
    def jvp(primals, tangents, outs):
        a, b = primals
        ta, tb = tangents
        y = outs[0]
        parts = [f(a, b, y, t) for f, t in ((fa, ta), (fb, tb)) if t is not None]
        if not parts:
            return [None]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return [total]
    return jvp


# Scalar lowerings of the ops that take complex operands (kinds with "c"): the complex
# dialect's ops, which convert-complex-to-standard expands to arith/math on the two parts.
COMPLEX_SCALAR: dict[str, Callable] = {
    "neg": lambda x: cx.NegOp(x).result, "exp": lambda x: cx.ExpOp(x).result,
    "expm1": lambda x: cx.Expm1Op(x).result, "log": lambda x: cx.LogOp(x).result,
    "log1p": lambda x: cx.Log1pOp(x).result, "sqrt": lambda x: cx.SqrtOp(x).result,
    "rsqrt": lambda x: cx.RsqrtOp(x).result, "square": lambda x: cx.MulOp(x, x).result,
    "tanh": lambda x: cx.TanhOp(x).result, "sin": lambda x: cx.SinOp(x).result,
    "cos": lambda x: cx.CosOp(x).result, "tan": lambda x: cx.TanOp(x).result,
    "add": lambda a, b: cx.AddOp(a, b).result, "sub": lambda a, b: cx.SubOp(a, b).result,
    "mul": lambda a, b: cx.MulOp(a, b).result, "div": lambda a, b: cx.DivOp(a, b).result,
    "pow": lambda a, b: cx.PowOp(a, b).result,
    "eq": lambda a, b: cx.EqualOp(a, b).result, "ne": lambda a, b: cx.NotEqualOp(a, b).result,
}

# (name, kinds, NumPy reference, scalar lowering, jvp)
UNARY = [
    ("neg", "fic", np.negative, _neg, _u(lambda x, t, y: -t)),
    ("abs", "fi", np.abs, _abs, _u(lambda x, t, y: t * lax.sign(x))),
    ("sign", "fi", np.sign, _sign, _u(lambda x, t, y: lax.zeros_like(t))),
    ("exp", "fc", np.exp, _exp, _u(lambda x, t, y: t * y)),
    ("expm1", "fc", np.expm1, _expm1, _u(lambda x, t, y: t * (y + 1))),
    ("log", "fc", _quiet(np.log), _log, _u(lambda x, t, y: t / x)),
    ("log1p", "fc", _quiet(np.log1p), _log1p, _u(lambda x, t, y: t / (x + 1))),
    ("sqrt", "fc", _quiet(np.sqrt), lambda x: math.SqrtOp(x).result, _u(lambda x, t, y: t / (y * 2))),
    ("rsqrt", "fc", _quiet(lambda x: 1 / np.sqrt(x)), lambda x: math.RsqrtOp(x).result,
     _u(lambda x, t, y: t * y * y * y * -0.5)),
    ("square", "fic", np.square, _square, _u(lambda x, t, y: t * x * 2)),
    ("tanh", "fc", np.tanh, _tanh, _u(lambda x, t, y: t * (1 - y * y))),
    ("sigmoid", "f", _sigmoid_np, _sigmoid, _u(lambda x, t, y: t * y * (1 - y))),
    ("softplus", "f", lambda x: np.logaddexp(np.zeros((), x.dtype), x), _softplus,
     _u(lambda x, t, y: t * lax.sigmoid(x))),
    ("relu", "fi", lambda x: np.maximum(x, 0).astype(x.dtype), _relu,
     _u(lambda x, t, y: lax.where(x > 0, t, lax.zeros_like(t)))),
    ("sin", "fc", np.sin, lambda x: math.SinOp(x).result, _u(lambda x, t, y: t * lax.cos(x))),
    ("cos", "fc", np.cos, lambda x: math.CosOp(x).result, _u(lambda x, t, y: -t * lax.sin(x))),
    ("floor", "f", np.floor, lambda x: math.FloorOp(x).result, _u(lambda x, t, y: lax.zeros_like(t))),
    ("ceil", "f", np.ceil, lambda x: math.CeilOp(x).result, _u(lambda x, t, y: lax.zeros_like(t))),
    ("round", "f", np.round, lambda x: math.RoundEvenOp(x).result, _u(lambda x, t, y: lax.zeros_like(t))),
    ("logical_not", "b", np.logical_not, _not, None),
    # trigonometric, hyperbolic and error functions (issue 20): math ops, lowered to libm
    ("tan", "fc", np.tan, lambda x: math.TanOp(x).result, _u(lambda x, t, y: t * (y * y + 1))),
    ("asin", "f", _quiet(np.arcsin), lambda x: math.AsinOp(x).result,
     _u(lambda x, t, y: t * lax.rsqrt(1 - x * x))),
    ("acos", "f", _quiet(np.arccos), lambda x: math.AcosOp(x).result,
     _u(lambda x, t, y: -t * lax.rsqrt(1 - x * x))),
    ("atan", "f", np.arctan, lambda x: math.AtanOp(x).result, _u(lambda x, t, y: t / (x * x + 1))),
    ("sinh", "f", _quiet(np.sinh), lambda x: math.SinhOp(x).result, _u(lambda x, t, y: t * lax.cosh(x))),
    ("cosh", "f", _quiet(np.cosh), lambda x: math.CoshOp(x).result, _u(lambda x, t, y: t * lax.sinh(x))),
    ("asinh", "f", np.arcsinh, lambda x: math.AsinhOp(x).result,
     _u(lambda x, t, y: t * lax.rsqrt(x * x + 1))),
    ("acosh", "f", _quiet(np.arccosh), lambda x: math.AcoshOp(x).result,
     _u(lambda x, t, y: t * lax.rsqrt(x * x - 1))),
    ("atanh", "f", _quiet(np.arctanh), lambda x: math.AtanhOp(x).result, _u(lambda x, t, y: t / (1 - x * x))),
    ("erf", "f", lambda x: _special("erf")(x), lambda x: math.ErfOp(x).result,
     _u(lambda x, t, y: t * lax.exp(-(x * x)) * _TWO_OVER_SQRT_PI)),
    ("erfc", "f", lambda x: _special("erfc")(x), lambda x: math.ErfcOp(x).result,
     _u(lambda x, t, y: t * lax.exp(-(x * x)) * -_TWO_OVER_SQRT_PI)),
]

BINARY = [
    ("add", "fic", np.add, _fi(arith.AddFOp, arith.AddIOp), _b(lambda a, b, y, t: t, lambda a, b, y, t: t)),
    ("sub", "fic", np.subtract, _fi(arith.SubFOp, arith.SubIOp), _b(lambda a, b, y, t: t, lambda a, b, y, t: -t)),
    ("mul", "fic", np.multiply, _fi(arith.MulFOp, arith.MulIOp), _b(lambda a, b, y, t: t * b, lambda a, b, y, t: a * t)),
    ("div", "fc", _quiet(np.true_divide), lambda a, b: arith.DivFOp(a, b).result,
     _b(lambda a, b, y, t: t / b, lambda a, b, y, t: -t * y / b)),
    ("pow", "fic", _np_pow, _pow,
     _b(lambda a, b, y, t: t * b * a ** (b - 1),
        lambda a, b, y, t: t * y * lax.log(lax.where(a > 0, a, lax.ones_like(a))))),
    ("maximum", "fib", np.maximum, _minmax(arith.MaximumFOp, arith.OrIOp, arith.MaxSIOp),
     _b(lambda a, b, y, t: lax.where(a >= b, t, lax.zeros_like(t)),
        lambda a, b, y, t: lax.where(a >= b, lax.zeros_like(t), t))),
    ("minimum", "fib", np.minimum, _minmax(arith.MinimumFOp, arith.AndIOp, arith.MinSIOp),
     _b(lambda a, b, y, t: lax.where(a <= b, t, lax.zeros_like(t)),
        lambda a, b, y, t: lax.where(a <= b, lax.zeros_like(t), t))),
    ("floor_divide", "fi", _np_floordiv, _floordiv, _b(lambda a, b, y, t: lax.zeros_like(t),
                                                        lambda a, b, y, t: lax.zeros_like(t))),
    ("mod", "fi", _np_mod, _mod, _b(lambda a, b, y, t: t, lambda a, b, y, t: -t * lax.floor_divide(a, b))),
    ("atan2", "f", np.arctan2, lambda a, b: math.Atan2Op(a, b).result,  # d atan2(a, b) = (b da - a db) / (a² + b²)
     _b(lambda a, b, y, t: t * b / (a * a + b * b), lambda a, b, y, t: -t * a / (a * a + b * b))),
    ("logical_and", "b", np.logical_and, lambda a, b: arith.AndIOp(a, b).result, None),
    ("logical_or", "b", np.logical_or, lambda a, b: arith.OrIOp(a, b).result, None),
    ("logical_xor", "b", np.logical_xor, lambda a, b: arith.XOrIOp(a, b).result, None),
]

P = arith.CmpFPredicate
Q = arith.CmpIPredicate
COMPARE = [
    ("eq", np.equal, _cmp(P.OEQ, Q.eq, Q.eq)),
    ("ne", np.not_equal, _cmp(P.UNE, Q.ne, Q.ne)),
    ("lt", np.less, _cmp(P.OLT, Q.slt, Q.ult)),
    ("le", np.less_equal, _cmp(P.OLE, Q.sle, Q.ule)),
    ("gt", np.greater, _cmp(P.OGT, Q.sgt, Q.ugt)),
    ("ge", np.greater_equal, _cmp(P.OGE, Q.sge, Q.uge)),
]

for _name, _kinds, _ref, _scalar, _jvp in UNARY:
    _register(_name, 1, _kinds, _ref, _scalar, _jvp)
_register("isnan", 1, "f", np.isnan, _isnan, None, result_bool=True)
for _name, _kinds, _ref, _scalar, _jvp in BINARY:
    _register(_name, 2, _kinds, _ref, _scalar, _jvp)
for _name, _ref, _scalar in COMPARE:
    _register(_name, 2, "fibc" if _name in ("eq", "ne") else "fib", _ref, _scalar, None, result_bool=True)


# ------------------------------------------------------------------- tn.where
where = defop("tn.where", ["cond", "lhs", "rhs"], same_type=("lhs", "rhs", "out"),
              doc="cond ? lhs : rhs elementwise; all three have one shape, cond is i1.")


@where.def_infer
def _where_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    c, a, b = specs
    if c.dtype != np.bool_:
        raise ShapeError(f"condition must be bool, got {c.dtype.name}")
    if a != b or c.shape != a.shape:
        raise ShapeError(f"condition and branches must share one shape, got {c}, {a}, {b}")
    return [a]


where.def_reference(lambda c, a, b: np.where(c, a, b))
where.def_lower(lambda call: [elementwise(call, lambda c, a, b: arith.SelectOp(c, a, b).result)])
where.def_scalar(lambda call, c, a, b: arith.SelectOp(c, a, b).result)


@where.def_jvp
def _where_jvp(primals, tangents, outs):
    c = primals[0]
    _, ta, tb = tangents
    if ta is None and tb is None:
        return [None]
    ta = lax.zeros_like(outs[0]) if ta is None else ta
    tb = lax.zeros_like(outs[0]) if tb is None else tb
    return [lax.where(c, ta, tb)]


# ------------------------------------------------------------------- transpose rules
# Reverse mode transposes the linear ops that jvp rules emit: a `Linear` slot marks the
# operand the op is linear in; the other operand is a known lax.Value.
def _lin(p) -> bool:
    return isinstance(p, Linear)


def _add_t(cts, primals):  # ct -> (ct, ct)
    (ct,) = cts
    return [ct if _lin(p) else None for p in primals]


def _sub_t(cts, primals):  # ct -> (ct, -ct)
    (ct,) = cts
    a, b = primals
    return [ct if _lin(a) else None, -ct if _lin(b) else None]


def _neg_t(cts, primals):  # ct -> -ct
    return [-cts[0]]


def _mul_t(cts, primals):  # d(a*b) linear in one side: ct*b or a*ct
    (ct,) = cts
    a, b = primals
    if _lin(a) and _lin(b):
        raise TypeError("tn.mul is not linear in both operands")
    return [ct * b if _lin(a) else None, a * ct if _lin(b) else None]


def _div_t(cts, primals):  # a/b linear in a only: ct/b
    (ct,) = cts
    a, b = primals
    if _lin(b):
        raise TypeError("tn.div is not linear in its divisor")
    return [ct / b, None]


def _where_t(cts, primals):  # where(c, a, b): ct to the chosen branch
    (ct,) = cts
    c, a, b = primals
    zero = lax.zeros_like(ct)
    return [None, lax.where(c, ct, zero) if _lin(a) else None, lax.where(c, zero, ct) if _lin(b) else None]


OPS["tn.add"].def_transpose(_add_t)
OPS["tn.sub"].def_transpose(_sub_t)
OPS["tn.neg"].def_transpose(_neg_t)
OPS["tn.mul"].def_transpose(_mul_t)
OPS["tn.div"].def_transpose(_div_t)
where.def_transpose(_where_t)


# ------------------------------------------------------------------- batching rules (vmap)
# Elementwise ops batch as themselves: an unbatched operand is broadcast over the examples
# (the operands of one op share one type).
for _row in UNARY + BINARY + COMPARE + [("isnan",), ("where",)]:
    OPS[f"tn.{_row[0]}"].def_batch(elementwise_rule(f"tn.{_row[0]}"))
