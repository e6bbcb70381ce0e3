"""`jr.linear.fit` / `path` against scikit-learn's own solvers (and skglm for MCP)."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_close
from jax.experimental import sparse as jsparse
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, enet_path, lasso_path

import jaxreg as jr

TIGHT = 1e-13


def correlated(n=120, p=300, rho=0.6, seed=0):
    rng = np.random.default_rng(seed)
    X = np.empty((n, p))
    X[:, 0] = rng.normal(size=n)
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * rng.normal(size=n)
    w = np.zeros(p)
    w[rng.choice(p, 10, replace=False)] = rng.normal(size=10) * 2
    return X, X @ w + rng.normal(size=n)


def sparse_design(n=200, p=400, density=0.01, seed=1):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csc", random_state=seed, dtype=np.float64)
    w = np.zeros(p)
    w[rng.choice(p, 10, replace=False)] = 3.0
    return X, X @ w + 0.1 * rng.normal(size=n)


def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X / X.std(0), y


def centered(X, y):
    return X - X.mean(0), y - y.mean()


def grid(X, y, num=20):
    lm = np.max(np.abs(X.T @ y)) / len(y)
    return jr.select.strength_grid(lm, num=num, ratio=1e-2)


def assert_same_coefs(ours, theirs, *, rtol, what=""):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=rtol * scale, err_msg=what)
    assert np.array_equal(ours == 0, theirs == 0), f"{what}: zero patterns differ"


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["diabetes", "correlated"])
def test_lasso_path_equals_sklearn(problem):
    X, y = diabetes() if problem == "diabetes" else correlated()
    Xc, yc = centered(X, y)
    alphas = grid(Xc, yc)
    _, coefs, _ = lasso_path(Xc, yc, alphas=alphas, tol=TIGHT, max_iter=100_000)
    res = jr.linear.path(Xc, yc, jr.l1, alphas, tol=TIGHT, fit_intercept=False)
    assert_same_coefs(res.coef, coefs.T, rtol=1e-6, what=problem)
    assert bool(res.converged.all())
    assert np.all(np.asarray(res.gap) <= TIGHT * np.sum(yc**2) / len(yc))
    ones = np.ones(len(yc))
    for k, (c, g) in enumerate(zip(np.asarray(res.coef), np.asarray(res.gap), strict=True)):
        gap = numpy_gap(Xc, yc, ones, c, 0.0, alphas[k], 0.0)  # from X, at the returned coef
        assert abs(gap - g) <= 1e-12 * np.sum(yc**2) / len(yc), (k, gap, g)
    # with an intercept, on the raw data: the same coefficients, sklearn's intercept
    res_b = jr.linear.path(X, y, jr.l1, alphas, tol=TIGHT)
    assert_same_coefs(res_b.coef, coefs.T, rtol=1e-6, what=f"{problem} with intercept")
    icpt = y.mean() - X.mean(0) @ coefs
    assert_close(np.asarray(res_b.intercept), icpt, rtol=1e-8)


@pytest.mark.slow
def test_enet_path_equals_sklearn():
    X, y = centered(*correlated(seed=2))
    alphas = grid(X, y) / 0.5
    _, coefs, _ = enet_path(X, y, l1_ratio=0.5, alphas=alphas, tol=TIGHT, max_iter=100_000)
    res = jr.linear.path(
        X, y, lambda s: jr.elastic_net(s, 0.5), alphas, tol=TIGHT, fit_intercept=False
    )
    assert_same_coefs(res.coef, coefs.T, rtol=1e-6)
    assert bool(res.converged.all())


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["scipy_csc", "scipy_csr", "bcoo"])
def test_sparse_design_equals_dense_and_sklearn(kind):
    X, y = sparse_design()
    alphas = grid(X.toarray(), y, num=10)
    # sklearn on sparse X without intercept (no centering of a sparse matrix)
    _, coefs, _ = lasso_path(X, y, alphas=alphas, tol=TIGHT, max_iter=100_000)
    Xk = {"scipy_csc": X, "scipy_csr": X.tocsr(), "bcoo": jsparse.BCOO.from_scipy_sparse(X)}[kind]
    res = jr.linear.path(Xk, y, jr.l1, alphas, tol=TIGHT, fit_intercept=False)
    assert_same_coefs(res.coef, coefs.T, rtol=1e-6, what=kind)
    dense = jr.linear.path(X.toarray(), y, jr.l1, alphas, tol=TIGHT, fit_intercept=False)
    assert_same_coefs(res.coef, dense.coef, rtol=1e-8, what="sparse vs dense")
    # with an intercept: sklearn's Lasso on sparse X fits it too
    m = Lasso(alpha=alphas[5], tol=TIGHT, max_iter=100_000).fit(X, y)
    f = jr.linear.fit(Xk, y, jr.l1(alphas[5]), tol=TIGHT)
    assert_same_coefs(f.coef, m.coef_, rtol=1e-6, what="intercept")
    assert_close(float(f.intercept), m.intercept_, rtol=1e-8)


@pytest.mark.slow
def test_logistic_l1_equals_sklearn():
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    n = len(y)
    for C in [0.05, 0.5]:
        m = LogisticRegression(C=C, l1_ratio=1.0, solver="saga", tol=1e-12, max_iter=200_000).fit(
            X, y
        )
        f = jr.linear.fit(X, y, jr.l1(1 / (C * n)), loss="logistic", tol=1e-12)
        assert bool(f.converged)
        assert_same_coefs(f.coef, m.coef_[0], rtol=1e-6, what=f"C={C}")
        assert_close(float(f.intercept), m.intercept_[0], rtol=1e-6)


@pytest.mark.slow
def test_weighted_l1_is_lasso_on_rescaled_columns():
    """sum_j w_j |b_j| with X is the Lasso with X_j / w_j and coefficients w_j b_j."""
    X, y = centered(*correlated(seed=3))
    weights = np.random.default_rng(0).uniform(0.3, 3.0, X.shape[1])
    alpha = grid(X, y)[6]
    m = Lasso(alpha=alpha, fit_intercept=False, tol=TIGHT, max_iter=100_000).fit(X / weights, y)
    f = jr.linear.fit(X, y, jr.l1(alpha, weights=weights), tol=TIGHT, fit_intercept=False)
    assert_same_coefs(np.asarray(f.coef) * weights, m.coef_, rtol=1e-6)


def test_sample_weight_equals_sklearn():
    X, y = diabetes()
    sw = np.random.default_rng(4).uniform(0.2, 2.0, len(y))
    m = ElasticNet(alpha=0.3, l1_ratio=0.7, tol=TIGHT, max_iter=100_000).fit(X, y, sample_weight=sw)
    f = jr.linear.fit(X, y, jr.elastic_net(0.3, 0.7), sample_weight=sw, tol=TIGHT)
    assert_same_coefs(f.coef, m.coef_, rtol=1e-6)
    assert_close(float(f.intercept), m.intercept_, rtol=1e-8)


@pytest.mark.slow
def test_group_lasso_path_equals_celer():
    """Groups of consecutive features (celer's ``groups=B``): ``group_lasso(s, reshape=(-1,
    B))``, block coordinate descent with each block's spectral norm."""
    celer = pytest.importorskip("celer")
    X, y = centered(*correlated(n=100, p=90, seed=6))
    B = 3
    lm = np.max(np.linalg.norm((X.T @ y).reshape(-1, B), axis=1)) / len(y)
    alphas = jr.select.strength_grid(lm, num=8, ratio=1e-2)
    res = jr.linear.path(
        X,
        y,
        lambda s: jr.group_lasso(s, reshape=(-1, B)),
        alphas,
        tol=TIGHT,
        fit_intercept=False,
    )
    assert bool(res.converged.all())
    for k, a in enumerate(alphas):
        m = celer.GroupLasso(groups=B, alpha=a, fit_intercept=False, tol=1e-14, max_iter=10_000)
        m.fit(X, y)
        assert_same_coefs(res.coef[k], m.coef_, rtol=1e-6, what=f"alpha {a:.3g}")
    # whole groups are zero or not
    blocks = np.asarray(res.coef).reshape(len(alphas), -1, B)
    assert np.all((blocks == 0).all(-1) | (blocks != 0).all(-1))
    # weighted groups, with an intercept, against jr.solve's FISTA on the same objective
    weights = np.linspace(0.5, 2.0, 30)
    pen = jr.group_lasso(alphas[4], reshape=(-1, B), weights=weights)
    f = jr.linear.fit(X + 1.0, y + 5.0, pen, tol=TIGHT)
    Xj, yj = jnp.asarray(X + 1.0), jnp.asarray(y + 5.0)

    def objective(wb):
        return 0.5 * jnp.mean((Xj @ wb["w"] + wb["b"] - yj) ** 2)

    ref, _ = jr.solve(
        objective,
        jr.group_lasso(alphas[4], reshape=(-1, B), weights=weights, mask={"w": True, "b": False}),
        {"w": jnp.zeros(90), "b": jnp.zeros(())},
        tol=1e-14,
        max_iter=200_000,
    )
    assert_same_coefs(f.coef, ref["w"], rtol=1e-6, what="weighted, intercept")
    assert_close(float(f.intercept), float(ref["b"]), rtol=1e-8)


def test_group_lasso_configurations_that_are_refused():
    X, y = correlated(n=30, p=12)
    with pytest.raises(NotImplementedError, match="consecutive features"):
        jr.linear.fit(X, y, jr.group_lasso(0.1, reshape=(-1, 3), axis=0))
    with pytest.raises(NotImplementedError, match="one group size"):
        jr.linear.fit(
            X, y, jr.group_lasso(0.1, reshape=(-1, 3)) + jr.group_lasso(0.1, reshape=(-1, 4))
        )
    with pytest.raises(NotImplementedError, match="dense X"):
        jr.linear.fit(sp.csc_matrix(X), y, jr.group_lasso(0.1, reshape=(-1, 3)))
    with pytest.raises(NotImplementedError, match="elementwise penalties"):
        jr.linear.fit(X, y, jr.group_lasso(0.1))  # one group of every feature: no reshape


@pytest.mark.slow
def test_cross_validate_equals_lasso_cv():
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    X, y = diabetes()
    alphas = grid(*centered(X, y), num=15)
    m = LassoCV(alphas=alphas, cv=KFold(5), tol=TIGHT, max_iter=100_000).fit(X, y)
    cv = jr.linear.cross_validate(X, y, jr.l1, alphas, folds=KFold(5), tol=TIGHT)
    # LassoCV's mse_path_ is (alphas in its own descending order, folds)
    order = np.argsort(-np.asarray(m.alphas_))
    assert_close(np.asarray(m.alphas_)[order], alphas, rtol=1e-12)
    assert_close(-cv.scores.T, m.mse_path_[order], rtol=1e-6)
    assert cv.best_strength == pytest.approx(m.alpha_, rel=1e-12)
    vm = jr.linear.cross_validate(X, y, jr.l1, alphas, folds=KFold(5), tol=TIGHT, vmap_folds=True)
    assert_close(vm.scores, cv.scores, rtol=1e-10)


def counts(n=300, p=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * 0.5
    w = np.zeros(p)
    w[:4] = [0.5, -0.4, 0.3, 0.2]
    return X, rng.poisson(np.exp(X @ w + 0.7)).astype(float)


def test_poisson_l2_equals_sklearn_poisson_regressor():
    """PoissonRegressor(alpha): mean half deviance + alpha/2 ||w||^2, our loss up to a
    constant with jr.l2(alpha)."""
    from sklearn.linear_model import PoissonRegressor

    X, y = counts()
    for alpha in [0.01, 0.1]:
        m = PoissonRegressor(alpha=alpha, tol=1e-12, max_iter=10_000).fit(X, y)
        f = jr.linear.fit(X, y, jr.l2(alpha), loss="poisson", tol=1e-12)
        assert bool(f.converged)
        assert_close(np.asarray(f.coef), m.coef_, rtol=1e-6)
        assert_close(float(f.intercept), m.intercept_, rtol=1e-7)


@pytest.mark.parametrize("loss", ["poisson", "huber"])
def test_l1_with_poisson_and_huber_equals_fista(loss):
    """No scikit-learn estimator has these with an L1 penalty: jr.solve's FISTA (a different
    algorithm, to 1e-14) on the same objective is the reference."""
    X, y = counts(seed=1)
    if loss == "huber":
        y = y + np.random.default_rng(2).standard_t(2, size=len(y))  # heavy tails
    lam = 0.02
    f = jr.linear.fit(X, y, jr.l1(lam), loss=loss, tol=1e-12)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def objective(q):
        z = Xj @ q["w"] + q["b"]
        if loss == "poisson":
            return jnp.mean(jnp.exp(z) - yj * z)
        r = jnp.abs(z - yj)
        return jnp.mean(jnp.where(r <= 1.35, 0.5 * r * r, 1.35 * r - 0.5 * 1.35**2))

    ref, info = jr.solve(
        objective,
        jr.l1(lam, mask={"w": True, "b": False}),
        {"w": jnp.zeros(X.shape[1]), "b": jnp.zeros(())},
        tol=1e-14,
        max_iter=200_000,
    )
    assert bool(f.converged)
    assert_same_coefs(f.coef, ref["w"], rtol=1e-6, what=loss)
    assert_close(float(f.intercept), float(ref["b"]), rtol=1e-7)
    assert 0 < np.count_nonzero(np.asarray(f.coef)) < X.shape[1]


@pytest.mark.slow
def test_no_l1_part_ridge_and_ols_equal_sklearn():
    """Found by a review: penalties without an l1 part returned zeros marked converged."""
    from sklearn.linear_model import LinearRegression, Ridge

    X, y = diabetes()
    n = len(y)
    m = Ridge(alpha=0.1 * n, tol=1e-12).fit(X, y)  # Ridge's alpha / n is our l2 strength
    for pen in [jr.l2(0.1), jr.elastic_net(0.1, 0.0)]:
        f = jr.linear.fit(X, y, pen, tol=TIGHT)
        assert bool(f.converged) and float(f.gap) >= 0
        # a gap g certifies |w - w*| <= sqrt(2 g / mu): 1e-5 relative here
        assert_close(np.asarray(f.coef), m.coef_, rtol=1e-5, what=repr(pen))
    ols = LinearRegression().fit(X, y)
    for pen in [jr.l1(0.0), jr.l1(0.1, weights=np.zeros(10))]:
        f = jr.linear.fit(X, y, pen, tol=1e-14, max_iter=1000)
        assert_close(np.asarray(f.coef), ols.coef_, rtol=1e-5, what=repr(pen))
    with pytest.raises(
        ValueError, match="does not apply to the coefficient vector|penalizes matrices"
    ):
        jr.linear.fit(X, y, jr.nuclear(0.5))


@pytest.mark.slow
def test_nan_data_and_traced_negative_strength_give_nan():
    X, y = diabetes()
    Xn = X.copy()
    Xn[3, 4] = np.nan
    for fi in (True, False):
        with pytest.warns(RuntimeWarning, match="did not reach tol"):
            f = jr.linear.fit(Xn, y, jr.l1(0.5), fit_intercept=fi)
        assert np.isnan(np.asarray(f.coef)).all() and not bool(f.converged)
    f = jax.jit(lambda s: jr.linear.fit(X, y, jr.l1(s)))(-1.0)
    assert np.isnan(np.asarray(f.coef)).all() and not bool(f.converged)


@pytest.mark.slow
def test_mcp_reaches_skglm_objective():
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Quadratic
    from skglm.penalties import MCPenalty
    from skglm.solvers import AndersonCD

    X, y = centered(*correlated(seed=5))
    lam = grid(X, y)[8]
    solver = AndersonCD(tol=1e-12, max_iter=1000)
    est = GeneralizedLinearEstimator(Quadratic(), MCPenalty(alpha=lam, gamma=3.0), solver)
    est.fit(X, y)
    f = jr.linear.fit(X, y, jr.mcp(lam, 3.0), tol=1e-12, fit_intercept=False)
    pen = jr.mcp(lam, 3.0)

    def objective(w):
        return 0.5 * np.mean((y - X @ w) ** 2) + float(pen(jnp.asarray(w)))

    assert objective(np.asarray(f.coef)) <= objective(est.coef_) * (1 + 1e-8)
    assert float(f.gap) <= 1e-12 * np.mean(y**2)  # the stationarity residual


@pytest.mark.slow
def test_float32_close_to_float64_and_jit_vmap():
    X, y = diabetes()
    f64 = jr.linear.fit(X, y, jr.l1(0.5), tol=1e-10)
    f32 = jr.linear.fit(X, y, jr.l1(0.5), tol=1e-5, dtype=jnp.float32)
    assert f32.coef.dtype == jnp.float32
    assert_close(np.asarray(f32.coef), np.asarray(f64.coef), rtol=0, atol=1e-3 * 700)

    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    @jax.jit
    def coef(lam):
        return jr.linear.fit(Xj, yj, jr.l1(lam), tol=1e-10).coef

    assert_close(np.asarray(coef(0.5)), np.asarray(f64.coef), rtol=1e-9)
    batched = jax.vmap(coef)(jnp.array([0.2, 0.5, 2.0]))
    assert_close(np.asarray(batched[1]), np.asarray(f64.coef), rtol=1e-9)


@pytest.mark.slow
def test_nan_in_the_data_propagates():
    X, y = diabetes()
    y = y.copy()
    y[3] = np.nan
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        f = jr.linear.fit(X, y, jr.l1(0.5), max_iter=5)
    assert np.isnan(float(f.gap)) and not bool(f.converged)
    assert np.isnan(np.asarray(f.coef)).all()


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"loss": "hinge"}, ValueError, "loss must be one of"),
        ({"tol": 0.0}, ValueError, "tol must be a finite number > 0"),
        ({"max_iter": 0}, ValueError, "max_iter must be an int >= 1"),
        ({"anderson": 1}, ValueError, "anderson must be 0"),
        ({"y": np.ones(3)}, ValueError, r"y must have shape \(n_samples,\)"),
        ({"sample_weight": -np.ones(442)}, ValueError, "sample_weight must be finite and >= 0"),
        ({"loss": "logistic"}, ValueError, "labels y in"),
        ({"loss": "poisson", "y": -np.ones(442)}, ValueError, "counts y >= 0"),
        ({"penalty": jr.group_lasso(0.1)}, NotImplementedError, "elementwise penalties"),
        ({"penalty": jr.l1}, TypeError, "penalty must be a jaxreg Penalty"),
        ({"init": (np.zeros(3), 0.0)}, ValueError, "init must be"),
        ({"loss": "huber", "huber_delta": 0.0}, ValueError, "huber_delta must be a finite"),
        ({"dtype": np.int32}, ValueError, "dtype must be float32, float64 or None"),
        ({"X": np.zeros((0, 3)), "y": np.zeros(0)}, ValueError, r"got shape \(0, 3\)"),
        ({"X": np.zeros((5, 0)), "y": np.zeros(5)}, ValueError, r"got shape \(5, 0\)"),
        ({"loss": "logistic", "y": np.r_[0.0, 2.0, np.ones(440)]}, ValueError, "y holds 2"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    X, y = diabetes()
    args = {"X": X, "y": y, "penalty": jr.l1(0.5)}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        jr.linear.fit(args.pop("X"), args.pop("y"), args.pop("penalty"), **args)


def numpy_gap(X, y, sw, coef, intercept, a, b2):
    """The duality gap of the weighted elastic net at (coef, intercept), from X in NumPy: the
    residual as dual point, rescaled into the l1 dual ball when there is no l2 part."""
    sn = sw / sw.sum()
    r = y - X @ coef - intercept
    primal = 0.5 * np.sum(sn * r * r) + a * np.abs(coef).sum() + 0.5 * b2 * coef @ coef
    g = np.abs(X.T @ (sn * r))
    if b2 == 0:
        u = r * min(1.0, a / g.max())
        return primal - np.sum(sn * (u * y - 0.5 * u * u))
    conj = np.sum(np.maximum(g - a, 0.0) ** 2) / (2 * b2)
    return primal - (np.sum(sn * (r * y - 0.5 * r * r)) - conj)


@pytest.mark.slow
def test_least_squares_solver_equals_sklearn_weights_intercept_and_true_gaps():
    """The squared loss's own inner solver (working sets of every capacity: 64, 256, 600
    here; blocks of 8 cut at the working set's end; Gram-carried gradient on small sets)
    against ElasticNet with sample weights and an intercept; each reported gap recomputed in
    NumPy from X at the returned coefficients; float32's gaps true in float64. (The l1 gaps:
    test_lasso_path_equals_sklearn.)"""
    l1_ratio = 0.8
    X, y = correlated(n=150, p=600, rho=0.5, seed=5)
    X = X + 1.0  # uncentred columns: the intercept matters
    sw = np.random.default_rng(6).uniform(0.2, 2.0, len(y))
    sn = sw / sw.sum()
    yc = y - sn @ y
    lmax = np.max(np.abs((X - sn @ X).T @ (sn * yc))) / l1_ratio
    alphas = np.asarray(jr.select.strength_grid(lmax, num=8, ratio=2e-3))
    pen = lambda s: jr.elastic_net(s, l1_ratio)  # noqa: E731
    res = jr.linear.path(X, y, pen, alphas, sample_weight=sw, tol=TIGHT)
    assert bool(res.converged.all())
    assert (np.asarray(res.coef) != 0).sum(1).max() > 128  # a working set above 256
    scale = np.sum(sn * yc**2)
    for k in (0, 4, 7):
        m = ElasticNet(alpha=alphas[k], l1_ratio=l1_ratio, tol=TIGHT, max_iter=100_000)
        m.fit(X, y, sample_weight=sw)
        # within 1e-6 of the largest, or of what both gaps certify where that is looser: the
        # objective is mu-strongly convex in w (mu = the l2 part), so ||w - w*|| <=
        # sqrt(2 gap / mu) (at the smallest strength mu is 8e-4: ~2e-5 for a gap of 3e-14)
        mu = alphas[k] * (1 - l1_ratio)
        gap_sk = numpy_gap(X, y, sw, m.coef_, m.intercept_, alphas[k] * l1_ratio, mu)
        certified = np.sqrt(2 * float(res.gap[k]) / mu) + np.sqrt(2 * max(gap_sk, 0.0) / mu)
        diff = np.linalg.norm(np.asarray(res.coef[k]) - m.coef_)
        assert diff <= max(1e-6 * np.abs(m.coef_).max(), certified), (k, diff, certified)
        assert np.array_equal(np.asarray(res.coef[k]) != 0, m.coef_ != 0) or diff <= certified
        # (each intercept is exact for its own coefficients, which agree to 1e-6 of the largest)
        top = max(np.abs(m.coef_).max(), 1.0)
        assert_close(float(res.intercept[k]), m.intercept_, rtol=0, atol=1e-5 * top)
    for k in range(len(alphas)):
        a, b2 = alphas[k] * l1_ratio, alphas[k] * (1 - l1_ratio)
        coef, icpt = np.asarray(res.coef[k]), float(res.intercept[k])
        gap = numpy_gap(X, y, sw, coef, icpt, a, b2)
        assert abs(gap - float(res.gap[k])) <= 1e-12 * scale + 1e-6 * abs(gap), k
        assert float(res.gap[k]) <= TIGHT * scale
    f32 = jr.linear.path(X, y, pen, alphas, sample_weight=sw, tol=1e-5, dtype=jnp.float32)
    assert f32.coef.dtype == jnp.float32 and bool(f32.converged.all())
    # (at tol=1e-5 the coefficients themselves move by up to 1e-2 of the largest, float64 as
    # well: the gap, an objective bound, is what float32 must certify)
    gap32 = [
        numpy_gap(X, y, sw, np.asarray(f32.coef[k], np.float64), float(f32.intercept[k]),
                  alphas[k] * l1_ratio, alphas[k] * (1 - l1_ratio))
        for k in range(len(alphas))
    ]  # fmt: skip
    assert max(gap32) <= 2e-5 * scale  # the float32 gaps hold in float64 too
    assert_close(np.asarray(f32.gap, np.float64), np.array(gap32), rtol=0, atol=1e-6 * scale)


def test_select_cross_validate_given_data_is_linear_cross_validate_and_lasso_cv():
    """``jr.select.cross_validate(loss, penalty, strengths, X, y)`` runs jr.linear's path per
    fold: LassoCV's choice and MSE path, at the default tol (1e-4) of both."""
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    X, y = diabetes()
    alphas = grid(*centered(X, y), num=15)
    cv = jr.select.cross_validate("squared", jr.l1, alphas, X, y, folds=KFold(5))
    direct = jr.linear.cross_validate(X, y, jr.l1, alphas, folds=KFold(5))
    assert_close(cv.scores, direct.scores, rtol=0)
    m = LassoCV(alphas=alphas, cv=KFold(5)).fit(X, y)
    order = np.argsort(-np.asarray(m.alphas_))
    assert_close(-cv.scores.T, m.mse_path_[order], rtol=1e-3)
    assert cv.best_strength == pytest.approx(m.alpha_, rel=1e-12)
    with pytest.raises(ValueError, match="does not shard over devices"):
        jr.select.cross_validate("squared", jr.l1, alphas, X, y, devices=jax.devices())
    # solver options go on to jr.linear.cross_validate
    cv = jr.select.cross_validate("squared", jr.l1, alphas, X, y, folds=KFold(5), tol=1e-10)
    direct = jr.linear.cross_validate(X, y, jr.l1, alphas, folds=KFold(5), tol=1e-10)
    assert_close(cv.scores, direct.scores, rtol=0)
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        jr.select.cross_validate(lambda s, X, y: s, lambda p, X, y: 0.0, alphas, X, y, tol=1.0)


@pytest.mark.slow
def test_nan_in_x_propagates_through_every_path():
    """Found by a review: the least-squares path with NaN in a dense X returned zeros, the
    mean as intercept and converged=True (the dual's rescaling compared NaN and dropped it)."""
    X, y = diabetes()
    Xn = X.copy()
    Xn[3, 2] = np.nan
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    cases = [  # one compile each: variants merged
        (Xn, jr.l1, [1.0, 0.1], {"sample_weight": sw}),
        (Xn, jr.l1, [0.5], {"fit_intercept": False, "dtype": jnp.float32}),
        (Xn, jr.l1(1.0, weights=np.linspace(0, 1, 10)), [1.0, 0.1], {}),
    ]  # (elastic net, CSC, MCP, ... kept NaN already: one compile each, left out)
    for Xc, pen, strengths, kw in cases:
        with pytest.warns(RuntimeWarning, match="did not reach tol"):
            r = jr.linear.path(Xc, y, pen, strengths, **kw)
        assert np.isnan(np.asarray(r.coef)).all(), kw
        assert np.isnan(np.asarray(r.gap)).all() and not np.asarray(r.converged).any(), kw


@pytest.mark.slow
def test_float32_path_does_not_give_up_before_max_iter():
    """Found by a review: a float32 path stopped after 1 iteration, converged=False with a gap
    1.004 x tol: the loop stopped on its own gap, and the returned one, recomputed at the same
    point with another fusion, landed just above tol. Now every strength either converges
    (its reported gap within tol) or ran max_iter iterations."""
    X, y = centered(*correlated(n=150, p=600, rho=0.5, seed=3))
    alphas = np.asarray(grid(X, y, num=30))
    r = jr.linear.path(X, y, jr.l1, alphas, fit_intercept=False, tol=1e-8, dtype=jnp.float32)
    conv, it = np.asarray(r.converged), np.asarray(r.iterations)
    assert np.all(conv | (it == 100))
    floor = 50 * np.finfo(np.float32).eps * np.mean(y**2)  # tol's float32 floor
    assert np.all(np.asarray(r.gap)[conv] <= floor * (1 + 1e-6))


@pytest.mark.slow
def test_path_under_jit_equals_eager():
    """Found by a review: path was not jit-able (float(strengths[0]) on a tracer)."""
    X, y = diabetes()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    strengths = np.geomspace(10, 0.01, 5)
    eager = jr.linear.path(X, y, jr.l1, strengths, sample_weight=sw, tol=TIGHT)

    @jax.jit
    def traced(X, y, sw, s):
        return jr.linear.path(X, y, jr.l1(1.0), s, sample_weight=sw, tol=TIGHT)

    res = traced(X, y, sw, strengths)
    assert bool(res.converged.all())
    assert_close(np.asarray(res.coef), np.asarray(eager.coef), rtol=1e-9)
    assert_close(np.asarray(res.intercept), np.asarray(eager.intercept), rtol=1e-9)
    bad = traced(X, y, sw, -strengths)  # traced bad strengths: NaN, not an error
    assert np.isnan(np.asarray(bad.coef)).all() and not np.asarray(bad.converged).any()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda X, y: jr.linear.path(X, y, jr.l1, [1.0, -1.0]), r"strengths\[1\]=-1.0"),
        (lambda X, y: jr.linear.path(X, y, jr.l1(1.0), [np.nan]), r"strengths\[0\]=nan"),
        (lambda X, y: jr.linear.cross_validate(X, y, jr.l1, [1.0, -2.0]), "strengths must be"),
        (lambda X, y: jr.linear.fit(X, y, jr.l1(1.0), init=np.zeros(10)), "init must be a pair"),
        (lambda X, y: jr.linear.fit(X, y * 0 + 1, jr.l1(0.1), loss="logistic"), "single class"),
    ],
)
def test_clear_errors_for_bad_strengths_init_and_single_class(call, match):
    with pytest.raises(ValueError, match=match):
        call(*diabetes())


def test_float64_without_x64_is_a_clear_error():
    X, y = diabetes()
    with jax.enable_x64(False), pytest.raises(ValueError, match="jax_enable_x64"):
        jr.linear.fit(X, y, jr.l1(1.0), dtype=np.float64)


@pytest.mark.slow
def test_strength_zero_certificate_is_honest_against_linear_regression():
    """Found by a review: at strength 0 the unpenalized features' bound ||g_j||^2 / L_j said
    converged with coefficients 0.72 relative off OLS (the bound is loose by X's conditioning).
    Now their quadratic is solved exactly, and converged means within tol of the optimum."""
    from sklearn.linear_model import LinearRegression

    X, y = load_diabetes(return_X_y=True)  # unscaled: ill-conditioned columns
    ols = LinearRegression().fit(X, y)
    scale = np.mean((y - y.mean()) ** 2)

    def subopt(coef, icpt):
        def obj(c, b):
            return 0.5 * np.mean((y - X @ c - b) ** 2)

        return (obj(np.asarray(coef), float(icpt)) - obj(ols.coef_, ols.intercept_)) / scale

    r = jr.linear.path(X, y, jr.l1, [1.0, 0.0])
    f = jr.linear.fit(X, y, jr.l1(0.0))
    for coef, icpt, conv in [
        (r.coef[1], r.intercept[1], r.converged[1]),
        (f.coef, f.intercept, f.converged),
    ]:
        assert bool(conv) and subopt(coef, icpt) <= 1e-4
        assert_close(np.asarray(coef), ols.coef_, rtol=1e-6)


@pytest.mark.slow
def test_sparse_least_squares_solver_equals_sklearn_and_true_gaps():
    """The squared loss's inner solver on padded sparse columns (one carried buffer, working
    sets of 64 to 300 here) against lasso_path on the CSC matrix (identical zero patterns) and
    ElasticNet with sample weights and an intercept; every gap recomputed in NumPy from X."""
    X, y = sparse_design(n=200, p=300, density=0.05, seed=3)
    y = y + np.random.default_rng(4).normal(size=len(y))  # a noisy fit: large supports
    alphas = grid(X.toarray(), y, num=8)
    _, coefs, _ = lasso_path(X, y, alphas=alphas, tol=TIGHT, max_iter=100_000)
    res = jr.linear.path(X, y, jr.l1, alphas, tol=TIGHT, fit_intercept=False)
    assert_same_coefs(res.coef, coefs.T, rtol=1e-6, what="sparse lasso path")
    assert bool(res.converged.all())
    assert (np.asarray(res.coef) != 0).sum(1).max() > 128  # a working set above 256
    Xd, ones, scale = X.toarray(), np.ones(len(y)), np.sum(y**2) / len(y)
    for k in range(len(alphas)):
        gap = numpy_gap(Xd, y, ones, np.asarray(res.coef[k]), 0.0, alphas[k], 0.0)
        assert abs(gap - float(res.gap[k])) <= 1e-12 * scale, (k, gap, float(res.gap[k]))
        assert float(res.gap[k]) <= TIGHT * scale
    # weights and an intercept, on 60 of the features (one capacity: a quick compile)
    X, Xd = X[:, :60], Xd[:, :60]
    sw = np.random.default_rng(5).uniform(0.2, 2.0, len(y))
    m = ElasticNet(alpha=alphas[5], l1_ratio=0.7, tol=TIGHT, max_iter=100_000)
    m.fit(Xd, y, sample_weight=sw)
    f = jr.linear.fit(X, y, jr.elastic_net(alphas[5], 0.7), sample_weight=sw, tol=TIGHT)
    assert_same_coefs(f.coef, m.coef_, rtol=1e-6, what="elastic net, weights, intercept")
    top = max(np.abs(m.coef_).max(), 1.0)  # the intercept is exact for its own coefficients
    assert_close(float(f.intercept), m.intercept_, rtol=0, atol=1e-5 * top)
    sn = sw / sw.sum()
    gap = numpy_gap(Xd, y, sw, np.asarray(f.coef), float(f.intercept), alphas[5] * 0.7,
                    alphas[5] * 0.3)  # fmt: skip
    assert abs(gap - float(f.gap)) <= 1e-12 * np.sum(sn * (y - sn @ y) ** 2)


@pytest.mark.slow
def test_path_warm_start_from_init():
    """``path(init=(coef, intercept))`` starts there: from a fit's solution, 0 iterations."""
    X, y = diabetes()
    f = jr.linear.fit(X, y, jr.l1(0.5), tol=TIGHT)
    r = jr.linear.path(X, y, jr.l1, [0.5, 0.2], init=(f.coef, f.intercept), tol=TIGHT)
    cold = jr.linear.path(X, y, jr.l1, [0.5, 0.2], tol=TIGHT)
    assert int(r.iterations[0]) == 0 and bool(r.converged.all())
    assert_close(np.asarray(r.coef), np.asarray(cold.coef), rtol=1e-9)
    with pytest.raises(ValueError, match="init must be a pair"):
        jr.linear.path(X, y, jr.l1, [0.5], init=np.zeros(10))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dense", "csc"])
def test_uncentred_columns_converge_fast_and_equal_sklearn(kind):
    """Columns of mean 10 with an intercept: the least-squares solvers work on implicitly
    centred columns (as scikit-learn does); before, CD had to move the intercept after every
    coefficient and ran 500 outer iterations (2.4 M epochs) without reaching tol=1e-10."""
    rng = np.random.default_rng(19)
    n, p = 200, 300
    X = rng.standard_normal((n, p))
    X[:, :20] += 10.0
    y = X[:, :5].sum(1) + X[:, 20:25].sum(1) + rng.standard_normal(n)
    a = np.abs((X - X.mean(0)).T @ (y - y.mean())).max() / n / 100
    ref = Lasso(alpha=a, tol=1e-14, max_iter=10**6).fit(X, y)
    Xin = X if kind == "dense" else sp.csc_matrix(X)
    res = jr.linear.fit(Xin, y, jr.l1(a), tol=1e-10, max_iter=50)
    assert bool(res.converged) and int(res.iterations) <= 30
    assert_same_coefs(res.coef, ref.coef_, rtol=1e-6)
    assert_close(float(res.intercept), ref.intercept_, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "p"), [("csc", 50), ("dense", 513)])
def test_correlated_unpenalized_features_are_exact_and_certified(kind, p):
    """Three unpenalized features (weight 0), two correlated 0.99995, on a sparse X and on a
    dense X of more than 512 features: the exact Newton step on them and its exact excess in
    the certificate (the per-coordinate bound ||g_j||^2 / L_j claimed 1e-13 where the excess
    was 7e-10, coefficients 4e-4 off). Reference: the unpenalized features and the intercept
    profiled out by a QR projection, then scikit-learn's Lasso."""
    rng = np.random.default_rng(6)
    n, a = (100, 0.05) if p < 100 else (1000, 0.05)
    X = rng.standard_normal((n, p))
    X[:, 1] = X[:, 0] + 0.01 * rng.standard_normal(n)
    y = X[:, :10] @ np.ones(10) + rng.standard_normal(n) + 3
    wts = np.ones(p)
    wts[:3] = 0
    A = np.c_[X[:, :3], np.ones(n)]
    Q, _ = np.linalg.qr(A)
    proj = lambda M: M - Q @ (Q.T @ M)  # noqa: E731
    las = Lasso(alpha=a, fit_intercept=False, tol=1e-15, max_iter=10**7)
    las.fit(proj(X[:, 3:]), proj(y))
    sol = np.linalg.lstsq(A, y - X[:, 3:] @ las.coef_, rcond=None)[0]
    w_ref, b_ref = np.r_[sol[:3], las.coef_], sol[3]
    Xin = sp.csc_matrix(X) if kind == "csc" else X
    res = jr.linear.fit(Xin, y, jr.l1(a, weights=wts), tol=1e-12, max_iter=200)
    assert bool(res.converged)
    assert_same_coefs(res.coef, w_ref, rtol=1e-8)
    assert_close(float(res.intercept), b_ref, rtol=1e-8)


@pytest.mark.slow
def test_review_edge_cases_nan_labels_templates_traced_weights_and_path_restart():
    """NaN in y reaches the coefficients for the logistic loss too (no label error); a
    Penalty template must have strength 1 (l1(2.0) was scaled silently, and cross_validate's
    best strength was off by 2); a traced negative sample weight gives NaN as eagerly an
    error; a traced NaN strength in a jitted path leaves the later strengths as eager."""
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    yn = y.astype(float)
    yn[3] = np.nan
    with pytest.warns(RuntimeWarning, match="did not reach tol"):
        res = jr.linear.fit(X, yn, jr.l1(0.01), loss="logistic", max_iter=3)
    assert np.isnan(np.asarray(res.coef)).all() and not bool(res.converged)
    Xd, yd = diabetes()
    with pytest.raises(ValueError, match="build it with strength 1"):
        jr.linear.path(Xd, yd, jr.l1(2.0), [0.1])
    good = jr.linear.path(Xd, yd, jr.l1(1.0), [0.1])  # a template of strength 1 is fine
    assert_same_coefs(good.coef[0], jr.linear.fit(Xd, yd, jr.l1(0.1)).coef, rtol=1e-9)
    f = jax.jit(lambda sw: jr.linear.fit(Xd, yd, jr.l1(0.1), sample_weight=sw).coef)
    assert np.isnan(np.asarray(f(-np.ones(len(yd))))).all()
    lmax = float(np.max(np.abs(Xd.T @ (yd - yd.mean())))) / len(yd)
    s = np.asarray(jr.select.strength_grid(lmax, num=5, ratio=1e-2))
    bad = s.copy()
    bad[1] = np.nan
    jp = jax.jit(lambda st: jr.linear.path(Xd, yd, jr.l1, st))
    got, ref = jp(jnp.asarray(bad)), jr.linear.path(Xd, yd, jr.l1, s)
    assert np.isnan(np.asarray(got.coef[1])).all()
    for k in (0, 2, 3, 4):
        assert_same_coefs(got.coef[k], ref.coef[k], rtol=1e-6)


@pytest.mark.slow
def test_more_unpenalized_features_than_certified_is_uncertified_not_nan():
    """65 unpenalized features on 520 (> 512: up to 64 are solved exactly): the fit stops on
    its looser bound with usable coefficients and converged False (it returned NaN)."""
    rng = np.random.default_rng(1)
    n, p = 200, 520
    X = rng.standard_normal((n, p))
    y = X[:, :5] @ rng.standard_normal(5) + rng.standard_normal(n)
    w = np.ones(p)
    w[:65] = 0
    with pytest.warns(RuntimeWarning, match="more than 64 unpenalized"):
        res = jr.linear.fit(X, y, jr.l1(0.05, weights=w), tol=1e-2)
    assert not bool(res.converged) and np.isfinite(np.asarray(res.coef)).all()
    r = y - X @ np.asarray(res.coef) - float(res.intercept)
    assert 0.5 * np.mean(r * r) < 0.5 * np.var(y)  # a fit, not the start


class _CompileCounter(logging.Handler):
    """Counts the compilations `jax.log_compiles` reports."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += record.getMessage().startswith("Compiling")


def compilations(f):
    counter = _CompileCounter()
    logger = logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles():
            out = f()
    finally:
        logger.removeHandler(counter)
    return counter.count, out


@pytest.mark.slow
def test_template_and_builder_compile_once_per_shape():
    """A template (``jr.l1(1.0, weights=w)``) and a builder (``jr.l1``) compile their path on
    the first call only: a second call with other values of the same structure (other weights,
    other strengths, other data: ``X`` too) reuses it, as `fit` does (a template compiled at
    every call; whole seconds each), on a wide ``X`` and on a tall one. The
    template's path equals the equivalent builder's."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 12))
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(30)
    tall = rng.standard_normal((60, 12))
    w = np.linspace(0.5, 1.5, 12)
    s = np.array([0.3, 0.1, 0.02])
    calls = {
        "template": lambda X, y, w, s: jr.linear.path(X, y, jr.l1(1.0, weights=w), s),
        "builder": lambda X, y, w, s: jr.linear.path(X, y, jr.l1, s),
        "fit": lambda X, y, w, s: jr.linear.fit(X, y, jr.l1(s[1], weights=w)),
        "cv template": lambda X, y, w, s: jr.linear.cross_validate(
            X, y, jr.l1(1.0, weights=w), s, folds=3
        ),
        "cv builder": lambda X, y, w, s: jr.linear.cross_validate(X, y, jr.l1, s, folds=3),
    }
    for design in (X, tall):
        yd = design[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(len(design))
        for name, call in calls.items():
            call(design, yd, w, s)  # compiles (or not: an earlier test may have)
            count, _ = compilations(
                lambda call=call, d=design, yd=yd: call(2 * d[::-1], yd + 1, w[::-1], s / 2)
            )
            assert count == 0, f"{name}, {design.shape}: {count} compilations on the second call"
    template = jr.linear.path(X, y, jr.l1(1.0, weights=w), s)
    builder = jr.linear.path(X, y, lambda v: jr.l1(v, weights=w), s)
    assert_same_coefs(template.coef, builder.coef, rtol=1e-12)


@pytest.mark.parametrize("datafit", ["squared", "logistic", "huber", "poisson"])
def test_datafit_derivatives_and_dual_against_finite_differences_and_scipy(datafit):
    """Each loss class's derivative and curvature against central differences of its value;
    the dual term ``-sum s l*(-u)`` (squared, logistic) against the conjugate computed by
    scipy's scalar minimizer; the intercept step of the squared loss is exact."""
    from scipy.optimize import minimize_scalar

    from jaxreg._linear._datafits import datafit_for

    fit = datafit_for(datafit, 1.35)
    rng = np.random.default_rng(0)
    z = rng.normal(size=7) * 2
    y = {"logistic": (z > 0).astype(float), "poisson": np.floor(np.abs(z))}.get(datafit, z + 1)
    h = 1e-5
    value = lambda zz: np.asarray(fit.value(jnp.asarray(zz), jnp.asarray(y)))  # noqa: E731
    np.testing.assert_allclose(
        fit.derivative(z, y), (value(z + h) - value(z - h)) / (2 * h), atol=1e-7
    )
    deriv = lambda zz: np.asarray(fit.derivative(jnp.asarray(zz), jnp.asarray(y)))  # noqa: E731
    away = np.abs(z - y) > 1e-3  # the Huber loss's curvature jumps at |z - y| = delta
    fd = (deriv(z + h) - deriv(z - h)) / (2 * h)
    np.testing.assert_allclose(np.asarray(fit.curvature(z, y))[away], fd[away], atol=1e-6)
    sn = np.full(7, 1 / 7)
    if fit.has_dual:
        c = 0.7
        u = -c * deriv(z)
        conj = [  # l*(-u_i) = sup_t (-u_i t - l(y_i, t))
            -minimize_scalar(
                lambda t, i=i: u[i] * t + float(fit.value(jnp.asarray(t), jnp.asarray(y[i])))
            ).fun
            for i in range(7)
        ]
        np.testing.assert_allclose(fit.dual(y, sn, z, c), -np.sum(sn * conj), atol=1e-6)
    if fit.is_least_squares:
        b, zb, _ = fit.intercept_step(0.0, jnp.asarray(z), jnp.asarray(y), jnp.asarray(sn))
        np.testing.assert_allclose(float(b), np.mean(y - z), atol=1e-12)
