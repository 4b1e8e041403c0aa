"""LeNet-5 by minibatch SGD, as the classic Theano tutorial (convolutional_mlp.py) wrote it.

Only the import lines name theanir. The tutorial's network: two convolution + max-pooling
layers (20 and 50 5x5 kernels, 2x2 pooling, tanh), a 500-unit tanh layer and a softmax
layer, trained on minibatches of 500 28x28 images cut from shared variables with `givens`,
with early stopping on a validation set.

The data is made here: scikit-learn's handwritten digits upsampled to 28x28 (see
examples/logistic_sgd.py), each image also shifted by up to 2 pixels, so that the training set
holds 5,000 images and the validation and test sets 500 each (from digits the training set
never sees).

    python examples/lenet.py            # 20 epochs
    python examples/lenet.py --quick    # a short run (the tests use it)
"""
from __future__ import print_function

import argparse
import os
import sys
import timeit

import numpy

import theanir as theano
import theanir.tensor as T
from theanir.tensor.nnet import conv2d
from theanir.tensor.signal import pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from logistic_sgd import LogisticRegression, digits_28x28, load_data  # noqa: E402
from mlp import HiddenLayer  # noqa: E402


class LeNetConvPoolLayer(object):
    """Pool layer of a convolutional network: tanh(max_pool(conv(input, W)) + b)."""

    def __init__(self, rng, input, filter_shape, image_shape, poolsize=(2, 2)):
        assert image_shape[1] == filter_shape[1]
        self.input = input
        fan_in = numpy.prod(filter_shape[1:])
        fan_out = (filter_shape[0] * numpy.prod(filter_shape[2:]) // numpy.prod(poolsize))
        W_bound = numpy.sqrt(6. / (fan_in + fan_out))
        self.W = theano.shared(
            numpy.asarray(rng.uniform(low=-W_bound, high=W_bound, size=filter_shape), dtype=theano.config.floatX),
            borrow=True)
        b_values = numpy.zeros((filter_shape[0],), dtype=theano.config.floatX)
        self.b = theano.shared(value=b_values, borrow=True)
        conv_out = conv2d(input=input, filters=self.W, filter_shape=filter_shape, input_shape=image_shape)
        pooled_out = pool.pool_2d(input=conv_out, ws=poolsize, ignore_border=True)
        self.output = T.tanh(pooled_out + self.b.dimshuffle('x', 0, 'x', 'x'))
        self.params = [self.W, self.b]
        self.input = input


def shifted_digits(seed=0):
    """Digits at 28x28, each also shifted by up to 2 pixels: 5,000 / 500 / 500 images."""
    (x0, y0), (x1, y1), (x2, y2) = digits_28x28(seed)
    x, y = numpy.concatenate([x0, x1, x2]), numpy.concatenate([y0, y1, y2])
    rng = numpy.random.RandomState(seed)

    def shifted(xs, ys, n):
        idx = rng.randint(0, len(xs), size=n)
        out = numpy.zeros((n, 28, 28))
        for k, i in enumerate(idx):
            dy, dx = rng.randint(-2, 3, size=2)
            img = xs[i].reshape(28, 28)
            out[k, max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = \
                img[max(-dy, 0):28 + min(-dy, 0), max(-dx, 0):28 + min(-dx, 0)]
        return out.reshape(n, 28 * 28), ys[idx]

    return [shifted(x[:1297], y[:1297], 5000), shifted(x[1297:1547], y[1297:1547], 500),
            shifted(x[1547:], y[1547:], 500)]


def evaluate_lenet5(learning_rate=0.1, n_epochs=20, nkerns=(20, 50), batch_size=500, n_train_batches=None,
                    patience=10000):
    rng = numpy.random.RandomState(23455)
    datasets = load_data(shifted_digits())
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]
    n_train_batches = n_train_batches or train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size

    index = T.lscalar()
    x = T.matrix('x')
    y = T.ivector('y')
    print('... building the model')
    layer0_input = x.reshape((batch_size, 1, 28, 28))
    layer0 = LeNetConvPoolLayer(rng, input=layer0_input, image_shape=(batch_size, 1, 28, 28),
                                filter_shape=(nkerns[0], 1, 5, 5), poolsize=(2, 2))
    layer1 = LeNetConvPoolLayer(rng, input=layer0.output, image_shape=(batch_size, nkerns[0], 12, 12),
                                filter_shape=(nkerns[1], nkerns[0], 5, 5), poolsize=(2, 2))
    layer2_input = layer1.output.flatten(2)
    layer2 = HiddenLayer(rng, input=layer2_input, n_in=nkerns[1] * 4 * 4, n_out=500, activation=T.tanh)
    layer3 = LogisticRegression(input=layer2.output, n_in=500, n_out=10)
    cost = layer3.negative_log_likelihood(y)

    test_model = theano.function(
        [index], layer3.errors(y),
        givens={x: test_set_x[index * batch_size: (index + 1) * batch_size],
                y: test_set_y[index * batch_size: (index + 1) * batch_size]})
    validate_model = theano.function(
        [index], layer3.errors(y),
        givens={x: valid_set_x[index * batch_size: (index + 1) * batch_size],
                y: valid_set_y[index * batch_size: (index + 1) * batch_size]})
    params = layer3.params + layer2.params + layer1.params + layer0.params
    grads = T.grad(cost, params)
    updates = [(param_i, param_i - learning_rate * grad_i) for param_i, grad_i in zip(params, grads)]
    train_model = theano.function(
        [index], cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size],
                y: train_set_y[index * batch_size: (index + 1) * batch_size]})

    print('... training')
    best_validation_loss = numpy.inf
    best_iter = 0
    test_score = 0.
    start_time = timeit.default_timer()
    epoch = 0
    done_looping = False
    while (epoch < n_epochs) and (not done_looping):
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            iter = (epoch - 1) * n_train_batches + minibatch_index
            cost_ij = train_model(minibatch_index)
            if (iter + 1) % n_train_batches == 0:
                validation_losses = [validate_model(i) for i in range(n_valid_batches)]
                this_validation_loss = numpy.mean(validation_losses)
                print('epoch %i, minibatch %i/%i, cost %f, validation error %f %%' %
                      (epoch, minibatch_index + 1, n_train_batches, cost_ij, this_validation_loss * 100.))
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * 0.995:
                        patience = max(patience, iter * 2)
                    best_validation_loss = this_validation_loss
                    best_iter = iter
                    test_losses = [test_model(i) for i in range(n_test_batches)]
                    test_score = numpy.mean(test_losses)
                    print('     epoch %i, minibatch %i/%i, test error of best model %f %%' %
                          (epoch, minibatch_index + 1, n_train_batches, test_score * 100.))
            if patience <= iter:
                done_looping = True
                break

    end_time = timeit.default_timer()
    print('Optimization complete.')
    print('Best validation score of %f %% obtained at iteration %i, with test performance %f %%' %
          (best_validation_loss * 100., best_iter + 1, test_score * 100.))
    print('The code ran for %.1fs (%.3f s per minibatch)' %
          (end_time - start_time, (end_time - start_time) / max(1, epoch * n_train_batches)))
    return best_validation_loss, test_score


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='a short run: 3 epochs of 4 minibatches')
    args = parser.parse_args()
    if args.quick:
        evaluate_lenet5(n_epochs=3, n_train_batches=4)
    else:
        evaluate_lenet5()
