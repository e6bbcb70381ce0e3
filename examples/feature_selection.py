"""Feature selection that really selects: group lasso + Adam + proximal steps on noisy Iris.

Iris (4 real features) with pure-noise features appended; an MLP whose first-layer kernel
carries ``jr.group_lasso`` (one group = one input feature's row), trained with mini-batch
Adam followed by ``jr.transforms.proximal``. The noise rows become exactly 0.0 and stay there;
the real rows do not. Run: ``python examples/feature_selection.py [--plot PATH]``.

Why the strength is what it is: the prox thresholds a row's norm by ``lr * strength`` per step,
while Adam moves each weight by about ``lr * |m_hat / sqrt(v_hat)|`` whatever the gradient's
scale. A row of ``h`` weights whose gradient keeps one sign (a useful feature) moves by about
``lr * sqrt(h)`` and survives a threshold ``lr * strength`` when ``strength < sqrt(h)``; a
noise row, whose gradient keeps changing sign, moves by a fraction of that and is held at 0.
So the strength is chosen relative to ``sqrt(hidden)``, not to the gradient scale
(``lambda_max``), which is what the SGD-style rule would suggest and which gives no zeros.
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

FEATURES = ["sepal length", "sepal width", "petal length", "petal width"]


def make_data(n_noise: int, seed: int):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(seed)
    X = np.hstack([X, rng.normal(size=(len(X), n_noise))])
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    mean, std = X_tr.mean(0), X_tr.std(0)
    names = FEATURES + [f"noise {i}" for i in range(n_noise)]
    return (X_tr - mean) / std, (X_te - mean) / std, y_tr, y_te, names


def init_mlp(key, sizes):
    params = []
    for k, (n_in, n_out) in zip(
        jax.random.split(key, len(sizes) - 1), zip(sizes, sizes[1:], strict=False), strict=True
    ):
        limit = np.sqrt(6 / (n_in + n_out))
        params.append(
            {
                "kernel": jax.random.uniform(k, (n_in, n_out), minval=-limit, maxval=limit),
                "bias": jnp.zeros(n_out),
            }
        )
    return params


def forward(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["kernel"] + layer["bias"])
    return x @ params[-1]["kernel"] + params[-1]["bias"]


def train(
    *,
    strength: float,
    n_noise: int = 6,
    hidden: int = 16,
    lr: float = 0.01,
    batch: int = 16,
    epochs: int = 300,
    seed: int = 0,
    precondition: str | None = "adam",
    weight_decay: float = 0.03,
    b1: float = 0.99,
) -> dict[str, Any]:
    """Train once; return accuracies, first-layer row norms per epoch and the selected features.

    The defaults were chosen by a small scan (seeds 0-2, strengths 0.02-0.05, weight decay
    0.001-0.1, b1 0.9/0.99, batch 16/32): with ``b1=0.99`` the stochastic first moment is
    averaged long enough that noise rows, whose mean gradient is below ``strength``, are not
    kicked off 0 by mini-batch noise; a little weight decay on the kernels stops the network
    from using noise features to fit the 105 training rows. Since the group prox uses each
    row's mean metric (``lr / mean(D)``, not the mean of ``lr / D``), strength 0.05 is what
    holds every noise row at 0 (0.03-0.04 leave one or two at ~1e-2); seed 0 then also drops
    sepal length, which adds little once the petal features are in.
    """
    X_tr, X_te, y_tr, y_te, names = make_data(n_noise, seed)
    params = init_mlp(jax.random.key(seed), [X_tr.shape[1], hidden, 3])
    # one group per input feature: the rows of the first kernel (axis=-1 runs along the outputs)
    first_kernel = [{"kernel": True, "bias": False}, {"kernel": False, "bias": False}]
    pen = jr.group_lasso(strength, mask=first_kernel)
    if weight_decay:
        pen = pen + jr.l2(weight_decay, mask=jr.masks.kernels)
    if precondition == "adam":
        tx = jr.transforms.proximal(
            pen, lr, precondition="adam", b1=b1
        )  # Adam + prox in Adam's metric
    elif strength > 0:
        tx = optax.chain(optax.adam(lr), jr.transforms.proximal(pen, lr))
    else:
        tx = optax.adam(lr)

    def loss(p, x, y):  # the penalty acts through the prox, not the loss
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y).mean()

    @jax.jit
    def epoch(carry, order):
        p, s = carry
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            g = jax.grad(loss)(p, X[idx], y[idx])
            u, s = tx.update(g, s, p)
            p = optax.apply_updates(p, u)
        return (p, s), jnp.linalg.norm(p[0]["kernel"], axis=1)

    X, y = jnp.asarray(X_tr, jnp.float32), jnp.asarray(y_tr)
    rng = np.random.default_rng(seed + 1)
    orders = jnp.asarray(np.stack([rng.permutation(len(y_tr)) for _ in range(epochs)]))
    (params, _), norms = jax.lax.scan(epoch, (params, tx.init(params)), orders)
    kernel = np.asarray(params[0]["kernel"])

    def acc(X_, y_):
        return float(
            (np.asarray(forward(params, jnp.asarray(X_, jnp.float32))).argmax(1) == y_).mean()
        )

    selected = [n for n, row in zip(names, kernel, strict=True) if np.any(row != 0.0)]
    return {
        "names": names,
        "row_norms": np.asarray(norms),  # (epochs, n_features)
        "kernel": kernel,
        "selected": selected,
        "train_accuracy": acc(X_tr, y_tr),
        "test_accuracy": acc(X_te, y_te),
    }


def plot(result: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, norms in zip(result["names"], result["row_norms"].T, strict=True):
        ax.plot(np.maximum(norms, 1e-8), ls="-" if name in FEATURES else "--", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("first-layer row norm (0 shown at 1e-8)")
    ax.set_title("group lasso + Adam + jr.transforms.proximal: noise rows go to exactly 0")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strength", type=float, default=0.05)
    ap.add_argument("--precondition", choices=["adam", "none"], default="adam")
    ap.add_argument("--noise", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--plot", default="feature_selection.png")
    ap.add_argument("--json", help="also write the results as JSON here")
    args = ap.parse_args(argv)
    pre = None if args.precondition == "none" else args.precondition
    base = train(
        strength=0.0, n_noise=args.noise, epochs=args.epochs, precondition=None, weight_decay=0.0
    )
    res = train(strength=args.strength, n_noise=args.noise, epochs=args.epochs, precondition=pre)
    print(f"unregularized: test accuracy {base['test_accuracy']:.3f}")
    print(f"group lasso {args.strength}: test accuracy {res['test_accuracy']:.3f}")
    print(
        "row norms:",
        {n: round(float(v), 4) for n, v in zip(res["names"], res["row_norms"][-1], strict=True)},
    )
    print("selected features:", ", ".join(res["selected"]))
    plot(res, args.plot)
    print(f"wrote {args.plot}")
    if args.json:
        noise = [i for i, n in enumerate(res["names"]) if n.startswith("noise")]
        nonzero = np.nonzero(np.any(res["row_norms"][:, noise] != 0.0, axis=1))[0]
        out = {
            "names": res["names"],
            "final_row_norms": res["row_norms"][-1].tolist(),
            "max_abs_weight_per_row": np.abs(res["kernel"]).max(axis=1).tolist(),
            "selected": res["selected"],
            "noise_rows_zero_since_epoch": int(nonzero[-1] + 1) if len(nonzero) else 0,
            "epochs": args.epochs,
            "test_accuracy": res["test_accuracy"],
            "unregularized_test_accuracy": base["test_accuracy"],
        }
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
