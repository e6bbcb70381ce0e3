"""Did each framework build what the job asked for (its exported configs against the job's
plain numbers)? And the cross-validation's choice of strength, written out independently."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._config import CV, Run, f32


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
        classes = {"adam": "Adam", "sgd": "SGD", "nesterov": "SGD", "adamw": "AdamW"}
        expect("optimizer", o["class_name"], classes[opt])
        # the learning rate lives in a variable of the weights' dtype: float32 rounds it
        lr = f32(h["lr"]) if run.config.dtype == "float32" else h["lr"]
        schedule = h["schedule"]
        if schedule:  # ExponentialDecay(staircase=True) of the plain numbers, global_clipnorm
            rate = c["learning_rate"]
            expect("learning_rate schedule", rate.get("class_name"), "ExponentialDecay")
            got = rate.get("config", {})
            keys = ("initial_learning_rate", "decay_rate", "staircase")
            want = (h["lr"], schedule["gamma"], True)
            for key, w in zip(keys, want, strict=True):
                expect(f"learning_rate {key}", got.get(key), w)
        else:
            expect("learning_rate", c["learning_rate"], lr)
        clip = schedule["max_norm"] if schedule else None
        expect("global_clipnorm", c.get("global_clipnorm"), clip)
        for key in ("clipnorm", "clipvalue", "loss_scale_factor"):
            expect(key, c.get(key), None)
        expect("use_ema", c.get("use_ema"), False)
        if opt in ("sgd", "nesterov"):
            expect("momentum", c["momentum"], h["momentum"])
            expect("nesterov", c["nesterov"], h["nesterov"])
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
    if "param_groups" in exports:  # torch (scheduled: as they were before training)
        groups = exports["param_groups"]
        if h["schedule"]:
            sched = exports.get("scheduler", {})
            expect("StepLR step_size", sched.get("step_size"), h["schedule"]["step_epochs"])
            expect("StepLR gamma", sched.get("gamma"), h["schedule"]["gamma"])
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
            if opt in ("sgd", "nesterov"):
                if run.variant != "keras_f32":  # that one is given Keras's measured momentum
                    expect("momentum", g["momentum"], h["momentum"])
                expect("dampening", g["dampening"], 0)
                expect("nesterov", g["nesterov"], h["nesterov"])
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
