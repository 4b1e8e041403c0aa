"""theanir.printing: debugprint, pp, pydotprint and Print (frontend/printing.py)."""
import io
import os
import shutil
import stat

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.printing import Print, debugprint, pp, pydotprint


@pytest.fixture
def graph():
    x, y = T.dmatrix("x"), T.dvector("y")
    w = th.shared(np.zeros(3), name="w")
    z = T.tanh(T.dot(x, w)) + y
    return x, y, w, z


def test_debugprint_variable_tree(graph):
    x, y, w, z = graph
    text = debugprint(z, file="str")
    assert text == ("add [id A] ''\n"
                    " |tanh [id B] ''\n"
                    " | |dot [id C] ''\n"
                    " |   |x [id D]\n"
                    " |   |w [id E]\n"
                    " |y [id F]\n")


def test_debugprint_types_ids_depth(graph):
    x, y, w, z = graph
    typed = debugprint(z, file="str", print_type=True)
    assert "add [id A] <TensorType(float64, vector)> ''" in typed
    assert " |   |x [id D] <TensorType(float64, matrix)>" in typed
    assert "[id" not in debugprint(z, file="str", ids="")
    assert "dot [id 2]" in debugprint(z, file="str", ids="int")
    assert f"[id {id(x)}]" in debugprint(z, file="str", ids="id")
    assert debugprint(z, file="str", depth=2).splitlines() == ["add [id A] ''", " |tanh [id B] ''", " |y [id C]"]
    with pytest.raises(ValueError, match="ids must be"):
        debugprint(z, file="str", ids="hex")
    with pytest.raises(TypeError, match="expected a symbolic variable"):
        debugprint(3, file="str")


def test_debugprint_shared_node_printed_once_and_constants(graph):
    x, y, w, z = graph
    s = T.exp(x).sum()
    text = debugprint(s * s + 2.0, file="str")
    lines = text.splitlines()
    assert lines[0] == "add [id A] ''"
    assert lines.count(" | |sum [id C] ''") == 2  # the second time without its children
    assert sum("exp [id" in line for line in lines) == 1
    assert " |TensorConstant{2.0} [id" in text


def test_debugprint_function_outputs_updates_toposort(graph, capsys):
    x, y, w, z = graph
    cost = z.sum()
    f = th.function([x, y], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])
    assert debugprint(f) is None  # file=None prints
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("sum [id A] ''   ")  # a function's lines end with the toposort index
    assert "sub [id" in out and " |w [id" in out and "grad.0 [id" in out
    buf = io.StringIO()
    assert debugprint([z, cost], file=buf) is buf and buf.getvalue().startswith("add [id A]")


def test_debugprint_print_tn_after_a_call(graph):
    x, y, w, z = graph
    f = th.function([x, y], z)
    assert "no compiled signatures yet" in debugprint(f, file="str", print_tn=True)
    f(np.ones((2, 3)), np.ones(2))
    text = debugprint(f, file="str", print_tn=True)
    # the signature: the inputs' dims are dynamic (one compile per input types), w's static
    assert "tn IR for (float64[?, ?], float64[?], float64[3])" in text and "tn.tanh" in text


def test_debugprint_scan_inner_graph():
    x = T.dvector("x")
    ys, _ = th.scan(lambda v, acc: acc + v * 2.0, sequences=[x], outputs_info=[T.constant(0.0)])
    f = th.function([x], ys)
    text = debugprint(f, file="str")
    assert "scan.0 [id A]" in text and "Inner graphs:" in text
    inner = text.split("Inner graphs:")[1]
    assert " >add [id" in inner and " > |outputs_info[0][t-1]" in inner


def test_debugprint_deep_graph_has_no_recursion_limit():
    x = T.dscalar("x")
    y = x
    for _ in range(3000):
        y = y + 1.0
    assert len(debugprint(y, file="str").splitlines()) == 2 * 3000 + 1
    assert pp(y).count("+") == 3000


def test_pp(graph):
    x, y, w, z = graph
    assert pp(z) == "(tanh(dot(x, w)) + y)"
    assert pp(-x[1:, 0] * 2.0) == "((-x[1:, 0]) * TensorConstant{2.0})"
    assert pp(T.dscalar()) == "<TensorType(float64, scalar)>"
    assert pp(x.sum(axis=1)) == "sum(x, 1)"
    with pytest.raises(TypeError, match="expected a symbolic variable"):
        pp(np.ones(2))


def _fake_dot(tmp_path):
    """A `dot` program that records its arguments and input and writes PNG magic bytes."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "dot"
    script.write_text(f"#!/bin/sh\necho \"$@\" > {bindir}/args\n{shutil.which('cat')} > {bindir}/input\n"
                      "printf '\\211PNG\\r\\n\\032\\n'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bindir


def test_pydotprint_with_dot_on_path(graph, tmp_path, monkeypatch, capsys):
    x, y, w, z = graph
    f = th.function([x, y], z)
    bindir = _fake_dot(tmp_path)
    monkeypatch.setenv("PATH", str(bindir))
    out = tmp_path / "graph.png"
    pydotprint(f, outfile=str(out))
    assert out.read_bytes().startswith(b"\x89PNG")
    assert (bindir / "args").read_text().split() == ["-Tpng"]
    text = (bindir / "input").read_text()
    assert text.startswith("digraph G {") and '[label="tanh", shape=ellipse]' in text
    assert "fillcolor=cyan" in text and "fillcolor=limegreen" in text and "fillcolor=dodgerblue" in text
    assert "The output file is available at" in capsys.readouterr().out
    assert pydotprint(z, return_image=True).startswith(b"\x89PNG")


def test_pydotprint_without_dot_writes_dot_text_and_warns(graph, tmp_path, monkeypatch):
    x, y, w, z = graph
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` there
    out = tmp_path / "graph.png"
    with pytest.warns(UserWarning, match="Graphviz's `dot` program was not found on PATH"):
        pydotprint(z, outfile=str(out))
    assert not out.exists()
    assert (tmp_path / "graph.dot").read_text().startswith("digraph G {")
    pydotprint(z, outfile=str(tmp_path / "g.dot"), format="dot")  # text on request, no warning
    assert "-> " in (tmp_path / "g.dot").read_text()
    with pytest.raises(ValueError, match="format"):
        pydotprint(z, outfile=str(out), format="../x")


@pytest.mark.skipif(not any(os.access(os.path.join(p, "dot"), os.X_OK) for p in os.environ.get("PATH", "").split(":")),
                    reason="Graphviz's dot is not installed")
def test_pydotprint_real_graphviz(graph, tmp_path):
    x, y, w, z = graph
    out = tmp_path / "g.png"
    pydotprint(z, outfile=str(out), print_output_file=False)
    assert out.read_bytes().startswith(b"\x89PNG")


def test_print_op_is_a_graph_node(graph):
    # Print used to be refused; it is now a tn.print node (its run-time output:
    # tests/frontend/test_print_op.py), shown by debugprint like any other node
    x, y, w, z = graph
    p = Print("value of z")
    out = io.StringIO()
    debugprint(p(z), file=out)
    assert "Print" in out.getvalue()
