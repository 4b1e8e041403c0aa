"""A denoising autoencoder (the deeplearning.net dA tutorial), written as a Theano user wrote it.

Only the import lines name theanir. The corruption is Theano's
`x * srng.binomial(size=x.shape, n=1, p=1 - corruption_level, dtype=floatX)`: the random
stream's state is a shared variable that the compiled training function advances on every
call (a default update), so each call corrupts the minibatch with a new mask.

    python examples/denoising_autoencoder_theano_style.py
"""
import numpy as np

import theanir as theano
import theanir.tensor as T
from theanir.tensor.shared_randomstreams import RandomStreams

floatX = theano.config.floatX


def make_data(rng, n=200, n_visible=36):
    """Binary 6x6 images of a horizontal or a vertical bar, flattened."""
    X = np.zeros((n, 6, 6), dtype=floatX)
    for i in range(n):
        k = rng.randint(6)
        if rng.rand() < 0.5:
            X[i, k, :] = 1
        else:
            X[i, :, k] = 1
    return X.reshape(n, n_visible)


class dA(object):
    def __init__(self, numpy_rng, theano_rng, n_visible=36, n_hidden=12):
        bound = 4 * np.sqrt(6. / (n_hidden + n_visible))
        self.W = theano.shared(numpy_rng.uniform(-bound, bound, (n_visible, n_hidden)).astype(floatX), name='W')
        self.b = theano.shared(np.zeros(n_hidden, dtype=floatX), name='b')
        self.b_prime = theano.shared(np.zeros(n_visible, dtype=floatX), name='bvis')
        self.theano_rng = theano_rng
        self.params = [self.W, self.b, self.b_prime]

    def get_corrupted_input(self, input, corruption_level):
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                        dtype=floatX) * input

    def get_hidden_values(self, input):
        return T.nnet.sigmoid(T.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        return T.nnet.sigmoid(T.dot(hidden, self.W.T) + self.b_prime)

    def get_cost_updates(self, x, corruption_level, learning_rate):
        tilde_x = self.get_corrupted_input(x, corruption_level)
        z = self.get_reconstructed_input(self.get_hidden_values(tilde_x))
        L = -T.sum(x * T.log(z) + (1 - x) * T.log(1 - z), axis=1)
        cost = T.mean(L)
        gparams = T.grad(cost, self.params)
        updates = [(p, p - learning_rate * g) for p, g in zip(self.params, gparams)]
        return cost, updates


def main(n_epochs=40, batch_size=20, seed=123):
    rng = np.random.RandomState(seed)
    data = make_data(rng)
    x = T.matrix('x')
    da = dA(numpy_rng=rng, theano_rng=RandomStreams(rng.randint(2 ** 30)))
    cost, updates = da.get_cost_updates(x, corruption_level=0.3, learning_rate=0.1)
    train_da = theano.function([x], cost, updates=updates)
    clean = da.get_reconstructed_input(da.get_hidden_values(x))
    reconstruct = theano.function([x], clean)
    n_batches = data.shape[0] // batch_size
    first = last = None
    for epoch in range(n_epochs):
        costs = [float(train_da(data[i * batch_size:(i + 1) * batch_size])) for i in range(n_batches)]
        first = np.mean(costs) if first is None else first
        last = np.mean(costs)
        if epoch % 10 == 0:
            print('epoch %d, cost %.4f' % (epoch, last))
    error = float(np.mean(np.abs(np.asarray(reconstruct(data)) - data)))
    print('first epoch cost %.4f, last epoch cost %.4f' % (first, last))
    print('mean reconstruction error %.4f' % error)
    return first, last, error


if __name__ == '__main__':
    main()
