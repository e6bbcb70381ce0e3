"""Which leaves a penalty sees: one rule, the same eagerly, under `jax.jit` and `eqx.filter_jit`
and after optax retypes a leaf; decided by dtype and shape (never weak typing). Without a mask,
scalars, keys, None, Python numbers and batch statistics are left out; a mask can select a
floating scalar."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from helpers import (
    assert_close,
    f64,
    ref_l1,
    ref_l2,
    soft_threshold,
)

import jaxreg as jr

TREE = {
    "w": jnp.asarray([[1.5, -2.0], [0.5, 3.0]]),
    "p": 0.5,  # a Python float hyperparameter (equinox Dropout's p)
    "n": 3,
    "flag": True,
    "key": jax.random.key(0),
    "old_key": jax.random.PRNGKey(1),
    "weak": jnp.array(2.0),  # weakly typed scalar: what jit makes of a Python float
    "typed": jnp.asarray(-2.0, jnp.float64),  # a strongly typed scalar
    "none": None,
}


def _all_four_ways(pen):
    """Value, gradient and prox eagerly, under jax.jit and under eqx.filter_jit."""
    values = [pen(TREE), jax.jit(pen)(TREE), eqx.filter_jit(pen)(TREE)]
    grads = [eqx.filter_grad(pen)(TREE), eqx.filter_jit(eqx.filter_grad(pen))(TREE)]
    proxes = [
        pen.prox(TREE, 0.4),
        jax.jit(pen.prox)(TREE, 0.4),
        eqx.filter_jit(pen.prox)(TREE, 0.4),
    ]
    return values, grads, proxes


@pytest.mark.slow
def test_without_a_mask_scalars_keys_and_none_are_never_penalized_in_or_out_of_jit():
    pen = jr.l2(1.0) + jr.l1(0.5)
    values, grads, proxes = _all_four_ways(pen)
    w = f64(TREE["w"])
    for v in values:
        assert_close(v, ref_l2(w) + 0.5 * ref_l1(w), rtol=1e-12)
    for g in grads:
        assert_close(g["w"], w + 0.5 * np.sign(w), rtol=1e-12)
    want_w = soft_threshold(w, 0.2) / 1.4
    for out in proxes:
        assert_close(out["w"], want_w, rtol=1e-12)
        for name in ("p", "weak", "typed", "n"):
            assert float(out[name]) == float(TREE[name])
    assert proxes[0]["p"] is TREE["p"] and proxes[0]["weak"] is TREE["weak"]


@pytest.mark.slow
def test_a_mask_that_selects_scalars_penalizes_them_the_same_in_and_out_of_jit():
    scalars = jr.masks.where(lambda path, leaf: path in ("w", "p", "weak", "typed", "n", "flag"))
    pen = jr.l2(1.0, mask=scalars) + jr.l1(0.5, mask=scalars)
    values, grads, proxes = _all_four_ways(pen)
    w = f64(TREE["w"])
    xs = [w, 0.5, 2.0, -2.0]  # ints and bools stay out: not floating point
    for v in values:
        assert_close(v, sum(ref_l2(x) + 0.5 * ref_l1(x) for x in xs), rtol=1e-7)
    for g in grads:
        assert_close(g["typed"], -2.0 - 0.5, rtol=1e-12)
    for out in proxes:
        for name, x in (("p", 0.5), ("weak", 2.0), ("typed", -2.0)):
            assert_close(out[name], soft_threshold(np.float64(x), 0.2) / 1.4, rtol=1e-6)
        assert float(out["n"]) == 3


@pytest.mark.slow
def test_the_rule_does_not_flip_when_optax_retypes_a_weak_scalar():
    params = {"w": jnp.ones(2), "t": jnp.array(3.0)}  # t: weakly typed
    tx = optax.adam(0.1)
    updated = optax.apply_updates(params, tx.update(params, tx.init(params), params)[0])
    assert not getattr(updated["t"], "weak_type", True)  # optax made it strongly typed
    pen = jr.l2(1.0)
    assert pen.per_leaf(params)["t"] is None and pen.per_leaf(updated)["t"] is None
    prox = jr.transforms.proximal(jr.l1(0.5), 0.1)
    zero = {"w": jnp.zeros(2), "t": jnp.zeros(())}
    for p in (params, updated):
        out = optax.apply_updates(p, prox.update(zero, prox.init(p), p)[0])
        assert float(out["t"]) == float(p["t"])
        assert_close(out["w"], f64(p["w"]) - 0.05, rtol=1e-12)


def test_equinox_dropout_float_is_skipped_both_ways():
    model = eqx.nn.Sequential([eqx.nn.Linear(3, 3, key=jax.random.key(0)), eqx.nn.Dropout(p=0.5)])
    want = ref_l2(model.layers[0].weight) + ref_l2(model.layers[0].bias)
    assert_close(jr.l2(1.0)(model), want, rtol=1e-6)
    assert_close(jax.jit(jr.l2(1.0))(model), want, rtol=1e-6)
    assert_close(eqx.filter_jit(jr.l2(1.0))(model), want, rtol=1e-6)


def test_without_a_mask_nnx_batch_statistics_are_not_penalized():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.lin = nnx.Linear(3, 4, rngs=rngs)
            self.bn = nnx.BatchNorm(4, rngs=rngs)

    model = Net(nnx.Rngs(0))
    params = [model.lin.kernel[...], model.lin.bias[...], model.bn.scale[...], model.bn.bias[...]]
    want = sum(ref_l2(x) for x in params)  # BatchNorm's var is ones: would add 2.0
    for tree in (model, nnx.state(model), nnx.state(model, nnx.Param)):
        assert_close(jr.l2(1.0)(tree), want, rtol=1e-6)
