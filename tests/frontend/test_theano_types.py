"""Theano's types (issue 14, item 1): `var.dtype` is a str, `var.type` a TensorType with a
broadcast pattern, types known after reshape/flatten/indexing/alloc, `bool(var)`."""
import pickle

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.frontend.symbolic_types import DType


# ------------------------------------------------------------------ dtype is a str
def test_dtype_is_a_str_as_in_theano():
    y = T.ivector("y")
    assert isinstance(y.dtype, str) and y.dtype == "int32" and repr(y.dtype) == "'int32'"
    assert y.dtype.startswith("int")                     # the regression
    assert not T.fmatrix().dtype.startswith("int")
    assert T.fmatrix().dtype in ("float32", "float64") and T.dvector().dtype in {"float64"}
    assert (T.dvector() * 2).dtype == "float64" and T.lscalar().dtype == "int64"
    assert th.shared(np.zeros(3, np.float32)).dtype == "float32"
    assert T.cast(T.dmatrix(), "int32").dtype == "int32"
    assert y.dtype in T.discrete_dtypes and T.fmatrix().dtype in T.float_dtypes


def test_dtype_also_answers_numpy_attributes():
    d = T.fvector().dtype
    assert d == np.float32 and d == np.dtype("float32") and d != np.float64
    assert T.dvector().dtype != None and not (T.dvector().dtype == None)  # noqa: E711
    assert (d.kind, d.name, d.itemsize) == ("f", "float32", 4)
    assert np.zeros(2, dtype=d).dtype == np.float32
    assert {d: 1}["float32"] == 1                         # hashes as the str
    assert pickle.loads(pickle.dumps(d)) == "float32" and isinstance(pickle.loads(pickle.dumps(d)), DType)
    with pytest.raises(TypeError, match="not supported"):
        DType("uint64")  # (complex64 is supported since issue 20)
    assert DType("complex64").kind == "c"


def test_dtype_str_reaches_the_graph():
    x = T.dmatrix("x")
    f = th.function([x], x.astype(T.ivector().dtype) + T.zeros((2,), dtype=T.lvector().dtype))
    assert f(np.array([[1.7, 2.2]])).dtype == np.int64


# ------------------------------------------------------------------ TensorType and patterns
def test_tensor_type_equality_call_and_filter():
    tt = T.TensorType("float32", (False, True))
    c = tt("c")
    assert c.type == tt and c.ndim == 2 and c.broadcastable == (False, True) and c.name == "c"
    assert tt == T.TensorType(np.float32, [False, True]) and tt != T.TensorType("float32", (False, False))
    assert hash(tt) == hash(T.TensorType("float32", (False, True))) and tt.ndim == 2
    assert repr(tt) == "TensorType(float32, col)" and repr(T.fmatrix().type) == "TensorType(float32, matrix)"
    assert tt.filter([[1.0], [2.0]]).dtype == np.float32
    with pytest.raises(TypeError, match="broadcastable"):
        tt.filter(np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="strict"):
        tt.filter(np.ones((2, 1)), strict=True)
    assert tt.is_valid_value(np.ones((3, 1), np.float32)) and not tt.is_valid_value(np.ones((3, 1)))


def test_constructor_patterns():
    assert T.row().broadcastable == (True, False) and T.col().broadcastable == (False, True)
    assert T.frow().dtype == "float32" and T.icol().dtype == "int32"
    assert T.matrix().broadcastable == (False, False) and T.scalar().broadcastable == ()
    assert T.tensor("float64", (True, False, False)).broadcastable == (True, False, False)
    assert T.dmatrix().type == T.TensorType("float64", (False, False))


def test_shared_variables_are_not_broadcastable_unless_told():
    assert th.shared(np.zeros((1, 3))).broadcastable == (False, False)
    b = th.shared(np.zeros((1, 3)), broadcastable=(True, False))
    assert b.broadcastable == (True, False) and b.type == T.TensorType("float64", (True, False))
    with pytest.raises(TypeError, match="broadcastable"):
        th.shared(np.zeros((2, 3)), broadcastable=(True, False))
    with pytest.raises(TypeError, match="broadcastable"):
        b.set_value(np.zeros((2, 3)))


def test_derived_patterns():
    x, r = T.dmatrix("x"), T.drow("r")
    assert x.dimshuffle("x", 0, 1).broadcastable == (True, False, False)
    assert x.dimshuffle(1, 0).broadcastable == (False, False)
    assert x.sum(axis=0, keepdims=True).broadcastable == (True, False)
    assert (x + r).broadcastable == (False, False) and (r * 2).broadcastable == (True, False)
    assert T.alloc(0.0, x.shape[0], 1).broadcastable == (False, True)
    assert T.dot(x, x).broadcastable == (False, False) and x[0].broadcastable == (False,)
    assert T.shape_padleft(x).broadcastable == (True, False, False)


def test_addbroadcast_unbroadcast_patternbroadcast():
    x = T.dmatrix("x")
    xb = T.addbroadcast(x, 0)
    assert xb.broadcastable == (True, False) and xb.dtype == "float64"
    assert T.unbroadcast(xb, 0).broadcastable == (False, False)
    assert T.patternbroadcast(x, (False, True)).broadcastable == (False, True)
    f = th.function([x], T.addbroadcast(x, 0) * 2)
    np.testing.assert_allclose(f(np.ones((1, 3))), 2 * np.ones((1, 3)))
    with pytest.raises(ValueError, match="broadcastable"):
        f(np.ones((2, 3)))
    with pytest.raises(ValueError, match="axis 2"):
        T.addbroadcast(x, 2)
    with pytest.raises(ValueError, match="2 dims"):
        T.patternbroadcast(x, (True,))


# ------------------------------------------------------------------ types after shape ops
def test_reshape_types_with_symbolic_entries():
    x, n = T.dmatrix("x"), T.iscalar("n")
    emb = th.shared(np.arange(40.0).reshape(10, 4), name="emb")
    idx = T.ivector("idx")
    for y in [x.reshape((784, 10)), x.reshape((n, 10)), emb[idx].reshape((idx.shape[0], 8)),
              T.reshape(x, (x.shape[0], -1)), x.reshape((n, x.shape[1]), ndim=2)]:
        assert (y.ndim, y.dtype) == (2, "float64") and y.broadcastable == (False, False)
    assert x.reshape((1, -1)).broadcastable == (True, False) and x.reshape(x.shape).ndim == 2
    assert x.reshape((6,)).type == T.dvector().type and T.flatten(x).ndim == 1
    with pytest.raises(ValueError, match="ndim=3"):
        th.function([x], x.reshape((2, 3), ndim=3))(np.ones((3, 2)))
    with pytest.raises(TypeError, match="pass ndim="):
        x.reshape(T.lvector("s"))


def test_reshape_with_a_scalar_input_specializes_on_its_value():
    x, n = T.dvector("x"), T.iscalar("n")
    f = th.function([x, n], x.reshape((n, -1)).sum(axis=1))
    np.testing.assert_allclose(f(np.arange(6.0), 2), [3.0, 12.0])
    np.testing.assert_allclose(f(np.arange(6.0), 3), [1.0, 5.0, 9.0])


def test_reshape_into_scan_regression():
    # the programs: theta[0:n].reshape((784, 10)), emb[idx].reshape((n, k)), then scan
    theta = th.shared(np.arange(24.0), name="theta")
    n = T.lscalar("n")
    assert theta[0:n].reshape((784, 10)).type == T.dmatrix().type      # symbolic bounds: typed
    assert theta[n:n + 5].type == T.dvector().type and T.dmatrix()[:, n].type == T.dvector().type
    w = theta[0:12].reshape((4, 3))
    out, _ = th.scan(lambda row: row * 2, sequences=w)
    np.testing.assert_allclose(th.function([], out)(), 2 * np.arange(12.0).reshape(4, 3))
    emb = th.shared(np.arange(40.0).reshape(10, 4), name="emb")
    idx = T.ivector("idx")
    x = emb[idx].reshape((idx.shape[0], 4))
    h, _ = th.scan(lambda xt, hp: hp + xt, sequences=x, outputs_info=T.zeros((4,), dtype="float64"))
    got = th.function([idx], h[-1])(np.array([1, 3, 3], np.int32))
    np.testing.assert_allclose(got, np.arange(40.0).reshape(10, 4)[[1, 3, 3]].sum(0))


def test_flatten_dimshuffle_index_stack_alloc_concat_reduce_dot_types():
    x4, m, v = T.ftensor4("x4"), T.dmatrix("m"), T.dvector("v")
    assert (x4.flatten(2).ndim, x4.flatten(2).dtype) == (2, "float32") and T.flatten(x4, 3).ndim == 3
    assert x4.flatten(2).broadcastable == (False, False) and T.frow().flatten(2).broadcastable == (True, False)
    assert x4.dimshuffle(0, "x", 1, 2, 3).ndim == 5
    assert (m[3].ndim, m[3:, 1].ndim, m[[2, 5]].ndim, m[:, [4, 0]].ndim, m[T.imatrix()].ndim) == (1, 1, 2, 2, 3)
    assert m[None, 2].broadcastable == (True, False) and m[..., 7].ndim == 1
    assert T.stack([v, v]).ndim == 2 and T.stack(v, v, v).ndim == 2
    assert T.concatenate([m, m], axis=1).type == m.type and T.alloc(np.float32(0), 3, 4).dtype == "float32"
    assert (T.zeros((3, 4)).ndim, T.ones((T.iscalar(),), dtype="int32").dtype) == (2, "int32")
    assert m.max(axis=1).ndim == 1 and T.mean(m).ndim == 0 and T.argmax(m, axis=0).dtype == "int64"
    assert T.dot(m, v).type == v.type and T.dot(v, v).ndim == 0


# ------------------------------------------------------------------ truth values
def test_bool_of_a_variable_is_true_except_comparisons():
    w = th.shared(np.zeros(3), name="w")
    assert bool(w) and bool(T.dmatrix()) and bool(w * 2) and bool(T.constant(0))
    if w:                      # the regression: `if shared_var:`
        pass
    x = T.dscalar("x")
    for cmp in (x > 0, x < 0, x >= 0, x <= 0):
        with pytest.raises(TypeError, match="comparison.*T.switch"):
            bool(cmp)
    with pytest.raises(TypeError):
        if 0 < x < 1:          # chained comparisons refuse, as in Theano
            pass


def test_typed_shape_nodes_pickle():
    x, n = T.dmatrix("x"), T.iscalar("n")
    for y in [x.reshape((n, 3)), x.flatten(2), T.alloc(0.0, x.shape[0], 1), T.zeros((n, 2)),
              T.addbroadcast(x, 0)]:
        z = pickle.loads(pickle.dumps(y))
        z._type = z._bcast = None                      # inferred again from the unpickled rule
        assert z.type == y.type


def test_type_after_constant_slices_of_a_parameter_vector():
    """logistic_cg's idiom: W and b are slices of one shared theta; the stand-ins of length 1
    would make `theta[7840:7850]` empty, and argmax of it fail: slices are typed by the index."""
    theta = th.shared(np.zeros(7850))
    x = T.matrix()
    W = theta[0:7840].reshape((784, 10))
    b = theta[7840:7850]
    y_pred = T.argmax(T.nnet.softmax(T.dot(x, W) + b), axis=1)
    assert y_pred.ndim == 1 and y_pred.dtype.startswith("int")
