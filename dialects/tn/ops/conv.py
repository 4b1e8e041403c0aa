"""2-D convolution (cross-correlation) of NCHW images with OIHW filters, and its two adjoints.

    %y  = "tn.conv2d"(%x, %w) {strides = array<i64: 1, 1>, padding = array<i64: 0, 0, 0, 0>,
            dilation = array<i64: 1, 1>} : (tensor<500x1x28x28xf32>, tensor<20x1x5x5xf32>) -> tensor<500x20x24x24xf32>
    %dx = "tn.conv2d_input_grad"(%g, %w) {..., shape = array<i64: 28, 28>} : (N,O,OH,OW), (O,C,kh,kw) -> (N,C,H,W)
    %dw = "tn.conv2d_filter_grad"(%x, %g) {..., shape = array<i64: 5, 5>} : (N,C,H,W), (N,O,OH,OW) -> (O,C,kh,kw)

y[n, o, p, q] = sum_{c,i,j} xp[n, c, p*s0 + i*d0, q*s1 + j*d1] * w[o, c, i, j], xp = x with
`padding` = (lo_h, hi_h, lo_w, hi_w) zero rows/columns; OH = (H + lo_h + hi_h - d0*(kh-1) - 1) // s0 + 1.
No flip: Theano's filter_flip (true convolution) is a reversed filter in the frontend.

Why three ops and not JAX's one conv_general_dilated: each op is bilinear and the transposes
of the three are the three again with the same attributes (below), so reverse mode closes over
them without lhs dilation, and each lowers to one GEMM: conv2d = W(O, K) @ cols(K, N*OH*OW),
filter_grad = g(O, N*OH*OW) @ cols^T, input_grad = col2im(W^T @ g) (K = C*kh*kw, cols the
im2col of the padded input). The transposes:
    conv2d(x, w):          x_bar = input_grad(y_bar, w)      w_bar = filter_grad(x, y_bar)
    input_grad(g, w):      g_bar = conv2d(x_bar', w)         w_bar = filter_grad(x_bar', g)
    filter_grad(x, g):     x_bar = input_grad(g, w_bar')     g_bar = conv2d(x, w_bar')
Dynamic dims: the batch dim N only (sized from the operand at run time); any other dynamic
dim is refused with NotImplementedError, so th.function compiles per shape instead.
Lowering: im2col + linalg.matmul (OpenBLAS after bufferization) or, for small products, the
named linalg.conv_2d_nchw_fchw loops: `use_gemm` picks per shape (measured in bench/conv.py).
Batch blocks: when the GEMM's temporary (the columns, or the product col2im folds) of a static
batch would pass window_lower.BLOCK_FROM_BYTES (4 MB), each op runs per block of images whose
temporary fits BLOCK_BYTES (512 KB, in a core's L2): an scf.forall over the blocks (the
threads share them; theanir-results-in-place writes each block into its slice), and for the
filter gradient, a sum over the batch, a forall over 8 workers each summing its run of blocks
(BLAS with beta = 1), then the 8 partial sums. LeNet-5's conv2 had written and read 64 MB
columns three times a step; its 2 threads slowed each other down on that memory traffic.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, linalg

from .. import lax
from ..lowering import LowerCall, check_same_size, dim_value, identity_map, generic, scalar_const
from ..registry import Linear, ShapeError, defop
from ..types import TensorSpec
from .. import batching as vb
from . import window_lower as wl

ATTRS = {"strides": "ints", "padding": "ints", "dilation": "ints"}


def out_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """Output length of a window of k taps (dilation d, stride s) over n + lo + hi positions."""
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def _check_attrs(strides, padding, dilation) -> None:
    if len(strides) != 2 or any(s < 1 for s in strides):
        raise ShapeError(f"strides {tuple(strides)} must be two ints >= 1")
    if len(dilation) != 2 or any(d < 1 for d in dilation):
        raise ShapeError(f"dilation {tuple(dilation)} must be two ints >= 1")
    if len(padding) != 4 or any(p < 0 for p in padding):
        raise ShapeError(f"padding {tuple(padding)} must be four ints >= 0 (lo_h, hi_h, lo_w, hi_w)")


def _checked(specs: Sequence[TensorSpec], batched: tuple[bool, ...]) -> None:
    """4-D float operands of one dtype; only the dims flagged in `batched` (axis 0) may be dynamic."""
    dt = specs[0].dtype
    for s in specs:
        if s.ndim != 4:
            raise ShapeError(f"operands must be 4-D (NCHW images, OIHW filters), got {s}")
        if s.dtype != dt or dt.kind != "f":
            raise ShapeError(f"operands must share one float dtype, got {', '.join(str(x) for x in specs)}")
    for s, b in zip(specs, batched):
        rest = s.shape[1:] if b else s.shape
        if None in rest:
            raise NotImplementedError(f"convolution with dynamic dims other than the batch dim ({s}): "
                                      f"compile per shape")


def _forward_shape(x: TensorSpec, kernel: Sequence[int], strides, padding, dilation) -> tuple[int, int]:
    outs = []
    for a, n in enumerate(x.shape[2:]):
        lo, hi = padding[2 * a], padding[2 * a + 1]
        span = dilation[a] * (kernel[a] - 1) + 1
        if n + lo + hi < span:
            raise ShapeError(f"the filter ({kernel[0]}x{kernel[1]}, dilation {tuple(dilation)}: {span} "
                             f"positions along axis {a + 2}) is larger than the padded input "
                             f"({n} + {lo + hi} padding)")
        outs.append(out_size(n, kernel[a], strides[a], lo, hi, dilation[a]))
    return outs[0], outs[1]


def _same_batch(a: Any, b: Any) -> Any:
    if a is not None and b is not None and a != b:
        raise ShapeError(f"batch dims differ: {a} and {b}")
    return a if a is not None else b


def _conv_out(x: TensorSpec, w: TensorSpec, strides, padding, dilation) -> TensorSpec:
    if x.shape[1] != w.shape[1]:
        raise ShapeError(f"input channels differ: the input has {x.shape[1]} (axis 1), the filters "
                         f"expect {w.shape[1]} (axis 1 of O, C, kh, kw)")
    oh, ow = _forward_shape(x, w.shape[2:], strides, padding, dilation)
    return TensorSpec((x.shape[0], w.shape[0], oh, ow), x.dtype)


# ---------------------------------------------------------------- NumPy references
def _taps(xp: np.ndarray, i: int, j: int, strides, dilation, oh: int, ow: int) -> tuple:
    """The index of the (i, j) tap's positions in the padded input: [:, :, rows, cols]."""
    (s0, s1), (d0, d1) = strides, dilation
    return (slice(None), slice(None), slice(i * d0, i * d0 + s0 * (oh - 1) + 1, s0),
            slice(j * d1, j * d1 + s1 * (ow - 1) + 1, s1))


def _pad_np(x: np.ndarray, padding) -> np.ndarray:
    lo_h, hi_h, lo_w, hi_w = padding
    return np.pad(x, ((0, 0), (0, 0), (lo_h, hi_h), (lo_w, hi_w)))


def conv2d_np(x: np.ndarray, w: np.ndarray, strides, padding, dilation) -> np.ndarray:
    """The direct loop over taps: y += einsum(x tap, w[:, :, i, j])."""
    xp = _pad_np(x, padding)
    oh, ow = _forward_shape(TensorSpec(x.shape, x.dtype), w.shape[2:], strides, padding, dilation)
    y = np.zeros((x.shape[0], w.shape[0], oh, ow), np.float64)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            y += np.einsum("nchw,oc->nohw", xp[_taps(xp, i, j, strides, dilation, oh, ow)], w[:, :, i, j])
    return y.astype(x.dtype)


def input_grad_np(g: np.ndarray, w: np.ndarray, strides, padding, dilation, shape) -> np.ndarray:
    lo_h, hi_h, lo_w, hi_w = padding
    h, wd = shape
    dxp = np.zeros((g.shape[0], w.shape[1], h + lo_h + hi_h, wd + lo_w + hi_w), np.float64)
    oh, ow = g.shape[2:]
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            dxp[_taps(dxp, i, j, strides, dilation, oh, ow)] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return dxp[:, :, lo_h:lo_h + h, lo_w:lo_w + wd].astype(g.dtype)


def filter_grad_np(x: np.ndarray, g: np.ndarray, strides, padding, dilation, shape) -> np.ndarray:
    xp = _pad_np(x, padding)
    oh, ow = g.shape[2:]
    dw = np.zeros((g.shape[1], x.shape[1]) + tuple(shape), np.float64)
    for i in range(shape[0]):
        for j in range(shape[1]):
            dw[:, :, i, j] = np.einsum("nchw,nohw->oc", xp[_taps(xp, i, j, strides, dilation, oh, ow)], g)
    return dw.astype(x.dtype)


# ---------------------------------------------------------------- shared rules
def _bilinear_jvp(name: str):
    def jvp(primals, tangents, outs, **attrs):
        # d f(a, b) = f(da, b) + f(a, db)
        (a, b), (ta, tb) = primals, tangents
        parts = []
        if ta is not None:
            parts.append(lax.emit(name, [ta, b], **attrs))
        if tb is not None:
            parts.append(lax.emit(name, [a, tb], **attrs))
        if not parts:
            return [None]
        return [parts[0] if len(parts) == 1 else parts[0] + parts[1]]
    return jvp


def _hw(x: Any) -> tuple[int, int]:
    return tuple(int(n) for n in x.shape[2:])  # type: ignore[return-value]


def use_gemm(batch: int | None, c: int, o: int, kernel: Sequence[int], out_hw: Sequence[int]) -> bool:
    """im2col + GEMM unless the product is tiny: the named conv loops run at ~1 GFLOP/s, the GEMM
    path pays an im2col copy and a transpose but runs the product in OpenBLAS (bench/conv.py)."""
    macs = (batch if batch is not None else 64) * c * o * kernel[0] * kernel[1] * out_hw[0] * out_hw[1]
    return macs >= GEMM_FROM_MACS


GEMM_FROM_MACS = 4096


# ---------------------------------------------------------------- tn.conv2d
conv2d = defop("tn.conv2d", ["x", "w"], attrs=dict(ATTRS),
               doc="NCHW x OIHW cross-correlation with strides, zero padding (lo_h, hi_h, lo_w, hi_w) "
                   "and filter dilation.")


@conv2d.def_infer
def _conv2d_infer(specs: list[TensorSpec], strides, padding, dilation) -> list[TensorSpec]:
    _check_attrs(strides, padding, dilation)
    _checked(specs, (True, False))
    return [_conv_out(specs[0], specs[1], strides, padding, dilation)]


conv2d.def_reference(conv2d_np)


@conv2d.def_reify
def _conv2d_reify(call: LowerCall) -> list[list]:
    return [[dim_value(call.operands[0], 0)] + list(call.out.shape[1:])]


@conv2d.def_lower
def _conv2d_lower(call: LowerCall) -> list[ir.Value]:
    if (empty := wl.zeros_if_empty(call)) is not None:
        return empty
    x, w = call.operands
    xs, ws = call.in_specs
    dt = xs.dtype
    xd = wl.dims_of(x, xs)
    o, c, kh, kw = ws.shape
    oh, ow = call.out.shape[2:]
    xp, pd = wl.pad_spatial(x, xd, call.attrs["padding"], dt)
    if not use_gemm(xs.shape[0], c, o, (kh, kw), (oh, ow)):
        init = wl.full([xd[0], o, oh, ow], dt, 0)
        return [wl.as_value(linalg.conv_2d_nchw_fchw(xp, w, outs=[init], strides=list(call.attrs["strides"]),
                                                     dilations=list(call.attrs["dilation"])))]
    w2, _ = wl.to_matrix(w, list(ws.shape), [0], [1, 2, 3], dt)

    def images(xb: ir.Value, dims: list, out: ir.Value | None = None) -> ir.Value:  # of a batch (block)
        cols2, (_, npix) = wl.im2col(xb, dims, dt, (kh, kw), call.attrs["strides"], call.attrs["dilation"], (oh, ow))
        return wl.from_matrix(wl.gemm(w2, cols2, o, npix, dt), [dims[0], o, oh, ow], [1], [0, 2, 3], dt, out)
    nb = wl.batch_block(xd[0], c * kh * kw * oh * ow * dt.itemsize)
    if nb is None:
        return [images(xp, pd)]
    return [wl.over_batch_blocks(xd[0], nb, [xd[0], o, oh, ow], dt,
                                 lambda s, out, size: images(wl.extract_block(xp, s, [size] + pd[1:], dt),
                                                             [size] + pd[1:], out))]


conv2d.def_jvp(_bilinear_jvp("tn.conv2d"))


@conv2d.def_transpose
def _conv2d_transpose(cts, primals, strides, padding, dilation):
    (ct,) = cts
    x, w = primals
    if ct is None:
        return [None, None]
    attrs = dict(strides=strides, padding=padding, dilation=dilation)
    ct_x = (lax.emit("tn.conv2d_input_grad", [ct, w], shape=_hw(x), **attrs)
            if isinstance(x, Linear) and not isinstance(w, Linear) else None)
    ct_w = (lax.emit("tn.conv2d_filter_grad", [x, ct], shape=_hw(w), **attrs)
            if isinstance(w, Linear) and not isinstance(x, Linear) else None)
    return [ct_x, ct_w]


# ---------------------------------------------------------------- tn.conv2d_input_grad
input_grad = defop("tn.conv2d_input_grad", ["g", "w"], attrs={**ATTRS, "shape": "ints"},
                   doc="The adjoint of tn.conv2d in its input: (N,O,OH,OW), (O,C,kh,kw) -> (N,C,H,W), "
                       "(H, W) = `shape`.")


@input_grad.def_infer
def _input_grad_infer(specs: list[TensorSpec], strides, padding, dilation, shape) -> list[TensorSpec]:
    _check_attrs(strides, padding, dilation)
    _checked(specs, (True, False))
    g, w = specs
    if g.shape[1] != w.shape[0]:
        raise ShapeError(f"output channels differ: {g.shape[1]} (axis 1 of g) and {w.shape[0]} (axis 0 of w)")
    x = TensorSpec((g.shape[0], w.shape[1]) + tuple(shape), g.dtype)
    if _forward_shape(x, w.shape[2:], strides, padding, dilation) != tuple(g.shape[2:]):
        raise ShapeError(f"an input of {tuple(shape)} gives outputs of "
                         f"{_forward_shape(x, w.shape[2:], strides, padding, dilation)}, not {g.shape[2:]}")
    return [x]


input_grad.def_reference(input_grad_np)


@input_grad.def_reify
def _input_grad_reify(call: LowerCall) -> list[list]:
    return [[dim_value(call.operands[0], 0)] + list(call.out.shape[1:])]


@input_grad.def_lower
def _input_grad_lower(call: LowerCall) -> list[ir.Value]:
    if (empty := wl.zeros_if_empty(call)) is not None:
        return empty
    g, w = call.operands
    gs, ws = call.in_specs
    dt = gs.dtype
    gd = wl.dims_of(g, gs)
    o, c, kh, kw = ws.shape
    _, _, oh, ow = gs.shape
    (s0, s1), (d0, d1) = call.attrs["strides"], call.attrs["dilation"]
    lo_h, hi_h, lo_w, hi_w = call.attrs["padding"]
    h, wd = call.attrs["shape"]
    n = gd[0]
    w2, (_, k) = wl.to_matrix(w, list(ws.shape), [0], [1, 2, 3], dt)

    def images(gb: ir.Value, nn, out: ir.Value | None = None) -> ir.Value:  # GEMM + col2im of nn images
        g2, (_, npix) = wl.to_matrix(gb, [nn, o, oh, ow], [1], [0, 2, 3], dt)
        dcols2 = wl.gemm(w2, g2, k, npix, dt, ta=True)
        # col2im: each tap (i, j) adds its columns into a strided slab of the padded input
        # (no padding: the result itself, `out` when given)
        pdims = [nn, c, h + lo_h + hi_h, wd + lo_w + hi_w]
        padded = any((lo_h, hi_h, lo_w, hi_w))
        dxp = (wl.full(pdims, dt, 0) if padded or out is None
               else wl.as_value(linalg.fill(scalar_const(dt, 0), outs=[out])))
        slab = [nn, c, oh, ow]
        e = [ir.AffineDimExpr.get(q) for q in range(4)]
        for i in range(kh):
            for j in range(kw):
                at, steps = [0, 0, i * d0, j * d1], [1, 1, s0, s1]
                cur = wl.extract(dxp, at, slab, dt, steps)
                tap = ir.AffineMap.get(4, 0, [e[1] * (kh * kw) + (i * kw + j), (e[0] * oh + e[2]) * ow + e[3]])
                new = generic([dcols2], [dt], [tap], [cur], [dt], [identity_map(4)], ["parallel"] * 4,
                              lambda t, acc: arith.AddFOp(acc, t).result)[0]
                dxp = wl.insert(new, slab, dxp, at, steps)
        return wl.extract(dxp, [0, 0, lo_h, lo_w], [nn, c, h, wd], dt) if padded else dxp
    nb = wl.batch_block(n, k * oh * ow * dt.itemsize)
    if nb is None:
        return [images(g, n)]
    return [wl.over_batch_blocks(n, nb, [n, c, h, wd], dt,
                                 lambda s, out, size: images(wl.extract_block(g, s, [size, o, oh, ow], dt), size, out))]


input_grad.def_jvp(_bilinear_jvp("tn.conv2d_input_grad"))


@input_grad.def_transpose
def _input_grad_transpose(cts, primals, strides, padding, dilation, shape):
    (ct,) = cts
    g, w = primals
    if ct is None:
        return [None, None]
    attrs = dict(strides=strides, padding=padding, dilation=dilation)
    ct_g = lax.emit("tn.conv2d", [ct, w], **attrs) if isinstance(g, Linear) and not isinstance(w, Linear) else None
    ct_w = (lax.emit("tn.conv2d_filter_grad", [ct, g], shape=_hw(w), **attrs)
            if isinstance(w, Linear) and not isinstance(g, Linear) else None)
    return [ct_g, ct_w]


# ---------------------------------------------------------------- tn.conv2d_filter_grad
filter_grad = defop("tn.conv2d_filter_grad", ["x", "g"], attrs={**ATTRS, "shape": "ints"},
                    doc="The adjoint of tn.conv2d in its filters: (N,C,H,W), (N,O,OH,OW) -> (O,C,kh,kw), "
                        "(kh, kw) = `shape`.")


@filter_grad.def_infer
def _filter_grad_infer(specs: list[TensorSpec], strides, padding, dilation, shape) -> list[TensorSpec]:
    _check_attrs(strides, padding, dilation)
    _checked(specs, (True, True))
    x, g = specs
    _same_batch(x.shape[0], g.shape[0])
    if len(shape) != 2 or any(k < 1 for k in shape):
        raise ShapeError(f"filter shape {tuple(shape)} must be two ints >= 1")
    if _forward_shape(x, shape, strides, padding, dilation) != tuple(g.shape[2:]):
        raise ShapeError(f"filters of {tuple(shape)} give outputs of "
                         f"{_forward_shape(x, shape, strides, padding, dilation)}, not {g.shape[2:]}")
    return [TensorSpec((g.shape[1], x.shape[1]) + tuple(shape), x.dtype)]


filter_grad.def_reference(filter_grad_np)


@filter_grad.def_lower
def _filter_grad_lower(call: LowerCall) -> list[ir.Value]:
    if (empty := wl.zeros_if_empty(call)) is not None:
        return empty
    x, g = call.operands
    xs, gs = call.in_specs
    dt = xs.dtype
    xd, gd = wl.dims_of(x, xs), wl.dims_of(g, gs)
    if xs.shape[0] is None or gs.shape[0] is None:
        check_same_size(call, dim_value(x, 0), dim_value(g, 0),
                        "tn.conv2d_filter_grad: batch dims differ ({0} vs {1})")
    o, c, kh, kw = call.out.shape
    oh, ow = gs.shape[2:]
    k = c * kh * kw
    xp, pd = wl.pad_spatial(x, xd, call.attrs["padding"], dt)

    def cols_of(xb: ir.Value, dims: list) -> ir.Value:
        return wl.im2col(xb, dims, dt, (kh, kw), call.attrs["strides"], call.attrs["dilation"], (oh, ow))[0]
    n = xd[0] if isinstance(xd[0], int) else gd[0]
    nb = wl.batch_block(n, k * oh * ow * dt.itemsize)
    if nb is None:
        g2, _ = wl.to_matrix(g, gd, [1], [0, 2, 3], dt)
        dw2 = wl.gemm(g2, cols_of(xp, pd), o, k, dt, tb=True)
    else:  # a sum over the batch: each of `parts` workers sums its run of blocks, then their sum
        def block(s: ir.Value, acc: ir.Value, size) -> ir.Value:  # acc + g2 @ cols^T of images [s, s + size)
            xb = wl.extract_block(xp, s, [size] + pd[1:], dt)
            g2, _ = wl.to_matrix(wl.extract_block(g, s, [size, o, oh, ow], dt), [size, o, oh, ow], [1], [0, 2, 3], dt)
            return wl.gemm(g2, cols_of(xb, [size] + pd[1:]), o, k, dt, tb=True, acc=acc)
        dw2 = wl.sum_over_batch_blocks(n, nb, [o, k], dt, block)
    return [wl.from_matrix(dw2, [o, c, kh, kw], [0], [1, 2, 3], dt)]


filter_grad.def_jvp(_bilinear_jvp("tn.conv2d_filter_grad"))


@filter_grad.def_transpose
def _filter_grad_transpose(cts, primals, strides, padding, dilation, shape):
    (ct,) = cts
    x, g = primals
    if ct is None:
        return [None, None]
    attrs = dict(strides=strides, padding=padding, dilation=dilation)
    ct_x = (lax.emit("tn.conv2d_input_grad", [g, ct], shape=_hw(x), **attrs)
            if isinstance(x, Linear) and not isinstance(g, Linear) else None)
    ct_g = lax.emit("tn.conv2d", [x, ct], **attrs) if isinstance(g, Linear) and not isinstance(x, Linear) else None
    return [ct_x, ct_g]


# ------------------------------------------------------------------ batching rules (vmap)
# The vmapped axis folds into the NCHW batch of the input (or of the output gradient): one op
# over B*N images. The filter gradient sums over that batch, so it (and any op whose filters
# are batched) runs one op per example (batching.loop_rule).
conv2d.def_batch(vb.fold_rule("tn.conv2d", (0,)))
input_grad.def_batch(vb.fold_rule("tn.conv2d_input_grad", (0,)))  # `shape`: H, W only
filter_grad.def_batch(vb.loop_rule("tn.conv2d_filter_grad"))
