"""`th.jit`: trace on the first call per signature, compile through the stage table, cache.

    @th.jit
    def layer(x, w, b):
        return th.tanh(x @ w + b).sum(axis=1)

    layer(x, w, b)                       # traced, compiled, run natively
    layer.lower(x, w, b).as_text("tn")   # any stage: tn, tn-opt, linalg, bufferized, llvm
"""
from __future__ import annotations

import dataclasses
import functools
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir

from theanir.codegen.cache import compile_module
from theanir.codegen.native import NativeCode
from theanir.dialects.tn.types import TensorSpec
from theanir.passes.options import CompileOptions
from theanir.passes.pipeline import STAGE_NAMES, PipelineError, clone, run_until
from theanir.runtime import Array, Executable, FastCache, arg_spec, make_executable
from theanir.runtime.device import parse_device

from .config import config
from .config_flags import device_name
from .device import check_runnable
from .pytree import TreeDef, tree_flatten, tree_flatten_with_path, tree_unflatten
from .sparse import call_key as sparse_call_key, call_leaves as sparse_call_leaves, is_scipy_sparse
from .tensor import Tensor
from .bfloat16 import BFLOAT16, is_bfloat16
from .trace import ArgSpec, TracedFunction, arg_spec_of, trace, widen_input


@dataclass
class Signature:
    """The cache key of one trace, and how to pick the dynamic leaves out of a call."""

    key: tuple
    in_tree: TreeDef
    leaves: list[Any]
    dynamic: list[int]
    specs: list[ArgSpec]
    fn: Callable
    args: tuple
    kwargs: dict

    @functools.cached_property
    def all_names(self) -> list[str]:
        """Names of every flattened leaf; computed only when needed (compile or error), because
        `inspect.signature` costs more than the rest of a warm call."""
        names = leaf_names(self.fn, self.args, self.kwargs)
        if len(names) != len(self.leaves):
            names = [f"argument leaf {i}" for i in range(len(self.leaves))]
        return names

    @property
    def names(self) -> list[str]:
        """Names of the dynamic leaves, in order."""
        return [self.all_names[i] for i in self.dynamic]


def leaf_names(fn: Callable, args: tuple, kwargs: dict) -> list[str]:
    """Readable names of the flattened argument leaves: `x`, `params['w']`, `args[2][0]`."""
    import inspect

    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names: list[str] = []
    for i, a in enumerate(args):
        base = params[i] if i < len(params) else f"args[{i}]"
        names += [base + path for path, _ in tree_flatten_with_path(a)[0]]
    for k in sorted(kwargs, key=repr):
        names += [k + path for path, _ in tree_flatten_with_path(kwargs[k])[0]]
    return names


def make_signature(fn: Callable, args: tuple, kwargs: dict, static_argnums: Sequence[int],
                   static_argnames: Sequence[str], names: Sequence[str] | None = None,
                   dynamic_shapes: bool | Sequence[int] = False,
                   patterns: Sequence[tuple[bool, ...] | None] | None = None) -> Signature:
    """Flatten (args, kwargs); static arguments stay Python values in the key.

    `names` (one per leaf) name the arguments in errors instead of `fn`'s parameters.
    `dynamic_shapes`: array dims become dynamic (None) except those of size 1, which stay
    static so NumPy broadcasting is decided while tracing (Theano's broadcastable pattern).
    `patterns` (th.function): per leaf, the declared broadcastable pattern of its variable (its
    False dims become dynamic) or None (the leaf's shape stays static)."""
    nargs = len(args)
    static_pos = {i if i >= 0 else nargs + i for i in static_argnums}
    for i in static_pos:
        if i >= nargs:
            raise TypeError(f"{fn.__name__}: static_argnums names argument {i} but only {nargs} were passed")
    marked_args = tuple(_Static(a) if i in static_pos else a for i, a in enumerate(args))
    if dynamic_shapes is not True and dynamic_shapes:  # positional arguments whose dims are dynamic
        chosen = {i if i >= 0 else nargs + i for i in dynamic_shapes}
        leaf_dynamic = [i in chosen for i, a in enumerate(marked_args)
                        for _ in range(1 if isinstance(a, _Static) else len(tree_flatten(a)[0]))]
    else:
        leaf_dynamic = None
    marked_kwargs = {k: _Static(v) if k in static_argnames else v for k, v in kwargs.items()}
    leaves, in_tree = tree_flatten((marked_args, marked_kwargs))
    dynamic, specs, key_parts = [], [], []
    for i, leaf in enumerate(leaves):
        if isinstance(leaf, _Static):
            try:
                hash(leaf.value)
            except TypeError:
                raise TypeError(f"{fn.__name__}: static argument {leaf.value!r} is not hashable") from None
            leaves[i] = leaf.value
            key_parts.append(("static", type(leaf.value), _static_key(leaf.value)))
            continue
        bf16 = is_bfloat16(getattr(leaf, "dtype", None))
        leaf = leaves[i] = widen_input(leaf)
        try:
            spec = arg_spec_of(leaf)
            if bf16:
                spec = dataclasses.replace(spec, bf16=True)
        except (TypeError, ValueError, OverflowError) as e:
            if names is None or len(names) != len(leaves):
                names = leaf_names(fn, args, kwargs)
            name = names[i] if len(names) == len(leaves) else f"argument leaf {i}"
            raise type(e)(f"{getattr(fn, '__name__', 'function')}: argument '{name}': {e}") from None
        if patterns is not None:
            pattern = patterns[i] if i < len(patterns) else None
            if pattern is not None and not spec.weak and len(pattern) == spec.spec.ndim:
                spec = dynamic_spec(spec, pattern)
        elif dynamic_shapes and not spec.weak and (leaf_dynamic is None or
                                                   (i < len(leaf_dynamic) and leaf_dynamic[i])):
            spec = dynamic_spec(spec)
        dynamic.append(i)
        specs.append(spec)
        key_parts.append(spec)
    return Signature((in_tree, tuple(key_parts)), in_tree, leaves, dynamic, specs, fn, args, kwargs)


def dynamic_spec(spec: ArgSpec, pattern: Sequence[bool] | None = None) -> ArgSpec:
    """`spec` with every dim but the size-1 ones dynamic (docs/dynamic-shapes.md); with a
    broadcastable `pattern`, its non-broadcastable dims (a size-1 value there does not broadcast)."""
    if pattern is not None:
        shape = tuple(n if b else None for n, b in zip(spec.spec.shape, pattern))
        return dataclasses.replace(spec, spec=TensorSpec(shape, spec.spec.dtype))
    shape = tuple(1 if n == 1 else None for n in spec.spec.shape)
    return dataclasses.replace(spec, spec=TensorSpec(shape, spec.spec.dtype))


def _static_key(value: Any) -> Any:
    """A static value as a cache key. NaN != NaN, so a NaN would never find its entry (a new
    compile and cache entry per call); 0.0 == -0.0, but they compile to different code (1 / x).
    Floats (also in tuples) are keyed by their repr, which tells both apart."""
    if isinstance(value, float) and (value != value or value == 0.0):
        return ("float", repr(float(value)))
    if isinstance(value, complex) and (value != value or value.real == 0.0 or value.imag == 0.0):
        return ("complex", repr(complex(value)))
    if type(value) is tuple:
        return tuple(_static_key(v) for v in value)
    return value


class _Static:
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class Lowered:
    """A traced function at the tn stage; `as_text(stage)` shows any later stage."""

    def __init__(self, traced: TracedFunction, options: CompileOptions, signature: Signature):
        self.traced = traced
        self.options = options
        self.signature = signature
        signature.all_names  # name the arguments now, then drop the call's values
        signature.args, signature.kwargs = (), {}

    def module_at(self, stage: str) -> ir.Module:
        m = clone(self.traced.module)
        with m.context:
            return run_until(m, stage, self.options)

    def as_text(self, stage: str = "tn", debug_info: bool = False) -> str:
        """The module at `stage`; `debug_info=True` prints each op's source location."""
        if stage not in STAGE_NAMES:
            raise ValueError(f"unknown stage {stage!r}; stages are {STAGE_NAMES}")
        return self.module_at(stage).operation.get_asm(enable_debug_info=debug_info)

    def compile(self, allow_gc: bool | None = None) -> "Compiled":
        """Native code through the disk cache (th.config.cache; codegen/cache.py).

        With donated pairs (`options.donate`) that bufferization cannot write in place in any
        order (updates that swap two variables), compiles again without them."""
        cache_dir = os.path.abspath(os.path.expanduser(config.cache_dir)) if config.cache else None
        try:
            native = compile_module(self.traced.module, self.options, self.arg_records(), cache_dir)
        except PipelineError as e:
            if not self.options.donate or "RaW conflict" not in str(e):
                raise
            self.options = dataclasses.replace(self.options, donate=())
            native = compile_module(self.traced.module, self.options, self.arg_records(), cache_dir)
        gc = config.allow_gc if allow_gc is None else allow_gc
        return Compiled(self.traced, native, self.options, self.signature, gc)

    def arg_records(self) -> list[dict]:
        """The artifact manifest's arguments: inputs, then the outputs the caller allocates."""
        ins = [dict(name=n, dtype=str(a.spec.dtype), shape=list(a.spec.shape), contiguous=a.contiguous,
                    output=False) for n, a in zip(self.signature.names, self.traced.in_specs)]
        alias = {k: j for j, k in self.options.donate}
        outs = [dict(name=f"output {i}", dtype=str(s.dtype), shape=list(s.shape), contiguous=True,
                     output=True, alias=alias.get(i, -1)) for i, s in enumerate(self.traced.out_specs)]
        return ins + outs


class Compiled:
    """Native code for one signature: allocates outputs, calls, rebuilds the output tree."""

    def __init__(self, traced: TracedFunction, native: NativeCode, options: CompileOptions,
                 signature: Signature, allow_gc: bool = True):
        self.traced = traced
        self.native = native
        self.signature = signature
        self.donate = tuple(options.donate)  # (input, output): the output is written into the input
        in_specs = [
            arg_spec(name, a.spec.dtype, a.spec.shape, a.contiguous, False)
            for name, a in zip(signature.names, traced.in_specs)
        ]
        alias = {k: j for j, k in self.donate}
        out_specs = [arg_spec(f"output {i}", s.dtype, s.shape, True, True, alias.get(i, -1))
                     for i, s in enumerate(traced.out_specs)]
        self.executable: Executable = make_executable(native.address, in_specs + out_specs, native,
                                                      native.memory_hooks, allow_gc)
        # code that prints (th.debug.print, Theano's Print) runs inline, in order with Python's output
        self.executable.printing = traced.prints
        self._out_shapes = [(s.shape, s.dtype) for s in traced.out_specs]
        self._in_dtypes = [a.spec.dtype for a in traced.in_specs]
        tree = traced.out_tree
        # How FastCache rebuilds the outputs: 0 one leaf, 1 a flat tuple, 2 tree_unflatten.
        if tree.kind == "leaf":
            self.out_kind, self.unflatten = 0, None
        elif tree.kind == "tuple" and all(c.kind == "leaf" for c in tree.children):
            self.out_kind, self.unflatten = 1, None
        else:
            self.out_kind, self.unflatten = 2, functools.partial(tree_unflatten, tree)

    def call_flat(self, inputs: Sequence[Any], trust_input: bool = False, inline: bool = False) -> list[Array]:
        """Run on the runtime's queue (inline when th.config.sync or `inline`); returns
        th.Arrays at once.

        Queued, NumPy inputs are copied at the call (the caller may write them afterwards);
        Array inputs are used without a copy, after the call that computes them. Inline, nothing
        is copied: the call is over when this returns (`inline`: calls with SciPy sparse
        arguments, whose arrays are read in place, as issue 17's "zero-copy in" asks)."""
        arrays = [
            x if isinstance(x, (np.ndarray, Array)) else np.asarray(x, dtype=dt)
            for x, dt in zip(inputs, self._in_dtypes)
        ]
        return self.executable.call_async(arrays, trust_input, 0, 0, config.sync or inline)

    def call_leaves(self, inputs: Sequence[Any], trust_input: bool = False, inline: bool = False) -> Any:
        outs = self.call_flat(inputs, trust_input, inline)
        if self.traced.bf16_outputs:  # computed in float32, returned as bfloat16 (frontend/bfloat16.py)
            outs = [np.asarray(o).astype(BFLOAT16) if r else o for o, r in zip(outs, self.traced.bf16_outputs)]
        return tree_unflatten(self.traced.out_tree, outs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call with the traced argument structure; the runtime checks every buffer."""
        leaves, tree = tree_flatten((args, kwargs))
        if tree != self.signature.in_tree:
            raise TypeError("compiled function called with a different argument structure than "
                            "it was traced with")
        return self.call_leaves([leaves[i] for i in self.signature.dynamic])


class JitFunction(FastCache):
    """`th.jit(f)`: compiled on first call per signature, cached.

    Calling it is C++ (the runtime's FastCache, its base class): warm calls of positional NumPy
    arrays / th.Arrays / Python scalars (+ static values) whose layouts match an earlier call
    go straight to that call's code; anything else comes to `_call_slow`.
    """

    def __init__(self, fn: Callable, static_argnums: int | Sequence[int] = (),
                 static_argnames: str | Sequence[str] = (), optimizer: str | None = None,
                 trust_input: bool = False, allow_gc: bool | None = None,
                 donate: Sequence[tuple[int, int]] = (), donate_argnums: int | Sequence[int] = (),
                 dynamic_shapes: bool | Sequence[int] = False, device: str | None = None):
        if isinstance(static_argnums, int):
            static_argnums = (static_argnums,)
        if isinstance(donate_argnums, int):
            donate_argnums = (donate_argnums,)
        if set(donate_argnums) & set(static_argnums):
            raise ValueError(f"{getattr(fn, '__name__', 'function')}: arguments "
                             f"{sorted(set(donate_argnums) & set(static_argnums))} are both static and donated")
        if isinstance(static_argnames, str):
            static_argnames = (static_argnames,)
        super().__init__(_MISS)
        self.fn = fn
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        # JAX's rule: a static argument is static however it is passed, so each name gets its
        # position and each position its name (from fn's signature)
        self._name_nums, self._num_names = _static_aliases(fn, self.static_argnums, self.static_argnames)
        self.optimizer = optimizer
        # where the code runs (None: th.config.device); checked here, CUDA is probed at the call
        self.device = None if device is None else device_name(device)
        self.trust_input = bool(trust_input)  # the caller promises dtypes and layouts (runtime/src/executable.cpp)
        self.allow_gc = allow_gc  # None: th.config.allow_gc (runtime/src/pool.h)
        # (dynamic input leaf, output leaf) pairs whose output is written into the input's buffer
        # (th.function's in-place updates of shared variables); applied where layouts allow
        self.donate = tuple(donate)
        # positional arguments whose buffers the outputs may take (JAX's donate_argnums)
        self.donate_argnums = tuple(donate_argnums)
        self.leaf_names: list[str] | None = None  # names of the flattened arguments, for messages
        # one compile per ranks, dtypes and size-1 dims instead of per shape
        self.dynamic_shapes = (tuple(dynamic_shapes) or False) if not isinstance(dynamic_shapes, bool) \
            else dynamic_shapes
        # th.function: per leaf, a broadcastable pattern (its other dims are dynamic) or None
        self.leaf_patterns: list[tuple[bool, ...] | None] | None = None
        # th.function: when the graph cannot be compiled with dynamic dims yet (an op without
        # a dynamic lowering), compile per shape instead; the reason is kept here
        self.dynamic_fallback = False
        self.dynamic_error: str | None = None
        # calls per exact input shapes of a dynamic signature (th.config.specialize_after)
        self._shape_calls: dict[tuple, int] = {}
        self._specialized: set[tuple] = set()
        self.warm_ok = True  # the last compiled_and_key may go to the warm-call cache
        # signature -> Compiled, least recently compiled or looked up first; at most
        # th.config.jit_cache_size entries (an evicted entry's code is unloaded once no warm-call
        # cache entry or queued call refers to it)
        self._cache: OrderedDict[tuple, Compiled] = OrderedDict()
        # warm calls with SciPy sparse arguments: (frontend/sparse.call_key, warm key) -> Compiled
        self._sparse_calls: dict[tuple, Compiled] = {}
        self._lock = threading.Lock()
        self._options_memo: tuple[CompileOptions, CompileOptions, tuple] | None = None
        functools.update_wrapper(self, fn, updated=())  # keep our own options

    def _options(self, base: CompileOptions | None = None) -> CompileOptions:
        """This function's options under th.config (`base`: th.config's compile options), before
        the signature's contiguity and donations (functions of the signature)."""
        base = config.compile_snapshot()[0] if base is None else base
        if self.device is not None and self.device != base.device:
            base = dataclasses.replace(base, device=self.device)
        return base if self.optimizer is None else dataclasses.replace(base, optimizer=self.optimizer)

    def _options_and_key(self, base: CompileOptions) -> tuple[CompileOptions, tuple]:
        """`_options(base)` and its `key()`, remembered while th.config's options stay `base`."""
        memo = self._options_memo
        if memo is not None and memo[0] is base:
            return memo[1], memo[2]
        opts = self._options(base)
        self._options_memo = (base, opts, opts.key())
        return opts, self._options_memo[2]

    def _trace(self, sig: Signature) -> TracedFunction:
        return trace(self.fn, sig.leaves, sig.in_tree, sig.dynamic, sig.specs)

    def _statics(self, nargs: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """The static positions and keyword names of a call with `nargs` positional arguments:
        static_argnums and the positions of static_argnames that were passed positionally;
        static_argnames and the names of static_argnums (when passed by keyword)."""
        if not self._name_nums and not self._num_names:
            return self.static_argnums, self.static_argnames
        named = dict(self._num_names)  # a static_argnums position passed by keyword is not missing
        nums = tuple(i for i in self.static_argnums if i < nargs or i not in named)
        nums += tuple(i for i in self._name_nums if i < nargs and i not in nums)
        return nums, self.static_argnames + tuple(named.values())

    def _signature(self, args: tuple, kwargs: dict) -> Signature:
        dynamic = self.dynamic_shapes if self.dynamic_error is None else False
        nums, names = self._statics(len(args))
        sig = make_signature(self.fn, args, kwargs, nums, names,
                             self.leaf_names, dynamic, self.leaf_patterns if dynamic else None)
        if self.leaf_names is not None and len(self.leaf_names) == len(sig.leaves):
            sig.all_names = list(self.leaf_names)  # instead of the computed cached_property
        return sig

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        sig = self._signature(args, kwargs)
        traced = self._trace(sig)
        return Lowered(traced, self._signature_options(self._options(), traced, sig), sig)

    def _signature_options(self, opts: CompileOptions, traced: TracedFunction, sig: Signature) -> CompileOptions:
        """`opts` with the signature's contiguity and the donations its trace can take."""
        contiguous = [a.contiguous for a in sig.specs]
        return dataclasses.replace(opts, contiguous=contiguous, donate=self._donations(traced, contiguous, sig))

    # __call__ is FastCache's (C++): the warm-call cache, else _call_slow. th.config's warm
    # key (a hash of its CompileOptions) and sync flag are mirrored in C++ (frontend/config.py).

    def _call_slow(self, *args: Any, **kwargs: Any) -> Any:
        """The full path: tracing, keywords, pytrees, new signatures; remembers warm calls."""
        fast = self._sparse_fast(args, kwargs)
        if fast is not None:
            return fast
        # one flatten for both questions; SciPy matrices hold no tracer, so it stops at them
        # (flattening one checks its O(nnz) indices, which make_signature does once anyway)
        leaves, _ = tree_flatten((args, kwargs), is_leaf=_holds_no_tracer)
        if any(isinstance(x, Tensor) for x in leaves):
            return self.fn(*args, **kwargs)  # jit inside a trace: inline it
        # (asked before `leaves` becomes the arrays: SciPy's matrices are read in place, inline)
        inline = any(is_scipy_sparse(x) for x in leaves)
        compiled, leaves, key = self.compiled_and_key(*args, **kwargs)
        if not kwargs and self.warm_ok and not compiled.traced.bf16_outputs and \
                not any(a.bf16 for a in compiled.traced.in_specs):  # bfloat16: converted in Python
            self._fast_add(args, list(self._statics(len(args))[0]), key, compiled.executable,
                           compiled.out_kind, compiled.unflatten)
            if inline and not (self.static_argnums or self.static_argnames or self.donate or self.donate_argnums):
                self._sparse_warm(args, key, compiled)
        return compiled.call_leaves(leaves, self.trust_input, inline=inline)

    def _sparse_warm(self, args: tuple, warm: int, compiled: "Compiled") -> None:
        """Remember `compiled` for warm calls with these SciPy/NumPy arguments (`_sparse_fast`)."""
        key = sparse_call_key(args)
        if key is None or (config.specialize_after and any(not a.spec.is_static for a in compiled.traced.in_specs)):
            return  # (calls with dynamic dims are counted per shape by the full path)
        if len(self._sparse_calls) >= 64:
            self._sparse_calls.clear()
        self._sparse_calls[(key, warm)] = compiled

    def _sparse_fast(self, args: tuple, kwargs: dict) -> Any:
        """A warm call with SciPy matrices (which the C++ warm-call cache does not take): the
        code found by a cheap key of the arguments, the matrices checked (`canonical`), run
        inline; None when it does not apply (the full path then runs, and raises what it must)."""
        if kwargs or not self._sparse_calls:
            return None
        key = sparse_call_key(args)
        if key is None:
            return None
        compiled = self._sparse_calls.get((key, config.compile_snapshot()[2]))
        if compiled is None:
            return None
        try:
            leaves = sparse_call_leaves(args)
        except (TypeError, ValueError):
            return None  # the full path raises it, naming the argument
        return compiled.call_leaves(leaves, self.trust_input, inline=True)

    def compiled_for(self, *args: Any, **kwargs: Any) -> tuple["Compiled", list[Any]]:
        """The native code for this call's signature (compiled if new) and its dynamic leaves."""
        compiled, leaves, _ = self.compiled_and_key(*args, **kwargs)
        return compiled, leaves

    def compiled_and_key(self, *args: Any, **kwargs: Any) -> tuple["Compiled", list[Any], int]:
        """`compiled_for`, and the warm-call key of the settings it was compiled under.

        One read of th.config makes the options; the cache key is (signature, `opts.key()`):
        contiguity and donations are functions of the signature, so the key holds them. The
        warm key comes from the same read, so a setting changed meanwhile voids the entry."""
        sig = self._signature(args, kwargs)
        self.warm_ok = True
        if any(not a.spec.is_static for a in sig.specs):
            sig = self._hot_shapes(sig, args, kwargs)
        base, gc, warm = config.compile_snapshot()
        opts, opts_key = self._options_and_key(base)
        if opts.device != "cpu":
            check_runnable(parse_device(opts.device))  # th.DeviceError: no CUDA device: ...
        key = (sig.key, opts_key)
        compiled = self._cache.get(key)
        if compiled is not None:
            try:
                self._cache.move_to_end(key)
            except KeyError:
                pass  # evicted meanwhile by another thread: still usable
        else:
            with self._lock:
                compiled = self._cache.get(key)
                if compiled is None:
                    try:
                        traced = self._trace(sig)
                        compiled = Lowered(traced, self._signature_options(opts, traced, sig), sig).compile(self.allow_gc)
                    except Exception as e:  # noqa: BLE001 - any failure: the static path decides
                        if not (self.dynamic_fallback and self.dynamic_error is None
                                and any(not a.spec.is_static for a in sig.specs)):
                            raise
                        self.dynamic_error = f"{type(e).__name__}: {e}"
                    else:
                        self._cache[key] = compiled
                    while len(self._cache) > config.jit_cache_size:
                        self._cache.popitem(last=False)
            if compiled is None:  # the dynamic compile failed: again, per shape (outside the lock)
                return self.compiled_and_key(*args, **kwargs)
        gc = gc if self.allow_gc is None else self.allow_gc
        if compiled.executable.allow_gc != gc:  # th.config.allow_gc changed since
            compiled.executable.allow_gc = gc
        return compiled, [sig.leaves[i] for i in sig.dynamic], warm

    def _hot_shapes(self, sig: Signature, args: tuple, kwargs: dict) -> Signature:
        """A dynamic signature, or the static one of these exact shapes once they were called
        `th.config.specialize_after` times (the small-product kernels and blocked sums need
        static sizes). Until then calls take the full path, which counts them (no warm entry)."""
        limit = config.specialize_after
        if not limit:
            return sig
        exact = make_signature(self.fn, args, kwargs, *self._statics(len(args)), self.leaf_names)
        if exact.key in self._specialized:
            return exact
        n = self._shape_calls.get(exact.key, 0) + 1
        if n < limit:
            if len(self._shape_calls) < 4096:
                self._shape_calls[exact.key] = n
            self.warm_ok = False
            return sig
        self._shape_calls.pop(exact.key, None)
        self._specialized.add(exact.key)
        return exact

    def _donations(self, traced: TracedFunction, contiguous: list[bool],
                   sig: Signature) -> tuple[tuple[int, int], ...]:
        """The donated pairs this trace can take: a C-contiguous input of the output's type.

        `donate_argnums` pairs each leaf of a donated argument, in order, with the first output
        of its shape and dtype not taken yet (JAX's rule); leaves that find none (or are not
        C-contiguous arrays) are left alone, with a warning as in JAX."""
        ins, outs = traced.in_specs, traced.out_specs
        pairs = [(j, k) for j, k in self.donate
                 if j < len(ins) and k < len(outs) and contiguous[j]
                 and (ins[j].spec.shape, ins[j].spec.dtype) == (outs[k].shape, outs[k].dtype)]
        if not self.donate_argnums:
            return tuple(pairs)
        taken = {k for _, k in pairs}
        unused = []
        for j in self._donated_inputs(sig):
            k = next((k for k, o in enumerate(outs) if k not in taken
                      and (o.shape, o.dtype) == (ins[j].spec.shape, ins[j].spec.dtype)), None)
            if k is None or not contiguous[j] or not isinstance(sig.leaves[sig.dynamic[j]], (np.ndarray, Array)):
                unused.append(sig.names[j])
                continue
            taken.add(k)
            pairs.append((j, k))
        if unused:
            warnings.warn(f"{getattr(self.fn, '__name__', 'function')}: some donated buffers were not "
                          f"usable: {', '.join(unused)} (a donated argument is written in place only "
                          "when it is a C-contiguous NumPy array or th.Array with the shape and dtype of an "
                          "output not taken yet)", stacklevel=4)
        return tuple(pairs)

    def _donated_inputs(self, sig: Signature) -> list[int]:
        """Dynamic input positions (trace order) of the leaves of the donated arguments."""
        nargs = len(sig.args)
        donated = {i if i >= 0 else nargs + i for i in self.donate_argnums}
        static = {i if i >= 0 else nargs + i for i in self._statics(nargs)[0]}
        leaf_arg: list[int] = []
        for i, a in enumerate(sig.args):
            leaf_arg += [i] * (1 if i in static else len(tree_flatten(a)[0]))
        return [j for j, leaf in enumerate(sig.dynamic) if leaf < len(leaf_arg) and leaf_arg[leaf] in donated]

    @property
    def cache_size(self) -> int:
        return len(self._cache)


def _static_aliases(fn: Callable, nums: tuple[int, ...], names: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[tuple[int, str], ...]]:
    """(positions of `names`, (position, name) of `nums`) in `fn`'s signature: a static argument passed
    the other way is static too. A name that is no parameter of `fn` is warned about (unless
    `fn` takes **kwargs), as in JAX."""
    import inspect

    if not nums and not names:
        return (), ()
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return (), ()
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind == p.VAR_KEYWORD for p in params):
        unknown = [n for n in names if n not in keyword and n not in positional]
        if unknown:
            warnings.warn(f"{getattr(fn, '__name__', 'function')}: static_argnames {unknown} are not "
                          f"parameters of the function (its parameters: {[p.name for p in params]})",
                          stacklevel=4)
    name_nums = tuple(positional.index(n) for n in names if n in positional)
    num_names = tuple((i, positional[i]) for i in nums if 0 <= i < len(positional)
                      and positional[i] in keyword and positional[i] not in names)
    return name_nums, num_names


class _Miss:
    """FastCache's answer when no entry matches (a result may be None)."""


_MISS = _Miss()


def _holds_no_tracer(x: Any) -> bool:
    # by type only (is_scipy_sparse): an attribute read on a pending th.Array would wait for it
    return isinstance(x, (np.ndarray, Array)) or is_scipy_sparse(x)


def jit(fn: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), optimizer: str | None = None,
        trust_input: bool = False, allow_gc: bool | None = None,
        donate_argnums: int | Sequence[int] = (), dynamic_shapes: bool | Sequence[int] = False,
        device: str | None = None) -> Any:
    """Compile `fn` for each new signature (shapes, dtypes, static values) it is called with.

    `dynamic_shapes=True`: one compile serves every shape of the same ranks and dtypes (dims
    of size 1 stay part of the signature: they broadcast); shapes are checked when the code
    runs (docs/dynamic-shapes.md). A sequence of positional argument numbers makes only
    those arguments' dims dynamic (the others, e.g. parameters, keep their shapes).

    Usable as `@th.jit`, `@th.jit(static_argnums=1)` or `th.jit(f, static_argnums=...)`.
    Calls return `th.Array`s at once (asynchronous unless th.config.sync); reading one waits.
    `trust_input=True`: the caller promises each array's dtype and C-contiguity, which are
    then not checked; what would crash (rank, shape, null or undersized buffers) still is.
    `allow_gc=False` keeps the compiled code's intermediate buffers in a pool between calls
    (Theano's flag; None: th.config.allow_gc, True by default).
    `donate_argnums` (JAX's): each array leaf of those positional arguments gives its buffer
    to the first output of its shape and dtype not taken yet; that output is computed in
    place, so the argument (a NumPy array or th.Array) holds the output's values afterwards.
    A donated leaf with no such output, or not C-contiguous, is left alone with a warning;
    a read-only one is an error.
    `device`: "cpu", "cuda" or "cuda:N" (None: th.config.device); a CUDA device on a machine
    without one raises th.DeviceError at the first call (docs/cuda.md).
    """
    if fn is None:
        return lambda f: JitFunction(f, static_argnums, static_argnames, optimizer, trust_input, allow_gc,
                                     donate_argnums=donate_argnums, dynamic_shapes=dynamic_shapes, device=device)
    return JitFunction(fn, static_argnums, static_argnames, optimizer, trust_input, allow_gc,
                       donate_argnums=donate_argnums, dynamic_shapes=dynamic_shapes, device=device)
