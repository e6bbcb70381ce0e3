"""The prox-Newton solver (logistic, Poisson) against scikit-learn and skglm (independent solvers).

Every problem is scored with one NumPy objective, :math:`\\sum_i s_i \\ell_i / \\sum_i s_i +
\\mathrm{pen}(w)`: the fit must be within the requested tolerance of the reference's objective
(``tol`` is relative to the intercept-only model's loss) and its coefficients close to the
reference's. The shapes and designs (AR(1) columns with offsets, power-law sparse columns) are
this file's own.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

import jaxreg as jr

TOL = 1e-9


def ar1_logistic(n, p, *, rho=0.5, seed=0, offset=0.5):
    """AR(1) columns with nonzero means, Bernoulli labels from 6 true features."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, p))
    X = np.empty((n, p))
    X[:, 0] = z[:, 0]
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * z[:, j]
    X += offset * rng.uniform(-1, 1, p)
    w = np.zeros(p)
    w[rng.choice(p, 6, replace=False)] = rng.choice([-1.5, 1.5], 6)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w + 0.3)))).astype(float)
    return X, y


def objective(X, y, s, coef, b, l1, l2=0.0):
    z = X @ coef + b
    loss = np.sum(s * (np.logaddexp(0.0, z) - y * z)) / np.sum(s)
    return loss + l1 * np.sum(np.abs(coef)) + 0.5 * l2 * np.sum(coef**2)


def null_loss(y, s, fit_intercept):
    """What ``tol`` is relative to: the intercept-only (or zero) model's loss."""
    m = np.sum(s * y) / np.sum(s) if fit_intercept else 0.5
    return -(m * np.log(m) + (1 - m) * np.log(1 - m))


def strengths_for(X, y, s, num, ratio):
    lam_max = np.max(np.abs(X.T @ (s * (y - np.sum(s * y) / np.sum(s))))) / np.sum(s)
    return np.geomspace(lam_max, lam_max * ratio, num)


def sklearn_fit(X, y, s, lam, fit_intercept, l1_ratio=1.0):
    """``C sum_i s_i l_i + l1_ratio |w|_1 + (1 - l1_ratio) / 2 |w|^2`` with ``C = 1 / (lam
    sum(s))`` is ``sum(s) / lam`` times ours (saga: an unpenalized intercept)."""
    m = LogisticRegression(
        C=1.0 / (lam * np.sum(s)), l1_ratio=l1_ratio, solver="saga", tol=1e-13,
        max_iter=100_000, fit_intercept=fit_intercept,
    )  # fmt: skip
    m.fit(X, y, sample_weight=s)
    return m.coef_[0], (m.intercept_[0] if fit_intercept else 0.0)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_path_with_sample_weights_equals_sklearn_saga(fit_intercept):
    X, y = ar1_logistic(80, 30, seed=1)
    s = np.random.default_rng(2).uniform(0.3, 2.0, len(y))
    lams = strengths_for(X, y, s, 4, 0.05)[1:]
    res = jr.linear.path(
        X, y, jr.l1, lams, loss="logistic", sample_weight=s, tol=TOL, fit_intercept=fit_intercept
    )
    assert bool(np.all(res.converged))
    scale = null_loss(y, s, fit_intercept)
    for k, lam in enumerate(lams):
        coef, b = np.asarray(res.coef[k]), float(res.intercept[k])
        ref_coef, ref_b = sklearn_fit(X, y, s, lam, fit_intercept)
        ours, theirs = objective(X, y, s, coef, b, lam), objective(X, y, s, ref_coef, ref_b, lam)
        assert ours <= theirs + TOL * scale, (k, ours - theirs)
        # the certificate is honest: it bounds the suboptimality
        assert float(res.gap[k]) <= TOL * scale
        assert ours - theirs <= float(res.gap[k]) + 1e-13, (k, ours - theirs)
        np.testing.assert_allclose(coef, ref_coef, atol=1e-4 * np.abs(ref_coef).max())
        np.testing.assert_allclose(b, ref_b, atol=1e-4)


def test_elastic_net_under_jit_equals_sklearn_and_eager():
    X, y = ar1_logistic(70, 25, seed=3)
    s = np.ones(len(y))
    lams = strengths_for(X, y, s, 3, 0.1)[1:] / 0.4

    def run(X, y, lams):
        return jr.linear.path(
            X, y, lambda t: jr.elastic_net(t, 0.4), lams, loss="logistic", tol=TOL
        )

    eager = run(X, y, lams)
    traced = jax.jit(run)(X, y, lams)
    np.testing.assert_allclose(np.asarray(traced.coef), np.asarray(eager.coef), atol=1e-9)
    assert bool(np.all(traced.converged))
    for k, lam in enumerate(lams):
        ref_coef, ref_b = sklearn_fit(X, y, s, lam, True, l1_ratio=0.4)
        coef, b = np.asarray(traced.coef[k]), float(traced.intercept[k])
        ours = objective(X, y, s, coef, b, 0.4 * lam, 0.6 * lam)
        theirs = objective(X, y, s, ref_coef, ref_b, 0.4 * lam, 0.6 * lam)
        assert ours <= theirs + TOL * null_loss(y, s, True), (k, ours - theirs)
        assert ours - theirs <= float(traced.gap[k]) + 1e-13, (k, ours - theirs)
        np.testing.assert_allclose(coef, ref_coef, atol=1e-4 * np.abs(ref_coef).max())


def power_law_sparse(n, p, seed):
    """Column j in a fraction 0.6 (j + 1)^-0.9 of the rows (one long column, many short:
    stored in several chunks, `Columns.chunked`), plus labels."""
    rng = np.random.default_rng(seed)
    freq = 0.6 * np.arange(1, p + 1) ** -0.9
    cols = [np.flatnonzero(rng.random(n) < f) for f in freq]
    rows = np.concatenate(cols)
    X = sp.csc_matrix(
        (rng.uniform(0.5, 2.0, rows.size), (rows, np.repeat(np.arange(p), [c.size for c in cols]))),
        shape=(n, p),
    )
    w = np.zeros(p)
    w[:8] = rng.choice([-2.0, 2.0], 8)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w)))).astype(float)
    return X, y


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_chunked_design_equals_sklearn(fit_intercept):
    X, y = power_law_sparse(600, 500, seed=4)
    s = np.ones(len(y))
    lam = strengths_for(X.toarray(), y, s, 6, 0.02)[4]
    res = jr.linear.fit(X, y, jr.l1(lam), loss="logistic", tol=TOL, fit_intercept=fit_intercept)
    assert bool(res.converged)
    m = LogisticRegression(
        C=1.0 / (lam * len(y)), l1_ratio=1.0, solver="liblinear", tol=1e-12, max_iter=100_000,
        fit_intercept=False,
    )  # fmt: skip
    if fit_intercept:  # liblinear penalizes its intercept: saga on the dense matrix instead
        ref_coef, ref_b = sklearn_fit(X.toarray(), y, s, lam, True)
    else:
        ref_coef, ref_b = m.fit(X, y).coef_[0], 0.0
    Xd = X.toarray()
    ours = objective(Xd, y, s, np.asarray(res.coef), float(res.intercept), lam)
    theirs = objective(Xd, y, s, ref_coef, ref_b, lam)
    assert ours <= theirs + TOL * null_loss(y, s, fit_intercept), ours - theirs
    np.testing.assert_allclose(np.asarray(res.coef), ref_coef, atol=1e-4 * np.abs(ref_coef).max())


@pytest.mark.slow  # skglm's numba compiles its solver
def test_unpenalized_features_equal_skglm_prox_newton():
    """A weighted l1 with weight 0 on two features (no dual constraint of theirs) against
    skglm's own ``ProxNewton`` with ``WeightedL1``."""
    from skglm.datafits import Logistic
    from skglm.penalties import WeightedL1
    from skglm.solvers import ProxNewton

    X, y = ar1_logistic(90, 20, seed=5, offset=0.0)
    weights = np.ones(20)
    weights[[2, 11]] = 0.0
    lam = 0.02
    ref = ProxNewton(tol=1e-12, fit_intercept=False, max_iter=200).solve(
        X, 2 * y - 1, Logistic(), WeightedL1(lam, weights)
    )[0]
    res = jr.linear.fit(
        X, y, jr.l1(lam, weights=weights), loss="logistic", tol=TOL, fit_intercept=False
    )
    s = np.ones(len(y))
    ours = objective(X, y, s, np.asarray(res.coef), 0.0, 0.0) + lam * np.sum(
        weights * np.abs(np.asarray(res.coef))
    )
    theirs = objective(X, y, s, ref, 0.0, 0.0) + lam * np.sum(weights * np.abs(ref))
    assert ours <= theirs + TOL * null_loss(y, s, False), ours - theirs
    np.testing.assert_allclose(np.asarray(res.coef), ref, atol=1e-5 * np.abs(ref).max())


@pytest.mark.slow  # four paths compiled, one of them vmapped
def test_newton_steps_few_outer_iterations_and_float32():
    """The path's fits take a handful of prox-Newton steps each (coordinate descent on the
    loss took tens of outer iterations here); float32 reaches its own floor and float64's
    coefficients to float32 accuracy; cross-validation's vmapped folds equal its loop."""
    X, y = ar1_logistic(200, 120, seed=6)
    s = np.ones(len(y))
    lams = strengths_for(X, y, s, 6, 0.02)
    res = jr.linear.path(X, y, jr.l1, lams, loss="logistic", tol=TOL)
    assert bool(np.all(res.converged))
    assert int(np.max(res.iterations)) <= 12, np.asarray(res.iterations)
    r32 = jr.linear.path(X, y, jr.l1, lams, loss="logistic", tol=1e-5, dtype=np.float32)
    assert bool(np.all(r32.converged))
    np.testing.assert_allclose(np.asarray(r32.coef), np.asarray(res.coef), atol=2e-3)
    loop = jr.linear.cross_validate(X, y, jr.l1, lams[1:4], loss="logistic", folds=3, tol=1e-8)
    vm = jr.linear.cross_validate(
        X, y, jr.l1, lams[1:4], loss="logistic", folds=3, tol=1e-8, vmap_folds=True
    )
    np.testing.assert_allclose(vm.scores, loop.scores, rtol=1e-7)


@pytest.mark.slow  # skglm's numba compiles its solver
def test_poisson_l1_path_equals_skglm_prox_newton():
    """The Poisson loss takes the same prox-Newton steps: an L1 path against skglm's
    ``ProxNewton`` with its ``Poisson`` datafit (:math:`\\frac1n \\sum_i e^{z_i} - y_i z_i`)."""
    from skglm.datafits import Poisson
    from skglm.penalties import L1
    from skglm.solvers import ProxNewton

    rng = np.random.default_rng(7)
    X = 0.4 * rng.standard_normal((150, 40))
    w = np.zeros(40)
    w[:5] = [0.8, -0.6, 0.5, 0.4, -0.3]
    y = rng.poisson(np.exp(X @ w + 0.2)).astype(float)
    lam_max = np.max(np.abs(X.T @ (y - 1.0))) / len(y)  # the gradient at w = 0 (no intercept)
    lams = lam_max * np.array([0.5, 0.2, 0.05])
    res = jr.linear.path(X, y, jr.l1, lams, loss="poisson", tol=1e-12, fit_intercept=False)
    assert bool(np.all(res.converged))
    for k, lam in enumerate(lams):
        ref = ProxNewton(tol=1e-12, fit_intercept=False, max_iter=200).solve(
            X, y, Poisson(), L1(lam)
        )[0]

        def obj(c, lam=lam):
            z = X @ c
            return np.mean(np.exp(z) - y * z) + lam * np.sum(np.abs(c))

        coef = np.asarray(res.coef[k])
        assert obj(coef) <= obj(ref) + 1e-12, (k, obj(coef) - obj(ref))
        np.testing.assert_allclose(coef, ref, atol=1e-6 * np.abs(ref).max())
