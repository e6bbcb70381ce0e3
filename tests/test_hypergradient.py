"""Hypergradients through `jr.solve` (implicit differentiation) against finite differences,
jaxopt's implicit differentiation, and scikit-learn's solutions; `jr.select.tune`."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from helpers import assert_close

import jaxreg as jr

TOL = dict(tol=1e-13, max_iter=100_000)  # reachable in float64: the solves converge


def make_data(kind: str, n: int = 40, p: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2 * n, p))
    w = np.zeros(p)
    w[:4] = [1.5, -2.0, 1.0, 0.5]
    s = X @ w + 0.5 * rng.normal(size=2 * n)
    # logistic labels with noise: not separable, so every penalty (mcp too) has a minimizer
    y = s if kind == "squares" else (s + 2.0 * rng.normal(size=2 * n) > 0).astype(float)
    return jnp.asarray(X[:n]), jnp.asarray(y[:n]), jnp.asarray(X[n:]), jnp.asarray(y[n:])


def loss_fn(kind: str):
    if kind == "squares":
        return lambda X, y, w: 0.5 * jnp.mean((X @ w.ravel() - y) ** 2)
    return lambda X, y, w: jnp.mean(optax.sigmoid_binary_cross_entropy(X @ w.ravel(), y))


# name -> (penalty from (strength, weights), params shape)
KINDS = {
    "l1": (lambda s, w: jr.l1(s), (12,)),
    "weighted_l1": (lambda s, w: jr.l1(s, weights=w), (12,)),
    "elastic_net": (lambda s, w: jr.elastic_net(s, 0.5), (12,)),
    "group_lasso": (lambda s, w: jr.group_lasso(s), (4, 3)),
    "l2": (lambda s, w: jr.l2(s), (12,)),
    "mcp": (lambda s, w: jr.mcp(s, 20.0), (12,)),  # some weights inside gamma * s
}
WEIGHTS = jnp.asarray(np.linspace(0.5, 2.0, 12))


def problem(kind: str, pen_name: str):
    Xt, yt, Xv, yv = make_data(kind)
    loss = loss_fn(kind)
    build, shape = KINDS[pen_name]
    x0 = jnp.zeros(shape)
    if pen_name == "l2":
        strength = 0.05
    else:
        lm = jr.select.lambda_max(lambda w: loss(Xt, yt, w), x0, build(1.0, WEIGHTS))
        strength = 0.3 * float(lm)

    def val_of(s, weights=WEIGHTS, yt=yt):
        w, _ = jr.solve(lambda w: loss(Xt, yt, w), build(s, weights), x0, **TOL)
        return loss(Xv, yv, w), w

    # compiled once: every finite-difference point reuses the program (a fresh closure per
    # eager call would trace and compile the solve again)
    return strength, jax.jit(val_of)


def central(f, x, h):
    """Fourth-order central difference: error O(h^4), so h can stay well above the solver's
    ~1e-15 noise (which a second-order difference with a tiny h would amplify)."""
    return (8 * (f(x + h) - f(x - h)) - (f(x + 2 * h) - f(x - 2 * h))) / (12 * h)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["squares", "logistic"])
@pytest.mark.parametrize("pen_name", list(KINDS))
def test_strength_hypergradient_matches_finite_differences(kind, pen_name):
    s, val_of = problem(kind, pen_name)
    # fourth order; the solver's own noise (~1e-15, more for logistic) / h; mcp's solution
    # jumps between local minima within 2%
    h = (1e-3 if pen_name == "mcp" else 1e-2) * s
    w0 = val_of(s)[1]
    for v in (s - 2 * h, s - h, s + h, s + 2 * h):  # away from kinks: one zero pattern
        assert np.array_equal(np.asarray(val_of(v)[1]) == 0, np.asarray(w0) == 0)
    if pen_name != "l2":
        assert 0 < np.count_nonzero(np.asarray(w0)) < w0.size  # a real support
    fd = central(lambda v: float(val_of(v)[0]), s, h)
    g = jax.jit(jax.grad(lambda v: val_of(v)[0]))(s)
    assert abs(fd) > 1e-4  # a gradient well above the FD noise
    assert_close(float(g), fd, rtol=1e-6, what=f"{kind} {pen_name}")
    # forward mode gives the same number
    assert_close(float(jax.jvp(lambda v: val_of(v)[0], (s,), (1.0,))[1]), float(g), rtol=1e-8)


@pytest.mark.slow
def test_per_feature_weights_hypergradient_matches_finite_differences():
    s, val_of = problem("squares", "weighted_l1")
    g = jax.grad(lambda w: val_of(s, w)[0])(WEIGHTS)
    support = np.asarray(val_of(s)[1]) != 0
    checked = []
    for i in range(12):
        if checked.count(True) >= 3 and checked.count(False) >= 1:
            break
        e = np.zeros(12)
        e[i] = 1.0
        moved = [val_of(s, WEIGHTS + t * e)[1] for t in (-2e-2, -1e-2, 1e-2, 2e-2)]
        if any(not np.array_equal(np.asarray(m) == 0, ~support) for m in moved):
            continue  # a kink within the difference's reach
        fd = central(lambda t, e=e: float(val_of(s, WEIGHTS + t * e)[0]), 0.0, 1e-2)
        assert_close(float(g[i]), fd, rtol=1e-6, atol=1e-9, what=f"weight {i}")
        if not support[i]:
            assert g[i] == 0.0  # a zero coefficient does not move with its weight
        checked.append(bool(support[i]))
    assert checked.count(True) >= 3 and checked.count(False) >= 1
    assert np.count_nonzero(np.asarray(g)) >= 3


@pytest.mark.slow
def test_gradient_wrt_the_data_the_objective_closes_over():
    """d val / d y_train against the Lasso's closed form on the support, written in NumPy:
    w_S = A^{-1} (X_S^T y / n - s sign(w_S)), A = X_S^T X_S / n, so dw_S/dy = A^{-1} X_S^T / n
    (a finite difference cannot resolve this small gradient to 1e-6 through the solver)."""
    s, val_of = problem("squares", "l1")
    Xt, yt, Xv, yv = (np.asarray(a) for a in make_data("squares"))
    g = np.asarray(jax.jit(jax.grad(lambda y: val_of(s, yt=y)[0]))(jnp.asarray(yt)))
    w = np.asarray(val_of(s)[1])
    S = w != 0
    A = Xt[:, S].T @ Xt[:, S] / len(yt)
    dval_dw = Xv[:, S].T @ (Xv[:, S] @ w[S] - yv) / len(yv)
    exact = Xt[:, S] @ np.linalg.solve(A, dval_dw) / len(yt)
    assert_close(g, exact, rtol=1e-9, atol=1e-12 * np.abs(exact).max())
    e = np.zeros(len(yt))
    e[3] = 1.0
    fd = central(lambda t: float(val_of(s, yt=jnp.asarray(yt + t * e))[0]), 0.0, 0.1)
    assert_close(g[3], fd, rtol=1e-4)


@pytest.mark.slow
def test_vmap_over_strengths_equals_one_by_one():
    _, val_of = problem("squares", "l1")
    s = jnp.array([0.05, 0.1, 0.2])
    batched = jax.jit(jax.vmap(jax.grad(lambda v: val_of(v)[0])))(s)
    one = jax.jit(jax.grad(lambda v: val_of(v)[0]))  # compiled once, called per strength
    single = [float(one(v)) for v in s]
    assert_close(np.asarray(batched), np.asarray(single), rtol=1e-10)


@pytest.mark.slow
def test_hypergradient_api_returns_the_penalty_structure():
    Xt, yt, Xv, yv = make_data("squares")
    loss = loss_fn("squares")
    pen = jr.elastic_net(0.1, 0.5) + jr.l2(0.02)
    g = jr.select.hypergradient(
        lambda w: loss(Xt, yt, w), pen, jnp.zeros(12), lambda w: loss(Xv, yv, w), **TOL
    )
    assert isinstance(g, jr.Sum) and len(g.terms) == 2

    @jax.jit  # compiled once for the four points of the difference
    def val_of(v):
        w, _ = jr.solve(lambda w: loss(Xt, yt, w), pen.terms[0] + jr.l2(v), jnp.zeros(12), **TOL)
        return loss(Xv, yv, w)

    fd = central(lambda v: float(val_of(v)), 0.02, 1e-4)
    assert_close(float(g.terms[1].strength), fd, rtol=1e-6)
    assert float(g.terms[0].l1_ratio) != 0.0  # every float leaf gets its gradient


@pytest.mark.slow
def test_against_jaxopt_implicit_differentiation():
    jaxopt = pytest.importorskip("jaxopt")
    Xt, yt, Xv, yv = make_data("squares", n=60, p=30, seed=3)
    loss = loss_fn("squares")

    def fun(w, data):
        return loss(*data, w)

    # jaxopt's default adjoint solve (normal CG, tol 1e-5) is off by 5e-6 here, while ours
    # equals the closed form -(X_S^T X_S / n)^{-1} sign(w_S) to 1e-16: give it a tight GMRES
    pg = jaxopt.ProximalGradient(
        fun=fun,
        prox=jaxopt.prox.prox_lasso,
        tol=1e-15,
        maxiter=100_000,
        implicit_diff=True,
        implicit_diff_solve=functools.partial(
            jaxopt.linear_solve.solve_gmres, tol=1e-14, restart=60, maxiter=1000
        ),
    )

    def theirs(lam):
        return loss(Xv, yv, pg.run(jnp.zeros(30), hyperparams_prox=lam, data=(Xt, yt)).params)

    def ours(lam):
        return loss(
            Xv, yv, jr.solve(lambda w: loss(Xt, yt, w), jr.l1(lam), jnp.zeros(30), **TOL)[0]
        )

    # each compiled once for the three strengths (eagerly, each call would compile its loops)
    ours_vg, theirs_vg = (jax.jit(jax.value_and_grad(f)) for f in (ours, theirs))
    for lam in [0.02, 0.1, 0.3]:
        (v, g), (v_ref, g_ref) = ours_vg(lam), theirs_vg(lam)
        assert_close(float(v), float(v_ref), rtol=1e-8)  # both solvers' noise
        assert_close(float(g), float(g_ref), rtol=1e-8)


@pytest.mark.slow
def test_equinox_and_nnx_models_as_the_solution():
    """The solution is a module; the bias is unpenalized (mask=kernels) and moves freely.
    Least squares: the solver reaches ~1e-16, so a finite difference resolves 1e-6."""
    Xt, yt, Xv, yv = make_data("squares")
    yt, yv = yt + 3.0, yv + 3.0  # an intercept to fit

    def mse(m, X, y):
        return 0.5 * jnp.mean((jax.vmap(m)(X)[:, 0] - y) ** 2)

    lin = eqx.nn.Linear(12, 1, key=jax.random.key(0))
    lin = eqx.tree_at(lambda m: (m.weight, m.bias), lin, (jnp.zeros((1, 12)), jnp.zeros(1)))

    def solution(s):
        return jr.solve(lambda m: mse(m, Xt, yt), jr.l1(s, mask=jr.masks.kernels), lin, **TOL)[0]

    s = 0.3
    m = solution(s)
    assert float(m.bias[0]) > 2.0 and 0 < int(jnp.sum(m.weight != 0)) < 12
    val = jax.jit(lambda v: mse(solution(v), Xv, yv))  # compiled once for the difference
    g = float(jax.grad(val)(s))
    fd = central(lambda v: float(val(v)), s, 1e-2 * s)
    assert abs(fd) > 1e-3
    assert_close(g, fd, rtol=1e-6, what="equinox")

    graphdef, state = nnx.split(nnx.Linear(12, 1, rngs=nnx.Rngs(0), param_dtype=jnp.float64))
    state = jax.tree.map(jnp.zeros_like, state)

    def mse_nnx(st, X, y):
        return 0.5 * jnp.mean((nnx.merge(graphdef, st)(X)[:, 0] - y) ** 2)

    def val_nnx(s):
        st, _ = jr.solve(
            lambda st: mse_nnx(st, Xt, yt), jr.l1(s, mask=jr.masks.kernels), state, **TOL
        )
        return mse_nnx(st, Xv, yv)

    assert_close(float(jax.jit(jax.grad(val_nnx))(s)), g, rtol=1e-8, what="nnx vs equinox")


@pytest.mark.slow
def test_non_differentiable_kinds_raise_when_differentiated_only():
    f = lambda w: 0.5 * jnp.sum((w - 1.0) ** 2)  # noqa: E731
    pen = jr.nuclear(0.1)
    w, _ = jr.solve(f, pen, jnp.zeros((3, 2)))  # solving is fine
    assert w.shape == (3, 2)
    with pytest.raises(NotImplementedError, match="cannot be differentiated through nuclear"):
        jax.grad(lambda s: jnp.sum(jr.solve(f, jr.nuclear(s), jnp.zeros((3, 2)))[0]))(0.1)


def test_hypergradient_rejects_a_non_penalty():
    with pytest.raises(TypeError, match="penalty must be a jaxreg Penalty; got function"):
        jr.select.hypergradient(lambda w: w @ w, jr.l1, jnp.zeros(2), lambda w: w @ w)


# --------------------------------------------------------------------------------------------
# tune


def test_tune_with_folds_reports_the_mean_fold_loss_of_sklearn_lasso():
    """K folds vmapped: the reported loss is the folds' mean validation MSE at the returned
    strength, recomputed here with scikit-learn's Lasso (same objective scaling)."""
    from sklearn.linear_model import Lasso
    from sklearn.model_selection import KFold

    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 30))
    y = X[:, :5] @ np.array([2.0, -1.5, 1.0, 1.0, -0.5]) + rng.normal(size=120)
    parts = [
        (X[tr], y[tr], X[te], y[te]) for tr, te in KFold(4, shuffle=True, random_state=0).split(X)
    ]
    data = tuple(jnp.asarray(np.stack(a)) for a in zip(*parts, strict=True))

    def objective(w, d):
        return 0.5 * jnp.mean((d[0] @ w - d[1]) ** 2)

    def val(w, d):
        return jnp.mean((d[2] @ w - d[3]) ** 2)

    res = jr.select.tune(
        objective, val, jr.l1, 0.5, jnp.zeros(30), data=data, max_evals=8, tol=1e-13
    )
    assert len(res.history_loss) <= 8 and res.solves[-1] == len(res.history_loss)
    assert res.val_loss == pytest.approx(np.min(res.history_loss))
    assert res.val_loss < res.history_loss[0] * 0.99  # it improved on the start
    lam = float(res.hyper)
    mses = []
    for Xtr, ytr, Xte, yte in parts:
        m = Lasso(alpha=lam, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(Xtr, ytr)
        mses.append(np.mean((Xte @ m.coef_ - yte) ** 2))
    assert_close(res.val_loss, float(np.mean(mses)), rtol=1e-7)
    assert res.params.shape == (4, 30)


@pytest.mark.slow
def test_tune_per_feature_weights_beats_the_single_strength():
    Xt, yt, Xv, yv = make_data("squares", n=60, p=20, seed=5)

    def f(w):
        return 0.5 * jnp.mean((Xt @ w - yt) ** 2)

    def val(w):
        return jnp.mean((Xv @ w - yv) ** 2)

    single = jr.select.tune(f, val, jr.l1, 0.1, jnp.zeros(20), max_evals=8, tol=1e-13)
    adaptive = jr.select.tune(
        f,
        val,
        lambda h: jr.l1(1.0, weights=h),
        np.full(20, float(single.hyper)),
        jnp.zeros(20),
        max_evals=12,
        tol=1e-13,
    )
    assert adaptive.hyper.shape == (20,)
    assert adaptive.history_loss[0] == pytest.approx(single.val_loss, rel=1e-8)
    assert adaptive.val_loss < single.val_loss


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"hyper0": -1.0}, "hyper0 must be finite and > 0"),
        ({"hyper0": float("nan")}, "hyper0 must be finite and > 0"),
        ({"max_evals": 0}, "max_evals must be a positive int; got max_evals=0"),
        ({"max_step": 0.0}, "max_step must be a finite number > 0"),
        ({"penalty": jr.l1(0.1)}, "penalty must be a function h -> Penalty"),
        ({"data": (jnp.ones((3, 2)), jnp.ones((4, 2)))}, "one leading fold axis"),
    ],
)
def test_tune_bad_arguments(kwargs, match):
    args = dict(
        objective=lambda w, *d: w @ w,
        val_loss=lambda w, *d: w @ w,
        penalty=jr.l1,
        hyper0=0.1,
        init_params=jnp.zeros(2),
    )
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        jr.select.tune(**args)


# --------------------------------------------------------------------------------------------
# Edge cases: NaN in the validation data, a direction the training loss ignores, a whole module


@pytest.mark.slow
def test_nan_in_the_validation_data_gives_nan_not_zero():
    s, val_of = problem("squares", "l1")
    Xt, yt, Xv, yv = make_data("squares")
    loss = loss_fn("squares")
    yv = yv.at[0].set(jnp.nan)

    def F(v):
        w, _ = jr.solve(lambda w: loss(Xt, yt, w), jr.l1(v), jnp.zeros(12), **TOL)
        return loss(Xv, yv, w)

    assert np.isnan(float(jax.grad(F)(s)))
    assert np.isnan(float(jax.jvp(F, (s,), (1.0,))[1]))
    # a negative strength under grad: NaN value and NaN gradient, never a number
    value, grad = jax.value_and_grad(F)(-0.1)
    assert np.isnan(float(value)) and np.isnan(float(grad))


@pytest.mark.slow
def test_a_direction_the_training_loss_does_not_see():
    """An unpenalized leaf the training loss ignores (a ReLU unit dead on every training row):
    the restricted Hessian is singular; both modes give the least-norm derivative, which
    finite differences confirm (the leaf stays at its start)."""
    Xt, yt, Xv, yv = make_data("squares")
    loss = loss_fn("squares")
    init = {"kernel": jnp.zeros(12), "u": jnp.ones(())}
    mask = jr.masks.by_path(include="kernel")

    def F(v):
        q, _ = jr.solve(lambda q: loss(Xt, yt, q["kernel"]), jr.l1(v, mask=mask), init, **TOL)
        return loss(Xv, yv - q["u"], q["kernel"])

    s = 0.1
    g = float(jax.grad(F)(s))
    assert_close(float(jax.jvp(F, (s,), (1.0,))[1]), g, rtol=1e-9)
    assert_close(g, central(lambda v: float(F(v)), s, 1e-2 * s), rtol=1e-6)


def test_a_whole_equinox_mlp_is_solved_with_its_functions_held():
    X, y, _, _ = make_data("squares", n=30, p=4)
    mlp = eqx.nn.MLP(4, 1, 8, 1, key=jax.random.key(0))
    mlp = jax.tree.map(lambda v: v.astype(jnp.float64) if eqx.is_inexact_array(v) else v, mlp)

    def loss(m):
        return jnp.mean((jax.vmap(m)(X)[:, 0] - y) ** 2)

    pen = jr.l2(0.1, mask=jr.masks.kernels)
    m, info = jr.solve(loss, pen, mlp, max_iter=3000, tol=1e-10)
    assert m.activation is mlp.activation and isinstance(m, eqx.nn.MLP)
    params, static = eqx.partition(mlp, eqx.is_inexact_array)
    ref, _ = jr.solve(lambda p: loss(eqx.combine(p, static)), pen, params, max_iter=3000, tol=1e-10)
    assert_close(np.asarray(m.layers[0].weight), np.asarray(ref.layers[0].weight), rtol=1e-12)
    assert float(info.objective) < float(loss(mlp) + pen(mlp))
