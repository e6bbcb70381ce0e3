"""`jr.solve` (proximal gradient) against scikit-learn's solvers on its bundled data sets
(Lasso, ElasticNet, Ridge through the converter, L1 logistic regression), and its argument
checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    assert_close,
    diabetes,
)

import jaxreg as jr


def _least_squares(X, y):
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    # the textbook J = 1/(2m) sum (h(x_i) - y_i)^2 with a linear h
    return lambda p: 0.5 * jnp.mean((Xj @ p["w"] + p["b"] - yj) ** 2)


COEF_ONLY = {"w": True, "b": False}


def _check_same_solution(w, coef, *, rtol):
    w = np.asarray(w)
    assert np.abs(w - coef).max() <= rtol * np.abs(coef).max(), (w, coef)
    assert np.array_equal(w == 0.0, coef == 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_solve_lasso_reproduces_sklearn(alpha):
    from sklearn.linear_model import Lasso

    X, y = diabetes()
    sk = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(X, y)
    p0 = {"w": jnp.zeros(X.shape[1]), "b": jnp.zeros(())}
    p, info = jax.jit(
        lambda p: jr.solve(
            _least_squares(X, y), jr.l1(alpha, mask=COEF_ONLY), p, max_iter=100_000, tol=1e-13
        )
    )(p0)
    assert bool(info.converged)
    assert (sk.coef_ == 0).sum() >= 3
    _check_same_solution(p["w"], sk.coef_, rtol=1e-6)
    assert_close(p["b"], sk.intercept_, rtol=1e-8)


@pytest.mark.slow
def test_solve_elastic_net_and_ridge_via_converter_reproduce_sklearn():
    from sklearn.linear_model import ElasticNet, Ridge

    X, y = diabetes()
    p0 = {"w": jnp.zeros(X.shape[1]), "b": jnp.zeros(())}
    en = ElasticNet(alpha=0.002, l1_ratio=0.9, tol=1e-14, max_iter=1_000_000).fit(X, y)
    p, info = jr.solve(
        _least_squares(X, y),
        jr.elastic_net(0.002, 0.9, mask=COEF_ONLY),
        p0,
        max_iter=200_000,
        tol=1e-13,
    )
    assert bool(info.converged)
    _check_same_solution(p["w"], en.coef_, rtol=1e-6)
    ridge = Ridge(alpha=0.5).fit(X, y)
    pen = jr.conventions.from_sklearn(ridge, n_samples=len(y), mask=COEF_ONLY)
    p, info = jr.solve(_least_squares(X, y), pen, p0, max_iter=200_000, tol=1e-13)
    assert bool(info.converged)
    _check_same_solution(p["w"], ridge.coef_, rtol=1e-6)


@pytest.mark.slow
def test_solve_l1_logistic_regression_reproduces_sklearn_saga():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    C = 0.1
    sk = LogisticRegression(C=C, l1_ratio=1.0, solver="saga", tol=1e-12, max_iter=100_000).fit(X, y)
    pen = jr.conventions.from_sklearn(sk, n_samples=len(y), mask=COEF_ONLY)
    Xj, yj = jnp.asarray(X), jnp.asarray(y, float)

    def log_loss(p):
        z = Xj @ p["w"] + p["b"]
        return jnp.mean(jnp.logaddexp(0.0, z) - yj * z)

    p0 = {"w": jnp.zeros(X.shape[1]), "b": jnp.zeros(())}
    p, info = jr.solve(log_loss, pen, p0, max_iter=200_000, tol=1e-13)
    assert bool(info.converged)
    coef = sk.coef_.ravel()
    assert (coef == 0).sum() >= 10 and (coef != 0).sum() >= 3
    _check_same_solution(p["w"], coef, rtol=1e-6)


def test_solve_validates_arguments():
    f = lambda w: jnp.sum(w**2)  # noqa: E731
    with pytest.raises(ValueError, match="max_iter must be a positive int; got max_iter=0"):
        jr.solve(f, jr.l1(1.0), jnp.ones(2), max_iter=0)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0; got tol=-1"):
        jr.solve(f, jr.l1(1.0), jnp.ones(2), tol=-1)


def test_solve_rejects_integer_init_params():
    with pytest.raises(TypeError, match=r"init_params must hold floating-point arrays"):
        jr.solve(lambda w: jnp.sum(w), jr.l1(1.0), jnp.zeros(3, int))


def test_a_nan_step_stops_the_solve_at_once_with_nan_and_not_converged():
    """NaN data, or a negative strength traced under `jax.jit` (a concrete one raises): the
    NaN comes back, `converged` is False, and the loop stops at its first NaN step instead of
    running `max_iter` steps of 60 backtracks each."""
    X, y = diabetes()
    y_nan = y.copy()
    y_nan[3] = np.nan
    p0 = {"w": jnp.zeros(X.shape[1]), "b": jnp.zeros(())}

    def fit(y, strength):
        pen = jr.l1(strength, mask=COEF_ONLY)
        return jr.solve(_least_squares(X, y), pen, p0, max_iter=100_000)

    for run, y_, strength in [
        (fit, y_nan, 0.1),
        (jax.jit(fit), y_nan, 0.1),
        (jax.jit(fit), y, -0.1),
    ]:
        sol, info = run(jnp.asarray(y_), strength)
        assert np.isnan(np.asarray(sol["w"])).all() and np.isnan(float(info.objective))
        assert not bool(info.converged) and int(info.iterations) <= 2
