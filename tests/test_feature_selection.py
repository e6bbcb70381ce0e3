"""The feature-selection example, run as a user runs it (its own process, JAX defaults):
noise rows exactly 0 and staying 0, the Iris rows kept, accuracy within 3 points."""

from __future__ import annotations

import pytest
from helpers import run_example

pytestmark = pytest.mark.slow  # starts Python processes (tests/conftest.py)


def run_fs(tmp_path, *args: str) -> dict:
    stdout, res, _ = run_example("feature_selection.py", tmp_path, *args)
    assert "selected features:" in stdout
    return res


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_fs(tmp_path_factory.mktemp("fs"))


def test_noise_rows_are_exactly_zero_and_stay_zero(result):
    rows = dict(zip(result["names"], result["max_abs_weight_per_row"], strict=True))
    noise = {n: v for n, v in rows.items() if n.startswith("noise")}
    real = {n: v for n, v in rows.items() if not n.startswith("noise")}
    assert len(noise) == 6 and all(v == 0.0 for v in noise.values())  # exactly 0.0
    assert result["noise_rows_zero_since_epoch"] <= result["epochs"] - 50  # and they stay there
    kept = [n for n in result["selected"] if not n.startswith("noise")]
    assert kept == result["selected"] and {"petal length", "petal width"} <= set(kept)
    assert len(kept) >= 3 and all(real[n] > 1e-2 for n in kept), real  # far from 0


def test_accuracy_within_three_points_of_unregularized(result):
    assert result["unregularized_test_accuracy"] > 0.8
    assert result["test_accuracy"] >= result["unregularized_test_accuracy"] - 0.03


def test_plain_prox_after_adam_at_the_same_strength_selects_nothing(tmp_path):
    """The documented trap: without preconditioning, no noise row is held at 0."""
    plain = run_fs(tmp_path, "--precondition", "none")
    assert len(plain["selected"]) == len(plain["names"])
