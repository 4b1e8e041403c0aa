"""Theano's function options (issue 14, item 4): In, Out, modes, default updates, givens,
f.maker.fgraph, the theanir.compile paths, unknown keywords."""
import warnings

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.compile import mode as compile_mode
from theanir.compile.io import In, Out


# ------------------------------------------------------------------ In
def test_in_with_a_default_value_may_be_omitted():
    x, lr = T.dvector("x"), T.dscalar("lr")
    f = th.function([x, th.In(lr, value=0.1)], x * lr)
    np.testing.assert_allclose(f([1.0, 2.0]), [0.1, 0.2])
    np.testing.assert_allclose(f([1.0, 2.0], 0.5), [0.5, 1.0])
    np.testing.assert_allclose(f([1.0, 2.0], lr=2.0), [2.0, 4.0])
    assert th.In is In and th.Out is Out


def test_in_name_is_the_keyword():
    x, y = T.dscalars("x", "y")
    f = th.function([th.In(x, name="a"), th.In(y, name="b", value=3.0)], x - y)
    assert float(f(b=1.0, a=5.0)) == 4.0 and float(f(a=5.0)) == 2.0
    with pytest.raises(TypeError, match="no input named 'x'.*'a', 'b'"):
        f(x=1.0)
    with pytest.raises(TypeError, match="both by position and by keyword"):
        f(1.0, a=2.0)
    with pytest.raises(TypeError, match="input 0 .*missing.*th.In"):
        f(b=1.0)


def test_in_options_strict_downcast_mutable_borrow():
    x = T.fvector("x")
    loose = th.function([th.In(x, allow_downcast=True, mutable=True, borrow=True)], x * 2)
    assert loose(np.array([1.5, 2.5])).dtype == np.float32      # float64 downcast for this input
    with pytest.raises(TypeError, match="allow_input_downcast"):
        th.function([x], x * 2)(np.array([1.5, 2.5]))
    strict = th.function([th.In(x, strict=True)], x * 2)
    np.testing.assert_allclose(strict(np.array([1.0], np.float32)), [2.0])
    with pytest.raises(TypeError, match="strict"):
        strict([1.0])
    arr = np.array([1.0, 2.0], np.float32)
    th.function([th.In(x, mutable=True)], x + 1)(arr)
    np.testing.assert_array_equal(arr, [1.0, 2.0])              # inputs are never written


def test_in_bad_arguments():
    with pytest.raises(TypeError, match="expected a symbolic variable"):
        th.In(np.zeros(3))
    with pytest.raises(TypeError, match="update="):
        th.In(T.dscalar(), update=T.dscalar() + 1)
    with pytest.raises(TypeError, match="value= must be a value"):
        th.In(T.dscalar(), value=T.dscalar())
    with pytest.raises(TypeError, match="default value of input 0"):
        th.function([th.In(T.dvector("v"), value=np.zeros((2, 2)))], T.dvector("v") * 1)
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="same name"):
        th.function([th.In(x, name="a"), th.In(T.dscalar(), name="a")], x, on_unused_input="ignore")


# ------------------------------------------------------------------ Out, outputs
def test_out_borrow():
    x = T.dvector("x")
    f = th.function([x], th.Out(x * 2, borrow=True))
    np.testing.assert_allclose(f([1.0]), [2.0])
    g = th.function([x], [th.Out(x + 1), x - 1])
    np.testing.assert_allclose(g([1.0])[0], [2.0])


# ------------------------------------------------------------------ modes
@pytest.mark.parametrize("mode,optimizer", [
    ("FAST_RUN", "fast_run"), ("FAST_COMPILE", "fast_compile"), (compile_mode.FAST_RUN, "fast_run"),
    (compile_mode.FAST_COMPILE, "fast_compile"), (th.Mode(optimizer="fast_compile"), "fast_compile"),
    (th.Mode(linker="cvm", optimizer=None), "fast_compile"), ("DebugMode", "fast_compile"),
    (compile_mode.get_default_mode().including("fast_run"), None)])
def test_mode_maps_to_the_optimizer_option(mode, optimizer):
    x = T.dvector("x")
    f = th.function([x], T.exp(T.log(x)), mode=mode)
    assert f.mode.optimizer == optimizer and f._jit.optimizer == optimizer
    np.testing.assert_allclose(f([2.0]), [2.0])
    assert f.maker.mode is f.mode


def test_mode_changes_the_compiled_code():
    x = T.dvector("x")
    fast = th.function([x], T.log(1 + x), mode="FAST_RUN").lower(np.ones(3)).as_text("tn-opt")
    slow = th.function([x], T.log(1 + x), mode="FAST_COMPILE").lower(np.ones(3)).as_text("tn-opt")
    assert "log1p" in fast and "log1p" not in slow


def test_config_mode_is_the_default(monkeypatch):
    monkeypatch.setattr(th.config, "mode", "FAST_COMPILE")
    assert th.function([], T.constant(1.0)).mode.optimizer == "fast_compile"


def test_bad_modes():
    with pytest.raises(ValueError, match="unknown mode 'FAST'"):
        th.function([], T.constant(1.0), mode="FAST")
    with pytest.raises(ValueError, match="unknown optimizer 'o9'"):
        th.Mode(optimizer="o9")
    with pytest.raises(TypeError, match="mode must be"):
        th.function([], T.constant(1.0), mode=3)


# ------------------------------------------------------------------ keywords
def test_unknown_keywords_are_named():
    x = T.dvector("x")
    with pytest.raises(TypeError, match=r"unknown keyword arguments \['modes', 'update'\]"):
        th.function([x], x, update=[], modes="FAST_RUN")


def test_name_profile_and_on_unused_input():
    x, y = T.dvector("x"), T.dvector("y")
    f = th.function([x], x * 2, name="double", profile=True)
    with pytest.raises(TypeError, match="double: takes 1 inputs"):
        f([1.0], [2.0])
    with pytest.raises(th.frontend.symbolic.UnusedInputError):
        th.function([x, y], x)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        th.function([x, y], x, on_unused_input="warn")
    assert any("not used" in str(m.message) for m in w)
    assert th.function([x, y], x, on_unused_input="ignore")([1.0], [2.0])[0] == 1.0


def test_givens_minibatch_idiom():
    data = th.shared(np.arange(20.0).reshape(10, 2), name="data")
    x = T.dmatrix("x")
    f = th.function([], x.sum(axis=0), givens={x: data[2:5]})
    np.testing.assert_allclose(f(), np.arange(20.0).reshape(10, 2)[2:5].sum(0))


# ------------------------------------------------------------------ default updates
def test_default_updates_and_no_default_updates():
    count = th.shared(np.int64(0), name="count")
    count.default_update = count + 1
    other = th.shared(np.int64(0), name="other")
    other.default_update = other + 10
    out = count * 1 + other
    th.function([], out)()
    assert (count.get_value(), other.get_value()) == (1, 10)
    th.function([], out, no_default_updates=True)()
    assert (count.get_value(), other.get_value()) == (1, 10)
    th.function([], out, no_default_updates=[count])()
    assert (count.get_value(), other.get_value()) == (1, 20)
    th.function([], out, updates=[(count, count + 5)])()           # updates= wins
    assert (count.get_value(), other.get_value()) == (6, 30)


# ------------------------------------------------------------------ f.maker.fgraph
def test_fgraph_for_printers():
    x = T.dmatrix("x")
    w = th.shared(np.ones((3, 2)), name="w")
    y = T.tanh(T.dot(x, w))
    f = th.function([x], y.sum(), updates=[(w, w * 0.5)])
    g = f.maker.fgraph
    assert g.inputs == [x, w] and len(g.outputs) == 2 and g.outputs[0].owner.op.name == "sum"
    order = g.toposort()
    assert [str(n.op) for n in order][:3] == ["dot", "tanh", "sum"]
    pos = {n: i for i, n in enumerate(order)}
    for n in order:                                     # every node after the nodes it reads
        assert all(pos[v.owner] < pos[n] for v in n.inputs if v.owner is not None)
    assert g.apply_nodes == set(order) and {x, w, y} <= g.variables
    assert all(v.type is not None for v in g.variables)
    assert [i.variable for i in f.maker.inputs] == [x] and f.maker.outputs[0].variable is f.outputs[0]


def test_fgraph_substitutes_givens():
    data = th.shared(np.ones((4, 2)), name="data")
    x = T.dmatrix("x")
    f = th.function([], (x * 2).sum(), givens={x: data[1:3]})
    g = f.maker.fgraph
    leaves = {v for n in g.toposort() for v in n.inputs if v.owner is None}
    assert data in leaves and x not in leaves
    assert g.outputs[0] is not f.outputs[0]             # a copy, as Theano clones
