"""`jr.linear` on the layouts its shapes choose: a sparse X with power-law column lengths (in
chunks, O(nnz) memory), a tall dense X, against scikit-learn's own solvers;
and how many programs a path compiles."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest
import scipy.sparse as sp
from helpers import ROOT, run_python
from sklearn.linear_model import ElasticNet, Lasso

import jaxreg as jr
from jaxreg._linear._design import as_columns


def power_law_design(n=500, p=3000, density=0.01, a=0.6, seed=0):
    """Text-like: column j in about n / 2 / (j + 1)^a rows (a few words in half the rows)."""
    rng = np.random.default_rng(seed)
    raw = 1.0 / (np.arange(p) + 1.0) ** a
    counts = np.clip(np.round(raw * density * n * p / raw.sum()), 1, n).astype(int)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    rows = np.concatenate([rng.choice(n, size=k, replace=False) for k in counts])
    X = sp.csc_matrix((rng.random(indptr[-1]) + 0.5, rows, indptr), shape=(n, p))
    X = X[:, rng.permutation(p)].tocsc()
    w = np.zeros(p)
    w[rng.choice(p, 20, replace=False)] = rng.normal(size=20)
    return X, X @ w + 0.3 * rng.normal(size=n)


def objective(X, y, coef, intercept, l1, l2=0.0, weights=None):
    r = y - X @ coef - intercept
    s = np.ones(len(y)) if weights is None else weights
    return 0.5 * np.sum(s * r * r) / np.sum(s) + l1 * np.abs(coef).sum() + 0.5 * l2 * coef @ coef


def test_power_law_sparse_design_is_chunked_in_o_nnz_memory():
    X, _ = power_law_design()
    cols, n, p = as_columns(X, np.float64)
    counts = np.diff(X.indptr)
    assert counts.max() > 20 * counts.mean()  # the case ELLPACK padded to the longest column
    assert cols.chunked and cols.num_features == p
    width = cols.values.shape[1]
    assert cols.values.size <= X.nnz + p * width  # O(nnz + p): no column padded to the longest
    assert width <= max(8, 4 * counts.mean()) and cols.values.size < p * counts.max() / 10
    # every column's nonzeros, in order, and nothing else
    dense = np.zeros((n + 1, p))
    np.add.at(dense, (np.asarray(cols.rows), np.asarray(cols.owner)[:, None]), cols.values)
    np.testing.assert_array_equal(dense[:n], X.toarray())


@pytest.mark.slow  # about 8 s each on one core
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_power_law_sparse_path_equals_sklearn(fit_intercept):
    X, y = power_law_design()
    n = X.shape[0]
    yc = y - y.mean() if fit_intercept else y
    xm = np.asarray(X.mean(axis=0)).ravel() if fit_intercept else 0.0
    lmax = np.max(np.abs(X.T @ yc - xm * yc.sum())) / n
    strengths = lmax * np.array([0.5, 0.1, 0.02])
    res = jr.linear.path(X, y, jr.l1, strengths, tol=1e-10, fit_intercept=fit_intercept)
    assert np.asarray(res.converged).all()
    for k, a in enumerate(strengths):
        sk = Lasso(alpha=a, tol=1e-12, max_iter=100_000, fit_intercept=fit_intercept).fit(X, y)
        ours = objective(X, y, np.asarray(res.coef[k]), float(res.intercept[k]), a)
        theirs = objective(X, y, sk.coef_, sk.intercept_, a)
        assert abs(ours - theirs) <= 1e-6 * theirs, (a, ours, theirs)
        np.testing.assert_allclose(res.coef[k], sk.coef_, atol=1e-5 * np.abs(sk.coef_).max())


@pytest.mark.slow  # about 13 s on one core
def test_power_law_sparse_logistic_fit_runs_on_chunks():
    """The general solver (coordinate steps through `Columns.dot_fn` / `axpy`) on chunks: the
    same fit as on the dense matrix."""
    X, y = power_law_design()
    assert as_columns(X, np.float64)[0].chunked
    labels = (y > np.median(y)).astype(float)
    pen = jr.l1(0.02)
    sparse = jr.linear.fit(X, labels, pen, loss="logistic", tol=1e-10)
    dense = jr.linear.fit(X.toarray(), labels, pen, loss="logistic", tol=1e-10)
    assert bool(sparse.converged) and bool(dense.converged)
    np.testing.assert_allclose(sparse.coef, dense.coef, atol=1e-6)


def tall(n=3000, p=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + rng.normal(size=p)  # columns of nonzero mean
    X[:, 1] = X[:, 0] + 1e-3 * rng.normal(size=n)  # nearly collinear
    w = np.zeros(p)
    w[:6] = rng.normal(size=6)
    return X, X @ w + rng.normal(size=n)


@pytest.mark.parametrize("weighted", [False, True])
def test_tall_path_equals_sklearn_elastic_net(weighted):
    X, y = tall()
    n = len(y)
    s = np.random.default_rng(1).uniform(0.2, 2.0, size=n) if weighted else None
    strengths = np.array([1.0, 0.1, 0.01])
    res = jr.linear.path(
        X, y, lambda a: jr.elastic_net(a, 0.7), strengths, sample_weight=s, tol=1e-12
    )
    assert np.asarray(res.converged).all()
    for k, a in enumerate(strengths):
        sk = ElasticNet(alpha=a, l1_ratio=0.7, tol=1e-14, max_iter=1_000_000)
        sk.fit(X, y, sample_weight=None if s is None else s * n / s.sum())
        args = (a * 0.7, a * 0.3, s)
        ours = objective(X, y, np.asarray(res.coef[k]), float(res.intercept[k]), *args)
        theirs = objective(X, y, sk.coef_, sk.intercept_, *args)
        assert ours - theirs <= 1e-9 * theirs, (a, ours, theirs)
        np.testing.assert_allclose(res.coef[k], sk.coef_, atol=1e-4 * np.abs(sk.coef_).max())
        np.testing.assert_allclose(res.intercept[k], sk.intercept_, atol=1e-4)


def test_tall_float32_with_large_column_means_equals_sklearn():
    # X^T X - n u u^T in float32 cancelled the means away: a fit 200x the optimum, "converged"
    rng = np.random.default_rng(5)
    n, p, alpha = 10_000, 50, 0.05
    X = rng.standard_normal((n, p)) + 1000.0
    y = X[:, :3] @ np.array([1.0, -2.0, 3.0]) + rng.standard_normal(n) + 500.0

    def objective(w, b):
        return 0.5 * np.mean((y - X @ w - b) ** 2) + alpha * np.abs(w).sum()

    ref = Lasso(alpha=alpha, tol=1e-12, max_iter=100_000).fit(X, y)
    fit = jr.linear.fit(X, y, jr.l1(alpha), dtype=np.float32)
    assert fit.coef.dtype == np.float32 and bool(fit.converged)
    w, b = np.asarray(fit.coef, np.float64), float(fit.intercept)
    best = objective(ref.coef_, ref.intercept_)
    assert (objective(w, b) - best) / best < 1e-5
    np.testing.assert_allclose(w, ref.coef_, atol=1e-3)


GRAM_WITHOUT_INTERCEPT_AND_NAN = """
import warnings
import numpy as np
import pytest
from sklearn.linear_model import Lasso
import jaxreg as jr
from test_linear_layouts import tall

X, y = tall()
a = 0.05
res = jr.linear.fit(X, y, jr.l1(a), fit_intercept=False, tol=1e-12)
sk = Lasso(alpha=a, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(X, y)
assert float(res.intercept) == 0.0
np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6 * np.abs(sk.coef_).max())
X[5, 3] = np.nan
with pytest.warns(RuntimeWarning, match="NaN"):
    bad = jr.linear.fit(X, y, jr.l1(a))
assert np.isnan(bad.coef).all() and not bool(bad.converged)
"""


@pytest.mark.slow  # a Python process (tests/conftest.py)
def test_tall_fit_without_intercept_and_nan():
    # in its own process: in the full suite's long-lived xdist worker, XLA's CPU compiler
    # segfaulted compiling this fit (twice, 2026-12-06; alone it passes), which took the
    # worker down; not understood yet (the closing note of session 9)
    env = dict(os.environ, JAX_ENABLE_X64="1", PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    run_python("-c", GRAM_WITHOUT_INTERCEPT_AND_NAN, env=env, timeout=600)


def test_a_path_compiles_once_per_shape():
    """A template (traced, scaled) and a builder (static) compile once per shape: new data,
    strengths and templates of the same structure reuse the program."""
    from jaxreg._linear import _compiled

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 30)), rng.normal(size=60)
    strengths = np.array([0.5, 0.1])
    driver = _compiled.path_compiled

    def cache():  # every program either jit of the driver holds
        return sum(j._cache_size() for j in (driver.optimized, driver.quick, driver.nested))

    jr.linear.path(X, y, jr.l1(1.0), strengths)
    jr.linear.path(X, y, jr.l1, strengths)
    compiled = cache()
    jr.linear.path(2 * X, y + 1, jr.l1(1.0), 3 * strengths)
    jr.linear.path(X, -y, jr.l1, strengths / 2)
    jr.linear.path(X, y, jr.l1(1.0), np.array([0.3, 0.2]))
    assert cache() == compiled


def test_string_design_is_refused_naming_x():
    labels = np.array([["a", "b"], ["c", "d"], ["e", "f"]])
    with pytest.raises(ValueError, match=r"X must be a numeric matrix.*<U1.*'a'"):
        jr.linear.fit(labels, np.ones(3), jr.l1(0.1))


def test_a_small_design_runs_the_quick_program_and_a_large_one_the_optimized():
    """Compile effort follows the design's size at the top level; inside a caller's jit the
    plain jit (the caller's options)."""
    from jaxreg._linear import _compiled

    driver = _compiled.fit_compiled
    small, _, _ = as_columns(np.ones((40, 10)), np.float64)
    large, _, _ = as_columns(np.ones((2, _compiled.QUICK_MAX_VALUES // 2 + 1)), np.float64)
    known = _compiled.options_known()
    assert driver.pick(small) is (driver.quick if known else driver.nested)
    assert driver.pick(large) is (driver.optimized if known else driver.nested)
    picked = []
    jax.jit(lambda x: picked.append(driver.pick(small)) or x)(1.0)
    assert picked == [driver.nested]
