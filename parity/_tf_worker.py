"""TensorFlow side: keras.Sequential with kernel_regularizer, compile, fit(shuffle=False), as a
Keras user writes it. The regularizer is built from Keras's own API and plain numbers (never
from a jaxreg object), and its effective strengths are measured on probe weights."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # reproducible CPU kernels
os.environ["KERAS_BACKEND"] = "tensorflow"

from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from parity._worker import main, run_inputs  # noqa: E402

tf.config.experimental.enable_op_determinism()


def regularizer(keras_numbers: dict[str, float] | None):
    """Keras's own regularizer for ``{"l1": a, "l2": b}``: ``a * sum|w| + b * sum w^2``."""
    if keras_numbers is None:
        return None
    a, b = keras_numbers["l1"], keras_numbers["l2"]
    if a and b:
        return keras.regularizers.L1L2(l1=a, l2=b)
    return keras.regularizers.L1(l1=a) if a else keras.regularizers.L2(l2=b)


def measured_strengths(reg, dtype: str) -> dict[str, float]:
    """Keras's effective l1 and l2 (its units), read off the regularizer on two probe weights:
    value(c * ones) = n (c * l1 + c^2 * l2) for c = 1 and 2."""
    if reg is None:
        return {"l1": 0.0, "l2": 0.0}
    n = 4
    v1, v2 = (
        float(keras.ops.convert_to_numpy(reg(keras.ops.convert_to_tensor(np.full(n, c, dtype)))))
        for c in (1.0, 2.0)
    )
    l2 = (v2 - 2 * v1) / (2 * n)  # v2 - 2 v1 = 2 n l2
    return {"l1": v1 / n - l2, "l2": l2}


def train(spec: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    cfg, h, d = spec["config"], spec["hyper"], run_inputs(spec, job)
    # Before any layer, variable or optimizer is made. The global dtype policy is cached from
    # floatx on first use, so it has to be set as well when the dtype changes between runs.
    keras.config.set_floatx(cfg["dtype"])
    keras.config.set_dtype_policy(cfg["dtype"])
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(4,), dtype=cfg["dtype"]),
            keras.layers.Dense(
                h["hidden"],
                activation="relu",
                kernel_regularizer=regularizer(h["penalty"]["keras"]),
            ),
            keras.layers.Dense(3, kernel_regularizer=regularizer(h["penalty"]["keras"])),
        ]
    )
    i = d["init"]
    model.set_weights([i["W1"], i["b1"], i["W2"], i["b2"]])
    if cfg["optimizer"] == "adam":
        opt = keras.optimizers.Adam(h["lr"], beta_1=h["b1"], beta_2=h["b2"], epsilon=h["eps"])
    else:
        opt = keras.optimizers.SGD(h["lr"], momentum=h["momentum"])
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    X, y = d["X_train"], d["y_train"]
    orders = d["orders"]
    # The shared batch order: epoch e is X[orders[e]] cut into batches (the last one shorter).
    # With steps_per_epoch set, fit keeps one iterator across epochs, so epoch e of fit is
    # exactly epoch e of the dataset; shuffle=False (tf.data is never shuffled by fit anyway).
    per_epoch = tf.data.Dataset.from_tensor_slices((X[orders], y[orders]))
    data = per_epoch.flat_map(
        lambda xe, ye: tf.data.Dataset.from_tensor_slices((xe, ye)).batch(h["batch"])
    )
    traj = [flat(model)]
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: traj.append(flat(model))
    )
    model.fit(
        data,
        epochs=len(orders),
        steps_per_epoch=-(-len(y) // h["batch"]),
        shuffle=False,
        verbose=0,
        callbacks=[record],
    )
    effective = {
        "learning_rate": float(keras.ops.convert_to_numpy(opt.learning_rate)),
        "beta_1_as_cast": float(keras.ops.convert_to_numpy(keras.ops.cast(h["b1"], cfg["dtype"]))),
        "beta_2_as_cast": float(keras.ops.convert_to_numpy(keras.ops.cast(h["b2"], cfg["dtype"]))),
        "momentum_as_cast": float(
            keras.ops.convert_to_numpy(keras.ops.cast(h["momentum"], cfg["dtype"]))
        ),
        "regularizer": measured_strengths(regularizer(h["penalty"]["keras"]), cfg["dtype"]),
    }
    return {
        "trajectory": np.stack(traj),
        "train_logits": model.predict(X, verbose=0),
        "test_logits": model.predict(d["X_test"], verbose=0),
        "effective_constants": effective,
    }


def flat(model) -> np.ndarray:
    return np.concatenate([np.asarray(w, np.float64).ravel() for w in model.get_weights()])


if __name__ == "__main__":
    main("tf", train)
