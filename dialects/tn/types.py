"""Element types, tensor specs and their MLIR spellings.

The `tn` dialect works on builtin ranked tensors; a `TensorSpec` is the plain-Python view of
one (shape + NumPy dtype) so shape rules and the frontend never touch MLIR objects. A dim is
an int, or `None` for a dynamic one (`?` in the MLIR type: known only when the code runs, see
docs/dynamic-shapes.md).
Booleans are `i1` in `tn` IR; below `tn` they are stored as `i8` (see `storage_element_type`)
because this MLIR build aborts on `i1` memrefs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from mlir import ir

SUPPORTED_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(n) for n in ("float32", "float64", "int32", "int64", "bool", "complex64", "complex128")
)
# complex64/complex128 are MLIR `complex<f32>`/`complex<f64>` (two floats per element, real
# part first, as NumPy stores them); their ops lower through MLIR's complex dialect.
COMPLEX_PARTS = {np.dtype(np.complex64): np.dtype(np.float32), np.dtype(np.complex128): np.dtype(np.float64)}


def real_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of the real and imaginary parts of a complex dtype (the dtype itself otherwise)."""
    return COMPLEX_PARTS.get(np.dtype(dtype), np.dtype(dtype))


def complex_dtype(dtype: np.dtype) -> np.dtype:
    """The complex dtype whose parts have the float dtype `dtype` (complex dtypes map to themselves)."""
    dt = np.dtype(dtype)
    if dt.kind == "c":
        return dt
    return np.dtype(np.complex64) if dt == np.float32 else np.dtype(np.complex128)

# Sparse encodings the dialect reserves for the CSR/CSC wave (DESIGN.md §2): MLIR's own
# encodings, so the sparsifier and bufferization understand them.
CSR_ENCODING = (
    "#sparse_tensor.encoding<{map = (i, j) -> (i : dense, j : compressed), "
    "posWidth = 32, crdWidth = 32}>"
)
CSC_ENCODING = (
    "#sparse_tensor.encoding<{map = (i, j) -> (j : dense, i : compressed), "
    "posWidth = 32, crdWidth = 32}>"
)


def sparse_tensor_type(shape: tuple[int, int], dtype: np.dtype, layout: str = "csr") -> ir.RankedTensorType:
    """A 2-D CSR or CSC tensor type (MLIR's own sparse encoding; ops arrive with the sparse wave)."""
    encodings = {"csr": CSR_ENCODING, "csc": CSC_ENCODING}
    if layout not in encodings:
        raise ValueError(f"sparse layout must be 'csr' or 'csc', got {layout!r}")
    if len(shape) != 2:
        raise ValueError(f"sparse tensors are 2-D, got shape {shape}")
    return ir.RankedTensorType.get(list(shape), element_type(dtype), ir.Attribute.parse(encodings[layout]))


def sparse_layout(t: ir.Type) -> str | None:
    """'csr', 'csc' or None (dense or another encoding) for a tensor type."""
    if not isinstance(t, ir.RankedTensorType) or t.encoding is None:
        return None
    for name, text in (("csr", CSR_ENCODING), ("csc", CSC_ENCODING)):
        if t.encoding == ir.Attribute.parse(text):
            return name
    return None


@dataclass(frozen=True)
class TensorSpec:
    """Shape and dtype of a tensor value; a `None` dim is dynamic."""

    shape: tuple[int | None, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return None not in self.shape

    @property
    def size(self) -> int | None:
        """The element count; 0 when a static dim is 0, else None while a dim is dynamic."""
        if None in self.shape:
            return 0 if 0 in self.shape else None
        return math.prod(self.shape)  # a Python int: never wraps

    def size_above(self, limit: int) -> bool:
        """More than `limit` elements, or an unknown (dynamic) count: too big to fold."""
        return self.size is None or self.size > limit

    def __str__(self) -> str:
        return f"{self.dtype.name}[{', '.join('?' if n is None else str(n) for n in self.shape)}]"


def fill_dynamic(shape, sizes) -> tuple:
    """A `shape` attribute with each -1 (a dynamic dim) replaced by the next of `sizes` (ints
    for a NumPy reference, index values in a lowering, lax Values in a derivative rule); the
    size operands of tn.broadcast_to, tn.reshape, tn.iota and tn.dynamic_pad_slice."""
    it = iter(sizes)
    return tuple(next(it) if n == -1 else n for n in shape)


def mlir_shape(shape: tuple[int | None, ...]) -> list[int]:
    """A shape with None dims in MLIR's spelling (the dynamic-size sentinel)."""
    dyn = ir.ShapedType.get_dynamic_size()
    return [dyn if n is None else int(n) for n in shape]


def py_shape(t: ir.ShapedType) -> tuple[int | None, ...]:
    """An MLIR shaped type's shape with `?` dims as None."""
    return tuple(None if t.is_dynamic_dim(i) else t.get_dim_size(i) for i in range(t.rank))


def check_dtype(dtype: object) -> np.dtype:
    """Normalize `dtype` and refuse what the dialect cannot represent."""
    dt = np.dtype(dtype)
    if dt not in SUPPORTED_DTYPES and dt.newbyteorder("=") in SUPPORTED_DTYPES:
        raise TypeError(f"dtype {dt.str} ({dt.name} in non-native byte order) is not supported by "
                        f"theanir: convert with x.astype(x.dtype.newbyteorder('='))")
    if dt not in SUPPORTED_DTYPES:
        names = ", ".join(d.name for d in SUPPORTED_DTYPES)
        raise TypeError(f"dtype {dt.name} is not supported by theanir (supported: {names})")
    return dt


def element_type(dtype: np.dtype) -> ir.Type:
    """The MLIR element type used in `tn` IR for a NumPy dtype."""
    name = np.dtype(dtype).name
    if name == "float32":
        return ir.F32Type.get()
    if name == "float64":
        return ir.F64Type.get()
    if name == "int32":
        return ir.IntegerType.get_signless(32)
    if name == "int64":
        return ir.IntegerType.get_signless(64)
    if name == "bool":
        return ir.IntegerType.get_signless(1)
    if name in ("complex64", "complex128"):
        return ir.ComplexType.get(element_type(real_dtype(np.dtype(name))))
    raise TypeError(f"dtype {name} has no tn element type")


def storage_element_type(dtype: np.dtype) -> ir.Type:
    """The element type used in memory (below tn): booleans become i8."""
    if np.dtype(dtype) == np.bool_:
        return ir.IntegerType.get_signless(8)
    return element_type(dtype)


def dtype_of_element(t: ir.Type) -> np.dtype:
    """Inverse of `element_type`."""
    if isinstance(t, ir.F32Type):
        return np.dtype("float32")
    if isinstance(t, ir.F64Type):
        return np.dtype("float64")
    if isinstance(t, ir.IntegerType):
        width = ir.IntegerType(t).width
        table = {1: "bool", 8: "bool", 32: "int32", 64: "int64"}
        if width in table:
            return np.dtype(table[width])
    if isinstance(t, ir.ComplexType):
        return complex_dtype(dtype_of_element(ir.ComplexType(t).element_type))
    raise TypeError(f"element type {t} is not a tn element type")


def tensor_type(spec: TensorSpec, *, storage: bool = False) -> ir.RankedTensorType:
    elt = storage_element_type(spec.dtype) if storage else element_type(spec.dtype)
    return ir.RankedTensorType.get(mlir_shape(spec.shape), elt)


# spec_of_type remembered per type: the optimizer and the lowering ask ~90,000 times for a
# 10^4-op program, for about a dozen distinct types, and reading shape and element type
# through the bindings cost ~1 s there (a lookup: ~1 us). A key holds its context alive (so
# no key can be stale), which is why the cache is bounded and `clear_spec_cache` empties it
# (passes/pipeline.run_until does after each run); TensorSpec is frozen, sharing is safe.
_SPECS: dict[ir.Type, TensorSpec] = {}
_SPECS_MAX = 1024


def clear_spec_cache() -> None:
    """Forget the remembered specs (and so the contexts their types belong to)."""
    _SPECS.clear()


def spec_of_type(t: ir.Type) -> TensorSpec:
    spec = _SPECS.get(t)
    if spec is not None:
        return spec
    if not isinstance(t, ir.RankedTensorType):
        raise TypeError(f"expected a ranked tensor type, got {t}")
    rt = ir.RankedTensorType(t)
    spec = TensorSpec(py_shape(rt), dtype_of_element(rt.element_type))
    if len(_SPECS) >= _SPECS_MAX:
        _SPECS.clear()
    _SPECS[t] = spec
    return spec


def spec_of_value(v: ir.Value) -> TensorSpec:
    return spec_of_type(v.type)
