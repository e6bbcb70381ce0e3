"""jr.conventions.from_torch_optimizer against torch.optim itself: 300 steps of the same random
gradients, float64 to 1e-12 relative and float32 to 1e-6."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from helpers import assert_close

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


def _run_both(name, hyper, dtype, *, groups=None):
    rng = np.random.default_rng(0)
    init = [rng.normal(size=s) for s in SHAPES]
    grads = [[rng.normal(size=s) for s in SHAPES] for _ in range(STEPS)]
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tparams = [torch.tensor(x, dtype=tdtype, requires_grad=True) for x in init]
    if groups is None:
        opt = getattr(torch.optim, name)(tparams, **hyper)
    else:
        opt = getattr(torch.optim, name)(
            [{"params": [t], **g} for t, g in zip(tparams, groups, strict=True)]
        )
    tx = jr.conventions.from_torch_optimizer(opt, groups=None if groups is None else [0, 1])
    params = [jnp.asarray(x, dtype) for x in init]
    state = tx.init(params)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    for g in grads:
        for t, gi in zip(tparams, g, strict=True):
            t.grad = torch.tensor(gi, dtype=tdtype)
        opt.step()
        updates, state = step([jnp.asarray(x, dtype) for x in g], state, params)
        params = optax.apply_updates(params, updates)
    return [t.detach().numpy() for t in tparams], params, init


@pytest.mark.parametrize(
    ("name", "hyper"),
    CONFIGS,
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={w}" for k, w in v.items()),
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_converted_optimizer_matches_torch(name, hyper, dtype):
    want, got, init = _run_both(name, hyper, dtype)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    for w, g, x0 in zip(want, got, init, strict=True):
        assert g.dtype == dtype
        scale = np.abs(w).max()
        np.testing.assert_allclose(np.asarray(g, np.float64), w, rtol=0, atol=rtol * scale)
        assert np.abs(w - x0).max() > 0.05  # the optimizer really moved the weights


def test_param_groups_map_to_optax_multi_transform():
    groups = [{"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.05, "weight_decay": 0.0}]
    want, got, _ = _run_both("Adam", {}, np.float64, groups=groups)
    for w, g in zip(want, got, strict=True):
        assert_close(g, w, rtol=1e-12, atol=1e-14)


def test_specs_as_dicts_and_state_dict_groups():
    opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
    groups = opt.state_dict()["param_groups"]
    for spec, name in ((opt, None), (groups, None), ({"lr": 0.1, "momentum": 0.9}, "SGD")):
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
    adam = torch.optim.Adam([torch.zeros(4, requires_grad=True)], lr=0.1, weight_decay=0.03)
    pen = jr.conventions.from_torch_weight_decay(adam)
    assert pen == jr.l2(0.03)
    assert_close(jax.grad(pen)(p), 0.03 * np.asarray(p), rtol=1e-12)
    adamw = torch.optim.AdamW([torch.zeros(4, requires_grad=True)], lr=0.1, weight_decay=0.03)
    with pytest.raises(ValueError, match=r"AdamW decays the weights decoupled"):
        jr.conventions.from_torch_weight_decay(adamw)
    with pytest.raises(ValueError, match=r"decoupled"):
        jr.conventions.from_torch_weight_decay(
            {"betas": (0.9, 0.99), "decoupled_weight_decay": True}
        )
