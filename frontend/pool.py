"""Pooling for users: Theano's `pool.pool_2d` and JAX's `th.lax.reduce_window`.

    from theanir.tensor.signal import pool
    y = pool.pool_2d(x, ws=(2, 2), ignore_border=True, mode='max')     # last two axes
    y = th.lax.reduce_window(x, -np.inf, th.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), 'VALID')

Max pooling is `tn.max_pool2d` (dialects/tn/ops/pool.py; its gradient routes to each
window's argmax). Sum pooling is a convolution of each channel with a ones filter
(`tn.conv2d`), and the averages divide that sum by the window's count, computed here from
the static sizes as Theano's Pool does ('average_inc_pad' counts padding, 'average_exc_pad'
only the input's own elements).
"""
from __future__ import annotations

import operator
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from theanir.dialects.tn.builder import emit1

from . import numpy_api as tnp
from .conv import _at, conv_nchw, pair
from .tensor import Tensor

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _as_nchw(x: Tensor, axes: Sequence[int]) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """x with `axes` (two of them) last, as (M, 1, H, W), and the map back to x's layout."""
    rest = [a for a in range(x.ndim) if a not in axes]
    perm = rest + list(axes)
    xt = tnp.transpose(x, perm) if perm != list(range(x.ndim)) else x
    lead = xt.shape[:-2]
    if x.ndim == 4 and list(axes) == [2, 3]:
        return xt, lambda y: y
    if None in lead:
        raise NotImplementedError(f"pooling: the leading dims {lead} of a {x.ndim}-D input must be static {_at()}")
    x4 = tnp.reshape(xt, (int(np.prod(lead, dtype=np.int64)), 1) + tuple(xt.shape[-2:]))
    inverse = [int(i) for i in np.argsort(perm)]

    def back(y: Tensor) -> Tensor:
        y = tnp.reshape(y, tuple(lead) + tuple(y.shape[-2:]))
        return tnp.transpose(y, inverse) if inverse != list(range(x.ndim)) else y

    return x4, back


def max_pool(x4: Tensor, window: Sequence[int], strides: Sequence[int], padding: Sequence[int]) -> Tensor:
    attrs = {"window": tuple(window), "strides": tuple(strides), "padding": tuple(padding)}
    return Tensor(emit1("tn.max_pool2d", [x4.value], attrs))


def sum_pool(who: str, x4: Tensor, window: Sequence[int], strides: Sequence[int], padding: Sequence[int]) -> Tensor:
    """Window sums of each channel: a convolution of (N*C, 1, H, W) with a ones filter."""
    n, c, h, w = x4.shape
    flat = x4 if c == 1 else tnp.reshape(x4, (-1, 1, h, w))
    ones = tnp.ones((1, 1) + tuple(window), dtype=x4.dtype)
    y = conv_nchw(who, flat, ones, strides, padding, (1, 1))
    if c == 1:
        return y
    return tnp.reshape(y, (n if n is not None else -1, c) + tuple(y.shape[2:]))


def _theano_out(n: int, ws: int, st: int, pad: int, ignore_border: bool) -> int:
    """Theano's Pool.out_shape along one axis."""
    if ignore_border:
        return (n + 2 * pad - ws) // st + 1 if n + 2 * pad >= ws else 0
    if st >= ws:
        return (n - 1) // st + 1 if n > 0 else 0
    return max(0, (n - 1 - ws + st) // st) + 1 if n > 0 else 0


def _counts(n: int, ws: int, st: int, pad: int, out: int, inc_pad: bool) -> np.ndarray:
    """How many elements each window along one axis averages (Theano's Pool.perform)."""
    start = np.arange(out) * st
    end = np.minimum(start + ws, n + 2 * pad)
    if not inc_pad:
        start, end = np.maximum(start, pad), np.minimum(end, n + pad)
    return (end - start).astype(np.int64)


def pool_2d(input: Any, ws: Any = None, ignore_border: bool | None = None, stride: Any = None,
            pad: Any = (0, 0), mode: str = "max", ds: Any = None, st: Any = None,
            padding: Any = None) -> Tensor:
    """Theano's pool_2d over the last two axes of `input` (2-D or more).

    ws: window; stride: defaults to ws; pad: zero (or -inf for max) rows/columns on both sides,
    only with ignore_border=True; ignore_border=False keeps partial windows at the end
    (ceil division). mode: 'max', 'sum', 'average_inc_pad', 'average_exc_pad'."""
    ws = ws if ws is not None else ds
    stride = stride if stride is not None else st
    pad = pad if padding is None else padding
    if ws is None:
        raise TypeError(f"pool_2d: ws (the window) is required {_at()}")
    if mode not in MODES:
        raise ValueError(f"pool_2d: mode must be one of {MODES}, got {mode!r} {_at()}")
    if ignore_border is None:
        warnings.warn("pool_2d: ignore_border=None defaults to False (Theano's default); pass it explicitly",
                      stacklevel=2)
        ignore_border = False
    ws = pair("pool_2d", "ws", ws)
    stride = pair("pool_2d", "stride", stride if stride is not None else ws)
    pad = pair("pool_2d", "pad", pad, 0)
    if any(pad) and not ignore_border:
        raise NotImplementedError(f"pool_2d: padding works only with ignore_border=True (as in Theano) {_at()}")
    if any(p >= w for p, w in zip(pad, ws)):
        raise ValueError(f"pool_2d: pad {pad} must be smaller than ws {ws} {_at()}")
    x = tnp.as_tensor(input)
    if x.dtype.kind != "f":
        x = tnp.astype(x, np.float64)
    if x.ndim < 2:
        raise ValueError(f"pool_2d: input must have at least 2 dims, got shape {x.shape} {_at()}")
    x4, back = _as_nchw(x, (x.ndim - 2, x.ndim - 1))
    hw = x4.shape[2:]
    if None in hw:
        raise NotImplementedError(f"pool_2d: the pooled dims of {x.shape} must be static {_at()}")
    outs = [_theano_out(n, w, s, p, ignore_border) for n, w, s, p in zip(hw, ws, stride, pad)]
    if 0 in outs:
        raise ValueError(f"pool_2d: ws {ws} is larger than the {'padded ' if any(pad) else ''}input "
                         f"{tuple(hw)} {_at()}")
    padding4 = []
    for n, w, s, p, o in zip(hw, ws, stride, pad, outs):
        padding4 += [p, max(p, (o - 1) * s + w - n - p)]  # ignore_border=False: partial windows
    if mode == "max":
        return back(max_pool(x4, ws, stride, padding4))
    y = sum_pool("pool_2d", x4, ws, stride, padding4)
    if mode != "sum":
        inc = mode == "average_inc_pad"
        cnt = np.outer(*[_counts(n, w, s, p, o, inc) for n, w, s, p, o in zip(hw, ws, stride, pad, outs)])
        y = y * tnp.as_tensor((1.0 / np.maximum(cnt, 1)).astype(y.dtype))
    return back(y)


# ------------------------------------------------------------------ JAX: lax.reduce_window
def _kind(computation: Any) -> str:
    name = getattr(computation, "__name__", "")
    if computation is operator.add or name in ("add", "sum"):
        return "add"
    if computation is max or name in ("max", "maximum"):
        return "max"
    raise NotImplementedError(f"reduce_window: computation must be add or max (lax.add, lax.max), "
                              f"got {computation!r} {_at()}")


def reduce_window(operand: Any, init_value: Any, computation: Callable, window_dimensions: Sequence[int],
                  window_strides: Sequence[int], padding: Any, base_dilation: Any = None,
                  window_dilation: Any = None) -> Tensor:
    """JAX's lax.reduce_window with add or max over at most two windowed axes.

    padding: 'VALID', 'SAME' or one (low, high) pair per axis; the result is
    computation(init_value, window reduction)."""
    x = tnp.as_tensor(operand)
    kind = _kind(computation)
    nd = x.ndim
    win = tuple(operator.index(w) for w in window_dimensions)
    strides = tuple(operator.index(s) for s in window_strides)
    if len(win) != nd or len(strides) != nd or min(win + strides, default=1) < 1:
        raise ValueError(f"reduce_window: window_dimensions {win} and window_strides {strides} must have "
                         f"one int >= 1 per axis of the {nd}-D operand {_at()}")
    for arg, dil in (("base_dilation", base_dilation), ("window_dilation", window_dilation)):
        if dil is not None and any(d != 1 for d in dil):
            raise NotImplementedError(f"reduce_window: {arg}={tuple(dil)} is not supported (1 only) {_at()}")
    pads = _window_padding(padding, x.shape, win, strides)
    axes = [a for a in range(nd) if win[a] != 1 or strides[a] != 1 or pads[a] != (0, 0)]
    if len(axes) > 2:
        raise NotImplementedError(f"reduce_window: at most two windowed axes, got {len(axes)} {_at()}")
    for a in range(nd - 1, -1, -1):  # fill up to two axes with trailing unwindowed ones
        if len(axes) < 2 and a not in axes:
            axes.append(a)
    axes.sort()
    if nd < 2:
        x = tnp.reshape(x, (1,) * (2 - nd) + x.shape)
        win, strides, pads, axes = (1,) * (2 - nd) + win, (1,) * (2 - nd) + strides, [(0, 0)] * (2 - nd) + pads, [0, 1]
    x4, back = _as_nchw(x, axes)
    w2, s2 = [win[a] for a in axes], [strides[a] for a in axes]
    p4 = [p for a in axes for p in pads[a]]
    if kind == "max":
        if any(p >= w for p, w in zip(p4, [w2[0], w2[0], w2[1], w2[1]])):
            raise NotImplementedError(f"reduce_window: max padding must be smaller than the window {_at()}")
        y = tnp.maximum(max_pool(x4, w2, s2, p4), tnp.astype(tnp.as_tensor(init_value), x4.dtype))
    else:
        y = sum_pool("reduce_window", x4, w2, s2, p4) + tnp.astype(tnp.as_tensor(init_value), x4.dtype)
    y = back(y)
    return y if nd >= 2 else tnp.reshape(y, y.shape[2 - nd:])


def _window_padding(padding: Any, shape: Sequence[int | None], win: Sequence[int],
                    strides: Sequence[int]) -> list[tuple[int, int]]:
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return [(0, 0)] * len(shape)
        if mode != "SAME":
            raise ValueError(f"reduce_window: padding must be 'SAME', 'VALID' or pairs, got {padding!r} {_at()}")
        out = []
        for n, k, s in zip(shape, win, strides):
            if n is None:
                raise NotImplementedError(f"reduce_window: padding='SAME' needs static sizes {_at()}")
            total = max((-(-n // s) - 1) * s + k - n, 0)
            out.append((total // 2, total - total // 2))
        return out
    pads = [tuple(operator.index(v) for v in p) for p in padding]
    if len(pads) != len(shape) or any(len(p) != 2 or min(p) < 0 for p in pads):
        raise ValueError(f"reduce_window: padding must be one (low, high) pair of ints >= 0 per axis, "
                         f"got {padding!r} {_at()}")
    return pads  # type: ignore[return-value]
