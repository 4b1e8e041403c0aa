"""`th.aot.compile`: a th.jit-able function or a th.function -> `libNAME.so` + `NAME.h`.

The function is traced at the example arguments' shapes and dtypes (static shapes: the C
entry checks them at the boundary), lowered through the same stage table as `th.jit`
(Lowered.module_at("llvm")) and built by codegen/aot.py. A th.function with shared
variables becomes a training library: the shared variables' current values are embedded as
the initial state, each update writes its variable (in place where bufferization allows).
docs/aot.md describes the C ABI and what a user ships.
"""
from __future__ import annotations

import dataclasses
import os
import re
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from theanir.codegen import aot as aot_codegen
from theanir.codegen.aot_c import MAX_RANK, c_identifier
from theanir.codegen.cache import module_hash
from theanir.codegen.version import __version__
from theanir.passes.pipeline import PipelineError

from .api import JitFunction, Lowered, jit, make_signature
from .symbolic import Function


def _cname(text: str, used: set[str], fallback: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", text or "").strip("_") or fallback  # params['w'] -> params_w
    if base[0].isdigit():
        base = "_" + base
    name, i = base, 1
    while name in used:
        name, i = f"{base}_{i}", i + 1
    used.add(name)
    return name


def _lowered(jf: JitFunction, args: tuple, dynamic: bool) -> Lowered:
    """The trace of `jf` at these arguments: static shapes, or with `dynamic` th.function's
    dynamic dims (its inputs' non-broadcastable dims) or, for th.jit, every dim but size-1 ones."""
    patterns = jf.leaf_patterns if dynamic else None
    sig = make_signature(jf.fn, args, {}, jf.static_argnums, jf.static_argnames, jf.leaf_names, dynamic, patterns)
    if jf.leaf_names is not None and len(jf.leaf_names) == len(sig.leaves):
        sig.all_names = list(jf.leaf_names)
    traced = jf._trace(sig)
    return Lowered(traced, jf._signature_options(jf._options(), traced, sig), sig)


def _llvm_module(low: Lowered, target: str) -> Any:
    # every dynamic result through its slot: the C wrapper (codegen/aot_c.py) copies slot
    # results into the caller's buffers and has no call of a generated shape function
    low.options = dataclasses.replace(aot_codegen.target_options(low.options, target), shape_functions=False)
    try:
        return low.module_at("llvm")
    except PipelineError as e:  # updates that cannot be written in place in any order
        if not low.options.donate or "RaW conflict" not in str(e):
            raise
        low.options = dataclasses.replace(low.options, donate=())
        return low.module_at("llvm")


def compile(fn: Callable | Function, example_args: Sequence[Any], path: str, header: bool = True,
            target: str = "native", name: str | None = None, function_name: str | None = None,
            output_names: Sequence[str] | None = None, dynamic_shapes: bool = False) -> str:
    """Compile `fn` ahead of time into `path` ("build/libmlp" -> build/libmlp.so, build/mlp.h).

    `fn`: a function th.jit can trace (or a th.jit function), called with `example_args`; or
    a th.function, whose explicit inputs `example_args` gives (its shared variables become
    the library's state). `target`: "native" or "x86-64-v2"/"x86-64-v3"/"x86-64-v4".
    The C entry is `NAME_<function name>` (`function_name` overrides the second part);
    `output_names` names the outputs' parameters (default out0, out1 ...).
    `dynamic_shapes=True`: dims of any size where th.function has them (the inputs'
    non-broadcastable dims; shared variables keep their shapes) or, for th.jit, every dim
    but the size-1 ones; the default compiles for the example arguments' shapes. Returns the
    library's path."""
    if target not in aot_codegen.TARGETS:
        raise ValueError(f"th.aot.compile: target must be one of {list(aot_codegen.TARGETS)}, got {target!r}")
    folder, lib_name = aot_codegen.split_path(path if name is None else os.path.join(os.path.dirname(path), name))
    if not isinstance(example_args, (list, tuple)):
        raise TypeError(f"th.aot.compile: example_args must be a list or tuple of arrays, got "
                        f"{type(example_args).__name__}")
    states: list[dict[str, Any]] = []
    values: list[np.ndarray] = []
    if isinstance(fn, Function):
        if fn._static:
            raise NotImplementedError("th.aot.compile: a th.function whose trace needs input values (th.scan's "
                                      "n_steps, slice bounds) cannot be compiled ahead of time yet")
        inputs = fn._arguments(tuple(example_args), {})
        shared = [np.asarray(s.container[0]) for s in fn.shared]
        low = _lowered(fn._jit, (inputs, shared, ()), dynamic_shapes)
        n_in, n_out = len(fn.inputs), len(fn.outputs)
        used_states: set[str] = set()
        for i, s in enumerate(fn.shared):
            states.append(dict(name=_cname(s.name or "", used_states, f"state{i}"), dtype=str(shared[i].dtype),
                               shape=list(shared[i].shape), updated=i in fn._updated, in_place=False))
        values = shared
        base_name = fn.name if fn.name != "th.function" else "step"
        in_names = [v.name or f"input{i}" for i, v in enumerate(fn.inputs)]
    else:
        jf = fn if isinstance(fn, JitFunction) else jit(fn)
        with warnings.catch_warnings():  # about donations, which are dropped just below
            warnings.simplefilter("ignore", UserWarning)
            low = _lowered(jf, tuple(example_args), dynamic_shapes)
        # a C caller's inputs are const: donate_argnums would write results into them
        low.options = dataclasses.replace(low.options, donate=())
        n_in, n_out = len(low.signature.dynamic), len(low.traced.out_specs)
        base_name = getattr(jf.fn, "__name__", "call")
        in_names = list(low.signature.names)
    module = _llvm_module(low, target)
    records = low.arg_records()
    used: set[str] = {"n_calls"}
    args = []
    for i, r in enumerate(records):  # inputs, shared variables; outputs, updates (alias: donated input)
        r = dict(r, alias=r.get("alias", -1))
        if np.dtype(r["dtype"]).kind == "c":  # the C ABI's dtype codes stop at bool (docs/jax-programs.md)
            raise NotImplementedError(f"th.aot.compile: argument {r['name']!r} is {r['dtype']}; AOT libraries do "
                                      f"not take complex arrays yet (th.jit does)")
        if len(r["shape"]) > MAX_RANK:
            raise NotImplementedError(f"th.aot.compile: argument {r['name']!r} has rank {len(r['shape'])}; the C ABI's "
                                      f"theanir_buffer holds at most {MAX_RANK} dims")
        if not r["output"]:
            k = i
            if k < n_in:
                r.update(role="input", cname=_cname(in_names[k] if k < len(in_names) else "", used, f"in{k}"))
            else:
                r.update(role="state", state=k - n_in, cname=f"state{k - n_in}")
        else:
            k = i - len(low.traced.in_specs)
            if k < n_out:
                given = output_names[k] if output_names is not None and k < len(output_names) else (
                    getattr(fn.outputs[k], "name", None) or "" if isinstance(fn, Function) else "")
                r.update(role="output", cname=_cname(given, used, f"out{k}"))
            else:
                s = fn._updated[k - n_out]
                r.update(role="update", state=s, cname=f"update{s}")
                states[s]["in_place"] = r["alias"] >= 0
        args.append(r)
    if output_names is not None and len(output_names) != n_out:
        raise ValueError(f"th.aot.compile: output_names has {len(output_names)} names, the function has {n_out} outputs")
    function = f"{lib_name}_{_cname(function_name or base_name, set(), 'call')}"
    c_identifier(function, "the entry's C name")
    spec = dict(name=lib_name, function=function, args=args, states=states, theanir=__version__,
                target=dict(name=target))
    aot_codegen.build_library(module, low.options, spec, folder, header, values, module_hash(module))
    return os.path.join(folder, f"lib{lib_name}.so")
