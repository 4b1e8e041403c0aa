"""The tn dialect as MLIR sees it: IRDL registration, verifier, region ops, sparse types."""
from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
from mlir import ir

from theanir.dialects.tn.context import new_context
from theanir.dialects.tn.irdl import irdl_text
from theanir.dialects.tn.registry import OPS
from theanir.dialects.tn.types import sparse_layout, sparse_tensor_type


def parse(text: str) -> ir.Module:
    ctx = new_context()
    with ctx:
        m = ir.Module.parse(text)
        m.operation.verify()
        return m


def test_every_op_has_shape_rule_reference_and_lowering():
    for name, op in OPS.items():
        if op.regions:  # tn.scan / tn.cond: frontend and lowering arrive with control flow
            continue
        assert op.infer is not None, name
        assert op.reference is not None, name
        assert op.lower is not None or op.decompose is not None, name


def test_mlir_verifier_rejects_ill_typed_tn_ops():
    ok = '''func.func @f(%a: tensor<3xf32>) -> tensor<3xf32> {
      %0 = "tn.add"(%a, %a) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
      return %0 : tensor<3xf32> }'''
    parse(ok)
    bad_types = ok.replace('"tn.add"(%a, %a) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>',
                           '"tn.add"(%a, %a) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf64>')
    with pytest.raises(ir.MLIRError, match="tn.add"):
        parse(bad_types.replace("-> tensor<3xf32> {", "-> tensor<3xf64> {").replace("return %0 : tensor<3xf32>", "return %0 : tensor<3xf64>"))
    with pytest.raises(ir.MLIRError):
        parse('func.func @g(%a: tensor<3xf32>) { %0 = "tn.exp"(%a, %a) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>\n return }')
    with pytest.raises(ir.MLIRError):  # a required attribute is missing
        parse('func.func @g(%a: tensor<3xf32>) { %0 = "tn.cast"(%a) : (tensor<3xf32>) -> tensor<3xf64>\n return }')
    with pytest.raises(ir.MLIRError):  # unknown op of the dialect
        parse('func.func @g(%a: tensor<3xf32>) { %0 = "tn.nope"(%a) : (tensor<3xf32>) -> tensor<3xf32>\n return }')


def _segments(*sizes: int, slots: int) -> str:
    return "array<i32: " + ", ".join(str(n) for n in [*sizes] + [0] * (slots - len(sizes))) + ">"


def test_region_ops_are_declared():
    # carries of different types in one tn.scan (optional slots + segment sizes), a body that
    # reads an outer value (%s) directly, and a tn.cond nested in the body
    scan_attrs = (f"length = 5 : i64, until = false, operandSegmentSizes = {_segments(1, 1, 1, slots=17)}, "
                  f"resultSegmentSizes = {_segments(1, 1, 1, slots=32)}")
    cond_attrs = f"resultSegmentSizes = {_segments(1, slots=16)}"
    parse(f'''func.func @f(%n: tensor<i64>, %a: tensor<4xf32>, %b: tensor<i1>, %s: tensor<5x4xf32>)
        -> (tensor<4xf32>, tensor<i1>, tensor<5x4xf32>) {{
      %0:3 = "tn.scan"(%n, %a, %b) ({{
        ^bb0(%i: tensor<i64>, %x: tensor<4xf32>, %p: tensor<i1>):
          %r = "tn.take"(%s, %i) {{axis = 0 : i64}} : (tensor<5x4xf32>, tensor<i64>) -> tensor<4xf32>
          %y = "tn.cond"(%p) ({{
            %z = "tn.add"(%x, %r) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
            "gpu.yield"(%z) : (tensor<4xf32>) -> ()
          }}, {{
            "gpu.yield"(%x) : (tensor<4xf32>) -> ()
          }}) {{{cond_attrs}}} : (tensor<i1>) -> tensor<4xf32>
          "gpu.yield"(%y, %p, %y) : (tensor<4xf32>, tensor<i1>, tensor<4xf32>) -> ()
      }}) {{{scan_attrs}}} : (tensor<i64>, tensor<4xf32>, tensor<i1>) -> (tensor<4xf32>, tensor<i1>, tensor<5x4xf32>)
      return %0#0, %0#1, %0#2 : tensor<4xf32>, tensor<i1>, tensor<5x4xf32> }}''')


def test_sparse_csr_csc_types():
    with new_context(), ir.Location.unknown():
        csr = sparse_tensor_type((4, 5), np.float32, "csr")
        csc = sparse_tensor_type((4, 5), np.float64, "csc")
        assert sparse_layout(csr) == "csr" and sparse_layout(csc) == "csc"
        assert sparse_layout(ir.RankedTensorType.get([4, 5], ir.F32Type.get())) is None
        text = f'''func.func @f(%a: {csr}) -> {csr} {{
          %0 = "tn.neg"(%a) : ({csr}) -> {csr}
          return %0 : {csr} }}'''
    parse(text)  # the dialect holds sparse operands today; their lowering is a later wave
    with new_context(), ir.Location.unknown(), pytest.raises(ValueError):
        sparse_tensor_type((4, 5, 6), np.float32)


def test_mlir_opt_loads_the_generated_irdl(tmp_path):
    import mlir

    mlir_opt = os.path.join(list(mlir.__path__)[0], "bin", "mlir-opt")
    if not os.path.exists(mlir_opt):
        pytest.skip("mlir-opt binary not shipped")
    dialect = tmp_path / "tn.irdl.mlir"
    dialect.write_text(irdl_text())
    src = tmp_path / "in.mlir"
    src.write_text('''func.func @f(%a: tensor<3xf32>) -> tensor<3xf32> {
      %0 = "tn.tanh"(%a) : (tensor<3xf32>) -> tensor<3xf32>
      return %0 : tensor<3xf32> }''')
    out = subprocess.run([mlir_opt, f"--irdl-file={dialect}", str(src)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert '"tn.tanh"' in out.stdout
