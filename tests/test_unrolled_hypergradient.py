"""The unrolled-hypergradient example, run as a user runs it (its own process, --quick --json):
it agrees with finite differences and with a NumPy re-implementation of the training loop,
the checkpointed variants give the same number, and their memory grows slower than the plain
scan's."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_example

pytestmark = pytest.mark.slow  # starts Python processes (tests/conftest.py)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    stdout, res, png = run_example(
        "unrolled_hypergradient.py", tmp_path_factory.mktemp("uh"), "--quick"
    )
    assert "hypergradient vs central FD" in stdout
    assert png.stat().st_size > 10_000
    return res


def test_agrees_with_central_finite_difference(result):
    # measured 7e-9 (K=10, where the hypergradient is small: -3e-4) and 4e-11 (K=100) with
    # step 1e-5 in float64; 1e-6 leaves more than 100x margin
    rows = result["fd"]["l2, lr 0.1"]
    assert [r["K"] for r in rows] == [10, 100]
    for r in rows:
        assert r["rel_error"] < result["fd_threshold"] == 1e-6, r


def test_unstable_training_breaks_the_finite_difference(result):
    """The documented failure: lr 3 makes d w_K / dt grow like rho**K, past any FD step."""
    (r,) = result["fd"]["l2, lr 3 (unstable)"]
    assert abs(r["hypergradient"]) > 1e10 and r["rel_error"] > 0.1


def test_checkpointed_variants_give_the_same_hypergradient(result):
    for K in {r["K"] for r in result["memory"]}:
        grads = {r["checkpoint"]: r["hypergradient"] for r in result["memory"] if r["K"] == K}
        assert set(grads) == {None, "step", "segment"}
        for g in grads.values():
            assert abs(g - grads[None]) <= 1e-12 * abs(grads[None]), grads


def test_memory_plain_grows_linearly_checkpointed_slower(result):
    temp = {(r["K"], r["checkpoint"]): r["temp_bytes"] for r in result["memory"]}
    Ks = sorted({k for k, _ in temp})
    lo, hi = Ks[0], Ks[-1]
    growth = {c: temp[hi, c] / temp[lo, c] for c in (None, "step", "segment")}
    # plain: 0.80 -> 7.42 MiB for K 10 -> 100 (9.3x); checkpointed: 2.0x and 1.3x
    assert 0.5 * hi / lo < growth[None] < 1.5 * hi / lo, growth
    assert growth["step"] < growth[None] / 2 and growth["segment"] < growth[None] / 2, growth
    assert temp[hi, "step"] < temp[hi, None] / 10 and temp[hi, "segment"] < temp[hi, None] / 10


def test_tuning_on_the_hypergradient_lowers_the_validation_loss(result):
    losses = [p["val_loss"] for p in result["tune"]]
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.5 * losses[0]


def numpy_val_loss(log_strength, ref, data):
    """The example's training loop, written out in NumPy: tanh MLP, backprop by hand,
    optax.sgd's momentum (trace = g + momentum * trace; w -= lr * trace), and jaxreg's
    l2 convention on the kernels only (strength / 2 * sum w**2, gradient strength * w)."""
    X_tr, X_va, y_tr, y_va = data
    s = np.exp(log_strength)
    (l1, l2) = ref["params0"]
    W1, b1, W2, b2 = (
        np.array(a, np.float64) for a in (l1["kernel"], l1["bias"], l2["kernel"], l2["bias"])
    )
    params = [W1, b1, W2, b2]
    trace = [np.zeros_like(p) for p in params]

    def logits_of(W1, b1, W2, b2, X):
        a = np.tanh(X @ W1 + b1)
        return a, a @ W2 + b2

    def cross_entropy(z, y):
        z = z - z.max(1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y])

    onehot = np.eye(3)[y_tr]
    for _ in range(ref["K"]):
        W1, b1, W2, b2 = params
        a, z = logits_of(W1, b1, W2, b2, X_tr)
        p = np.exp(z - z.max(1, keepdims=True))
        dz = (p / p.sum(1, keepdims=True) - onehot) / len(y_tr)
        dz1 = (dz @ W2.T) * (1 - a**2)
        grads = [X_tr.T @ dz1 + s * W1, dz1.sum(0), a.T @ dz + s * W2, dz.sum(0)]
        trace = [g + ref["momentum"] * t for g, t in zip(grads, trace, strict=True)]
        params = [w - ref["lr"] * t for w, t in zip(params, trace, strict=True)]
    return cross_entropy(logits_of(*params, X_va)[1], y_va)


def test_matches_a_numpy_reimplementation(result):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    mean, std = X_tr.mean(0), X_tr.std(0)
    data = ((X_tr - mean) / std, (X_va - mean) / std, y_tr, y_va)
    ref, t, h = result["reference"], result["reference"]["log_strength"], 1e-5
    fd = (numpy_val_loss(t + h, ref, data) - numpy_val_loss(t - h, ref, data)) / (2 * h)
    # the JAX-vs-JAX FD error at this K is 7e-9; the NumPy FD adds only rounding
    np.testing.assert_allclose(ref["hypergradient"], fd, rtol=1e-6)
