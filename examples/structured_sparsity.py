"""Structured sparsity on an MLP: group lasso removes neurons, MCP zeroes weights, 2:4 is exact.

A 64-128-128-10 ReLU MLP on scikit-learn's ``load_digits`` (standardized pixels, stratified
75/25 split), plain JAX, trained with mini-batch Adam + ``jr.transforms.proximal(pen, lr,
precondition="adam")``; the penalty acts only through the prox, never in the loss:

(a) ``jr.group_lasso``, one group per hidden neuron: its incoming kernel column (``axis=0`` of
    the flax ``(in, out)`` kernel; the bias is not in the group). A neuron whose column is 0.0
    outputs the constant ``relu(bias)`` whatever the input, so it is removed by adding
    ``relu(bias) * outgoing row`` to the next layer's bias and deleting its column, bias and
    outgoing row. The physically smaller network gives the masked network's logits up to
    float32 rounding of the reordered sums (~3e-6 on logits of ~10), hence the same
    accuracy. Its outgoing row is not zero (it carries the constant), so the fraction of
    weights removed is larger than the fraction of zeros in the trained kernels. (The
    outgoing row cannot be a second group on the same kernel: overlapping groups have no
    closed-form prox, and jaxreg refuses two group terms on one leaf.)
(b) ``jr.mcp`` on every kernel (unstructured): weights exactly 0.0.
(c) ``jr.constraints.n_m(2, 4, axis=0)`` (and 1:4) on every kernel: blocks of 4 consecutive
    *inputs* for each output, the reduction dimension of ``x @ kernel``, which is the layout
    NVIDIA's 2:4 sparse tensor cores accelerate (``axis=-1`` for a PyTorch ``(out, in)``
    weight); the prox is the projection, so the kernels are exactly 50% zeros after every step.

The plot is test accuracy against the fraction of kernel weights removed (for (a), the weights
of the removed neurons: what the smaller network no longer stores), with the unregularized run
as a horizontal line. Run: ``python examples/structured_sparsity.py [--plot PATH] [--json
PATH] [--quick]`` (about 20 s; ``--quick``, for the test, about 10 s).

Why the strengths are what they are: with ``precondition="adam"`` the prox is taken in Adam's
metric, so a weight at 0 stays at 0 when its averaged gradient ``|m_hat|`` is at most the
strength (for a group, ``||m_hat_g||``, exactly so when Adam's scale is uniform over the
group): strengths live on the scale of the loss gradient, not of the weights. At
initialization a kernel weight's full-batch gradient is ~3e-3 (median) to ~4e-2 (largest),
a neuron's incoming column has ~6e-3 per weight (root mean square). (a) Each group's
strength is ``c * sqrt(fan-in)`` (Yuan and Lin's weighting, so ``c`` is per weight), ``c``
from 1e-4 (a few neurons go) to 5e-3 (~90% go, accuracy falls; from ~6e-3 every neuron goes,
chance accuracy). (b) MCP's strength is per weight, 1e-3 (10% zeros) to 6e-2 (99% zeros, the
collapse; 1e-1 zeroes every kernel); ``gamma=3`` (skglm's default) stops shrinking weights
beyond ``3 * strength``, so the survivors are not biased towards 0. Both sweeps are
``jax.vmap``-ed over the strength, a leaf of the penalty pytree (same init, same batches).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg as jr

SIZES = [64, 128, 128, 10]
GROUP_STRENGTHS = [0.0, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 4e-3, 5e-3]  # 0: the baseline
MCP_STRENGTHS = [1e-3, 3e-3, 1e-2, 2e-2, 3e-2, 4e-2, 5e-2, 6e-2]
QUICK_GROUP_STRENGTHS = [0.0, 5e-4, 2e-3]
QUICK_MCP_STRENGTHS = [1e-2, 3e-2]
MCP_GAMMA = 3.0


def make_data(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    mean, std = X_tr.mean(0), X_tr.std(0)
    std[std == 0] = 1.0  # pixels that are always 0 in the training set
    f32 = np.float32
    return ((X_tr - mean) / std).astype(f32), ((X_te - mean) / std).astype(f32), y_tr, y_te


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


def only(layers: list[int]) -> list[dict[str, bool]]:
    """A bool-pytree mask selecting the kernels of ``layers``."""
    return [{"kernel": i in layers, "bias": False} for i in range(len(SIZES) - 1)]


def neuron_group_lasso(c):
    """One group per hidden neuron: its incoming kernel column (``axis=0``), strength
    ``c * sqrt(fan-in)``. (Its outgoing row cannot be a second group on the same middle kernel:
    overlapping groups have no closed-form prox, and jaxreg refuses two group terms on a leaf.)"""
    hidden = range(1, len(SIZES) - 1)
    pen = None
    for i in hidden:
        term = jr.group_lasso(c * np.sqrt(SIZES[i - 1]), axis=0, mask=only([i - 1]))
        pen = term if pen is None else pen + term
    return pen


def mcp(strength):
    return jr.mcp(strength, MCP_GAMMA, mask=jr.masks.kernels)


def n_m(n: int, m: int = 4):
    # axis=0: blocks of m consecutive inputs for each output, the reduction axis of x @ kernel
    return lambda _: jr.constraints.n_m(n, m, axis=0, mask=jr.masks.kernels)


def max_nonzeros_per_block(kernel, m: int = 4):
    """The largest count of non-zeros in a block of ``m`` consecutive inputs, over outputs."""
    blocks = kernel.reshape(kernel.shape[0] // m, m, kernel.shape[1])
    return jnp.max(jnp.sum(blocks != 0, axis=1))


def train(
    make_penalty: Callable[[Any], jr.Penalty],
    strengths,
    data,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Train one network per strength (``jax.vmap``, same init and batches); return the final
    params (leading strength axis), test accuracies and per-step sparsity diagnostics."""
    X_tr, X_te, y_tr, y_te = data
    X, y = jnp.asarray(X_tr), jnp.asarray(y_tr)
    n_batches = len(y_tr) // batch  # the few leftover rows change with each epoch's permutation
    rng = np.random.default_rng(seed + 1)
    orders = np.stack([rng.permutation(len(y_tr))[: n_batches * batch] for _ in range(epochs)])
    orders = jnp.asarray(orders.reshape(epochs, n_batches, batch))

    def loss(p, x, y):  # the penalty acts through the prox, not the loss
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y).mean()

    def run(strength):
        tx = jr.transforms.proximal(make_penalty(strength), lr, precondition="adam")
        params = init_mlp(jax.random.key(seed), SIZES)

        def step(carry, idx):
            p, s = carry
            u, s = tx.update(jax.grad(loss)(p, X[idx], y[idx]), s, p)
            p = optax.apply_updates(p, u)
            kernels = [layer["kernel"] for layer in p]
            zeros = sum(jnp.sum(k == 0) for k in kernels) / sum(k.size for k in kernels)
            most = jnp.max(jnp.stack([max_nonzeros_per_block(k) for k in kernels]))
            return (p, s), (zeros, most)

        def epoch(carry, order):
            return jax.lax.scan(step, carry, order)

        (params, _), (zeros, most) = jax.lax.scan(epoch, (params, tx.init(params)), orders)
        correct = forward(params, jnp.asarray(X_te)).argmax(-1) == jnp.asarray(y_te)
        return params, jnp.mean(correct), zeros.reshape(-1), most.reshape(-1)

    params, acc, zeros, most = jax.jit(jax.vmap(run))(jnp.asarray(strengths, jnp.float32))
    return {
        "params": jax.tree.map(np.asarray, params),
        "test_accuracy": np.asarray(acc),
        "step_zero_fraction": np.asarray(zeros),  # (strengths, steps): kernels, after each step
        "step_max_nonzeros_per_block": np.asarray(most),
    }


def unstack(tree, i: int):
    return jax.tree.map(lambda leaf: leaf[i], tree)


def prune(params) -> tuple[list[dict[str, np.ndarray]], list[int]]:
    """The physically smaller network: drop each hidden neuron whose outgoing row or incoming
    column is all 0.0, after folding its constant output ``relu(bias)`` into the next bias.

    Layers are pruned in order on the already-pruned network, so a neuron whose only inputs
    were constant neurons (now folded into its bias) is recognized as constant too.
    """
    layers = [{"kernel": np.array(p["kernel"]), "bias": np.array(p["bias"])} for p in params]
    removed = []
    for i in range(len(layers) - 1):
        layer, after = layers[i], layers[i + 1]
        constant = ~np.any(layer["kernel"] != 0, axis=0)  # outputs relu(bias) whatever the input
        unused = ~np.any(after["kernel"] != 0, axis=1)  # nothing reads its output
        drop = constant | unused
        # a neuron with a zero row contributes 0 here; a constant one its relu(bias) @ row
        after["bias"] = after["bias"] + np.maximum(layer["bias"][drop], 0) @ after["kernel"][drop]
        layer["kernel"], layer["bias"] = layer["kernel"][:, ~drop], layer["bias"][~drop]
        after["kernel"] = after["kernel"][~drop]
        removed.append(int(drop.sum()))
    return layers, removed


def kernel_zero_fraction(params) -> float:
    kernels = [np.asarray(p["kernel"]) for p in params]
    return float(sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels))


def n_kernel_weights(params) -> int:
    return sum(int(np.asarray(p["kernel"]).size) for p in params)


def group_lasso_rows(result, strengths, X_te, y_te) -> list[dict[str, Any]]:
    logits = jax.jit(forward)
    rows = []
    for i, c in enumerate(strengths):
        masked = unstack(result["params"], i)
        pruned, removed = prune(masked)
        big = np.asarray(logits(masked, X_te))
        small = np.asarray(logits(pruned, X_te))
        rows.append(
            {
                "strength": float(c),
                "test_accuracy": float(result["test_accuracy"][i]),
                "pruned_test_accuracy": float((small.argmax(1) == y_te).mean()),
                "neurons_removed": removed,
                "hidden_neurons": SIZES[1:-1],
                "pruned_sizes": [SIZES[0]] + [int(p["bias"].size) for p in pruned],
                "fraction_weights_removed": 1 - n_kernel_weights(pruned) / n_kernel_weights(masked),
                "kernel_zero_fraction": kernel_zero_fraction(masked),
                "max_abs_logit_difference": float(np.abs(big - small).max()),
                "max_abs_logit": float(np.abs(big).max()),
                "same_predictions": bool(np.array_equal(big.argmax(1), small.argmax(1))),
                "masked": masked,
                "pruned": pruned,
            }
        )
    return rows


def weight_rows(result, labels) -> list[dict[str, Any]]:
    rows = []
    for i, label in enumerate(labels):
        params = unstack(result["params"], i)
        rows.append(
            {
                "strength": label,
                "test_accuracy": float(result["test_accuracy"][i]),
                "kernel_zero_fraction": kernel_zero_fraction(params),
                "step_zero_fraction_min": float(result["step_zero_fraction"][i].min()),
                "step_zero_fraction_max": float(result["step_zero_fraction"][i].max()),
                "step_max_nonzeros_per_block": int(result["step_max_nonzeros_per_block"][i].max()),
                "params": params,
            }
        )
    return rows


def plot(gl, mcp_rows, nm_rows, baseline: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    ax.axhline(baseline, color="gray", ls="--", lw=1, label=f"unregularized ({baseline:.3f})")
    x = [r["fraction_weights_removed"] for r in gl]
    ax.plot(x, [r["pruned_test_accuracy"] for r in gl], "o-", label="group lasso (neurons removed)")
    last = (-1.0, -1.0)
    for r, xi in zip(gl, x, strict=True):
        yi = r["pruned_test_accuracy"]
        if abs(xi - last[0]) < 0.04 and abs(yi - last[1]) < 0.015:
            continue  # too close to the previous label
        ax.annotate(
            "+".join(map(str, r["neurons_removed"])),
            (xi, yi),
            textcoords="offset points",
            xytext=(-5, -4),
            ha="right",
            va="top",
            fontsize=7,
            color="C0",
        )
        last = (xi, yi)
    ax.plot(
        [r["kernel_zero_fraction"] for r in mcp_rows],
        [r["test_accuracy"] for r in mcp_rows],
        "s-",
        label="MCP (unstructured zeros)",
    )
    ax.plot(
        [r["kernel_zero_fraction"] for r in nm_rows],
        [r["test_accuracy"] for r in nm_rows],
        "D",
        ms=8,
        color="C3",
        label="N:M (" + ", ".join(r["strength"] for r in nm_rows) + ")",
    )
    for r in nm_rows:
        ax.annotate(
            r["strength"],
            (r["kernel_zero_fraction"], r["test_accuracy"]),
            textcoords="offset points",
            xytext=(8, 4),
            fontsize=8,
            color="C3",
        )
    ax.set_xlim(-0.02, 1.0)
    ax.set_xlabel("fraction of kernel weights removed (exact zeros / removed neurons' weights)")
    ax.set_ylabel("test accuracy")
    ax.set_title(
        "load_digits MLP 64-128-128-10, Adam + jr.transforms.proximal\n"
        "(group lasso labels: hidden neurons removed per layer)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def to_json(tree) -> Any:
    return jax.tree.map(lambda a: np.asarray(a).tolist(), tree)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", default=str(Path(__file__).with_suffix(".png")))
    ap.add_argument("--json", help="also write the results (and a few final params) as JSON here")
    ap.add_argument("--quick", action="store_true", help="fewer epochs and strengths (tests)")
    ap.add_argument("--epochs", type=int, help="default 60, or 30 with --quick")
    args = ap.parse_args(argv)
    epochs = args.epochs or (30 if args.quick else 60)
    group_strengths = QUICK_GROUP_STRENGTHS if args.quick else GROUP_STRENGTHS
    mcp_strengths = QUICK_MCP_STRENGTHS if args.quick else MCP_STRENGTHS
    nm = [(2, 4)] if args.quick else [(2, 4), (1, 4)]

    start = time.perf_counter()
    data = make_data(seed=0)
    X_te, y_te = data[1], data[3]
    gl = group_lasso_rows(
        train(neuron_group_lasso, group_strengths, data, epochs=epochs),
        group_strengths,
        X_te,
        y_te,
    )
    mc = weight_rows(train(mcp, mcp_strengths, data, epochs=epochs), mcp_strengths)
    nm_rows = []
    for n, m in nm:
        nm_rows += weight_rows(train(n_m(n, m), [0.0], data, epochs=epochs), [f"{n}:{m}"])
    baseline = gl[0]["test_accuracy"]  # strength 0: plain Adam
    seconds = time.perf_counter() - start

    print(f"load_digits MLP {'-'.join(map(str, SIZES))}, {epochs} epochs, {seconds:.0f} s")
    print(f"unregularized: test accuracy {baseline:.3f}")
    print("group lasso (c)   test acc  pruned acc  neurons removed  weights removed  max|dlogit|")
    for r in gl[1:]:
        neurons = "+".join(map(str, r["neurons_removed"]))
        print(
            f"  {r['strength']:<15.4g} {r['test_accuracy']:8.3f}  {r['pruned_test_accuracy']:10.3f}"
            f"  {neurons:>15}  {r['fraction_weights_removed']:15.3f}"
            f"  {r['max_abs_logit_difference']:.1e}"
        )
    print("MCP (strength)    test acc  kernel zeros")
    for r in mc:
        print(
            f"  {r['strength']:<15.4g} {r['test_accuracy']:8.3f}  {r['kernel_zero_fraction']:12.3f}"
        )
    print("N:M (axis=0)      test acc  kernel zeros  zeros after every step  max nonzeros/block")
    for r in nm_rows:
        print(
            f"  {r['strength']:<15} {r['test_accuracy']:8.3f}  {r['kernel_zero_fraction']:12.3f}"
            f"  {r['step_zero_fraction_min']:.4f}-{r['step_zero_fraction_max']:.4f}"
            f"  {r['step_max_nonzeros_per_block']:18d}"
        )
    plot(gl[1:], mc, nm_rows, baseline, args.plot)
    print(f"wrote {args.plot}")

    if args.json:
        # the group-lasso run removing most neurons while within 3 points of the baseline
        ok = [r for r in gl[1:] if r["pruned_test_accuracy"] >= baseline - 0.03]
        best = max(ok or gl[1:], key=lambda r: (sum(r["neurons_removed"]), r["strength"]))
        sparsest = max(mc, key=lambda r: r["kernel_zero_fraction"])
        out = {
            "sizes": SIZES,
            "epochs": epochs,
            "seconds": seconds,
            "unregularized_test_accuracy": baseline,
            "group_lasso": [
                {k: v for k, v in r.items() if k not in ("masked", "pruned")} for r in gl[1:]
            ],
            "mcp": [{k: v for k, v in r.items() if k != "params"} for r in mc],
            "n_m": [{k: v for k, v in r.items() if k != "params"} for r in nm_rows],
            # for independent checks in the test: NumPy forward passes and zero counts
            "X_test": X_te.tolist(),
            "y_test": y_te.tolist(),
            "group_lasso_exported": {
                "strength": best["strength"],
                "masked": to_json(best["masked"]),
                "pruned": to_json(best["pruned"]),
            },
            "mcp_exported": {
                "strength": sparsest["strength"],
                "params": to_json(sparsest["params"]),
            },
            "n_m_exported": {r["strength"]: to_json(r["params"]) for r in nm_rows},
        }
        Path(args.json).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
