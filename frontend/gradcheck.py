"""`th.verify_grad`: Theano's random-projection finite-difference check, for both modes.

The output is projected on a random direction u (cost = <u, f(x)>); for a random input
direction v, the central difference (cost(x + eps v) - cost(x - eps v)) / 2 eps must match
<grad cost, v> from reverse mode and <u, J v> from forward mode.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import numpy_api as tnp
from .api import jit
from .autodiff import _jvp_traced, _vjp_traced

__all__ = ["verify_grad", "GradientError"]


class GradientError(AssertionError):
    """Analytic and numeric derivatives disagree; the message gives both."""


_DEFAULT_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
_DEFAULT_RTOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 2e-2}


def verify_grad(f: Callable, args: Sequence[Any], eps: float | None = None, rtol: float | None = None,
                rng: np.random.Generator | None = None, modes: Sequence[str] = ("rev", "fwd")) -> None:
    """Raise GradientError unless f's vjp and jvp agree with central finite differences.

    `args` are float arrays (all differentiated). eps/rtol default by dtype (float64: 1e-6 /
    1e-5; float32: 1e-3 / 2e-2). Non-float outputs are not allowed.
    """
    rng = rng if rng is not None else np.random.default_rng(42)
    args = [np.asarray(a) for a in args]
    for i, a in enumerate(args):
        if a.dtype.kind != "f":
            raise TypeError(f"verify_grad: argument {i} must be float, got {a.dtype}")
    dtype = np.result_type(*args)
    eps = eps if eps is not None else _DEFAULT_EPS[np.dtype(dtype)]
    rtol = rtol if rtol is not None else _DEFAULT_RTOL[np.dtype(dtype)]

    out = jit(f)(*args)
    outs = out if isinstance(out, tuple) else (out,)
    us = [rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype) for o in outs]
    vs = [rng.standard_normal(a.shape).astype(a.dtype) for a in args]

    def projected(*xs):
        y = f(*xs)
        ys = y if isinstance(y, tuple) else (y,)
        return sum(tnp.sum(tnp.as_tensor(yi) * u) for yi, u in zip(ys, us))

    cost = jit(projected)
    plus = cost(*[a + eps * v for a, v in zip(args, vs)])
    minus = cost(*[a - eps * v for a, v in zip(args, vs)])
    numeric = float((np.float64(plus) - np.float64(minus)) / (2 * eps))
    scale = max(1.0, abs(numeric))

    if "rev" in modes:
        cts = tuple(us) if isinstance(out, tuple) else us[0]
        grads = jit(lambda p, c: _vjp_traced(f, p, c))(tuple(args), cts)
        analytic = float(sum(np.vdot(np.asarray(g, np.float64), np.asarray(v, np.float64))
                             for g, v in zip(grads, vs)))
        if abs(analytic - numeric) > rtol * scale:
            raise GradientError(f"reverse mode: <grad, v> = {analytic!r} but finite differences "
                                f"give {numeric!r} (eps={eps}, rtol={rtol})")
    if "fwd" in modes:
        _, touts = jit(lambda p, t: _jvp_traced(f, p, t))(tuple(args), tuple(vs))
        touts = touts if isinstance(touts, tuple) else (touts,)
        analytic = float(sum(np.vdot(np.asarray(t, np.float64), np.asarray(u, np.float64))
                             for t, u in zip(touts, us)))
        if abs(analytic - numeric) > rtol * scale:
            raise GradientError(f"forward mode: <u, J v> = {analytic!r} but finite differences "
                                f"give {numeric!r} (eps={eps}, rtol={rtol})")
