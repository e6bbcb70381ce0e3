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


def test_cross_validate_does_not_stratify_an_integer_regression_target():
    # diabetes' targets are whole numbers: as ints they were stratified as classes (another
    # strength than LassoCV's), and unique ints raised StratifiedKFold's class-count error
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    X, y = load_diabetes(return_X_y=True)
    strengths = np.geomspace(1.0, 0.01, 12)
    res = jr.linear.cross_validate(X, y.astype(int), jr.l1, strengths, tol=1e-8)
    ref = LassoCV(alphas=strengths, cv=KFold(5, shuffle=True, random_state=0), tol=1e-10)
    ref.fit(X, y)
    assert res.best_strength == pytest.approx(ref.alpha_)
    unique = np.arange(X.shape[0]) * 3 + 1000  # one member per "class"
    jr.linear.cross_validate(X, unique, jr.l1, strengths[:3])


def test_cross_validate_stratifies_logistic_labels_given_as_floats():
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (np.arange(60) < 12).astype(float)  # 12 positives: 2 or 3 in every stratified fold
    strengths = np.array([0.1, 0.01])
    res = jr.linear.cross_validate(X, y, jr.l1, strengths, loss="logistic", tol=1e-8)
    splitter = StratifiedKFold(5, shuffle=True, random_state=0)
    ref = jr.linear.cross_validate(
        X, y, jr.l1, strengths, loss="logistic", folds=splitter, tol=1e-8
    )
    np.testing.assert_allclose(res.scores, ref.scores)


def test_a_fold_without_weight_is_named():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    from sklearn.model_selection import KFold

    w = np.ones(40)
    w[:8] = 0.0  # KFold(5) without shuffling: fold 0 holds out rows 0-7
    with pytest.raises(ValueError, match=r"sample_weight is 0 on every held-out row of fold 0"):
        jr.linear.cross_validate(X, y, jr.l1, np.array([0.1]), folds=KFold(5), sample_weight=w)


def test_poisson_with_every_count_zero_is_refused():
    X = design()
    with pytest.raises(ValueError, match=r"loss='poisson' needs at least one count y > 0"):
        jr.linear.fit(X, np.zeros(200), jr.l1(0.1), loss="poisson")


def test_forward_mode_matches_finite_differences_and_grad_raises_jaxs_error():
    # without a jit, jax.grad's tracers reached the compiled driver, which raised an internal
    # compiler_options error
    X = design()
    y = X @ np.arange(10.0) / 10 + 0.1 * np.random.default_rng(1).normal(size=200)

    def total(a):
        return jr.linear.fit(X, y, jr.l1(a), tol=1e-12).coef.sum()

    _, tangent = jax.jvp(total, (0.01,), (1.0,))
    fd = (total(0.01 + 1e-6) - total(0.01 - 1e-6)) / 2e-6
    assert float(tangent) == pytest.approx(float(fd), rel=1e-5)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        jax.grad(total)(0.01)


@pytest.mark.parametrize("jit", [False, True])
def test_an_unpenalized_logistic_fit_is_certified_with_the_curvature_at_the_point(jit):
    # well-separated classes: the logistic curvature is far below its bound 1/4 on most rows,
    # and the per-coordinate bound ||g_j||^2 / L_j called a fit 57x its tol above the optimum,
    # coefficients 31% off, converged (a new user's case)
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(
        100, 5, n_informative=3, n_redundant=0, class_sep=10, flip_y=0.01, random_state=0
    )
    ref = LogisticRegression(penalty=None, solver="newton-cholesky", tol=1e-14, max_iter=1000)
    ref.fit(X, y)

    def mean_loss(coef, intercept):
        z = X @ coef + intercept
        return np.mean(np.logaddexp(0.0, z) - y * z)

    fit = lambda X, y: jr.linear.fit(X, y, jr.l2(0.0), loss="logistic", tol=1e-8)  # noqa: E731
    res = (jax.jit(fit) if jit else fit)(X, y.astype(float))
    assert bool(res.converged)
    best = mean_loss(ref.coef_[0], ref.intercept_[0])
    scale = mean_loss(np.zeros(5), np.log(y.mean() / (1 - y.mean())))  # the null model's
    assert mean_loss(np.asarray(res.coef), float(res.intercept)) - best <= 1e-8 * scale
    np.testing.assert_allclose(res.coef, ref.coef_[0], rtol=1e-3)


@pytest.mark.parametrize("fmt", ["csc", "csr"])
def test_a_sparse_x_of_nearly_equal_columns_converges_within_the_default_max_iter(fmt):
    # 50 columns correlated 0.9999 given as sparse: the sparse inner solve's loose fraction
    # (0.3) left the outer loop crawling, 178 iterations, not converged at max_iter=100 (a new
    # user's case); dense took 4
    import scipy.sparse as sp
    from sklearn.linear_model import ElasticNet

    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 50))
    X = X[:, :1] * 3 + 0.05 * X
    y = X[:, :5] @ rng.normal(size=5) + rng.normal(size=100) + 50
    a = np.max(np.abs((X - X.mean(0)).T @ (y - y.mean()))) / 100 * 0.05
    ref = ElasticNet(alpha=a, l1_ratio=0.5, tol=1e-13, max_iter=10**6).fit(X, y)
    Xs = sp.csc_matrix(X) if fmt == "csc" else sp.csr_matrix(X)
    res = jr.linear.fit(Xs, y, jr.elastic_net(a, l1_ratio=0.5), tol=1e-6)
    assert bool(res.converged)

    def objective(coef, intercept):
        r = y - X @ coef - intercept
        return 0.5 * np.mean(r * r) + a * (0.5 * np.abs(coef).sum() + 0.25 * coef @ coef)

    scale = np.mean((y - y.mean()) ** 2)
    gap = objective(np.asarray(res.coef), float(res.intercept)) - objective(
        ref.coef_, ref.intercept_
    )
    assert gap <= 1e-6 * scale


def test_a_penalty_without_a_closed_form_prox_is_named_as_given():
    # the error came from the traced solver, its strengths shown as JitTracer(float64[])
    X = design()
    y = X @ np.arange(10.0)
    penalty = jr.group_lasso(0.1, reshape=(-1, 2)) + jr.l1(0.1)
    with pytest.raises(NotImplementedError, match=r"group_lasso\(0\.1.*keep one of them") as e:
        jr.linear.fit(X, y, penalty)
    assert "Tracer" not in str(e.value)
    with pytest.raises(NotImplementedError, match="keep one of them"):
        jr.linear.path(X, y, lambda s: jr.group_lasso(s, reshape=(-1, 2)) + jr.l1(s), [0.1])
