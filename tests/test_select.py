"""jr.select against scikit-learn (lasso_path, LassoCV) and against separate trainings."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import EXAMPLES, assert_close, diabetes, run_python

import jaxreg as jr


@pytest.fixture(scope="module", name="diabetes")
def diabetes_data():
    return diabetes()


def lsq(X, y):
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    return lambda w: 0.5 * jnp.mean((yj - Xj @ w) ** 2)


def test_strength_grid_rejects_non_positive_inputs_with_readable_bounds():
    with pytest.raises(ValueError, match=r"lambda_max must be finite and > 0; got lambda_max=-1.0"):
        jr.select.strength_grid(-1.0, num=5)
    with pytest.raises(ValueError, match=r"ratio must be finite and in \(0, 1\]; got ratio=2.0"):
        jr.select.strength_grid(1.0, num=5, ratio=2.0)


@pytest.mark.slow
def test_strength_grid_is_scikit_learns_grid(diabetes):
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    X, y = diabetes
    Xc = X - X.mean(0)  # LassoCV centers X and y for its alpha_max (it fits an intercept)
    lmax = jr.select.lambda_max(lsq(Xc, y - y.mean()), jnp.zeros(X.shape[1]), jr.l1(1.0))
    sk = LassoCV(cv=KFold(3), max_iter=10).fit(X, y)  # only its alphas_ are used
    assert_close(jr.select.strength_grid(float(lmax)), sk.alphas_, rtol=1e-12)


def test_lambda_max_is_where_the_last_weight_leaves_zero(diabetes):
    from sklearn.linear_model import Lasso

    X, y = diabetes
    Xc, yc = X - X.mean(0), y - y.mean()
    lmax = float(jr.select.lambda_max(lsq(Xc, yc), jnp.zeros(X.shape[1]), jr.l1(1.0)))
    assert np.all(Lasso(alpha=lmax * 1.001, tol=1e-12).fit(X, y).coef_ == 0)
    assert np.any(Lasso(alpha=lmax * 0.99, tol=1e-12).fit(X, y).coef_ != 0)
    # group lasso: groups of 2 coefficients; checked with jr.solve
    W0 = jnp.zeros((5, 2))
    f = lambda W: 0.5 * jnp.mean((jnp.asarray(yc) - jnp.asarray(Xc) @ W.reshape(-1)) ** 2)  # noqa: E731
    gmax = float(jr.select.lambda_max(f, W0, jr.group_lasso(1.0)))
    above, _ = jr.solve(f, jr.group_lasso(gmax * 1.001), W0, max_iter=50_000)
    below, _ = jr.solve(f, jr.group_lasso(gmax * 0.99), W0, max_iter=50_000)
    assert np.all(np.asarray(above) == 0) and np.any(np.asarray(below) != 0)
    e = float(jr.select.lambda_max(lsq(Xc, yc), jnp.zeros(10), jr.elastic_net(1.0, 0.5)))
    assert_close(e, 2 * lmax, rtol=1e-12)
    with pytest.raises(
        ValueError,
        match=r"lambda_max is defined for penalties that.*\(elastic_net, group_lasso, l1,",
    ):
        jr.select.lambda_max(f, W0, jr.l2(1.0))


def test_path_reproduces_sklearn_lasso_path(diabetes):
    from sklearn.linear_model import lasso_path

    X, y = diabetes
    lmax = float(jr.select.lambda_max(lsq(X, y), jnp.zeros(10), jr.l1(1.0)))
    grid = jr.select.strength_grid(lmax, num=25, ratio=1e-2)
    res = jr.select.path(lsq(X, y), jr.l1, grid, jnp.zeros(10), max_iter=200_000, tol=1e-12)
    assert bool(np.all(res.converged))
    _, coefs, _ = lasso_path(X, y, alphas=grid, tol=1e-14, max_iter=1_000_000)
    ours = np.asarray(res.params)
    assert ours.shape == (25, 10)
    assert np.abs(ours - coefs.T).max() <= 1e-5 * np.abs(coefs).max()
    assert np.array_equal(ours == 0.0, coefs.T == 0.0)
    # a Penalty built with strength 1 is scaled instead
    res2 = jr.select.path(
        lsq(X, y), jr.l1(1.0), grid[:3], jnp.zeros(10), max_iter=200_000, tol=1e-12
    )
    assert_close(res2.params, ours[:3], rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_cross_validate_picks_lassocv_alpha_and_matches_its_mse_curve(diabetes):
    from sklearn.linear_model import LassoCV
    from sklearn.model_selection import KFold

    X, y = diabetes
    lmax = float(jr.select.lambda_max(lsq(X - X.mean(0), y - y.mean()), jnp.zeros(10), jr.l1(1.0)))
    grid = jr.select.strength_grid(lmax, num=20, ratio=1e-2)

    def train(s, Xt, yt):
        f = lambda p: 0.5 * jnp.mean((yt - Xt @ p["w"] - p["b"]) ** 2)  # noqa: E731
        p0 = {"w": jnp.zeros(Xt.shape[1]), "b": jnp.mean(yt)}
        return jr.solve(f, jr.l1(s, mask={"w": True, "b": False}), p0, max_iter=200_000, tol=1e-13)[
            0
        ]

    def neg_mse(p, Xt, yt):
        return -jnp.mean((yt - Xt @ p["w"] - p["b"]) ** 2)

    cv = jr.select.cross_validate(train, neg_mse, grid, X, y, folds=KFold(5))
    sk = LassoCV(alphas=grid, cv=KFold(5), tol=1e-14, max_iter=1_000_000).fit(X, y)
    assert cv.best_strength == sk.alpha_
    mse = sk.mse_path_.mean(axis=1)
    assert np.abs(-cv.mean_score - mse).max() <= 1e-6 * mse.max()
    assert cv.scores.shape == (5, 20) and cv.std_score.shape == (20,)
    assert cv.one_se_strength >= cv.best_strength
    i = int(np.argmax(cv.mean_score))
    se = cv.std_score[i] / np.sqrt(5)
    j = list(cv.strengths).index(cv.one_se_strength)
    assert cv.mean_score[j] >= cv.mean_score[i] - se
    assert all(
        cv.mean_score[k] < cv.mean_score[i] - se
        for k in range(len(grid))
        if grid[k] > cv.one_se_strength
    )


def _iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _mlp_train(steps):
    def train(strength, X, y):
        k1, k2 = jax.random.split(jax.random.key(0))
        p = {
            "w1": jax.random.normal(k1, (4, 8), X.dtype) * 0.5,
            "b1": jnp.zeros(8, X.dtype),
            "w2": jax.random.normal(k2, (8, 3), X.dtype) * 0.5,
            "b2": jnp.zeros(3, X.dtype),
        }

        def ce(p):
            logits = jax.nn.relu(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss = jr.regularized(ce, jr.l2(strength, mask=jr.masks.kernels))
        opt = optax.adam(0.01)

        def step(c, _):
            p, s = c
            u, s = opt.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

    return train


def _accuracy(p, X, y):
    logits = jax.nn.relu(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return jnp.mean(jnp.argmax(logits, axis=1) == y)


def _neg_ce(p, X, y):
    logits = jax.nn.relu(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return -optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


@pytest.mark.slow
def test_iris_mlp_cv_equals_160_separate_trainings():
    from sklearn.model_selection import StratifiedKFold

    X, y = _iris()
    strengths = np.geomspace(1.0, 1e-4, 32)
    train = _mlp_train(150)
    cv = jr.select.cross_validate(train, _neg_ce, strengths, X, y, folds=5, seed=3)
    one = jax.jit(lambda s, a, b, c, d: _neg_ce(train(s, a, b), c, d))
    splits = StratifiedKFold(5, shuffle=True, random_state=3).split(X, y)
    separate = np.array(
        [[float(one(s, X[tr], y[tr], X[te], y[te])) for s in strengths] for tr, te in splits]
    )
    assert np.ptp(separate) > 0.1  # the strengths really matter
    np.testing.assert_allclose(cv.scores, separate, rtol=1e-10, atol=1e-12)


def test_unequal_folds_compile_once_per_shape_and_see_only_their_rows():
    X, y = _iris()
    X, y = X[:103], y[:103]
    from sklearn.model_selection import KFold

    seen = []

    def train(s, Xt, yt):
        seen.append(Xt.shape)
        return {"m": jnp.mean(Xt, axis=0) / (1 + s)}

    def score(p, Xt, yt):
        return -jnp.sum((Xt - p["m"]) ** 2) / Xt.shape[0]

    cv = jr.select.cross_validate(train, score, [0.0, 1.0], X, y, folds=KFold(5))
    assert sorted(set(seen)) == [(82, 4), (83, 4)]  # 103 rows: test folds of 21 and 20
    for f, (tr, te) in enumerate(KFold(5).split(X)):
        for k, s in enumerate([0.0, 1.0]):
            m = X[tr].mean(0) / (1 + s)
            assert_close(cv.scores[f, k], -np.sum((X[te] - m) ** 2) / len(te), rtol=1e-12)


@pytest.mark.slow
def test_sweep_compiles_once_and_matches_a_loop():
    X, y = _iris()
    X = jnp.asarray(X, jnp.float32)
    traces = []
    base = _mlp_train(50)

    def train(s, X, y):
        traces.append(1)
        return base(s, X, y)

    s1 = jnp.asarray(np.geomspace(1.0, 1e-3, 8), jnp.float32)
    out = jr.select.sweep(train, s1, X, jnp.asarray(y), cache=True)
    out2 = jr.select.sweep(train, s1 * 0.5, X, jnp.asarray(y), cache=True)
    assert len(traces) == 1
    assert out["w1"].shape == (8, 4, 8) and out2["w1"].shape == (8, 4, 8)
    one = jax.jit(base)
    for k in (0, 7):
        ref = one(s1[k], X, jnp.asarray(y))
        assert_close(out["w1"][k], ref["w1"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="strengths must be finite and >= 0"):
        jr.select.sweep(train, jnp.array([1.0, -1.0]), X, jnp.asarray(y))
    single = jr.select.sweep(train, s1, X, jnp.asarray(y), devices=jax.devices()[:1])
    assert_close(single["w1"], out["w1"], rtol=0, atol=0)


def test_plots_draw_every_coefficient_and_the_cv_curve(tmp_path, diabetes):
    import matplotlib

    matplotlib.use("Agg")
    X, y = diabetes
    grid = jr.select.strength_grid(2.0, num=8, ratio=1e-2)
    res = jr.select.path(lsq(X, y), jr.l1, grid, jnp.zeros(10), max_iter=50_000)
    fig = jr.select.plot_path(res)
    assert len(fig.axes[0].lines) == 10 + 1  # 10 coefficients and the zero line
    fig.savefig(tmp_path / "path.png")
    cv = jr.select.CVResult(
        grid, np.ones((3, 8)), np.ones(8), np.zeros(8), float(grid[0]), float(grid[0])
    )
    fig = jr.select.plot_cv(cv)
    fig.savefig(tmp_path / "cv.png")
    assert (tmp_path / "path.png").stat().st_size > 10_000 and (
        tmp_path / "cv.png"
    ).stat().st_size > 10_000


def test_every_plot_returns_the_figure_it_draws_on(diabetes):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    grid = jr.select.strength_grid(2.0, num=4, ratio=1e-2)
    res = jr.select.path(lsq(*diabetes), jr.l1, grid, jnp.zeros(10), max_iter=2_000)
    cv = jr.select.CVResult(
        grid, np.ones((3, 4)), np.ones(4), np.zeros(4), float(grid[0]), float(grid[0])
    )
    losses = np.array([3.0, 2.0, 2.5])
    tuned = jr.select.TuneResult(0.2, None, 2.0, [0.1, 0.2, 0.4], losses, np.arange(1, 4))
    draws = [
        lambda ax: jr.select.plot_path(res, ax=ax),
        lambda ax: jr.select.plot_cv(cv, ax=ax),
        lambda ax: jr.select.plot_tune(tuned, grid=(grid, np.ones(4)), ax=ax),
    ]
    for draw in draws:
        fig = draw(None)
        assert isinstance(fig, Figure) and len(fig.axes) == 1 and fig.axes[0].lines
        own, ax = plt.subplots()
        assert draw(ax) is own and ax.lines
        plt.close("all")


@pytest.mark.slow  # runs an example in its own process
def test_choose_lambda_example_runs_and_writes_its_plots(tmp_path):
    proc = run_python(str(EXAMPLES / "choose_lambda.py"), "--out", str(tmp_path), "--quick")
    assert "best strength" in proc.stdout and "one-SE" in proc.stdout
    for name in ("lasso_path.png", "lasso_cv.png", "iris_cv.png"):
        assert (tmp_path / name).stat().st_size > 20_000


# --------------------------------------------------------------------------------------------
# Issue #12: selection without silent wrong answers


class _FixedFolds:
    """Four folds of two test rows each: fold f tests rows 2f and 2f + 1."""

    def split(self, X, y=None, groups=None):
        rows = np.arange(8)
        for f in range(4):
            test = rows[2 * f : 2 * f + 2]
            yield np.setdiff1d(rows, test), test


def _table_cv(table, strengths):
    """cross_validate whose score for (fold, strength) is table[fold, k]: a designed CV table."""
    grid = jnp.asarray(strengths)
    T = jnp.asarray(table)

    def train_fn(s, X, y):
        return s

    def score_fn(s, X, y):
        fold = (X[0, 0] // 2).astype(int)
        return T[fold, jnp.argmin(jnp.abs(grid - s))]

    X = np.arange(8.0)[:, None]
    return jr.select.cross_validate(
        train_fn, score_fn, strengths, X, np.zeros(8), folds=_FixedFolds()
    )


def test_one_se_uses_glmnets_standard_error():
    strengths = np.array([0.01, 0.1, 1.0, 10.0])
    table = np.array(
        [
            [1.0, 0.9, 0.5, -1.0],
            [0.0, -0.1, -0.04, -1.0],
            [1.0, 0.9, 0.5, -1.0],
            [0.0, -0.1, -0.04, -1.0],
        ]
    )
    cv = _table_cv(table, strengths)
    mean = table.mean(axis=0)
    best = int(np.argmax(mean))
    se = table[:, best].std(ddof=1) / np.sqrt(4)  # glmnet: sd / sqrt(K), sd with n - 1
    assert_close(cv.mean_score, mean, rtol=1e-12)
    assert cv.best_strength == 0.01
    assert cv.one_se_strength == strengths[mean >= mean[best] - se].max() == 1.0
    # the population std would have picked 0.1 here
    assert strengths[mean >= mean[best] - table[:, best].std() / 2].max() == 0.1


def test_nan_scores_rank_worst_with_a_warning_naming_the_strengths():
    strengths = np.array([0.01, 0.1, 1.0])
    table = np.array([[0.5, np.nan, 0.1], [0.5, 2.0, 0.1], [0.5, 2.0, 0.1], [0.5, 2.0, 0.1]])
    with pytest.warns(RuntimeWarning, match=r"strengths \[0\.1\] gave NaN"):
        cv = _table_cv(table, strengths)
    assert cv.best_strength == 0.01 and np.isnan(cv.mean_score[1])
    assert_close(cv.mean_score[[0, 2]], [0.5, 0.1], rtol=1e-12)


def test_stratification_follows_the_target_and_groups_reach_the_splitter():
    from sklearn.model_selection import GroupKFold, KFold

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 2)), rng.normal(size=40)  # a continuous target

    def train_fn(s, X, y):
        return jnp.mean(y) / (1 + s)

    def score_fn(m, X, y):
        return -jnp.mean((y - m) ** 2)

    cv = jr.select.cross_validate(train_fn, score_fn, [0.0, 1.0], X, y, folds=4)
    want = [
        -np.mean((y[te] - y[tr].mean()) ** 2)
        for tr, te in KFold(4, shuffle=True, random_state=0).split(X)
    ]
    assert_close(cv.scores[:, 0], want, rtol=1e-12)
    with pytest.raises(
        ValueError, match=r"stratified=True needs class labels .*; y is 'continuous'"
    ):
        jr.select.cross_validate(train_fn, score_fn, [0.0], X, y, folds=4, stratified=True)
    groups = np.repeat(np.arange(8), 5)
    cv = jr.select.cross_validate(
        train_fn, score_fn, [0.0], X, y, folds=GroupKFold(4), groups=groups
    )
    want = [-np.mean((y[te] - y[tr].mean()) ** 2) for tr, te in GroupKFold(4).split(X, y, groups)]
    assert_close(cv.scores[:, 0], want, rtol=1e-12)


def test_sweep_without_cache_sees_changed_globals_and_with_cache_keeps_the_first():
    state = {"scale": 1.0}

    def train(s, x):
        return x * state["scale"] / (1 + s)

    s, x = jnp.array([0.0, 1.0]), jnp.ones(2)
    assert_close(jr.select.sweep(train, s, x)[:, 0], [1.0, 0.5], rtol=1e-12)
    assert_close(jr.select.sweep(train, s, x, cache=True)[:, 0], [1.0, 0.5], rtol=1e-12)
    state["scale"] = 10.0  # a notebook user changes a global
    assert_close(jr.select.sweep(train, s, x)[:, 0], [10.0, 5.0], rtol=1e-12)
    assert_close(
        jr.select.sweep(train, s, x, cache=True)[:, 0], [1.0, 0.5], rtol=1e-12
    )  # documented


def test_plots_sort_the_grid_and_show_strength_zero(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    strengths = np.array([1.0, 0.0, 0.1, 10.0, 0.01])  # unsorted, with 0
    table = np.tile(-np.abs(np.log10(strengths + 1e-3) + 1), (4, 1))
    cv = _table_cv(table, strengths)
    fig = jr.select.plot_cv(cv)
    ax = fig.axes[0]
    mean_line = [line for line in ax.lines if line.get_label() == "mean over folds"][0]
    xs = mean_line.get_xdata()
    assert list(xs) == sorted(strengths)
    assert ax.get_xscale() == "symlog"
    lo, hi = ax.get_xlim()
    assert lo <= 0.0 <= hi  # strength 0 and its marker are on the axis
    fig.savefig(tmp_path / "cv.png")
    result = jr.select.PathResult(
        strengths, {"w": jnp.asarray(np.outer(strengths, [1.0, -1.0]))}, None, None
    )
    fig = jr.select.plot_path(result)
    for line in fig.axes[0].lines[:2]:
        assert list(line.get_xdata()) == sorted(strengths)


def test_missing_optional_dependencies_name_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(
        ImportError, match=r"plot_cv needs matplotlib.*pip install 'jaxreg\[plot\]'"
    ):
        jr.select.plot_cv(None)
    monkeypatch.setitem(sys.modules, "sklearn.model_selection", None)
    with pytest.raises(ImportError, match=r"cross_validate needs scikit-learn.*'jaxreg\[select\]'"):
        jr.select.cross_validate(
            lambda s, X, y: s, lambda p, X, y: p, [1.0], np.ones((4, 1)), np.ones(4)
        )


def test_whole_number_float_targets_are_regression_and_ties_pick_the_largest_strength():
    from sklearn.model_selection import KFold

    X, y = np.arange(40.0)[:, None], np.arange(40.0)  # prices in whole dollars: regression

    def train_fn(s, X, y):
        return jnp.mean(y) / (1 + s)

    def score_fn(m, X, y):
        return -jnp.mean((y - m) ** 2)

    cv = jr.select.cross_validate(train_fn, score_fn, [0.0], X, y, folds=5)
    want = [
        -np.mean((y[te] - y[tr].mean()) ** 2)
        for tr, te in KFold(5, shuffle=True, random_state=0).split(X)
    ]
    assert_close(cv.scores[:, 0], want, rtol=1e-12)
    with pytest.raises(ValueError, match=r"groups= needs a group splitter"):
        jr.select.cross_validate(
            train_fn, score_fn, [0.0], X, y, folds=5, groups=np.arange(40) // 8
        )
    table = np.ones((4, 3))
    for grid in ([0.1, 1.0, 10.0], [1.0, 0.1, 10.0], [10.0, 1.0, 0.1]):
        assert _table_cv(table, np.array(grid)).best_strength == 10.0
