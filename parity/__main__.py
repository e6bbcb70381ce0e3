"""``python -m parity``: train the same models in JAX, TensorFlow/Keras and PyTorch; prove it.

Exit status: 0 when every graded comparison passes, 1 when one fails, when nothing is compared
across frameworks, or when a framework is missing (unless --allow-missing), 2 on bad usage (an
unknown name, or presets, optimizers and penalties that no configuration combines).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._checks import config_check, cv_report
from ._config import (
    CV,
    CV_FRAMEWORKS,
    DTYPES,
    FRAMEWORKS,
    NUDGED,
    OPTIMIZERS,
    PENALTIES,
    PRESETS,
    Pair,
    build_runs,
    write_job,
)
from ._grading import (
    comparison_row,
    divergence,
    floor_key,
    noise_floors,
    run_row,
)
from ._report import CMP_HEADER, RUN_HEADER, markdown, plot, summary, tables, text_table
from ._tasks import cores, plan, run_all, write_tasks

NEEDS = {
    "tf": ("tensorflow", "keras"),
    "keras-jax": ("keras", "jax", "tensorflow"),
    "keras-torch": ("keras", "torch", "tensorflow"),
    "torch": ("torch",),
    "jax": ("jax", "flax", "optax"),
}
DISTRIBUTIONS = (
    "jax",
    "flax",
    "optax",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "torch",
    "scikit-learn",
    "numpy",
)
CV_TOLERANCE = 1e-9  # float64 curves, relative to the curve's range


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m parity", description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", choices=list(PRESETS), default=list(PRESETS))
    ap.add_argument("--optimizers", nargs="+", choices=OPTIMIZERS, default=list(OPTIMIZERS))
    ap.add_argument("--penalties", nargs="+", choices=PENALTIES, default=list(PENALTIES))
    ap.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES))
    ap.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    ap.add_argument("--epochs", type=int, default=None, help="override every preset's epochs")
    ap.add_argument(
        "--seeds", type=int, default=None, help="use at most the first N seeds of each preset"
    )
    ap.add_argument(
        "--cv-epochs",
        type=int,
        default=CV.epochs,
        help="epochs of each cross-validation fit (0: no cross-validation)",
    )
    ap.add_argument(
        "--members",
        type=int,
        default=NUDGED,
        help="nudged runs per framework measuring each float32 noise floor (0: none, and "
        "float32 rows are then shown, not graded)",
    )
    ap.add_argument("--no-faults", action="store_true", help="skip the injected-fault controls")
    ap.add_argument(
        "--jobs",
        type=int,
        default=cores(),
        help="worker processes at once (default: the cores this process may use)",
    )
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--markdown", metavar="PATH")
    ap.add_argument("--plot", metavar="PATH", help="PATH-<model>.png: one figure per model")
    ap.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 even if a framework is missing (a run that compared nothing still fails)",
    )
    args = ap.parse_args(argv)
    for name in ("epochs", "seeds"):
        v = getattr(args, name)
        if v is not None and v < 1:
            ap.error(f"--{name} must be a positive integer; got {v}")
    if args.cv_epochs < 0:
        ap.error(f"--cv-epochs must be >= 0; got {args.cv_epochs}")
    if args.jobs < 1:
        ap.error(f"--jobs must be a positive integer; got {args.jobs}")
    if args.members < 0:
        ap.error(f"--members must be >= 0; got {args.members}")
    if why := empty_selection(args.presets, args.optimizers, args.penalties):
        ap.error(why)
    return args


def _either(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in dict.fromkeys(names)]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def empty_selection(presets: list[str], optimizers: list[str], penalties: list[str]) -> str | None:
    """Why no configuration matches the selection, naming what was asked and what each preset
    offers; None when one does. (Every configuration runs in every dtype asked.)"""
    if any(o in optimizers and p in penalties for n in presets for o, p in PRESETS[n].cases):
        return None
    asked = [f"optimizer {_either(optimizers)}"] if set(optimizers) != set(OPTIMIZERS) else []
    asked += [f"penalty {_either(penalties)}"] if set(penalties) != set(PENALTIES) else []
    names = list(dict.fromkeys(presets))
    offers = lambda n: ", ".join(f"{o} + {p}" for o, p in PRESETS[n].cases)  # noqa: E731
    if len(names) == 1:
        where, has = f"preset '{names[0]}'", f"it has (optimizer + penalty): {offers(names[0])}"
    else:
        where = f"presets {', '.join(repr(n) for n in names)}"
        has = "they have (optimizer + penalty): " + "; ".join(f"{n}: {offers(n)}" for n in names)
    return f"no configuration of {where} uses {' with '.join(asked)}; {has}"


def missing(framework: str) -> str | None:
    absent = [m for m in NEEDS[framework] if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(absent)} (pip install -e '.[parity]')" if absent else None


def versions() -> dict[str, str]:
    out = {}
    for d in DISTRIBUTIONS:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[d] = importlib.metadata.version(d)
    return out


def graded_needs(args: argparse.Namespace) -> list[tuple[str, ...]]:
    """The smallest sets of frameworks that make a graded pair of the selection (a pair's two
    frameworks and those whose exports its runs read)."""
    every: list[str] = list(FRAMEWORKS)
    _, pairs = build_runs(
        *(args.presets, args.optimizers, args.penalties, args.dtypes, every, 1),
        members=0,
        faults=False,
    )
    sets = {
        frozenset((p.a.framework, p.b.framework, *p.a.needs, *p.b.needs))
        for p in pairs
        if p.kind == "graded"
    }
    smallest = [s for s in sets if not any(t < s for t in sets)]
    return sorted(tuple(fw for fw in FRAMEWORKS if fw in s) for s in smallest)


def nothing_compared(frameworks: list[str], needs: list[tuple[str, ...]]) -> str:
    options = " or ".join(" + ".join(s) for s in needs) or "frameworks this selection does not have"
    return (
        "parity: FAIL: nothing compared across frameworks: the frameworks run "
        f"({', '.join(frameworks) or 'none'}) make no graded pair; a graded pair of this "
        f"selection needs {options} (leave out --frameworks to run every one)"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    start = time.perf_counter()
    skipped = {fw: why for fw in args.frameworks if (why := missing(fw))}
    frameworks = [fw for fw in FRAMEWORKS if fw in args.frameworks and fw not in skipped]
    runs, pairs = build_runs(
        *(args.presets, args.optimizers, args.penalties, args.dtypes, frameworks, args.seeds),
        members=args.members,
        faults=not args.no_faults,
    )
    cv_frameworks = [fw for fw in CV_FRAMEWORKS if fw in frameworks]
    cv = CV(epochs=args.cv_epochs) if args.cv_epochs and len(cv_frameworks) > 1 else None
    print(
        f"parity: {len(runs)} runs, {len(pairs)} comparisons"
        f"{', cross-validation' if cv else ''}; frameworks {frameworks}",
        flush=True,
    )
    for fw, why in skipped.items():
        print(f"parity: skipping {fw}: {why}", flush=True)
    if not any(p.kind == "graded" for p in pairs):
        why = nothing_compared(frameworks, graded_needs(args))
        print(why, flush=True)
        if args.json:  # the verdict, for scripts that read it; nothing was trained
            empty = {"ok": False, "error": why, "skipped": skipped, "runs": [], "comparisons": []}
            Path(args.json).write_text(json.dumps(empty, indent=1) + "\n")
        return 1

    results: dict[int, dict] = {}
    cv_results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        job_dir = Path(tmp)
        write_job(job_dir, runs, cv, args.epochs)
        tasks = plan(runs, cv, frameworks)
        write_tasks(job_dir, tasks, runs, cv, args.epochs)
        with np.load(job_dir / "job.npz") as f:
            job = {k: f[k] for k in f.files}
        print(f"parity: {len(tasks)} worker processes, {args.jobs} at a time", flush=True)
        failed = run_all(tasks, job_dir, dict(os.environ, PYTHONHASHSEED="0"), args.jobs)
        for t in tasks:
            if t.name in failed:
                continue
            meta = json.loads((job_dir / f"{t.name}.meta.json").read_text())
            with np.load(job_dir / f"{t.name}.npz") as f:
                for i, m in meta.items():
                    keys = ("trajectory", "train_logits", "test_logits")
                    results[int(i)] = {**m, **{k: f[f"{i}/{k}"] for k in keys}}
            if (job_dir / f"{t.name}.cv.json").exists():
                cv_results[t.framework] = json.loads((job_dir / f"{t.name}.cv.json").read_text())

    index = {r: i for i, r in enumerate(runs)}
    done = lambda r: index[r] in results  # noqa: E731

    def spreads(pair: Pair) -> tuple[float, float] | None:
        """For a float32 pair: each side's worst divergence from its own float64 run."""
        if pair.a.config.dtype != "float32":
            return None
        out = []
        for r in (pair.a, pair.b):
            twin = dataclasses.replace(r, config=dataclasses.replace(r.config, dtype="float64"))
            if not (twin in index and done(twin) and done(r)):
                return None
            ta, tb = results[index[r]]["trajectory"], results[index[twin]]["trajectory"]
            out.append(float(np.max(divergence(ta, tb)[0])))
        return out[0], out[1]

    floors = noise_floors(pairs, lambda r: results[index[r]]["trajectory"] if done(r) else None)

    def floor_of(pair: Pair) -> dict | None:
        return floors.get(floor_key(pair.a))

    report = {
        "ok": False,
        "versions": versions(),
        "presets": [
            {"name": p.name, "model": p.model, "note": p.note}
            for p in PRESETS.values()
            if p.name in args.presets
        ],
        "runs": [run_row(r, results[index[r]], job) for r in runs if done(r)],
        "noise_floors": [
            {"preset": k[0], "optimizer": k[1], "penalty": k[2], "dtype": k[3], "seed": k[4], **v}
            for k, v in floors.items()
        ],
        "comparisons": [
            comparison_row(p, results[index[p.a]], results[index[p.b]], spreads(p), floor_of(p))
            for p in pairs
            if p.kind != "floor" and done(p.a) and done(p.b)
        ],
        "effective_constants": {
            fw: sorted(
                {
                    json.dumps(
                        {"dtype": r.config.dtype, **results[index[r]]["exports"]["constants"]},
                        sort_keys=True,
                    )
                    for r in runs
                    if r.framework == fw and r.variant == "stock" and done(r)
                }
            )
            for fw in ("tf", "keras-jax", "keras-torch")
            if fw in frameworks
        },
        "config_checks": [
            {"run": r.name, **dataclasses.asdict(r.config), "mismatches": bad}
            for r in runs
            if done(r) and (bad := config_check(r, results[index[r]].get("exports", {})))
        ],
        "cv": cv_report(cv, cv_results, CV_TOLERANCE) if cv and len(cv_results) > 1 else None,
        "skipped": skipped,
        "failed": {k: v[-500:] for k, v in failed.items()},
        "seconds": 0.0,
    }
    checked = [c for c in report["comparisons"] if c["passed"] is not None]
    cv_checked = list(report["cv"]["comparisons"]) if report["cv"] else []
    if report["cv"] and report["cv"]["library_agrees"] is not None:
        # jr.select.cross_validate's own choice must be the suite's independent one
        cv_checked.append({"passed": report["cv"]["library_agrees"]})
    all_pass = all(c["passed"] for c in checked + cv_checked) and not report["config_checks"]
    for c in report["config_checks"]:
        print(
            f"parity: {c['run']} {c['preset']} {c['optimizer']} {c['dtype']}: built "
            f"otherwise than asked: {'; '.join(c['mismatches'])}"
        )
    graded = [c for c in checked if c["kind"] == "graded"]  # each pairs two frameworks
    report["ok"] = bool(graded) and all_pass and not failed and not skipped
    report["passed_allowing_missing"] = bool(
        args.allow_missing and graded and all_pass and not failed
    )
    report["seconds"] = round(time.perf_counter() - start, 1)

    crow, rrow = tables(report)
    print("\n" + text_table(RUN_HEADER, rrow) + "\n\n" + text_table(CMP_HEADER, crow) + "\n")
    print("\n".join(summary(report)) + "\n")
    controls = [c for c in checked if c["kind"] in ("control", "fault")]
    cv_word = "agrees" if all(c["passed"] for c in cv_checked) else "DISAGREES"
    print(
        f"parity: {sum(bool(c['passed']) for c in graded)}/{len(graded)} graded comparisons pass, "
        f"{sum(bool(c['passed']) for c in controls)}/{len(controls)} negative controls and "
        f"faults told apart{', cross-validation ' + cv_word if cv_checked else ''} "
        f"({len(report['comparisons']) - len(checked)} shown for information) "
        f"in {report['seconds']:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(report))
    if args.plot and report["comparisons"]:
        for path in plot(report, args.plot):
            print(f"parity: wrote {path}")
    if not graded:
        print(nothing_compared(frameworks, graded_needs(args)))
        return 1
    if skipped and args.allow_missing:
        return 0 if all_pass and not failed else 1
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
