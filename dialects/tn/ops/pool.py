"""2-D max pooling of NCHW images, and the two linear ops its derivatives are made of.

    %y = "tn.max_pool2d"(%x) {window = array<i64: 2, 2>, strides = array<i64: 2, 2>,
           padding = array<i64: 0, 0, 0, 0>} : (tensor<500x20x24x24xf32>) -> tensor<500x20x12x12xf32>
    %t = "tn.max_pool2d_select"(%x, %dx) {...} : (N,C,H,W), (N,C,H,W) -> (N,C,OH,OW)
    %g = "tn.max_pool2d_scatter"(%x, %dy) {...} : (N,C,H,W), (N,C,OH,OW) -> (N,C,H,W)

y[n, c, p, q] = max_{i,j} xp[n, c, p*s0 + i, q*s1 + j], xp = x with `padding` (lo_h, hi_h, lo_w,
hi_w) of -inf (a padded position never wins), OH = (H + lo_h + hi_h - kh) // s0 + 1. Every
window holds at least one real element (padding < window, as Theano and cuDNN require).
select(x, t) reads t at each window's argmax of x, the first maximum in row-major window order
(PyTorch's and JAX's choice; Theano routed to every tie): the jvp of max pooling. scatter(x, g)
adds each g into its window's argmax position: select's transpose, and so the gradient, which
routes to the argmax. Both are linear in their second operand and transpose into each other.
Sum and average pooling have no op: they are a convolution with a ones filter (frontend).
Dynamic dims: N and C (sized from x at run time); spatial dims must be static.
Lowering: windows of at most MAX_TAPS taps are one parallel generic over the output reading
each tap as a strided slice of the -inf padded input (larger ones: linalg.pooling_nchw_max);
select is a two-result generic (running max, value there); scatter finds the argmax code per
window, then, for windows that tile x (stride = window, no padding), writes dx in one pass
over its (N, C, OH, kh, OW, kw) view, else adds g into one strided slab of the padded
gradient per tap.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, linalg, tensor

from .. import batching as vb
from .. import lax
from ..lowering import LowerCall, dim_value, generic, identity_map, linalg_index
from ..registry import Linear, ShapeError, defop
from ..types import TensorSpec
from . import window_lower as wl

ATTRS = {"window": "ints", "strides": "ints", "padding": "ints"}
# the argmax codes i*kw + j of max pooling's gradient: int32, as wide as a float32 lane (with
# int64 codes the scatter's compares ran 4 lanes wide against 8 of its values, and the codes
# were twice the bytes of the images' maps)
CODE = np.dtype(np.int32)


def _code_type() -> ir.IntegerType:
    return ir.IntegerType.get_signless(CODE.itemsize * 8)


def _out_hw(x: TensorSpec, window, strides, padding) -> tuple[int, int]:
    if len(window) != 2 or any(k < 1 for k in window):
        raise ShapeError(f"window {tuple(window)} must be two ints >= 1")
    if len(strides) != 2 or any(s < 1 for s in strides):
        raise ShapeError(f"strides {tuple(strides)} must be two ints >= 1")
    if len(padding) != 4 or any(not 0 <= p < window[a // 2] for a, p in enumerate(padding)):
        raise ShapeError(f"padding {tuple(padding)} must be four ints in [0, window) (lo_h, hi_h, lo_w, hi_w)")
    if x.ndim != 4 or x.dtype.kind != "f":
        raise ShapeError(f"the input must be a 4-D float NCHW tensor, got {x}")
    if None in x.shape[2:]:
        raise NotImplementedError(f"pooling over dynamic spatial dims ({x}): compile per shape")
    out = []
    for a in range(2):
        n = x.shape[2 + a] + padding[2 * a] + padding[2 * a + 1]
        if n < window[a]:
            raise ShapeError(f"the window {tuple(window)} is larger than the padded input "
                             f"({x.shape[2 + a]} + {padding[2 * a] + padding[2 * a + 1]} along axis {a + 2})")
        out.append((n - window[a]) // strides[a] + 1)
    return out[0], out[1]


def _pooled(x: TensorSpec, window, strides, padding) -> TensorSpec:
    return TensorSpec(x.shape[:2] + _out_hw(x, window, strides, padding), x.dtype)


def _same(a: TensorSpec, b: TensorSpec, what: str) -> None:
    if a.dtype != b.dtype or any(p != q and p is not None and q is not None for p, q in zip(a.shape, b.shape)) \
            or a.ndim != b.ndim:
        raise ShapeError(f"{what}: expected {a}, got {b}")


# ---------------------------------------------------------------- NumPy references
def _windows_np(x: np.ndarray, window, strides, padding, fill: float) -> np.ndarray:
    """(N, C, OH, OW, kh*kw): each window's elements in row-major order."""
    lo_h, hi_h, lo_w, hi_w = padding
    xp = np.pad(x, ((0, 0), (0, 0), (lo_h, hi_h), (lo_w, hi_w)), constant_values=fill)
    oh, ow = _out_hw(TensorSpec(x.shape, x.dtype), window, strides, padding)
    (s0, s1), (kh, kw) = strides, window
    taps = [xp[:, :, i:i + s0 * (oh - 1) + 1:s0, j:j + s1 * (ow - 1) + 1:s1] for i in range(kh) for j in range(kw)]
    return np.stack(taps, axis=-1)


def max_pool2d_np(x: np.ndarray, window, strides, padding) -> np.ndarray:
    return _windows_np(x, window, strides, padding, -np.inf).max(axis=-1)


def _argmax_np(x: np.ndarray, window, strides, padding) -> np.ndarray:
    return np.argmax(_windows_np(x, window, strides, padding, -np.inf), axis=-1)


def select_np(x: np.ndarray, t: np.ndarray, window, strides, padding) -> np.ndarray:
    idx = _argmax_np(x, window, strides, padding)
    return np.take_along_axis(_windows_np(t, window, strides, padding, 0), idx[..., None], -1)[..., 0]


def scatter_np(x: np.ndarray, g: np.ndarray, window, strides, padding) -> np.ndarray:
    idx = _argmax_np(x, window, strides, padding)
    lo_h, hi_h, lo_w, hi_w = padding
    n, c, h, w = x.shape
    dxp = np.zeros((n, c, h + lo_h + hi_h, w + lo_w + hi_w), g.dtype)
    oh, ow = g.shape[2:]
    (s0, s1), (kh, kw) = strides, window
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + s0 * (oh - 1) + 1:s0, j:j + s1 * (ow - 1) + 1:s1] += np.where(idx == i * kw + j, g, 0)
    return dxp[:, :, lo_h:lo_h + h, lo_w:lo_w + w]


# ---------------------------------------------------------------- lowering helpers
def _reify_x(call: LowerCall) -> list[list]:
    x = call.operands[0]
    spec = call.out
    return [[n if n is not None else dim_value(x, i) for i, n in enumerate(spec.shape)]]


def _window_map(s: Sequence[int], offset: Sequence[int] = (0, 0)) -> ir.AffineMap:
    """(n, c, p, q, i, j) -> (n, c, p*s0 + i, q*s1 + j)."""
    e = [ir.AffineDimExpr.get(k) for k in range(6)]
    return ir.AffineMap.get(6, 0, [e[0], e[1], e[2] * s[0] + e[4], e[3] * s[1] + e[5]])


def _out_map() -> ir.AffineMap:
    e = [ir.AffineDimExpr.get(k) for k in range(6)]
    return ir.AffineMap.get(6, 0, e[:4])


def _tap_map() -> ir.AffineMap:
    e = [ir.AffineDimExpr.get(k) for k in range(6)]
    return ir.AffineMap.get(6, 0, e[4:])


def _argmax_generic(call: LowerCall, x: ir.Value, xd: list, extra: ir.Value | None) -> list[ir.Value]:
    """Per window: the running max and either the value of `extra` there (small windows:
    _argmax_taps) or the tap code i*kw+j. The codes keep the taps as reduction dims: as a
    parallel generic, elementwise fusion folded them into scatter's pass over dx, which then
    found each window's argmax again for every tap (scalar: 17% of LeNet-5's step)."""
    window, strides = call.attrs["window"], call.attrs["strides"]
    dt = call.in_specs[0].dtype
    xp, _ = wl.pad_spatial(x, xd, call.attrs["padding"], dt, -np.inf)
    oh, ow = _out_hw(call.in_specs[0], window, strides, call.attrs["padding"])
    odims = [xd[0], xd[1], oh, ow]
    kind = dt if extra is not None else CODE
    init = wl.full(odims, kind, 0 if extra is not None else -1)
    ins, in_dt, maps = [xp], [dt], [_window_map(strides)]
    if extra is not None:
        ep, _ = wl.pad_spatial(extra, xd, call.attrs["padding"], dt)
        ins, in_dt, maps = ins + [ep], in_dt + [dt], maps + [_window_map(strides)]
    if extra is not None and window[0] * window[1] <= MAX_TAPS:
        return _argmax_taps(xp, ep, odims, dt, window, strides, kind)
    ins, in_dt, maps = ins + [wl.full(list(window), dt, 0)], in_dt + [dt], maps + [_tap_map()]
    kw = window[1]

    def body(*args):
        xv, m, v = args[0], args[-2], args[-1]
        gt = arith.CmpFOp(arith.CmpFPredicate.OGT, xv, m).result
        if extra is not None:
            cand = args[1]
        else:
            code = arith.AddIOp(arith.MulIOp(linalg_index(4), arith.ConstantOp(ir.IndexType.get(), kw).result).result,
                                linalg_index(5)).result
            cand = arith.IndexCastOp(_code_type(), code).result
        return [arith.SelectOp(gt, xv, m).result, arith.SelectOp(gt, cand, v).result]

    return generic(ins, in_dt, maps, [wl.full(odims, dt, -np.inf), init], [dt, kind], [_out_map()] * 2,
                   ["parallel"] * 4 + ["reduction"] * 2, body)


def _argmax_taps(xp: ir.Value, ep: ir.Value | None, odims: list, dt: np.dtype, window: Sequence[int],
                 strides: Sequence[int], kind: np.dtype) -> list[ir.Value]:
    """_argmax_generic for small windows: each tap a strided slice of xp (and of ep) read as an
    operand of one parallel generic, the running max and its code or value carried from tap to
    tap in registers, the same compares in the same order (the first maximum wins; -inf and
    NaN never do). The generic with the taps as reduction dims keeps both in memory, a load
    and a store per tap."""
    steps = [1, 1, strides[0], strides[1]]
    at = [(i, j) for i in range(window[0]) for j in range(window[1])]
    taps = [wl.extract(xp, [0, 0, i, j], odims, dt, steps) for i, j in at]
    if ep is not None:
        taps += [wl.extract(ep, [0, 0, i, j], odims, dt, steps) for i, j in at]
    n = len(at)

    def body(*args):
        xs, es = args[:n], args[n:2 * n] if ep is not None else None
        m = arith.ConstantOp(xs[0].type, float("-inf")).result
        if es is not None:
            v = arith.ConstantOp(es[0].type, 0.0).result
        else:
            code_t = _code_type()
            v = arith.ConstantOp(code_t, -1).result
        for k, (i, j) in enumerate(at):
            gt = arith.CmpFOp(arith.CmpFPredicate.OGT, xs[k], m).result
            m = arith.SelectOp(gt, xs[k], m).result
            cand = es[k] if es is not None else arith.ConstantOp(code_t, i * window[1] + j).result
            v = arith.SelectOp(gt, cand, v).result
        return [m, v]

    outs = [wl.empty(wl.spec_like(odims, dt), odims), wl.empty(wl.spec_like(odims, kind), odims)]
    return generic(taps, [dt] * len(taps), [identity_map(4)] * len(taps), outs, [dt, kind], [identity_map(4)] * 2,
                   ["parallel"] * 4, body)


# ---------------------------------------------------------------- tn.max_pool2d
max_pool2d = defop("tn.max_pool2d", ["x"], attrs=dict(ATTRS),
                   doc="Max over kh x kw windows of NCHW images, with strides and -inf padding.")


@max_pool2d.def_infer
def _max_pool2d_infer(specs: list[TensorSpec], window, strides, padding) -> list[TensorSpec]:
    return [_pooled(specs[0], window, strides, padding)]


max_pool2d.def_reference(max_pool2d_np)
max_pool2d.def_reify(_reify_x)


@max_pool2d.def_lower
def _max_pool2d_lower(call: LowerCall) -> list[ir.Value]:
    if (empty := wl.zeros_if_empty(call)) is not None:
        return empty
    (x,), (xs,) = call.operands, call.in_specs
    xd = wl.dims_of(x, xs)
    xp, _ = wl.pad_spatial(x, xd, call.attrs["padding"], xs.dtype, -np.inf)
    odims = [xd[0], xd[1]] + list(call.out.shape[2:])
    window, strides = call.attrs["window"], call.attrs["strides"]
    if window[0] * window[1] <= MAX_TAPS:
        return [_taps_max(xp, odims, xs.dtype, window, strides)]
    init = wl.full(odims, xs.dtype, -np.inf)
    win = wl.full(list(window), xs.dtype, 0)
    return [wl.as_value(linalg.pooling_nchw_max(xp, win, outs=[init], strides=list(strides),
                                                dilations=[1, 1]))]


# Windows of at most this many taps are read as that many operands of one parallel generic
# over the output (the max a chain of maximumf, no init, no reduction loops); larger ones go
# through linalg.pooling_nchw_max, whose 6-deep loop nest runs the 2-tap inner loop scalar
# (LeNet-5's 2x2 pools: the first took 4% of the step).
MAX_TAPS = 16


def _taps_max(xp: ir.Value, odims: list, dt: np.dtype, window: Sequence[int], strides: Sequence[int]) -> ir.Value:
    # y[n, c, p, q] = maximumf over taps (i, j) of xp[n, c, p*s0 + i, q*s1 + j] (NaN propagates,
    # as in pooling_nchw_max; every window holds a real element, so no -inf init is needed).
    # Each tap is a strided slice of xp read through an identity map (linalg infers a loop's
    # range from the first operand indexed by it alone: offset maps on xp would size it wrong).
    taps = [wl.extract(xp, [0, 0, i, j], odims, dt, [1, 1, strides[0], strides[1]])
            for i in range(window[0]) for j in range(window[1])]

    def body(*args):
        acc = args[0]
        for v in args[1:-1]:
            acc = arith.MaximumFOp(acc, v).result
        return acc

    return generic(taps, [dt] * len(taps), [identity_map(4)] * len(taps), [wl.empty(wl.spec_like(odims, dt), odims)],
                   [dt], [identity_map(4)], ["parallel"] * 4, body)[0]


@max_pool2d.def_jvp
def _max_pool2d_jvp(primals, tangents, outs, window, strides, padding):
    # d max_window(x) = t at the window's argmax
    (t,) = tangents
    if t is None:
        return [None]
    return [lax.emit("tn.max_pool2d_select", [primals[0], t], window=window, strides=strides, padding=padding)]


# ---------------------------------------------------------------- tn.max_pool2d_select
select = defop("tn.max_pool2d_select", ["x", "t"], attrs=dict(ATTRS),
               doc="t at each window's first argmax of x (linear in t): max pooling's jvp.")


@select.def_infer
def _select_infer(specs: list[TensorSpec], window, strides, padding) -> list[TensorSpec]:
    _same(specs[0], specs[1], "t must have x's type")
    return [_pooled(specs[0], window, strides, padding)]


select.def_reference(select_np)
select.def_reify(_reify_x)


@select.def_lower
def _select_lower(call: LowerCall) -> list[ir.Value]:
    if (empty := wl.zeros_if_empty(call)) is not None:
        return empty
    x, t = call.operands
    return [_argmax_generic(call, x, wl.dims_of(x, call.in_specs[0]), t)[1]]


@select.def_jvp
def _select_jvp(primals, tangents, outs, **attrs):
    # linear in t; the argmax is piecewise constant in x
    tt = tangents[1]
    return [None if tt is None else lax.emit("tn.max_pool2d_select", [primals[0], tt], **attrs)]


@select.def_transpose
def _select_transpose(cts, primals, **attrs):
    (ct,) = cts
    x, t = primals
    if ct is None or isinstance(x, Linear):
        return [None, None]
    return [None, lax.emit("tn.max_pool2d_scatter", [x, ct], **attrs)]


# ---------------------------------------------------------------- tn.max_pool2d_scatter
scatter = defop("tn.max_pool2d_scatter", ["x", "g"], attrs=dict(ATTRS),
                doc="g added into each window's first argmax of x (linear in g): max pooling's gradient.")


@scatter.def_infer
def _scatter_infer(specs: list[TensorSpec], window, strides, padding) -> list[TensorSpec]:
    x, g = specs
    _same(_pooled(x, window, strides, padding), g, "g must have the pooled shape")
    return [x]


scatter.def_reference(scatter_np)
scatter.def_reify(_reify_x)


@scatter.def_lower
def _scatter_lower(call: LowerCall) -> list[ir.Value]:
    if (empty := wl.zeros_if_empty(call)) is not None:
        return empty
    x, g = call.operands
    xs = call.in_specs[0]
    dt = xs.dtype
    xd = wl.dims_of(x, xs)
    if _tiled(call):
        return [_scatter_tiled(call, x, g, xd)]
    code = _argmax_generic(call, x, xd, None)[1]
    (kh, kw), (s0, s1) = call.attrs["window"], call.attrs["strides"]
    lo_h, hi_h, lo_w, hi_w = call.attrs["padding"]
    _, _, oh, ow = call.in_specs[1].shape
    pdims = [xd[0], xd[1], xd[2] + lo_h + hi_h, xd[3] + lo_w + hi_w]
    dxp = wl.full(pdims, dt, 0)
    slab = [xd[0], xd[1], oh, ow]
    code_t = _code_type()
    for i in range(kh):
        for j in range(kw):
            at, steps = [0, 0, i, j], [1, 1, s0, s1]
            cur = wl.extract(dxp, at, slab, dt, steps)
            me = i * kw + j

            def body(cv, gv, acc, me=me):
                hit = arith.CmpIOp(arith.CmpIPredicate.eq, cv, arith.ConstantOp(code_t, me).result).result
                return arith.AddFOp(acc, arith.SelectOp(hit, gv, arith.ConstantOp(gv.type, 0.0).result).result).result

            new = generic([code, g], [CODE, dt], [identity_map(4)] * 2, [cur], [dt], [identity_map(4)],
                          ["parallel"] * 4, body)[0]
            dxp = wl.insert(new, slab, dxp, at, steps)
    return [wl.extract(dxp, [0, 0, lo_h, lo_w], xd, dt)]


def _tiled(call: LowerCall) -> bool:
    """Windows that tile x exactly: stride = window, no padding, H and W multiples of it."""
    window, strides, padding = call.attrs["window"], call.attrs["strides"], call.attrs["padding"]
    h, w = call.in_specs[0].shape[2:]
    return (tuple(window) == tuple(strides) and not any(padding) and window[0] * window[1] <= MAX_TAPS
            and h % window[0] == 0 and w % window[1] == 0)


def _scatter_tiled(call: LowerCall, x: ir.Value, g: ir.Value, xd: list) -> ir.Value:
    """scatter for windows that tile x: the argmax code per window, then one parallel pass
    writing every position of dx, seen as (N, C, OH, kh, OW, kw) (a reshape: H = OH*kh,
    W = OW*kw), instead of a zero fill and a read-modify-write of a strided slab per tap
    (those passes were 11% of LeNet-5's step). Plain maps: a pass over x's positions that
    found each one's window by floordiv ran scalar and slower than the slabs."""
    (kh, kw), dt = call.attrs["window"], call.in_specs[0].dtype
    code = _argmax_generic(call, x, xd, None)[1]
    oh, ow = call.in_specs[1].shape[2:]
    d6 = [xd[0], xd[1], oh, kh, ow, kw]
    e = [ir.AffineDimExpr.get(k) for k in range(6)]
    # loops (n, c, p, i, j, q): q innermost, so the loop reads code and g contiguously (and
    # stores every kw-th element) instead of running a kw-long inner loop per window
    window_map = ir.AffineMap.get(6, 0, [e[0], e[1], e[2], e[5]])
    out_map = ir.AffineMap.get(6, 0, [e[0], e[1], e[2], e[3], e[5], e[4]])
    code_t = _code_type()

    def body(cv, gv, _o):
        # dx[n, c, p*kh + i, q*kw + j] = g[n, c, p, q] where (i, j) is the window's argmax
        me = arith.AddIOp(arith.MulIOp(linalg_index(3), arith.ConstantOp(ir.IndexType.get(), kw).result).result,
                          linalg_index(4)).result
        hit = arith.CmpIOp(arith.CmpIPredicate.eq, cv, arith.IndexCastOp(code_t, me).result).result
        return arith.SelectOp(hit, gv, arith.ConstantOp(gv.type, 0.0).result).result

    dx6 = generic([code, g], [CODE, dt], [window_map] * 2, [wl.empty(wl.spec_like(d6, dt), d6)], [dt],
                  [out_map], ["parallel"] * 6, body)[0]
    return tensor.CollapseShapeOp(wl.ttype(xd, dt), dx6, [[0], [1], [2, 3], [4, 5]]).result


@scatter.def_jvp
def _scatter_jvp(primals, tangents, outs, **attrs):
    tg = tangents[1]
    return [None if tg is None else lax.emit("tn.max_pool2d_scatter", [primals[0], tg], **attrs)]


@scatter.def_transpose
def _scatter_transpose(cts, primals, **attrs):
    (ct,) = cts
    x, g = primals
    if ct is None or isinstance(x, Linear):
        return [None, None]
    return [None, lax.emit("tn.max_pool2d_select", [x, ct], **attrs)]


# ------------------------------------------------------------------ batching rules (vmap)
# Pooling works image by image: the vmapped axis folds into the NCHW batch of every operand.
max_pool2d.def_batch(vb.fold_rule("tn.max_pool2d", (0,)))
select.def_batch(vb.fold_rule("tn.max_pool2d_select", (0, 1)))
scatter.def_batch(vb.fold_rule("tn.max_pool2d_scatter", (0, 1)))
