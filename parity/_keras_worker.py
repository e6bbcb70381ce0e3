"""Keras side: keras.Sequential with kernel_regularizer, compile, fit(shuffle=False), as a Keras
user writes it, on the backend the framework names (``tf``: TensorFlow; ``keras-jax``,
``keras-torch``: Keras 3 on JAX / torch). Regularizers and optimizers are built from Keras's own
API and plain numbers (never from a jaxreg object); each run exports their ``get_config()`` and
the constants Keras really applies, measured on probe weights and read off the optimizer.
"""

from __future__ import annotations

import os
import sys

from parity._config import KERAS_BACKENDS, MEMBERS

os.environ["KERAS_BACKEND"] = KERAS_BACKENDS[sys.argv[2]]
os.environ["JAX_ENABLE_X64"] = "1"  # float64 weights on Keras's JAX backend
os.environ["JAX_PLATFORMS"] = "cpu"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # reproducible CPU kernels

import json  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402  (tf.data feeds every backend)

from parity._worker import flat, main, run_inputs, schedule_record  # noqa: E402

tf.config.experimental.enable_op_determinism()
# Tiny models: one thread per process is as fast, and on shared cores idle worker threads
# spinning for work cost more CPU than the models themselves (Keras on torch: 4x).
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
if KERAS_BACKENDS[sys.argv[2]] == "torch":
    import torch

    torch.set_num_threads(1)
ops = keras.ops


class GroupLassoL2(keras.regularizers.Regularizer):
    """``l2 * sum w^2 + group * sum_c ||w[..., c]||_2``: one norm per output channel of a conv
    kernel (HWIO), as a Keras user writes a custom regularizer."""

    def __init__(self, l2: float, group: float):
        self.l2, self.group = l2, group

    def __call__(self, x):
        l2 = ops.cast(self.l2, x.dtype) * ops.sum(ops.square(x))
        norms = ops.sqrt(ops.sum(ops.square(x), axis=(0, 1, 2)))
        return l2 + ops.cast(self.group, x.dtype) * ops.sum(norms)

    def get_config(self):
        return {"l2": self.l2, "group": self.group}


def regularizer(keras_numbers: dict[str, float] | None):
    """Keras's own regularizer for ``{"l1": a, "l2": b}``: ``a * sum|w| + b * sum w^2``."""
    if keras_numbers is None:
        return None
    a, b = keras_numbers["l1"], keras_numbers["l2"]
    if a and b:
        return keras.regularizers.L1L2(l1=a, l2=b)
    return keras.regularizers.L1(l1=a) if a else keras.regularizers.L2(l2=b)


def build(model: dict[str, Any], pen: dict[str, Any], dtype: str) -> keras.Sequential:
    reg = lambda: regularizer(pen["keras"])  # noqa: E731  (one object per layer)
    if model["kind"] == "mlp":
        sizes = model["sizes"]
        layers = [keras.Input(shape=(sizes[0],), dtype=dtype)]
        for i, width in enumerate(sizes[1:], 1):
            act = "relu" if i < len(sizes) - 1 else None
            layers.append(keras.layers.Dense(width, activation=act, kernel_regularizer=reg()))
        return keras.Sequential(layers)
    c1, c2 = model["sizes"]
    conv2_reg = GroupLassoL2(pen["keras"]["l2"], pen["group"]) if pen["group"] else reg()
    return keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1), dtype=dtype),
            keras.layers.Conv2D(c1, 3, activation="relu", kernel_regularizer=reg()),
            keras.layers.Conv2D(c2, 3, activation="relu", kernel_regularizer=conv2_reg),
            keras.layers.Flatten(),
            keras.layers.Dense(10, kernel_regularizer=reg()),
        ]
    )


def optimizer(name: str, h: dict[str, Any], steps_per_epoch: int) -> keras.optimizers.Optimizer:
    schedule = h["schedule"]
    if schedule:  # a step schedule and global-norm clipping (SGD only)
        rate = keras.optimizers.schedules.ExponentialDecay(
            h["lr"],
            decay_steps=schedule["step_epochs"] * steps_per_epoch,
            decay_rate=schedule["gamma"],
            staircase=True,
        )
        return keras.optimizers.SGD(
            rate,
            momentum=h["momentum"],
            nesterov=h["nesterov"],
            global_clipnorm=schedule["max_norm"],
        )
    if name in ("sgd", "nesterov"):
        return keras.optimizers.SGD(h["lr"], momentum=h["momentum"], nesterov=h["nesterov"])
    common = {"beta_1": h["b1"], "beta_2": h["b2"], "epsilon": h["eps"]}
    if name == "adamw":
        return keras.optimizers.AdamW(h["lr"], weight_decay=h["weight_decay"], **common)
    return keras.optimizers.Adam(h["lr"], **common)


def to_float(x) -> float:
    return float(ops.convert_to_numpy(x))


def measured_strengths(reg, dtype: str) -> dict[str, float]:
    """Keras's effective l1 and l2 (its units), read off the regularizer on two probe weights:
    value(c * ones) = n (c * l1 + c^2 * l2) for c = 1 and 2 (exact in binary arithmetic)."""
    if reg is None:
        return {"l1": 0.0, "l2": 0.0}
    n = 4
    v1, v2 = (to_float(reg(ops.convert_to_tensor(np.full(n, c, dtype)))) for c in (1.0, 2.0))
    l2 = (v2 - 2 * v1) / (2 * n)  # v2 - 2 v1 = 2 n l2
    return {"l1": v1 / n - l2, "l2": l2}


def measured_momentum(momentum: float, dtype: str) -> float:
    """SGD's momentum as Keras applies it, read off the optimizer's own momentum variable: lr 1,
    gradient 1 then 0 leave it at ``-momentum`` exactly (``m = momentum * m - lr * g``)."""
    w = keras.Variable(np.zeros(1, dtype), dtype=dtype)
    opt = keras.optimizers.SGD(1.0, momentum=momentum)
    for g in (1.0, 0.0):
        opt.apply_gradients([(ops.convert_to_tensor(np.full(1, g, dtype)), w)])
    return -to_float(opt.momentums[0].value[0])


def exports(opt, model, pen: dict[str, Any], h: dict[str, Any], dtype: str) -> dict[str, Any]:
    """What a later worker may read: the real configs and the constants Keras applies."""
    regs = [
        keras.regularizers.serialize(layer.kernel_regularizer)
        if layer.kernel_regularizer is not None
        else None
        for layer in model.layers
        if hasattr(layer, "kernel")
    ]
    as_cast = lambda v: to_float(ops.cast(v, dtype))  # noqa: E731  (what update_step does)
    constants = {
        "learning_rate": to_float(opt.learning_rate),
        "regularizer": measured_strengths(regularizer(pen["keras"]), dtype),
        "momentum": measured_momentum(h["momentum"], dtype),
        "beta_1_as_cast": as_cast(opt.beta_1) if hasattr(opt, "beta_1") else None,
        "beta_2_as_cast": as_cast(opt.beta_2) if hasattr(opt, "beta_2") else None,
        "weight_decay_as_cast": as_cast(opt.weight_decay) if opt.weight_decay else None,
        # GroupLassoL2's ops.cast(group, dtype): TensorFlow goes through float32
        "group_as_cast": as_cast(pen["group"]) if pen["group"] else None,
    }
    return {
        "optimizer": keras.optimizers.serialize(opt),
        "regularizers": regs,
        "constants": constants,
    }


# One compiled model per configuration and variant: a run of another seed or a noise-floor
# member (which differ only in the initial weights and batch orders) sets the model's weights
# and restores every optimizer variable (iterations, moments, the rate) to its value before
# the first step, then fits again with the traced train step (building, compiling and tracing
# cost more CPU than 100 epochs of the Iris MLP). Anything it left behind would show: the
# float64 rows of every seed are graded at 1e-12 against the converted optimizer's fresh run.
MODELS: dict[str, tuple[keras.Sequential, keras.optimizers.Optimizer, list[np.ndarray]]] = {}


def compiled(spec: dict[str, Any], steps_per_epoch: int):
    """The model and optimizer of this run's configuration, optimizer state as before any step."""
    cfg, h = spec["config"], spec["hyper"]
    variant = "stock" if spec["variant"].startswith(MEMBERS) else spec["variant"]
    key = json.dumps([variant, {**cfg, "seed": 0}, {**h, "nudge": 0, "reorder": 0}], sort_keys=True)
    if key not in MODELS:
        # Before any layer, variable or optimizer is made. The global dtype policy is cached
        # from floatx on first use, so it has to be set as well when the dtype changes.
        keras.config.set_floatx(cfg["dtype"])
        keras.config.set_dtype_policy(cfg["dtype"])
        keras.utils.set_random_seed(0)
        model = build(h["model"], h["penalty"], cfg["dtype"])
        opt = optimizer(cfg["optimizer"], h, steps_per_epoch)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=opt, loss=loss)
        opt.build(model.trainable_variables)
        MODELS[key] = (model, opt, [np.array(v.numpy()) for v in opt.variables])
    model, opt, fresh = MODELS[key]
    for v, value in zip(opt.variables, fresh, strict=True):
        v.assign(value)
    return model, opt


def train(spec: dict[str, Any], job: dict[str, np.ndarray], exported) -> dict[str, Any]:
    cfg, h, d = spec["config"], spec["hyper"], run_inputs(spec, job)
    dtype = cfg["dtype"]
    X, y, orders = d["X_train"], d["y_train"], d["orders"]
    steps_per_epoch = -(-len(y) // h["batch"])
    model, opt = compiled(spec, steps_per_epoch)
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    keras.utils.set_random_seed(0)
    model.set_weights([d["init"][k] for k in d["init"]])
    # The shared batch order: epoch e is X[orders[e]] cut into batches (the last one shorter).
    # With steps_per_epoch set, fit keeps one iterator across epochs, so epoch e of fit is
    # exactly epoch e of the dataset; shuffle=False (tf.data is never shuffled by fit anyway).
    per_epoch = tf.data.Dataset.from_tensor_slices((X[orders], y[orders]))
    data = per_epoch.flat_map(
        lambda xe, ye: tf.data.Dataset.from_tensor_slices((xe, ye)).batch(h["batch"])
    )
    traj, rates = [flat(model.get_weights())], []
    record = keras.callbacks.LambdaCallback(
        # the optimizer's learning_rate is its schedule at the current iteration
        on_epoch_begin=lambda epoch, logs: rates.append(to_float(opt.learning_rate)),
        on_epoch_end=lambda epoch, logs: traj.append(flat(model.get_weights())),
    )
    model.fit(
        data,
        epochs=len(orders),
        steps_per_epoch=steps_per_epoch,
        shuffle=False,
        verbose=0,
        callbacks=[record],
    )
    return {
        "trajectory": np.stack(traj),
        "train_logits": logits(model, X),
        "test_logits": logits(model, d["X_test"]),
        "exports": exports(opt, model, h["penalty"], h, dtype),
        # Keras clips inside apply(): the norms are not exposed (torch and JAX record them)
        "schedule_record": schedule_record(h["schedule"], rates, None),
    }


def logits(model, X: np.ndarray) -> np.ndarray:
    return ops.convert_to_numpy(model(ops.convert_to_tensor(X)))


def cross_validate(cv: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    """Plain loops over folds and strengths; each model trained by ``fit`` on full batches."""
    from parity._worker import cv_inputs

    d = cv_inputs(cv, job)
    dtype = cv["dtype"]
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    model_spec = {"kind": "mlp", "sizes": cv["sizes"]}
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    scores = []
    for train_idx, test_idx in d["folds"]:
        row = []
        for s in cv["strengths"]:
            keras.utils.set_random_seed(0)
            pen = {"keras": {"l1": 0.0, "l2": s / 2}, "group": 0.0}
            model = build(model_spec, pen, dtype)
            model.set_weights(list(d["init"].values()))
            model.compile(
                optimizer=keras.optimizers.SGD(cv["lr"], momentum=cv["momentum"]), loss=ce
            )
            Xtr, ytr = d["X"][train_idx], d["y"][train_idx]
            full = tf.data.Dataset.from_tensors((Xtr, ytr)).repeat(cv["epochs"])
            model.fit(full, epochs=1, shuffle=False, verbose=0)
            Xte, yte = d["X"][test_idx], d["y"][test_idx]
            row.append(-to_float(ce(yte, model(ops.convert_to_tensor(Xte)))))
        scores.append(row)
    return {"scores": scores}


if __name__ == "__main__":
    main(train, cross_validate)
