"""The README's main job: train a small MLP on scikit-learn's handwritten digits.

    python -m theanir.demo [--epochs N] [--hidden H] [--seed S]

The whole SGD step (forward, reverse-mode gradient, parameter update) is one jitted
function compiled to native code; it prints the loss per epoch and the test accuracy.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import theanir as th


def init_params(rng: np.random.Generator, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(rng.normal(0, 1 / np.sqrt(m), (m, n)), np.zeros(n)) for m, n in zip(sizes[:-1], sizes[1:])]


def predict(params, x):
    """Logits of the MLP: tanh hidden layers, linear output."""
    h = x
    for w, b in params[:-1]:
        h = th.tanh(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def loss_fn(params, x, y_onehot):
    """Mean softmax cross-entropy."""
    logp = th.log_softmax(predict(params, x), axis=1)
    return -th.mean(th.sum(y_onehot * logp, axis=1))


@th.jit
def sgd_step(params, x, y_onehot, lr):
    loss, grads = th.value_and_grad(loss_fn)(params, x, y_onehot)
    new = [(w - lr * gw, b - lr * gb) for (w, b), (gw, gb) in zip(params, grads)]
    return loss, new


@th.jit
def accuracy(params, x, labels):
    return th.mean((th.argmax(predict(params, x), axis=1) == labels).astype(np.float64))


def load_digits_split(seed: int):
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data / 16.0
    y = data.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    n_train = int(0.8 * len(x))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    xtr, ytr, xte, yte = load_digits_split(args.seed)
    onehot = np.eye(10)[ytr]
    rng = np.random.default_rng(args.seed)
    params = init_params(rng, [64, args.hidden, 10])
    print(f"digits: {len(xtr)} train / {len(xte)} test images, MLP 64-{args.hidden}-10, "
          f"batch {args.batch}, lr {args.lr}")
    n_batches = len(xtr) // args.batch
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(xtr))
        total = 0.0
        for i in range(n_batches):
            idx = order[i * args.batch:(i + 1) * args.batch]
            loss, params = sgd_step(params, xtr[idx], onehot[idx], args.lr)
            total += float(loss)
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  loss {total / n_batches:.4f}  "
                  f"train acc {float(accuracy(params, xtr, ytr)):.3f}")
    acc = float(accuracy(params, xte, yte))
    print(f"test accuracy {acc:.4f} ({time.perf_counter() - t0:.1f} s of training)")
    return acc


if __name__ == "__main__":
    main()
