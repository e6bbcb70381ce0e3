"""The linear section's goals, markdown tables and plot (``_report.py`` calls them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FIRST_CALL_AT = 10**7  # n * p from which the first-call goal applies
LIBRARIES = ("jaxreg", "sklearn", "celer", "skglm", "glmnet", "adelie", "glum")


def _linear(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["section"] == "linear" and r["problem"] != "large"]


def _label(r: dict[str, Any]) -> str:
    return f"{r['problem']} n={r['n']} p={r['p']} K={r['K']}"


def _by_problem(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in _linear(rows):
        out.setdefault(_label(r), []).append(r)
    return out


def goals(report: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """Compiled time <= the fastest solver on every problem; first call <= 3x the fastest
    solver's first call where n * p >= 1e7."""
    if report["quick"]:
        return []
    out: list[tuple[str, str, bool | None]] = []
    for label, rows in _by_problem(report["rows"]).items():
        jx = next((r for r in rows if r["library"] == "jaxreg"), None)
        if jx is None:
            continue
        ok = [r for r in rows if r["status"] == "ok" and r.get("reached_target")]
        if jx["status"] != "ok":
            out.append((f"jr.linear.path finishes ({label})", jx["status"], False))
            continue
        best = min(ok, key=lambda r: r["seconds"]) if ok else jx
        out.append(
            (
                f"compiled <= the fastest ({label})",
                f"x{jx['ratio_to_fastest']:.2f} ({jx['seconds']:.3f} s; fastest {best['library']} "
                f"{best['seconds']:.3f} s)",
                jx["ratio_to_fastest"] <= 1.0,
            )
        )
        if jx["n"] * jx["p"] >= FIRST_CALL_AT:
            first = min(ok, key=lambda r: r["first_call_seconds"]) if ok else jx
            out.append(
                (
                    f"first call <= 3x the fastest first call ({label})",
                    f"x{jx['first_call_ratio_to_fastest']:.2f} ({jx['first_call_seconds']:.2f} s;"
                    f" {first['library']} {first['first_call_seconds']:.2f} s)",
                    jx["first_call_ratio_to_fastest"] <= 3.0,
                )
            )
    return out


def _num(r: dict[str, Any], key: str, fmt: str) -> str:
    return "-" if r.get(key) is None else format(r[key], fmt)


def markdown(rows: list[dict[str, Any]], table: Any) -> list[str]:
    """The linear section's part of the report (``table(header, rows)`` formats a table)."""
    groups = _by_problem(rows)
    if not groups:
        return []
    parts = [
        "",
        "## Linear-model paths: jr.linear.path vs scikit-learn, celer, skglm, glmnet, adelie, glum",
        "",
        "float64, no intercept, K strengths from lambda_max to lambda_max/100, warm starts. "
        "Compiled: median of 3 calls after the first (1 when over a second); first call: in a "
        "fresh process, imports excluded, compilation included. x fastest: over the fastest "
        "solver that reached the target suboptimality (compiled over compiled, first call over "
        "first call). Subopt.: the worst over the path of (F(w) - F*) / F(0), F* the best "
        "objective any solver reached, one NumPy objective for all. tol: the solver's own "
        "tolerance that reached the target (tightened 10x at a time; tries). Peak MB: the "
        "process's maximum resident set (interpreter and imports included).",
    ]
    version = {r["library"]: r["version"] for r in _linear(rows) if r.get("version")}
    if version:
        names = {"jaxreg": "jaxreg on jax", "glmnet": "python-glmnet"}
        parts += [
            "",
            "Versions: "
            + ", ".join(f"{names.get(k, k)} {v}" for k, v in version.items())
            + " (glmnet, adelie and glum in .venv-peers, NumPy 1.26).",
        ]
    header = [
        "library", "compiled s", "first call s", "x fastest", "x fastest (first)", "subopt.",
        "tol (tries)", "peak MB", "support",
    ]  # fmt: skip
    for label, group in groups.items():
        r0 = group[0]
        extra = f", {r0['description']}" if r0.get("description") else ""
        dens = f", density {100 * r0['density']:.2g}%" if r0.get("density") else ""
        parts += ["", f"**{label}** ({r0['kind']}{extra}{dens}; target {r0['target']:g}):", ""]
        order = sorted(group, key=lambda r: LIBRARIES.index(r["library"]))
        parts.append(
            table(
                header,
                [
                    [
                        r["library"],
                        _num(r, "seconds", ".3f") if r["status"] == "ok" else r["status"],
                        _num(r, "first_call_seconds", ".2f"),
                        _num(r, "ratio_to_fastest", ".2f"),
                        _num(r, "first_call_ratio_to_fastest", ".2f"),
                        _num(r, "max_rel_subopt", ".1e"),
                        f"{r['tol']:.0e} ({r['tries']})",
                        _num(r, "peak_mb", ".0f"),
                        _num(r, "support_at_smallest", "d"),
                    ]
                    for r in order
                ],
            )
        )
    return parts


def plot(rows: list[dict[str, Any]], out: Path) -> Path | None:
    """Compiled and first-call time over the fastest solver's, per problem and library."""
    groups = _by_problem(rows)
    if not groups:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(groups) + 2), sharey=True)
    labels = list(groups)
    markers = dict(zip(LIBRARIES, "o^sDvPX", strict=True))
    for ax, key, title in (
        (axes[0], "ratio_to_fastest", "compiled time / fastest"),
        (axes[1], "first_call_ratio_to_fastest", "first call / fastest first call"),
    ):
        for lib in LIBRARIES:
            pts = [
                (r[key], i)
                for i, label in enumerate(labels)
                for r in groups[label]
                if r["library"] == lib and r.get(key)
            ]
            if pts:
                style = {"s": 70, "zorder": 3, "color": "k"} if lib == "jaxreg" else {"s": 35}
                ax.scatter(*zip(*pts, strict=True), marker=markers[lib], label=lib, **style)
        ax.axvline(1.0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", which="both", alpha=0.3)
    failed = {
        label: r["status"]
        for label in labels
        for r in groups[label]
        if r["library"] == "jaxreg" and r["status"] != "ok"
    }
    ticks = [f"{lb}\n(jaxreg: {failed[lb]})" if lb in failed else lb for lb in labels]
    axes[0].set_yticks(range(len(labels)), ticks, fontsize=8)
    axes[0].invert_yaxis()
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = out / "linear_vs_fastest.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
