"""Keras side of section 2, in its own process: ``model.fit`` steps per second.

``python -m benchmarks._keras_step REPEATS MODEL:STEPS [MODEL:STEPS ...]`` prints one JSON line:
per model, the steps per second without a penalty, with L2 and with L1."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"

import keras  # noqa: E402

from benchmarks._step import MODELS, STRENGTH, data, init  # noqa: E402


def rate(model_name: str, pen: str, steps: int, repeats: int) -> float:
    sizes, batch = MODELS[model_name]
    reg = {
        "none": None,
        "l2": keras.regularizers.L2(STRENGTH / 2),
        "l1": keras.regularizers.L1(STRENGTH),
    }[pen]
    layers = [keras.Input((sizes[0],))]
    for i, n in enumerate(sizes[1:]):
        act = "relu" if i < len(sizes) - 2 else None
        layers.append(keras.layers.Dense(n, activation=act, kernel_regularizer=reg))
    model = keras.Sequential(layers)
    model.set_weights([w for layer in init(sizes) for w in (layer["kernel"], layer["bias"])])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    X, y = data(sizes, batch, steps)
    X, y = X.reshape(-1, sizes[0]), y.reshape(-1)
    stamps = []
    cb = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: stamps.append(time.perf_counter()),
        on_epoch_end=lambda e, logs: stamps.append(time.perf_counter()),
    )
    model.fit(X, y, batch_size=batch, epochs=repeats + 1, shuffle=False, verbose=0, callbacks=[cb])
    epochs = [stamps[2 * i + 1] - stamps[2 * i] for i in range(1, repeats + 1)]  # skip compile
    return steps / statistics.median(epochs)


if __name__ == "__main__":
    repeats, models = int(sys.argv[1]), [arg.split(":") for arg in sys.argv[2:]]
    print(
        json.dumps(
            {
                name: {p: rate(name, p, int(steps), repeats) for p in ("none", "l2", "l1")}
                for name, steps in models
            }
        )
    )
