"""Non-convex elementwise penalties (mcp, scad, l0, lq) against skglm's own penalty objects,
NumPy closed forms and brute-force minimization of the proximal objective."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import diabetes
from skglm.penalties import L0_5, L2_3, SCAD, MCPenalty, WeightedMCPenalty

import jaxreg as jr

RNG = np.random.default_rng(0)
X = RNG.normal(scale=3.0, size=400)
W = RNG.uniform(0.0, 2.0, size=400)


def skglm_prox(pen, x, t):
    return np.array([pen.prox_1d(v, t, j) for j, v in enumerate(x)])


CASES = [  # (jaxreg penalty, skglm penalty, steps where skglm's formula is the exact prox)
    (jr.mcp(0.7, 3.0), MCPenalty(0.7, 3.0), (0.1, 0.5, 2.9)),
    (jr.mcp(0.7, 3.0, weights={"w": W}), WeightedMCPenalty(0.7, 3.0, W), (0.1, 0.5, 1.4)),
    (jr.scad(0.7, 3.7), SCAD(0.7, 3.7), (0.1, 0.5, 2.6)),
    (jr.lq(0.7, 0.5), L0_5(0.7), (0.1, 0.5, 3.0)),
    (jr.lq(0.7, 2 / 3), L2_3(0.7), (0.1, 0.5, 3.0)),
]


@pytest.mark.slow
@pytest.mark.parametrize("pen,ref,steps", CASES, ids=lambda c: repr(c)[:30])
def test_value_and_prox_match_skglm(pen, ref, steps):
    x = {"w": jnp.asarray(X)}
    np.testing.assert_allclose(float(pen(x)), ref.value(X), rtol=1e-10)
    np.testing.assert_allclose(float(jax.jit(lambda p, x: p(x))(pen, x)), ref.value(X), rtol=1e-10)
    for t in steps:
        got = np.asarray(pen.prox(x, t)["w"])
        want = skglm_prox(ref, X, t)
        np.testing.assert_array_equal(got == 0, want == 0)  # identical zero patterns
        assert 0.05 < (want == 0).mean() < 0.95 or t == steps[0]  # thresholds really bite
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def brute_force_prox(p, z, t, lo=-12.0, hi=12.0, n=240001):
    """argmin_u 1/2 (u - z)^2 + t p(u) on a fine grid, refined once around the best point."""
    grid = np.linspace(lo, hi, n)
    best = grid[np.argmin(0.5 * (grid - z) ** 2 + t * p(grid))]
    fine = np.concatenate([[0.0], np.linspace(best - 2e-4, best + 2e-4, 4001)])
    return fine[np.argmin(0.5 * (fine - z) ** 2 + t * p(fine))]


def np_mcp(lam, g):
    return lambda u: np.where(
        np.abs(u) <= g * lam, lam * np.abs(u) - u**2 / (2 * g), g * lam**2 / 2
    )


def np_scad(lam, g):
    def p(u):
        a = np.abs(u)
        mid = (2 * g * lam * a - a**2 - lam**2) / (2 * (g - 1))
        return np.where(a <= lam, lam * a, np.where(a <= g * lam, mid, lam**2 * (g + 1) / 2))

    return p


@pytest.mark.slow
@pytest.mark.parametrize(
    "pen,p,t",
    [
        (jr.mcp(0.7, 3.0), np_mcp(0.7, 3.0), 0.5),
        (jr.mcp(0.7, 3.0), np_mcp(0.7, 3.0), 4.5),  # t > gamma: skglm's formula divides by < 0
        (jr.mcp(0.7, 1.5), np_mcp(0.7, 1.5), 1.5),  # t = gamma
        (jr.scad(0.7, 3.7), np_scad(0.7, 3.7), 1.0),
        (jr.scad(0.7, 2.5), np_scad(0.7, 2.5), 3.0),  # t > gamma - 1
        (jr.l0(0.7), lambda u: 0.7 * (u != 0), 0.8),
        (jr.lq(0.7, 0.5), lambda u: 0.7 * np.sqrt(np.abs(u)), 0.8),
        (jr.lq(0.7, 2 / 3), lambda u: 0.7 * np.abs(u) ** (2 / 3), 0.8),
    ],
    ids=lambda c: repr(c)[:24],
)
def test_prox_is_the_global_minimizer_in_every_regime(pen, p, t):
    zs = np.concatenate([np.linspace(-6, 6, 61), RNG.normal(scale=3, size=40)])
    got = np.asarray(pen.prox({"w": jnp.asarray(zs)}, t)["w"])
    for z, u in zip(zs, got, strict=True):
        ref = brute_force_prox(p, z, t)
        obj = lambda v: 0.5 * (v - z) ** 2 + t * p(np.asarray(v))  # noqa: E731, B023
        assert obj(u) <= obj(ref) + 1e-9, (z, u, ref)  # never worse than the grid's best
        if abs(obj(u) - obj(ref)) > 1e-7:  # a strict minimizer: it is the same point
            assert abs(u - ref) < 1e-3, (z, u, ref)


def test_l0_is_hard_thresholding():
    t, lam = 0.8, 0.7
    got = np.asarray(jr.l0(lam, weights={"w": W}).prox({"w": jnp.asarray(X)}, t)["w"])
    np.testing.assert_array_equal(got, np.where(2 * t * lam * W < X**2, X, 0.0))
    assert float(jr.l0(lam, weights={"w": W})({"w": jnp.asarray(X)})) == pytest.approx(
        lam * W[X != 0].sum(), rel=1e-12
    )


def test_per_element_steps_give_the_adam_metric_prox_exactly():
    for pen, ref, valid in CASES:  # lr / (sqrt(v_hat) + eps): one step per weight
        steps = RNG.uniform(0.05, valid[-1], size=X.size)  # where skglm's formula is exact
        got = np.asarray(pen.prox({"w": jnp.asarray(X)}, {"w": jnp.asarray(steps)})["w"])
        want = np.array(
            [ref.prox_1d(v, t, j) for j, (v, t) in enumerate(zip(X, steps, strict=True))]
        )
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize(
    "pen,p",
    [
        (jr.mcp(0.7, 3.0), np_mcp(0.7, 3.0)),
        (jr.scad(0.7, 3.7), np_scad(0.7, 3.7)),
        (jr.l0(1.0), lambda u: 1.0 * (u != 0)),
        (jr.lq(1.0, 0.5), lambda u: np.sqrt(np.abs(u))),
        (jr.lq(1.0, 2 / 3), lambda u: np.abs(u) ** (2 / 3)),
    ],
    ids=lambda c: repr(c)[:16],
)
@pytest.mark.parametrize("b", [0.5, 3.0])
def test_with_l2_on_the_same_leaf_the_prox_is_exact(pen, p, b):
    t = 1.0
    zs = np.concatenate([np.linspace(-6, 6, 41), [1.5, 1.7855, -2.3]])
    got = np.asarray((pen + jr.l2(b)).prox({"w": jnp.asarray(zs)}, t)["w"])
    total = lambda u: p(u) + b / 2 * u**2  # noqa: E731
    for z, u in zip(zs, got, strict=True):
        ref = brute_force_prox(total, z, t)
        obj = lambda v: 0.5 * (v - z) ** 2 + t * total(np.asarray(v))  # noqa: E731, B023
        assert obj(u) <= obj(ref) + 1e-9, (z, u, ref)


def test_with_l2_on_the_same_leaf_mixed_kinds_raise():
    with pytest.raises(NotImplementedError, match="no closed-form prox"):
        (jr.mcp(0.1, 3.0) + jr.l1(0.1)).prox({"w": jnp.ones(3)}, 1.0)
    with pytest.raises(NotImplementedError, match="no closed-form prox"):
        (jr.mcp(0.1, 3.0) + jr.mcp(0.1, 3.0)).prox({"w": jnp.ones(3)}, 1.0)
    # lq + lq of one q is lq of the summed strength
    x = {"w": jnp.asarray(X)}
    np.testing.assert_array_equal(
        (jr.lq(0.3, 0.5) + jr.lq(0.4, 0.5)).prox(x, 0.8)["w"], jr.lq(0.7, 0.5).prox(x, 0.8)["w"]
    )


def test_lq_two_thirds_is_accurate_in_float32_and_for_huge_inputs():
    u = 0.01
    for x in (float(np.float32(v)) for v in (2.0003, 100.0, 1e10, 3e38)):
        got = float(jr.lq(u, 2 / 3).prox({"w": jnp.array([x], jnp.float32)}, 1.0)["w"][0])
        want = L2_3(u).prox_1d(x, 1.0, 0) if x < 1e9 else x  # shrinks by ~u x^-1/3 * 2/3
        assert np.isfinite(got) and got <= x
        assert got == pytest.approx(want, rel=2e-6), x
    got = float(jr.lq(1e-6, 2 / 3).prox({"w": jnp.array([1.0])}, 1.0)["w"][0])  # float64
    assert got == pytest.approx(1 - 2 / 3 * 1e-6, rel=1e-12)  # x - q u x^(q-1), to first order


@pytest.mark.slow
def test_bounded_penalties_keep_infinities():
    x = {"w": jnp.array([jnp.inf, -jnp.inf, 0.5])}
    for pen in (jr.mcp(0.7, 3.0), jr.scad(0.7, 3.7), jr.l0(0.7)):
        out = np.asarray(pen.prox(x, 0.5)["w"])
        assert out[0] == np.inf and out[1] == -np.inf, pen


def test_gradients_follow_the_formulas_and_are_zero_at_zero():
    x = jnp.asarray(np.concatenate([[0.0], X[:50]]))
    eps = 1e-6
    for pen, p in [(jr.mcp(0.7, 3.0), np_mcp(0.7, 3.0)), (jr.scad(0.7, 3.7), np_scad(0.7, 3.7))]:
        g = np.asarray(jax.grad(lambda v: pen({"w": v}))(x))  # noqa: B023
        fd = (p(np.asarray(x) + eps) - p(np.asarray(x) - eps)) / (2 * eps)
        assert g[0] == 0.0
        np.testing.assert_allclose(g[1:], fd[1:], atol=1e-6)
    for pen in (jr.lq(0.7, 0.5), jr.lq(0.7, 2 / 3), jr.l0(0.7)):
        assert float(jax.grad(lambda v: pen({"w": v}))(jnp.zeros(3))[0]) == 0.0  # noqa: B023


@pytest.mark.slow
def test_scaling_and_lambda_max():
    x = {"w": jnp.asarray(X)}
    np.testing.assert_allclose(float((2.5 * jr.mcp(0.7, 3.0))(x)), 2.5 * float(jr.mcp(0.7, 3.0)(x)))
    np.testing.assert_allclose(float((jr.mcp(0.7, 3.0) / 4)(x)), float(jr.mcp(0.7, 3.0)(x)) / 4)
    np.testing.assert_allclose(float((3 * jr.lq(0.7, 0.5))(x)), 3 * float(jr.lq(0.7, 0.5)(x)))
    with pytest.raises(TypeError, match="not a SCAD penalty"):
        2 * jr.scad(0.7, 3.7)
    A = jnp.asarray(RNG.normal(size=(30, 5)))
    y = jnp.asarray(RNG.normal(size=30))
    loss = lambda w: 0.5 * jnp.mean((A @ w - y) ** 2)  # noqa: E731
    want = np.abs(np.asarray(A).T @ np.asarray(y) / 30).max()  # |X^T y| / n at w = 0
    for pen in (jr.mcp(1.0, 3.0), jr.scad(1.0, 3.7)):
        assert float(jr.select.lambda_max(loss, jnp.ones(5), pen)) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="lambda_max"):
        jr.select.lambda_max(loss, jnp.ones(5), jr.l0(1.0))


def test_bad_arguments_name_the_argument_and_value():
    with pytest.raises(ValueError, match=r"mcp needs gamma > 0; got gamma=0.0"):
        jr.mcp(1.0, 0.0)
    with pytest.raises(ValueError, match=r"gamma > 2; got gamma=2.0"):
        jr.scad(1.0, 2.0)
    with pytest.raises(ValueError, match=r"q must be 1/2 or 2/3.*q=0.3"):
        jr.lq(1.0, 0.3)
    with pytest.raises(ValueError, match="strength"):
        jr.mcp(-1.0, 3.0)


@pytest.mark.slow
def test_nan_propagates_through_value_and_prox():
    x = {"w": jnp.array([1.0, jnp.nan, 0.0])}
    for pen in (
        jr.mcp(0.7, 3.0),
        jr.scad(0.7, 3.7),
        jr.l0(0.7),
        jr.lq(0.7, 0.5),
        jr.lq(0.7, 2 / 3),
    ):
        assert np.isnan(float(pen(x)))
        out = np.asarray(pen.prox(x, 0.5)["w"])
        assert np.isnan(out[1]) and out[2] == 0.0


@pytest.mark.slow
def test_equinox_model_under_jit_kernels_only():
    model = eqx.nn.MLP(4, 3, 8, 2, key=jax.random.PRNGKey(0))
    model = jax.tree.map(lambda a: a * 4 if eqx.is_array(a) else a, model)
    pen = jr.mcp(0.5, 2.0, mask=jr.masks.kernels)
    kernels = [layer.weight for layer in model.layers]
    want = sum(float(np_mcp(0.5, 2.0)(np.asarray(k, np.float64)).sum()) for k in kernels)
    assert float(eqx.filter_jit(lambda p, m: p(m))(pen, model)) == pytest.approx(want, rel=1e-6)
    shrunk = eqx.filter_jit(lambda p, m: p.prox(m, 0.5))(pen, model)
    for old, new in zip(model.layers, shrunk.layers, strict=True):
        assert np.array_equal(np.asarray(old.bias), np.asarray(new.bias))  # biases untouched
        ref = skglm_prox(MCPenalty(0.5, 2.0), np.asarray(old.weight, np.float64).ravel(), 0.5)
        np.testing.assert_allclose(np.asarray(new.weight).ravel(), ref, rtol=1e-6, atol=1e-7)
        assert (np.asarray(new.weight) == 0).any()


def test_proximal_training_with_adam_metric_keeps_exact_zeros():
    import optax

    A = jnp.asarray(RNG.normal(size=(100, 20)))
    w_true = jnp.zeros(20).at[:3].set(jnp.array([2.0, -3.0, 1.5]))
    y = A @ w_true
    pen = jr.mcp(0.05, 3.0)
    tx = jr.transforms.proximal(pen, 0.05, precondition="adam")
    w = jnp.zeros(20)
    state = tx.init(w)

    @jax.jit
    def step(w, state):
        g = jax.grad(lambda w: 0.5 * jnp.mean((A @ w - y) ** 2))(w)
        u, state = tx.update(g, state, w)
        return optax.apply_updates(w, u), state

    for _ in range(600):
        w, state = step(w, state)
    w = np.asarray(w)
    assert (w[3:] == 0).all() and np.allclose(w[:3], [2.0, -3.0, 1.5], atol=2e-2)


# --------------------------------------------------------------------------------------------
# Sparse group lasso


def test_sparse_group_lasso_matches_skglm_value_and_prox():
    from skglm.penalties import WeightedL1GroupL2

    G, k, lam, rho = 30, 5, 0.4, 0.3
    # its own draw (not the module's RNG, whose state depends on which tests ran before): two
    # whole groups vanish at the largest step
    x = np.random.default_rng(0).normal(scale=1.5, size=(G, k))
    ref = WeightedL1GroupL2(
        lam,
        np.full(G, 1 - rho),
        np.full(G * k, rho),
        np.arange(0, G * k + 1, k, dtype=np.int32),
        np.arange(G * k, dtype=np.int32),
    )
    pen = jr.sparse_group_lasso(lam, rho, axis=-1)
    np.testing.assert_allclose(float(pen({"w": jnp.asarray(x)})), ref.value(x.ravel()), rtol=1e-12)
    for t in (0.3, 1.0, 3.0):
        got = np.asarray(jax.jit(lambda p, x, t: p.prox({"w": x}, t))(pen, jnp.asarray(x), t)["w"])
        want = np.stack([ref.prox_1group(x[g], t, g) for g in range(G)])
        np.testing.assert_array_equal(got == 0, want == 0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        assert (got == 0).all(axis=1).any() or t < 3  # whole groups vanish at the largest step
    # the two ends: l1_ratio 1 is l1, 0 is group_lasso
    x_ = {"w": jnp.asarray(x)}
    np.testing.assert_allclose(
        jr.sparse_group_lasso(lam, 1.0).prox(x_, 0.7)["w"], jr.l1(lam).prox(x_, 0.7)["w"]
    )
    np.testing.assert_allclose(
        jr.sparse_group_lasso(lam, 0.0).prox(x_, 0.7)["w"], jr.group_lasso(lam).prox(x_, 0.7)["w"]
    )


@pytest.mark.slow
def test_sparse_group_lasso_lambda_max_solves_each_group_by_bisection():
    from scipy.optimize import brentq

    rho = 0.4
    A = jnp.asarray(RNG.normal(size=(50, 12)))
    y = jnp.asarray(RNG.normal(size=50))
    loss = lambda W: 0.5 * jnp.mean((A @ W.ravel() - y) ** 2)  # noqa: E731
    got = float(jr.select.lambda_max(loss, jnp.ones((4, 3)), jr.sparse_group_lasso(1.0, rho)))
    g = np.abs(np.asarray(A).T @ np.asarray(y) / 50).reshape(4, 3)  # |gradient| at 0

    def root(gg):
        gap = lambda lam: np.linalg.norm(np.maximum(gg - lam * rho, 0)) - lam * (1 - rho)  # noqa: E731
        return brentq(gap, 0.0, gg.max() / rho + 1.0, xtol=1e-15, rtol=1e-14)

    assert got == pytest.approx(max(root(row) for row in g), rel=1e-10)


# --------------------------------------------------------------------------------------------
# SLOPE


def test_slope_matches_skglm_value_prox_and_lambda_max():
    from scipy.stats import norm
    from skglm.penalties import SLOPE

    p = 60
    seq = norm.ppf(1 - np.arange(1, p + 1) * 0.1 / (2 * p))  # Benjamini-Hochberg, q = 0.1
    x = RNG.normal(scale=3.0, size=p)
    x[:5] = x[5]  # ties among the magnitudes
    ref = SLOPE(seq)  # alphas, then alpha = 1 (skglm >= 0.4)
    pen = jr.slope(seq)
    np.testing.assert_allclose(float(pen({"w": jnp.asarray(x)})), ref.value(x), rtol=1e-12)
    for t in (0.05, 0.5, 2.0):
        got = np.asarray(jax.jit(lambda p, x, t: p.prox({"w": x}, t))(pen, jnp.asarray(x), t)["w"])
        want = ref.prox_vec(x, t)
        np.testing.assert_array_equal(got == 0, want == 0)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(
        float((2.0 * pen)({"w": jnp.asarray(x)})), 2 * ref.value(x), rtol=1e-12
    )
    # lambda_max: the dual norm max_k sum_{i<=k} |g|_(i) / sum_{i<=k} seq_i, in NumPy
    A = RNG.normal(size=(40, p))
    y = RNG.normal(size=40)
    loss = lambda w: 0.5 * jnp.mean((jnp.asarray(A) @ w - jnp.asarray(y)) ** 2)  # noqa: E731
    g = np.sort(np.abs(A.T @ y / 40))[::-1]
    want = np.max(np.cumsum(g) / np.cumsum(seq))
    assert float(jr.select.lambda_max(loss, jnp.ones(p), pen)) == pytest.approx(want, rel=1e-12)
    # at 1.001 x lambda_max the solver keeps 0; below it does not
    above, _ = jr.solve(loss, jr.slope(seq * want * 1.001), jnp.zeros(p), max_iter=2000)
    below, _ = jr.solve(loss, jr.slope(seq * want * 0.9), jnp.zeros(p), max_iter=2000)
    assert np.all(np.asarray(above) == 0) and np.any(np.asarray(below) != 0)


def test_slope_bad_inputs_and_short_sequences():
    with pytest.raises(ValueError, match="non-increasing"):
        jr.slope([0.5, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        jr.slope(0.5)
    with pytest.raises(ValueError, match=r"slope has 2 strengths; the leaf at 'w' has 3"):
        jr.slope([1.0, 0.5])({"w": jnp.ones(3)})
    assert jr.slope([1.0, 0.5]) == jr.slope([1.0, 0.5])
    assert hash(jr.slope([1.0, 0.5])) == hash(jr.slope([1.0, 0.5]))


# --------------------------------------------------------------------------------------------
# jr.solve with the non-convex and sorted penalties, against skglm's estimators


def _problem(name):
    if name == "diabetes":
        X, y = diabetes()
        return (X - X.mean(0)) / X.std(0), y - y.mean(), None
    rng = np.random.default_rng(0)  # n = 200, p = 500, correlation 0.5^|i-j|, 10 true features
    n, p = 200, 500
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.multivariate_normal(np.zeros(p), cov, size=n)
    w = np.zeros(p)
    true = rng.choice(p, 10, replace=False)
    w[true] = rng.choice([-2.0, 2.0], 10) * rng.uniform(1, 2, 10)
    return X, X @ w + 0.5 * rng.normal(size=n), np.sort(true)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mcp", "scad", "slope"])
@pytest.mark.parametrize("data", ["diabetes", "correlated"])
def test_solve_is_no_worse_than_skglm(kind, data):
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Quadratic
    from skglm.penalties import SLOPE
    from skglm.solvers import FISTA, AndersonCD

    X, y, true = _problem(data)
    n, p = X.shape
    alpha = np.abs(X.T @ y).max() / n / 10
    if kind == "mcp":
        pen, ref_pen = jr.mcp(alpha, 3.0), MCPenalty(alpha, 3.0)
    elif kind == "scad":
        pen, ref_pen = jr.scad(alpha, 3.7), SCAD(alpha, 3.7)
    else:
        seq = alpha * np.linspace(1, 0.1, p)
        pen, ref_pen = jr.slope(seq), SLOPE(seq)
    solver = (
        FISTA(max_iter=20000, tol=1e-12, opt_strategy="fixpoint")
        if kind == "slope"
        else AndersonCD(tol=1e-12, max_iter=1000)
    )
    ref = GeneralizedLinearEstimator(Quadratic(), ref_pen, solver).fit(X, y).coef_
    loss = lambda w: 0.5 * jnp.mean((jnp.asarray(X) @ w - jnp.asarray(y)) ** 2)  # noqa: E731
    w, info = jr.solve(loss, pen, jnp.zeros(p), max_iter=20000)  # both from w = 0
    objective = lambda w: float(loss(jnp.asarray(w)) + pen(jnp.asarray(w)))  # noqa: E731
    assert info.converged
    assert objective(w) <= objective(ref) * (1 + 1e-8), (objective(w), objective(ref))
    if true is not None:  # support recovery on the correlated design
        np.testing.assert_array_equal(np.flatnonzero(np.asarray(w)), true)


# --------------------------------------------------------------------------------------------
# The closed forms of scad and lq against independent references, both dtypes, both regimes


def _lq_reference(z, u, q):
    """The lq prox in long double: the threshold test and the kept root by bisection."""
    a, u = np.abs(z).astype(np.longdouble), np.asarray(u, np.longdouble)
    n = 3 if q == 0.5 else 4  # y^n - y + c = 0 for y = x^(1/2) / a^(1/2) (x^(1/3) / a^(1/3))
    c = u / (2 * a**1.5) if q == 0.5 else (2 * u / 3) / a ** (np.longdouble(4) / 3)
    lo, hi = np.full_like(a, 0.75), np.ones_like(a)  # the kept root lies in [0.79, 1]
    for _ in range(80):
        mid = (lo + hi) / 2
        above = mid**n - mid + c > 0  # the polynomial increases from the kept root on
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    x = a * ((lo + hi) / 2) ** (n - 1)
    keep = a >= (1.5 * u ** (np.longdouble(2) / 3) if q == 0.5 else 2 * (2 * u / 3) ** 0.75)
    return np.where(keep, np.sign(z) * x, 0.0).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("q", [0.5, 2 / 3])
def test_lq_prox_matches_the_root_of_its_polynomial(q, dtype):
    rng = np.random.default_rng(1)
    tiny, huge = (1e-20, 1e20) if dtype == np.float32 else (1e-30, 1e30)
    n = 3000
    u = np.exp(rng.uniform(np.log(tiny), np.log(huge), n))
    thr = 1.5 * u ** (2 / 3) if q == 0.5 else 2 * (2 * u / 3) ** 0.75
    near = 1e-5 if dtype == np.float32 else 1e-12  # beyond the threshold test's rounding
    ratio = np.concatenate(
        [
            1 + near * rng.choice([-1, 1], n // 3),  # just above / below the threshold
            np.exp(rng.uniform(0, np.log(1e8), n - n // 3)),  # far above
        ]
    )
    z = (thr * ratio * rng.choice([-1, 1], n)).astype(dtype)
    extremes = np.array([tiny, huge, 1.0], dtype)  # |z| at the ends with steps that keep them
    z = np.concatenate([z, extremes, -extremes])
    u = np.concatenate([u, np.tile([tiny**1.6, huge**0.9, 0.3], 2)]).astype(dtype)
    pen = jr.lq(1.0, q)
    got = np.asarray(jax.jit(lambda z, u: pen.prox({"w": z}, {"w": u})["w"])(z, u))
    assert got.dtype == dtype
    want = _lq_reference(z, u, q)
    np.testing.assert_array_equal(got == 0, want == 0)
    assert 0.1 < (want == 0).mean() < 0.3  # half of the near-threshold points are zeroed
    np.testing.assert_allclose(got, want, rtol=8 * np.finfo(dtype).eps, atol=0)


def _scad_reference(z, t, lam, g):
    """The scad prox in float64 as the best of each piece's minimizer over its interval."""
    a = np.abs(z).astype(np.float64)

    def objective(x):
        p = np.where(
            x <= lam,
            lam * x,
            np.where(
                x <= g * lam,
                (2 * g * lam * x - x**2 - lam**2) / (2 * (g - 1)),
                lam**2 * (g + 1) / 2,
            ),
        )
        return 0.5 * (x - a) ** 2 + t * p

    with np.errstate(divide="ignore", invalid="ignore"):
        mid = np.clip(((g - 1) * a - t * g * lam) / (g - 1 - t), lam, g * lam)
    candidates = [np.clip(a - t * lam, 0, lam), np.where(t < g - 1, mid, lam), g * lam + 0 * a]
    candidates.append(np.maximum(a, g * lam))
    values = np.stack([objective(c) for c in candidates])
    best = np.stack(candidates)[np.argmin(values, axis=0), np.arange(a.size)]
    return np.sign(z) * best, objective, values.min(axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scad_prox_matches_the_best_piece_in_both_step_regimes(dtype):
    rng = np.random.default_rng(2)
    lam, g = 0.7, 3.7
    tiny, huge = (1e-20, 1e20) if dtype == np.float32 else (1e-30, 1e30)
    n = 4000
    t = np.concatenate(
        [rng.uniform(0.01, 0.9, n // 2) * (g - 1), rng.uniform(1.1, 4.0, n - n // 2) * (g - 1)]
    )  # per-element steps: the convex (t < gamma - 1) and the concave regime
    knots = np.stack(np.broadcast_arrays((1 + t) * lam, g * lam, t * lam, lam))  # piece ends
    z = np.concatenate(
        [
            knots[rng.integers(0, 4, n), np.arange(n)] * (1 + 1e-3 * rng.choice([-1, 1], n)),
            rng.normal(scale=3.0, size=n),
        ]
    )
    t = np.concatenate([t, t])
    z = np.concatenate([z, [tiny, -tiny, huge, -huge, 0.0]]) * rng.choice([-1, 1], 2 * n + 5)
    t = np.concatenate([t, [0.5, 5.0, 0.5, 5.0, 1.0]])
    z, t = z.astype(dtype), t.astype(dtype)
    pen = jr.scad(lam, g)
    got = np.asarray(jax.jit(lambda z, t: pen.prox({"w": z}, {"w": t})["w"])(z, t))
    assert got.dtype == dtype
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    want, objective, best = _scad_reference(z64, t64, lam, g)
    # the rounding of |z| - t lam and of the middle piece (slope up to 1 / (1 - t / (g - 1)) = 10)
    rtol = 32 * np.finfo(dtype).eps
    close = np.abs(got - want) <= rtol * (np.abs(want) + np.abs(z64) + t64 * lam * g)
    # where the two outer minimizers tie (concave regime), either is the prox
    tie = np.abs(objective(np.abs(got.astype(np.float64))) - best) <= rtol * (1 + best)
    assert (close | tie).all(), (z[~(close | tie)], t[~(close | tie)], got[~(close | tie)])
    assert close.mean() > 0.99
