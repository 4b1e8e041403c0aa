"""Gradients of a 3-layer MLP with softmax cross-entropy against reference implementations.

NumPy backprop written by hand always runs; PyTorch and JAX comparisons run when those
packages are installed (float64, tolerance 1e-10 as the issue asks).
"""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th

SIZES = [7, 6, 5, 4]


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    params = [(rng.normal(0, 0.5, (m, n)), rng.normal(0, 0.1, n)) for m, n in zip(SIZES[:-1], SIZES[1:])]
    x = rng.normal(size=(9, SIZES[0]))
    labels = rng.integers(0, SIZES[-1], 9)
    return params, x, labels


def loss(params, x, onehot):
    h = x
    for w, b in params[:-1]:
        h = th.tanh(h @ w + b)
    w, b = params[-1]
    return -th.mean(th.sum(onehot * th.log_softmax(h @ w + b, axis=1), axis=1))


def numpy_grads(params, x, labels):
    """Hand-written backprop of the same loss."""
    acts = [x]
    h = x
    for w, b in params[:-1]:
        h = np.tanh(h @ w + b)
        acts.append(h)
    w, b = params[-1]
    z = h @ w + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(SIZES[-1])[labels]
    loss_value = -np.mean(np.sum(onehot * np.log(p), 1))
    dz = (p - onehot) / len(x)
    grads = []
    for i in range(len(params) - 1, -1, -1):
        w, b = params[i]
        a = acts[i]
        grads.append((a.T @ dz, dz.sum(0)))
        if i:
            dz = (dz @ w.T) * (1 - a * a)
    return loss_value, grads[::-1]


def test_mlp_grads_match_numpy_backprop():
    params, x, labels = _problem()
    onehot = np.eye(SIZES[-1])[labels]
    value, grads = th.value_and_grad(loss)(params, x, onehot)
    ref_value, ref_grads = numpy_grads(params, x, labels)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    for (gw, gb), (rw, rb) in zip(grads, ref_grads):
        np.testing.assert_allclose(gw, rw, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, rb, rtol=1e-10, atol=1e-12)


def test_mlp_grads_match_torch():
    torch = pytest.importorskip("torch")
    params, x, labels = _problem(1)
    onehot = np.eye(SIZES[-1])[labels]
    tparams = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in params]
    h = torch.tensor(x)
    for w, b in tparams[:-1]:
        h = torch.tanh(h @ w + b)
    w, b = tparams[-1]
    tloss = torch.nn.functional.cross_entropy(h @ w + b, torch.tensor(labels))
    tloss.backward()
    grads = th.grad(loss)(params, x, onehot)
    for (gw, gb), (tw, tb) in zip(grads, tparams):
        np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_mlp_grads_match_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    params, x, labels = _problem(2)
    onehot = np.eye(SIZES[-1])[labels]

    def jloss(params):
        h = x
        for w, b in params[:-1]:
            h = jnp.tanh(h @ w + b)
        w, b = params[-1]
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(h @ w + b, axis=1), axis=1))

    ref = jax.grad(jloss)(params)
    grads = th.grad(loss)(params, x, onehot)
    for (gw, gb), (rw, rb) in zip(grads, ref):
        np.testing.assert_allclose(gw, np.asarray(rw), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb, np.asarray(rb), rtol=1e-10, atol=1e-12)
