"""`jr.regularized`: value, gradient, aux and parts against hand-written references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close

import jaxreg as jr

X = np.random.default_rng(0).normal(size=(20, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.1


def mse(w, x, y):
    return 0.5 * jnp.mean((x @ w - y) ** 2)


def test_value_and_gradient_match_numpy():
    w = np.array([0.3, -0.2, 1.0])
    loss = jax.jit(jr.regularized(mse, jr.elastic_net(0.4, 0.25)))
    value, grad = jax.value_and_grad(loss)(jnp.asarray(w), X, Y)
    r = X @ w - Y
    expected = 0.5 * np.mean(r**2) + 0.4 * (0.25 * np.abs(w).sum() + 0.375 * (w**2).sum())
    expected_grad = X.T @ r / len(Y) + 0.4 * (0.25 * np.sign(w) + 0.75 * w)
    assert_close(value, expected, rtol=1e-12)
    assert_close(grad, expected_grad, rtol=1e-12)


@pytest.mark.slow
def test_aux_and_parts():
    def with_aux(w, x, y):
        return mse(w, x, y), {"n": x.shape[0]}

    w = jnp.array([0.3, -0.2, 1.0])
    total, (aux, parts) = jr.regularized(with_aux, jr.l2(1.0), has_aux=True, return_parts=True)(
        w, X, Y
    )
    assert aux == {"n": 20}
    assert_close(parts["penalty"], 0.5 * float(jnp.sum(w**2)), rtol=1e-12)
    assert_close(total, parts["loss"] + parts["penalty"], rtol=1e-15)
    total2, parts2 = jr.regularized(mse, jr.l2(1.0), return_parts=True)(w, X, Y)
    assert_close(total2, total, rtol=1e-15) and set(parts2) == {"loss", "penalty"}
    (value, aux2), grad = jax.value_and_grad(
        jr.regularized(with_aux, jr.l2(1.0), has_aux=True), has_aux=True
    )(w, X, Y)
    assert aux2 == {"n": 20} and grad.shape == (3,)


def test_bad_arguments():
    with pytest.raises(TypeError, match="penalty must be a jaxreg Penalty"):
        jr.regularized(mse, 0.1)
    with pytest.raises(TypeError, match=r"has_aux=True needs loss_fn to return a \(loss, aux\)"):
        jr.regularized(mse, jr.l2(1.0), has_aux=True)(jnp.zeros(3), X, Y)
