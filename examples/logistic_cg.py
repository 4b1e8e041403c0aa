"""Logistic regression trained by conjugate gradient (SciPy's fmin_cg), as the classic Theano
tutorial (logistic_cg.py) wrote it.

Only the import lines name theanir. The tutorial's code: all parameters in ONE shared vector
`theta`, with W and b symbolic views of it (`theta[0:n_in * n_out].reshape((n_in, n_out))`),
compiled functions for the minibatch cost and gradient that SciPy's optimizer calls with
`theta.set_value(...)` in between, and `givens` minibatches at an offset
(`train_set_x[minibatch_offset:minibatch_offset + batch_size]`).

    python examples/logistic_cg.py            # 50 conjugate-gradient iterations
    python examples/logistic_cg.py --quick    # a short run (the tests use it)
"""
from __future__ import print_function

import argparse
import os
import sys
import timeit

import numpy

import theanir as theano
import theanir.tensor as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logistic_sgd import load_data  # noqa: E402


class LogisticRegression(object):
    def __init__(self, input, n_in, n_out):
        self.theta = theano.shared(value=numpy.zeros(n_in * n_out + n_out, dtype=theano.config.floatX),
                                   name='theta', borrow=True)
        self.W = self.theta[0:n_in * n_out].reshape((n_in, n_out))
        self.b = self.theta[n_in * n_out:n_in * n_out + n_out]
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)

    def negative_log_likelihood(self, y):
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        if y.ndim != self.y_pred.ndim:
            raise TypeError('y should have the same shape as self.y_pred',
                            ('y', y.type, 'y_pred', self.y_pred.type))
        if y.dtype.startswith('int'):
            return T.mean(T.neq(self.y_pred, y))
        else:
            raise NotImplementedError()


def cg_optimization_mnist(n_epochs=50, dataset=None, batch_size=200):
    import scipy.optimize

    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size
    n_in = 28 * 28
    n_out = 10

    print('... building the model')
    minibatch_offset = T.lscalar()
    x = T.matrix()
    y = T.ivector()
    classifier = LogisticRegression(input=x, n_in=28 * 28, n_out=10)
    cost = classifier.negative_log_likelihood(y).mean()

    test_model = theano.function(
        [minibatch_offset], classifier.errors(y),
        givens={x: test_set_x[minibatch_offset:minibatch_offset + batch_size],
                y: test_set_y[minibatch_offset:minibatch_offset + batch_size]},
        name="test")
    validate_model = theano.function(
        [minibatch_offset], classifier.errors(y),
        givens={x: valid_set_x[minibatch_offset: minibatch_offset + batch_size],
                y: valid_set_y[minibatch_offset: minibatch_offset + batch_size]},
        name="validate")
    batch_cost = theano.function(
        [minibatch_offset], cost,
        givens={x: train_set_x[minibatch_offset: minibatch_offset + batch_size],
                y: train_set_y[minibatch_offset: minibatch_offset + batch_size]},
        name="batch_cost")
    batch_grad = theano.function(
        [minibatch_offset], T.grad(cost, classifier.theta),
        givens={x: train_set_x[minibatch_offset: minibatch_offset + batch_size],
                y: train_set_y[minibatch_offset: minibatch_offset + batch_size]},
        name="batch_grad")

    def train_fn(theta_value):
        classifier.theta.set_value(theta_value, borrow=True)
        train_losses = [batch_cost(i * batch_size) for i in range(n_train_batches)]
        return numpy.mean(train_losses)

    def train_fn_grad(theta_value):
        classifier.theta.set_value(theta_value, borrow=True)
        grad = batch_grad(0)
        for i in range(1, n_train_batches):
            grad += batch_grad(i * batch_size)
        return numpy.asarray(grad) / n_train_batches

    validation_scores = [numpy.inf, 0]

    def callback(theta_value):
        classifier.theta.set_value(theta_value, borrow=True)
        validation_losses = [validate_model(i * batch_size) for i in range(n_valid_batches)]
        this_validation_loss = numpy.mean(validation_losses)
        print('validation error %f %%' % (this_validation_loss * 100.,))
        if this_validation_loss < validation_scores[0]:
            validation_scores[0] = this_validation_loss
            test_losses = [test_model(i * batch_size) for i in range(n_test_batches)]
            validation_scores[1] = numpy.mean(test_losses)

    print('Optimizing using scipy.optimize.fmin_cg...')
    start_time = timeit.default_timer()
    scipy.optimize.fmin_cg(f=train_fn, x0=numpy.zeros((n_in + 1) * n_out, dtype=x.dtype),
                           fprime=train_fn_grad, callback=callback, disp=0, maxiter=n_epochs)
    end_time = timeit.default_timer()
    print('Optimization complete with best validation score of %f %%, with test performance %f %%'
          % (validation_scores[0] * 100., validation_scores[1] * 100.))
    print('The code ran for %.1fs' % (end_time - start_time))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='a short run: 10 iterations')
    args = parser.parse_args()
    cg_optimization_mnist(n_epochs=10 if args.quick else 50)
