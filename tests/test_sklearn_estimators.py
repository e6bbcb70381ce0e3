"""from_sklearn / to_sklearn on the estimators of issue #25, against the fitted estimators'
own coefficients: fit scikit-learn, convert its (chosen) strength, solve the same data term
with jr.solve and compare coefficients; and fit what to_sklearn builds."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close

import jaxreg as jr

SUPPORTED = (
    "Lasso",
    "LassoCV",
    "ElasticNet",
    "ElasticNetCV",
    "MultiTaskLasso",
    "MultiTaskLassoCV",
    "MultiTaskElasticNet",
    "MultiTaskElasticNetCV",
    "Ridge",
    "RidgeCV",
    "RidgeClassifier",
    "RidgeClassifierCV",
    "LogisticRegression",
    "LogisticRegressionCV",
    "SGDRegressor",
    "SGDClassifier",
    "Perceptron",
    "PoissonRegressor",
    "GammaRegressor",
    "TweedieRegressor",
    "HuberRegressor",
    "QuantileRegressor",
    "LinearSVC",
    "LinearSVR",
    "MLPClassifier",
    "MLPRegressor",
)


def _regression(n=120, p=6, tasks=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    w = rng.normal(size=(p, tasks or 1)) * (rng.random((p, 1)) < 0.6)
    Y = X @ w + 0.5 + rng.normal(size=(n, tasks or 1))
    return X, (Y if tasks else Y[:, 0])


def _solve_squared(X, Y, pen):
    """argmin over (W, b) of 1/(2n) ||Y - X W - b||_F^2 + pen(W), by jr.solve."""
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    tasks = Y.shape[1:]

    def objective(p):
        return 0.5 * jnp.mean(jnp.sum(((Yj - Xj @ p["W"] - p["b"]) ** 2).reshape(len(Y), -1), 1))

    p0 = {"W": jnp.zeros((X.shape[1], *tasks)), "b": jnp.zeros(tasks)}
    sol, info = jr.solve(objective, pen, p0, max_iter=200_000, tol=1e-13)
    assert bool(info.converged)
    return sol


# --------------------------------------------------------------------------------------------
# Cross-validated estimators: the fitted alpha_ / C_ / l1_ratio_


@pytest.mark.parametrize(
    ("name", "kwargs", "tasks"),
    [
        ("LassoCV", {"alphas": [0.01, 0.1, 0.3]}, None),
        ("ElasticNetCV", {"alphas": [0.01, 0.1, 0.3], "l1_ratio": [0.2, 0.7]}, None),
        ("MultiTaskLassoCV", {"alphas": [0.05, 0.2, 0.5]}, 3),
        ("MultiTaskElasticNetCV", {"alphas": [0.05, 0.2], "l1_ratio": [0.3, 0.8]}, 3),
    ],
)
def test_cv_coordinate_descent_estimators_solve_to_their_coefficients(name, kwargs, tasks):
    from sklearn import linear_model

    X, Y = _regression(tasks=tasks)
    est = getattr(linear_model, name)(cv=3, tol=1e-13, max_iter=200_000, **kwargs).fit(X, Y)
    pen = jr.conventions.from_sklearn(est, mask={"W": True, "b": False})
    sol = _solve_squared(X, Y, pen)
    assert_close(sol["W"], est.coef_.T, rtol=1e-6, atol=1e-8)
    assert_close(sol["b"], est.intercept_, rtol=1e-6, atol=1e-8)
    ols = np.linalg.lstsq(np.c_[X, np.ones(len(X))], Y, rcond=None)[0][:-1]
    assert np.abs(est.coef_.T - ols).max() > 1e-2  # the penalty really matters


@pytest.mark.parametrize("name", ["RidgeCV", "Ridge"])
def test_ridge_and_ridge_cv_solve_to_their_coefficients(name):
    from sklearn import linear_model

    X, y = _regression(n=60)
    kwargs = {"alphas": (1.0, 10.0, 100.0)} if name == "RidgeCV" else {"alpha": 30.0}
    est = getattr(linear_model, name)(**kwargs).fit(X, y)
    pen = jr.conventions.from_sklearn(est, n_samples=len(y), mask={"W": True, "b": False})
    sol = _solve_squared(X, y, pen)
    assert_close(sol["W"], est.coef_, rtol=1e-7, atol=1e-10)
    wrong = _solve_squared(X, y, 2 * pen)  # a factor-2 convention error shows
    assert np.abs(np.asarray(wrong["W"]) - est.coef_).max() > 1e-3


@pytest.mark.parametrize("name", ["RidgeClassifier", "RidgeClassifierCV"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_ridge_classifiers_are_ridge_on_plus_minus_one_targets(name, n_classes):
    from sklearn import linear_model

    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 4))
    y = np.argmax(X[:, :n_classes] + 0.8 * rng.normal(size=(90, n_classes)), axis=1)
    kwargs = {"alphas": (0.3, 3.0, 30.0)} if name.endswith("CV") else {"alpha": 7.0}
    est = getattr(linear_model, name)(**kwargs).fit(X, y)
    T = np.where(y[:, None] == np.arange(n_classes), 1.0, -1.0)  # scikit-learn's targets
    T = T[:, 1:] if n_classes == 2 else T
    pen = jr.conventions.from_sklearn(est, n_samples=len(y), mask={"W": True, "b": False})
    sol = _solve_squared(X, T, pen)
    cols = T.shape[1]
    assert_close(sol["W"], np.reshape(est.coef_, (cols, -1)).T, rtol=1e-7, atol=1e-10)
    assert_close(sol["b"], np.reshape(est.intercept_, cols), rtol=1e-7, atol=1e-10)


def _softmax_loss(X, y, n_classes):
    Xj, Y = jnp.asarray(X), jax.nn.one_hot(y, n_classes)

    def mean_log_loss(p):
        logits = Xj @ p["W"] + p["b"]
        if n_classes == 2:  # scikit-learn's binary model: one column, the sigmoid
            z = logits[:, 0]
            return jnp.mean(jnp.logaddexp(0.0, z) - Y[:, 1] * z)
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.sum(Y * logits, axis=1))

    return mean_log_loss


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_regression_cv_reads_its_chosen_c(n_classes, legacy):
    from sklearn.linear_model import LogisticRegressionCV

    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 4))
    y = np.argmax(X[:, :n_classes] + rng.normal(size=(150, n_classes)), axis=1)
    est = LogisticRegressionCV(
        Cs=[0.01, 0.1, 1.0], l1_ratios=(0.0,), cv=3, tol=1e-12, max_iter=10_000,
        scoring="neg_log_loss", use_legacy_attributes=legacy,
    ).fit(X, y)  # fmt: skip
    pen = jr.conventions.from_sklearn(est, n_samples=len(y), mask={"W": True, "b": False})
    assert pen == jr.l2(1 / (float(np.ravel(est.C_)[0]) * len(y)), mask=pen.terms[0].mask)
    cols = 1 if n_classes == 2 else n_classes
    p0 = {"W": jnp.zeros((4, cols)), "b": jnp.zeros(cols)}
    sol, info = jr.solve(_softmax_loss(X, y, n_classes), pen, p0, max_iter=100_000, tol=1e-11)
    assert bool(info.converged)
    # the multinomial model is defined up to a shift of the intercepts: compare centred ones;
    # scikit-learn's lbfgs stops about 2e-8 from the optimum here (measured)
    b = np.asarray(sol["b"]) - (np.mean(sol["b"]) if cols > 1 else 0)
    assert_close(sol["W"], est.coef_.T, rtol=1e-6, atol=1e-7)
    want_b = est.intercept_ - (est.intercept_.mean() if cols > 1 else 0)
    assert_close(b, want_b, rtol=1e-6, atol=1e-7)


def test_cv_estimators_refuse_what_no_single_penalty_reproduces():
    from sklearn.linear_model import LassoCV, LogisticRegressionCV, RidgeCV

    with pytest.raises(ValueError, match=r"LassoCV\): the estimator is not fitted.*alpha_"):
        jr.conventions.from_sklearn(LassoCV())
    with pytest.raises(ValueError, match=r"not fitted.*C_"):
        jr.conventions.from_sklearn(LogisticRegressionCV(), n_samples=10)
    X, Y = _regression(n=40, tasks=2)
    Y[:, 1] = np.random.default_rng(1).normal(size=40)  # noise: it wants the largest alpha
    est = RidgeCV(alphas=(1e-3, 1e3), alpha_per_target=True).fit(X, Y)
    assert np.unique(est.alpha_).size == 2
    with pytest.raises(ValueError, match=r"alpha_ holds several values"):
        jr.conventions.from_sklearn(est, n_samples=40)
    rng = np.random.default_rng(0)
    Xc, yc = rng.normal(size=(60, 3)), rng.integers(0, 2, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegressionCV(Cs=[0.1, 1.0], cv=3, refit=False, l1_ratios=(0.0,)).fit(Xc, yc)
    with pytest.raises(ValueError, match=r"refit=False"):
        jr.conventions.from_sklearn(clf, n_samples=60)
    with pytest.raises(TypeError, match=r"LassoCV chooses its own strength.*convert to Lasso"):
        jr.conventions.to_sklearn(jr.l1(0.1), LassoCV)


# --------------------------------------------------------------------------------------------
# Perceptron and the MLPs: against scikit-learn's own training steps


def test_perceptron_penalty_is_sgds_per_sample_objective():
    """One epoch of scikit-learn's plain SGD (constant step, no shuffling, no intercept) equals
    per-sample gradient steps on max(0, -y f) + from_sklearn's penalty."""
    from sklearn.linear_model import Perceptron

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    y = np.where(X @ np.array([1.0, -1.0, 0.5]) + 0.7 * rng.normal(size=40) > 0, 1, 0)
    est = Perceptron(penalty="l2", alpha=0.05, eta0=0.3, max_iter=1, tol=None, shuffle=False)
    est.set_params(fit_intercept=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch: a ConvergenceWarning
        est.fit(X, y)
    pen = jr.conventions.from_sklearn(est)
    assert pen == jr.l2(0.05)
    grad_pen = jax.jit(jax.grad(pen))
    w, s = jnp.zeros(3), 2.0 * y - 1
    for x_i, s_i in zip(X, s, strict=True):
        dloss = -s_i * x_i if s_i * float(x_i @ w) <= 0 else 0.0 * x_i  # its subgradient at 0
        w = w - 0.3 * (dloss + grad_pen(w))
    assert_close(w, est.coef_.ravel(), rtol=1e-12)
    assert jr.conventions.from_sklearn(Perceptron()) == jr.Sum()  # default: no penalty


def test_mlp_penalty_is_scaled_by_the_batch_it_trains_on():
    """MLPRegressor(batch_size=50) on 150 rows: each batch adds alpha/(2*50)||W||^2 (not
    alpha/(2*150)). With a negligible step the weights stay put, so loss_ (the mean of the
    batch losses) is the mean loss plus from_sklearn's penalty at the fitted weights."""
    from sklearn.neural_network import MLPRegressor

    X, y = _regression(n=150, p=3)
    mlp = MLPRegressor(
        hidden_layer_sizes=(4,), alpha=3.0, solver="sgd", batch_size=50, learning_rate_init=1e-300,
        momentum=0.0, max_iter=1, shuffle=False, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(X, y)
    pen = jr.conventions.from_sklearn(mlp, n_samples=150)
    assert pen == jr.l2(3.0 / 50, mask=jr.masks.kernels)
    params = {"coefs": [jnp.asarray(c) for c in mlp.coefs_], "intercepts": mlp.intercepts_}

    def half_mse(p):
        h = jax.nn.relu(X @ p["coefs"][0] + p["intercepts"][0])
        return jnp.mean(((h @ p["coefs"][1] + p["intercepts"][1]).ravel() - y) ** 2) / 2

    assert_close(jax.jit(jr.regularized(half_mse, pen))(params), mlp.loss_, rtol=1e-12)
    with pytest.raises(ValueError, match=r"the batches have 50 rows and the last 10"):
        jr.conventions.from_sklearn(mlp, n_samples=160)
    # early stopping holds out ceil(0.1 * 167) = 17 rows: 150 rows in batches of 50
    held = MLPRegressor(alpha=3.0, batch_size=50, early_stopping=True, validation_fraction=0.1)
    assert jr.conventions.from_sklearn(held, n_samples=167) == pen
    # lbfgs trains on all rows at once; 'auto' is min(200, n)
    assert jr.conventions.from_sklearn(MLPRegressor(solver="lbfgs"), n_samples=300) == jr.l2(
        1e-4 / 300, mask=jr.masks.kernels
    )
    assert jr.conventions.from_sklearn(MLPRegressor(), n_samples=400) == jr.l2(
        1e-4 / 200, mask=jr.masks.kernels
    )


# --------------------------------------------------------------------------------------------
# to_sklearn: the estimators it builds fit, and land on jaxreg's solution


def _logistic_data():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 5))
    y = (X @ np.array([2.0, -1.5, 0.0, 0.0, 1.0]) + rng.normal(size=200) > 0).astype(int)
    return X, y


COEFS = jr.masks.by_path("^W")  # scikit-learn never penalizes the intercept


@pytest.mark.parametrize(
    ("pen", "solver"),
    [
        (jr.l1(0.02, mask=COEFS), "saga"),
        (jr.elastic_net(0.03, 0.5, mask=COEFS), "saga"),
        (jr.l2(0.05, mask=COEFS), "lbfgs"),
    ],
    ids=["l1", "elastic_net", "l2"],
)
def test_to_sklearn_logistic_regression_fits_to_jaxregs_solution(pen, solver):
    from sklearn.linear_model import LogisticRegression

    X, y = _logistic_data()
    est = jr.conventions.to_sklearn(
        pen, LogisticRegression, n_samples=len(y), tol=1e-12, max_iter=100_000
    )
    assert est.get_params()["solver"] == solver  # lbfgs cannot minimize an l1 part
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "l1_ratio is only used with elasticnet" warning
        est.fit(X, y)
    p0 = {"W": jnp.zeros((5, 1)), "b": jnp.zeros(1)}
    # tol 1e-12: below it float64 rounding may keep the iterates from settling (`jr.solve`)
    sol, info = jr.solve(_softmax_loss(X, y, 2), pen, p0, max_iter=100_000, tol=1e-12)
    assert bool(info.converged)
    assert_close(sol["W"][:, 0], est.coef_.ravel(), rtol=1e-5, atol=1e-7)
    assert_close(sol["b"], est.intercept_, rtol=1e-5, atol=1e-7)
    assert np.any(est.coef_ != 0)


@pytest.mark.parametrize(
    ("pen", "name", "tasks"),
    [
        (jr.l1(0.1, mask=COEFS), "Lasso", None),
        (jr.elastic_net(0.2, 0.4, mask=COEFS), "ElasticNet", None),
        (jr.l2(0.5, mask=COEFS), "Ridge", None),
        (jr.group_lasso(0.3, mask=COEFS), "MultiTaskLasso", 3),
        (jr.group_lasso(0.2, mask=COEFS) + jr.l2(0.3, mask=COEFS), "MultiTaskElasticNet", 3),
    ],
)
def test_to_sklearn_squared_loss_estimators_fit_to_jaxregs_solution(pen, name, tasks):
    from sklearn import linear_model

    X, Y = _regression(tasks=tasks, seed=7)
    extra = {} if name == "Ridge" else {"tol": 1e-13, "max_iter": 200_000}
    est = jr.conventions.to_sklearn(
        pen, getattr(linear_model, name), n_samples=len(X), **extra
    ).fit(X, Y)
    sol = _solve_squared(X, Y, pen)
    assert_close(sol["W"], est.coef_.T, rtol=1e-6, atol=1e-8)
    assert_close(sol["b"], est.intercept_, rtol=1e-6, atol=1e-8)


def test_to_sklearn_passes_keywords_through_and_refuses_contradictions():
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.svm import LinearSVC

    X, y = _logistic_data()
    est = jr.conventions.to_sklearn(jr.l2(0.01), LinearSVC, n_samples=200, fit_intercept=False)
    assert est.get_params()["fit_intercept"] is False
    est.fit(X, y)
    with pytest.raises(ValueError, match=r"LinearSVC \(liblinear\) penalizes the intercept"):
        jr.conventions.to_sklearn(jr.l2(0.01), LinearSVC, n_samples=200, fit_intercept=True)
    with pytest.raises(ValueError, match=r"solver='lbfgs'\) does not minimize.*saga"):
        jr.conventions.to_sklearn(jr.l1(0.01), LogisticRegression, n_samples=200, solver="lbfgs")
    liblinear = jr.conventions.to_sklearn(
        jr.l1(0.01), LogisticRegression, n_samples=200, solver="liblinear", fit_intercept=False
    )
    assert liblinear.get_params()["solver"] == "liblinear"
    with pytest.raises(ValueError, match=r"penalty='l2' contradicts"):
        jr.conventions.to_sklearn(jr.l1(0.01), SGDClassifier, penalty="l2")
    l1_svc = jr.conventions.to_sklearn(jr.l1(0.01), LinearSVC, n_samples=200)
    assert l1_svc.get_params()["dual"] is False  # set, not left to dual='auto'
    l1_svc.fit(X, y)  # penalty='l1' needs the primal problem
    assert jr.conventions.from_sklearn(l1_svc, n_samples=200) == jr.l1(0.01)


def test_to_sklearn_liblinear_logistic_regression_fits_without_an_intercept():
    """liblinear penalizes the intercept: the conversion fits none, and then solves jaxreg's
    problem (an intercept asked for raises, as in from_sklearn)."""
    from sklearn.linear_model import LogisticRegression

    X, y = _logistic_data()
    pen = jr.l1(0.02, mask=COEFS)
    est = jr.conventions.to_sklearn(
        pen, LogisticRegression, n_samples=len(y), solver="liblinear", tol=1e-12, max_iter=10_000
    )
    assert est.get_params()["fit_intercept"] is False
    est.fit(X, y)
    loss = _softmax_loss(X, y, 2)
    sol, info = jr.solve(
        lambda p: loss({"W": p["W"], "b": jnp.zeros(1)}),
        pen,
        {"W": jnp.zeros((5, 1))},
        max_iter=100_000,
        tol=1e-13,
    )
    assert bool(info.converged) and est.intercept_ == 0
    assert_close(sol["W"][:, 0], est.coef_.ravel(), rtol=1e-4, atol=1e-6)
    assert jr.conventions.from_sklearn(est, n_samples=len(y), mask=COEFS) == pen
    with pytest.raises(ValueError, match=r"\(liblinear\) penalizes the intercept too"):
        jr.conventions.to_sklearn(
            pen, LogisticRegression, n_samples=len(y), solver="liblinear", fit_intercept=True
        )


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("Lasso", {"alpha": 0.1}),
        ("ElasticNet", {"alpha": 0.2, "l1_ratio": 0.4}),
        ("Ridge", {"alpha": 30.0}),
        ("LassoCV", {"alphas": [0.03, 0.1, 0.3], "cv": 3}),
    ],
)
def test_positive_estimators_are_the_penalty_plus_non_negative(name, kwargs):
    from sklearn import linear_model

    X, y = _regression(seed=3)
    extra = {"tol": 1e-13} if name == "Ridge" else {"tol": 1e-13, "max_iter": 200_000}
    cls = getattr(linear_model, name)
    est = cls(positive=True, **kwargs, **extra).fit(X, y)
    free = cls(**kwargs, **extra).fit(X, y)
    assert np.any(free.coef_ < -1e-3) and np.any(est.coef_ == 0)  # the constraint binds
    pen = jr.conventions.from_sklearn(est, n_samples=len(y), mask=COEFS)
    assert any(isinstance(t, jr.constraints.Constraint) for t in pen.terms)
    sol = _solve_squared(X, y, pen)
    assert_close(sol["W"], est.coef_, rtol=1e-5, atol=1e-7)
    assert_close(sol["b"], est.intercept_, rtol=1e-5, atol=1e-7)
    linear = jr.conventions.from_sklearn(est, n_samples=len(y))  # jr.linear: coef only
    fit = jr.linear.fit(X, y, linear, tol=1e-12)
    assert bool(fit.converged)
    assert_close(fit.coef, est.coef_, rtol=1e-5, atol=1e-7)
    if not name.endswith("CV"):  # and back: positive=True
        back = jr.conventions.to_sklearn(pen, cls, n_samples=len(y))
        assert back.get_params()["positive"] is True
        assert jr.conventions.from_sklearn(back, n_samples=len(y), mask=COEFS) == pen


def test_to_sklearn_positive_needs_an_estimator_that_has_it():
    from sklearn.linear_model import Lasso, LogisticRegression

    positive = jr.l2(0.1) + jr.constraints.non_negative()
    with pytest.raises(ValueError, match=r"LogisticRegression has no positive option"):
        jr.conventions.to_sklearn(positive, LogisticRegression, n_samples=10)
    with pytest.raises(ValueError, match=r"positive=True contradicts.*positive=False"):
        jr.conventions.to_sklearn(jr.l1(0.1), Lasso, positive=True)


def test_to_sklearn_of_no_penalty_is_the_estimators_unpenalized_form():
    from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression, Ridge

    X, y = _regression(seed=5)
    ridge = jr.conventions.to_sklearn(jr.Sum(), Ridge, n_samples=len(y))
    assert ridge.get_params()["alpha"] == 0.0
    assert_close(ridge.fit(X, y).coef_, LinearRegression().fit(X, y).coef_, rtol=1e-8)
    assert jr.conventions.to_sklearn(jr.Sum(), ElasticNet).get_params()["alpha"] == 0.0
    Xc, yc = _logistic_data()
    logistic = jr.conventions.to_sklearn(
        jr.Sum(), LogisticRegression, n_samples=len(yc), tol=1e-12, max_iter=10_000
    )
    params = logistic.get_params()
    assert params["C"] == np.inf and params["l1_ratio"] == 0.0  # no stray l1_ratio
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logistic.fit(Xc, yc)
    assert jr.conventions.from_sklearn(logistic, n_samples=len(yc)) == jr.Sum()


@pytest.mark.parametrize(
    ("pen", "name", "n"),
    [
        (jr.l2(0.02), "RidgeClassifier", 50),
        (jr.l2(0.01), "Perceptron", None),
        (jr.elastic_net(0.01, 0.4), "Perceptron", None),
        (jr.l2(0.001), "MLPClassifier", 400),
    ],
)
def test_to_sklearn_inverts_from_sklearn_on_the_new_estimators(pen, name, n):
    import importlib

    module = "neural_network" if name.startswith("MLP") else "linear_model"
    cls = getattr(importlib.import_module(f"sklearn.{module}"), name)
    est = jr.conventions.to_sklearn(pen, cls, n_samples=n)
    back = jr.conventions.from_sklearn(est, n_samples=n)
    tree = {"kernel": jnp.asarray(np.random.default_rng(6).normal(size=(4, 3)))}
    assert_close(back(tree), pen(tree), rtol=1e-12)


def test_the_unsupported_message_and_the_docs_list_every_estimator():
    from pathlib import Path

    from sklearn.svm import SVC

    with pytest.raises(TypeError) as e:
        jr.conventions.from_sklearn(SVC())
    for name in SUPPORTED:
        assert f" {name}," in str(e.value) or f" {name} (" in str(e.value), name
    docs = (Path(__file__).resolve().parents[1] / "docs" / "conventions.md").read_text()
    for name in SUPPORTED:
        assert f"`{name}" in docs, name


def test_the_prox_of_a_norm_plus_non_negative_is_the_projected_prox():
    """argmin_v ½(v - z)² + t(a|v| + b/2 v²) over v >= 0, against a NumPy grid search."""
    z = np.linspace(-2.0, 2.0, 9)
    grid = np.linspace(0.0, 3.0, 300_001)
    t, a, b = 0.7, 0.4, 0.6
    pen = jr.elastic_net(a + b, a / (a + b)) + jr.constraints.non_negative()
    got = jax.jit(pen.prox)({"w": jnp.asarray(z)}, t)["w"]
    objective = 0.5 * (grid[None] - z[:, None]) ** 2 + t * (a * grid + b / 2 * grid**2)[None]
    assert_close(got, grid[np.argmin(objective, axis=1)], rtol=0, atol=2e-5)
    with pytest.raises(NotImplementedError, match=r"non_negative composes with l1, l2"):
        (jr.mcp(0.1, 3.0) + jr.constraints.non_negative()).prox({"w": jnp.ones(3)}, 1.0)
