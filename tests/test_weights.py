"""Per-element and per-group weights (`weights=`): value, gradient and prox against NumPy, the
prefix and keepdims forms, `lambda_max` with weights, and the errors naming the leaf."""

from __future__ import annotations

import equinox as eqx
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    assert_close,
    central_difference,
    dense_params,
    f64,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxreg as jr

RNG = np.random.default_rng(0)
PARAMS = dense_params(RNG)
ALL = jax.tree.leaves(PARAMS)


@pytest.mark.slow
def test_weighted_value_gradient_and_prox_match_numpy():
    w_kernel = jnp.asarray(RNG.uniform(0.0, 2.0, size=(4, 3)))
    weights = {"dense": {"kernel": w_kernel, "bias": None}, "head": 3.0}  # a prefix; None is 1
    W = {k: f64(v) for k, v in (("dk", w_kernel),)}
    lam, t = 0.4, 0.7
    x = {p: f64(v) for p, v in zip(("db", "dk", "hb", "hk"), ALL, strict=True)}
    per = {"dk": W["dk"], "db": 1.0, "hk": 3.0, "hb": 3.0}
    assert_close(
        jax.jit(jr.l1(lam, weights=weights))(PARAMS),
        lam * sum((per[k] * np.abs(x[k])).sum() for k in x),
        rtol=1e-12,
    )
    assert_close(
        jr.l2(lam, weights=weights)(PARAMS),
        lam / 2 * sum((per[k] * x[k] ** 2).sum() for k in x),
        rtol=1e-12,
    )
    en = jr.elastic_net(lam, 0.25, weights=weights)
    assert_close(
        en(PARAMS),
        lam * sum((per[k] * (0.25 * np.abs(x[k]) + 0.375 * x[k] ** 2)).sum() for k in x),
        rtol=1e-12,
    )
    g = jax.grad(jr.l1(lam, weights=weights))(PARAMS)["dense"]["kernel"]
    fd = central_difference(lambda v: lam * (W["dk"] * np.abs(v)).sum(), x["dk"])
    assert_close(g, fd, rtol=1e-6)
    out = en.prox(PARAMS, t)
    want = np.sign(x["dk"]) * np.maximum(np.abs(x["dk"]) - t * lam * 0.25 * W["dk"], 0)
    want /= 1 + t * lam * 0.75 * W["dk"]
    assert_close(out["dense"]["kernel"], want, rtol=1e-12)
    assert np.any(f64(out["dense"]["kernel"]) == 0) and np.any(f64(out["dense"]["kernel"]) != 0)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_weighted_elementwise_value_and_prox_on_random_pytrees(data):
    n = data.draw(st.integers(1, 4))
    shapes = [
        tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))) for _ in range(n)
    ]
    dtype = data.draw(st.sampled_from([jnp.float64, jnp.float32]))
    xs = [data.draw(hnp.arrays(np.float64, s, elements=st.floats(-3, 3))) for s in shapes]
    ws = [data.draw(hnp.arrays(np.float64, s, elements=st.floats(0, 2))) for s in shapes]
    params = {f"l{i}": jnp.asarray(x, dtype) for i, x in enumerate(xs)}
    weights = {f"l{i}": jnp.asarray(w, dtype) for i, w in enumerate(ws)}
    lam, t = data.draw(st.floats(0, 3)), data.draw(st.floats(0, 2))
    xs = [f64(params[f"l{i}"]) for i in range(n)]
    ws = [f64(weights[f"l{i}"]) for i in range(n)]
    rtol = 1e-12 if dtype == jnp.float64 else 1e-5
    got = jax.jit(lambda pen, p: pen(p))(jr.l1(lam, weights=weights), params)
    assert_close(
        got,
        lam * sum((w * np.abs(x)).sum() for x, w in zip(xs, ws, strict=True)),
        rtol=rtol,
        atol=1e-6,
    )
    out = jr.l1(lam, weights=weights).prox(params, t)
    for i, (x, w) in enumerate(zip(xs, ws, strict=True)):
        want = np.sign(x) * np.maximum(np.abs(x) - t * lam * w, 0)
        assert_close(out[f"l{i}"], want, rtol=rtol, atol=1e-6)
        assert out[f"l{i}"].dtype == dtype


@pytest.mark.slow
def test_group_lasso_weights_are_one_per_group():
    x = f64(PARAMS["dense"]["kernel"])  # (4, 3), axis=-1: 4 groups (rows)
    wg = np.array([0.5, 1.0, 2.0, 0.0])
    pen = jr.group_lasso(
        1.5,
        weights={"dense": {"kernel": jnp.asarray(wg), "bias": None}, "head": None},
        mask={"dense": {"kernel": True, "bias": False}, "head": False},
    )
    norms = np.linalg.norm(x, axis=-1)
    assert_close(pen(PARAMS), 1.5 * (wg * norms).sum(), rtol=1e-12)
    t = 0.6
    tau = t * 1.5 * wg
    want = x * np.maximum(1 - tau / norms, 0)[:, None]
    assert_close(pen.prox(PARAMS, t)["dense"]["kernel"], want, rtol=1e-12)
    loss = lambda p: 0.5 * jnp.sum((p["dense"]["kernel"] - 1.0) ** 2)  # noqa: E731
    # group 3 has weight 0 and a non-zero gradient: no strength zeroes it
    assert float(jr.select.lambda_max(loss, PARAMS, pen)) == np.inf
    wg = np.array([0.5, 1.0, 2.0, 4.0])
    pen = jr.group_lasso(
        1.0, weights=jnp.asarray(wg), mask={"dense": {"kernel": True, "bias": False}, "head": False}
    )
    g = -np.ones((4, 3))
    want = max(np.linalg.norm(g[i]) / wg[i] for i in range(4))
    assert_close(jr.select.lambda_max(loss, PARAMS, pen), want, rtol=1e-12)


def test_group_weights_in_keepdims_form_equal_the_group_form():
    conv = eqx.nn.Conv2d(2, 6, 3, key=jax.random.key(4))  # weight (6, 2, 3, 3)
    wg = jnp.asarray(RNG.uniform(0.5, 2.0, size=6))
    group = jr.group_lasso(0.3, axis=(1, 2, 3), mask=jr.masks.kernels, weights=wg)
    keep = jr.group_lasso(
        0.3, axis=(1, 2, 3), mask=jr.masks.kernels, weights=wg.reshape(6, 1, 1, 1)
    )
    w = f64(conv.weight)
    want = 0.3 * (f64(wg) * np.sqrt((w**2).sum(axis=(1, 2, 3)))).sum()
    assert_close(group(conv), want, rtol=1e-6)
    assert_close(keep(conv), want, rtol=1e-6)
    assert_close(keep.prox(conv, 0.2).weight, group.prox(conv, 0.2).weight, rtol=1e-6)


def test_lambda_max_of_weighted_l1_is_the_largest_gradient_over_its_weight():
    loss = lambda w: 0.5 * jnp.sum((w - 1.0) ** 2)  # noqa: E731
    assert (
        float(jr.select.lambda_max(loss, jnp.zeros(3), jr.l1(1.0, weights=jnp.zeros(3)))) == np.inf
    )
    w = jnp.array([0.5, 2.0, 4.0])  # |g| = 1 everywhere: max(1 / w) = 2
    assert float(jr.select.lambda_max(loss, jnp.zeros(3), jr.l1(1.0, weights=w))) == 2.0
    assert (
        float(jr.select.lambda_max(loss, jnp.zeros(3), jr.l1(1.0, weights=w.at[0].set(0))))
        == np.inf
    )


def test_bad_weights_raise_naming_the_leaf():
    with pytest.raises(ValueError, match=r"weights must be finite and >= 0.*\['w'\]"):
        jr.l1(1.0, weights={"w": jnp.array([1.0, -1.0])})
    with pytest.raises(
        ValueError, match=r"weights for the leaf at 'w' have shape \(3,\).*\(2, 2\)"
    ):
        jr.l1(1.0, weights={"w": jnp.ones(3)})({"w": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match=r"weights does not fit params"):
        jr.l1(1.0, weights={"v": 1.0})({"w": jnp.ones(2)})
