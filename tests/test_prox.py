"""Proximal operators, the optax proximal transform and jr.solve against independent references:
NumPy closed forms, optimality conditions, and scikit-learn's solvers on its bundled data."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import assert_close, f64

import jaxreg as jr

RNG = np.random.default_rng(0)


def np_soft(x, tau):
    return np.sign(x) * np.maximum(np.abs(x) - tau, 0)


def objective_at(pen, x, z, t):
    return 0.5 * sum(
        np.sum((f64(a) - f64(b)) ** 2)
        for a, b in zip(jax.tree.leaves(z), jax.tree.leaves(x), strict=True)
    ) + t * float(pen(z))


@pytest.mark.parametrize(
    ("pen", "ref"),
    [
        (jr.l1(0.7), lambda x, t: np_soft(x, 0.7 * t)),
        (jr.l2(0.7), lambda x, t: x / (1 + 0.7 * t)),
        (jr.elastic_net(0.7, 0.4), lambda x, t: np_soft(x, 0.28 * t) / (1 + 0.42 * t)),
        (jr.l1(0.3) + jr.l2(0.5), lambda x, t: np_soft(x, 0.3 * t) / (1 + 0.5 * t)),
    ],
)
def test_elementwise_prox_matches_numpy_and_gives_exact_zeros(pen, ref):
    x = RNG.normal(size=(6, 5))
    t = 1.3
    z = jax.jit(pen.prox)({"w": jnp.asarray(x)}, t)["w"]
    assert_close(z, ref(x, t), rtol=1e-12, atol=1e-15)
    zero = np.abs(x) <= 0.3 * t
    if "l1" in repr(pen) or "elastic" in repr(pen):
        assert zero.sum() >= 3 and np.all(np.asarray(z)[np_soft(x, 0.28 * t) == 0] == 0.0)


def test_l1_prox_optimality_condition_with_jax_grad():
    x = jnp.asarray(RNG.normal(size=40))
    t, lam = 0.8, 0.9
    pen = jr.l1(lam)
    z = pen.prox(x, t)
    g = jax.grad(pen)(z)  # lam * sign(z), 0 where z == 0
    nz = np.asarray(z) != 0
    assert nz.sum() > 5 and (~nz).sum() > 5
    assert_close((x - z)[nz], t * g[nz], rtol=1e-12)  # x - z = t * lam * sign(z)
    assert np.all(np.abs(np.asarray(x)[~nz]) <= t * lam)  # 0 is in the subdifferential


def test_group_lasso_prox_block_soft_threshold_and_zero_safety():
    x = RNG.normal(size=(8, 3))
    x[2] = 0.0  # an all-zero group: no division by its norm
    x[5] *= 0.05  # a small group: thresholded to exactly 0
    t, lam = 0.5, 1.0
    z, grad = jax.value_and_grad(lambda x: jnp.sum(jr.group_lasso(lam).prox(x, t)))(jnp.asarray(x))
    z = np.asarray(jr.group_lasso(lam).prox(jnp.asarray(x), t))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    expected = np.where(norms <= t * lam, 0.0, x * (1 - t * lam / np.where(norms == 0, 1, norms)))
    assert_close(z, expected, rtol=1e-12, atol=1e-15)
    assert np.all(z[2] == 0.0) and np.all(z[5] == 0.0)
    assert np.all(np.isfinite(grad))
    # optimality for kept groups: x_g - z_g = t * lam * z_g / ||z_g||
    kept = np.linalg.norm(z, axis=1) > 0
    zn = np.linalg.norm(z[kept], axis=1, keepdims=True)
    assert_close(x[kept] - z[kept], t * lam * z[kept] / zn, rtol=1e-10)


def test_nuclear_prox_is_singular_value_thresholding_and_minimizes():
    x = RNG.normal(size=(6, 4))
    t = 0.9
    z = np.asarray(jr.nuclear(1.0).prox({"w": jnp.asarray(x)}, t)["w"])
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    assert_close(z, (u * np.maximum(s - t, 0)) @ vt, rtol=1e-10, atol=1e-12)
    assert np.linalg.matrix_rank(z) < 4
    # it is the minimizer: random perturbations never do better
    pen = jr.nuclear(1.0)
    best = objective_at(pen, {"w": x}, {"w": jnp.asarray(z)}, t)
    for _ in range(50):
        other = {"w": jnp.asarray(z + 1e-3 * RNG.normal(size=z.shape))}
        assert objective_at(pen, {"w": x}, other, t) >= best - 1e-12


def test_prox_leaves_untouched_leaves_and_keeps_dtypes():
    params = {
        "kernel": jnp.asarray(RNG.normal(size=(3, 2)), jnp.bfloat16),
        "bias": jnp.asarray([5.0, -5.0], jnp.float32),
        "step": jnp.array(7),
    }
    out = jr.l1(1.0, mask=jr.masks.kernels).prox(params, 10.0)
    assert out["kernel"].dtype == jnp.bfloat16 and np.all(np.asarray(out["kernel"], float) == 0.0)
    assert out["bias"] is params["bias"] and out["step"] is params["step"]


def test_disjoint_masks_compose_and_unsupported_combinations_raise():
    params = {"a": jnp.array([3.0, 0.5]), "b": jnp.array([[3.0, 4.0], [0.1, 0.0]])}
    pen = jr.l1(1.0, mask={"a": True, "b": False}) + jr.group_lasso(
        1.0, mask={"a": False, "b": True}
    )
    out = pen.prox(params, 1.0)
    assert np.asarray(out["a"]).tolist() == [2.0, 0.0]
    assert_close(out["b"], [[2.4, 3.2], [0.0, 0.0]], rtol=1e-6)
    with pytest.raises(
        NotImplementedError, match=r"l1\(1\.0\) \+ group_lasso\(1\.0\) on the same leaf 'a'"
    ):
        (jr.l1(1.0) + jr.group_lasso(1.0)).prox(params, 1.0)
    for pen in (jr.spectral(1.0), jr.orthogonal(1.0)):
        with pytest.raises(NotImplementedError, match=pen.terms[0].name):
            pen.prox(params, 1.0)


@pytest.mark.parametrize("step", [-1.0, float("nan"), float("inf")])
def test_bad_step_raises(step):
    with pytest.raises(ValueError, match=r"step must be finite and >= 0; got step="):
        jr.l1(1.0).prox(jnp.ones(2), step)


def test_nan_propagates_through_prox():
    x = jnp.array([1.0, jnp.nan, 0.01])
    for pen in (jr.l1(0.1), jr.group_lasso(0.1), jr.elastic_net(0.1, 0.5)):
        z = np.asarray(pen.prox(x, 1.0))
        assert np.isnan(z[1]) or np.isnan(z).all()


def test_proximal_transform_is_proximal_gradient_descent():
    X = RNG.normal(size=(50, 6))
    y = X @ np.array([2.0, -1.0, 0, 0, 0.5, 0]) + 0.1 * RNG.normal(size=50)
    loss = lambda w: 0.5 * jnp.mean((X @ w - y) ** 2)  # noqa: E731
    lam = 0.2
    schedule = optax.linear_schedule(0.1, 0.02, 100)
    tx = optax.chain(optax.sgd(schedule), jr.transforms.proximal(jr.l1(lam), schedule))
    w, state = jnp.zeros(6), None
    state = tx.init(w)
    w_ref = np.zeros(6)
    for k in range(200):
        updates, state = jax.jit(tx.update)(jax.grad(loss)(w), state, w)
        w = optax.apply_updates(w, updates)
        lr = float(schedule(k))
        w_ref = np_soft(w_ref - lr * X.T @ (X @ w_ref - y) / len(y), lr * lam)
    assert_close(w, w_ref, rtol=1e-8, atol=1e-12)  # schedule evaluated in/out of jit
    assert (np.asarray(w) == 0.0).sum() >= 2  # exact zeros, not 1e-9
    assert np.array_equal(np.asarray(w) == 0.0, w_ref == 0.0)


def test_proximal_transform_requires_params():
    tx = jr.transforms.proximal(jr.l1(0.1), 0.1)
    with pytest.raises(ValueError, match="needs the current params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


# ---------------------------------------------------------------------------------------------
# jr.solve against scikit-learn's solvers, on scikit-learn's bundled data sets


def _diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, y


def _least_squares(X, y):
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    # the textbook J = 1/(2m) sum (h(x_i) - y_i)^2 with a linear h
    return lambda p: 0.5 * jnp.mean((Xj @ p["w"] + p["b"] - yj) ** 2)


COEF_ONLY = {"w": True, "b": False}


def _check_same_solution(w, coef, *, rtol):
    w = np.asarray(w)
    assert np.abs(w - coef).max() <= rtol * np.abs(coef).max(), (w, coef)
    assert np.array_equal(w == 0.0, coef == 0.0)


@pytest.mark.parametrize("alpha", [0.1, 1.0])
def test_solve_lasso_reproduces_sklearn(alpha):
    from sklearn.linear_model import Lasso

    X, y = _diabetes()
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


def test_solve_elastic_net_and_ridge_via_converter_reproduce_sklearn():
    from sklearn.linear_model import ElasticNet, Ridge

    X, y = _diabetes()
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


def test_adam_preconditioned_prox_matches_numpy_reference():
    lr, lam, b1, b2, eps = 0.05, 0.3, 0.9, 0.999, 1e-8
    tx = jr.transforms.proximal(jr.l1(lam), lr, precondition="adam", b1=b1, b2=b2, eps=eps)
    w = jnp.asarray(RNG.normal(size=12))
    state = tx.init(w)
    w_ref, m, v = np.asarray(w), np.zeros(12), np.zeros(12)
    for k in range(1, 30):
        g = np.asarray(RNG.normal(size=12)) * np.linspace(0.01, 2, 12)
        updates, state = tx.update(jnp.asarray(g), state, w)
        w = optax.apply_updates(w, updates)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        mh, vh = m / (1 - b1**k), v / (1 - b2**k)
        d = np.sqrt(vh) + eps
        w_ref = np_soft(w_ref - lr * mh / d, lr * lam / d)  # prox in the metric diag(d)
    assert_close(w, w_ref, rtol=1e-9, atol=1e-12)
    assert np.array_equal(np.asarray(w) == 0.0, w_ref == 0.0) and (w_ref == 0).sum() >= 2
    # with strength 0 it is exactly optax.adam
    tx0 = jr.transforms.proximal(jr.l1(0.0), lr, precondition="adam")
    ta = optax.adam(lr)
    p0, s0, pa, sa = jnp.ones(3), tx0.init(jnp.ones(3)), jnp.ones(3), ta.init(jnp.ones(3))
    for _ in range(5):
        g = jnp.asarray(RNG.normal(size=3))
        u0, s0 = tx0.update(g, s0, p0)
        ua, sa = ta.update(g, sa, pa)
        p0, pa = optax.apply_updates(p0, u0), optax.apply_updates(pa, ua)
    assert_close(p0, pa, rtol=1e-12)
    with pytest.raises(
        ValueError, match="precondition must be None or 'adam'; got precondition='sgd'"
    ):
        jr.transforms.proximal(jr.l1(0.1), 0.1, precondition="sgd")
