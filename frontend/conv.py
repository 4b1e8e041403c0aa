"""Convolution for users: Theano's `T.nnet.conv2d` and JAX's `th.lax.conv_general_dilated`.

    y = T.nnet.conv2d(x, W, border_mode='half', subsample=(2, 2))          # NCHW, OIHW
    y = th.lax.conv_general_dilated(x, w, (1, 1), 'SAME', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

Both reduce to `tn.conv2d` (dialects/tn/ops/conv.py: NCHW x OIHW cross-correlation with strides,
zero padding and filter dilation); layouts other than NCHW/OIHW are transposes around it,
Theano's filter_flip is a reversed filter, JAX's lhs_dilation a `tn.pad_slice` of the input.
Arguments are checked here so an error names the argument and the user's line.
"""
from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn.builder import describe_location, emit1

from . import numpy_api as tnp
from .tensor import Tensor


def _at() -> str:
    return f"at {describe_location()}"


def pair(who: str, arg: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """A user's int or pair of ints as a checked pair (each >= minimum)."""
    try:
        vals = (operator.index(value),) * 2 if np.ndim(value) == 0 else tuple(operator.index(v) for v in value)
    except TypeError:
        raise TypeError(f"{who}: {arg} must be an int or a pair of ints, got {value!r} {_at()}") from None
    if len(vals) != 2 or any(v < minimum for v in vals):
        raise ValueError(f"{who}: {arg} must be two ints >= {minimum}, got {value!r} {_at()}")
    return vals  # type: ignore[return-value]


def _float_pair(who: str, x: Any, w: Any) -> tuple[Tensor, Tensor]:
    x, w = tnp.as_tensor(x), tnp.as_tensor(w)
    dt = tnp.result_type(x, w)
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    return tnp.astype(x, dt), tnp.astype(w, dt)


def _check_4d(who: str, arg: str, t: Tensor, layout: str) -> None:
    if t.ndim != 4:
        raise ValueError(f"{who}: {arg} must be 4-D ({layout}), got shape {t.shape} {_at()}")


def conv_nchw(who: str, x: Tensor, w: Tensor, strides: Sequence[int], padding: Sequence[int],
              dilation: Sequence[int]) -> Tensor:
    """tn.conv2d after the checks whose errors must name the user's argument."""
    names = ("input", "filters") if who == "conv2d" else ("lhs", "rhs")
    c, wc = x.shape[1], w.shape[1]
    if c is not None and wc is not None and c != wc:
        raise ValueError(f"{who}: channel mismatch: {names[0]} has {c} channels (axis 1 of {x.shape} in NCHW) "
                         f"but {names[1]} expect {wc} (axis 1 of {w.shape} in OIHW) {_at()}")
    for a in range(2):
        n, k = x.shape[2 + a], w.shape[2 + a]
        if n is None or k is None:
            continue
        span = dilation[a] * (k - 1) + 1
        if n + padding[2 * a] + padding[2 * a + 1] < span:
            raise ValueError(f"{who}: {names[1]} ({k} taps along axis {2 + a}, dilation {dilation[a]}: {span}) are "
                             f"larger than the {'padded ' if padding[2 * a] + padding[2 * a + 1] else ''}{names[0]} "
                             f"({n} + {padding[2 * a] + padding[2 * a + 1]} padding) {_at()}")
    attrs = {"strides": tuple(strides), "padding": tuple(padding), "dilation": tuple(dilation)}
    return Tensor(emit1("tn.conv2d", [x.value, w.value], attrs))


def _border_padding(border_mode: Any, kernel: Sequence[int | None], dilation: Sequence[int]) -> tuple[int, ...]:
    """Theano's border_mode as (lo_h, hi_h, lo_w, hi_w)."""
    span = [None if k is None else d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if isinstance(border_mode, str):
        if border_mode not in ("valid", "full", "half"):
            raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a pair, "
                             f"got {border_mode!r} {_at()}")
        if border_mode == "valid":
            return (0, 0, 0, 0)
        if None in span:
            raise NotImplementedError(f"conv2d: border_mode={border_mode!r} needs static filter sizes {_at()}")
        per = [s - 1 if border_mode == "full" else s // 2 for s in span]
        return (per[0], per[0], per[1], per[1])
    if np.ndim(border_mode) == 2:  # ((lo_h, hi_h), (lo_w, hi_w))
        (a, b), (c, d) = [pair("conv2d", "border_mode", p, 0) for p in border_mode]
        return (a, b, c, d)
    ph, pw = pair("conv2d", "border_mode", border_mode, 0)
    return (ph, ph, pw, pw)


def _check_hint(arg: str, hint: Any, shape: tuple) -> None:
    if hint is None:
        return
    hint = tuple(hint)
    if len(hint) != 4 or any(h is not None and s is not None and int(h) != s for h, s in zip(hint, shape)):
        raise ValueError(f"conv2d: {arg}={hint} does not match the actual shape {shape} {_at()}")


def conv2d(input: Any, filters: Any, input_shape: Any = None, filter_shape: Any = None,
           border_mode: Any = "valid", subsample: Any = (1, 1), filter_flip: bool = True,
           filter_dilation: Any = (1, 1), num_groups: int = 1, **kwargs: Any) -> Tensor:
    """Theano's 2-D convolution of NCHW `input` with OIHW `filters`.

    border_mode: 'valid' (no padding), 'full' (every overlap: kernel span - 1 each side), 'half'
    (span // 2 each side: same size at stride 1 for odd kernels), an int or (int, int) of zero
    rows/columns, or ((lo_h, hi_h), (lo_w, hi_w)). subsample: strides. filter_flip=True is a true
    convolution (the filters reversed), False a cross-correlation. input_shape/filter_shape are
    hints (None entries allowed); a hint that contradicts the actual shape is an error."""
    if kwargs:
        raise TypeError(f"conv2d: unexpected arguments {sorted(kwargs)} {_at()}")
    if num_groups != 1:
        raise NotImplementedError(f"conv2d: num_groups={num_groups} is not supported (1 only) {_at()}")
    x, w = _float_pair("conv2d", input, filters)
    _check_4d("conv2d", "input", x, "batch, channels, rows, columns")
    _check_4d("conv2d", "filters", w, "output channels, input channels, rows, columns")
    _check_hint("input_shape", input_shape, x.shape)
    _check_hint("filter_shape", filter_shape, w.shape)
    strides = pair("conv2d", "subsample", subsample)
    dilation = pair("conv2d", "filter_dilation", filter_dilation)
    padding = _border_padding(border_mode, w.shape[2:], dilation)
    if filter_flip:
        w = w[:, :, ::-1, ::-1]
    return conv_nchw("conv2d", x, w, strides, padding, dilation)


# ------------------------------------------------------------------ JAX: lax.conv_general_dilated
_DEFAULT_SPECS = ("NCHW", "OIHW", "NCHW")


def _specs(dimension_numbers: Any) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """dimension_numbers as the positions of (N, C, H, W), (O, I, H, W), (N, C, H, W)."""
    dn = _DEFAULT_SPECS if dimension_numbers is None else dimension_numbers
    if len(dn) != 3:
        raise ValueError(f"conv_general_dilated: dimension_numbers must be three layouts, got {dn!r} {_at()}")
    if all(isinstance(s, str) for s in dn):
        out = []
        for s, letters in zip(dn, ("NC", "OI", "NC")):
            if len(s) != 4 or len(set(s)) != 4 or letters[0] not in s or letters[1] not in s:
                raise ValueError(f"conv_general_dilated: layout {s!r} in dimension_numbers must be 4 distinct "
                                 f"letters with {letters[0]} and {letters[1]} {_at()}")
            spatial = [i for i, c in enumerate(s) if c not in letters]
            out.append((s.index(letters[0]), s.index(letters[1]), *spatial))
        return out[0], out[1], out[2]
    lhs, rhs, res = (tuple(int(i) for i in s) for s in dn)  # ConvDimensionNumbers(lhs_spec, rhs_spec, out_spec)
    return lhs, rhs, res


def _jax_padding(padding: Any, in_hw: Sequence[int | None], kernel: Sequence[int | None],
                 strides: Sequence[int], dilation: Sequence[int]) -> tuple[int, ...]:
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return (0, 0, 0, 0)
        if mode not in ("SAME", "SAME_LOWER"):
            raise ValueError(f"conv_general_dilated: padding must be 'SAME', 'SAME_LOWER', 'VALID' or pairs, "
                             f"got {padding!r} {_at()}")
        if None in in_hw or None in kernel:
            raise NotImplementedError(f"conv_general_dilated: padding={padding!r} needs static sizes {_at()}")
        out = []
        for n, k, s, d in zip(in_hw, kernel, strides, dilation):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            lo = total // 2 if mode == "SAME" else total - total // 2
            out += [lo, total - lo]
        return tuple(out)
    pads = [tuple(operator.index(v) for v in p) for p in padding]
    if len(pads) != 2 or any(len(p) != 2 or min(p) < 0 for p in pads):
        raise ValueError(f"conv_general_dilated: padding must be two (low, high) pairs of ints >= 0, "
                         f"got {padding!r} {_at()}")
    return pads[0] + pads[1]


def conv_general_dilated(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
                         lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
                         dimension_numbers: Any = None, feature_group_count: int = 1,
                         batch_group_count: int = 1, precision: Any = None,
                         preferred_element_type: Any = None) -> Tensor:
    """JAX's lax.conv_general_dilated for two spatial dims: a cross-correlation of `lhs` with
    `rhs` in the layouts of `dimension_numbers` (default NCHW, OIHW, NCHW; strings such as
    ('NHWC', 'HWIO', 'NHWC') or a ConvDimensionNumbers of index tuples)."""
    if feature_group_count != 1 or batch_group_count != 1:
        raise NotImplementedError(f"conv_general_dilated: feature_group_count/batch_group_count must be 1 {_at()}")
    x, w = _float_pair("conv_general_dilated", lhs, rhs)
    _check_4d("conv_general_dilated", "lhs", x, "two spatial dims")
    _check_4d("conv_general_dilated", "rhs", w, "two spatial dims")
    ls, rs, os_ = _specs(dimension_numbers)
    x, w = tnp.transpose(x, ls), tnp.transpose(w, rs)
    strides = pair("conv_general_dilated", "window_strides", window_strides)
    dilation = pair("conv_general_dilated", "rhs_dilation", rhs_dilation if rhs_dilation is not None else 1)
    base = pair("conv_general_dilated", "lhs_dilation", lhs_dilation if lhs_dilation is not None else 1)
    if base != (1, 1):
        x = _dilate(x, base)
    pads = _jax_padding(padding, x.shape[2:], w.shape[2:], strides, dilation)
    y = conv_nchw("conv_general_dilated", x, w, strides, pads, dilation)
    if preferred_element_type is not None:
        y = tnp.astype(y, preferred_element_type)
    return tnp.transpose(y, tuple(int(i) for i in np.argsort(os_)))


def conv(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any, precision: Any = None,
         preferred_element_type: Any = None) -> Tensor:
    """JAX's lax.conv: conv_general_dilated in NCHW/OIHW without dilation."""
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def _dilate(x: Tensor, base: tuple[int, int]) -> Tensor:
    """JAX's lhs_dilation: base - 1 zeros between neighbouring rows/columns (tn.pad_slice)."""
    if None in x.shape:
        raise NotImplementedError(f"conv_general_dilated: lhs_dilation needs static shapes, got {x.shape} {_at()}")
    n, c, h, w = x.shape
    shape = (n, c, (h - 1) * base[0] + 1 if h else 0, (w - 1) * base[1] + 1 if w else 0)
    return Tensor(emit1("tn.pad_slice", [x.value], {"starts": (0, 0, 0, 0), "steps": (1, 1) + base, "shape": shape}))
