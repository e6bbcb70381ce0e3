"""`jr.linear`'s edge inputs: a constant ``y`` (an exact fit, gap 0), NaN in ``X`` with the
Poisson loss, a non-bool ``fit_intercept``, non-real ``X``, and a traced BCOO ``X``."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from jax.experimental import sparse as jsparse

import jaxreg as jr


def design():
    return np.random.default_rng(6).normal(size=(200, 10)) * 0.3


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("loss", ["squared", "poisson", "huber"])
def test_constant_y_is_converged_at_once(loss, jit):
    # the tolerance's scale is 0 (or rounding) for a constant y: the exact fit, its gap
    # rounding, was "not converged" after max_iter with a RuntimeWarning
    X, y = design(), np.full(200, 0.5)

    def fit(X, y):
        return jr.linear.fit(X, y, jr.l1(0.01), loss=loss)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = (jax.jit(fit) if jit else fit)(X, y)
    assert bool(res.converged)
    np.testing.assert_array_equal(np.asarray(res.coef), 0.0)
    b = np.log(0.5) if loss == "poisson" else 0.5  # the null model: y = 0.5
    assert float(res.intercept) == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic", "poisson"])
def test_nan_in_x_gives_a_nan_gap_and_names_it(loss):
    X = design()
    y = (X[:, 0] > 0).astype(float)
    X[0, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN in X"):
        res = jr.linear.fit(X, y, jr.l1(0.01), loss=loss)
    assert np.isnan(float(res.gap)) and not bool(res.converged)
    assert np.isnan(np.asarray(res.coef)).all()


@pytest.mark.parametrize("value", [None, "no", 0, 1.0])
def test_fit_intercept_must_be_a_bool(value):
    X = design()
    with pytest.raises(ValueError, match=r"fit_intercept must be a bool \(True or False\); got"):
        jr.linear.fit(X, X[:, 0], jr.l1(0.01), fit_intercept=value)
    assert float(jr.linear.fit(X, X[:, 0] + 5, jr.l1(0.01), fit_intercept=np.False_).intercept) == 0


@pytest.mark.parametrize("kind", [complex, str])
def test_non_real_x_is_rejected(kind):
    X = design()
    with pytest.raises(ValueError, match=r"X must be a numeric matrix .* of real numbers"):
        jr.linear.fit(X.astype(kind), X[:, 0], jr.l1(0.01))


def test_traced_bcoo_x_is_a_clear_error():
    X = design()
    with pytest.raises(ValueError, match="Only a dense X can be traced"):
        jax.jit(lambda A: jr.linear.fit(A, X[:, 0], jr.l1(0.01)).coef)(jsparse.BCOO.fromdense(X))
