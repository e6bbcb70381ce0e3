"""Section 3: choosing lambda. K strengths of the Iris MLP, 1,400 full-batch Adam steps each.

jr.select.sweep vs a hand-written jax.jit(jax.vmap(train)) vs K sequential jitted runs vs K
sequential PyTorch trainings vs K scikit-learn MLPClassifier fits. Compilation is reported
separately (the first call) from the steady-state time (median of later calls).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg as jr

from ._timing import median_time

HIDDEN = 4
LR = 0.01


def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
    return X, y


def init(seed: int = 0):
    rng = np.random.default_rng(seed)
    return {
        "w1": (rng.standard_normal((4, HIDDEN)) * 0.5).astype(np.float32),
        "b1": np.zeros(HIDDEN, np.float32),
        "w2": (rng.standard_normal((HIDDEN, 3)) * 0.5).astype(np.float32),
        "b2": np.zeros(3, np.float32),
    }


def make_train(steps: int) -> Callable[..., Any]:
    p0 = jax.tree.map(jnp.asarray, init())

    def train(strength, X, y):
        def ce(p):
            logits = jax.nn.relu(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss = jr.regularized(ce, jr.l2(strength, mask=jr.masks.kernels))
        opt = optax.adam(LR)

        def step(c, _):
            p, s = c
            u, s = opt.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p0, opt.init(p0)), None, length=steps)[0][0]

    return train


def torch_train(strengths, X, y, steps):
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    p = init()
    for s in strengths:
        model = torch.nn.Sequential(
            torch.nn.Linear(4, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 3)
        )
        with torch.no_grad():
            model[0].weight.copy_(torch.from_numpy(p["w1"].T.copy()))
            model[0].bias.zero_()
            model[2].weight.copy_(torch.from_numpy(p["w2"].T.copy()))
            model[2].bias.zero_()
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        kernels = [model[0].weight, model[2].weight]
        for _ in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xt), yt)
            loss = loss + float(s) / 2 * sum(w.square().sum() for w in kernels)
            loss.backward()
            opt.step()


def sklearn_train(strengths, X, y, steps):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    for s in strengths:
        clf = MLPClassifier(
            hidden_layer_sizes=(HIDDEN,),
            solver="adam",
            learning_rate_init=LR,
            batch_size=len(y),  # full batch: one step per epoch
            alpha=float(s) * len(y),  # jr.conventions.from_sklearn: alpha = strength * batch
            max_iter=steps,
            tol=0.0,
            n_iter_no_change=steps + 1,
            shuffle=False,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)


def _measure(K: int, X, y, *, steps: int, repeats: int, slow: bool) -> dict[str, Any]:
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    strengths = jnp.asarray(np.geomspace(1.0, 1e-4, K), jnp.float32)
    row: dict[str, Any] = {"section": "sweep", "K": K, "steps": steps}
    # fresh functions per K, so that each first call includes its compilation
    train = make_train(steps)
    hand = jax.jit(jax.vmap(train, in_axes=(0, None, None)))
    one = jax.jit(train)
    listed = list(strengths)

    def swept():
        return jr.select.sweep(train, strengths, Xj, yj, cache=True)  # repeated sweeps

    def hand_written():
        return hand(strengths, Xj, yj)

    def sequential():
        return [one(s, Xj, yj) for s in listed]

    for name, fn in (("sweep", swept), ("hand_vmap", hand_written), ("sequential_jit", sequential)):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        row[f"{name}_first_call_s"] = time.perf_counter() - t
        row[f"{name}_s"] = median_time(fn, repeats=repeats, warmup=0)
    if slow:
        t = time.perf_counter()
        torch_train(np.asarray(strengths), X, y, steps)
        row["torch_sequential_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sklearn_train(np.asarray(strengths), X, y, steps)
        row["sklearn_sequential_s"] = time.perf_counter() - t
    return row


def run(*, quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    X, y = iris()
    steps = 50 if quick else 1400
    Ks = [1, 4] if quick else [1, 4, 16, 64, 256]
    slow_max = 4 if quick else 64  # PyTorch and scikit-learn are run up to this K
    rows = []
    for K in Ks:
        row = _measure(K, X, y, steps=steps, repeats=2 if quick else 5, slow=slow_max >= K)
        rows.append(row)
        r = row
        msg = (
            f"sweep K={K:3d}: sweep {r['sweep_s']:.3f}s (first {r['sweep_first_call_s']:.2f}s), "
            f"hand vmap {r['hand_vmap_s']:.3f}s, sequential jit {r['sequential_jit_s']:.3f}s"
        )
        if "torch_sequential_s" in r:
            msg += (
                f", torch {r['torch_sequential_s']:.2f}s, sklearn {r['sklearn_sequential_s']:.2f}s"
            )
        progress(msg)
    return rows
