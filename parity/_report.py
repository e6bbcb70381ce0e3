"""Turn the workers' trajectories into comparisons, tables, JSON, Markdown and plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ._config import CV, ELEMENTWISE, PRESETS, Pair, Run, f32

# What each pair compares, by (optimizer or "*", a, b); the first match wins.
NOTES = {
    ("*", "jax[torch]", "torch"): (
        "torch's own state_dict()['param_groups'] through jr.conventions.from_torch_optimizer "
        "vs torch.optim itself."
    ),
    ("*", "jax[keras]", "tf"): (
        "Keras's own optimizer config and kernel_regularizers (serialize(...)) through "
        "jr.conventions.from_keras_optimizer / from_keras (tf_rounding in float64) vs Keras on "
        "TensorFlow itself."
    ),
    ("*", "jax", "torch"): (
        "Stock optax vs stock torch.optim: the same algorithms (Adam: eps added to "
        "sqrt(v_hat); AdamW: w -= lr*wd*w decoupled; SGD: buf = mu*buf + g); they differ by "
        "rounding order only."
    ),
    ("adam", "tf", "torch"): (
        "Not the same algorithm: Keras's Adam adds eps to sqrt(v) ('epsilon hat'), torch to "
        "sqrt(v_hat); in float64 Keras-on-TF also rounds betas and strengths through float32 "
        "(shown). In float32 a negative control in the tutorial preset, whose float32 spread is "
        "far below their difference; in the longer presets float32 rounding grows as large "
        "(shown)."
    ),
    ("adamw", "tf", "torch"): (
        "Keras's AdamW is its 'epsilon hat' Adam plus decoupled decay: not torch's algorithm "
        "(shown)."
    ),
    ("sgd", "tf", "torch"): (
        "Stock Keras-on-TF SGD vs stock torch SGD, unadjusted: the same algorithm. In float64 "
        f"Keras-on-TF rounds the momentum ({f32(0.9)!r}) and the regularizer strength through "
        "float32, which is the whole difference (shown); in float32 graded."
    ),
    ("sgd", "jax", "tf"): (
        "Stock optax.sgd vs Keras-on-TF SGD (m = mu*m - lr*g; w += m): the same update; in "
        "float64 Keras's float32-rounded constants are the difference (shown)."
    ),
    ("*", "torch[keras_f32]", "tf"): (
        "TF vs torch SGD directly: torch given the momentum and strengths measured in the Keras "
        "run (a probe step and probe weights), no converter involved."
    ),
    ("*", "torch[adam_l2]", "torch"): (
        "Negative control: Adam with coupled weight_decay (an L2 penalty) where AdamW's "
        "decoupled decay is meant; must be reported as different."
    ),
    ("*", "tf[no_half]", "tf"): (
        "Negative control: Keras's L2(l2=lambda) (the missing 1/2 forgotten) vs L2(lambda/2); "
        "must be reported as different."
    ),
    ("*", "torch[weight_decay]", "jax"): (
        "torch's coupled weight_decay=wd on a kernels-only group vs jr.l2(wd) on "
        "jr.masks.kernels with stock optax: the gradient of wd/2 * sum w^2."
    ),
    ("*", "jax[torch_wd]", "torch[weight_decay]"): (
        "torch's two param groups (kernels with weight_decay, biases without) through "
        "jr.conventions.from_torch_optimizer(groups=...) vs torch itself."
    ),
    ("*", "jax[keras_exact]", "keras-jax"): (
        "Keras 3 on its JAX backend vs Keras's converted config without tf_rounding: the "
        "float64 constants are not rounded through float32 there."
    ),
    ("*", "jax[keras_exact]", "keras-torch"): (
        "Keras 3 on its torch backend in float64: its constants are exact (measured), but "
        "Keras maps float64 to float32 in its type promotion on every backend but TensorFlow "
        "(keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE) and the torch backend's "
        "matmul casts its operands to that type, so every Dense runs in float32: a "
        "float32-sized difference (shown; graded in float32)."
    ),
    ("*", "jax[keras]", "keras-jax"): (
        "Keras 3 on its JAX backend vs Keras's converted config with tf_rounding: in float64 "
        "the difference is the float32 rounding only the TensorFlow backend does (shown); in "
        "float32 graded."
    ),
    ("*", "tf", "keras-jax"): "Keras on TensorFlow vs Keras on JAX in float64 (shown).",
    ("*", "jax[keras]", "keras-torch"): "Keras 3 on its torch backend vs Keras's converted config.",
}


def note(optimizer: str, a: str, b: str) -> str:
    return NOTES.get((optimizer, a, b)) or NOTES.get(("*", a, b), "")


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b| over every weight (NaN if either side is not finite)."""
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale else float(np.abs(a - b).max())


def divergence(ta: np.ndarray, tb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per epoch, the difference relative to how far training moved the weights.

    With ``m = w_final - w_init`` of run b: ``||a_e - b_e||_2 / ||m||_2`` and
    ``max_i |a_e - b_e|_i / max_i |m_i|``, for every epoch e (NaN if a side is not finite).
    """
    if not (np.all(np.isfinite(ta)) and np.all(np.isfinite(tb))):
        nan = np.full(len(tb), math.nan)
        return nan, nan
    move = tb[-1] - tb[0]
    diff = ta - tb
    l2 = np.linalg.norm(diff, axis=1) / max(np.linalg.norm(move), 1e-300)
    mx = np.abs(diff).max(axis=1) / max(np.abs(move).max(), 1e-300)
    return l2, mx


def _ce(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _config_fields(run: Run) -> dict[str, Any]:
    c = run.config
    return {
        "preset": c.preset,
        "model": c.model.name,
        "optimizer": c.optimizer,
        "penalty": c.penalty,
        "dtype": c.dtype,
        "seed": c.seed,
    }


def _margin(logits: np.ndarray) -> float:
    top = np.sort(logits, axis=1)
    return float((top[:, -1] - top[:, -2]).min())


def penalty_value(run: Run, w: np.ndarray) -> float:
    """The run's penalty at the canonical weight vector ``w``, in NumPy (textbook units)."""
    pen = run.hyper()["penalty"]
    if pen["keras"] is None:
        return 0.0
    l1, l2 = pen["keras"]["l1"], 2 * pen["keras"]["l2"]  # what this run applies
    out, offset = 0.0, 0
    for name, shape in run.config.model.shapes():
        x = w[offset : offset + int(np.prod(shape))].reshape(shape)
        offset += x.size
        if x.ndim > 1:
            out += l1 * np.abs(x).sum() + l2 / 2 * (x**2).sum()
        if name == "K2" and pen["group"]:
            out += pen["group"] * np.sqrt((x**2).sum(axis=(0, 1, 2))).sum()
    return float(out)


def run_row(run: Run, res: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    ds = run.config.model.dataset
    y_train, y_test = job[f"{ds}/y_train"], job[f"{ds}/y_test"]
    return {
        **_config_fields(run),
        "framework": run.name,
        "train_accuracy": float((res["train_logits"].argmax(1) == y_train).mean()),
        "test_accuracy": float((res["test_logits"].argmax(1) == y_test).mean()),
        # mean cross-entropy on the training rows + the penalty, at the final weights
        "final_loss": _ce(res["train_logits"], y_train) + penalty_value(run, res["trajectory"][-1]),
        "min_test_margin": _margin(res["test_logits"]),
        "seconds": round(res["seconds"], 3),
    }


def comparison_row(
    pair: Pair, ra: dict[str, Any], rb: dict[str, Any], spreads: tuple[float, float] | None = None
) -> dict[str, Any]:
    a, b, c = pair.a, pair.b, pair.a.config
    ta, tb = ra["trajectory"], rb["trajectory"]
    l2, mx = divergence(ta, tb)
    per_epoch = [max_rel_diff(x, y) for x, y in zip(ta, tb, strict=True)]
    worst = int(np.nanargmax(l2)) if np.isfinite(l2).any() else 0
    rel, rel_max = float(np.max(l2)), float(np.max(mx))
    same = bool(np.array_equal(ra["test_logits"].argmax(1), rb["test_logits"].argmax(1)))
    tol = PRESETS[c.preset].tolerance[c.dtype] if pair.kind != "info" else None
    if pair.kind == "graded":
        passed = bool(rel <= tol and rel_max <= ELEMENTWISE * tol and same)
    elif pair.kind == "control":
        passed = bool(rel > tol)  # NaN is not "different": it fails
    else:
        passed = None
    return {
        **_config_fields(a),
        "a": a.name,
        "b": b.name,
        "kind": pair.kind,
        "max_rel_weight_diff": per_epoch[-1],
        "rel_movement": rel,
        "max_elementwise_rel_movement": rel_max,
        "worst_epoch": worst,
        "tolerance": tol,
        "same_test_predictions": same,
        "passed": passed,
        "note": note(c.optimizer, a.name, b.name),
        # float32 pairs: how far each side's float32 run is from its own float64 run
        "float32_spread": list(spreads) if spreads else None,
        "per_epoch_max_rel_weight_diff": per_epoch,
        "per_epoch_rel_movement": l2.tolist(),
    }


# --------------------------------------------------------------------------------------------
# Did each framework build what the job asked for?


def _keras_regularizers(run: Run) -> list[dict[str, Any] | None]:
    """The ``serialize(kernel_regularizer)`` expected on each layer, from the plain numbers."""
    pen = run.hyper()["penalty"]
    layers = len(run.config.model.kernel_names())
    if pen["keras"] is None:
        return [None] * layers
    a, b = pen["keras"]["l1"], pen["keras"]["l2"]
    if a and b:
        plain = {"class_name": "L1L2", "config": {"l1": a, "l2": b}}
    else:
        # Keras's L1 (unlike L2 and L1L2) keeps its strength as a tensor,
        # ops.convert_to_tensor(l1): float32 on TensorFlow, even for float64 models
        a_kept = f32(a) if run.framework == "tf" else a
        plain = {"class_name": "L1", "config": {"l1": a_kept}} if a else None
        plain = plain or {"class_name": "L2", "config": {"l2": b}}
    out: list[dict[str, Any] | None] = [plain] * layers
    if pen["group"]:  # the custom regularizer on the second conv
        out[1] = {"class_name": "GroupLassoL2", "config": {"l2": b, "group": pen["group"]}}
    return out


def config_check(run: Run, exports: dict[str, Any]) -> list[str]:
    """Mismatches between what a Keras or torch run exported (its optimizer's and regularizers'
    own configs, the constants measured in Keras) and the job's plain numbers; [] if none.

    This is what makes the converter runs (which read the exports) a check of the framework
    too: a Keras run built with another epsilon would otherwise be reproduced faithfully.
    """
    h, opt = run.hyper(), run.config.optimizer
    bad: list[str] = []

    def expect(where: str, got: Any, want: Any) -> None:
        if got != want:
            bad.append(f"{where}: {got!r}, expected {want!r}")

    if "optimizer" in exports:  # Keras
        o = exports["optimizer"]
        c = o["config"]
        expect("optimizer", o["class_name"], {"adam": "Adam", "sgd": "SGD", "adamw": "AdamW"}[opt])
        # the learning rate lives in a variable of the weights' dtype: float32 rounds it
        lr = f32(h["lr"]) if run.config.dtype == "float32" else h["lr"]
        expect("learning_rate", c["learning_rate"], lr)
        for key in ("clipnorm", "clipvalue", "global_clipnorm", "loss_scale_factor"):
            expect(key, c.get(key), None)
        expect("use_ema", c.get("use_ema"), False)
        if opt == "sgd":
            expect("momentum", c["momentum"], h["momentum"])
            expect("nesterov", c["nesterov"], False)
        else:
            for key, want in (("beta_1", h["b1"]), ("beta_2", h["b2"]), ("epsilon", h["eps"])):
                expect(key, c[key], want)
            expect("amsgrad", c["amsgrad"], False)
        expect("weight_decay", c.get("weight_decay"), h["weight_decay"] or None)
        regs = [
            None if r is None else {"class_name": r["class_name"], "config": r["config"]}
            for r in exports["regularizers"]
        ]
        expect("kernel_regularizers", regs, _keras_regularizers(run))
        # the constants Keras applies to float64 weights, as measured in Keras: TensorFlow
        # rounds them through float32, the JAX and torch backends do not
        if run.config.dtype == "float64":
            r = f32 if run.framework == "tf" else float
            m = exports["constants"]
            expect("measured momentum", m["momentum"], r(h["momentum"]))
            keras = h["penalty"]["keras"] or {"l1": 0.0, "l2": 0.0}
            if h["penalty"]["name"] != "l2_group":  # probes the plain L1/L2/L1L2 regularizer
                want = {"l1": r(keras["l1"]), "l2": r(keras["l2"])}
                expect("measured regularizer", m["regularizer"], want)
    if "param_groups" in exports:  # torch
        groups = exports["param_groups"]
        pen = h["penalty"]
        wd = {"weight_decay": [pen["l2"], 0.0], "adam_l2": [h["weight_decay"]]}
        expect(
            "weight_decay",
            [g["weight_decay"] for g in groups],
            wd.get(run.variant, [h["weight_decay"]]),
        )
        for g in groups:
            expect("lr", g["lr"], h["lr"])
            expect("maximize", g["maximize"], False)
            if opt == "sgd":
                if run.variant != "keras_f32":  # that one is given Keras's measured momentum
                    expect("momentum", g["momentum"], h["momentum"])
                expect("dampening", g["dampening"], 0)
                expect("nesterov", g["nesterov"], False)
            else:
                expect("betas", list(g["betas"]), [h["b1"], h["b2"]])
                expect("eps", g["eps"], h["eps"])
                expect("amsgrad", g["amsgrad"], False)
    return bad


# --------------------------------------------------------------------------------------------
# Cross-validation


def choose(strengths: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Best and one-SE strengths of a (folds, K) score table, written out independently of
    jaxreg: argmax of the mean (ties: the largest strength), then the largest strength whose
    mean is within ``sd(ddof=1) / sqrt(folds)`` of the best one's (glmnet's lambda.1se)."""
    mean = scores.mean(axis=0)
    best = max(range(len(strengths)), key=lambda k: (mean[k], strengths[k]))
    se = scores[:, best].std(ddof=1) / math.sqrt(scores.shape[0])
    one_se = max(k for k in range(len(strengths)) if mean[k] >= mean[best] - se)
    return float(strengths[best]), float(strengths[one_se])


def cv_report(cv: CV, results: dict[str, dict[str, Any]], tol: float) -> dict[str, Any]:
    """Per framework: CV curve, chosen and one-SE strengths, wall time; pairwise agreement."""
    s = np.asarray(cv.strengths)
    out: dict[str, Any] = {"strengths": s.tolist(), "frameworks": {}, "comparisons": []}
    curves = {}
    for fw, r in results.items():
        scores = np.asarray(r["scores"])
        best, one_se = choose(s, scores)
        curves[fw] = scores.mean(axis=0)
        row = {
            "mean_score": curves[fw].tolist(),
            "best_strength": best,
            "one_se_strength": one_se,
            "seconds": round(r["seconds"], 2),
        }
        if "best_strength" in r:  # jr.select.cross_validate's own choice
            row["library_best_strength"] = r["best_strength"]
            row["library_one_se_strength"] = r["one_se_strength"]
        out["frameworks"][fw] = row
    names = list(results)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            fa, fb = out["frameworks"][a], out["frameworks"][b]
            spread = float(np.ptp(curves[b])) or 1.0
            diff = float(np.abs(curves[a] - curves[b]).max() / spread)
            same = (fa["best_strength"], fa["one_se_strength"]) == (
                fb["best_strength"],
                fb["one_se_strength"],
            )
            out["comparisons"].append(
                {
                    "a": a,
                    "b": b,
                    "curve_rel_diff": diff,
                    "tolerance": tol,
                    "same_best": fa["best_strength"] == fb["best_strength"],
                    "same_one_se": fa["one_se_strength"] == fb["one_se_strength"],
                    "passed": bool(diff <= tol and same),
                }
            )
    lib = out["frameworks"].get("jax", {})
    out["library_agrees"] = (
        lib.get("library_best_strength") == lib.get("best_strength")
        and lib.get("library_one_se_strength") == lib.get("one_se_strength")
        if lib
        else None
    )
    return out


# --------------------------------------------------------------------------------------------
# Tables, Markdown, plots


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}" if x == x else "nan"


def _verdict(c: dict[str, Any]) -> str:
    if c["passed"] is None:
        return "info"
    if c["kind"] == "control":
        return "DIFFERENT (expected)" if c["passed"] else "FAIL: not told apart"
    return "PASS" if c["passed"] else "FAIL"


CMP_HEADER = [
    "preset",
    "optimizer",
    "penalty",
    "dtype",
    "seed",
    "a",
    "b",
    "kind",
    "worst rel. to movement",
    "max elementwise",
    "epoch",
    "tol",
    "same preds",
    "result",
]
RUN_HEADER = [
    "preset",
    "optimizer",
    "penalty",
    "dtype",
    "seed",
    "run",
    "train acc",
    "test acc",
    "final loss",
    "min margin",
    "s",
]


def tables(report: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    crow = [
        [
            c["preset"],
            c["optimizer"],
            c["penalty"],
            c["dtype"],
            str(c["seed"]),
            c["a"],
            c["b"],
            c["kind"],
            _fmt(c["rel_movement"]),
            _fmt(c["max_elementwise_rel_movement"]),
            str(c["worst_epoch"]),
            _fmt(c["tolerance"]),
            "yes" if c["same_test_predictions"] else "NO",
            _verdict(c),
        ]
        for c in report["comparisons"]
    ]
    rrow = [
        [
            r["preset"],
            r["optimizer"],
            r["penalty"],
            r["dtype"],
            str(r["seed"]),
            r["framework"],
            f"{r['train_accuracy']:.3f}",
            f"{r['test_accuracy']:.3f}",
            f"{r['final_loss']:.6f}",
            f"{r['min_test_margin']:.3g}",
            f"{r['seconds']:.2f}",
        ]
        for r in report["runs"]
    ]
    return crow, rrow


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _worst(cs: list[dict[str, Any]]) -> str:
    cs = [c for c in cs if c["rel_movement"] == c["rel_movement"]]
    if not cs:
        return "-"
    c = max(cs, key=lambda c: c["rel_movement"])
    where = f"{c['preset']} {c['optimizer']} {c['dtype']}"
    return f"{c['rel_movement']:.1e} ({c['a']} vs {c['b']}, {where})"


def _matches(graded: list[dict[str, Any]]) -> str:
    """What the graded pairs that ran cover, in words."""
    pairs = {(c["a"], c["b"]) for c in graded}
    opts = sorted({c["optimizer"] for c in graded if (c["a"], c["b"]) == ("jax", "torch")})
    out = []
    if opts:
        out.append(f"stock optax vs stock torch.optim ({', '.join(opts)})")
    if pairs & {("jax[keras]", "tf"), ("jax[torch]", "torch")}:
        out.append("jaxreg's converters fed Keras's / torch's exported configs vs the framework")
    if ("tf", "torch") in pairs or ("torch[keras_f32]", "tf") in pairs:
        out.append("TF vs torch SGD")
    return "; ".join(out) or "nothing graded"


def summary(report: dict[str, Any]) -> list[str]:
    """At most eight lines: what matches, what does not and why."""
    cs = report["comparisons"]
    graded = [c for c in cs if c["kind"] == "graded"]
    controls = [c for c in cs if c["kind"] == "control"]
    info = [c for c in cs if c["kind"] == "info"]
    ok_g = sum(bool(c["passed"]) for c in graded)
    ok_c = sum(bool(c["passed"]) for c in controls)
    verdict = "PASS" if report["ok"] else "FAIL"
    if report["skipped"] and not report["ok"] and report.get("passed_allowing_missing"):
        verdict = f"PASS without {', '.join(report['skipped'])} (--allow-missing)"
    t32 = sorted({c["tolerance"] for c in graded if c["dtype"] == "float32"})
    t64 = sorted({c["tolerance"] for c in graded if c["dtype"] == "float64"})
    tols = [f"float64 <= {'/'.join(f'{t:g}' for t in t64)}"] if t64 else []
    tols += [f"float32 <= {'/'.join(f'{t:g}' for t in t32)} by preset"] if t32 else []
    lines = [
        f"**{verdict}**: {ok_g}/{len(graded)} graded pairs agree "
        f"at every epoch ({', '.join(tols)}, of how far training moved the weights); "
        f"{ok_c}/{len(controls)} negative controls are told apart"
        + (
            f"; {len(report['config_checks'])} runs built otherwise than asked (config_checks)."
            if report.get("config_checks")
            else "."
        ),
        f"- **Matches**: {_matches(graded)}; "
        f"worst float64 {_worst([c for c in graded if c['dtype'] == 'float64'])}, float32 "
        f"{_worst([c for c in graded if c['dtype'] == 'float32'])}.",
    ]
    adam = [
        c
        for c in info
        if c["optimizer"] in ("adam", "adamw") and (c["a"], c["b"]) == ("tf", "torch")
    ]
    sgd = [
        c
        for c in info
        if c["optimizer"] == "sgd" and c["b"] in ("tf", "torch") and c["a"] in ("tf", "jax")
    ]
    if adam or sgd:
        lines.append(
            "- **Differs, with its cause**: Keras's Adam/AdamW vs torch's (Keras adds eps to "
            f"sqrt(v), torch to sqrt(v_hat)): {_worst(adam)}; Keras-on-TF in float64 vs exact "
            f"constants (momentum, betas, strengths rounded through float32): {_worst(sgd)}."
        )
    kb = [c for c in graded if c["b"] == "keras-jax" and c["dtype"] == "float64"]
    kt = [c for c in info if c["b"] == "keras-torch" and c["dtype"] == "float64"]
    if kb or kt:
        lines.append(
            "- **Keras 3 on JAX / torch**: no float32 rounding of constants (measured); on JAX "
            f"float64 matches the unrounded conversion, worst {_worst(kb)}; on torch Keras's "
            f"type promotion runs float64 matmuls in float32: {_worst(kt)}."
        )
    cv = report.get("cv")
    if cv and cv.get("frameworks"):
        fw = cv["frameworks"]
        b = {v["best_strength"] for v in fw.values()}
        o = {v["one_se_strength"] for v in fw.values()}
        worst = max((c["curve_rel_diff"] for c in cv["comparisons"]), default=0.0)
        times = ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in fw.items())
        show = lambda xs: "/".join(f"{x:g}" for x in sorted(xs))  # noqa: E731
        lines.append(
            f"- **Cross-validated lambda** ({len(cv['strengths'])} strengths x 5 folds): chosen "
            f"{show(b)}, one-SE {show(o)} "
            f"in {len(fw)} frameworks; curves within {worst:.1e}; wall time {times}."
        )
    seed = [r for r in report["runs"] if r["preset"] == "seed"]
    tut = [r for r in report["runs"] if r["preset"] == "tutorial"]
    acc = []
    if seed:
        acc.append(
            f"seed preset test accuracy >= {min(r['test_accuracy'] for r in seed):.3f} in every run"
        )
    if tut:
        acc.append(
            "tutorial preset (the article's Adam 0.001, batch 32) underfit: test accuracy "
            f"<= {max(r['test_accuracy'] for r in tut):.3f}, training loss >= "
            f"{min(r['final_loss'] for r in tut):.2f} (ln 3 = 1.10 is a constant guess)"
        )
    if acc:
        lines.append("- **Accuracy**: " + "; ".join(acc) + ".")
    return lines[:8]


def markdown(report: dict[str, Any]) -> str:
    crow, rrow = tables(report)

    def md(header, rows):
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])

    notes = sorted(
        {(c["optimizer"], c["a"], c["b"], c["note"]) for c in report["comparisons"] if c["note"]}
    )
    lines = [
        "# Parity report: JAX vs TensorFlow/Keras vs PyTorch",
        "",
        *summary(report),
        "",
        f"Versions: {report['versions']}. Total {report['seconds']:.0f} s.",
        "",
        "## Presets",
        "",
        *[f"- **{p['name']}**: {p['note']}" for p in report.get("presets", [])],
        "",
        "## Comparisons (worst epoch)",
        "",
        md(CMP_HEADER, crow),
        "",
        "## What each pair compares",
        "",
        *[f"- **{o}, {a} vs {b}**: {n}" for o, a, b, n in notes],
        "",
    ]
    cv = report.get("cv")
    if cv and cv.get("frameworks"):
        rows = [
            [
                fw,
                f"{v['best_strength']:g}",
                f"{v['one_se_strength']:g}",
                " ".join(f"{x:.4f}" for x in v["mean_score"]),
                f"{v['seconds']:.1f}",
            ]
            for fw, v in cv["frameworks"].items()
        ]
        lines += [
            "## Cross-validated strength",
            "",
            f"Strengths {cv['strengths']}; score: minus the validation cross-entropy.",
            "",
            md(["framework", "best", "one-SE", "mean score per strength", "s"], rows),
            "",
            md(
                ["a", "b", "curve rel. diff", "same best", "same one-SE", "result"],
                [
                    [
                        c["a"],
                        c["b"],
                        _fmt(c["curve_rel_diff"]),
                        str(c["same_best"]),
                        str(c["same_one_se"]),
                        "PASS" if c["passed"] else "FAIL",
                    ]
                    for c in cv["comparisons"]
                ],
            ),
            "",
        ]
    lines += ["## Runs", "", md(RUN_HEADER, rrow)]
    if report["skipped"]:
        lines += ["", "## Skipped", "", *[f"- {k}: {v}" for k, v in report["skipped"].items()]]
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: str) -> list[str]:
    """One divergence-vs-epoch figure per model family: ``<path stem>-<model>.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    base = Path(path)
    for model in sorted({c["model"] for c in report["comparisons"]}):
        cs = [c for c in report["comparisons"] if c["model"] == model]
        groups: dict[tuple[str, str, str], list[dict]] = {}
        for c in cs:
            groups.setdefault((c["preset"], c["optimizer"], c["dtype"]), []).append(c)
        keys = sorted(groups)
        cols = 2
        rows = -(-len(keys) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(13, 4.0 * rows), squeeze=False)
        for ax, key in zip(axes.flat, keys, strict=False):
            lines: dict[tuple[str, str, str, str], np.ndarray] = {}
            for c in groups[key]:  # the envelope over seeds
                y = np.asarray(c["per_epoch_rel_movement"], float)
                k = (c["kind"], c["penalty"], c["a"], c["b"])
                lines[k] = np.fmax(lines[k], y) if k in lines else y
            for (kind, pen, a, b), y in sorted(lines.items()):
                style = {"graded": "-", "control": "--", "info": ":"}[kind]
                ax.semilogy(np.maximum(y, 1e-17), style, lw=1.2, label=f"{pen}: {a} vs {b}")
            tol = PRESETS[key[0]].tolerance[key[2]]
            ax.axhline(tol, color="k", lw=0.8)
            ax.set_title(f"{key[0]} / {key[1]} / {key[2]} (black: tolerance {tol:g})", fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("||a-b|| / ||w_final - w_init||")
            ax.legend(fontsize=6, ncol=2)
        for ax in list(axes.flat)[len(keys) :]:
            ax.set_visible(False)
        fig.suptitle(
            f"{model}: divergence per epoch, max over seeds (solid: graded, dashed: negative "
            "controls, dotted: shown with their cause)",
            fontsize=10,
        )
        fig.tight_layout()
        target = base.with_name(f"{base.stem}-{model}{base.suffix or '.png'}")
        fig.savefig(target, dpi=100)
        plt.close(fig)
        out.append(str(target))
    return out
