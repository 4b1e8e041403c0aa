"""A denoising autoencoder, as the classic Theano tutorial (dA.py) wrote it.

Only the import lines name theanir. The tutorial's code: tied weights, the input corrupted
by a binomial mask drawn from `RandomStreams` inside the compiled training step (a new mask
on every call: the stream's state is a shared variable the function updates), the
cross-entropy reconstruction cost, `givens` minibatches.

    python examples/dA.py            # the tutorial's settings (15 epochs, 500 hidden units)
    python examples/dA.py --quick    # a short run (the tests use it)
"""
from __future__ import print_function

import argparse
import os
import sys
import timeit

import numpy

import theanir as theano
import theanir.tensor as T
from theanir.tensor.shared_randomstreams import RandomStreams

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logistic_sgd import load_data  # noqa: E402


class dA(object):
    def __init__(self, numpy_rng, theano_rng=None, input=None, n_visible=784, n_hidden=500,
                 W=None, bhid=None, bvis=None):
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        if not theano_rng:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        if not W:
            initial_W = numpy.asarray(
                numpy_rng.uniform(low=-4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                                  high=4 * numpy.sqrt(6. / (n_hidden + n_visible)),
                                  size=(n_visible, n_hidden)),
                dtype=theano.config.floatX)
            W = theano.shared(value=initial_W, name='W', borrow=True)
        if not bvis:
            bvis = theano.shared(value=numpy.zeros(n_visible, dtype=theano.config.floatX), borrow=True)
        if not bhid:
            bhid = theano.shared(value=numpy.zeros(n_hidden, dtype=theano.config.floatX), name='b',
                                 borrow=True)
        self.W = W
        self.b = bhid
        self.b_prime = bvis
        self.W_prime = self.W.T
        self.theano_rng = theano_rng
        if input is None:
            self.x = T.dmatrix(name='input')
        else:
            self.x = input
        self.params = [self.W, self.b, self.b_prime]

    def get_corrupted_input(self, input, corruption_level):
        """Zero a fraction `corruption_level` of the inputs, drawn anew on every call."""
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                        dtype=theano.config.floatX) * input

    def get_hidden_values(self, input):
        return T.nnet.sigmoid(T.dot(input, self.W) + self.b)

    def get_reconstructed_input(self, hidden):
        return T.nnet.sigmoid(T.dot(hidden, self.W_prime) + self.b_prime)

    def get_cost_updates(self, corruption_level, learning_rate):
        tilde_x = self.get_corrupted_input(self.x, corruption_level)
        y = self.get_hidden_values(tilde_x)
        z = self.get_reconstructed_input(y)
        L = - T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1)
        cost = T.mean(L)
        gparams = T.grad(cost, self.params)
        updates = [(param, param - learning_rate * gparam) for param, gparam in zip(self.params, gparams)]
        return (cost, updates)


def test_dA(learning_rate=0.1, training_epochs=15, dataset=None, batch_size=20, n_hidden=500,
            corruption_level=0.3):
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size

    index = T.lscalar()
    x = T.matrix('x')
    rng = numpy.random.RandomState(123)
    theano_rng = RandomStreams(rng.randint(2 ** 30))
    da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=28 * 28, n_hidden=n_hidden)
    cost, updates = da.get_cost_updates(corruption_level=corruption_level, learning_rate=learning_rate)
    train_da = theano.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size]})

    start_time = timeit.default_timer()
    costs = []
    for epoch in range(training_epochs):
        c = []
        for batch_index in range(n_train_batches):
            c.append(train_da(batch_index))
        costs.append(numpy.mean(c, dtype='float64'))
        print('Training epoch %d, cost ' % epoch, costs[-1])
    end_time = timeit.default_timer()
    print('The %d%% corruption code ran for %.2fm' % (corruption_level * 100, (end_time - start_time) / 60.))
    return costs


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='a short run: 4 epochs, 100 hidden units')
    args = parser.parse_args()
    if args.quick:
        test_dA(training_epochs=4, n_hidden=100)
    else:
        test_dA()
