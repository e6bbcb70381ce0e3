"""Fine-tuning toward the pretrained weights (L2-SP) against weight decay toward 0 (L2).

An MLP (64-64-10) is pretrained with Adam on half of scikit-learn's digits (task A). Task B is
the other half faded: each pixel ``x`` in [0, 1] becomes ``0.2 x + 0.4`` (low contrast on a grey
background, a shift of the input distribution under which the pretrained network is at chance),
with only 50 images to train on. The network is fine-tuned on B from the pretrained weights
``w0`` with

- L2:    ``loss_B(w) + jr.l2(s)(w)``, which pulls every weight toward 0, and
- L2-SP: ``loss_B(w) + jr.l2(s, center=w0)(w)``, which pulls it toward ``w0``
  (Li et al., "Explicit inductive bias for transfer learning with convolutional networks",
  ICML 2018),

over a grid of strengths ``s``, all at once (``jax.vmap`` over the strengths: one compilation
per penalty). The figure shows the distance to the start ``||w - w0||`` and the test accuracy
on B against ``s``: L2 drags the network away from what it learned on A (and, strong, toward
the null network, at chance), L2-SP keeps it near ``w0`` while it adapts to the shift, and its
accuracy holds (even improves a little) as the strength grows.

Run: ``python examples/finetune_l2sp.py [--plot PATH] [--json PATH] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg as jr

SEED = 0
N_TRAIN_B = 50
STRENGTHS = [0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]


def load_tasks(seed: int = SEED) -> dict[str, np.ndarray]:
    """Task A: half of digits, pixels in [0, 1]. Task B: the other half, faded."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    perm = np.random.default_rng(seed).permutation(len(y))
    a, b = perm[: len(y) // 2], perm[len(y) // 2 :]
    faded = 0.2 * X + 0.4
    return {
        "X_a": X[a],
        "y_a": y[a],
        "X_b_train": faded[b[:N_TRAIN_B]],
        "y_b_train": y[b[:N_TRAIN_B]],
        "X_b_test": faded[b[N_TRAIN_B:]],
        "y_b_test": y[b[N_TRAIN_B:]],
    }


def init_mlp(key: jax.Array, sizes: tuple[int, ...] = (64, 64, 10)) -> dict[str, Any]:
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        key, sub = jax.random.split(key)
        params[f"dense_{i}"] = {
            "kernel": jax.random.normal(sub, (n_in, n_out)) * jnp.sqrt(2.0 / n_in),
            "bias": jnp.zeros(n_out),
        }
    return params


def logits(params: dict[str, Any], X: jax.Array) -> jax.Array:
    h = X
    layers = sorted(params)
    for name in layers[:-1]:
        h = jax.nn.relu(h @ params[name]["kernel"] + params[name]["bias"])
    return h @ params[layers[-1]]["kernel"] + params[layers[-1]]["bias"]


def cross_entropy(params: dict[str, Any], X: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, X), y).mean()


def accuracy(params: dict[str, Any], X: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(logits(params, X), axis=-1) == y)


def train(loss_fn, params, steps: int, lr: float):
    """Full-batch Adam, ``steps`` steps in one ``lax.scan``."""
    tx = optax.adam(lr)

    def step(carry, _):
        p, state = carry
        grads = jax.grad(loss_fn)(p)
        updates, state = tx.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return params


def distance(a: dict[str, Any], b: dict[str, Any]) -> jax.Array:
    return optax.tree.norm(optax.tree.sub(a, b))


def run(steps_a: int, steps_b: int) -> dict[str, Any]:
    d = {k: jnp.asarray(v) for k, v in load_tasks().items()}
    w0 = jax.jit(lambda p: train(lambda w: cross_entropy(w, d["X_a"], d["y_a"]), p, steps_a, 1e-2))(
        init_mlp(jax.random.key(SEED))
    )
    strengths = jnp.asarray(STRENGTHS)

    def finetune(strength: jax.Array, penalty: str) -> dict[str, Any]:
        # the penalty is built inside the vmapped function: its strength is traced, and the
        # center (w0) is a constant, so one compilation covers the grid
        pen = jr.l2(strength, center=w0) if penalty == "l2_sp" else jr.l2(strength)

        def loss(w):
            return cross_entropy(w, d["X_b_train"], d["y_b_train"]) + pen(w)

        w = train(loss, w0, steps_b, 1e-2)
        return {
            "distance": distance(w, w0),
            "accuracy": accuracy(w, d["X_b_test"], d["y_b_test"]),
            "train_accuracy": accuracy(w, d["X_b_train"], d["y_b_train"]),
        }

    out: dict[str, Any] = {
        "strengths": STRENGTHS,
        "pretrained_accuracy_a": float(accuracy(w0, d["X_a"], d["y_a"])),
        "pretrained_accuracy_b": float(accuracy(w0, d["X_b_test"], d["y_b_test"])),
        "n_train_b": N_TRAIN_B,
    }
    for penalty in ("l2", "l2_sp"):
        res = jax.jit(jax.vmap(lambda s, p=penalty: finetune(s, p)))(strengths)
        out[penalty] = {
            str(s): {k: float(v[i]) for k, v in res.items()} for i, s in enumerate(STRENGTHS)
        }
    return out


def report(r: dict[str, Any]) -> None:
    print(
        f"pretrained on A: accuracy {r['pretrained_accuracy_a']:.3f} on A, "
        f"{r['pretrained_accuracy_b']:.3f} on the faded task B (before fine-tuning)"
    )
    print(f"fine-tuned on {r['n_train_b']} images of B; test accuracy on B, distance to w0:")
    print(f"{'strength':>9}  {'L2 acc':>7} {'L2 dist':>8}  {'L2-SP acc':>9} {'L2-SP dist':>10}")
    for s in r["strengths"]:
        a, b = r["l2"][str(s)], r["l2_sp"][str(s)]
        print(
            f"{s:>9g}  {a['accuracy']:>7.3f} {a['distance']:>8.3f}  "
            f"{b['accuracy']:>9.3f} {b['distance']:>10.3f}"
        )


def plot(r: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = np.asarray(r["strengths"])
    x = np.where(s > 0, s, s[s > 0].min() / 3)  # strength 0 drawn at the left edge
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for key, label, color in (("l2", "L2 (toward 0)", "C0"), ("l2_sp", "L2-SP (toward w0)", "C1")):
        rows = [r[key][str(v)] for v in r["strengths"]]
        left.plot(x, [row["distance"] for row in rows], "o-", color=color, label=label)
        right.plot(x, [row["accuracy"] for row in rows], "o-", color=color, label=label)
    right.axhline(r["pretrained_accuracy_b"], color="0.5", ls="--", label="w0, not fine-tuned")
    left.set_ylabel("distance to the pretrained weights  ||w - w0||")
    right.set_ylabel("test accuracy on task B")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("strength s  (leftmost point: s = 0)")
        ax.grid(alpha=0.3)
        ax.legend()
    left.set_title("where fine-tuning ends")
    right.set_title(f"faded digits, {r['n_train_b']} training images")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", default=str(Path(__file__).with_suffix(".png")))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--quick", action="store_true", help="fewer training steps (the tests)")
    args = ap.parse_args(argv)
    r = run(steps_a=150 if args.quick else 400, steps_b=100 if args.quick else 300)
    report(r)
    plot(r, args.plot)
    print(f"wrote {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
