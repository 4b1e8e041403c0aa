"""The dialect's lax builders: strict operands, weak literals, explicit broadcasts; and the
dialect standing alone (it imports nothing from the passes or the frontend)."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from mlir import ir
from mlir.dialects import func

from theanir.dialects.tn import lax
from theanir.dialects.tn.context import new_context
from theanir.dialects.tn.types import TensorSpec, tensor_type


def _build(specs, body):
    """Run body(*args as lax Values) inside a fresh function; returns the module text."""
    with new_context(), ir.Location.unknown():
        module = ir.Module.create()
        with ir.InsertionPoint(module.body):
            f = func.FuncOp("f", ([tensor_type(s) for s in specs], []))
            block = f.add_entry_block()
        with ir.InsertionPoint(block):
            body(*[lax.Value(a) for a in block.arguments])
        return str(module)


F32_3 = TensorSpec((3,), np.dtype(np.float32))
F32_23 = TensorSpec((2, 3), np.dtype(np.float32))
F64_3 = TensorSpec((3,), np.dtype(np.float64))


def test_operands_of_different_shape_or_dtype_are_refused():
    for spec in (F32_23, F64_3):
        def body(a, b):
            with pytest.raises(TypeError, match=r"tn\.add: operands must have one shape and dtype") as e:
                a + b
            assert str(a.spec) in str(e.value) and str(b.spec) in str(e.value)
        _build([F32_3, spec], body)


def test_a_python_scalar_becomes_a_constant_of_the_other_operand():
    def body(a):
        y = 1 - a * 2.0
        assert y.spec == a.spec
    text = _build([F32_3], body)
    assert 'dense<1.000000e+00> : tensor<f32>' in text and '"tn.broadcast_to"' in text


def test_non_scalar_operands_and_lossy_literals_are_refused():
    def body(a, i):
        with pytest.raises(TypeError):
            a * np.ones(3, np.float32)
        with pytest.raises(TypeError, match="does not fit"):
            i + 0.5
        with pytest.raises(TypeError):
            bool(a > 0)
    _build([F32_3, TensorSpec((3,), np.dtype(np.int64))], body)


def test_explicit_broadcasts_and_their_adjoint():
    def body(a, m):
        b = lax.broadcast_in_dim(a, (2, 3), (1,))
        assert b.shape == (2, 3)
        assert (b * m).shape == (2, 3)
        assert lax.sum_to_shape(m, (3,)).shape == (3,)
        assert lax.sum_to_shape(m, (1, 3)).shape == (1, 3)
        w = lax.where(m > 0, m, 0.0)
        assert w.spec == m.spec
        assert lax.convert(a, np.float64).dtype == np.float64
    _build([F32_3, F32_23], body)


def test_the_dialect_imports_nothing_above_it():
    """No module under dialects/ imports the passes, code generation, runtime or frontend,
    not even inside a function (`import theanir` itself loads the frontend, so this reads
    the source instead of sys.modules)."""
    root = Path(__file__).resolve().parents[2] / "dialects"
    above = ("theanir.passes", "theanir.codegen", "theanir.runtime", "theanir.frontend")
    bad = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            bad += [f"{path.relative_to(root)}: {n}" for n in names if n.startswith(above)]
    assert not bad, bad
