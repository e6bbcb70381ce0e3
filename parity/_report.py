"""Turn the graded rows into tables, the report's first screen, Markdown and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._config import CHAOTIC, ELEMENTWISE, FLOAT64_TOLERANCE, FLOOR_MULTIPLE, MEMBERS, PRESETS
from ._grading import NO_EFFECT

# --------------------------------------------------------------------------------------------
# Tables, Markdown, plots


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}" if x == x else "nan"


def _verdict(c: dict[str, Any]) -> str:
    if c["kind"] == "fault":
        if c.get("fault_has_effect") is False:
            return NO_EFFECT if c["passed"] is not False else f"FAIL: {NO_EFFECT}"
        if c["detected"] is None:
            return "info"
        told = "told apart" if c["detected"] else "not resolved"
        return told if c["passed"] is not False else "FAIL: not told apart"
    if c["passed"] is None:
        return c["judged"] if c["judged"].startswith("info") else "info"
    if c["kind"] == "control":
        return "DIFFERENT (expected)" if c["passed"] else "FAIL: not told apart"
    return "PASS" if c["passed"] else "FAIL"


# The comparisons' and runs' columns are named by their rows' JSON fields (but `result`, from
# `passed`, `judged`, `detected`, `fault_has_effect`): one name for one number, table and JSON.
CMP_HEADER = [
    *("preset", "optimizer", "penalty", "dtype", "seed", "a", "b", "kind"),
    *("rel_movement", "max_elementwise_rel_movement", "worst_epoch", "noise_floor"),
    *("tolerance", "same_test_predictions", "result"),
]
CMP_LEGEND = (
    "Each column is the JSON field of the `comparisons` row of that name, but `result` (from "
    "`passed`, `judged`, `detected` and `fault_has_effect`). `rel_movement`: the largest over "
    "epochs of `||a - b|| / ||w_final - w_init||` (of run b), the measure graded against "
    "`tolerance`; `max_elementwise_rel_movement`: the largest over epochs of "
    f"`max|a - b| / max|w_final - w_init|`, allowed {ELEMENTWISE:g}x `tolerance`; "
    "`worst_epoch`: the epoch of `rel_movement`; `same_test_predictions`: yes / NO for true / "
    "false. Only in the JSON: `max_rel_weight_diff`, the final epoch's `max|a - b| / max|b|` "
    "(relative to the weights, not to how far they moved), `per_epoch_max_rel_weight_diff`, "
    "the same at every epoch, and `per_epoch_rel_movement`, `rel_movement`'s every epoch."
)
RUN_HEADER = [
    *("preset", "optimizer", "penalty", "dtype", "seed", "framework", "jax_enable_x64"),
    *("init_test_accuracy", "train_accuracy", "test_accuracy", "final_loss", "min_test_margin"),
    "seconds",
]
FLOOR_HEADER = [
    *("preset", "optimizer", "penalty", "dtype", "seed", "torch", "jax", "tf"),
    *("nudge", "reorder", "floor", "graded"),
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
            _fmt(c["noise_floor"]),
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
            {None: "-", True: "on", False: "off"}[r["jax_enable_x64"]],
            f"{r['init_test_accuracy']:.3f}",
            f"{r['train_accuracy']:.3f}",
            f"{r['test_accuracy']:.3f}",
            f"{r['final_loss']:.6f}",
            f"{r['min_test_margin']:.3g}",
            f"{r['seconds']:.2f}",
        ]
        for r in report["runs"]
    ]
    return crow, rrow


def floor_rows(report: dict[str, Any]) -> list[list[str]]:
    return [
        [
            f["preset"],
            f["optimizer"],
            f["penalty"],
            f["dtype"],
            str(f["seed"]),
            *(_fmt(f["frameworks"].get(fw)) for fw in ("torch", "jax", "tf")),
            *(_fmt(f["kinds"].get(kind)) for kind in MEMBERS),
            _fmt(f["floor"]),
            "no: chaotic" if f["chaotic"] and f["dtype"] == "float32" else "yes",
        ]
        for f in report.get("noise_floors", [])
    ]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _ratio(c: dict[str, Any]) -> float:
    """A row's divergence over its noise floor (its divergence where no floor was measured)."""
    return c["rel_movement"] / c["noise_floor"] if c.get("noise_floor") else c["rel_movement"]


def _worst(cs: list[dict[str, Any]], *, floor: bool = False) -> str:
    """The row with the largest divergence, in words (``floor``: with its ratio to its floor)."""
    cs = [c for c in cs if c["rel_movement"] == c["rel_movement"]]
    if not cs:
        return "-"
    return _row(max(cs, key=lambda c: c["rel_movement"]), floor=floor)


def _row(c: dict[str, Any], *, floor: bool) -> str:
    """A row's ``rel_movement`` and what finds it in the comparisons table (the dtype is the
    line's): its pair, preset (in backticks), optimizer + penalty and seed."""
    where = f"`{c['preset']}` {c['optimizer']} + {c['penalty']}, seed {c['seed']}"
    ratio = f", {_ratio(c):.1f}x its floor" if floor and c.get("noise_floor") else ""
    return f"{c['rel_movement']:.1e} ({c['a']} vs {c['b']}, {where}{ratio})"


def _cause(cs: list[dict[str, Any]], *, float32: bool) -> tuple[str, dict[str, Any] | None]:
    """One cause's most representative row, in words, and that row where it lies beyond the
    tolerance a graded pair of its configuration would have (None otherwise). float64: the
    largest divergence. float32: among the rows of configurations that are not chaotic, the
    one with the largest ratio to its floor; "within 10x its floor" where even that one is
    within ``FLOOR_MULTIPLE`` x its floor, "only chaotic" where every row is from a chaotic
    configuration."""
    if not float32:
        finite = [c for c in cs if c["rel_movement"] == c["rel_movement"]]
        if not finite:
            return "-", None
        top = max(finite, key=lambda c: c["rel_movement"])
        return _row(top, floor=False), top if top["rel_movement"] > FLOAT64_TOLERANCE else None
    calm = [c for c in cs if not c.get("chaotic") and c["rel_movement"] == c["rel_movement"]]
    if not calm:
        return f"only chaotic configurations ({_worst(cs, floor=True)})", None
    c = max(calm, key=_ratio)
    if c.get("noise_floor") and _ratio(c) <= FLOOR_MULTIPLE:
        within = f"within {FLOOR_MULTIPLE:g}x its floor (a graded pair's tolerance)"
        return f"{within}: at most {_row(c, floor=True)}", None
    return _row(c, floor=True), c if c.get("noise_floor") else None


def _matches(graded: list[dict[str, Any]]) -> str:
    """What the graded pairs that ran cover, in words."""
    pairs = {(c["a"], c["b"]) for c in graded}
    opts = sorted({c["optimizer"] for c in graded if (c["a"], c["b"]) == ("jax", "torch")})
    out = []
    if opts:
        out.append(f"stock optax vs stock torch.optim ({', '.join(opts)})")
    if pairs & {("jax[keras]", "tf"), ("jax[torch]", "torch")}:
        out.append("jaxreg's converters fed Keras's / torch's exported configs")
    if ("tf", "torch") in pairs or ("torch[keras_f32]", "tf") in pairs:
        out.append("TF vs torch SGD")
    if any(_scheduled(c) for c in graded):
        out.append("a step schedule with global-norm clipping (torch, Keras, optax)")
    return "; ".join(out) or "nothing graded"


def _scheduled(c: dict[str, Any]) -> bool:
    """A row of a preset with a learning-rate schedule and clipping."""
    return PRESETS[c["preset"]].schedule is not None


def _shown(info: list[dict[str, Any]], dtype: str) -> tuple[str, list[dict[str, Any]]]:
    """The information rows of one dtype, grouped by cause, each cause quoted by one row (see
    `_cause`), then the graded pairs of chaotic configurations; and the quoted rows that lie
    beyond their tolerance."""
    rows = [c for c in info if c["dtype"] == dtype and c["kind"] == "info"]
    # pairs that would be graded but for their chaotic floor (not the controls, which differ
    # on purpose, nor the information rows, quoted under their cause)
    chaotic = [
        c for c in info if c["dtype"] == dtype and c.get("chaotic") and c["kind"] == "graded"
    ]
    plain = [c for c in rows if not _scheduled(c)]
    scheduled = [c for c in rows if _scheduled(c)]
    causes = [
        (
            "Keras's epsilon-hat Adam/AdamW vs torch's",
            lambda c: c["a"] == "tf" and c["b"] == "torch" and c["optimizer"] in ("adam", "adamw"),
        ),
        (
            "Keras-on-TF's float32-rounded constants",
            lambda c: (
                c["b"] in ("tf", "torch", "keras-jax")
                and c["a"] in ("tf", "jax", "jax[keras]")
                and c["optimizer"] in ("sgd", "nesterov")
            ),
        ),
        (
            "Keras-on-torch's float32 matmuls",
            lambda c: c["b"] == "keras-torch" and c["dtype"] == "float64",
        ),
        (
            "Keras-on-torch's own AdamW step (its decay factor 1 - wd*lr rounded to float32)",
            lambda c: c["b"] == "keras-torch" and c["dtype"] == "float32",
        ),
        (
            "stock optax's float32 Adam bias corrections (jax_enable_x64 off)",
            lambda c: (
                c["a"] in ("jax", "torch[weight_decay]")
                and c["b"] in ("torch", "jax")
                and c["optimizer"] in ("adam", "adamw")
                and c["judged"] == "info"
            ),
        ),
        ("the same with x64 on (the measured cause)", lambda c: c["a"] == "jax[x64]"),
    ]
    scheduled_causes = [
        ("torch's clip_grad_norm_ + 1e-6 vs optax's clip_by_global_norm", ("jax", "torch")),
        ("Keras's SGD with the rate inside its momentum, once the rate changes", ("jax", "tf")),
        ("both (TF vs torch, scheduled)", ("tf", "torch")),
    ]
    f32 = dtype == "float32"
    groups = [(name, sel) for name, test in causes if (sel := list(filter(test, plain)))]
    groups += [
        (name, sel)
        for name, ab in scheduled_causes
        if (sel := [c for c in scheduled if (c["a"], c["b"]) == ab])
    ]
    out, beyond = [], []
    for name, sel in groups:
        words, row = _cause(sel, float32=f32)
        out.append(f"{name}: {words}")
        beyond += [row] if row else []
    if chaotic:
        out.append(
            f"pairs from chaotic configurations ({FLOOR_MULTIPLE:g}x the floor above "
            f"{CHAOTIC:g}): worst {_worst(chaotic, floor=True)}"
        )
    return "; ".join(out) or "nothing", beyond


def smallest_faults(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per preset and dtype, the smallest fault (relative size) told apart from the correct run.

    float32 counts a fault only where its divergence exceeds `FLOOR_MULTIPLE` x the LARGEST
    floor over its configuration's seeds: told apart against one seed's floor only, it may
    have been amplified by a knife edge of that seed (an L1 weight crossing zero), which says
    nothing of resolving power."""
    largest: dict[tuple[str, str, str], float] = {}
    for f in report.get("noise_floors", []):
        if f["dtype"] == "float32":
            k = (f["preset"], f["optimizer"], f["penalty"])
            largest[k] = max(largest.get(k, 0.0), f["floor"])
    out: dict[str, dict[str, float | None]] = {}
    for c in report["comparisons"]:
        if c["kind"] != "fault":
            continue
        row = out.setdefault(c["preset"], {"float64": None, "float32": None})
        resolved = bool(c["detected"])
        if c["dtype"] == "float32":
            top = largest.get((c["preset"], c["optimizer"], c["penalty"]), float("inf"))
            resolved = resolved and c["rel_movement"] > FLOOR_MULTIPLE * top
        if resolved:
            now = row[c["dtype"]]
            row[c["dtype"]] = c["fault_size"] if now is None else min(now, c["fault_size"])
    return out


def _accuracy(runs: list[dict[str, Any]]) -> str:
    """Per preset, over every stock run: test accuracy at initialization and at the end."""
    out = []
    for preset in dict.fromkeys(r["preset"] for r in runs):
        rs = [r for r in runs if r["preset"] == preset and "[" not in r["framework"]]
        init = [r["init_test_accuracy"] for r in rs]
        final = [r["test_accuracy"] for r in rs]
        out.append(f"{preset} {min(init):.2f}-{max(init):.2f} -> {min(final):.2f}-{max(final):.2f}")
    return "; ".join(out)


def summary(report: dict[str, Any]) -> list[str]:
    """The first screen: the verdict, per dtype what matched and what differed (and why), the
    faults told apart, the accuracy of every preset, cross-validation."""
    cs = report["comparisons"]
    graded = [c for c in cs if c["kind"] == "graded" and c["passed"] is not None]
    controls = [c for c in cs if c["kind"] in ("control", "fault") and c["passed"] is not None]
    info = [c for c in cs if c["passed"] is None and c["kind"] != "fault"]
    ok_g = sum(bool(c["passed"]) for c in graded)
    ok_c = sum(bool(c["passed"]) for c in controls)
    verdict = "PASS" if report["ok"] else "FAIL"
    if report["skipped"] and not report["ok"] and report.get("passed_allowing_missing"):
        verdict = f"PASS without {', '.join(report['skipped'])} (--allow-missing)"
    if not graded:
        verdict = "FAIL: nothing compared across frameworks"
    lines = [
        f"**{verdict}**: {ok_g}/{len(graded)} graded pairs agree at every epoch (float64 <= "
        f"1e-12 of how far training moved the weights, float32 <= {FLOOR_MULTIPLE:g}x the "
        f"configuration's measured noise floor); {ok_c}/{len(controls)} negative controls and "
        "float64 faults told apart"
        + (
            f"; {len(report['config_checks'])} runs built otherwise than asked (config_checks)."
            if report.get("config_checks")
            else "."
        )
    ]
    for dtype in ("float64", "float32"):
        g = [c for c in graded if c["dtype"] == dtype]
        if not g and not any(c["dtype"] == dtype for c in info):
            continue
        f32 = dtype == "float32"
        failed = sum(not c["passed"] for c in g)
        head = f"graded, {failed} FAIL" if failed else "matched"
        shown, beyond = _shown(info, dtype)
        quoted = "row with the largest ratio to its floor" if f32 else "largest divergence"
        line = (
            f"- **{dtype} {head}**: {_matches(g)}: worst {_worst(g, floor=f32)}. "
            f"**Not graded, shown with its cause** (per cause its {quoted}): {shown}."
        )
        top = max(
            (c for c in g if c["rel_movement"] == c["rel_movement"]),
            key=lambda c: c["rel_movement"],
            default=None,
        )
        low = min(beyond, key=lambda c: c["rel_movement"], default=None)
        if top and low and low["rel_movement"] < top["rel_movement"]:
            line += (
                f" A row shown beyond its tolerance, {low['rel_movement']:.1e} "
                f"({low['a']} vs {low['b']}), is below the worst graded match, "
                f"{top['rel_movement']:.1e} ({top['a']} vs {top['b']}): each row is judged "
                "against the noise floor of its own configuration and seed."
            )
        lines.append(line)
    faults = smallest_faults(report)
    if faults:
        show = lambda x: "none" if x is None else f"{x:.1e}"  # noqa: E731
        lines.append(
            "- **Smallest fault told apart** (its relative size, `fault_size` in the JSON; "
            "float64 / float32, a float32 fault "
            f"counted only where it exceeds {FLOOR_MULTIPLE:g}x the largest floor over its "
            "configuration's seeds: beyond one seed's floor only, a knife edge may have "
            "amplified it): "
            + "; ".join(
                f"{k} {show(v['float64'])} / {show(v['float32'])}" for k, v in faults.items()
            )
            + "."
        )
    if report["runs"]:
        acc = _accuracy(report["runs"])
        lines.append(f"- **Test accuracy**, at initialization -> trained: {acc}.")
    kb = [c for c in graded if c["b"] == "keras-jax" and c["dtype"] == "float64"]
    if kb:
        lines.append(
            "- **Keras 3 on JAX / torch**: no float32 rounding of constants (measured); on JAX "
            f"float64 matches the unrounded conversion, worst {_worst(kb)}."
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
    return lines


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
        "## Noise floors",
        "",
        "Per configuration and seed (float32: every seed; float64: the first, for information): "
        "each framework's largest divergence of a member from its own run (max over members and "
        "epochs), and the largest per kind of member: nudge (every initial weight moved one "
        "ulp), reorder (the rows of every batch summed in another order: a rounding difference "
        f"at every step). A float32 row is graded at {FLOOR_MULTIPLE:g}x the floor of its own "
        "configuration and seed (the largest over every framework's members); where that "
        f"tolerance would exceed {CHAOTIC:g} (a floor above {CHAOTIC / FLOOR_MULTIPLE:g}), the "
        "configuration and seed cannot resolve anything below it: chaotic, its rows shown, not "
        "graded. A fault that leaves its run bit for bit unchanged (it rounds away in that "
        "dtype) is shown as having no effect, not as missed.",
        "",
        "Columns (the JSON's `noise_floors` rows): torch, jax, tf are `frameworks`' entries, "
        'nudge and reorder `kinds`\' entries, floor is `floor`; graded says "no: chaotic" where '
        "a float32 row's `chaotic` is true.",
        "",
        md(FLOOR_HEADER, floor_rows(report)),
        "",
        "## Comparisons (worst epoch)",
        "",
        CMP_LEGEND,
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
    lines += [
        "## Runs",
        "",
        "Each column is the JSON field of the `runs` row of that name (`jax_enable_x64`: on / "
        "off, - (null) for a run outside JAX; `final_loss`: the mean training cross-entropy "
        "plus the penalty, at the final weights).",
        "",
        md(RUN_HEADER, rrow),
    ]
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
                # a chaotic seed's pairs are shown, not graded: dotted, apart from the graded
                kind = "info" if c["kind"] == "graded" and c.get("chaotic") else c["kind"]
                k = (kind, c["penalty"], c["a"], c["b"])
                lines[k] = np.fmax(lines[k], y) if k in lines else y
            for (kind, pen, a, b), y in sorted(lines.items()):
                style = {"graded": "-", "control": "--", "fault": "-.", "info": ":"}[kind]
                ax.semilogy(np.maximum(y, 1e-17), style, lw=1.2, label=f"{pen}: {a} vs {b}")
            tols = [c["tolerance"] for c in groups[key] if c["kind"] == "graded" and c["tolerance"]]
            title = f"{key[0]} / {key[1]} / {key[2]}"
            if tols:
                ax.axhline(max(tols), color="k", lw=0.8)
                title += f" (black: tolerance {max(tols):.1e})"
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("epoch")
            ax.set_ylabel("||a-b|| / ||w_final - w_init||")
            ax.legend(fontsize=6, ncol=2)
        for ax in list(axes.flat)[len(keys) :]:
            ax.set_visible(False)
        fig.suptitle(
            f"{model}: divergence per epoch, max over seeds (solid: graded, dashed: negative "
            "controls, dash-dot: injected faults, dotted: shown with their cause or from a "
            "chaotic seed)",
            fontsize=10,
        )
        fig.tight_layout(rect=(0, 0, 1, 0.98))  # room for the suptitle
        target = base.with_name(f"{base.stem}-{model}{base.suffix or '.png'}")
        fig.savefig(target, dpi=100)
        plt.close(fig)
        out.append(str(target))
    return out
