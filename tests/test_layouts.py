"""The group table of `jr.group_lasso`: each row on the real flax / equinox layer it names.

Two independent checks per row: the value equals a NumPy sum of per-group norms built from the
layer's documented layout (slices written out by hand), and the group means what the table
says: zeroing it (with the prox) makes the layer's output independent of that neuron, channel
or head, checked by running the layer itself.
"""

from __future__ import annotations

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import assert_close, f64

import jaxreg as jr

HEADS, QK, IN = 4, 3, 8  # equinox: query_size IN, qk_size = vo_size = QK


def norms_sum(groups) -> float:
    return float(sum(np.linalg.norm(g) for g in groups))


def flax_mha():
    return nnx.MultiHeadAttention(
        num_heads=HEADS,
        in_features=IN,
        qkv_features=HEADS * QK,
        decode=False,
        rngs=nnx.Rngs(0),
        param_dtype=jnp.float64,
    )


def eqx_mha():
    m = eqx.nn.MultiheadAttention(
        num_heads=HEADS, query_size=IN, qk_size=QK, vo_size=QK, key=jax.random.key(0)
    )
    return jax.tree.map(lambda x: x.astype(jnp.float64) if eqx.is_array(x) else x, m)


# (name, leaf getter, penalty, NumPy groups of that leaf)
ROWS = {
    "flax dense output neuron": (
        lambda: np.random.default_rng(0).normal(size=(5, 7)),
        jr.group_lasso(1.0, axis=-2),
        lambda w: [w[:, j] for j in range(w.shape[1])],
    ),
    "equinox linear output neuron": (
        lambda: f64(eqx.nn.Linear(5, 7, key=jax.random.key(1)).weight),
        jr.group_lasso(1.0, axis=-1),
        lambda w: [w[j, :] for j in range(w.shape[0])],
    ),
    "equinox linear input feature": (
        lambda: f64(eqx.nn.Linear(5, 7, key=jax.random.key(1)).weight),
        jr.group_lasso(1.0, axis=-2),
        lambda w: [w[:, i] for i in range(w.shape[1])],
    ),
    "flax conv output channel": (
        lambda: f64(nnx.Conv(3, 6, (3, 3), rngs=nnx.Rngs(0)).kernel[...]),
        jr.group_lasso(1.0, axis=(-4, -3, -2)),
        lambda w: [w[..., c] for c in range(w.shape[-1])],
    ),
    "equinox conv output channel": (
        lambda: f64(eqx.nn.Conv2d(3, 6, 3, key=jax.random.key(2)).weight),
        jr.group_lasso(1.0, axis=(-3, -2, -1)),
        lambda w: [w[c] for c in range(w.shape[0])],
    ),
    "flax attention out per head": (
        lambda: f64(flax_mha().out.kernel[...]),
        jr.group_lasso(1.0, axis=(-2, -1)),
        lambda w: [w[h] for h in range(HEADS)],
    ),
    "flax attention query per head": (
        lambda: f64(flax_mha().query.kernel[...]),
        jr.group_lasso(1.0, axis=(-3, -1)),
        lambda w: [w[:, h, :] for h in range(HEADS)],
    ),
    "equinox attention output per head": (
        lambda: f64(eqx_mha().output_proj.weight),
        jr.group_lasso(1.0, reshape=(-1, HEADS, QK), axis=(-3, -1)),
        lambda w: [w[:, h * QK : (h + 1) * QK] for h in range(HEADS)],
    ),
    "equinox attention query per head": (
        lambda: f64(eqx_mha().query_proj.weight),
        jr.group_lasso(1.0, reshape=(HEADS, -1), axis=-1),
        lambda w: [w[h * QK : (h + 1) * QK, :] for h in range(HEADS)],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", ROWS)
def test_value_and_lambda_max_match_hand_sliced_groups(name):
    get, pen, groups = ROWS[name]
    w = get()
    assert_close(float(jax.jit(pen)(jnp.asarray(w))), norms_sum(groups(w)), rtol=1e-12)
    # lambda_max of 0.5 ||w - target||^2 at 0 is the largest group norm of the target
    lm = jr.select.lambda_max(lambda x: 0.5 * jnp.sum((x - w) ** 2), jnp.zeros_like(w), pen)
    assert_close(float(lm), max(np.linalg.norm(g) for g in groups(w)), rtol=1e-12)


# A leaf viewed with `reshape` is viewed whole: a stack of L layers needs L in the view.
STACKED_RESHAPE = {
    "equinox attention output per head": jr.group_lasso(
        1.0, reshape=(2, -1, HEADS, QK), axis=(-3, -1)
    ),
    "equinox attention query per head": jr.group_lasso(1.0, reshape=(2, HEADS, -1), axis=-1),
}


@pytest.mark.parametrize("name", ROWS)
def test_each_row_on_a_stack_of_layers_is_the_per_layer_sum(name):
    """The table's negative axes serve layers stacked on a leading axis (nnx.vmap, nn.scan,
    eqx.filter_vmap) unchanged: the value, lambda_max and prox are the per-layer ones."""
    get, pen, groups = ROWS[name]
    w = get()
    stack = np.stack([w, -2.0 * w[::-1] if w.ndim == 2 else 0.5 * w])  # two different layers
    pen = STACKED_RESHAPE.get(name, pen)
    layer_groups = [g for layer in stack for g in groups(layer)]
    assert_close(float(jax.jit(pen)(jnp.asarray(stack))), norms_sum(layer_groups), rtol=1e-12)
    lm = jr.select.lambda_max(lambda x: 0.5 * jnp.sum((x - stack) ** 2), jnp.zeros_like(stack), pen)
    assert_close(float(lm), max(np.linalg.norm(g) for g in layer_groups), rtol=1e-12)
    t = float(np.median([np.linalg.norm(g) for g in layer_groups]))
    out = np.asarray(jax.jit(pen.prox)(jnp.asarray(stack), t))
    for layer_in, layer_out in zip(stack, out, strict=True):
        for g_in, g_out in zip(groups(layer_in), groups(layer_out), strict=True):
            expected = g_in * max(0.0, 1 - t / np.linalg.norm(g_in))
            assert_close(g_out, expected, rtol=1e-12, atol=1e-15)


# A leading `...` views only the trailing axes: one term for a layer and a stack.
TRAILING_RESHAPE = {
    "equinox attention output per head": jr.group_lasso(
        1.0, reshape=(..., HEADS, QK), axis=(-3, -1)
    ),
    "equinox attention query per head": jr.group_lasso(
        1.0, reshape=(..., HEADS, QK, IN), axis=(-2, -1)
    ),
}


@pytest.mark.parametrize("name", TRAILING_RESHAPE)
def test_trailing_reshape_serves_a_layer_and_a_stack(name):
    get, _, groups = ROWS[name]
    pen = TRAILING_RESHAPE[name]
    w = get()
    stack = np.stack([w, -2.0 * w[::-1], 0.5 * w])  # three different layers
    for leaf, layers in ((w, [w]), (stack, list(stack))):
        layer_groups = [g for layer in layers for g in groups(layer)]
        assert_close(float(jax.jit(pen)(jnp.asarray(leaf))), norms_sum(layer_groups), rtol=1e-12)
        t = float(np.median([np.linalg.norm(g) for g in layer_groups]))
        out = np.asarray(jax.jit(pen.prox)(jnp.asarray(leaf), t)).reshape((-1, *w.shape))
        for layer_in, layer_out in zip(layers, out, strict=True):
            for g_in, g_out in zip(groups(layer_in), groups(layer_out), strict=True):
                expected = g_in * max(0.0, 1 - t / np.linalg.norm(g_in))
                assert_close(g_out, expected, rtol=1e-12, atol=1e-15)
    lm = jr.select.lambda_max(lambda x: 0.5 * jnp.sum((x - stack) ** 2), jnp.zeros_like(stack), pen)
    expected = max(np.linalg.norm(g) for layer in stack for g in groups(layer))
    assert_close(float(lm), expected, rtol=1e-12)


def test_trailing_reshape_is_checked():
    with pytest.raises(ValueError, match=r"reshape must be None.*got reshape=\(Ellipsis, -1, 2\)"):
        jr.group_lasso(1.0, reshape=(..., -1, 2))
    with pytest.raises(ValueError, match=r"reshape must be None"):
        jr.group_lasso(1.0, reshape=(2, ..., 3))  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"holding 5 elements; a leaf of shape \(3, 4\) has no"):
        jr.group_lasso(1.0, reshape=(..., 5), axis=-1)({"w": jnp.ones((3, 4))})
    with pytest.raises(ValueError, match=r"a leaf of shape \(2, 1, 6\) has more than one"):
        jr.group_lasso(1.0, reshape=(..., 2, 3), axis=-1)({"w": jnp.ones((2, 1, 6))})


@pytest.mark.parametrize("name", ROWS)
def test_prox_shrinks_each_hand_sliced_group(name):
    get, pen, groups = ROWS[name]
    w = get()
    norms = np.array([np.linalg.norm(g) for g in groups(w)])
    t = float(np.median(norms))  # about half the groups go to exactly zero
    out = np.asarray(jax.jit(pen.prox)(jnp.asarray(w), t))
    for g_in, g_out in zip(groups(w), groups(out), strict=True):
        n = np.linalg.norm(g_in)
        expected = g_in * max(0.0, 1 - t / n)
        assert_close(g_out, expected, rtol=1e-12, atol=1e-15)
        assert (not np.any(g_out)) == (n <= t)


def test_adam_metric_step_uses_each_groups_mean_metric_with_reshape():
    w = f64(eqx_mha().output_proj.weight)
    step = np.random.default_rng(3).uniform(0.01, 0.2, size=w.shape)
    pen = jr.group_lasso(2.0, reshape=(-1, HEADS, QK), axis=(0, 2))
    out = np.asarray(jax.jit(pen.prox)(jnp.asarray(w), jnp.asarray(step)))
    for h in range(HEADS):
        cols = slice(h * QK, (h + 1) * QK)
        t = 1 / np.mean(1 / step[:, cols])  # the group's mean metric D = lr / step
        g = w[:, cols]
        assert_close(out[:, cols], g * max(0.0, 1 - 2.0 * t / np.linalg.norm(g)), rtol=1e-12)


@pytest.mark.slow
def test_sparse_group_lasso_with_reshape_matches_numpy():
    w = f64(eqx_mha().query_proj.weight)
    pen = jr.sparse_group_lasso(0.7, 0.25, reshape=(HEADS, -1), axis=1)
    blocks = [w[h * QK : (h + 1) * QK, :] for h in range(HEADS)]
    expected = 0.7 * (0.25 * np.abs(w).sum() + 0.75 * norms_sum(blocks))
    assert_close(float(pen(jnp.asarray(w))), expected, rtol=1e-12)
    t = 0.3
    out = np.asarray(pen.prox(jnp.asarray(w), t))
    for h, g in enumerate(blocks):
        s = np.sign(g) * np.maximum(np.abs(g) - t * 0.7 * 0.25, 0)
        n = np.linalg.norm(s)
        exp = s * max(0.0, 1 - t * 0.7 * 0.75 / n) if n else s
        assert_close(out[h * QK : (h + 1) * QK], exp, rtol=1e-12, atol=1e-15)


def _zero_head_and_perturb(get_zeroed_and_run):
    """The layer's output with a head's group zeroed, before and after perturbing that head's
    other weights: equal when the group really is the head."""
    a, b = get_zeroed_and_run()
    assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_flax_head_group_removes_the_head():
    m = flax_mha()
    x = jax.random.normal(jax.random.key(1), (2, 5, IN), jnp.float64)
    pen = jr.group_lasso(1.0, axis=(1, 2))
    kernel = m.out.kernel[...]
    # a step that zeroes exactly head 1's group: between its norm and the next larger one
    norms = np.linalg.norm(np.asarray(kernel).reshape(HEADS, -1), axis=1)
    kernel = kernel.at[1].multiply(0.01 * norms.min() / norms[1])
    t = float(np.linalg.norm(np.asarray(kernel[1]))) * 1.001
    m.out.kernel[...] = pen.prox(kernel, t)
    z = np.asarray(m.out.kernel[...])
    assert not np.any(z[1]) and np.all(np.linalg.norm(z.reshape(HEADS, -1), axis=1)[[0, 2, 3]])
    before = np.asarray(m(x))
    m.value.kernel[...] = m.value.kernel[...].at[:, 1, :].add(5.0)
    m.query.kernel[...] = m.query.kernel[...].at[:, 1, :].add(-3.0)
    assert_close(np.asarray(m(x)), before, rtol=1e-12, atol=1e-14)
    m.value.kernel[...] = m.value.kernel[...].at[:, 0, :].add(5.0)  # a kept head: changes
    assert np.max(np.abs(np.asarray(m(x)) - before)) > 1e-2


@pytest.mark.slow
def test_equinox_head_group_removes_the_head():
    m = eqx_mha()
    x = jax.random.normal(jax.random.key(1), (5, IN), jnp.float64)
    pen = jr.group_lasso(1.0, reshape=(-1, HEADS, QK), axis=(0, 2))
    w = m.output_proj.weight
    cols = slice(2 * QK, 3 * QK)  # head 2
    norms = [np.linalg.norm(np.asarray(w[:, h * QK : (h + 1) * QK])) for h in range(HEADS)]
    w = w.at[:, cols].multiply(0.01 * min(norms) / norms[2])
    t = float(np.linalg.norm(np.asarray(w[:, cols]))) * 1.001
    m = eqx.tree_at(lambda m: m.output_proj.weight, m, jax.jit(pen.prox)(w, t))
    z = np.asarray(m.output_proj.weight)
    assert not np.any(z[:, cols]) and np.count_nonzero(np.abs(z).sum(0)) == (HEADS - 1) * QK
    before = np.asarray(m(x, x, x))
    bumped = eqx.tree_at(lambda m: m.value_proj.weight, m, m.value_proj.weight.at[cols, :].add(5.0))
    bumped = eqx.tree_at(
        lambda m: m.query_proj.weight, bumped, bumped.query_proj.weight.at[cols, :].add(-3.0)
    )
    assert_close(np.asarray(bumped(x, x, x)), before, rtol=1e-12, atol=1e-14)
    kept = eqx.tree_at(lambda m: m.value_proj.weight, m, m.value_proj.weight.at[:QK, :].add(5.0))
    assert np.max(np.abs(np.asarray(kept(x, x, x)) - before)) > 1e-2


def test_linen_tree_with_mask_and_reshape_under_jit():
    """A whole linen parameter tree: only the attention out kernel is grouped per head."""
    mod = nn.MultiHeadDotProductAttention(num_heads=HEADS, qkv_features=HEADS * QK)
    x = jnp.ones((1, 3, IN))
    params = mod.init(jax.random.key(0), x)
    pen = jr.group_lasso(1.0, axis=(1, 2), mask=jr.masks.by_path(include="out/kernel"))
    k = np.asarray(params["params"]["out"]["kernel"], np.float64)
    assert_close(float(jax.jit(pen)(params)), norms_sum([k[h] for h in range(HEADS)]), rtol=1e-6)


def test_bad_reshape_names_the_leaf_and_shapes():
    pen = jr.group_lasso(1.0, reshape=(5, -1), axis=1)
    with pytest.raises(ValueError, match=r"reshape=\(5, -1\) cannot view a leaf of shape \(4, 3\)"):
        pen({"a": jnp.ones((4, 3))})
    with pytest.raises(ValueError, match="'a'"):
        pen({"a": jnp.ones((4, 3))})
    with pytest.raises(ValueError, match="out of range.*after reshape"):
        jr.group_lasso(1.0, reshape=(2, -1), axis=2)(jnp.ones((4, 3)))
    for bad in [(0, -1), (-1, -1), "4,3", (), (2.0, 6), (True, 12), (...,), (..., 0)]:
        with pytest.raises(ValueError, match="reshape must be None, a tuple of positive ints"):
            jr.group_lasso(1.0, reshape=bad)


def test_to_sklearn_refuses_sparse_group_lasso():
    """It is a subclass of the group lasso kind; it must not convert as one (it did)."""
    from sklearn.linear_model import MultiTaskLasso

    with pytest.raises(ValueError, match="no scikit-learn estimator"):
        jr.conventions.to_sklearn(jr.sparse_group_lasso(0.1, 0.5), MultiTaskLasso)
    with pytest.raises(ValueError, match="no scikit-learn estimator"):
        jr.conventions.to_sklearn(jr.group_lasso(0.1, reshape=(-1, 2)), MultiTaskLasso)
