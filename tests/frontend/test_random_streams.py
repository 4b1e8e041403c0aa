"""Theano's random streams: RandomStreams / MRG_RandomStreams draws in th.function, state in
shared variables advanced by default updates, no_default_updates, seed(), symbolic sizes,
and a denoising autoencoder that trains with a fresh corruption mask on every call."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.sandbox.rng_mrg import MRG_RandomStreams
from theanir.tensor.shared_randomstreams import RandomStreams

STREAMS = [RandomStreams, MRG_RandomStreams]


@pytest.mark.parametrize("cls", STREAMS)
def test_each_call_draws_new_numbers_and_seed_resets(cls):
    srng = cls(seed=234)
    u = srng.uniform((3, 4), low=-1.0, high=2.0)
    f = th.function([], u)
    a, b = np.asarray(f()), np.asarray(f())
    assert a.shape == (3, 4) and a.min() >= -1 and a.max() < 2 and not np.array_equal(a, b)
    srng.seed(234)
    assert np.array_equal(np.asarray(f()), a)
    srng.seed(7)
    assert not np.array_equal(np.asarray(f()), a)


def test_no_default_updates_keeps_the_state():
    srng = RandomStreams(seed=1)
    u = srng.normal((5,))
    f = th.function([], u, no_default_updates=True)
    assert np.array_equal(np.asarray(f()), np.asarray(f()))
    state = srng.state_updates[0][0]
    g = th.function([], u, no_default_updates=[state])
    assert np.array_equal(np.asarray(g()), np.asarray(f()))
    h = th.function([], u)
    before = np.asarray(f())
    assert np.array_equal(np.asarray(h()), before)  # h draws from the state, then advances it
    assert not np.array_equal(np.asarray(f()), before)


def test_explicit_update_of_the_state_wins():
    srng = RandomStreams(seed=3)
    u = srng.uniform((4,))
    state = srng.state_updates[0][0]
    f = th.function([], u, updates=[(state, state)])  # the user pins the state
    assert np.array_equal(np.asarray(f()), np.asarray(f()))


def test_functions_sharing_a_stream_advance_one_state():
    srng = RandomStreams(seed=5)
    u = srng.uniform((4,))
    f, g = th.function([], u), th.function([], u * 2)
    a = np.asarray(f())
    b = np.asarray(g())
    srng.seed(5)
    assert np.array_equal(np.asarray(f()), a)
    assert np.array_equal(np.asarray(f()) * 2, b)


def test_symbolic_size_and_distributions():
    srng = MRG_RandomStreams(seed=11)
    x = T.dmatrix("x")
    f = th.function([x], [srng.uniform(size=x.shape), srng.normal(size=(x.shape[0], 7), avg=2.0, std=0.5),
                          srng.binomial(size=x.shape, n=3, p=0.5), srng.random_integers((50,), 2, 4),
                          srng.permutation(n=6), srng.permutation(size=(2,), n=4),
                          srng.multinomial(n=5, pvals=np.array([[0.2, 0.8], [1.0, 0.0]])),
                          srng.choice(size=(3,), a=10, replace=False)])
    u, z, b, r, p, p2, m, c = (np.asarray(v) for v in f(np.zeros((4, 3))))
    assert u.shape == (4, 3) and z.shape == (4, 7) and b.shape == (4, 3)
    assert b.dtype == np.int64 and set(np.unique(b)) <= {0, 1, 2, 3}
    assert set(np.unique(r)) == {2, 3, 4}
    assert sorted(p.tolist()) == list(range(6)) and p2.shape == (2, 4)
    assert all(sorted(row) == [0, 1, 2, 3] for row in p2.tolist())
    assert m.tolist()[1] == [5, 0] and m.sum(axis=1).tolist() == [5, 5]
    assert len(set(c.tolist())) == 3
    u2 = np.asarray(f(np.zeros((2, 5)))[0])  # another shape retraces
    assert u2.shape == (2, 5)


def test_gradients_reparameterized_normal_and_binomial_p():
    srng = RandomStreams(seed=2)
    mu, sigma, p = T.dscalar("mu"), T.dscalar("sigma"), T.dscalar("p")
    z = srng.normal((8,), avg=mu, std=sigma)
    cost = T.sum(z) + T.sum(srng.binomial((8,), p=p, dtype="float64") * p)
    grads = th.function([mu, sigma, p], [T.grad(cost, mu), T.grad(cost, sigma), T.grad(cost, p), z],
                        no_default_updates=True)
    gmu, gsigma, gp, zv = (np.asarray(v) for v in grads(1.0, 2.0, 0.5))
    assert gmu == pytest.approx(8.0)
    assert gsigma == pytest.approx(float(np.sum((zv - 1.0) / 2.0)))
    # d/dp of sum(mask * p) is sum(mask): the draw itself has no gradient (Theano's rule)
    assert 0 <= float(gp) <= 8 and float(gp) == int(gp)


def test_bad_input():
    srng = RandomStreams(seed=0)
    with pytest.raises(ValueError, match="p must lie in"):
        srng.binomial((3,), p=1.5)
    with pytest.raises(ValueError, match="pvals must be non-negative and sum to 1"):
        srng.multinomial(pvals=np.array([[0.5, 0.6]]))
    bad = srng.uniform((-1, 2))
    with pytest.raises(ValueError, match="negative"):
        th.function([], bad)()


def test_denoising_autoencoder_trains_with_fresh_masks():
    """The dA tutorial's corruption: x * binomial(size=x.shape, n=1, p=1-corruption)."""
    rng = np.random.default_rng(0)
    n_vis, n_hid = 20, 8
    data = (rng.uniform(size=(60, n_vis)) > 0.5).astype(th.config.floatX)
    srng = RandomStreams(seed=123)
    x = T.matrix("x")
    W = th.shared(rng.uniform(-0.2, 0.2, (n_vis, n_hid)).astype(th.config.floatX), name="W")
    bh = th.shared(np.zeros(n_hid, th.config.floatX), name="bh")
    bv = th.shared(np.zeros(n_vis, th.config.floatX), name="bv")
    mask = srng.binomial(size=x.shape, n=1, p=0.7, dtype=th.config.floatX)
    tilde = x * mask
    h = T.nnet.sigmoid(T.dot(tilde, W) + bh)
    z = T.nnet.sigmoid(T.dot(h, W.T) + bv)
    cost = T.mean(-T.sum(x * T.log(z) + (1 - x) * T.log(1 - z), axis=1))
    params = [W, bh, bv]
    updates = [(p, p - 0.1 * g) for p, g in zip(params, T.grad(cost, params))]
    train = th.function([x], [cost, tilde], updates=updates)
    costs, masks = [], []
    for _ in range(30):
        c, t = train(data)
        costs.append(float(c))
        masks.append(np.asarray(t) == data)  # where the corrupted input kept x
    assert costs[-1] < costs[0]
    kept = np.mean([np.mean(m[data == 1]) for m in masks])
    assert abs(kept - 0.7) < 0.05  # ~70% of the ones survive the corruption
    assert not np.array_equal(masks[0], masks[1])  # a new mask each call


def test_draws_inside_scan_are_new_each_step_and_scan_returns_the_updates():
    srng = RandomStreams(seed=1)
    x = T.dvector("x")
    outs, updates = th.scan(lambda h: h + srng.normal((3,)), outputs_info=x, n_steps=4)
    assert len(updates) == 1
    f = th.function([x], outs, updates=updates)
    a = np.asarray(f(np.zeros(3)))
    steps = np.diff(np.concatenate([np.zeros((1, 3)), a]), axis=0)
    assert len(np.unique(np.round(steps, 12))) == 12  # four different noise vectors
    assert not np.array_equal(np.asarray(f(np.zeros(3))), a)  # the key moved on


def test_rbm_cd_k_gibbs_chain_in_scan_trains():
    """The RBM tutorial's contrastive divergence: binomial samples in a scan'd Gibbs chain."""
    rng = np.random.default_rng(1)
    n_vis, n_hid = 12, 6
    data = np.tile(np.array([[1] * 6 + [0] * 6, [0] * 6 + [1] * 6], th.config.floatX), (10, 1))
    srng = RandomStreams(seed=5)
    W = th.shared(rng.normal(0, 0.1, (n_vis, n_hid)), name="W")
    hb = th.shared(np.zeros(n_hid), name="hbias")
    vb = th.shared(np.zeros(n_vis), name="vbias")
    x = T.matrix("x")

    def free_energy(v):
        return -T.dot(v, vb) - T.sum(T.log(1 + T.exp(T.dot(v, W) + hb)), axis=1)

    def gibbs_vhv(v0):
        h_mean = T.nnet.sigmoid(T.dot(v0, W) + hb)
        h = srng.binomial(size=h_mean.shape, n=1, p=h_mean, dtype=th.config.floatX)
        v_mean = T.nnet.sigmoid(T.dot(h, W.T) + vb)
        return srng.binomial(size=v_mean.shape, n=1, p=v_mean, dtype=th.config.floatX)

    chain, updates = th.scan(gibbs_vhv, outputs_info=x, n_steps=3)
    chain_end = chain[-1]
    cost = T.mean(free_energy(x)) - T.mean(free_energy(chain_end))
    params = [W, hb, vb]
    # The tutorial passes consider_constant=[chain_end]; samples are constants for autodiff
    # here already (binomial has no gradient through p), so the gradient is the same without.
    grads = T.grad(cost, params)
    updates.update((p, p - 0.1 * g) for p, g in zip(params, grads))
    train = th.function([x], cost, updates=updates)
    recon = th.function([x], T.mean(T.sum((x - T.nnet.sigmoid(T.dot(T.nnet.sigmoid(T.dot(x, W) + hb), W.T) + vb)) ** 2, axis=1)))
    before = float(recon(data))
    for _ in range(60):
        train(data)
    assert float(recon(data)) < 0.5 * before
