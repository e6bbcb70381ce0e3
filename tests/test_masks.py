"""Masks: optax's contract (bool pytrees, prefixes, callables) and the combinators, `kernels` by
name on flax linen / nnx, equinox and plain trees, `by_path` and `where`, and the errors of a
mask that does not fit params or selects nothing by mistake."""

from __future__ import annotations

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from helpers import (
    assert_close,
    dense_params,
    f64,
    nnx_model_of_every_layer_kind,
    ref_l1,
    ref_l2,
    ref_nuclear,
)

import jaxreg as jr
from jaxreg._trees import leaf_paths

PARAMS = dense_params()


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


# --------------------------------------------------------------------------------------------
# optax's mask contract and the combinators


def test_jaxreg_masks_work_in_optax_masked_and_optax_masks_work_in_jaxreg():
    # optax's own decoupled decay adds strength * p to the selected leaves: the gradient of l2
    decay = optax.masked(optax.add_decayed_weights(0.3), jr.masks.kernels)
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = decay.update(zeros, decay.init(PARAMS), PARAMS)
    grads = jax.jit(jax.grad(jr.l2(0.3, mask=jr.masks.kernels)))(PARAMS)
    for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads), strict=True):
        assert_close(g, u, rtol=1e-12)
    assert float(jnp.abs(updates["head"]["kernel"]).max()) > 0.1
    assert float(jnp.abs(updates["head"]["bias"]).max()) == 0.0

    def optax_style(p):  # the mask function an optax user already has
        return jax.tree.map(lambda x: x.ndim > 1, p)

    decay = optax.masked(optax.add_decayed_weights(0.3), optax_style)
    updates, _ = decay.update(zeros, decay.init(PARAMS), PARAMS)
    grads = jax.grad(jr.l2(0.3, mask=optax_style))(PARAMS)
    for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads), strict=True):
        assert_close(g, u, rtol=1e-12)


@pytest.mark.slow
def test_bool_tree_of_a_callable_equinox_module_is_a_bool_tree_not_a_function():
    mlp = eqx.nn.MLP(3, 2, 4, 1, key=jax.random.key(0))
    mask = jax.tree.map(eqx.is_array, mlp)  # callable (an MLP) but a tree of bools
    mask = eqx.tree_at(lambda m: m.layers[1].weight, mask, False)
    got = jr.l2(1.0, mask=mask)(mlp)
    want = sum(ref_l2(x) for x in (mlp.layers[0].weight, mlp.layers[0].bias, mlp.layers[1].bias))
    assert_close(got, want, rtol=1e-6)


def test_prefix_bool_mask_broadcasts_over_subtrees():
    params = {"enc": {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}, "dec": [jnp.ones(3), jnp.ones(1)]}
    assert float(jr.l1(1.0, mask={"enc": True, "dec": False})(params)) == 6.0
    assert (
        float(jr.l1(1.0, mask={"enc": {"w": False, "b": True}, "dec": [True, False]})(params))
        == 5.0
    )


def test_mask_combinators():
    sel = lambda mask: sorted(  # noqa: E731
        jax.tree_util.keystr(p)
        for p, v in jax.tree_util.tree_flatten_with_path(mask(PARAMS))[0]
        if v
    )
    k, head = jr.masks.kernels, jr.masks.by_path(include="^head/")
    assert sel(k & ~head) == ["['dense']['kernel']"]
    assert sel(k | head) == ["['dense']['kernel']", "['head']['bias']", "['head']['kernel']"]
    assert sel(~k) == ["['dense']['bias']", "['head']['bias']"]
    assert sel(k & {"dense": False, "head": True}) == ["['head']['kernel']"]
    assert sel(jr.masks.where(lambda path, leaf: leaf.size == 3)) == ["['dense']['bias']"]
    pen = jr.l1(1.0, mask=k & ~head)
    assert_close(pen(PARAMS), ref_l1(PARAMS["dense"]["kernel"]), rtol=1e-12)


def test_masked_penalty_under_jit_grad_vmap():
    params = {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([3.0])}
    pen = jr.l1(1.0, mask=jr.masks.kernels)
    batched = {"w": jnp.stack([params["w"], 2 * params["w"]]), "b": jnp.stack([params["b"]] * 2)}
    assert np.asarray(jax.vmap(pen)(batched)).tolist() == [3.0, 6.0]
    g = jax.jit(jax.grad(pen))(params)
    assert np.asarray(g["w"]).tolist() == [[1.0, -1.0]] and np.asarray(g["b"]).tolist() == [0.0]


# --------------------------------------------------------------------------------------------
# kernels: the weights, by name, on each framework's trees


def _selected(tree) -> list[str]:
    chosen = jr.masks.kernels(tree)
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return sorted(
        jax.tree_util.keystr(p)
        for (p, x), c in zip(flat, jax.tree.leaves(chosen), strict=True)
        if c and jr._trees.is_penalizable(x, explicit=True)
    )


@pytest.mark.slow
def test_kernels_on_flax_linen():
    class Model(nn.Module):
        @nn.compact
        def __call__(self, x, ids):
            e = nn.Embed(10, 4)(ids)
            h = nn.LayerNorm()(nn.BatchNorm(use_running_average=False)(nn.Conv(4, (3, 3))(x)))
            a = nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=4)(e)
            return nn.Dense(2)(h.mean((1, 2))), a

    v = Model().init(jax.random.key(0), jnp.ones((1, 5, 5, 3)), jnp.ones((1, 3), int))
    attention = [
        f"['params']['MultiHeadDotProductAttention_0']['{n}']['kernel']"
        for n in ("key", "out", "query", "value")
    ]
    assert _selected(v) == sorted(
        ["['params']['Conv_0']['kernel']", "['params']['Dense_0']['kernel']", *attention]
    )
    assert len(jax.tree.leaves(v)) == 19  # biases, scales, embedding, batch stats: not selected


@pytest.mark.parametrize("as_state", [True, False])
def test_kernels_on_flax_nnx(as_state):
    model = nnx_model_of_every_layer_kind(0)
    tree = nnx.state(model) if as_state else model
    names = sorted(
        p
        for p, c in zip(leaf_paths(tree), jax.tree.leaves(jr.masks.kernels(tree)), strict=True)
        if c
    )
    assert names == [
        "att/key/kernel", "att/out/kernel", "att/query/kernel", "att/value/kernel",
        "conv/kernel", "lin/kernel",
    ]  # fmt: skip
    want = sum(ref_l2(x) for x in (model.lin.kernel[...], model.conv.kernel[...])) + sum(
        ref_l2(getattr(model.att, n).kernel[...]) for n in ("key", "out", "query", "value")
    )
    assert_close(jax.jit(jr.l2(1.0, mask=jr.masks.kernels))(tree), want, rtol=1e-6)


@pytest.mark.slow
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


@pytest.mark.slow
def test_gradient_through_nnx_state_reaches_only_kernels():
    model = NnxMLP(nnx.Rngs(1))
    state = nnx.state(model, nnx.Param)
    grads = jax.grad(jr.l2(2.0, mask=jr.masks.kernels))(state)
    assert_close(grads["hidden"]["kernel"][...], 2.0 * model.hidden.kernel[...], rtol=1e-6)
    assert float(jnp.abs(grads["norm"]["scale"][...]).max()) == 0.0


def test_kernels_on_equinox():
    k = jax.random.key(0)
    model = [
        eqx.nn.Linear(3, 4, key=k),
        eqx.nn.Conv2d(3, 4, 3, key=k),  # bias (4, 1, 1): 3-D, still a bias
        eqx.nn.MLP(3, 2, 4, 2, key=k),
        eqx.nn.Embedding(10, 4, key=k),  # 'weight', but a table
        eqx.nn.LayerNorm(4),  # 'weight', but a scale
        eqx.nn.Dropout(0.5),
    ]
    assert model[1].bias.shape == (4, 1, 1)
    assert _selected(model) == [
        "[0].weight", "[1].weight", "[2].layers[0].weight", "[2].layers[1].weight",
        "[2].layers[2].weight",
    ]  # fmt: skip
    # the matrix kinds' default mask: the conv bias is not a matrix, the embedding not a kernel
    want = sum(
        ref_nuclear(f64(w).reshape(w.shape[0], -1)) for w in (model[0].weight, model[1].weight)
    )
    want += sum(ref_nuclear(layer.weight) for layer in model[2].layers)
    assert_close(eqx.filter_jit(jr.nuclear(1.0, out_axis=0))(model), want, rtol=1e-5)


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


def test_kernels_on_the_jax_tutorial_list_of_tuples_layout():
    params = [(jnp.ones((3, 4)), jnp.full(4, 10.0)), (jnp.ones((4, 2)), jnp.full(2, 10.0))]
    assert jr.masks.kernels(params) == [(True, False), (True, False)]
    assert float(jr.l2(1.0, mask=jr.masks.kernels)(params)) == 10.0


def test_kernels_on_plain_dicts_and_a_bare_array():
    tree = {
        "w1": jnp.ones((2, 2)), "b1": jnp.ones(2), "W_out": jnp.ones((2, 2)),
        "coefs": [jnp.ones((2, 2))], "intercepts": [jnp.ones(2)], "embedding": jnp.ones((3, 2)),
        "scale": jnp.ones((2, 2)),
    }  # fmt: skip
    assert _selected(tree) == ["['W_out']", "['coefs'][0]", "['w1']"]
    assert bool(jr.masks.kernels(jnp.ones((2, 2))))


# --------------------------------------------------------------------------------------------
# by_path and where: paths as the user reads them


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


def test_nnx_paths_drop_the_variable_value_box():
    state = nnx.state(NnxMLP(nnx.Rngs(0)), nnx.Param)
    seen = []
    jr.l1(1.0, mask=jr.masks.where(lambda path, leaf: seen.append(path) or False))(state)
    assert sorted(seen) == sorted(
        ["hidden/bias", "hidden/kernel", "norm/bias", "norm/scale", "out/bias", "out/kernel"]
    )


# --------------------------------------------------------------------------------------------
# Errors: a mask that does not fit, is not a mask, or selects nothing by mistake


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


def test_two_argument_predicate_as_mask_points_to_where():
    with pytest.raises(TypeError, match=r"takes two arguments.*jaxreg\.masks\.where"):
        jr.l1(1.0, mask=lambda path, leaf: True)


def test_kernels_mask_that_selects_nothing_raises_instead_of_returning_zero():
    with pytest.raises(ValueError, match=r"kernels selects no leaf of params .* \['M'\]"):
        jr.nuclear(1.0)({"M": jnp.ones((3, 3)), "b": jnp.ones(3)})


def test_masks_that_select_nothing_by_mistake_raise_and_name_the_paths():
    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
    typo = jr.l1(0.1, mask=jr.masks.by_path(include="kernal"))
    for f in (typo, jax.jit(typo)):
        with pytest.raises(ValueError, match=r"matches no leaf .*'dense/bias', 'dense/kernel'"):
            f(params)
    # a matrix penalty on params without matrices: not 0
    with pytest.raises(ValueError, match=r"nuclear penalizes matrices.*\['b \(3,\)'\]"):
        jr.nuclear(0.1)({"b": jnp.ones(3)})
    # what selects nothing by design stays 0: exclude-only masks, trees without floats
    assert float(jr.l1(0.1, mask=jr.masks.by_path(exclude="dense"))(params)) == 0.0
    assert float(jr.l1(0.1, mask=jr.masks.by_path(include="x"))({"x": jnp.arange(3)})) == 0.0
    with pytest.raises(TypeError, match=r"include must be a regex string.*got 3 \(type int\)"):
        jr.masks.by_path(include=3)
