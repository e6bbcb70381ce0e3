"""The structured-sparsity example, run as a user runs it (its own process, JAX defaults, float32)
with ``--quick``: group lasso removes neurons and the smaller network gives the same logits,
MCP gives exact zeros, 2:4 holds in every block. Counts and logits are recomputed here with
NumPy from the exported arrays, not taken from the example's own report."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_example

pytestmark = pytest.mark.slow  # starts Python processes (tests/conftest.py)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    stdout, res, _ = run_example("structured_sparsity.py", tmp_path_factory.mktemp("ss"), "--quick")
    assert "N:M (axis=0)" in stdout
    return res


def arrays(params):
    return [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in params]


def forward(params, x):
    for layer in params[:-1]:
        x = np.maximum(x @ layer["kernel"] + layer["bias"], 0.0)
    return x @ params[-1]["kernel"] + params[-1]["bias"]


def test_unregularized_baseline_learns_digits(result):
    assert result["unregularized_test_accuracy"] > 0.95


def test_pruned_network_gives_the_masked_networks_logits(result):
    X, y = np.asarray(result["X_test"], np.float64), np.asarray(result["y_test"])
    exported = result["group_lasso_exported"]
    masked, pruned = arrays(exported["masked"]), arrays(exported["pruned"])
    row = next(r for r in result["group_lasso"] if r["strength"] == exported["strength"])
    hidden = result["sizes"][1:-1]
    widths = [layer["bias"].size for layer in pruned[:-1]]
    assert widths == [h - r for h, r in zip(hidden, row["neurons_removed"], strict=True)]
    assert sum(row["neurons_removed"]) >= 20  # physically smaller
    # the group is the incoming column: at least that many columns are exactly 0.0 (more can go
    # when a neuron's only inputs were removed constants)
    zero_columns = [int((~np.any(m["kernel"] != 0, axis=0)).sum()) for m in masked[:-1]]
    assert sum(zero_columns) > 0
    assert all(z <= r for z, r in zip(zero_columns, row["neurons_removed"], strict=True))
    big, small = forward(masked, X), forward(pruned, X)
    assert np.abs(big - small).max() < 1e-4 * max(1.0, np.abs(big).max())  # float32 rounding only
    assert np.array_equal(big.argmax(1), small.argmax(1))
    one = 1 / len(y) + 1e-9  # float64 here vs float32 there: allow one near-tie to flip
    assert (small.argmax(1) == y).mean() == pytest.approx(row["pruned_test_accuracy"], abs=one)
    assert row["pruned_test_accuracy"] == pytest.approx(row["test_accuracy"], abs=1e-6)
    # the bias fold matters: dropping the zero-column neurons without it changes the logits
    naive = [dict(layer) for layer in masked]
    for i in range(len(naive) - 1):
        keep = np.any(masked[i]["kernel"] != 0, axis=0)
        naive[i] = {"kernel": naive[i]["kernel"][:, keep], "bias": naive[i]["bias"][keep]}
        naive[i + 1] = {**naive[i + 1], "kernel": naive[i + 1]["kernel"][keep]}
    assert np.abs(forward(naive, X) - big).max() > 0.1


def test_every_group_lasso_run_prunes_exactly(result):
    for row in result["group_lasso"]:
        assert row["max_abs_logit_difference"] < 1e-4 * max(1.0, row["max_abs_logit"]), row
        assert row["same_predictions"]
        assert row["pruned_test_accuracy"] == pytest.approx(row["test_accuracy"], abs=1e-6)


def test_group_lasso_removes_neurons_without_collapsing(result):
    base = result["unregularized_test_accuracy"]
    rows = result["group_lasso"]
    # measured (--quick, seed 0): 33 neurons at the baseline's accuracy, 167 at -3 points
    assert any(sum(r["neurons_removed"]) >= 20 and r["test_accuracy"] >= base - 0.02 for r in rows)
    assert any(sum(r["neurons_removed"]) >= 100 and r["test_accuracy"] >= 0.9 for r in rows)


def test_mcp_gives_exact_zeros(result):
    for row in result["mcp"]:
        assert row["kernel_zero_fraction"] > 0.1
    exported = result["mcp_exported"]
    kernels = [layer["kernel"] for layer in arrays(exported["params"])]
    zeros = sum((k == 0.0).sum() for k in kernels) / sum(k.size for k in kernels)
    row = next(r for r in result["mcp"] if r["strength"] == exported["strength"])
    assert zeros == pytest.approx(row["kernel_zero_fraction"], abs=1e-12)
    # measured (--quick): 68% zeros at the baseline's accuracy
    assert zeros > 0.5 and row["test_accuracy"] >= result["unregularized_test_accuracy"] - 0.02


def test_two_four_has_two_nonzeros_in_every_block_of_four_inputs(result):
    params = arrays(result["n_m_exported"]["2:4"])
    for layer in params:
        k = layer["kernel"]
        blocks = k.reshape(k.shape[0] // 4, 4, k.shape[1])  # 4 consecutive inputs per output
        assert np.all((blocks != 0).sum(axis=1) == 2)
    row = next(r for r in result["n_m"] if r["strength"] == "2:4")
    # after every step of training, not only at the end
    assert row["step_zero_fraction_min"] == row["step_zero_fraction_max"] == 0.5
    assert row["step_max_nonzeros_per_block"] == 2
    X, y = np.asarray(result["X_test"], np.float64), np.asarray(result["y_test"])
    accuracy = (forward(params, X).argmax(1) == y).mean()
    assert accuracy == pytest.approx(row["test_accuracy"], abs=1 / len(y) + 1e-9)
    assert accuracy > 0.9  # chance is 0.1; measured 0.98
