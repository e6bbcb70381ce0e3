"""``python -m benchmarks [--quick] [--json PATH] [--plot-dir DIR] [--markdown PATH]``.

Sections: ``penalty`` (value and value+grad against the memory roofline and what users would
otherwise run), ``prox`` (each proximal map and projection against a read+write pass),
``step`` (a regularized training step in jaxreg+optax, PyTorch and Keras), ``sweep``
(choosing lambda: K strengths at once), ``scale`` (the sweep sharded over 1, 2 and 4
forced CPU devices), ``hypergrad`` (one hypergradient of a float64 Lasso against one
``jr.solve``; float64 only inside that section) and ``linear`` (a float64 Lasso path by
``jr.linear.path`` against scikit-learn, celer and skglm). ``--quick`` is a smoke run (under
a minute) that ``make test`` runs so the benchmarks cannot rot; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import jax

from . import _hypergrad, _linear, _penalty, _prox, _scale, _step, _sweep

SECTIONS = {
    "penalty": _penalty.run,
    "prox": _prox.run,
    "step": _step.run,
    "sweep": _sweep.run,
    "scale": _scale.run,
    "hypergrad": _hypergrad.run,
    "linear": _linear.run,
}


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in (
        "jax",
        "jaxlib",
        "optax",
        "numpy",
        "torch",
        "tensorflow-cpu",
        "keras",
        "scikit-learn",
        "celer",
        "skglm",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    info["versions"] = versions
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, few repeats")
    ap.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    ap.add_argument("--penalty-sizes", nargs="+", type=int, help="penalty section: these N only")
    ap.add_argument(
        "--layouts", nargs="+", choices=["one", "mix", "thousand", "tiny"], help="penalty section"
    )
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--markdown", metavar="PATH")
    ap.add_argument("--plot-dir", metavar="DIR")
    args = ap.parse_args(argv)
    start = time.perf_counter()

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {msg}", flush=True)

    rows: list[dict[str, Any]] = []
    for name in args.sections:
        progress(f"section {name}")
        opts = {"sizes": args.penalty_sizes, "layouts": args.layouts} if name == "penalty" else {}
        rows += SECTIONS[name](quick=args.quick, progress=progress, **opts)
    report = {
        "quick": args.quick,
        "machine": machine(),
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }
    from ._report import check_sane, markdown, plots

    check_sane(report)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(report))
    if args.plot_dir:
        for path in plots(report, Path(args.plot_dir)):
            progress(f"wrote {path}")
    progress("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
