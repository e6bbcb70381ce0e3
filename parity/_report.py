"""Turn the workers' trajectories into comparisons, tables, JSON, Markdown and a plot."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._config import PRESETS, Run, f32

NOTES = {
    ("adam", "jax[torch_adam]", "torch"): (
        "JAX runs torch.optim.Adam through jr.conventions.from_torch_optimizer: eps added to "
        "sqrt(v)/sqrt(1-b2^t), moments by lerp/addcmul, torch's order of operations."
    ),
    ("adam", "jax[keras_adam]", "tf"): (
        "JAX runs Keras's Adam ('epsilon hat') through jr.conventions.from_keras_optimizer: eps "
        "added to sqrt(v), not sqrt(v_hat); step lr*sqrt(1-b2^t)/(1-b1^t)."
    ),
    ("adam", "jax[keras_adam,keras_f32]", "tf"): (
        "JAX runs Keras's Adam ('epsilon hat') with Keras-on-TF's float64 constants: beta powers "
        f"from float32 betas (b1={f32(0.9)!r}, b2={f32(0.999)!r}), regularizer strength "
        "rounded to float32."
    ),
    ("adam", "tf", "torch"): (
        "Not the same algorithm: Keras adds eps to sqrt(v), torch to sqrt(v_hat) (eps is "
        "effectively eps*sqrt(1-b2^t) larger in torch), and Keras in float64 rounds betas and "
        "strengths to float32. Shown for information."
    ),
    ("adam", "jax", "torch"): (
        "Stock optax.adam vs stock torch.optim.Adam: the same algorithm (eps added to "
        "sqrt(v_hat)); optax computes the bias correction in the parameter dtype and the moments "
        "by b*m + (1-b)*g, which differ from torch's by rounding only. Graded."
    ),
    ("sgd", "tf", "torch"): (
        "Stock Keras-on-TF SGD vs stock torch SGD, unadjusted: the same algorithm; in float64 "
        "Keras-on-TF rounds the momentum (and the regularizer strength) through float32, which "
        "is the whole difference. Shown for information."
    ),
    ("adam", "torch[weight_decay]", "jax[torch_adam]"): (
        "torch's coupled weight_decay=wd on the kernels adds wd*w to the gradient: the gradient "
        "of jr.l2(wd)."
    ),
    ("sgd", "jax", "torch"): "Same update in both: buf = mu*buf + g; w -= lr*buf.",
    ("sgd", "jax", "tf"): "Keras SGD: m = mu*m - lr*g; w += m (the same update).",
    ("sgd", "jax[keras_f32]", "tf"): (
        "Keras SGD: m = mu*m - lr*g; w += m. Keras on TF casts momentum through float32 in "
        f"float64 ({f32(0.9)!r}); the JAX side uses that constant and the rounded strength."
    ),
    ("sgd", "torch", "tf"): "Keras SGD and torch SGD: the same update, different rounding order.",
    ("sgd", "torch[keras_f32]", "tf"): (
        f"torch SGD given Keras-on-TF's float64 constants: momentum {f32(0.9)!r} and the "
        "float32-rounded regularizer strength."
    ),
    ("sgd", "torch[weight_decay]", "jax"): (
        "torch's coupled weight_decay=wd on the kernels adds wd*w to the gradient: the gradient "
        "of jr.l2(wd)."
    ),
}


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b| over every weight (NaN if either side is not finite)."""
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale else float(np.abs(a - b).max())


def _ce(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _margin(logits: np.ndarray) -> float:
    top = np.sort(logits, axis=1)
    return float((top[:, -1] - top[:, -2]).min())


def run_row(run: Run, res: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    c, h = run.config, run.hyper()
    w = res["trajectory"][-1]
    hidden = h["hidden"]
    W1, W2 = w[: 4 * hidden], w[5 * hidden : 5 * hidden + 3 * hidden]
    kern = np.concatenate([W1, W2])
    p = h["penalty"]
    penalty = p["l1"] * np.abs(kern).sum() + p["l2"] / 2 * (kern**2).sum()
    return {
        "preset": c.preset,
        "optimizer": c.optimizer,
        "penalty": c.penalty,
        "dtype": c.dtype,
        "framework": run.name,
        "train_accuracy": float((res["train_logits"].argmax(1) == job["y_train"]).mean()),
        "test_accuracy": float((res["test_logits"].argmax(1) == job["y_test"]).mean()),
        "final_loss": _ce(res["train_logits"], job["y_train"]) + float(penalty),
        "min_test_margin": _margin(res["test_logits"]),
        "seconds": round(res["seconds"], 3),
    }


def comparison_row(a: Run, b: Run, graded: bool, ra, rb) -> dict[str, Any]:
    c = a.config
    per_epoch = [
        max_rel_diff(x, y) for x, y in zip(ra["trajectory"], rb["trajectory"], strict=True)
    ]
    diff = per_epoch[-1]
    same = bool(np.array_equal(ra["test_logits"].argmax(1), rb["test_logits"].argmax(1)))
    tol = PRESETS[c.preset].tolerance[c.dtype] if graded else None
    return {
        "preset": c.preset,
        "optimizer": c.optimizer,
        "penalty": c.penalty,
        "dtype": c.dtype,
        "a": a.name,
        "b": b.name,
        "max_rel_weight_diff": diff,
        "tolerance": tol,
        "same_test_predictions": same,
        "passed": (bool(diff <= tol) and same) if graded else None,
        "note": NOTES.get((c.optimizer, a.name, b.name), ""),
        "per_epoch_max_rel_weight_diff": per_epoch,
    }


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}" if x == x else "nan"


def tables(report: dict[str, Any]) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    ch = [
        "preset",
        "optimizer",
        "penalty",
        "dtype",
        "a",
        "b",
        "max rel diff",
        "tol",
        "same preds",
        "result",
    ]
    crow = [
        [
            c["preset"],
            c["optimizer"],
            c["penalty"],
            c["dtype"],
            c["a"],
            c["b"],
            _fmt(c["max_rel_weight_diff"]),
            _fmt(c["tolerance"]),
            "yes" if c["same_test_predictions"] else "NO",
            "info" if c["passed"] is None else "PASS" if c["passed"] else "FAIL",
        ]
        for c in report["comparisons"]
    ]
    rh = [
        "preset",
        "optimizer",
        "penalty",
        "dtype",
        "run",
        "train acc",
        "test acc",
        "final loss",
        "min margin",
        "s",
    ]
    rrow = [
        [
            r["preset"],
            r["optimizer"],
            r["penalty"],
            r["dtype"],
            r["framework"],
            f"{r['train_accuracy']:.3f}",
            f"{r['test_accuracy']:.3f}",
            f"{r['final_loss']:.6f}",
            f"{r['min_test_margin']:.3g}",
            f"{r['seconds']:.2f}",
        ]
        for r in report["runs"]
    ]
    return ch, crow, rh, rrow


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown(report: dict[str, Any]) -> str:
    ch, crow, rh, rrow = tables(report)

    def md(header, rows):
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])

    notes = sorted(
        {(c["optimizer"], c["a"], c["b"], c["note"]) for c in report["comparisons"] if c["note"]}
    )
    lines = [
        "# Parity report: JAX vs TensorFlow/Keras vs PyTorch",
        "",
        f"Result: **{'all comparisons pass' if report['ok'] else 'FAILED'}**. "
        f"Versions: {report['versions']}. Total {report['seconds']:.0f} s.",
        "",
        "## Comparisons (final weights)",
        "",
        md(ch, crow),
        "",
        "## What each pair compares",
        "",
        *[f"- **{o}, {a} vs {b}**: {n}" for o, a, b, n in notes],
        "",
        "## Runs",
        "",
        md(rh, rrow),
    ]
    if report["skipped"]:
        lines += ["", "## Skipped", "", *[f"- {k}: {v}" for k, v in report["skipped"].items()]]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str, str], list[dict]] = {}
    for c in report["comparisons"]:
        groups.setdefault((c["preset"], c["optimizer"], c["dtype"]), []).append(c)
    keys = sorted(groups)
    cols = 2
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(13, 4.2 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        for c in groups[key]:
            y = np.maximum(np.asarray(c["per_epoch_max_rel_weight_diff"], float), 1e-17)
            style = "-" if c["tolerance"] is not None else ":"
            ax.semilogy(y, style, lw=1.2, label=f"{c['penalty']}: {c['a']} vs {c['b']}")
        tol = PRESETS[key[0]].tolerance[key[2]]
        ax.axhline(tol, color="k", lw=0.8, ls="--")
        ax.set_title(
            f"{key[0]} / {key[1]} / {key[2]} (dashed: tolerance {tol:g}; dotted lines: info)"
        )
        ax.set_xlabel("epoch")
        ax.set_ylabel("max |a-b| / max |b|")
        ax.legend(fontsize=6, ncol=2)
    for ax in list(axes.flat)[len(keys) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
