"""A sparse logistic regression on a hashed bag-of-words matrix (10^4 words, <= 1% dense)
trained with structured_dot (issue 17's acceptance: the README/docs example and a test)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import theanir as th
import theanir.sparse as sparse
import theanir.tensor as T


def _bag_of_words(n_docs: int, n_words: int, per_doc: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n_docs), per_doc)
    cols = rng.integers(0, n_words, n_docs * per_doc)
    X = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_docs, n_words))
    y = (X @ rng.standard_normal(n_words) > 0).astype(np.float64)
    return X, y


def test_logistic_regression_trains_with_structured_dot():
    X, y = _bag_of_words(8000, 10_000, 40)
    assert X.nnz / np.prod(X.shape) <= 0.01
    X_train, y_train, X_test, y_test = X[:7000], y[:7000], X[7000:], y[7000:]
    x, t = sparse.csr_matrix("x"), T.dvector("t")
    w = th.shared(np.zeros(X.shape[1]), name="w")
    b = th.shared(0.0, name="b")
    p = T.nnet.sigmoid(sparse.structured_dot(x, w) + b)
    cost = T.nnet.binary_crossentropy(p, t).mean() + 1e-5 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = th.function([x, t], cost, updates=[(w, w - 5.0 * gw), (b, b - 5.0 * gb)])
    predict = th.function([x], p > 0.5)
    # the same step in NumPy/SciPy, for the first update's value
    w0 = np.zeros(X.shape[1])
    losses = [float(train(X_train, y_train))]
    ref = np.log(2.0)
    np.testing.assert_allclose(losses[0], ref, rtol=1e-12)
    pr = 1 / (1 + np.exp(-(X_train @ w0)))
    g_ref = X_train.T @ (pr - y_train) / X_train.shape[0]
    np.testing.assert_allclose(w.get_value(), -5.0 * g_ref, rtol=1e-9, atol=1e-12)
    for _ in range(150):
        losses.append(float(train(X_train, y_train)))
    assert all(b_ <= a_ + 1e-12 for a_, b_ in zip(losses, losses[1:]))  # monotone at this step size
    assert losses[-1] < 0.4 * losses[0]
    assert (np.asarray(predict(X_train)) == y_train).mean() > 0.97
    assert (np.asarray(predict(X_test)) == y_test).mean() > 0.65
    # minibatches: one more compile for the new matrix shape, none for their other patterns
    for lo in range(0, 7000, 1750):
        train(X_train[lo:lo + 1750], y_train[lo:lo + 1750])
    assert train.compile_count == 2
