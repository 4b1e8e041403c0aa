"""Pickling and copying compiled functions, graphs, shared variables and Arrays
(frontend/pickling.py; th.Array's in runtime/__init__.py)."""
import copy
import copyreg
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.codegen.native import STATS
from theanir.frontend.pickling import PickleVersionError
from theanir.frontend.symbolic import Function

# ------------------------------------------------------------------ a logistic regression, in two processes
MODEL = """
import numpy as np, theanir as th, theanir.tensor as T
rng = np.random.default_rng(0)
X = rng.normal(size=(20, 3)); Y = (X[:, 0] - X[:, 1] > 0).astype(np.float64)
"""

MAKE = MODEL + """
import json, pickle, sys
x, y = T.dmatrix("x"), T.dvector("y")
w = th.shared(np.zeros(3), name="w"); b = th.shared(0.0, name="b")
p = T.nnet.sigmoid(T.dot(x, w) + b)
cost = T.nnet.binary_crossentropy(p, y).mean()
gw, gb = T.grad(cost, [w, b])
train = th.function([x, y], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)])
predict = th.function([x], p)
for _ in range(5):
    train(X, Y)                      # asynchronous: the pickle waits for the updates
predict(X)
with open(sys.argv[1], "wb") as f:
    pickle.dump((train, predict), f)
expected = {"cost": float(train(X, Y)), "w": w.get_value().tolist(), "p": np.asarray(predict(X)).tolist()}
print(json.dumps(expected))
"""

LOAD = MODEL + """
import json, pickle, sys
from theanir.codegen import cache
from theanir.codegen.native import STATS
stages = []
run_until = cache.run_until
def counting(module, stage, opts, **kw):
    stages.append(stage)
    return run_until(module, stage, opts, **kw)
cache.run_until = counting            # every optimization or lowering run goes through here
with open(sys.argv[1], "rb") as f:
    train, predict = pickle.load(f)
at_load = {"stages": list(stages), "stats": dict(STATS)}
cost = float(train(X, Y))             # updates the shared variables predict reads too
got = {"cost": cost, "w": train.shared[0].get_value().tolist(), "p": np.asarray(predict(X)).tolist(),
       "shared_shared": train.shared[0] is predict.shared[0], "at_load": at_load,
       "stages_after_calls": list(stages)}
p5 = np.asarray(predict(X[:5]))       # a new shape: traced and compiled now
w, b = train.shared[0].get_value(), train.shared[1].get_value()
got["new_shape_ok"] = bool(np.allclose(p5, 1 / (1 + np.exp(-(X[:5] @ w + b)))))
print(json.dumps(got))
"""


def _run(code: str, path: str, cache_dir: str, cache: str = "1") -> dict:
    env = {**os.environ, "THEANIR_CACHE_DIR": cache_dir, "THEANIR_CACHE": cache}
    proc = subprocess.run([sys.executable, "-c", code, path], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pickled(tmp_path_factory):
    d = tmp_path_factory.mktemp("pickled")
    path, cache_dir = str(d / "model.pkl"), str(d / "cache")
    return path, cache_dir, _run(MAKE, path, cache_dir)


def _same(got, expected):
    assert got["cost"] == pytest.approx(expected["cost"], rel=1e-12)
    np.testing.assert_allclose(got["w"], expected["w"], rtol=1e-12)
    np.testing.assert_allclose(got["p"], expected["p"], rtol=1e-12)
    assert got["shared_shared"] and got["new_shape_ok"]


def test_round_trip_in_new_process_loads_without_optimizing(pickled):
    path, cache_dir, expected = pickled
    got = _run(LOAD, path, cache_dir)
    _same(got, expected)
    assert got["at_load"]["stages"] == []  # neither tn-opt nor lowering ran to unpickle
    stats = got["at_load"]["stats"]
    assert stats.get("trace_alias_hits") == 2 and stats.get("lowerings", 0) == 0
    assert got["stages_after_calls"] == []  # and the calls of the loaded signatures compiled nothing


def test_new_machine_loads_the_carried_artifacts(pickled, tmp_path):
    """An empty cache (another machine): the pickle carries its signatures' cache entries
    (artifact + trace alias), which unpickling writes into this cache and loads."""
    path, _, expected = pickled
    empty = tmp_path / "empty-cache"
    got = _run(LOAD, path, str(empty))
    _same(got, expected)
    assert got["at_load"]["stages"] == []
    stats = got["at_load"]["stats"]
    assert stats.get("trace_alias_hits") == 2 and stats.get("lowerings", 0) == 0
    assert len([d for d in os.listdir(empty) if len(d) == 32]) >= 2 and len(os.listdir(empty / "traces")) >= 2


def test_cache_off_compiles(pickled, tmp_path):
    path, _, expected = pickled
    got = _run(LOAD, path, str(tmp_path / "unused-cache"), cache="0")
    _same(got, expected)
    assert got["at_load"]["stats"].get("lowerings") == 2 and "tn-opt" in got["at_load"]["stages"]


def test_damaged_carried_artifact_compiles(pickled, tmp_path):
    """A carried library that fails its checksum is not written; that signature compiles."""
    path, _, expected = pickled
    data = bytearray(open(path, "rb").read())
    elf = data.find(b"\x7fELF")
    assert elf > 0
    data[elf + 2000] ^= 0xFF
    bad = str(tmp_path / "bad.pkl")
    with open(bad, "wb") as f:
        f.write(bytes(data))
    got = _run(LOAD, bad, str(tmp_path / "empty-cache"))
    _same(got, expected)
    assert got["at_load"]["stats"].get("lowerings") >= 1


def test_corrupt_cache_entries_recompile(pickled, tmp_path):
    path, cache_dir, expected = pickled
    import shutil
    damaged = str(tmp_path / "damaged-cache")
    shutil.copytree(cache_dir, damaged)
    libs = [os.path.join(r, f) for r, _, fs in os.walk(damaged) for f in fs if f == "lib.so"]
    assert libs
    for lib in libs:
        with open(lib, "r+b") as f:
            f.truncate(100)  # dlopen of a truncated library would SIGBUS: the checksum catches it
    got = _run(LOAD, path, damaged)
    _same(got, expected)
    assert got["at_load"]["stats"].get("cache_bad_entries", 0) >= 1


# ------------------------------------------------------------------ bad pickles
def _model():
    x = T.dvector("x")
    w = th.shared(np.arange(3.0), name="w")
    f = th.function([x], (x * w).sum(), updates=[(w, w + x)])
    f(np.ones(3))
    return f, w


def test_other_version_is_a_clear_error():
    f, _ = _model()
    data = pickle.dumps(f)
    assert data.count(th.__version__.encode()) >= 1  # the header (and the carried manifests)
    bad = data.replace(th.__version__.encode(), b"9" * len(th.__version__))  # same length: still a valid pickle
    with pytest.raises(PickleVersionError, match=r"pickled by theanir '9+'.*this is theanir"):
        pickle.loads(bad)


def test_damaged_graph_is_a_clear_error():
    f, _ = _model()
    data = bytearray(pickle.dumps(f))
    blob = copyreg.dispatch_table[Function](f)[1][2]
    i = bytes(data).find(blob)
    assert i > 0
    data[i + len(blob) // 2] ^= 0xFF
    with pytest.raises(PickleVersionError, match="damaged"):
        pickle.loads(bytes(data))
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(bytes(data[: len(data) // 2]))  # truncated: pickle's own error, no crash


# ------------------------------------------------------------------ copies in one process
def test_deepcopy_is_independent_and_reuses_compiled_code():
    f, w = _model()
    before = STATS["lowerings"]
    g = copy.deepcopy(f)
    assert STATS["lowerings"] == before and g.cache_size == f.cache_size == 1
    w2 = g.shared[0]
    assert w2 is not w and w2.name == "w"
    np.testing.assert_array_equal(w2.get_value(), w.get_value())
    g(np.ones(3))
    np.testing.assert_array_equal(w.get_value(), np.arange(3.0) + 1)
    np.testing.assert_array_equal(w2.get_value(), np.arange(3.0) + 2)
    f(np.full(3, 10.0))
    np.testing.assert_array_equal(w2.get_value(), np.arange(3.0) + 2)
    assert STATS["lowerings"] == before


def test_deepcopy_together_keeps_sharing_and_copy_shares():
    f, w = _model()
    h = th.function([], w * 2)
    f2, h2 = copy.deepcopy((f, h))
    assert f2.shared[0] is h2.shared[0] is not w
    f2(np.ones(3))
    np.testing.assert_array_equal(np.asarray(h2()), (np.arange(3.0) + 2) * 2)
    np.testing.assert_array_equal(np.asarray(h()), (np.arange(3.0) + 1) * 2)
    f3 = copy.copy(f)  # shallow: the same shared variables
    assert f3.shared[0] is w
    f3(np.ones(3))
    np.testing.assert_array_equal(w.get_value(), np.arange(3.0) + 2)


def test_pickle_in_process_new_shared_variables():
    f, w = _model()
    g = pickle.loads(pickle.dumps(f))
    assert g.shared[0] is not w
    g(np.ones(3))
    np.testing.assert_array_equal(w.get_value(), np.arange(3.0) + 1)
    np.testing.assert_array_equal(g.shared[0].get_value(), np.arange(3.0) + 2)


# ------------------------------------------------------------------ values
def test_array_pickles_as_its_value():
    a = th.jit(lambda v: v * 2)(np.arange(4.0))  # maybe still computing: the pickle waits
    b = pickle.loads(pickle.dumps(a))
    assert isinstance(b, th.Array) and b.is_ready() and b.dtype == np.float64
    np.testing.assert_array_equal(b, np.arange(4.0) * 2)
    with pytest.raises(TypeError, match="immutable"):
        b[0] = 1
    assert copy.copy(a) is a
    c = copy.deepcopy(a)
    assert isinstance(c, th.Array) and not np.shares_memory(np.asarray(c), np.asarray(a))
    np.testing.assert_array_equal(th.jit(lambda v: v + 1)(b), np.arange(4.0) * 2 + 1)  # usable as input


def test_shared_variable_pickles_its_value_after_async_updates():
    x = T.dvector("x")
    w = th.shared(np.zeros(3), name="w")
    f = th.function([x], [], updates=[(w, w + x)])
    for _ in range(4):
        f(np.ones(3))
    w2 = pickle.loads(pickle.dumps(w))
    np.testing.assert_array_equal(w2.get_value(), np.full(3, 4.0))
    assert w2.name == "w" and w2.dtype == w.dtype
    w2.set_value(np.zeros(3))
    np.testing.assert_array_equal(w.get_value(), np.full(3, 4.0))
    w3 = copy.deepcopy(w)
    f(np.ones(3))
    np.testing.assert_array_equal(w3.get_value(), np.full(3, 4.0))


def test_graph_with_grad_scan_and_closures_pickles():
    x = T.dvector("x")
    a = th.shared(1.5, name="a")
    ys, _ = th.scan(lambda v, acc: acc * a + v, sequences=[x], outputs_info=[T.constant(0.0)])
    cost = (ys ** 2).sum()
    g = T.grad(cost, [x, a])
    x2, g2 = pickle.loads(pickle.dumps((x, g)))  # one pickle: the loaded graph reads the loaded x
    v = np.array([1.0, -2.0, 0.5])
    want = th.function([x], g)(v)
    got = th.function([x2], g2)(v)
    for u, t in zip(got, want):
        np.testing.assert_allclose(u, t, rtol=1e-12)


def test_deep_graph_pickles_without_recursion_limit():
    x = T.dscalar("x")
    y = x
    for _ in range(5000):
        y = y + 1.0
    x2, y2 = pickle.loads(pickle.dumps((x, y)))
    assert float(th.function([x2], y2)(1.0)) == 5001.0


# ------------------------------------------------------------------ th.jit
@th.jit
def _double(v):
    return v * 2


def _plain(v):
    return v + 1


def test_jit_pickles_by_reference():
    assert pickle.loads(pickle.dumps(_double)) is _double
    j = th.jit(_plain, static_argnums=())
    j2 = pickle.loads(pickle.dumps(j))
    assert j2 is not j and j2.fn is _plain
    np.testing.assert_array_equal(j2(np.ones(2)), np.full(2, 2.0))
    with pytest.raises(pickle.PicklingError, match="not importable by reference"):
        pickle.dumps(th.jit(lambda v: v))


def test_givens_and_no_outputs_round_trip():
    data = th.shared(np.arange(6.0).reshape(3, 2), name="data")
    x = T.dmatrix("x")
    total = th.shared(0.0, name="total")
    f = th.function([], [], updates=[(total, total + x.sum())], givens={x: data * 2})
    g = pickle.loads(pickle.dumps(f))
    assert g() == [] and f() == []
    by_name = {v.name: v for v in g.shared}
    assert by_name["data"] is not data and by_name["total"] is not total
    assert float(by_name["total"].get_value()) == float(total.get_value()) == 30.0
    by_name["data"].set_value(np.ones((1, 2)))  # the loaded givens read the loaded data
    g()
    assert float(by_name["total"].get_value()) == 34.0 and float(total.get_value()) == 30.0
