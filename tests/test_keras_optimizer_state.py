"""jr.conventions.from_keras_optimizer on real Keras optimizer objects (Keras on JAX, in its own
process): a trained optimizer's state carried with params= (3 Keras steps, convert, 5 more on
both sides: equal to rounding), and exclude_from_weight_decay reproduced."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import json_worker, optimizer_data, run_optax, run_python

import jaxreg as jr

pytestmark = pytest.mark.slow  # compares with Keras in its own processes (conftest.py)

CONFIGS = [
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.05, "amsgrad": True}),
    ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"learning_rate": 0.1, "weight_decay": 0.01}),
]
# (class, config, dtype, exclude, resume_at, with_params)
CASES = [(n, c, d, None, 3, True) for n, c in CONFIGS for d in ("float32", "float64")]
CASES += [
    # the bias excluded from the decay: by its Keras name, or by the JAX leaf's last path key
    ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.5}, "float64", ["bias"], 3, True),
    ("AdamW", {"learning_rate": 0.05, "weight_decay": 0.5}, "float64", ["bias"], 0, False),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.5}, "float64", ["bi.s", "nothing"], 0, False),
    (
        "AdamW",
        {"learning_rate": 0.05, "weight_decay": 0.5},
        "float64",
        ["<var_list: bias>"],
        3,
        True,
    ),
]
# exclude_from_weight_decay(var_names=["bias"]) by the JAX leaf's name, whatever the structure:
# an nnx Variable's leaf path ends in `.value`, not in the name
STRUCTURED = ["linen", "nnx.State", "nnx.to_pure_dict", "equinox"]
COSINE = {
    "module": "keras.optimizers.schedules",
    "class_name": "CosineDecay",
    "config": {"initial_learning_rate": 0.0, "decay_steps": 5, "warmup_target": 0.1,
               "warmup_steps": 2, "alpha": 0.1},
}  # fmt: skip
POLY = {
    "module": "keras.optimizers.schedules",
    "class_name": "PolynomialDecay",
    "config": {"initial_learning_rate": 0.1, "decay_steps": 3, "power": 1.5, "cycle": True},
}
CASES += [  # schedules: Keras on JAX computes them in floatx, float64 here: exact
    ("SGD", {"learning_rate": COSINE, "momentum": 0.9}, "float64", None, 3, True),
    ("AdamW", {"learning_rate": POLY, "weight_decay": 0.1}, "float64", ["bias"], 3, True),
]
ERRORS = [
    # (class, config, dtype, exclude, resume_at, with_params), the error it raises
    (("Adam", {"learning_rate": 0.05}, "float64", None, 3, False), r"has taken 3 steps"),
    (
        ("AdamW", {"learning_rate": 0.05}, "float64", ["<var_list: bias>"], 0, False),
        r"exclude_from_weight_decay\(var_list=...\) names Keras variables; pass params=",
    ),
    (
        ("Adam", {"learning_rate": 0.05}, "float64", ["<JAX kernel negated>"], 3, True),
        r"the JAX leaf \['kernel'\] differs from the framework parameter .*max \|difference\|",
    ),
    (
        ("Adam", {"learning_rate": "<custom schedule>"}, "float64", None, 3, True),
        r"the learning rate _Custom is a custom schedule, which is not reproduced; supported: Exp",
    ),
]


@pytest.fixture(scope="module")
def keras_runs():
    init, grads = optimizer_data([(3, 4), (4,)], 8)
    cases = [
        {
            "class_name": name,
            "config": config,
            "dtype": dtype,
            "exclude": exclude,
            "resume_at": at,
            "with_params": with_params,
            "init": [x.tolist() for x in init],
            "grads": [[g.tolist() for g in step] for step in grads],
        }
        for name, config, dtype, exclude, at, with_params in CASES + [c for c, _ in ERRORS]
    ]
    adamw = {"learning_rate": 0.05, "weight_decay": 0.5}
    cases += [
        {**cases[0], "class_name": "AdamW", "config": adamw, "dtype": "float64",
         "exclude": ["bias"], "resume_at": 0, "with_params": False, "structure": structure}
        for structure in STRUCTURED
    ]  # fmt: skip
    cases.append(
        {**cases[0], "class_name": "Adam", "config": {}, "loss_scaled": True, "resume_at": 0}
    )
    return json_worker("keras_state_reference.py", cases)


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES])
def test_converted_keras_optimizer_resumes_and_excludes_like_keras(keras_runs, i):
    dtype = CASES[i][2]
    rtol = 1e-12 if dtype == "float64" else 1e-6
    init, _ = optimizer_data([(3, 4), (4,)], 8)
    for got, want, x0 in zip(keras_runs[i]["jax"], keras_runs[i]["keras"], init, strict=True):
        want = np.asarray(want)
        np.testing.assert_allclose(got, want, rtol=0, atol=rtol * np.abs(want).max())
        assert np.abs(want - x0).max() > 0.05


def test_the_excluded_bias_is_not_decayed(keras_runs):
    # the same AdamW without the exclusion moves the bias elsewhere: the mask matters
    init, grads = optimizer_data([(3, 4), (4,)], 8)
    tx = jr.conventions.from_keras_optimizer(
        {"name": "AdamW", "learning_rate": 0.05, "weight_decay": 0.5}
    )
    decayed = run_optax(tx, init, grads, "float64")
    fresh = next(
        k for k, c in enumerate(CASES) if c[0] == "AdamW" and c[3] == ["bias"] and not c[4]
    )
    excluded = keras_runs[fresh]["keras"]
    np.testing.assert_allclose(decayed[0], excluded[0], atol=1e-12)  # the kernel: decayed
    assert np.abs(np.asarray(decayed[1]) - excluded[1]).max() > 1e-3


@pytest.mark.parametrize("j", range(len(ERRORS)))
def test_what_cannot_be_reproduced_raises(keras_runs, j):
    assert re.search(ERRORS[j][1], keras_runs[len(CASES) + j]["error"])
    with pytest.raises(ValueError, match=r"params= carries the optimizer's state"):
        jr.conventions.from_keras_optimizer({"name": "SGD"}, params={"w": 0})


@pytest.mark.parametrize("k", range(len(STRUCTURED)), ids=STRUCTURED)
def test_the_bias_is_excluded_by_name_in_nnx_linen_and_equinox_trees(keras_runs, k):
    run = keras_runs[len(CASES) + len(ERRORS) + k]
    for got, want in zip(run["jax"], run["keras"], strict=True):
        want = np.asarray(want)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_loss_scaling_is_not_reproduced(keras_runs):
    error = keras_runs[-1]["error"]
    assert "loss scaling (LossScaleOptimizer) is not reproduced" in error
    assert "opt.inner_optimizer" in error


# exclude_from_weight_decay(var_names=...) per backend: TensorFlow matches the tf.Variable's
# full name ("l1/kernel:0"), JAX the Keras variable's own name ("kernel")
VAR_NAMES = [["l1"], ["^kernel"], ["bias"], ["kernel:0"], ["l0/b"]]


@pytest.fixture(scope="module")
def exclusion_runs():
    init, grads = optimizer_data([(3, 4), (4,), (4, 2), (2,)], 4)
    cases = [
        {
            "var_names": names,
            "init": [x.tolist() for x in init],
            "grads": [[g.tolist() for g in step] for step in grads],
        }
        for names in VAR_NAMES
    ]
    script = str(Path(__file__).with_name("keras_exclusion_reference.py"))
    return {
        backend: json.loads(run_python(script, backend, input=json.dumps(cases)).stdout)
        for backend in ("tensorflow", "jax")
    }


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
@pytest.mark.parametrize("k", range(len(VAR_NAMES)), ids=["-".join(n) for n in VAR_NAMES])
def test_excluded_names_are_matched_as_each_backend_matches_them(exclusion_runs, backend, k):
    run = exclusion_runs[backend][k]
    expected = {"tensorflow": "l1/kernel:0", "jax": "kernel"}[backend]
    assert run["names"]["l1/kernel"] == expected
    for got, want in zip(run["jax"], run["keras"], strict=True):
        want = np.asarray(want)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())
    if backend == "tensorflow":  # the JAX leaves carry no tf.Variable name: it raises
        assert "on the TensorFlow backend Keras matches" in run["error_without_params"]
        assert "pass params=" in run["error_without_params"]
    else:  # the JAX leaves' last keys are the Keras variables' own names here
        for got, want in zip(run["jax_without_params"], run["keras"], strict=True):
            want = np.asarray(want)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_the_backends_really_exclude_different_variables(exclusion_runs):
    # var_names=["l1"]: TensorFlow excludes layer l1 ("l1/kernel:0"), JAX excludes nothing
    tf_run, jax_run = exclusion_runs["tensorflow"][0], exclusion_runs["jax"][0]
    assert np.abs(np.asarray(tf_run["keras"][2]) - jax_run["keras"][2]).max() > 1e-3
