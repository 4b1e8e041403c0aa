"""Complex numbers: the ops between a complex tensor and its float parts.

complex64/complex128 tensors are MLIR `complex<f32>`/`complex<f64>`; the arithmetic and
transcendental elementwise ops take them directly (ops/elementwise.py, kinds with "c"). What
is left is moving between a complex value and its parts:

    %r = "tn.real"(%z) : (tensor<3xcomplex<f32>>) -> tensor<3xf32>
    %i = "tn.imag"(%z) : (tensor<3xcomplex<f32>>) -> tensor<3xf32>
    %c = "tn.conj"(%z) : (tensor<3xcomplex<f32>>) -> tensor<3xcomplex<f32>>
    %z = "tn.complex"(%r, %i) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xcomplex<f32>>
    %a = "tn.complex_abs"(%z) : (tensor<3xcomplex<f32>>) -> tensor<3xf32>

Shape rule: elementwise (one shape in, the same out). Reference: NumPy's real/imag/conj/abs
and re + 1j * im. Lowering: one complex-dialect op per element (complex.re, complex.im,
complex.conj, complex.create, complex.abs; complex.abs scales like hypot, so |z| does not
overflow where |z|^2 would). Batching: elementwise.

Derivatives follow JAX's convention: reverse mode transposes the *real-linear* map, pairing a
cotangent c with a tangent t as Re(c t) (no conjugation). So the transpose of `real` is
ct + 0j, of `imag` -1j * ct, of `conj` conj(ct), of `complex(re, im)` (real(ct), -imag(ct)),
and of a product by a constant b the product ct * b. For a real-valued f of complex z this
makes `grad(f)(z)` = df/dx - i df/dy (JAX gives 2 conj(z) for |z|^2); for a holomorphic f,
`grad(f, holomorphic=True)(z)` = f'(z). jvp of `complex_abs`: Re(conj(z) t) / |z| (0 at z = 0).
"""
from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import complex as cx

from .. import batching as vb
from .. import lax
from ..lowering import LowerCall, elementwise
from ..registry import OPS, Linear, ShapeError, defop
from ..types import TensorSpec, complex_dtype, element_type, real_dtype


def _need_complex(name: str, spec: TensorSpec) -> None:
    if spec.dtype.kind != "c":
        raise ShapeError(f"tn.{name}: needs a complex operand, got {spec}")


def _to_part(name: str):
    def infer(specs: list[TensorSpec]) -> list[TensorSpec]:
        _need_complex(name, specs[0])
        return [TensorSpec(specs[0].shape, real_dtype(specs[0].dtype))]
    return infer


def _lin(p) -> bool:
    return isinstance(p, Linear)


# ---------------------------------------------------------------- tn.real / tn.imag
real = defop("tn.real", ["x"], doc="The real part of a complex tensor (a float tensor).")
real.def_infer(_to_part("real"))
real.def_reference(lambda x: np.real(x).copy())
real.def_scalar(lambda call, x: cx.ReOp(x).result)
real.def_lower(lambda call: [elementwise(call, lambda x: cx.ReOp(x).result)])
real.def_jvp(lambda primals, tangents, outs: [None if tangents[0] is None else lax.real(tangents[0])])
real.def_transpose(lambda cts, primals: [lax.complex(cts[0], lax.zeros_like(cts[0]))])

imag = defop("tn.imag", ["x"], doc="The imaginary part of a complex tensor (a float tensor).")
imag.def_infer(_to_part("imag"))
imag.def_reference(lambda x: np.imag(x).copy())
imag.def_scalar(lambda call, x: cx.ImOp(x).result)
imag.def_lower(lambda call: [elementwise(call, lambda x: cx.ImOp(x).result)])
imag.def_jvp(lambda primals, tangents, outs: [None if tangents[0] is None else lax.imag(tangents[0])])
imag.def_transpose(lambda cts, primals: [lax.complex(lax.zeros_like(cts[0]), -cts[0])])

# ---------------------------------------------------------------- tn.conj
conj = defop("tn.conj", ["x"], same_type=("x", "out"), doc="The complex conjugate, elementwise.")


@conj.def_infer
def _conj_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    _need_complex("conj", specs[0])
    return [specs[0]]


conj.def_reference(np.conj)
conj.def_scalar(lambda call, x: cx.ConjOp(x).result)
conj.def_lower(lambda call: [elementwise(call, lambda x: cx.ConjOp(x).result)])
conj.def_jvp(lambda primals, tangents, outs: [None if tangents[0] is None else lax.conj(tangents[0])])
conj.def_transpose(lambda cts, primals: [lax.conj(cts[0])])

# ---------------------------------------------------------------- tn.complex
complex_ = defop("tn.complex", ["re", "im"], same_type=("re", "im"),
                 doc="re + 1j * im from two float tensors of one type (complex64 from float32).")


@complex_.def_infer
def _complex_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    a, b = specs
    if a != b:
        raise ShapeError(f"tn.complex: the parts must have one type, got {a} and {b}")
    if a.dtype.kind != "f":
        raise ShapeError(f"tn.complex: the parts must be float32 or float64, got {a.dtype.name}")
    return [TensorSpec(a.shape, complex_dtype(a.dtype))]


complex_.def_reference(lambda a, b: (a + 1j * b).astype(complex_dtype(a.dtype)))


def _create(call: LowerCall, a: ir.Value, b: ir.Value) -> ir.Value:
    return cx.CreateOp(element_type(call.out.dtype), a, b).result


complex_.def_scalar(_create)
complex_.def_lower(lambda call: [elementwise(call, lambda a, b: _create(call, a, b))])


@complex_.def_jvp
def _complex_jvp(primals, tangents, outs):
    ta, tb = tangents
    if ta is None and tb is None:
        return [None]
    zero = lax.zeros_like(primals[0])
    return [lax.complex(zero if ta is None else ta, zero if tb is None else tb)]


@complex_.def_transpose
def _complex_transpose(cts, primals):
    (ct,) = cts
    a, b = primals
    return [lax.real(ct) if _lin(a) else None, -lax.imag(ct) if _lin(b) else None]


# ---------------------------------------------------------------- tn.complex_abs
complex_abs = defop("tn.complex_abs", ["x"], doc="|z| of a complex tensor (a float tensor), as np.abs.")
complex_abs.def_infer(_to_part("complex_abs"))
complex_abs.def_reference(lambda x: np.abs(x))
complex_abs.def_scalar(lambda call, x: cx.AbsOp(x).result)
complex_abs.def_lower(lambda call: [elementwise(call, lambda x: cx.AbsOp(x).result)])


@complex_abs.def_jvp
def _complex_abs_jvp(primals, tangents, outs):
    (t,) = tangents
    if t is None:
        return [None]
    (x,), (y,) = primals, outs
    safe = lax.where(y == 0, lax.ones_like(y), y)  # d|z| at z = 0: 0, as JAX
    scale = lax.conj(x) / lax.complex(safe, lax.zeros_like(safe))
    return [lax.real(t * scale)]


# ---------------------------------------------------------------- batching rules (vmap)
for _name in ("real", "imag", "conj", "complex", "complex_abs"):
    OPS[f"tn.{_name}"].def_batch(vb.elementwise_rule(f"tn.{_name}"))
