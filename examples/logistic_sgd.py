"""Logistic regression by minibatch SGD, as the classic Theano tutorial (logistic_sgd.py) wrote it.

Only the import lines name theanir; the rest is the tutorial's Theano code: a class holding
shared parameters and symbolic expressions, `givens` that cut a minibatch out of the data
held in shared variables (`train_set_x[index * batch_size:(index + 1) * batch_size]`), early
stopping on the validation error, and the best model saved with `pickle` and loaded again
to predict.

The data: scikit-learn's handwritten digits (8x8, 1,797 images) upsampled to 28x28, so the
programs keep MNIST's 784 inputs without a download (`load_data` below; the tutorial read
mnist.pkl.gz there).

    python examples/logistic_sgd.py            # the tutorial's settings
    python examples/logistic_sgd.py --quick    # a short run (the tests use it)
"""
from __future__ import print_function

import argparse
import pickle
import timeit

import numpy

import theanir as theano
import theanir.tensor as T


class LogisticRegression(object):
    """Multi-class logistic regression: P(Y=i|x) = softmax(x W + b)_i."""

    def __init__(self, input, n_in, n_out):
        self.W = theano.shared(value=numpy.zeros((n_in, n_out), dtype=theano.config.floatX),
                               name='W', borrow=True)
        self.b = theano.shared(value=numpy.zeros((n_out,), dtype=theano.config.floatX),
                               name='b', borrow=True)
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """Mean negative log-likelihood of the labels `y` (an ivector) under the model."""
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """Fraction of the minibatch the model gets wrong."""
        if y.ndim != self.y_pred.ndim:
            raise TypeError('y should have the same shape as self.y_pred',
                            ('y', y.type, 'y_pred', self.y_pred.type))
        if y.dtype.startswith('int'):
            return T.mean(T.neq(self.y_pred, y))
        else:
            raise NotImplementedError()


def digits_28x28(seed=0):
    """scikit-learn's digits, upsampled to 28x28 in [0, 1], shuffled, split 1,000/400/397."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    # bilinear upsampling 8 -> 28 per axis: each output row/column a mix of two neighbours
    pos = numpy.linspace(0, 7, 28)
    up = numpy.maximum(0, 1 - abs(pos[:, None] - numpy.arange(8)[None, :]))   # (28, 8)
    images = numpy.einsum('ij,njk,lk->nil', up, digits.images / 16.0, up)
    x = images.reshape(len(images), 28 * 28)
    y = digits.target
    order = numpy.random.RandomState(seed).permutation(len(x))
    x, y = x[order], y[order]
    return [(x[:1000], y[:1000]), (x[1000:1400], y[1000:1400]), (x[1400:], y[1400:])]


def load_data(dataset=None):
    """The three sets as shared variables, so that a minibatch is a slice on the device."""
    data = digits_28x28() if dataset is None else dataset

    def shared_dataset(data_xy, borrow=True):
        data_x, data_y = data_xy
        shared_x = theano.shared(numpy.asarray(data_x, dtype=theano.config.floatX), borrow=borrow)
        shared_y = theano.shared(numpy.asarray(data_y, dtype=theano.config.floatX), borrow=borrow)
        # the labels are used as indices: integers, cast in the graph as the tutorial does
        return shared_x, T.cast(shared_y, 'int32')

    return [shared_dataset(d) for d in data]


def sgd_optimization_mnist(learning_rate=0.13, n_epochs=1000, dataset=None, batch_size=100,
                           patience=5000, model_file='best_model.pkl'):
    datasets = load_data(dataset)
    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]

    n_train_batches = train_set_x.get_value(borrow=True).shape[0] // batch_size
    n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
    n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size

    print('... building the model')
    index = T.lscalar()
    x = T.matrix('x')
    y = T.ivector('y')
    classifier = LogisticRegression(input=x, n_in=28 * 28, n_out=10)
    cost = classifier.negative_log_likelihood(y)

    test_model = theano.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: test_set_x[index * batch_size: (index + 1) * batch_size],
                y: test_set_y[index * batch_size: (index + 1) * batch_size]})
    validate_model = theano.function(
        inputs=[index], outputs=classifier.errors(y),
        givens={x: valid_set_x[index * batch_size: (index + 1) * batch_size],
                y: valid_set_y[index * batch_size: (index + 1) * batch_size]})

    g_W = T.grad(cost=cost, wrt=classifier.W)
    g_b = T.grad(cost=cost, wrt=classifier.b)
    updates = [(classifier.W, classifier.W - learning_rate * g_W),
               (classifier.b, classifier.b - learning_rate * g_b)]
    train_model = theano.function(
        inputs=[index], outputs=cost, updates=updates,
        givens={x: train_set_x[index * batch_size: (index + 1) * batch_size],
                y: train_set_y[index * batch_size: (index + 1) * batch_size]})

    print('... training the model')
    patience_increase = 2
    improvement_threshold = 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss = numpy.inf
    test_score = 0.
    start_time = timeit.default_timer()
    done_looping = False
    epoch = 0
    while (epoch < n_epochs) and (not done_looping):
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            train_model(minibatch_index)
            iter = (epoch - 1) * n_train_batches + minibatch_index
            if (iter + 1) % validation_frequency == 0:
                validation_losses = [validate_model(i) for i in range(n_valid_batches)]
                this_validation_loss = numpy.mean(validation_losses)
                print('epoch %i, minibatch %i/%i, validation error %f %%' %
                      (epoch, minibatch_index + 1, n_train_batches, this_validation_loss * 100.))
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss = this_validation_loss
                    test_losses = [test_model(i) for i in range(n_test_batches)]
                    test_score = numpy.mean(test_losses)
                    print('     epoch %i, minibatch %i/%i, test error of best model %f %%' %
                          (epoch, minibatch_index + 1, n_train_batches, test_score * 100.))
                    with open(model_file, 'wb') as f:
                        pickle.dump(classifier, f)
            if patience <= iter:
                done_looping = True
                break

    end_time = timeit.default_timer()
    print('Optimization complete with best validation score of %f %%, with test performance %f %%'
          % (best_validation_loss * 100., test_score * 100.))
    print('The code ran for %d epochs, with %f epochs/sec' % (epoch, 1. * epoch / (end_time - start_time)))
    return best_validation_loss, test_score


def predict(model_file='best_model.pkl', dataset=None):
    """Load the saved model and use it to predict labels, as the tutorial's predict()."""
    classifier = pickle.load(open(model_file, 'rb'))
    predict_model = theano.function(inputs=[classifier.input], outputs=classifier.y_pred)
    datasets = load_data(dataset)
    test_set_x, test_set_y = datasets[2]
    test_set_x = test_set_x.get_value()
    predicted_values = predict_model(test_set_x[:10])
    print('Predicted values for the first 10 examples in test set:')
    print(predicted_values)
    return predicted_values


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='a short run: 5 epochs')
    parser.add_argument('--model-file', default='best_model.pkl')
    args = parser.parse_args()
    if args.quick:
        sgd_optimization_mnist(n_epochs=5, patience=50, model_file=args.model_file)
    else:
        sgd_optimization_mnist(model_file=args.model_file)
    predict(args.model_file)
