"""Tables, goal checks and plots for the benchmark report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from . import _linear_report


def check_sane(report: dict[str, Any]) -> None:
    """Every timing positive and finite, every requested section present: what --quick asserts."""
    rows = report["rows"]
    if not rows:
        raise AssertionError("the benchmarks produced no rows")
    timing = ("_s", "seconds")
    for r in rows:
        for k, v in r.items():
            is_time = k.endswith(timing) or k.startswith("ratio")
            if is_time and isinstance(v, float) and not (math.isfinite(v) and v > 0):
                raise AssertionError(f"bad timing {k}={v} in {r}")
    # every device count and flag setting of the sharded sweep trains the same weights
    sums = [r["weights_abs_sum"] for r in _by(rows, "scale")]
    if sums and max(sums) - min(sums) > 1e-4 * max(sums):
        raise AssertionError(f"sharded sweeps disagree: weight sums {sums}")


def _by(rows, section):
    return [r for r in rows if r["section"] == section]


def goals(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(goal, measured, met) for each goal of the benchmarks issue that this run can judge."""
    rows = report["rows"]
    out: list[tuple[str, str, bool | None]] = []
    prox = [r for r in _by(rows, "prox") if r["separable"]]
    if prox and not report["quick"]:
        n = max(r["n"] for r in prox)
        worst = max((r for r in prox if r["n"] == n), key=lambda r: r["ratio_to_read_write"])
        out.append(
            (
                f"every separable prox within 1.5x of read+write at N={n:.0e}",
                f"worst {worst['kind']} x{worst['ratio_to_read_write']:.2f}",
                worst["ratio_to_read_write"] <= 1.5,
            )
        )
    pen = [r for r in _by(rows, "penalty") if r["dtype"] == "float32"]
    big = [r for r in pen if r["n"] >= 10**7 and r["candidate"].startswith("jaxreg")]
    for mode, limit in (("value", 1.2), ("value+grad", 1.3)):
        sel = [r for r in big if r["mode"] == mode]
        if sel:
            worst = max(sel, key=lambda r: r["ratio_to_roofline"])
            out.append(
                (
                    f"{mode} within {limit}x of the CPU roofline at N >= 1e7, "
                    "every layout and penalty",
                    f"worst x{worst['ratio_to_roofline']:.2f} ({worst['candidate']}, "
                    f"{worst['layout']}, n={worst['n']:.0e})",
                    worst["ratio_to_roofline"] <= limit,
                )
            )
    for mode in ("value", "value+grad"):
        tiny = [
            r for r in pen if r["layout"] == "tiny" and r["mode"] == mode and r["leaves"] >= 10_000
        ]
        ours = {r["n"]: r for r in tiny if r["candidate"] == "jaxreg l2"}
        torch_loop = {r["n"]: r for r in tiny if r["candidate"] == "torch loop"}
        common = sorted(set(ours) & set(torch_loop))
        if common:
            speed = min(
                torch_loop[n]["ratio_to_roofline"] / ours[n]["ratio_to_roofline"] for n in common
            )
            out.append(
                (
                    f"10,000 tiny leaves ({mode}): >= 10x faster than the torch per-leaf loop",
                    f"x{speed:.1f}",
                    speed >= 10,
                )
            )
    foreach = {(r["layout"], r["n"]): r for r in pen if r["candidate"] == "torch._foreach_norm"}
    ours = {
        (r["layout"], r["n"]): r
        for r in pen
        if r["candidate"] == "jaxreg l2" and r["mode"] == "value"
    }
    common = sorted(set(foreach) & set(ours))
    if common:
        worst = max(
            common, key=lambda k: ours[k]["ratio_to_roofline"] / foreach[k]["ratio_to_roofline"]
        )
        rel = ours[worst]["ratio_to_roofline"] / foreach[worst]["ratio_to_roofline"]
        out.append(
            (
                "never slower than torch._foreach_norm (l2 value)",
                f"worst x{rel:.2f} of its time at {worst}",
                rel <= 1.0,
            )
        )
    step = [r for r in _by(rows, "step") if r["model"] == "large" and r["framework"] == "jax"]
    if step:
        worst = max(step, key=lambda r: r["penalty_overhead"])
        out.append(
            (
                "penalty adds < 5% to a training step of the large MLP",
                f"{100 * worst['penalty_overhead']:+.1f}% ({worst['penalty']})",
                worst["penalty_overhead"] < 0.05,
            )
        )
    sweep = {r["K"]: r for r in _by(rows, "sweep")}
    if 64 in sweep and "torch_sequential_s" in sweep[64]:
        r = sweep[64]
        ratio = r["sweep_s"] / r["hand_vmap_s"]
        out.append(
            (
                "sweep within 1.2x of a hand-written jit(vmap(train)) (K=64)",
                f"x{ratio:.2f}",
                ratio <= 1.2,
            )
        )
        # (label, compiled seconds, first-call seconds): one device, then the multi-core run
        runs = [("", r["sweep_s"], r["sweep_first_call_s"])]
        runs += [
            (
                f" ({x['devices']} devices (one per core), tuned XLA flags)",
                x["sweep_s"],
                x["first_call_s"],
            )
            for x in _by(rows, "scale")
            if x.get("xla_flags") and x["K"] == 64 and x["steps"] == r["steps"]
        ]
        for where, compiled, first in runs:
            for base, name, need, need_first in (
                ("torch_sequential_s", "sequential PyTorch", 100, 25),
                ("sklearn_sequential_s", "sequential scikit-learn", 50, 10),
            ):
                for seconds, limit, when in (
                    (compiled, need, "compiled"),
                    (first, need_first, "incl. compilation"),
                ):
                    speed = r[base] / seconds
                    out.append(
                        (
                            f"sweep >= {limit}x faster than {name} ({when}){where}",
                            f"x{speed:.2f}",
                            speed >= limit,
                        )
                    )
    hyper = [
        r
        for r in _by(rows, "hypergrad")
        if r["case"] == "lasso" and r["n"] == 1000 and r["p"] == 10_000
    ]
    if hyper:
        worst = max(hyper, key=lambda r: r["ratio_to_solve"])
        backend = report["machine"]["jax_backend"]
        out.append(
            (
                f"one hypergradient <= 3x one solve (Lasso, n=1000, p=10000, float64, {backend})",
                f"x{worst['ratio_to_solve']:.2f} ({worst['strength']}, support {worst['support']})",
                worst["ratio_to_solve"] <= 3,
            )
        )
    out += _linear_report.goals(report)
    return out


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def markdown(report: dict[str, Any]) -> str:
    rows = report["rows"]
    m = report["machine"]
    parts = [
        "# Benchmark results",
        "",
        f"Machine: {m.get('cpu', m['processor'])}, {m['cpu_count']} cores, JAX backend "
        f"{m['jax_backend']}; {m['versions']}. Total {report['seconds']:.0f} s"
        + (" (--quick: numbers are meaningless)" if report["quick"] else "")
        + ".",
        "",
        "## Goals",
        "",
        _table(
            ["goal", "measured", "met"],
            [
                [g, v, "-" if ok is None else ("yes" if ok else "**no**")]
                for g, v, ok in goals(report)
            ],
        ),
    ]
    pen = _by(rows, "penalty")
    if pen:
        nmax = {}
        for r in pen:
            nmax[r["layout"], r["dtype"]] = max(nmax.get((r["layout"], r["dtype"]), 0), r["n"])
        sel = [r for r in pen if r["n"] == nmax[r["layout"], r["dtype"]]]
        parts += [
            "",
            "## Penalty: largest N of each layout",
            "",
            "Time, ratio to the roofline (median of alternating pairs) and GB/s.",
            "",
            _table(
                ["layout", "leaves", "N", "dtype", "mode", "candidate", "ms", "x roofline", "GB/s"],
                [
                    [
                        r["layout"],
                        str(r["leaves"]),
                        f"{r['n']:.1e}",
                        r["dtype"],
                        r["mode"],
                        r["candidate"],
                        f"{r['seconds'] * 1e3:.3f}",
                        f"{r['ratio_to_roofline']:.2f}",
                        f"{r['gb_per_s']:.1f}",
                    ]
                    for r in sel
                ],
            ),
        ]
    prox = _by(rows, "prox")
    if prox:
        parts += [
            "",
            "## Proximal maps and projections vs a read+write pass",
            "",
            "One float32 leaf; ratio of `jit(pen.prox)` to `jit(x * 2)` on the same device "
            "(median of alternating pairs); `top_k(leaf)` also against `jnp.sort`.",
            "",
            _table(
                ["kind", "N", "device", "ms", "x read+write", "x sort"],
                [
                    [
                        r["kind"],
                        f"{r['n']:.0e}",
                        r["device"],
                        f"{r['seconds'] * 1e3:.2f}",
                        "-"
                        if r["ratio_to_read_write"] is None
                        else f"{r['ratio_to_read_write']:.2f}",
                        f"{r['ratio_to_sort']:.2f}" if "ratio_to_sort" in r else "-",
                    ]
                    for r in prox
                ],
            ),
        ]
    hyper = _by(rows, "hypergrad")
    if hyper:
        h0 = hyper[0]
        parts += [
            "",
            f"## Hypergradient vs one solve (float64, n={h0['n']}, p={h0['p']}, tol={h0['tol']:g})",
            "",
            "`jit(value_and_grad(val_mse . solve))` (forward solve + adjoint) against `jit(solve)`"
            " from the same start; median of alternating pairs. FD: relative error against a "
            "central finite difference.",
            "",
            _table(
                [
                    "case",
                    "strength",
                    "start",
                    "hyperparams",
                    "hypergrad ms",
                    "solve ms",
                    "x solve",
                    "solve iters",
                    "support",
                    "FD rel. error",
                ],
                [
                    [
                        r["case"],
                        r["strength"],
                        r["start"],
                        str(r["hyperparameters"]),
                        f"{r['seconds'] * 1e3:.1f}",
                        f"{r['solve_seconds'] * 1e3:.1f}",
                        f"{r['ratio_to_solve']:.2f}",
                        str(r["solve_iterations"]),
                        str(r["support"]),
                        f"{r['fd_rel_error']:.1e}",
                    ]
                    for r in hyper
                ],
            ),
        ]
        for r in hyper:
            if "hvp_seconds" in r:
                parts += [
                    "",
                    "Adjoint alone (warm row: hypergradient minus warm solve, each timed in "
                    f"pairs with one HVP): {r['adjoint_over_hvp']:.1f} Hessian-vector products of "
                    f"{r['hvp_seconds'] * 1e3:.2f} ms ({r['cg_iterations']} CG iterations to "
                    f"the tolerance on the support); {r['adjoint_over_cold_solve']:.2f} of the "
                    f"cold solve, which costs {r['cold_solve_over_hvp']:.0f} HVPs.",
                ]
    parts += _linear_report.markdown(rows, _table)
    mat = _by(rows, "matrix")
    if mat:
        parts += [
            "",
            "## Matrix penalties vs NumPy's SVD",
            "",
            _table(
                ["candidate", "shape", "ms", "x numpy svd"],
                [
                    [
                        r["candidate"],
                        "x".join(map(str, r["shape"])),
                        f"{r['seconds'] * 1e3:.2f}",
                        f"{r['ratio_to_numpy_svd']:.2f}",
                    ]
                    for r in mat
                ],
            ),
        ]
    step = _by(rows, "step")
    if step:
        parts += [
            "",
            "## Regularized training step",
            "",
            _table(
                [
                    "model",
                    "framework",
                    "penalty",
                    "steps/s",
                    "steps/s without penalty",
                    "penalty overhead",
                ],
                [
                    [
                        r["model"],
                        r["framework"],
                        r["penalty"],
                        f"{r['steps_per_s']:.1f}",
                        f"{r['steps_per_s_without_penalty']:.1f}",
                        f"{100 * r['penalty_overhead']:+.1f}%",
                    ]
                    for r in step
                ],
            ),
        ]
    sweep = _by(rows, "sweep")
    if sweep:

        def f(r, k):
            return f"{r[k]:.3f}" if k in r else "-"

        parts += [
            "",
            f"## Lambda sweep: K strengths of the Iris MLP, {sweep[0]['steps']} Adam steps each",
            "",
            "Seconds, full-batch training of every strength.",
            "",
            _table(
                [
                    "K",
                    "jr.select.sweep",
                    "first call (compile)",
                    "hand jit(vmap)",
                    "sequential jit",
                    "sequential PyTorch",
                    "sequential scikit-learn",
                ],
                [
                    [
                        str(r["K"]),
                        f(r, "sweep_s"),
                        f(r, "sweep_first_call_s"),
                        f(r, "hand_vmap_s"),
                        f(r, "sequential_jit_s"),
                        f(r, "torch_sequential_s"),
                        f(r, "sklearn_sequential_s"),
                    ]
                    for r in sweep
                ],
            ),
        ]
    scale = _by(rows, "scale")
    if scale:
        parts += [
            "",
            f"## Sweep sharded over devices (K={scale[0]['K']}, {scale[0]['steps']} steps)",
            "",
            _table(
                ["devices", "XLA flags", "seconds", "first call", "strengths/s"],
                [
                    [
                        str(r["devices"]),
                        f"`{r['xla_flags']}`" if r.get("xla_flags") else "default",
                        f"{r['sweep_s']:.3f}",
                        f"{r['first_call_s']:.2f}",
                        f"{r['K'] / r['sweep_s']:.0f}",
                    ]
                    for r in scale
                ],
            ),
        ]
    return "\n".join(parts) + "\n"


def plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    pen = [r for r in _by(report["rows"], "penalty") if r["dtype"] == "float32"]
    if pen:
        layouts = sorted({r["layout"] for r in pen})
        fig, axes = plt.subplots(2, len(layouts), figsize=(5 * len(layouts), 8), squeeze=False)
        for j, lay in enumerate(layouts):
            for i, mode in enumerate(("value", "value+grad")):
                ax = axes[i][j]
                sel = [r for r in pen if r["layout"] == lay and r["mode"] == mode]
                for cand in sorted({r["candidate"] for r in sel}):
                    pts = sorted((r["n"], r["gb_per_s"]) for r in sel if r["candidate"] == cand)
                    ax.loglog(
                        *zip(*pts, strict=True),
                        marker="o",
                        ms=3,
                        lw=1.5 if cand.startswith("jaxreg") else 1,
                        ls="-" if cand.startswith("jaxreg") else "--",
                        label=cand,
                    )
                roof = {}
                for r in sel:
                    moved = r["gb_per_s"] * r["seconds"]
                    roof.setdefault(r["n"], []).append(moved / r["roofline_seconds"])
                pts = sorted((n, sorted(v)[len(v) // 2]) for n, v in roof.items())
                ax.loglog(*zip(*pts, strict=True), color="k", lw=2.5, label="roofline (numpy)")
                ax.set_title(f"{lay}: {mode}")
                ax.set_xlabel("parameters N")
                ax.set_ylabel("GB/s")
                ax.legend(fontsize=6)
        fig.tight_layout()
        path = out / "penalty_bandwidth.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    sweep = _by(report["rows"], "sweep")
    if sweep:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for key, label in (
            ("sweep_s", "jr.select.sweep"),
            ("sweep_first_call_s", "jr.select.sweep incl. compile"),
            ("hand_vmap_s", "hand-written jit(vmap)"),
            ("sequential_jit_s", "K sequential jitted runs"),
            ("torch_sequential_s", "K sequential PyTorch"),
            ("sklearn_sequential_s", "K scikit-learn MLPClassifier"),
        ):
            pts = [(r["K"], r[key]) for r in sweep if key in r]
            if pts:  # sweep and hand-written vmap coincide: the sweep's line is drawn dashed on top
                style = {"ls": "--", "zorder": 3} if key == "sweep_s" else {}
                ax.loglog(*zip(*pts, strict=True), marker="o", label=label, **style)
        for r in _by(report["rows"], "scale"):
            if r.get("xla_flags"):
                ax.loglog(
                    [r["K"]],
                    [r["sweep_s"]],
                    "k*",
                    markersize=11,
                    zorder=4,
                    label=f"jr.select.sweep, {r['devices']} devices + tuned XLA flags",
                )
        ax.set_xlabel("strengths K")
        ax.set_ylabel("seconds")
        ax.set_title(f"lambda sweep, Iris MLP, {sweep[0]['steps']} Adam steps per strength")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / "sweep.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    if (path := _linear_report.plot(report["rows"], out)) is not None:
        written.append(path)
    return written
