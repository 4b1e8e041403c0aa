"""Values crossing the public boundary: conversions never wrap, refusals name the argument.

Item 8 of issue 12 (Python ints wrapped silently into int32 inputs and shared variables),
item 9 (integer power never compiled; a pipeline dump reached the user) and the messages of
item 13 (byte-swapped dtypes, strides that are not multiples of the itemsize, Python ints
beyond int64, THEANIR_OPT_LEVEL, NUL bytes in theanir-opt's input).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.frontend.cli.opt import main as opt_main


# ------------------------------------------------------------------ th.function inputs
def test_function_refuses_python_ints_that_do_not_fit_the_input():
    x = T.ivector("x")
    f = th.function([x], x * 1)
    with pytest.raises(OverflowError, match=r"input 0 'x'.*1099511627776 does not fit dtype int32.*become 0"):
        f([2**40, 1])
    with pytest.raises(OverflowError, match=r"input 0 'x'.*2147483648 does not fit dtype int32"):
        f([1, 2**31])
    with pytest.raises(OverflowError, match=r"input 0 'x'.*Python int 9223372036854775808 does not fit"):
        f([1, 2**63])  # NumPy makes [1, 2**63] a float64 array: still named as the int it was
    with pytest.raises(OverflowError, match=r"input 0 'x'.*Python int -1180591620717411303424"):
        f([-2**70, 1])  # beyond 64 bits: NumPy makes an object array
    np.testing.assert_array_equal(f([1, 2**31 - 1, -2**31]), np.array([1, 2**31 - 1, -2**31], np.int32))


def test_function_scalar_n_steps_does_not_wrap():
    n, h0 = T.iscalar("n"), T.dscalar("h0")
    out, _ = th.scan(lambda h: h + 1.0, outputs_info=h0, n_steps=n)
    f = th.function([n, h0], out[-1])
    with pytest.raises(OverflowError, match=r"input 0 'n'.*2147483653 does not fit dtype int32"):
        f(2**31 + 5, 0.0)
    assert float(f(5, 0.0)) == 5.0


def test_allow_input_downcast_rounds_but_never_wraps():
    x = T.ivector("x")
    g = th.function([x], x * 1, allow_input_downcast=True)
    np.testing.assert_array_equal(g(np.array([1.7, -2.5])), np.array([1, -2], np.int32))  # rounding: allowed
    np.testing.assert_array_equal(g(np.array([2**20])), np.array([2**20], np.int32))
    with pytest.raises(OverflowError, match="1099511627776 does not fit dtype int32"):
        g(np.array([2**40]))
    with pytest.raises(OverflowError, match="nan does not fit dtype int32"):
        g(np.array([np.nan]))
    with pytest.raises(OverflowError, match="2147483648.0 does not fit dtype int32"):
        g(np.array([2.0**31]))


def test_float32_inputs_take_python_floats_but_not_overflow():
    v = T.fvector("v")
    f = th.function([v], v * 1)
    np.testing.assert_array_equal(f([0.1, 1e38]), np.array([0.1, 1e38], np.float32))  # Theano's rule
    np.testing.assert_array_equal(f([np.inf, 2**70]), np.array([np.inf, 2.0**70], np.float32))
    with pytest.raises(OverflowError, match=r"input 0 'v'.*1e\+300 does not fit dtype float32.*inf"):
        f([0.1, 1e300])


def test_set_value_refuses_values_that_do_not_fit():
    s = th.shared(np.zeros(3, np.int32), name="s")
    with pytest.raises(OverflowError, match=r"set_value of shared variable 's'.*1099511627776 does not fit"):
        s.set_value([2**40, 1, 1])
    np.testing.assert_array_equal(s.get_value(), np.zeros(3, np.int32))  # unchanged
    s.set_value([2**31 - 1, 1, 1])
    assert s.get_value()[0] == 2**31 - 1
    with pytest.raises(OverflowError, match=r"th.shared\('w'\): the Python int 1180591620717411303424"):
        th.shared(2**70, name="w")


# ------------------------------------------------------------------ th.jit arguments
def test_jit_python_int_beyond_int64_names_the_argument():
    f = th.jit(lambda a, n: a + n)
    with pytest.raises(OverflowError, match=r"argument 'n': the Python int 1180591620717411303424 does not fit int64"):
        f(np.ones(2), 2**70)
    assert float(f(np.ones(()), 2**62)) == 2.0**62 + 1


def test_jit_byte_swapped_dtype_says_byte_order():
    x = np.arange(3.0).astype(">f8" if sys.byteorder == "little" else "<f8")
    with pytest.raises(TypeError, match=r"argument 'a': dtype .f8 \(float64 in non-native byte order\).*newbyteorder"):
        th.jit(lambda a: a + 1)(x)
    np.testing.assert_array_equal(th.jit(lambda a: a + 1)(x.astype(x.dtype.newbyteorder("="))), x + 1)


def test_jit_strides_not_multiple_of_itemsize():
    raw = np.zeros(40, np.uint8)
    x = np.ndarray((3,), np.float64, raw.data, 1, (9,))  # elements 9 bytes apart
    with pytest.raises(ValueError, match=r"argument 'a': strides \(9,\) are not multiples of the itemsize 8"):
        th.jit(lambda a: a + 1)(x)
    np.testing.assert_array_equal(th.jit(lambda a: a + 1)(np.ascontiguousarray(x)), np.ones(3))


def test_function_strides_not_multiple_of_itemsize_names_the_input():
    raw = np.zeros(40, np.uint8)
    x = np.ndarray((3,), np.float64, raw.data, 1, (9,))
    v = T.dvector("v")
    with pytest.raises(ValueError, match=r"argument 'v': strides \(9,\)"):
        th.function([v], v + 1)(x)


def test_compiled_signature_says_why_an_ndarray_is_refused():
    # A fixed-signature call (jit(...).lower(...).compile()) is validated by the C++ runtime:
    # it said "expected a NumPy array ... got ndarray" for these.
    c = th.jit(lambda a: a * 2).lower(np.ones(3)).compile()
    raw = np.zeros(40, np.uint8)
    packed = np.ndarray((3,), np.float64, raw.data, 1, (9,))
    with pytest.raises(TypeError, match=r"argument 'a': .*got an ndarray of dtype float64 whose strides \(9,\) "
                                        r"are not multiples of its itemsize 8"):
        c(packed)
    with pytest.raises(TypeError, match=r"argument 'a': .*got an ndarray of dtype >f8 \(non-native byte order\)"):
        c(np.ones(3, ">f8"))


def test_bad_opt_level_in_the_environment_is_one_clear_error():
    env = {**os.environ, "THEANIR_OPT_LEVEL": "abc"}
    proc = subprocess.run([sys.executable, "-c", "import theanir"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert "THEANIR_OPT_LEVEL must be 0, 1, 2 or 3, got 'abc'" in proc.stderr.strip().splitlines()[-1]
    assert "invalid literal for int()" not in proc.stderr


# ------------------------------------------------------------------ integer power
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_power_compiles_and_wraps_like_numpy(dtype, rng):
    a = rng.integers(-20, 20, 300).astype(dtype)
    b = rng.integers(0, 70, 300).astype(dtype)
    a[:4], b[:4] = [0, 3, -1, 2], [0, 2**20, 2**20 + 1, 1]
    with np.errstate(all="ignore"):
        want = np.power(a, b)
    got = th.jit(lambda a, b: a ** b)(a, b)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    assert th.jit(lambda a: a ** np.int64(3))(a[:3]).dtype == np.result_type(a, np.int64)  # NumPy's dtype
    c = np.abs(a[4:20])
    np.testing.assert_array_equal(th.jit(lambda c: c ** 2 + 3 ** c)(c), c ** 2 + 3 ** c)


def test_integer_power_negative_exponents():
    """Known while tracing: refused as NumPy does. Traced: JAX's values (1 for base 1, +-1 for
    base -1, else 0), where NumPy raises and upstream MLIR would divide by zero."""
    with pytest.raises(ValueError, match="Integers to negative integer powers are not allowed"):
        th.jit(lambda a: a ** -1)(np.arange(3))
    a = np.array([0, 1, -1, -1, 2, -3, 5], np.int64)
    b = np.array([-1, -5, -3, -4, -1, -2, 0], np.int64)
    np.testing.assert_array_equal(th.jit(lambda a, b: a ** b)(a, b), [0, 1, -1, 1, 0, 0, 1])
    np.testing.assert_allclose(th.jit(lambda a: a ** -1)(np.array([2.0, 4.0])), [0.5, 0.25])


def test_integer_power_in_a_symbolic_graph():
    x = T.lvector("x")
    np.testing.assert_array_equal(th.function([x], x ** 3)(np.arange(5)), np.arange(5) ** 3)


# ------------------------------------------------------------------ theanir-opt
GOOD = "func.func @main(%a: tensor<3xf32>) -> tensor<3xf32> {\n  return %a : tensor<3xf32>\n}\n"


def test_theanir_opt_refuses_a_nul_byte(tmp_path, capsys):
    path = tmp_path / "in.mlir"
    path.write_bytes(GOOD.encode() + b"\0func.func @dropped() {\n  return\n}\n")
    rc = opt_main([str(path), "--no-crash-guard"])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    assert err.strip() == f"{path}:4:1: error: NUL byte in the input (MLIR text cannot contain one; is this " \
                          f"a binary file?)"
    path.write_text(GOOD)
    assert opt_main([str(path), "--no-crash-guard"]) == 0
