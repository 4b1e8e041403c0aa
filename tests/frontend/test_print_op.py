"""Theano's Print and th.debug.print: values printed by compiled code (tn.print).

The programs run in a subprocess whose stdout is a pipe, so the test sees exactly what a user
sees: the runtime's lines (written to the process's stdout) in order with Python's own prints.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.dialects.tn.ops.debug import format_line
from theanir.printing import Print


def run(src: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(src)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_print_in_function_prints_in_order_and_returns_value():
    out = run("""
        import numpy as np, theanir as th, theanir.tensor as T
        from theanir.printing import Print
        x = T.dvector('x')
        f = th.function([x], Print("hello")(x) * 2)
        print("before")
        r = f(np.array([1., 2.5, 3.]))
        print("after")
        print(np.asarray(r))
        f(np.array([4.]))
        print("end")
    """)
    assert out == ("before\nhello __str__ = [1.  2.5 3. ]\nafter\n[2. 5. 6.]\n"
                   "hello __str__ = [4.]\nend\n")


def test_print_shape_attr_and_several_attrs():
    out = run("""
        import numpy as np, theanir as th, theanir.tensor as T
        from theanir.printing import Print
        x = T.dmatrix('x')
        f = th.function([x], Print("m", attrs=("shape",))(x).sum())
        g = th.function([x], Print("m", attrs=("shape", "dtype", "__str__"))(x) + 1)
        print(float(np.asarray(f(np.ones((2, 3))))))
        g(np.zeros((1, 2)))
    """)
    assert out == "m shape = (2, 3)\n6.0\nm shape = (1, 2)\nm dtype = float64\nm __str__ = [[0. 0.]]\n"


def test_print_once_per_scan_step():
    out = run("""
        import numpy as np, theanir as th, theanir.tensor as T
        from theanir.printing import Print
        x = T.dvector('x')
        out, _ = th.scan(lambda a, acc: acc + Print("step")(a), sequences=[x],
                         outputs_info=[T.zeros((), dtype='float64')])
        f = th.function([x], out)
        print(np.asarray(f(np.array([1., 2., 3.]))))
    """)
    assert out == "step __str__ = 1.0\nstep __str__ = 2.0\nstep __str__ = 3.0\n[1. 3. 6.]\n"


def test_debug_print_in_jit():
    out = run("""
        import numpy as np, theanir as th
        @th.jit
        def f(x):
            th.debug.print("x = {} sum {s} {{braces}} n={n}", x, s=x.sum(), n=3)
            return x + 1
        print(np.asarray(f(np.arange(3, dtype=np.int32))))
        print(np.asarray(f(np.arange(3, dtype=np.int32))))
    """)
    line = "x = [0 1 2] sum 3 {braces} n=3\n"
    assert out == line + "[1 2 3]\n" + line + "[1 2 3]\n"


def test_debug_print_in_lax_scan_and_outside_jit():
    out = run("""
        import numpy as np, theanir as th
        @th.jit
        def f(xs):
            def step(c, x):
                th.debug.print("step {} carry {}", x, c)   # result unused: still printed
                return c + x, c
            return th.lax.scan(step, np.float64(0), xs)[0]
        print(np.asarray(f(np.array([1., 2.]))))
        th.debug.print("eager {} and {n}", np.ones(2), n=3)
    """)
    assert out == "step 1.0 carry 0.0\nstep 2.0 carry 1.0\n3.0\neager [1. 1.] and 3\n"


def test_identical_prints_are_not_merged_and_constant_prints_not_folded():
    out = run("""
        import numpy as np, theanir as th
        @th.jit
        def f(x):
            a = th.debug.print_tensor(x, "a {}\\n")
            b = th.debug.print_tensor(x, "a {}\\n")
            c = th.debug.print_tensor(th.zeros((), dtype='float64') + 7.0, "c {}\\n")
            return a + b + c
        print(np.asarray(f(np.float64(1.0))))
    """)
    assert out == "a 1.0\na 1.0\nc 7.0\n9.0\n"


CASES = [
    np.array([1.0, 2.5, -3.0]), np.array([0.5, 1.25, 10.0], np.float32), np.arange(6.0).reshape(2, 3),
    np.arange(24).reshape(2, 3, 4).astype(np.int64), np.array([True, False]), np.float64(3.25),
    np.int32(-7), np.zeros((0,)), np.array([1e-5, 1.0]), np.array([1e9, 2.0]),
    np.array([np.nan, np.inf, -np.inf, 1.0]), np.arange(2000.0).reshape(40, 50),
    np.arange(1500, dtype=np.int32), np.linspace(0, 1, 30), np.arange(12.0).reshape(3, 4).T,
]


def test_formatting_matches_numpy():
    """The runtime's text against NumPy's str (frontend's reference formatting)."""
    arrays = "\n".join(f"cases.append(np.array({np.asarray(c).tolist()!r}, dtype={np.asarray(c).dtype.name!r})"
                       f".reshape({np.asarray(c).shape!r}))" for c in CASES)
    arrays = arrays.replace("nan", "float('nan')").replace("inf", "float('inf')")
    out = run("import numpy as np, theanir as th\ncases = []\n" + arrays + """
for c in cases:
    th.jit(lambda x: th.debug.print_tensor(x, "v {}\\n") + 0)(c if c.ndim else c[()])
""")
    expected = "".join(format_line(np.asarray(c), "v {}\n", "value") for c in CASES)
    assert out == expected


def test_gradient_through_print_unchanged():
    x = T.dvector('x')
    cost = T.sum(T.sin(Print("p")(x)) ** 2)
    g = th.function([x], T.grad(cost, x))
    v = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(np.asarray(g(v)), 2 * np.sin(v) * np.cos(v), rtol=1e-12)
    th.verify_grad(lambda t: T.sin(Print("p")(t)) ** 2, [v], rng=np.random.RandomState(0))


def test_print_float32_value_unchanged():
    x = T.fmatrix('x')
    f = th.function([x], Print("q", attrs=("shape",))(x))
    v = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = np.asarray(f(v))
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, v)


def test_bad_arguments():
    with pytest.raises(ValueError, match="attrs must be among"):
        Print("m", attrs=("bogus",))
    with pytest.raises(NotImplementedError, match="global_fn"):
        Print("m", global_fn=lambda op, x: None)
    with pytest.raises(ValueError, match="refers to argument 1"):
        th.jit(lambda x: th.debug.print("{} {}", x) or x)(np.ones(2))
    with pytest.raises(ValueError, match="format specs"):
        th.jit(lambda x: th.debug.print("{:.3f}", x) or x)(np.ones(2))
    with pytest.raises(TypeError, match="fmt must be a str"):
        th.debug.print(3)
