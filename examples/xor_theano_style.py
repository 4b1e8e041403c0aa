"""XOR with a 2-4-1 tanh/sigmoid network, written the way a Theano 0.7 user wrote it.

Only the two import lines name theanir; the rest is Theano code: symbolic variables,
shared parameters, T.grad, and a `function` whose updates train the network in place.
The whole training step (forward, backward, updates) is one native call.

    python examples/xor_theano_style.py
"""
import numpy as np

import theanir as theano
import theanir.tensor as T

floatX = theano.config.floatX


def build_model(rng, n_in=2, n_hidden=4):
    x = T.matrix('x')
    y = T.vector('y')
    W1 = theano.shared(rng.uniform(-1.0, 1.0, (n_in, n_hidden)).astype(floatX), name='W1')
    b1 = theano.shared(np.zeros(n_hidden, dtype=floatX), name='b1')
    W2 = theano.shared(rng.uniform(-1.0, 1.0, n_hidden).astype(floatX), name='W2')
    b2 = theano.shared(0., name='b2')
    params = [W1, b1, W2, b2]

    hidden = T.tanh(T.dot(x, W1) + b1)
    p_1 = T.nnet.sigmoid(T.dot(hidden, W2) + b2)      # probability that the target is 1
    prediction = p_1 > 0.5
    xent = T.nnet.binary_crossentropy(p_1, y)
    cost = xent.mean() + 0.0001 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    gparams = T.grad(cost, params)

    learning_rate = 0.5
    updates = [(param, param - learning_rate * gparam) for param, gparam in zip(params, gparams)]
    train = theano.function(inputs=[x, y], outputs=[cost, prediction], updates=updates)
    predict = theano.function(inputs=[x], outputs=prediction)
    return train, predict


def main(n_epochs=1000, seed=1234):
    rng = np.random.RandomState(seed)
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=floatX)
    Y = np.array([0, 1, 1, 0], dtype=floatX)
    train, predict = build_model(rng)
    for epoch in range(n_epochs):
        cost, pred = train(X, Y)
        if epoch % 200 == 0:
            print('epoch %4d  cost %.5f' % (epoch, cost))
    accuracy = float(np.mean(predict(X) == Y))
    print('final cost %.5f' % cost)
    print('predictions', predict(X).astype(int).tolist(), 'targets', Y.astype(int).tolist())
    print('accuracy %.2f' % accuracy)
    return accuracy, float(cost)


if __name__ == '__main__':
    main()
