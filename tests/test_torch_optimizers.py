"""jr.conventions.from_torch_optimizer against torch.optim itself (in its own process): 300
steps of the same random gradients, float64 to 1e-12 relative and float32 to 16 ulps of the
largest weight."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import (
    PARAM_STRUCTURES,
    assert_close,
    assert_same_training,
    json_worker,
    optimizer_data,
    run_optax,
    run_optax_on,
)

import jaxreg as jr

STEPS = 300
SHAPES = [(3, 4), (5,)]
CONFIGS = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.6, 0.95), "eps": 1e-6, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.02}),
    (
        "Adagrad",
        {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01},
    ),
]


CASES = [(n, [h, h], d) for n, h in CONFIGS for d in ("float64", "float32")]
CASES.append(("Adam", [{"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.05}], "float64"))  # groups


@pytest.fixture(scope="module")
def torch_runs():
    init, grads = optimizer_data(SHAPES, STEPS)
    cases = [
        {
            "name": name,
            "groups": groups,
            "dtype": dtype,
            "init": [x.tolist() for x in init],
            "grads": [[g.tolist() for g in step] for step in grads],
        }
        for name, groups, dtype in CASES
    ]
    return json_worker("torch_optimizer_reference.py", cases)


def _ids():
    for name, groups, dtype in CASES:
        tag = (
            "groups"
            if groups[0] != groups[1]
            else "-".join(f"{k}={v}" for k, v in groups[0].items())
        )
        yield f"{name}-{dtype}-{tag}"


@pytest.mark.parametrize("i", range(len(CASES)), ids=list(_ids()))
def test_converted_optimizer_matches_torch(torch_runs, i):
    name, groups, dtype = CASES[i]
    run = torch_runs[i]
    init, grads = optimizer_data(SHAPES, STEPS)
    # from torch's state_dict()["param_groups"]: the optimizer is told by the keys alone
    tx = jr.conventions.from_torch_optimizer(run["param_groups"], groups=[0, 1])
    assert_same_training(run_optax(tx, init, grads, dtype), run["weights"], init, dtype)


def test_specs_as_dicts_and_state_dict_groups():
    groups = [{"lr": 0.1, "momentum": 0.9, "dampening": 0, "nesterov": False, "params": [0]}]
    for spec, name in ((groups, None), ({"lr": 0.1, "momentum": 0.9}, "SGD")):
        tx = jr.conventions.from_torch_optimizer(spec, name=name)
        p = jnp.array([1.0, -2.0])
        s = tx.init(p)
        for _ in range(2):
            u, s = tx.update(jnp.array([0.5, 0.5]), s, p)
            p = optax.apply_updates(p, u)
        # by hand: buf 0.5 then 0.95; p - 0.1 * 0.5 - 0.1 * 0.95
        assert_close(p, [1.0 - 0.145, -2.0 - 0.145], rtol=1e-12)
    with pytest.raises(ValueError, match=r"pass name="):
        jr.conventions.from_torch_optimizer({"lr": 0.1})
    with pytest.raises(ValueError, match=r"2 param groups; pass groups="):
        jr.conventions.from_torch_optimizer([{"lr": 0.1, "momentum": 0.0, "dampening": 0.0}] * 2)
    with pytest.raises(ValueError, match=r"unsupported SGD settings \['betas'\]"):
        jr.conventions.from_torch_optimizer({"lr": 0.1, "betas": (0.9, 0.9)}, name="SGD")


def test_coupled_weight_decay_is_an_l2_penalty_and_decoupled_raises():
    p = jnp.asarray(np.random.default_rng(1).normal(size=4))
    adam = {"lr": 0.1, "betas": (0.9, 0.999), "weight_decay": 0.03, "decoupled_weight_decay": False}
    pen = jr.conventions.from_torch_weight_decay(adam)
    assert pen == jr.l2(0.03)
    assert_close(jax.grad(pen)(p), 0.03 * np.asarray(p), rtol=1e-12)
    adamw = {"lr": 0.1, "betas": (0.9, 0.999), "weight_decay": 0.03, "decoupled_weight_decay": True}
    with pytest.raises(ValueError, match=r"AdamW decays the weights decoupled"):
        jr.conventions.from_torch_weight_decay(adamw)
    with pytest.raises(ValueError, match=r"decoupled"):
        jr.conventions.from_torch_weight_decay(
            {"betas": (0.9, 0.99), "decoupled_weight_decay": True}
        )


def test_review_fixes_ambiguous_and_invalid_specs():
    adam_group = {"lr": 0.01, "betas": (0.9, 0.999), "weight_decay": 0.01}  # Adam or AdamW?
    with pytest.raises(ValueError, match=r"pass name="):
        jr.conventions.from_torch_optimizer(adam_group)
    with pytest.raises(ValueError, match=r"pass name="):
        jr.conventions.from_torch_weight_decay(adam_group)
    with pytest.raises(ValueError, match=r"nesterov SGD needs momentum > 0 and dampening = 0"):
        jr.conventions.from_torch_optimizer(
            {"lr": 0.1, "nesterov": True, "dampening": 0.1}, name="SGD"
        )
    with pytest.raises(ValueError, match=r"needs lr >= 0; got lr=-0.1"):
        jr.conventions.from_torch_optimizer({"lr": -0.1}, name="SGD")
    with pytest.raises(ValueError, match=r"Adam's lr must be a number; got lr='0.1' \(str\)"):
        jr.conventions.from_torch_optimizer({"lr": "0.1"}, name="Adam")
    with pytest.raises(ValueError, match=r"betas must be a number; got betas=\(0.9, None\)"):
        jr.conventions.from_torch_optimizer({"betas": (0.9, None)}, name="Adam")
    with pytest.raises(ValueError, match=r"different initial_accumulator_value"):
        jr.conventions.from_torch_optimizer(
            [{"lr": 0.1, "lr_decay": 0, "initial_accumulator_value": v} for v in (0.5, 0.1)],
            groups=[0, 1],
        )
    whole = {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.0, "dampening": 0.0}]}
    assert isinstance(jr.conventions.from_torch_optimizer(whole), optax.GradientTransformation)


@pytest.mark.parametrize("structure", sorted(PARAM_STRUCTURES))
@pytest.mark.parametrize("j", range(len(CONFIGS)), ids=[f"{n}-{h}" for n, h in CONFIGS])
def test_params_with_tuples_equinox_modules_and_nnx_state(torch_runs, j, structure):
    # an eqx.nn.MLP's layers are a tuple: the update must not mistake it for its own output
    name, hyper = CONFIGS[j]
    i = CASES.index((name, [hyper, hyper], "float64"))
    init, grads = optimizer_data(SHAPES, STEPS)
    tx = jr.conventions.from_torch_optimizer(hyper, name=name)
    jit = (j + sorted(PARAM_STRUCTURES).index(structure)) % 4 != 0  # a quarter of them eagerly
    params = run_optax_on(tx, init, grads, "float64", structure=structure, jit=jit)
    assert_same_training(params, torch_runs[i]["weights"], init, "float64")


def test_a_group_that_masks_every_leaf_out_is_a_no_op():
    """optax.masked hands an empty tree to a group whose mask selects nothing (a torch param
    group that matches no leaf): the update is empty, not a crash."""
    params = {"w": jnp.ones(3), "b": jnp.zeros(2)}
    tx = jr.conventions.from_torch_optimizer({"lr": 0.1, "momentum": 0.9}, name="SGD")
    masked = optax.masked(tx, {"w": False, "b": False})
    state = masked.init(params)
    updates, _ = jax.jit(masked.update)(params, state, params)
    for got, want in zip(jax.tree.leaves(updates), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))  # passed through
