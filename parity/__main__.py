"""``python -m parity``: train the same MLP in JAX, TensorFlow/Keras and PyTorch; prove it.

Exit status: 0 when every graded comparison passes, 1 when one fails (or a framework is
missing, unless --allow-missing), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._config import DTYPES, FRAMEWORKS, OPTIMIZERS, PENALTIES, PRESETS, build_runs, write_job
from ._report import comparison_row, markdown, plot, run_row, tables, text_table

NEEDS = {"jax": ("jax", "flax", "optax"), "tf": ("tensorflow", "keras"), "torch": ("torch",)}
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


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m parity", description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", choices=list(PRESETS), default=list(PRESETS))
    ap.add_argument("--optimizers", nargs="+", choices=OPTIMIZERS, default=list(OPTIMIZERS))
    ap.add_argument("--penalties", nargs="+", choices=PENALTIES, default=list(PENALTIES))
    ap.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES))
    ap.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS))
    ap.add_argument("--epochs", type=int, default=None, help="override every preset's epochs")
    ap.add_argument("--hidden", type=int, default=None, help="override every preset's hidden width")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--markdown", metavar="PATH")
    ap.add_argument("--plot", metavar="PATH")
    ap.add_argument(
        "--allow-missing", action="store_true", help="exit 0 even if a framework is missing"
    )
    args = ap.parse_args(argv)
    for name in ("epochs", "hidden"):
        v = getattr(args, name)
        if v is not None and v < 1:
            ap.error(f"--{name} must be a positive integer; got {v}")
    return args


def missing(framework: str) -> str | None:
    absent = [m for m in NEEDS[framework] if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(absent)} (pip install -e '.[parity]')" if absent else None


def versions() -> dict[str, str]:
    out = {}
    for d in DISTRIBUTIONS:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[d] = importlib.metadata.version(d)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    start = time.perf_counter()
    if args.epochs or args.hidden:
        for name, p in list(PRESETS.items()):
            PRESETS[name] = dataclasses.replace(
                p, epochs=args.epochs or p.epochs, hidden=args.hidden or p.hidden
            )
    skipped = {fw: why for fw in args.frameworks if (why := missing(fw))}
    frameworks = [fw for fw in args.frameworks if fw not in skipped]
    runs, pairs = build_runs(args.presets, args.optimizers, args.penalties, args.dtypes, frameworks)
    print(
        f"parity: {len(runs)} runs, {len(pairs)} comparisons; frameworks {frameworks}", flush=True
    )
    for fw, why in skipped.items():
        print(f"parity: skipping {fw}: {why}", flush=True)

    results: dict[int, dict] = {}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        job_dir = Path(tmp)
        write_job(job_dir, runs, args.seed)
        with np.load(job_dir / "job.npz") as f:
            job = {k: f[k] for k in f.files}
        env = dict(os.environ, PYTHONHASHSEED="0")
        for fw in frameworks:
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", f"parity._{fw}_worker", str(job_dir)],
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                check=False,
            )
            lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(f"{fw} ")]
            for ln in lines:
                print("  " + ln, flush=True)
            if proc.returncode != 0:
                failed[fw] = proc.stderr[-4000:]
                print(f"parity: the {fw} worker failed:\n{proc.stderr[-4000:]}", flush=True)
                continue
            print(f"parity: {fw} done in {time.perf_counter() - t0:.1f} s", flush=True)
            meta = json.loads((job_dir / f"{fw}.meta.json").read_text())
            with np.load(job_dir / f"{fw}.npz") as f:
                for i, m in meta.items():
                    results[int(i)] = {
                        **m,
                        **{k: f[f"{i}/{k}"] for k in ("trajectory", "train_logits", "test_logits")},
                    }

    index = {r: i for i, r in enumerate(runs)}
    report = {
        "ok": False,
        "versions": versions(),
        "runs": [run_row(r, results[index[r]], job) for r in runs if index[r] in results],
        "comparisons": [
            comparison_row(a, b, g, results[index[a]], results[index[b]])
            for a, b, g in pairs
            if index[a] in results and index[b] in results
        ],
        "effective_constants": {
            "tf": sorted(
                {
                    json.dumps(results[index[r]]["effective_constants"])
                    for r in runs
                    if r.framework == "tf" and index[r] in results
                }
            )
        },
        "skipped": skipped,
        "failed": {k: v[-500:] for k, v in failed.items()},
        "seconds": 0.0,
    }
    graded = [c for c in report["comparisons"] if c["passed"] is not None]
    report["ok"] = bool(graded) and all(c["passed"] for c in graded) and not failed and not skipped
    report["seconds"] = round(time.perf_counter() - start, 1)

    ch, crow, rh, rrow = tables(report)
    print("\n" + text_table(rh, rrow) + "\n\n" + text_table(ch, crow) + "\n")
    n_pass = sum(bool(c["passed"]) for c in graded)
    print(
        f"parity: {n_pass}/{len(graded)} graded comparisons pass "
        f"({len(report['comparisons']) - len(graded)} shown for information) "
        f"in {report['seconds']:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(report))
    if args.plot and report["comparisons"]:
        plot(report, args.plot)
    if not graded:
        print("parity: no graded comparison ran (every pair needs two frameworks): failing")
        return 1
    if skipped and args.allow_missing:
        return 0 if all(c["passed"] for c in graded) and not failed else 1
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
