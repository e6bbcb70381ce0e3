"""Run in its own process: the widely copied Keras "add L2" snippet, next to the real thing.

The snippet calls ``model.add_weight(name=..., constraint=keras.regularizers.l2(0.01))`` after
``compile``: that creates a new, unused weight whose *constraint* is a regularizer object; the
model's kernels are not regularized at all. Prints JSON: max |w_snippet - w_plain| and
max |w_real_l2 - w_plain| after identical training.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.experimental.enable_op_determinism()
rng = np.random.default_rng(0)
X = rng.normal(size=(64, 4)).astype("float32")
y = (X[:, 0] + X[:, 1] > 0).astype("float32")
init = None


def model(kernel_regularizer=None):
    global init
    m = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(10, activation="relu", kernel_regularizer=kernel_regularizer),
            keras.layers.Dense(1, activation="sigmoid", kernel_regularizer=kernel_regularizer),
        ]
    )
    if init is None:
        init = m.get_weights()
    m.set_weights(init)
    return m


def train(m):
    m.fit(X, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    return np.concatenate([np.ravel(w) for layer in m.layers for w in layer.get_weights()])


plain = model()
plain.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
w_plain = train(plain)

snippet = model()
snippet.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
regularizer = keras.regularizers.l2(0.01)  # the tutorial's lines, verbatim:
snippet.add_weight(name="dense_layer.kernel", constraint=regularizer)
snippet.add_weight(name="dense_layer.bias", constraint=regularizer)
w_snippet = train(snippet)

real = model(kernel_regularizer=keras.regularizers.L2(0.01))
real.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
w_real = train(real)

print(
    json.dumps(
        {
            "snippet_vs_plain": float(np.abs(w_snippet - w_plain).max()),
            "real_l2_vs_plain": float(np.abs(w_real - w_plain).max()),
            "snippet_model_losses": len(snippet.losses),
            "real_model_losses": len(real.losses),
        }
    )
)
