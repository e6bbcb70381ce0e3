"""Proximal operators and the optax proximal transform against independent references: NumPy
closed forms, optimality conditions, step trees by structure, and Adam's metric."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax.core import FrozenDict
from helpers import (
    assert_close,
    f64,
    nnx_model_of_every_layer_kind,
    soft_threshold,
)

import jaxreg as jr

RNG = np.random.default_rng(0)


def objective_at(pen, x, z, t):
    return 0.5 * sum(
        np.sum((f64(a) - f64(b)) ** 2)
        for a, b in zip(jax.tree.leaves(z), jax.tree.leaves(x), strict=True)
    ) + t * float(pen(z))


# --------------------------------------------------------------------------------------------
# The prox of each kind


@pytest.mark.parametrize(
    ("pen", "ref"),
    [
        (jr.l1(0.7), lambda x, t: soft_threshold(x, 0.7 * t)),
        (jr.l2(0.7), lambda x, t: x / (1 + 0.7 * t)),
        (jr.elastic_net(0.7, 0.4), lambda x, t: soft_threshold(x, 0.28 * t) / (1 + 0.42 * t)),
        (jr.l1(0.3) + jr.l2(0.5), lambda x, t: soft_threshold(x, 0.3 * t) / (1 + 0.5 * t)),
    ],
)
def test_elementwise_prox_matches_numpy_and_gives_exact_zeros(pen, ref):
    x = RNG.normal(size=(6, 5))
    t = 1.3
    z = jax.jit(pen.prox)({"w": jnp.asarray(x)}, t)["w"]
    assert_close(z, ref(x, t), rtol=1e-12, atol=1e-15)
    zero = np.abs(x) <= 0.3 * t
    if "l1" in repr(pen) or "elastic" in repr(pen):
        assert zero.sum() >= 3 and np.all(np.asarray(z)[soft_threshold(x, 0.28 * t) == 0] == 0.0)


@pytest.mark.slow
def test_l1_prox_optimality_condition_with_jax_grad():
    x = jnp.asarray(RNG.normal(size=40))
    t, lam = 0.8, 0.9
    pen = jr.l1(lam)
    z = pen.prox(x, t)
    g = jax.grad(pen)(z)  # lam * sign(z), 0 where z == 0
    nz = np.asarray(z) != 0
    assert nz.sum() > 5 and (~nz).sum() > 5
    assert_close((x - z)[nz], t * g[nz], rtol=1e-12)  # x - z = t * lam * sign(z)
    assert np.all(np.abs(np.asarray(x)[~nz]) <= t * lam)  # 0 is in the subdifferential


@pytest.mark.slow
def test_group_lasso_prox_block_soft_threshold_and_zero_safety():
    x = RNG.normal(size=(8, 3))
    x[2] = 0.0  # an all-zero group: no division by its norm
    x[5] *= 0.05  # a small group: thresholded to exactly 0
    t, lam = 0.5, 1.0
    z, grad = jax.value_and_grad(lambda x: jnp.sum(jr.group_lasso(lam).prox(x, t)))(jnp.asarray(x))
    z = np.asarray(jr.group_lasso(lam).prox(jnp.asarray(x), t))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    expected = np.where(norms <= t * lam, 0.0, x * (1 - t * lam / np.where(norms == 0, 1, norms)))
    assert_close(z, expected, rtol=1e-12, atol=1e-15)
    assert np.all(z[2] == 0.0) and np.all(z[5] == 0.0)
    assert np.all(np.isfinite(grad))
    # optimality for kept groups: x_g - z_g = t * lam * z_g / ||z_g||
    kept = np.linalg.norm(z, axis=1) > 0
    zn = np.linalg.norm(z[kept], axis=1, keepdims=True)
    assert_close(x[kept] - z[kept], t * lam * z[kept] / zn, rtol=1e-10)


@pytest.mark.slow
def test_nuclear_prox_is_singular_value_thresholding_and_minimizes():
    x = RNG.normal(size=(6, 4))
    t = 0.9
    z = np.asarray(jr.nuclear(1.0).prox({"w": jnp.asarray(x)}, t)["w"])
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    assert_close(z, (u * np.maximum(s - t, 0)) @ vt, rtol=1e-10, atol=1e-12)
    assert np.linalg.matrix_rank(z) < 4
    # it is the minimizer: random perturbations never do better
    pen = jr.nuclear(1.0)
    best = objective_at(pen, {"w": x}, {"w": jnp.asarray(z)}, t)
    for _ in range(50):
        other = {"w": jnp.asarray(z + 1e-3 * RNG.normal(size=z.shape))}
        assert objective_at(pen, {"w": x}, other, t) >= best - 1e-12


@pytest.mark.slow
def test_prox_zeros_are_positive_zeros():
    x = jnp.asarray(-np.abs(RNG.normal(size=(3, 4))))
    for pen in (jr.l1(10.0), jr.group_lasso(10.0), jr.nuclear(100.0), jr.elastic_net(10.0, 0.5)):
        out = f64(pen.prox({"w": x}, 1.0)["w"])
        assert np.all(out == 0) and not np.any(np.signbit(out)), pen


@pytest.mark.slow
def test_prox_leaves_untouched_leaves_and_keeps_dtypes():
    params = {
        "kernel": jnp.asarray(RNG.normal(size=(3, 2)), jnp.bfloat16),
        "bias": jnp.asarray([5.0, -5.0], jnp.float32),
        "step": jnp.array(7),
    }
    out = jr.l1(1.0, mask=jr.masks.kernels).prox(params, 10.0)
    assert out["kernel"].dtype == jnp.bfloat16 and np.all(np.asarray(out["kernel"], float) == 0.0)
    assert out["bias"] is params["bias"] and out["step"] is params["step"]


@pytest.mark.slow
def test_disjoint_masks_compose_and_unsupported_combinations_raise():
    params = {"a": jnp.array([3.0, 0.5]), "b": jnp.array([[3.0, 4.0], [0.1, 0.0]])}
    pen = jr.l1(1.0, mask={"a": True, "b": False}) + jr.group_lasso(
        1.0, mask={"a": False, "b": True}
    )
    out = pen.prox(params, 1.0)
    assert np.asarray(out["a"]).tolist() == [2.0, 0.0]
    assert_close(out["b"], [[2.4, 3.2], [0.0, 0.0]], rtol=1e-6)
    with pytest.raises(
        NotImplementedError, match=r"l1\(1\.0\) \+ group_lasso\(1\.0\) on the same leaf 'a'"
    ):
        (jr.l1(1.0) + jr.group_lasso(1.0)).prox(params, 1.0)
    for pen in (jr.spectral(1.0), jr.orthogonal(1.0)):
        with pytest.raises(NotImplementedError, match=pen.terms[0].name):
            pen.prox(params, 1.0)


@pytest.mark.parametrize("step", [-1.0, float("nan"), float("inf")])
def test_bad_step_raises(step):
    with pytest.raises(ValueError, match=r"step must be finite and >= 0; got step="):
        jr.l1(1.0).prox(jnp.ones(2), step)


@pytest.mark.slow
def test_nan_propagates_through_prox():
    x = jnp.array([1.0, jnp.nan, 0.01])
    for pen in (jr.l1(0.1), jr.group_lasso(0.1), jr.elastic_net(0.1, 0.5)):
        z = np.asarray(pen.prox(x, 1.0))
        assert np.isnan(z[1]) or np.isnan(z).all()


# --------------------------------------------------------------------------------------------
# Step trees: one step per leaf (or per element), matched by structure


@pytest.mark.slow
def test_step_trees_with_equinox_nnx_and_frozendict_structure():
    lin = eqx.nn.Linear(4, 3, key=jax.random.key(0))
    steps = jax.tree.map(lambda x: jnp.full(x.shape, 0.3) if eqx.is_array(x) else x, lin)
    steps = eqx.tree_at(lambda m: m.weight, steps, jnp.asarray(RNG.uniform(0, 0.5, size=(3, 4))))
    out = jax.jit(jr.l1(1.0).prox)(lin, steps)
    assert_close(out.weight, soft_threshold(f64(lin.weight), f64(steps.weight)), rtol=1e-12)
    assert_close(out.bias, soft_threshold(f64(lin.bias), 0.3), rtol=1e-12)

    state = nnx.state(nnx_model_of_every_layer_kind(0), nnx.Param)
    steps = jax.tree.map(lambda x: jnp.full(x.shape, 0.2, x.dtype), state)
    out = jr.l1(1.0).prox(state, steps)
    assert_close(
        out["lin"]["kernel"][...], soft_threshold(f64(state["lin"]["kernel"][...]), 0.2), rtol=1e-6
    )

    frozen = FrozenDict({"a": jnp.array([1.0, -0.1]), "b": {"c": jnp.array([2.0])}})
    out = jr.l1(1.0).prox(frozen, FrozenDict({"a": jnp.array([0.5, 0.5]), "b": 1.5}))
    assert f64(out["a"]).tolist() == [0.5, 0.0] and f64(out["b"]["c"]).tolist() == [0.5]


def test_bad_steps_in_a_tree_raise_or_poison():
    params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0])}
    for bad in (-0.1, float("nan")):
        with pytest.raises(
            ValueError, match=r"step must be finite and >= 0; the step for the leaf at 'b'"
        ):
            jr.l1(0.1).prox(params, {"a": 0.1, "b": jnp.array([bad])})
    with pytest.raises(ValueError, match=r"step for the leaf at 'a' has shape \(3,\)"):
        jr.l1(0.1).prox(params, {"a": jnp.ones(3), "b": 0.1})
    traced = jax.jit(jr.l1(0.1).prox)(params, {"a": jnp.array([-0.1, 0.1]), "b": jnp.array([0.1])})
    assert np.isnan(f64(traced["a"])[0]) and not np.isnan(f64(traced["a"])[1])


@pytest.mark.slow
def test_group_step_is_the_step_of_the_mean_metric_so_one_zero_gradient_cannot_zero_a_group():
    lr, lam, eps = 1e-2, 1e-4, 1e-8
    x = RNG.normal(0, 0.5, size=(5, 4))  # kernel (in, out); axis=0: one group per output
    D = np.abs(RNG.normal(size=(5, 4))) + eps
    D[0] = eps  # an input that is always 0: Adam's D is eps there
    out = jr.group_lasso(lam, axis=0).prox(
        {"kernel": jnp.asarray(x)}, {"kernel": jnp.asarray(lr / D)}
    )
    t = lr / D.mean(axis=0)  # the documented metric: mean(D) over each group
    norms = np.linalg.norm(x, axis=0)
    want = x * np.maximum(1 - t * lam / norms, 0)
    assert_close(out["kernel"], want, rtol=1e-10)
    assert np.all(np.linalg.norm(f64(out["kernel"]), axis=0) > 0.5)
    got = jr.nuclear(lam).prox({"kernel": jnp.asarray(x)}, {"kernel": jnp.asarray(lr / D)})
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    want = (u * np.maximum(s - lr / D.mean() * lam, 0)) @ vt
    assert_close(got["kernel"], want, rtol=1e-8)


# --------------------------------------------------------------------------------------------
# jr.transforms.proximal: proximal gradient descent, plain and Adam-preconditioned


def test_proximal_transform_is_proximal_gradient_descent():
    X = RNG.normal(size=(50, 6))
    y = X @ np.array([2.0, -1.0, 0, 0, 0.5, 0]) + 0.1 * RNG.normal(size=50)
    loss = lambda w: 0.5 * jnp.mean((X @ w - y) ** 2)  # noqa: E731
    lam = 0.2
    schedule = optax.linear_schedule(0.1, 0.02, 100)
    tx = optax.chain(optax.sgd(schedule), jr.transforms.proximal(jr.l1(lam), schedule))
    w, state = jnp.zeros(6), None
    state = tx.init(w)
    w_ref = np.zeros(6)
    for k in range(200):
        updates, state = jax.jit(tx.update)(jax.grad(loss)(w), state, w)
        w = optax.apply_updates(w, updates)
        lr = float(schedule(k))
        w_ref = soft_threshold(w_ref - lr * X.T @ (X @ w_ref - y) / len(y), lr * lam)
    assert_close(w, w_ref, rtol=1e-8, atol=1e-12)  # schedule evaluated in/out of jit
    assert (np.asarray(w) == 0.0).sum() >= 2  # exact zeros, not 1e-9
    assert np.array_equal(np.asarray(w) == 0.0, w_ref == 0.0)


def test_proximal_transform_requires_params():
    tx = jr.transforms.proximal(jr.l1(0.1), 0.1)
    with pytest.raises(ValueError, match="needs the current params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_proximal_transform_leaves_none_updates_alone():
    w = jnp.array([1.0, -0.05])
    for precondition in (None, "adam"):
        tx = jr.transforms.proximal(jr.l1(1.0), 0.1, precondition=precondition)
        params = {"w": w, "frozen": None, "count": jnp.array(3)}
        # without preconditioning the transform follows an optimizer: it gets -lr * grad
        g = jnp.ones(2) if precondition else -0.1 * jnp.ones(2)
        grads = {"w": g, "frozen": None, "count": None}
        if precondition:  # as stock optax.adam: init on the trainable leaves
            state = tx.init({"w": w, "frozen": None, "count": None})
        else:
            state = tx.init(params)
        updates, _ = tx.update(grads, state, params)
        assert updates["frozen"] is None and updates["count"] is None
        assert_close(updates["w"], [-0.2, 0.0], rtol=1e-5, atol=1e-6)


def test_adam_preconditioned_prox_matches_numpy_reference():
    lr, lam, b1, b2, eps = 0.05, 0.3, 0.9, 0.999, 1e-8
    tx = jr.transforms.proximal(jr.l1(lam), lr, precondition="adam", b1=b1, b2=b2, eps=eps)
    w = jnp.asarray(RNG.normal(size=12))
    state = tx.init(w)
    w_ref, m, v = np.asarray(w), np.zeros(12), np.zeros(12)
    for k in range(1, 30):
        g = np.asarray(RNG.normal(size=12)) * np.linspace(0.01, 2, 12)
        updates, state = tx.update(jnp.asarray(g), state, w)
        w = optax.apply_updates(w, updates)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        mh, vh = m / (1 - b1**k), v / (1 - b2**k)
        d = np.sqrt(vh) + eps
        w_ref = soft_threshold(w_ref - lr * mh / d, lr * lam / d)  # prox in the metric diag(d)
    assert_close(w, w_ref, rtol=1e-9, atol=1e-12)
    assert np.array_equal(np.asarray(w) == 0.0, w_ref == 0.0) and (w_ref == 0).sum() >= 2
    # with strength 0 it is exactly optax.adam
    tx0 = jr.transforms.proximal(jr.l1(0.0), lr, precondition="adam")
    ta = optax.adam(lr)
    p0, s0, pa, sa = jnp.ones(3), tx0.init(jnp.ones(3)), jnp.ones(3), ta.init(jnp.ones(3))
    for _ in range(5):
        g = jnp.asarray(RNG.normal(size=3))
        u0, s0 = tx0.update(g, s0, p0)
        ua, sa = ta.update(g, sa, pa)
        p0, pa = optax.apply_updates(p0, u0), optax.apply_updates(pa, ua)
    assert_close(p0, pa, rtol=1e-12)
    with pytest.raises(
        ValueError, match="precondition must be None or 'adam'; got precondition='sgd'"
    ):
        jr.transforms.proximal(jr.l1(0.1), 0.1, precondition="sgd")


def test_adam_preconditioned_proximal_transform_on_an_equinox_model():
    model = eqx.nn.MLP(3, 1, 8, 1, key=jax.random.key(0))
    X = jnp.asarray(RNG.normal(size=(64, 3)))
    y = X[:, :1] * 2.0
    pen = jr.group_lasso(0.05, axis=0, mask=jr.masks.kernels)
    tx = jr.transforms.proximal(pen, 0.05, precondition="adam")
    params, static = eqx.partition(model, eqx.is_array)

    @jax.jit
    def step(params, state):
        def loss(p):
            m = eqx.combine(p, static)
            return jnp.mean((jax.vmap(m)(X) - y) ** 2)

        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state, loss(params)

    state = tx.init(params)
    losses = []
    for _ in range(200):
        params, state, value = step(params, state)
        losses.append(float(value))
    assert losses[-1] < 0.1 * losses[0]
    w0 = f64(params.layers[0].weight)  # (8, 3): groups along axis 0 are the 3 inputs
    assert np.all(np.isfinite(w0))


def test_sums_of_one_kind_merge_only_with_equal_hyperparameters():
    """sparse_group_lasso(1, 0.2) + sparse_group_lasso(0.5, 0.8) once merged by adding the
    strengths at the first l1_ratio (a wrong prox, silently); equal l1_ratios still merge."""
    z = np.array([[0.3, 1.5, -4.0], [2.5, 0.1, -0.2]])
    mixed = jr.sparse_group_lasso(1.0, 0.2) + jr.sparse_group_lasso(0.5, 0.8)
    with pytest.raises(NotImplementedError, match="no closed-form prox"):
        mixed.prox({"w": jnp.asarray(z)}, 0.7)
    same = jr.sparse_group_lasso(1.0, 0.4) + jr.sparse_group_lasso(0.5, 0.4)
    t, lam, r = 0.7, 1.5, 0.4
    u = np.sign(z) * np.maximum(np.abs(z) - t * lam * r, 0.0)  # NumPy: soft, then group shrink
    norms = np.linalg.norm(u, axis=-1, keepdims=True)
    want = u * np.maximum(1 - t * lam * (1 - r) / np.where(norms > 0, norms, 1), 0)
    got = jax.jit(lambda p: same.prox(p, t))({"w": jnp.asarray(z)})["w"]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14)
