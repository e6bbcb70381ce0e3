"""Masks on plain dicts, flax (nnx and linen) and equinox trees; structural errors."""

from __future__ import annotations

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import assert_close, ref_l2

import jaxreg as jr


def total_l2(arrays):
    return sum(ref_l2(a) for a in arrays)


class NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(4, 8, rngs=rngs)
        self.norm = nnx.LayerNorm(8, rngs=rngs)
        self.out = nnx.Linear(8, 3, rngs=rngs)

    def __call__(self, x):
        return self.out(self.norm(jax.nn.relu(self.hidden(x))))


class LinenMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.LayerNorm()(jax.nn.relu(nn.Dense(8)(x)))
        return nn.Dense(3, name="head")(x)


def test_kernels_mask_excludes_biases_and_norm_scales_of_flax_nnx():
    model = NnxMLP(nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    got = jax.jit(jr.l2(1.0, mask=jr.masks.kernels))(state)
    expected = total_l2([model.hidden.kernel[...], model.out.kernel[...]])
    assert_close(got, expected, rtol=1e-6)
    # the unmasked penalty is larger by exactly the biases and LayerNorm scale/bias
    others = [
        model.hidden.bias[...],
        model.out.bias[...],
        model.norm.scale[...],
        model.norm.bias[...],
    ]
    assert_close(jr.l2(1.0)(state), expected + total_l2(others), rtol=1e-6)
    assert total_l2(others) > 1.0  # LayerNorm scale is ones: the difference is visible


def test_gradient_through_nnx_state_reaches_only_kernels():
    model = NnxMLP(nnx.Rngs(1))
    state = nnx.state(model, nnx.Param)
    grads = jax.grad(jr.l2(2.0, mask=jr.masks.kernels))(state)
    assert_close(grads["hidden"]["kernel"][...], 2.0 * model.hidden.kernel[...], rtol=1e-6)
    assert float(jnp.abs(grads["norm"]["scale"][...]).max()) == 0.0


def test_by_path_on_flax_linen_params():
    variables = LinenMLP().init(jax.random.key(0), jnp.ones((1, 4)))
    p = variables["params"]
    pen = jr.l2(1.0, mask=jr.masks.by_path(include=r"kernel$", exclude=r"^params/head/"))
    assert_close(pen(variables), ref_l2(p["Dense_0"]["kernel"]), rtol=1e-6)
    assert_close(
        jr.l2(1.0, mask=jr.masks.kernels)(variables),
        ref_l2(p["Dense_0"]["kernel"]) + ref_l2(p["head"]["kernel"]),
        rtol=1e-6,
    )


def test_by_path_and_kernels_on_equinox_modules_skip_non_array_fields():
    mlp = eqx.nn.MLP(4, 3, 8, 2, key=jax.random.key(0))  # has activation functions as leaves
    weights = [layer.weight for layer in mlp.layers]
    assert_close(
        eqx.filter_jit(jr.l2(1.0, mask=jr.masks.kernels))(mlp), total_l2(weights), rtol=1e-6
    )
    pen = jr.l2(1.0, mask=jr.masks.by_path(include=r"^layers/(0|2)/weight$"))
    assert_close(pen(mlp), total_l2([weights[0], weights[2]]), rtol=1e-6)
    grads = eqx.filter_grad(jr.l2(1.0, mask=jr.masks.kernels))(mlp)
    assert_close(grads.layers[1].weight, mlp.layers[1].weight, rtol=1e-6)


def test_nnx_paths_drop_the_variable_value_box():
    state = nnx.state(NnxMLP(nnx.Rngs(0)), nnx.Param)
    seen = []
    jr.l1(1.0, mask=jr.masks.where(lambda path, leaf: seen.append(path) or False))(state)
    assert sorted(seen) == sorted(
        ["hidden/bias", "hidden/kernel", "norm/bias", "norm/scale", "out/bias", "out/kernel"]
    )


def test_prefix_bool_mask_broadcasts_over_subtrees():
    params = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "dec": [jnp.ones(3), jnp.ones(1)]}
    assert float(jr.l1(1.0, mask={"enc": True, "dec": False})(params)) == 6.0
    assert (
        float(jr.l1(1.0, mask={"enc": {"w": False, "b": True}, "dec": [True, False]})(params))
        == 5.0
    )


def test_mask_structure_mismatch_shows_both_structures():
    params = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "dec": jnp.ones(3)}
    both = r"mask does not fit params.*\n  mask: PyTreeDef\(.*\n  params: PyTreeDef\("
    for mask in (
        {"enc": {"w": True}, "dec": True},
        {"enc": True, "dec": {"x": True}},
        {"encoder": True, "dec": True},
    ):
        with pytest.raises(ValueError, match=both):
            jr.l1(1.0, mask=mask)(params)
    with pytest.raises(ValueError, match=both):  # an optax-style callable returning a wrong tree
        jr.l1(1.0, mask=lambda p: {"enc": True})(params)


def test_where_predicate_must_return_a_python_bool():
    with pytest.raises(TypeError, match=r"must return a Python bool; it returned .* for path 'w'"):
        jr.l1(1.0, mask=jr.masks.where(lambda path, leaf: leaf > 0))({"w": jnp.ones(2)})


def test_by_path_rejects_bad_regex():
    with pytest.raises(ValueError, match=r"include='\(' is not a valid regular expression"):
        jr.masks.by_path(include="(")


def test_masked_penalty_under_jit_grad_vmap():
    params = {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([3.0])}
    pen = jr.l1(1.0, mask=jr.masks.kernels)
    batched = {"w": jnp.stack([params["w"], 2 * params["w"]]), "b": jnp.stack([params["b"]] * 2)}
    assert np.asarray(jax.vmap(pen)(batched)).tolist() == [3.0, 6.0]
    g = jax.jit(jax.grad(pen))(params)
    assert np.asarray(g["w"]).tolist() == [[1.0, -1.0]] and np.asarray(g["b"]).tolist() == [0.0]
