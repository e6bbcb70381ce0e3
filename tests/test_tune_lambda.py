"""The tune-lambda example, run as a user runs it (its own process): on diabetes and on a
synthetic p > n problem, ``jr.select.tune`` reaches the 50-point grid's best validation MSE
within 1% with at most 10 solves, and per-feature weights do at least as well as the best
single strength. The reported numbers are recomputed here from the exported coefficients
(NumPy) and the grid's best from scikit-learn's ``lasso_path`` on the same strengths."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import diabetes, run_example

pytestmark = pytest.mark.slow  # starts Python processes (tests/conftest.py)

PROBLEMS = ["diabetes", "synthetic"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    stdout, res, _ = run_example("tune_lambda.py", tmp_path_factory.mktemp("tune"))
    return stdout, res


@pytest.fixture(scope="module")
def result(run):
    return run[1]


def split(result, name):
    """(X_train, y_train, X_val, y_val), rebuilt here from the exported indices or arrays."""
    d = result[name]["data"]
    if name == "diabetes":
        X, y = diabetes()
        tr, va = np.asarray(d["train_idx"]), np.asarray(d["val_idx"])
        assert len(tr) == len(va) == 221 and not set(tr) & set(va)
        X = (X - X[tr].mean(0)) / X[tr].std(0)
        y = y - y[tr].mean()
        return X[tr], y[tr], X[va], y[va]
    return tuple(np.asarray(d[k]) for k in ("X_train", "y_train", "X_val", "y_val"))


def val_mse(coef, X_val, y_val):
    return float(np.mean((X_val @ np.asarray(coef) - y_val) ** 2))


@pytest.mark.parametrize("name", PROBLEMS)
def test_tune_within_one_percent_of_the_grid_with_a_fifth_of_its_solves(result, name):
    r = result[name]
    assert r["grid"]["solves"] == len(r["grid"]["strengths"]) == 50
    assert r["grid"]["all_converged"]
    assert r["tune"]["solves"] == len(r["tune"]["history_val_mse"]) <= r["grid"]["solves"] // 5
    assert r["tune"]["val_mse"] <= 1.01 * r["grid"]["best_val_mse"], r["relative_gap"]
    assert r["relative_gap"] <= 0.01
    assert r["tune"]["val_mse"] == min(r["tune"]["history_val_mse"])  # the best point seen
    assert r["tune"]["start"] == pytest.approx(r["lambda_max"] / 10)
    assert r["tune"]["history_strength"][0] == pytest.approx(r["lambda_max"] / 10)


@pytest.mark.parametrize("name", PROBLEMS)
def test_per_feature_weights_at_least_as_good_as_the_best_single_strength(result, name):
    r = result[name]
    best_single = min(r["grid"]["best_val_mse"], r["tune"]["val_mse"])
    assert r["best_single"]["val_mse"] == best_single
    assert r["adaptive"]["val_mse"] <= best_single
    assert len(r["adaptive"]["weights"]) == r["p"]
    assert r["adaptive"]["solves"] == len(r["adaptive"]["history_val_mse"])


@pytest.mark.parametrize("name", PROBLEMS)
def test_reported_validation_mse_recomputed_with_numpy(result, name):
    r = result[name]
    X, y, Xv, yv = split(result, name)
    assert X.shape == (r["n_train"], r["p"]) and Xv.shape == (r["n_val"], r["p"])
    for coef, reported in [
        (r["grid"]["best_coef"], r["grid"]["best_val_mse"]),
        (r["tune"]["coef"], r["tune"]["val_mse"]),
        (r["best_single"]["coef"], r["best_single"]["val_mse"]),
        (r["adaptive"]["coef"], r["adaptive"]["val_mse"]),
    ]:
        assert val_mse(coef, Xv, yv) == pytest.approx(reported, rel=1e-10)


@pytest.mark.parametrize("name", PROBLEMS)
def test_grid_best_matches_scikit_learn_lasso_path(result, name):
    from sklearn.linear_model import lasso_path

    r = result[name]
    X, y, Xv, yv = split(result, name)
    strengths = np.asarray(r["grid"]["strengths"])
    # same objective: 1/(2n) ||y - X w||^2 + alpha ||w||_1, no intercept
    alphas, coefs, _ = lasso_path(X, y, alphas=strengths, tol=1e-12, max_iter=1_000_000)
    np.testing.assert_allclose(alphas, strengths)
    sk = np.mean((Xv @ coefs - yv[:, None]) ** 2, axis=0)
    np.testing.assert_allclose(sk, r["grid"]["val_mse"], rtol=1e-5)
    assert int(np.argmin(sk)) == int(np.argmin(r["grid"]["val_mse"]))
    assert sk.min() == pytest.approx(r["grid"]["best_val_mse"], rel=1e-6)


@pytest.mark.parametrize("name", PROBLEMS)
def test_tuned_coefficients_are_the_lasso_solutions_scikit_learn_finds(result, name):
    """At tune's strength, and at the per-feature weights (a Lasso on the columns X_j / w_j,
    whose solution divided by w is the weighted one): same validation MSE as sklearn's."""
    from sklearn.linear_model import Lasso

    r = result[name]
    X, y, Xv, yv = split(result, name)
    single = Lasso(alpha=r["tune"]["strength"], fit_intercept=False, tol=1e-12, max_iter=10**6)
    single.fit(X, y)
    assert val_mse(single.coef_, Xv, yv) == pytest.approx(r["tune"]["val_mse"], rel=1e-6)
    w = np.asarray(r["adaptive"]["weights"])
    weighted = Lasso(alpha=1.0, fit_intercept=False, tol=1e-12, max_iter=10**6).fit(X / w, y)
    coef = weighted.coef_ / w
    assert val_mse(coef, Xv, yv) == pytest.approx(r["adaptive"]["val_mse"], rel=1e-6)


def test_counts_and_test_error_are_reported(run):
    stdout, result = run
    for name in PROBLEMS:
        assert f"{name}: n_train" in stdout
    tune_solves = [int(k) for k in re.findall(r"tune : val MSE .* \((\d+) solves", stdout)]
    assert len(tune_solves) == 2 and max(tune_solves) <= 10, stdout
    assert stdout.count("(50 solves") == 2
    # the synthetic problem has a test set: both numbers are reported, whichever is lower
    test = result["synthetic"]["test"]
    assert test["n"] == 1000
    assert np.isfinite([test["best_single_mse"], test["adaptive_mse"]]).all()
    assert "test (1000 rows" in stdout
