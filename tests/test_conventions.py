"""Converters checked against the other frameworks' own code: Keras values (computed by Keras in
a subprocess), torch's coupled weight decay (computed by torch) and scikit-learn's solvers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_close, json_worker

import jaxreg as jr

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def keras_results():
    w = RNG.normal(size=(5, 4)).round(6)
    regs = [
        {"class_name": "L1", "config": {"l1": 0.013}},
        {"class_name": "L2", "config": {"l2": 0.01}},
        {"class_name": "L1L2", "config": {"l1": 0.002, "l2": 0.03}},
        {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.2, "mode": "rows"}},
        {"class_name": "OrthogonalRegularizer", "config": {"factor": 0.2, "mode": "columns"}},
    ]
    cases = [{"reg": r, "dtype": "float32", "weights": w.tolist()} for r in regs]
    # Keras on TensorFlow in float64 mode: the strength goes through float32 first.
    cases += [
        {"reg": r, "dtype": "float64", "weights": w.tolist(), "tf_rounding": t}
        for r in regs[:3]
        for t in (False, True)
    ]
    return cases, json_worker("keras_reference.py", cases, timeout=300)


@pytest.mark.slow
def test_from_keras_equals_keras_value_in_float32(keras_results):
    cases, results = keras_results
    for case, r in zip(cases, results, strict=True):
        if case["dtype"] != "float32":
            continue
        assert r["keras"] > 1e-3
        assert_close(r["jaxreg"], r["keras"], rtol=2e-6, what=str(case["reg"]))
        assert_close(r["jaxreg_from_config"], r["keras"], rtol=2e-6, what=str(case["reg"]))
        assert_close(r["round_trip_keras"], r["keras"], rtol=2e-6, what=str(case["reg"]))
        assert r["round_trip_class"] == case["reg"]["class_name"]


def test_from_keras_float64_needs_tf_rounding_to_be_exact(keras_results):
    cases, results = keras_results
    for case, r in zip(cases, results, strict=True):
        if case["dtype"] != "float64":
            continue
        if case["tf_rounding"]:
            assert_close(r["jaxreg"], r["keras"], rtol=1e-14, what=str(case["reg"]))
        elif case["reg"]["class_name"] == "L1":
            # L1 keeps its strength as a float32 tensor, and its config reports that value
            assert_close(r["jaxreg"], r["keras"], rtol=1e-14, what=str(case["reg"]))
        else:  # L2/L1L2 keep a Python float and cast it through float32 at call time
            rel = abs(r["jaxreg"] - r["keras"]) / r["keras"]
            assert 1e-10 < rel < 1e-7, (case["reg"], rel)


def test_from_keras_rejects_unknown_input():
    with pytest.raises(TypeError, match=r"reg_or_config must be a keras.regularizers"):
        jr.conventions.from_keras(0.01)
    with pytest.raises(ValueError, match=r"cannot tell which Keras regularizer"):
        jr.conventions.from_keras({"alpha": 0.1})


def test_to_keras_refuses_what_keras_cannot_express():
    with pytest.raises(ValueError, match=r"Keras has no built-in equivalent of group_lasso"):
        jr.conventions.to_keras(jr.group_lasso(0.1))
    with pytest.raises(ValueError, match=r"the l2 term has mask="):
        jr.conventions.to_keras(jr.l2(0.1, mask={"w": True}))


def test_from_torch_weight_decay_gradient_equals_torch_coupled_decay():
    torch = pytest.importorskip("torch")
    w = RNG.normal(size=(4, 3))
    wd = 0.037
    for opt_cls in (torch.optim.SGD, torch.optim.Adam):
        p = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))
        opt = opt_cls([p], lr=1.0, weight_decay=wd)
        p.grad = torch.zeros_like(p)
        # torch adds weight_decay * p to the gradient inside step(); recover what it added by
        # stepping SGD with lr=1 (p - p_new) and, for Adam, by reading its first moment.
        opt.step()
        if opt_cls is torch.optim.SGD:
            added = w - p.detach().numpy()
        else:
            added = opt.state[p]["exp_avg"].numpy() / (1 - 0.9)
        grad = jax.grad(jr.conventions.from_torch_weight_decay(wd))(jnp.asarray(w))
        assert_close(grad, added, rtol=1e-12)


def test_from_torch_weight_decay_reads_a_hand_written_param_group():
    assert jr.conventions.from_torch_weight_decay({"weight_decay": 0.01}) == jr.l2(0.01)
    assert jr.conventions.from_torch_weight_decay({"lr": 0.1, "weight_decay": 0.01}) == jr.l2(0.01)
    with pytest.raises(ValueError, match="decoupled"):
        jr.conventions.from_torch_weight_decay(
            {"weight_decay": 0.01, "decoupled_weight_decay": True}
        )
    with pytest.raises(ValueError, match="pass name="):  # Adam, or an AdamW of torch < 2.6
        jr.conventions.from_torch_weight_decay({"betas": (0.9, 0.99), "weight_decay": 0.01})


def _diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, y


def test_from_sklearn_lasso_and_elastic_net_kkt_at_sklearn_solution():
    from sklearn.linear_model import ElasticNet, Lasso

    X, y = _diabetes()
    for est in (
        Lasso(alpha=0.1, tol=1e-12, max_iter=100000),
        ElasticNet(alpha=0.002, l1_ratio=0.9, tol=1e-12, max_iter=100000),
    ):
        est.fit(X, y)
        w, b = est.coef_, est.intercept_
        pen = jr.conventions.from_sklearn(est)
        data_grad = -X.T @ (y - X @ w - b) / len(y)
        pen_grad = np.asarray(jax.grad(pen)(jnp.asarray(w)))
        nz = w != 0
        assert nz.sum() >= 3 and (~nz).sum() >= 1
        # optimality: zero gradient on the support, |data gradient| <= alpha*l1_ratio off it
        assert np.abs(data_grad[nz] + pen_grad[nz]).max() < 1e-6 * np.abs(data_grad).max()
        l1_part = est.alpha * getattr(est, "l1_ratio", 1.0)
        assert np.all(np.abs(data_grad[~nz]) <= l1_part * (1 + 1e-6))


def test_from_sklearn_ridge_and_logistic_regression_zero_gradient_at_solution():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    X, y = _diabetes()
    ridge = Ridge(alpha=3.0).fit(X, y)
    pen = jr.conventions.from_sklearn(ridge, n_samples=len(y))
    g = -X.T @ (y - X @ ridge.coef_ - ridge.intercept_) / len(y) + np.asarray(
        jax.grad(pen)(jnp.asarray(ridge.coef_))
    )
    assert np.abs(g).max() < 1e-8 * np.abs(X.T @ y / len(y)).max()

    Xc, yc = load_breast_cancer(return_X_y=True)
    Xc = StandardScaler().fit_transform(Xc)
    clf = LogisticRegression(C=0.05, tol=1e-12, max_iter=10000).fit(Xc, yc)
    pen = jr.conventions.from_sklearn(clf, n_samples=len(yc))
    w = clf.coef_.ravel()
    p = 1 / (1 + np.exp(-(Xc @ w + clf.intercept_[0])))
    g = Xc.T @ (p - yc) / len(yc) + np.asarray(jax.grad(pen)(jnp.asarray(w)))
    assert np.abs(g).max() < 1e-6
    assert np.abs(Xc.T @ (p - yc) / len(yc)).max() > 1e-2  # the penalty term really matters


def test_from_sklearn_mlp_objective_equals_sklearn_loss():
    from sklearn.neural_network import MLPRegressor

    X, y = _diabetes()
    X, y = X[:80], (y[:80] - y.mean()) / y.std()
    mlp = MLPRegressor(
        hidden_layer_sizes=(5,), alpha=2.0, solver="lbfgs", max_iter=50, random_state=0
    ).fit(X, y)
    params = {
        "coefs": [jnp.asarray(c) for c in mlp.coefs_],
        "intercepts": [jnp.asarray(b) for b in mlp.intercepts_],
    }
    pen = jr.conventions.from_sklearn(mlp, n_samples=len(y))

    def squared_error(p):
        h = jax.nn.relu(X @ p["coefs"][0] + p["intercepts"][0])
        out = (h @ p["coefs"][1] + p["intercepts"][1]).ravel()
        return jnp.mean((out - y) ** 2) / 2

    total = jr.regularized(squared_error, pen)(params)
    assert_close(total, mlp.loss_, rtol=1e-10)
    assert float(pen(params)) > 1e-2 * mlp.loss_


def test_from_sklearn_asks_for_n_samples_and_rejects_unknown_estimators():
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.svm import SVC

    with pytest.raises(ValueError, match=r"from_sklearn\(Ridge\) needs n_samples"):
        jr.conventions.from_sklearn(Ridge())
    with pytest.raises(ValueError, match=r"n_samples must be a positive number; got n_samples=0"):
        jr.conventions.from_sklearn(LogisticRegression(), n_samples=0)
    with pytest.raises(TypeError, match=r"got SVC"):
        jr.conventions.from_sklearn(SVC())
    assert (
        float(jr.conventions.from_sklearn(LogisticRegression(C=np.inf), n_samples=10)(jnp.ones(3)))
        == 0.0
    )


def _multitask_data():
    X, y = _diabetes()
    X = (X - X.mean(0)) / X.std(0)
    rng = np.random.default_rng(0)
    Y = np.stack([y, 0.5 * y + 30 * rng.normal(size=len(y)), X[:, 2] * 40], axis=1)
    return X, (Y - Y.mean(0)) / Y.std(0)


@pytest.mark.parametrize("kind", ["MultiTaskElasticNet", "MultiTaskLasso"])
def test_from_sklearn_multitask_solves_to_sklearns_coefficients(kind):
    from sklearn import linear_model

    X, Y = _multitask_data()
    kwargs = {"alpha": 0.05, "tol": 1e-12, "max_iter": 200_000}
    if kind == "MultiTaskElasticNet":
        kwargs["l1_ratio"] = 0.5
    est = getattr(linear_model, kind)(**kwargs).fit(X, Y)
    pen = jr.conventions.from_sklearn(est, mask={"W": True, "b": False})
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def objective(p):  # scikit-learn's data term: 1 / (2 n) ||Y - X W - b||_F^2
        return 0.5 * jnp.mean(jnp.sum((Yj - Xj @ p["W"] - p["b"]) ** 2, axis=1))

    p0 = {"W": jnp.zeros((X.shape[1], Y.shape[1])), "b": jnp.zeros(Y.shape[1])}
    p, info = jr.solve(objective, pen, p0, max_iter=100_000, tol=1e-12)
    assert bool(info.converged)
    want = est.coef_.T  # (n_features, n_tasks)
    assert_close(p["W"], want, rtol=1e-6, atol=1e-9)
    zero_rows = np.all(want == 0, axis=1)
    assert zero_rows.any() and not zero_rows.all()  # the L2,1 penalty removed whole features
    assert np.all(np.asarray(p["W"])[zero_rows] == 0)


def test_to_torch_weight_decay_respects_the_mask_and_matches_torch_sgd():
    import torch

    params = {"dense": {"kernel": jnp.asarray(RNG_T.normal(size=(3, 2))), "bias": jnp.ones(2)}}
    pen = jr.l2(0.3, mask=jr.masks.kernels)
    with pytest.raises(ValueError, match=r"has a mask.*pass params"):
        jr.conventions.to_torch_weight_decay(pen)
    decays = jr.conventions.to_torch_weight_decay(pen, params)
    assert decays == {"dense": {"bias": 0.0, "kernel": 0.3}}
    # torch: one SGD step with a zero loss gradient, one parameter group per decay value
    tensors = jax.tree.map(lambda x: torch.tensor(np.asarray(x), requires_grad=True), params)
    groups: dict[float, list] = {}
    for t, wd in zip(jax.tree.leaves(tensors), jax.tree.leaves(decays), strict=True):
        groups.setdefault(wd, []).append(t)
    opt = torch.optim.SGD([{"params": v, "weight_decay": k} for k, v in groups.items()], lr=0.5)
    for t in jax.tree.leaves(tensors):
        t.grad = torch.zeros_like(t)
    opt.step()
    want = jax.tree.map(lambda p, g: p - 0.5 * g, params, jax.grad(pen)(params))
    for t, w in zip(jax.tree.leaves(tensors), jax.tree.leaves(want), strict=True):
        assert_close(t.detach().numpy(), w, rtol=1e-12)
    assert jr.conventions.to_torch_weight_decay(jr.l2(0.3)) == 0.3


RNG_T = np.random.default_rng(5)


def test_from_sklearn_refuses_liblinear_which_penalizes_the_intercept():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match=r"liblinear.*penalizes the intercept"):
        jr.conventions.from_sklearn(LogisticRegression(solver="liblinear", C=0.5), n_samples=10)
    pen = jr.conventions.from_sklearn(
        LogisticRegression(solver="liblinear", C=0.5, fit_intercept=False), n_samples=10
    )
    assert pen == jr.l2(0.2)


# --------------------------------------------------------------------------------------------
# More estimators: fit scikit-learn, then jr.solve on the documented data term + from_sklearn


def _glm_data(kind):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    mu = np.exp(0.3 + X @ np.array([0.5, -0.4, 0.2, 0.0]))
    y = rng.poisson(mu).astype(float) if kind == "poisson" else rng.gamma(2.0, mu / 2.0)
    return X, y


@pytest.mark.parametrize(
    ("name", "kwargs", "data"),
    [
        ("PoissonRegressor", {}, "poisson"),
        ("GammaRegressor", {}, "gamma"),
        ("TweedieRegressor", {"power": 1.5, "link": "log"}, "gamma"),
    ],
)
def test_from_sklearn_glms_solve_to_sklearns_coefficients(name, kwargs, data):
    from sklearn import linear_model

    X, y = _glm_data(data)
    est = getattr(linear_model, name)(alpha=0.3, tol=1e-12, max_iter=10_000, **kwargs).fit(X, y)
    pen = jr.conventions.from_sklearn(est, mask={"w": True, "b": False})
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    p = {"PoissonRegressor": 1.0, "GammaRegressor": 2.0}.get(name, kwargs.get("power"))

    def half_mean_deviance(params):  # up to terms without the parameters
        eta = Xj @ params["w"] + params["b"]
        if p == 1.0:
            return jnp.mean(jnp.exp(eta) - yj * eta)
        if p == 2.0:
            return jnp.mean(eta + yj * jnp.exp(-eta))
        mu = jnp.exp(eta)
        return jnp.mean(-yj * mu ** (1 - p) / (1 - p) + mu ** (2 - p) / (2 - p))

    p0 = {"w": jnp.zeros(4), "b": jnp.zeros(())}
    sol, info = jr.solve(half_mean_deviance, pen, p0, max_iter=50_000, tol=1e-13)
    assert bool(info.converged)
    assert_close(sol["w"], est.coef_, rtol=1e-6, atol=1e-9)
    assert_close(sol["b"], est.intercept_, rtol=1e-6)
    assert np.abs(est.coef_).max() > 0.1


def test_from_sklearn_huber_solves_to_sklearns_coefficients_and_scale():
    from sklearn.linear_model import HuberRegressor

    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + rng.standard_t(2, size=200)
    est = HuberRegressor(alpha=5.0, epsilon=1.35, tol=1e-12, max_iter=10_000).fit(X, y)
    pen = jr.conventions.from_sklearn(
        est, n_samples=len(y), mask={"w": True, "b": False, "s": False}
    )
    Xj, yj, eps = jnp.asarray(X), jnp.asarray(y), 1.35

    def mean_huber(params):  # scikit-learn's sum, divided by n; sigma = exp(s) > 0
        sigma = jnp.exp(params["s"])
        z = (yj - Xj @ params["w"] - params["b"]) / sigma
        h = jnp.where(jnp.abs(z) < eps, z**2, 2 * eps * jnp.abs(z) - eps**2)
        return jnp.mean(sigma + h * sigma)

    p0 = {"w": jnp.zeros(3), "b": jnp.zeros(()), "s": jnp.zeros(())}
    sol, info = jr.solve(mean_huber, pen, p0, max_iter=50_000, tol=1e-13)
    assert bool(info.converged)
    assert_close(sol["w"], est.coef_, rtol=1e-5)
    assert_close(sol["b"], est.intercept_, rtol=1e-5)
    assert_close(jnp.exp(sol["s"]), est.scale_, rtol=1e-5)


@pytest.mark.parametrize("penalty", ["l2", "l1"])
def test_from_sklearn_linear_svc_without_intercept(penalty):
    from sklearn.datasets import load_breast_cancer
    from sklearn.svm import LinearSVC

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    s = 2.0 * y - 1
    est = LinearSVC(
        C=0.05,
        penalty=penalty,
        dual=False,
        fit_intercept=False,
        tol=1e-9,  # 1e-12 stops liblinear at max_iter, unconverged (measured)
        max_iter=100_000,
        random_state=0,
    )
    est.fit(X, y)
    pen = jr.conventions.from_sklearn(est, n_samples=len(y))
    Xj, sj = jnp.asarray(X), jnp.asarray(s)

    def mean_squared_hinge(w):
        return jnp.mean(jnp.maximum(0.0, 1 - sj * (Xj @ w)) ** 2)

    w, info = jr.solve(mean_squared_hinge, pen, jnp.zeros(X.shape[1]), max_iter=100_000, tol=1e-13)
    assert bool(info.converged)
    sk = jnp.asarray(est.coef_.ravel())
    if penalty == "l2":  # strongly convex: one solution
        assert_close(w, sk, rtol=2e-5, atol=2e-7)
    # the l1 problem on these correlated features has many solutions: compare objectives
    assert_close(mean_squared_hinge(w) + pen(w), mean_squared_hinge(sk) + pen(sk), rtol=1e-9)
    wrong = 2 * pen  # a factor-2 convention error would leave scikit-learn's point suboptimal
    w2, _ = jr.solve(mean_squared_hinge, wrong, jnp.zeros(X.shape[1]), max_iter=100_000, tol=1e-13)
    assert mean_squared_hinge(sk) + wrong(sk) > mean_squared_hinge(w2) + wrong(w2) + 1e-4
    with pytest.raises(ValueError, match=r"LinearSVC \(liblinear\) penalizes the intercept"):
        jr.conventions.from_sklearn(LinearSVC(), n_samples=10)


def test_from_sklearn_sgd_penalties_are_the_elastic_net_convention():
    """scikit-learn documents SGD's objective as ElasticNet's: (1/n) sum L + alpha * R(w) with
    R = l1_ratio |w|_1 + (1 - l1_ratio) / 2 |w|^2; the ElasticNet row is verified by jr.solve
    above. (SGD's own coefficients are not a reference: averaged SGD on diabetes is off by 0.9.)"""
    from sklearn.linear_model import ElasticNet, Lasso, SGDClassifier, SGDRegressor

    pen = jr.conventions.from_sklearn(SGDRegressor(alpha=0.05, penalty="elasticnet", l1_ratio=0.3))
    assert pen == jr.conventions.from_sklearn(ElasticNet(alpha=0.05, l1_ratio=0.3))
    assert jr.conventions.from_sklearn(SGDClassifier(alpha=0.1, penalty="l1")) == (
        jr.conventions.from_sklearn(Lasso(alpha=0.1))
    )
    assert jr.conventions.from_sklearn(SGDRegressor(alpha=0.1)) == jr.l2(0.1)  # default: l2
    assert jr.conventions.from_sklearn(SGDClassifier(penalty=None)) == jr.Sum()


def test_from_sklearn_linear_svr_without_intercept():
    from sklearn.svm import LinearSVR

    X, y = _diabetes()
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    est = LinearSVR(
        C=0.02, epsilon=0.1, loss="squared_epsilon_insensitive", dual=False, fit_intercept=False,
        tol=1e-12, max_iter=100_000,
    ).fit(X, y)  # fmt: skip
    pen = jr.conventions.from_sklearn(est, n_samples=len(y))
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def mean_loss(w):
        return jnp.mean(jnp.maximum(0.0, jnp.abs(yj - Xj @ w) - 0.1) ** 2)

    w, info = jr.solve(mean_loss, pen, jnp.zeros(X.shape[1]), max_iter=100_000, tol=1e-13)
    assert bool(info.converged)
    assert_close(w, est.coef_, rtol=2e-5, atol=2e-7)


def test_from_sklearn_quantile_regressor_solution_is_optimal_for_the_jaxreg_objective():
    """The pinball loss is not smooth, so jr.solve cannot check this row: solve jaxreg's
    objective (mean pinball + the returned l1) as a linear program instead."""
    from scipy.optimize import linprog
    from sklearn.linear_model import QuantileRegressor

    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3))
    y = X @ np.array([1.5, -1.0, 0.0]) + rng.standard_t(3, size=80)
    q, n, d = 0.7, 80, 3
    est = QuantileRegressor(quantile=q, alpha=0.05, solver="highs").fit(X, y)
    lam = float(jr.conventions.from_sklearn(est).strength)

    def objective(w, b):
        r = y - X @ w - b
        return np.mean(np.maximum(q * r, (q - 1) * r)) + lam * np.abs(w).sum()

    # variables: w+, w-, b+, b-, u+, u- >= 0 with X (w+ - w-) + b+ - b- + u+ - u- = y
    c = np.concatenate(
        [np.full(2 * d, lam), [0.0, 0.0], np.full(n, q / n), np.full(n, (1 - q) / n)]
    )
    A = np.hstack([X, -X, np.ones((n, 1)), -np.ones((n, 1)), np.eye(n), -np.eye(n)])
    lp = linprog(c, A_eq=A, b_eq=y, bounds=(0, None), method="highs")
    w, b = lp.x[:d] - lp.x[d : 2 * d], lp.x[2 * d] - lp.x[2 * d + 1]
    assert_close(objective(est.coef_, est.intercept_), objective(w, b), rtol=1e-9)
    assert_close(est.coef_, w, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    ("pen", "cls", "n"),
    [
        (jr.l1(0.1), "linear_model.Lasso", None),
        (jr.elastic_net(0.1, 0.3), "linear_model.ElasticNet", None),
        (jr.l1(0.02) + jr.l2(0.06), "linear_model.ElasticNet", None),
        (jr.l2(0.02), "linear_model.Ridge", 50),
        (jr.elastic_net(0.01, 0.5), "linear_model.LogisticRegression", 40),
        (jr.group_lasso(0.2), "linear_model.MultiTaskLasso", None),
        (jr.group_lasso(0.1) + jr.l2(0.3), "linear_model.MultiTaskElasticNet", None),
        (jr.elastic_net(0.05, 0.2), "linear_model.SGDRegressor", None),
        (jr.l1(0.05), "linear_model.SGDClassifier", None),
        (jr.l2(0.3), "linear_model.PoissonRegressor", None),
        (jr.l2(0.3), "linear_model.TweedieRegressor", None),
        (jr.l2(0.04), "linear_model.HuberRegressor", 25),
        (jr.l1(0.05), "linear_model.QuantileRegressor", None),
        (jr.l2(0.01), "svm.LinearSVC", 20),
        (jr.l1(0.01), "svm.LinearSVC", 20),
        (jr.l2(0.01), "svm.LinearSVR", 20),
        (jr.l2(0.001), "neural_network.MLPRegressor", 32),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_to_sklearn_inverts_from_sklearn(pen, cls, n):
    import importlib

    module, name = cls.split(".")
    est_class = getattr(importlib.import_module(f"sklearn.{module}"), name)
    est = jr.conventions.to_sklearn(pen, est_class, n_samples=n)
    assert type(est) is est_class
    back = jr.conventions.from_sklearn(est, n_samples=n)
    tree = {"kernel": jnp.asarray(RNG_T.normal(size=(4, 3)))}
    mask = None if "MLP" not in name else jr.masks.kernels
    assert_close(back(tree), pen(tree), rtol=1e-12)
    assert mask is None or back.terms[0].mask == jr.masks.kernels


def test_to_sklearn_refuses_what_the_estimator_cannot_express():
    from sklearn.linear_model import Lasso, Ridge

    with pytest.raises(ValueError, match=r"Lasso has no l2 part"):
        jr.conventions.to_sklearn(jr.elastic_net(0.1, 0.5), Lasso)
    with pytest.raises(ValueError, match=r"needs n_samples"):
        jr.conventions.to_sklearn(jr.l2(0.1), Ridge)
    with pytest.raises(ValueError, match=r"no scikit-learn estimator penalizes nuclear"):
        jr.conventions.to_sklearn(jr.nuclear(0.1), Ridge, n_samples=3)
