"""Constraints (indicator penalties): projections against NumPy sorts and closed forms, values,
metric projections by brute force, and projected training that keeps the constraint."""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from skglm.penalties import IndicatorBox

import jaxreg as jr

RNG = np.random.default_rng(1)
C = jr.constraints


def np_top_k(x, k, axis):
    """Zero all but the k largest |x| per slice along ``axis`` (NumPy; stable ties)."""
    moved = np.moveaxis(x, axis, -1)
    order = np.argsort(-np.abs(moved), axis=-1, kind="stable")
    keep = np.zeros(moved.shape, bool)
    np.put_along_axis(keep, order[..., :k], True, axis=-1)
    return np.moveaxis(np.where(keep, moved, 0.0), -1, axis)


def np_n_m(x, n, m, axis):
    moved = np.moveaxis(x, axis, -1)
    blocks = moved.reshape(*moved.shape[:-1], -1, m)
    return np.moveaxis(np_top_k(blocks, n, -1).reshape(moved.shape), -1, axis)


@pytest.mark.slow
@pytest.mark.parametrize("shape,k,axis", [((50,), 7, None), ((6, 10), 3, 1), ((6, 10), 2, 0)])
def test_top_k_matches_numpy_sort(shape, k, axis):
    x = RNG.normal(size=shape)
    pen = C.top_k(k, axis=axis)
    got = np.asarray(jax.jit(lambda p, x: p.prox({"w": x}, 0.1))(pen, jnp.asarray(x))["w"])
    want = np_top_k(x.ravel(), k, 0).reshape(shape) if axis is None else np_top_k(x, k, axis)
    np.testing.assert_array_equal(got, want)
    assert (
        float(pen({"w": jnp.asarray(got)})) == 0.0 and float(pen({"w": jnp.asarray(x)})) == np.inf
    )


def test_top_k_ties_keep_the_first_entries():
    x = np.array([1.0, -2.0, 2.0, 1.0, 2.0, -2.0] * 5)  # 30 entries, many ties
    for k in (1, 4, 7, 30, 31):
        got = np.asarray(C.top_k(k).prox({"w": jnp.asarray(x)}, 0.1)["w"])
        np.testing.assert_array_equal(got, np_top_k(x, min(k, 30), 0))
    blocks = np.array([[1.0, 1.0, -1.0, 1.0]])  # n_m's pairwise path: the same rule
    np.testing.assert_array_equal(
        np.asarray(C.n_m(2, 4, axis=1).prox({"w": jnp.asarray(blocks)}, 0.1)["w"]),
        [[1.0, 1.0, 0.0, 0.0]],
    )


@pytest.mark.slow
@pytest.mark.parametrize("shape,axis", [((8, 3), 0), ((3, 8), -1), ((2, 4, 5), 1)])
def test_n_m_matches_numpy_blocks(shape, axis):
    x = RNG.normal(size=shape)
    pen = C.n_m(2, 4, axis=axis)
    got = np.asarray(pen.prox({"w": jnp.asarray(x)}, 0.1)["w"])
    np.testing.assert_array_equal(got, np_n_m(x, 2, 4, axis))
    blocks = np.moveaxis(got, axis, -1).reshape(-1, 4)
    assert ((blocks != 0).sum(axis=1) <= 2).all()
    assert float(pen({"w": jnp.asarray(got)})) == 0.0


def test_n_m_needs_whole_blocks():
    with pytest.raises(ValueError, match=r"multiple of m=4.*shape \(6, 3\)"):
        C.n_m(2, 4, axis=0)({"w": jnp.ones((6, 3))})
    with pytest.raises(ValueError, match="n <= m"):
        C.n_m(5, 4, axis=0)
    with pytest.raises(TypeError, match="axis"):
        C.n_m(2, 4, axis=None)


@pytest.mark.slow
def test_box_non_negative_and_l2_ball_closed_forms():
    x = RNG.normal(scale=2, size=(5, 7))
    got = np.asarray(C.box(-0.5, 1.0).prox({"w": jnp.asarray(x)}, 0.3)["w"])
    np.testing.assert_array_equal(got, np.clip(x, -0.5, 1.0))
    ref = IndicatorBox(1.5)  # skglm's box is [0, alpha]
    want = np.array([ref.prox_1d(v, 0.3, 0) for v in x.ravel()]).reshape(x.shape)
    np.testing.assert_array_equal(
        np.asarray(C.box(0.0, 1.5).prox({"w": jnp.asarray(x)}, 0.3)["w"]), want
    )
    np.testing.assert_array_equal(
        np.asarray(C.non_negative().prox({"w": jnp.asarray(x)}, 0.3)["w"]), np.maximum(x, 0)
    )
    # max-norm along axis 0 (Keras's MaxNorm on a Dense kernel): each column's norm <= r
    r = 1.3
    norms = np.linalg.norm(x, axis=0, keepdims=True)
    want = x * np.minimum(1.0, r / norms)
    got = np.asarray(C.l2_ball(r).prox({"w": jnp.asarray(x)}, 0.3)["w"])
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert float(C.l2_ball(r)({"w": jnp.asarray(got)})) == 0.0
    got1 = np.asarray(C.l2_ball(r, axis=1).prox({"w": jnp.asarray(x)}, 0.3)["w"])
    np.testing.assert_allclose(
        got1, x * np.minimum(1.0, r / np.linalg.norm(x, axis=1, keepdims=True)), rtol=1e-14
    )


def test_values_are_zero_inside_inf_outside_nan_propagates():
    assert float(C.box(0.0, 1.0)({"w": jnp.array([0.0, 1.0])})) == 0.0
    assert float(C.box(0.0, 1.0)({"w": jnp.array([0.0, 1.1])})) == np.inf
    assert float(C.box(-np.inf, 0.0)({"w": jnp.array([-1e30, 0.0])})) == 0.0
    for pen in (C.non_negative(), C.box(0.0, 1.0), C.l2_ball(1.0), C.top_k(1), C.n_m(1, 2, axis=0)):
        x = {"w": jnp.array([0.5, jnp.nan])}
        assert np.isnan(float(pen(x)))
        assert np.isnan(np.asarray(pen.prox(x, 0.1)["w"])[1])


@pytest.mark.slow
def test_metric_projection_of_top_k_is_exact():
    """With per-element steps t (metric D = 1/t) top_k keeps the largest x^2 / t: checked against
    every support of size k."""
    x = RNG.normal(size=8)
    t = RNG.uniform(0.1, 2.0, size=8)
    got = np.asarray(C.top_k(3).prox({"w": jnp.asarray(x)}, {"w": jnp.asarray(t)})["w"])
    best = min(
        itertools.combinations(range(8), 3),
        key=lambda s: sum(x[i] ** 2 / t[i] for i in range(8) if i not in s),
    )
    want = np.where(np.isin(np.arange(8), best), x, 0.0)
    np.testing.assert_array_equal(got, want)


def test_a_zero_step_projects_euclidean_and_box_holds_after_apply_updates():
    x = jnp.array([0.5, -3.0, 1.0, 2.0, 4.0, 0.1])
    for t in (0.0, 0.3):  # a warmup schedule's first step is 0
        np.testing.assert_array_equal(C.top_k(2).prox({"w": x}, t)["w"], [0, -3, 0, 0, 4, 0])
        np.testing.assert_array_equal(
            C.n_m(1, 2, axis=0).prox({"w": x}, t)["w"], [0, -3, 0, 2, 4, 0]
        )
    pen = C.box(-0.1, 0.2)
    tx = jr.transforms.proximal(pen, 0.1)
    p = jnp.array([-0.7, 0.35, 0.05], jnp.float32)
    u, _ = tx.update(jnp.zeros(3, jnp.float32), tx.init(p), p)
    after = optax.apply_updates(p, u)
    assert float(pen(after)) == 0.0  # p + (clip(p) - p) may round an ulp past a bound
    assert float(jnp.max(jnp.abs(after - jnp.array([-0.1, 0.2, 0.05])))) < 1e-7


def test_traced_bounds_in_the_wrong_order_give_nan():
    los = jnp.array([0.0, 2.0])
    vals = jax.vmap(lambda lo: C.box(lo, 1.0)({"w": jnp.array([0.5])}))(los)
    proxes = jax.vmap(lambda lo: C.box(lo, 1.0).prox({"w": jnp.array([0.5])}, 0.1)["w"])(los)
    assert float(vals[0]) == 0.0 and np.isnan(float(vals[1]))
    assert float(proxes[0][0]) == 0.5 and np.isnan(float(proxes[1][0]))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"lo <= hi; got lo=2.0, hi=1.0"):
        C.box(2.0, 1.0)
    with pytest.raises(ValueError, match=r"k must be a positive int; got k=0"):
        C.top_k(0)
    with pytest.raises(ValueError, match="radius"):
        C.l2_ball(-1.0)
    with pytest.raises(ValueError, match=r"axis=3 is out of range.*shape \(2, 2\)"):
        C.top_k(1, axis=3)({"w": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match=r"axis=3 is out of range"):
        C.l2_ball(1.0, axis=3)({"w": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match=r"axis=2 is out of range.*shape \(8, 3\)"):
        C.n_m(2, 4, axis=2)({"w": jnp.ones((8, 3))})


def test_constraints_are_pytrees_and_compose_with_penalties():
    pen = C.box(-1.0, 1.0, mask=jr.masks.kernels) + jr.l2(0.1)
    params = {
        "dense": {"kernel": jnp.asarray(RNG.normal(scale=3, size=(4, 3))), "bias": jnp.ones(3)}
    }
    out = jax.jit(lambda p, x: p.prox(x, 0.5))(pen, params)
    k = np.asarray(params["dense"]["kernel"])
    # prox of box + l2/2 with step t: the box projection of x / (1 + t * 0.1)
    np.testing.assert_allclose(out["dense"]["kernel"], np.clip(k / 1.05, -1, 1), rtol=1e-14)
    np.testing.assert_allclose(out["dense"]["bias"], np.ones(3) / 1.05, rtol=1e-14)
    assert 2.0 * C.non_negative() == C.non_negative()
    with pytest.raises(ValueError, match="positive factor"):
        0.0 * C.non_negative()
    assert jax.tree.leaves(C.box(-1.0, 2.0)) == [np.asarray(1.0), np.asarray(-1.0), np.asarray(2.0)]


@pytest.mark.slow
def test_projected_training_keeps_the_constraints_after_every_step():
    model = eqx.nn.MLP(8, 4, 16, 1, key=jax.random.PRNGKey(0))  # Linear.weight is (out, in)
    pen = C.n_m(2, 4, axis=1, mask=jr.masks.kernels) + C.l2_ball(1.0, axis=1, mask=jr.masks.kernels)
    # a sum of two constraints on the same leaf has no closed-form prox: they must not overlap
    with pytest.raises(NotImplementedError):
        pen.prox(model, 0.1)
    pen = C.n_m(2, 4, axis=1, mask=jr.masks.kernels)
    tx = optax.chain(optax.adam(1e-2), jr.transforms.proximal(pen, 1e-2))
    X = jnp.asarray(RNG.normal(size=(64, 8)))
    y = jnp.asarray(RNG.normal(size=(64, 4)))
    params, static = eqx.partition(model, eqx.is_array)
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        loss = lambda p: jnp.mean((jax.vmap(eqx.combine(p, static))(X) - y) ** 2)  # noqa: E731
        g = jax.grad(loss)(params)
        u, state = tx.update(g, state, params)
        return optax.apply_updates(params, u), state, loss(params)

    losses = []
    for _ in range(50):
        params, state, loss = step(params, state)
        losses.append(float(loss))
        for layer in params.layers:
            blocks = np.asarray(layer.weight).reshape(layer.weight.shape[0], -1, 4)
            assert ((blocks != 0).sum(axis=-1) <= 2).all()
        assert float(pen(params)) == 0.0
    assert losses[-1] < losses[0]
