"""Run-time checks of generated code (dialects/tn/checks.py, passes/lower/runtime_checks.py,
runtime/src/pool.h `CheckFailed`): a failed check fails the call with the check's message and
values; code loaded without the runtime's hook records the failure and stays memory-safe."""
from __future__ import annotations

import ctypes
import types

import numpy as np
import pytest

import theanir as th
from theanir.codegen.cache import compile_module
from theanir.passes.lower.runtime_checks import FAILURE, SETTER
from theanir.runtime import arg_spec, make_executable


def _compiled(fn, *args):
    lowered = th.jit(fn).lower(*args)
    native = compile_module(lowered.traced.module, lowered.options, lowered.arg_records(), None)
    specs = [arg_spec(a["name"], a["dtype"], a["shape"], a["contiguous"], a["output"])
             for a in lowered.arg_records()]
    return native, specs


def test_code_with_checks_exports_the_setter():
    x = np.arange(8.0)
    native, _ = _compiled(lambda x, i: x[i:i + 3], x, np.int64(0))
    assert native.check_hook != 0 and native.checked
    assert hasattr(native.engine, SETTER)
    plain, _ = _compiled(lambda x: x[2:5], x)  # static slice: no check, no setter
    assert plain.check_hook == 0 and not plain.checked


def test_failed_check_raises_with_values_filled_in():
    x = np.arange(8.0)
    native, specs = _compiled(lambda x, i: x[i:i + 3] * 2.0, x, np.int64(0))
    exe = make_executable(native.address, specs, native)
    assert exe.checked
    np.testing.assert_array_equal(np.asarray(exe.call_async([x, np.int64(5)], False, 0, 0, True)[0]), x[5:8] * 2)
    for sync in (True, False):
        with pytest.raises(IndexError, match=r"^getitem: the slice 6:9 along axis 0 of a tensor of shape \(8,\) "
                                             r"selects 2 elements, but the compiled slice has the static length 3"):
            np.asarray(exe.call_async([x, np.int64(6)], False, 0, 0, sync)[0])
    out = exe.call_async([x, np.int64(0)], False, 0, 0, True)[0]  # the next call is unaffected
    np.testing.assert_array_equal(np.asarray(out), x[:3] * 2)


def test_library_without_the_hook_records_the_failure_and_stays_in_bounds():
    """An AOT-style load (the runtime's hook never installed): the code goes on reading at
    clamped offsets and leaves the message's address in the exported global."""
    x = np.arange(8.0)
    native, specs = _compiled(lambda x, i: x[i:i + 3] + 0.5, x, np.int64(0))
    plain = make_executable(native.address, specs, types.SimpleNamespace(keep=native))
    failure = ctypes.c_int64.in_dll(native.engine._cdll, FAILURE)
    out = np.asarray(plain.call_async([x, np.int64(7)], False, 0, 0, True)[0])
    assert failure.value != 0
    assert ctypes.string_at(failure.value).decode().startswith("getitem: the slice {0}:{1} along axis 0")
    np.testing.assert_array_equal(out, x[5:8] + 0.5)  # clamped: no read outside x
