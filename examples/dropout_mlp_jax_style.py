"""An MLP trained with dropout, written JAX-style: explicit keys, split once per step.

The key is an argument of the jitted training step, which splits it into the next step's key
and this step's dropout key; the dropout masks are drawn inside the compiled step
(th.random.bernoulli on tn.random_bits), so nothing random happens in Python.

    python examples/dropout_mlp_jax_style.py
"""
import numpy as np

import theanir as th


def make_data(rng, n=400):
    """Points in the square, labelled by the sign of x0 * x1 (XOR of the quadrants)."""
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


def init_params(rng, sizes=(2, 64, 64, 2)):
    return [(rng.normal(0, np.sqrt(2.0 / m), (m, n)).astype(np.float32), np.zeros(n, np.float32))
            for m, n in zip(sizes[:-1], sizes[1:])]


def dropout(key, x, rate):
    """Inverted dropout: keep with probability 1 - rate, scale the kept units by 1 / (1 - rate)."""
    keep = th.random.bernoulli(key, 1.0 - rate, x.shape)
    return th.where(keep, x / (1.0 - rate), 0.0)


def forward(params, x, key=None, rate=0.0):
    for i, (w, b) in enumerate(params[:-1]):
        x = th.relu(x @ w + b)
        if key is not None:
            x = dropout(th.random.fold_in(key, i), x, rate)
    w, b = params[-1]
    return x @ w + b


def loss(params, x, y, key, rate):
    logp = th.log_softmax(forward(params, x, key, rate), axis=-1)
    return -th.mean(th.take_along_axis(logp, y[:, None], axis=1))


@th.jit
def train_step(params, x, y, key):
    key, sub = th.random.split(key)
    value, grads = th.value_and_grad(loss)(params, x, y, sub, 0.2)
    params = [(w - 0.3 * gw, b - 0.3 * gb) for (w, b), (gw, gb) in zip(params, grads)]
    return params, key, value


@th.jit
def accuracy(params, x, y):
    return th.mean(th.argmax(forward(params, x), axis=-1) == y)


def main(steps=300, seed=0):
    rng = np.random.default_rng(seed)
    x, y = make_data(rng)
    params = init_params(rng)
    key = th.random.key(seed)
    for step in range(steps):
        params, key, value = train_step(params, x, y, key)
        if step % 100 == 0:
            print('step %d, loss %.4f' % (step, float(value)))
    acc = float(accuracy(params, x, y))
    print('final loss %.4f' % float(value))
    print('accuracy %.3f' % acc)
    return acc


if __name__ == '__main__':
    main()
