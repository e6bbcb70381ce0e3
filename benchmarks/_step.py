"""Section 2: what a regularized training step costs in jaxreg+optax, PyTorch and Keras.

Two MLPs: the Iris MLP (4-16-3, batch 16) and a larger one (784-1024-1024-10 on synthetic data,
batch 128); L2 and L1 on the kernels, and no penalty for the overhead. Keras runs in its own
process (TensorFlow and torch must not share one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg as jr

from ._timing import json_from_worker, paired

MODELS = {"iris": ([4, 16, 3], 16), "large": ([784, 1024, 1024, 10], 128)}
STRENGTH = 1e-4


def data(sizes: list[int], batch: int, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((steps, batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=(steps, batch))
    return X, y


def init(sizes: list[int], seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "kernel": (rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32),
            "bias": np.zeros(b, np.float32),
        }
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]


def penalty(name: str) -> jr.Penalty | None:
    return {
        "none": None,
        "l2": jr.l2(STRENGTH, mask=jr.masks.kernels),
        "l1": jr.l1(STRENGTH, mask=jr.masks.kernels),
    }[name]


def jax_steps(sizes, batch, steps, pen_name) -> Callable[[], Any]:
    X, y = data(sizes, batch, steps)
    X, y = jnp.asarray(X), jnp.asarray(y)
    params = jax.tree.map(jnp.asarray, init(sizes))

    def ce(p, x, y):
        for layer in p[:-1]:
            x = jax.nn.relu(x @ layer["kernel"] + layer["bias"])
        logits = x @ p[-1]["kernel"] + p[-1]["bias"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    pen = penalty(pen_name)
    loss = ce if pen is None else jr.regularized(ce, pen)
    opt = optax.adam(1e-3)

    @jax.jit
    def step(p, s, x, y):
        g = jax.grad(loss)(p, x, y)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    state = {"p": params, "s": opt.init(params)}

    def run():  # the loop users write: one jitted step per batch
        p, s = state["p"], state["s"]
        for i in range(steps):
            p, s = step(p, s, X[i], y[i])
        return p

    return run


def torch_steps(sizes, batch, steps, pen_name) -> Callable[[], Any]:
    import torch

    X, y = data(sizes, batch, steps)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    layers = []
    for layer in init(sizes):
        lin = torch.nn.Linear(*layer["kernel"].shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer["kernel"].T.copy()))
            lin.bias.zero_()
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    kernels = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run():
        for i in range(steps):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[i]), y[i])
            if pen_name == "l2":
                loss = loss + STRENGTH / 2 * sum(w.square().sum() for w in kernels)
            elif pen_name == "l1":
                loss = loss + STRENGTH * sum(w.abs().sum() for w in kernels)
            loss.backward()
            opt.step()
        return loss

    return run


def keras_steps(steps: dict[str, int], repeats: int) -> dict[str, dict[str, float]]:
    """Keras's steps per second per model and penalty, every model in one process: TensorFlow
    is imported once. Raises RuntimeError if the worker fails."""
    args = [f"{model}:{n}" for model, n in steps.items()]
    return json_from_worker("benchmarks._keras_step", str(repeats), *args, timeout=1800)


def run(*, quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    pairs = 2 if quick else 7
    steps_of = {
        model: (10 if quick else 200) if model == "iris" else (2 if quick else 30)
        for model in MODELS
    }
    try:
        keras = keras_steps(steps_of, pairs)
    except RuntimeError as e:
        progress(str(e))
        keras = {}
    for model, (sizes, batch) in MODELS.items():
        steps = steps_of[model]
        fns = {("jax", p): jax_steps(sizes, batch, steps, p) for p in ("none", "l2", "l1")} | {
            ("torch", p): torch_steps(sizes, batch, steps, p) for p in ("none", "l2", "l1")
        }
        for fw in ("jax", "torch"):
            for pen in ("l2", "l1"):
                # with vs without the penalty, in alternating pairs: the overhead is the ratio
                m = paired(fns[(fw, pen)], fns[(fw, "none")], pairs=pairs)
                rows.append(
                    {
                        "section": "step",
                        "model": model,
                        "framework": fw,
                        "penalty": pen,
                        "steps_per_s": steps / m["seconds"],
                        "steps_per_s_without_penalty": steps / m["reference_seconds"],
                        "penalty_overhead": m["ratio"] - 1,
                    }
                )
                progress(
                    f"step {model:5s} {fw:6s} {pen}: {steps / m['seconds']:9.1f} steps/s, "
                    f"penalty overhead {100 * (m['ratio'] - 1):+.1f}%"
                )
        if model not in keras:
            continue
        k = keras[model]
        for pen in ("l2", "l1"):
            rows.append(
                {
                    "section": "step",
                    "model": model,
                    "framework": "keras",
                    "penalty": pen,
                    "steps_per_s": k[pen],
                    "steps_per_s_without_penalty": k["none"],
                    "penalty_overhead": k["none"] / k[pen] - 1,
                }
            )
            progress(
                f"step {model:5s} keras  {pen}: {k[pen]:9.1f} steps/s, "
                f"penalty overhead {100 * (k['none'] / k[pen] - 1):+.1f}% (not paired)"
            )
    return rows
