"""An Elman RNN tagging variable-length sequences, as the classic Theano tutorial (elman.py,
"Recurrent Neural Networks with Word Embeddings") wrote it.

Only the import lines name theanir. The tutorial's code: word embeddings looked up with
`emb[idxs].reshape(...)`, `theano.scan(..., n_steps=x.shape[0])` over a sentence of any
length, a softmax per step (`T.nnet.softmax` of a vector is a 1 x n row, hence `s[:, 0, :]`),
per-sentence SGD on the negative log-likelihood, and the embeddings renormalized by a
function with only updates.

The task, made locally: a sentence is a sequence of 3 to 12 tokens from a vocabulary of 10;
each token is tagged 0, 1 or 2 by whether it is below, equal to or above the token before it
(the first token compares with 0), so the tagger needs the previous token: its memory.

    python examples/rnn_varlen.py            # 20 epochs
    python examples/rnn_varlen.py --quick    # a short run (the tests use it)
"""
from __future__ import print_function

import argparse
import timeit

import numpy

import theanir as theano
import theanir.tensor as T


class RNNSLU(object):
    """Elman network: embeddings -> sigmoid hidden state -> softmax tag per step."""

    def __init__(self, nh, nc, ne, de):
        """nh: hidden units, nc: classes, ne: vocabulary size, de: embedding dimension."""
        rng = numpy.random.RandomState(345)

        def init(*shape):
            return theano.shared(0.2 * rng.uniform(-1.0, 1.0, shape).astype(theano.config.floatX))

        self.emb = init(ne, de)
        self.wx = init(de, nh)
        self.wh = init(nh, nh)
        self.w = init(nh, nc)
        self.bh = theano.shared(numpy.zeros(nh, dtype=theano.config.floatX))
        self.b = theano.shared(numpy.zeros(nc, dtype=theano.config.floatX))
        self.h0 = theano.shared(numpy.zeros(nh, dtype=theano.config.floatX))
        self.params = [self.emb, self.wx, self.wh, self.w, self.bh, self.b, self.h0]

        idxs = T.ivector()
        x = self.emb[idxs].reshape((idxs.shape[0], de))
        y_sentence = T.ivector('y_sentence')

        def recurrence(x_t, h_tm1):
            h_t = T.nnet.sigmoid(T.dot(x_t, self.wx) + T.dot(h_tm1, self.wh) + self.bh)
            s_t = T.nnet.softmax(T.dot(h_t, self.w) + self.b)
            return [h_t, s_t]

        [h, s], _ = theano.scan(fn=recurrence, sequences=x, outputs_info=[self.h0, None],
                                n_steps=x.shape[0])
        p_y_given_x_sentence = s[:, 0, :]
        y_pred = T.argmax(p_y_given_x_sentence, axis=1)

        lr = T.scalar('lr')
        sentence_nll = -T.mean(T.log(p_y_given_x_sentence)[T.arange(x.shape[0]), y_sentence])
        sentence_gradients = T.grad(sentence_nll, self.params)
        sentence_updates = [(p, p - lr * g) for p, g in zip(self.params, sentence_gradients)]

        self.classify = theano.function(inputs=[idxs], outputs=y_pred)
        self.sentence_train = theano.function(inputs=[idxs, y_sentence, lr], outputs=sentence_nll,
                                              updates=sentence_updates, allow_input_downcast=True)
        self.normalize = theano.function(
            inputs=[], updates={self.emb: self.emb / T.sqrt((self.emb ** 2).sum(axis=1)).dimshuffle(0, 'x')})

    def train(self, x, y, learning_rate):
        cost = self.sentence_train(x, y, learning_rate)
        self.normalize()
        return cost


def make_sentences(n, rng, vocab=10, min_len=3, max_len=12):
    """Random sentences and their tags (0: below, 1: equal, 2: above the previous token)."""
    data = []
    for _ in range(n):
        words = rng.randint(0, vocab, size=rng.randint(min_len, max_len + 1)).astype('int32')
        prev = numpy.concatenate([[0], words[:-1]])
        tags = (numpy.sign(words - prev) + 1).astype('int32')
        data.append((words, tags))
    return data


def error_rate(rnn, data):
    wrong = sum(int((numpy.asarray(rnn.classify(w)) != t).sum()) for w, t in data)
    return wrong / float(sum(len(t) for _, t in data))


def main(n_epochs=20, n_train=300, n_test=100, nh=40, de=10, lr=0.3, seed=1):
    rng = numpy.random.RandomState(seed)
    train, test = make_sentences(n_train, rng), make_sentences(n_test, rng)
    rnn = RNNSLU(nh=nh, nc=3, ne=10, de=de)
    print('test error before training %.3f' % error_rate(rnn, test))
    start = timeit.default_timer()
    for epoch in range(n_epochs):
        order = rng.permutation(len(train))
        costs = [rnn.train(train[i][0], train[i][1], lr) for i in order]
        print('epoch %2d  mean nll %.4f  test error %.3f' % (epoch, numpy.mean(costs), error_rate(rnn, test)))
    print('final test error %.3f (%.1f s)' % (error_rate(rnn, test), timeit.default_timer() - start))


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='a short run: 4 epochs')
    args = parser.parse_args()
    main(n_epochs=4 if args.quick else 20)
