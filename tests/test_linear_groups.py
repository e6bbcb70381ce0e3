"""`jr.linear` with a group lasso (the squared loss on a dense ``X``: the least-squares solver's
block inner solver) against skglm's own ``GroupBCD`` on ``QuadraticGroup`` + ``WeightedGroupL2``.

skglm's ``QuadraticGroup`` is :math:`\\frac{1}{2n}\\lVert y - Xw - b\\rVert^2` and
``WeightedGroupL2`` is :math:`\\lambda \\sum_g c_g \\lVert w_g\\rVert`: jaxreg's objective with
``group_lasso(lambda, reshape=(-1, B), weights=c)``. Sample weights: without an intercept,
:math:`\\sum_i s_i r_i^2 / \\sum_i s_i` is the plain mean on rows scaled by
:math:`\\sqrt{n s_i / \\sum_i s_i}`.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxreg as jr

B = 4


def _data(n=80, p=120, seed=3, offset=0.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X[:, 1:] += 0.6 * X[:, :-1]  # neighbours correlated: within and across groups
    w = np.zeros(p)
    w[: 3 * B] = rng.uniform(0.5, 2.0, 3 * B) * rng.choice([-1, 1], 3 * B)
    return X + offset, X @ w + rng.standard_normal(n) + 3.0 * offset


def _objective(X, y, coef, intercept, lam, weights):
    r = y - X @ coef - intercept
    norms = np.linalg.norm(coef.reshape(-1, B), axis=1)
    return 0.5 * np.mean(r * r) + lam * np.sum(weights * norms)


def _skglm(X, y, lam, weights, *, fit_intercept):
    pytest.importorskip("skglm")
    from skglm.datafits import QuadraticGroup
    from skglm.penalties import WeightedGroupL2
    from skglm.solvers import GroupBCD
    from skglm.utils.data import grp_converter

    p = X.shape[1]
    grp_idx, grp_ptr = grp_converter(B, p)
    solver = GroupBCD(tol=1e-12, fit_intercept=fit_intercept, max_iter=10_000, max_epochs=100_000)
    penalty = WeightedGroupL2(lam, np.asarray(weights, float), grp_ptr, grp_idx)
    w = solver.solve(np.asfortranarray(X), y, QuadraticGroup(grp_ptr, grp_idx), penalty)[0]
    return (w[:p], w[p]) if fit_intercept else (w, 0.0)


def _lam_max(X, y, weights, *, fit_intercept=True):
    yc = y - y.mean() if fit_intercept else y
    gn = np.linalg.norm((X.T @ yc).reshape(-1, B), axis=1) / len(y)
    return np.max(gn[weights > 0] / weights[weights > 0])


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("jit", [False, True])
def test_group_lasso_path_equals_skglm(fit_intercept, jit):
    X, y = _data(offset=1.5 if fit_intercept else 0.0)
    weights = np.linspace(0.5, 1.5, X.shape[1] // B)
    top = _lam_max(X, y, weights, fit_intercept=fit_intercept)
    lams = jr.select.strength_grid(top, num=6, ratio=1e-2)

    def run(X, y, lams):
        return jr.linear.path(
            X, y, lambda s: jr.group_lasso(s, reshape=(-1, B), weights=weights), lams,
            tol=1e-14, fit_intercept=fit_intercept,
        )  # fmt: skip

    res = jax.jit(run)(X, y, lams) if jit else run(X, y, lams)
    assert bool(res.converged.all())
    for k, lam in enumerate(np.asarray(lams)):
        coef, icpt = _skglm(X, y, lam, weights, fit_intercept=fit_intercept)
        ours = np.asarray(res.coef[k])
        scale = max(np.abs(coef).max(), 1.0)
        np.testing.assert_allclose(ours, coef, rtol=0, atol=1e-6 * scale, err_msg=f"lam {lam}")
        np.testing.assert_allclose(float(res.intercept[k]), icpt, rtol=0, atol=1e-6 * scale)
        f_ours = _objective(X, y, ours, float(res.intercept[k]), lam, weights)
        f_ref = _objective(X, y, coef, icpt, lam, weights)
        assert f_ours <= f_ref + 1e-10 * abs(f_ref), (lam, f_ours, f_ref)
        # whole groups are zero or not, as skglm's
        ours_zero = (ours.reshape(-1, B) == 0).all(1)
        assert np.array_equal(ours_zero, np.linalg.norm(coef.reshape(-1, B), axis=1) < 1e-10)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_group_lasso_sample_weight_equals_skglm_on_scaled_rows(fit_intercept):
    """With an intercept: the same on columns and ``y`` centred by their ``s``-weighted means,
    the intercept :math:`\bar y_s - \bar x_s^\top w`."""
    X, y = _data(n=60, p=40, seed=5, offset=0.8 if fit_intercept else 0.0)
    sw = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    weights = np.ones(X.shape[1] // B)
    lam = 0.2 * _lam_max(X, y, weights, fit_intercept=fit_intercept)
    fit = jax.jit(
        lambda sw: jr.linear.fit(
            X,
            y,
            jr.group_lasso(lam, reshape=(-1, B)),
            sample_weight=sw,
            tol=1e-14,
            fit_intercept=fit_intercept,
        )  # fmt: skip
    )(sw)
    assert bool(fit.converged)
    sn = sw / sw.sum()
    xbar, ybar = (sn @ X, sn @ y) if fit_intercept else (np.zeros(X.shape[1]), 0.0)
    root = np.sqrt(len(y) * sn)
    Xs, ys = (X - xbar) * root[:, None], (y - ybar) * root
    coef, _ = _skglm(Xs, ys, lam, weights, fit_intercept=False)
    np.testing.assert_allclose(np.asarray(fit.coef), coef, rtol=0, atol=1e-6 * np.abs(coef).max())
    np.testing.assert_allclose(float(fit.intercept), ybar - xbar @ coef, rtol=0, atol=1e-6)


def test_unpenalized_groups_get_their_exact_step():
    """A group of weight 0 is free (`_unpenalized.py` in blocks): its coefficients are those of
    least squares on it given the others, checked by the normal equations."""
    X, y = _data(n=70, p=48, seed=7, offset=0.7)
    weights = np.ones(X.shape[1] // B)
    weights[[2, 5]] = 0.0
    lam = 0.3 * _lam_max(X, y, weights)
    fit = jr.linear.fit(X, y, jr.group_lasso(lam, reshape=(-1, B), weights=weights), tol=1e-14)
    assert bool(fit.converged)
    coef, icpt = _skglm(X, y, lam, weights, fit_intercept=True)
    np.testing.assert_allclose(np.asarray(fit.coef), coef, rtol=0, atol=1e-6 * np.abs(coef).max())
    r = y - X @ np.asarray(fit.coef) - float(fit.intercept)
    free = np.concatenate([np.arange(2 * B, 3 * B), np.arange(5 * B, 6 * B)])
    np.testing.assert_allclose(X[:, free].T @ r / len(y), 0.0, atol=1e-9)
    assert abs(np.mean(r)) < 1e-10


def test_group_lasso_with_l2_weights_that_vary_inside_a_group_is_refused():
    """Then a group's term is no function of its norm (no block soft threshold, no conjugate
    of the gap's form): a clear error, not a fit of another objective."""
    X, y = _data(n=50, p=24, seed=2)
    pen = jr.group_lasso(0.02, reshape=(-1, B)) + jr.l2(0.5, weights=np.linspace(0.2, 3.0, 24))
    with pytest.raises(NotImplementedError, match="same within each group"):
        jr.linear.fit(X, y, pen, fit_intercept=False)


def test_group_lasso_with_an_l2_equals_the_minimum():
    """group lasso + l2 (the split's b > 0: the block prox divides by 1 + t b) against SciPy's
    BFGS on the objective, where every group is nonzero (smooth there)."""
    from scipy.optimize import minimize

    X, y = _data(n=50, p=24, seed=2)
    lam, mu = 0.02, 0.3
    pen = jr.group_lasso(lam, reshape=(-1, B)) + jr.l2(mu)
    fit = jr.linear.fit(X, y, pen, tol=1e-14)
    assert bool(fit.converged)
    Xc, yc = X - X.mean(0), y - y.mean()  # the intercept: centred data

    def objective(w):
        r = yc - Xc @ w
        return (
            0.5 * np.mean(r * r)
            + lam * np.sum(np.linalg.norm(w.reshape(-1, B), axis=1))
            + (0.5 * mu * w @ w)
        )

    ours = np.asarray(fit.coef)
    assert (np.linalg.norm(ours.reshape(-1, B), axis=1) > 0).all()
    ref = minimize(objective, ours + 0.01, method="BFGS", options={"gtol": 1e-13}).x
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)
    assert objective(ours) <= objective(ref) + 1e-12
