"""jr.conventions.from_keras_optimizer against Keras itself (TensorFlow, in its own process):
300 steps of the same random gradients, float64 to 1e-12 relative and float32 to 16 ulps of the
largest weight, with clipping and learning-rate schedules (TensorFlow's float32 cos and pow:
see TF_FLOAT32_MATH)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import (
    PARAM_STRUCTURES,
    assert_same_training,
    json_worker,
    optimizer_data,
    run_optax,
    run_optax_on,
)

import jaxreg as jr

pytestmark = pytest.mark.slow  # compares with Keras in its own processes (conftest.py)

STEPS = 300
SHAPES = [(3, 4), (5,)]
CONFIGS = [
    ("SGD", {"learning_rate": 0.05}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.6, "beta_2": 0.95, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "rho": 0.8}),
    ("Adagrad", {"learning_rate": 0.1, "weight_decay": 0.01}),
    # clipping, before the decay and the update (the gradients' norms are about 2 to 4)
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "global_clipnorm": 1.0}),
    ("Adam", {"learning_rate": 0.01, "clipnorm": 0.5, "weight_decay": 0.05}),
    ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.3}),
]


def _schedule(name, **config):
    return {"module": "keras.optimizers.schedules", "class_name": name, "config": config}


CONFIGS += [  # learning-rate schedules, read from the serialized optimizer
    (
        "SGD",
        {
            "learning_rate": _schedule(
                "CosineDecay",
                initial_learning_rate=0.0,
                decay_steps=250,
                alpha=0.1,
                warmup_target=0.1,
                warmup_steps=30,
            ),
            "momentum": 0.9,
        },
    ),
    (
        "AdamW",
        {
            "learning_rate": _schedule(
                "ExponentialDecay",
                initial_learning_rate=0.02,
                decay_steps=50,
                decay_rate=0.5,
                staircase=True,
            ),
            "weight_decay": 0.1,
        },
    ),
    (
        "RMSprop",
        {
            "learning_rate": _schedule(
                "PiecewiseConstantDecay", boundaries=[100, 200], values=[0.01, 0.005, 0.001]
            )
        },
    ),
    (
        "Adam",
        {
            "learning_rate": _schedule(
                "PolynomialDecay",
                initial_learning_rate=0.01,
                decay_steps=70,
                end_learning_rate=0.001,
                power=2.0,
                cycle=True,
            )
        },
    ),
    (
        "Adagrad",
        {
            "learning_rate": _schedule(
                "InverseTimeDecay", initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5
            )
        },
    ),
]
CASES = [(n, c, d, t) for n, c in CONFIGS for d, t in (("float32", False), ("float64", True))]


@pytest.fixture(scope="module")
def keras_runs():
    init, grads = optimizer_data(SHAPES, STEPS)
    cases = [
        {
            "spec": {"class_name": name, "config": config},
            "dtype": dtype,
            "init": [x.tolist() for x in init],
            "grads": [[g.tolist() for g in step] for step in grads],
        }
        for name, config, dtype, _ in CASES
    ]
    return json_worker("keras_optimizer_reference.py", cases)


def _id(name, config, dtype):
    lr = config.get("learning_rate")
    return f"{name}-{dtype}-{lr['class_name'] if isinstance(lr, dict) else config}"


@pytest.mark.parametrize("i", range(len(CASES)), ids=[_id(n, c, d) for n, c, d, _ in CASES])
def test_converted_optimizer_matches_keras(keras_runs, i):
    name, config, dtype, tf_rounding = CASES[i]
    run = keras_runs[i]
    init, grads = optimizer_data(SHAPES, STEPS)
    tx = jr.conventions.from_keras_optimizer(run["serialized"], tf_rounding=tf_rounding)
    params = run_optax(tx, init, grads, dtype)
    lr = config.get("learning_rate")
    if dtype == "float64" and isinstance(lr, dict) and lr["class_name"] in TF_FLOAT32_MATH:
        # TensorFlow computes these rates in float32 with its own cos / pow, which differ from
        # XLA's by an ulp now and then: the rate agrees to float32 rounding, the weights to 1e-6
        for got, want in zip(params, run["weights"], strict=True):
            want = np.asarray(want)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())
        return
    assert_same_training(params, run["weights"], init, dtype)


TF_FLOAT32_MATH = {"CosineDecay", "PolynomialDecay"}


def test_tf_rounding_matters_in_float64_and_specs_without_keras():
    # the float32-rounded constants move float64 weights by far more than 1e-12
    init, grads = optimizer_data(SHAPES, STEPS)

    def run(tf_rounding):
        tx = jr.conventions.from_keras_optimizer(
            {"name": "SGD", "learning_rate": 0.05, "momentum": 0.9}, tf_rounding=tf_rounding
        )
        p = [jnp.asarray(x) for x in init]
        s = tx.init(p)
        for g in grads[:50]:
            u, s = tx.update([jnp.asarray(x) for x in g], s, p)
            p = optax.apply_updates(p, u)
        return np.asarray(p[0])

    assert np.abs(run(True) - run(False)).max() > 1e-9
    with pytest.raises(ValueError, match=r"use_ema=True is not reproduced"):
        jr.conventions.from_keras_optimizer({"name": "adam", "use_ema": True})
    with pytest.raises(ValueError, match=r"clipnorm must be >= 0; got clipnorm=-1.0"):
        jr.conventions.from_keras_optimizer({"name": "adam", "clipnorm": -1.0})
    with pytest.raises(ValueError, match=r"supports .* got a config named 'mine'"):
        jr.conventions.from_keras_optimizer({"name": "mine"})


def test_keras_automatic_names_and_unsupported_optimizers():
    for config_name, kind in (("adam_w", "AdamW"), ("rm_sprop", "RMSprop"), ("sgd_1", "SGD")):
        tx = jr.conventions.from_keras_optimizer({"name": config_name, "learning_rate": 0.1})
        assert isinstance(tx, optax.GradientTransformation), kind
    with pytest.raises(ValueError, match=r"a Keras 'nadam' optimizer, not 'Adam'"):
        jr.conventions.from_keras_optimizer({"name": "nadam", "beta_1": 0.9}, name="Adam")


@pytest.mark.parametrize("structure", sorted(PARAM_STRUCTURES))
@pytest.mark.parametrize("j", range(9), ids=[f"{n}-{c}" for n, c in CONFIGS[:9]])
def test_params_with_tuples_equinox_modules_and_nnx_state(keras_runs, j, structure):
    # an eqx.nn.MLP's layers are a tuple: the update must not mistake it for its own output
    name, config = CONFIGS[j]
    i = CASES.index((name, config, "float64", True))
    init, grads = optimizer_data(SHAPES, STEPS)
    tx = jr.conventions.from_keras_optimizer(keras_runs[i]["serialized"], tf_rounding=True)
    jit = (j + sorted(PARAM_STRUCTURES).index(structure)) % 4 != 0  # a quarter of them eagerly
    params = run_optax_on(tx, init, grads, "float64", structure=structure, jit=jit)
    assert_same_training(params, keras_runs[i]["weights"], init, "float64")
