"""Complex numbers in the NumPy namespace (issue 20): `th.real`, `imag`, `conj`/`conjugate`,
`angle`, `iscomplexobj`, `isrealobj`, and the `complex64`/`complex128` dtypes.

complex64/complex128 tensors are first-class (`tn` element types `complex<f32>`/`complex<f64>`):
the arithmetic operators, `exp`, `log`, `sqrt`, `sin`, `cos`, `tanh`, `==`/`!=`, the sums and
products, `dot`/`matmul`/`einsum` take them as they take floats, with NumPy's promotion
(float32 + complex64 -> complex64, a Python complex scalar is weak). Ordering comparisons,
`maximum`/`minimum`, `floor` ... refuse them with a TypeError, as NumPy and JAX do.
Derivatives follow JAX's convention (ops/complex_parts.py, docs/jax-programs.md).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from theanir.dialects.tn.builder import emit1

from .np_base import as_tensor, binary, zeros_like
from .tensor import Tensor


def real(x: Any) -> Tensor:
    """The real part; a real tensor is returned as it is (NumPy's np.real)."""
    x = as_tensor(x)
    return Tensor(emit1("tn.real", [x.value])) if x.dtype.kind == "c" else x


def imag(x: Any) -> Tensor:
    """The imaginary part; zeros of the same dtype for a real tensor (NumPy's np.imag)."""
    x = as_tensor(x)
    return Tensor(emit1("tn.imag", [x.value])) if x.dtype.kind == "c" else zeros_like(x)


def conj(x: Any) -> Tensor:
    """The complex conjugate; a real tensor is returned as it is."""
    x = as_tensor(x)
    return Tensor(emit1("tn.conj", [x.value]), weak=x.weak) if x.dtype.kind == "c" else x


conjugate = conj


def angle(z: Any, deg: bool = False) -> Tensor:
    """The argument of z (atan2(imag, real)), in radians unless `deg` (np.angle)."""
    z = as_tensor(z)
    if z.dtype.kind != "c" and z.dtype.kind != "f":
        z = as_tensor(z, np.float64)
    out = binary("atan2", imag(z), real(z))
    return out * (180.0 / np.pi) if deg else out


def make_complex(x: Any, y: Any) -> Tensor:
    """x + 1j * y from two real arrays (JAX's lax.complex): broadcast and promoted to one float
    dtype (ints to float64), complex64 from float32."""
    from .np_base import _to_float_dtype, prepare, result_type
    dt = _to_float_dtype(result_type(x, y))
    if dt.kind != "f":
        raise TypeError(f"lax.complex: the parts must be real, got {dt.name}")
    a, b = prepare("complex", [x, y], dt)
    return Tensor(emit1("tn.complex", [a.value, b.value]))


def iscomplexobj(x: Any) -> bool:
    """Whether x has a complex dtype (a Python-level answer, as NumPy's)."""
    return np.dtype(getattr(x, "dtype", np.asarray(x).dtype)).kind == "c"


def isrealobj(x: Any) -> bool:
    return not iscomplexobj(x)


__all__ = ["real", "imag", "conj", "conjugate", "angle", "iscomplexobj", "isrealobj"]
