"""Regenerate the documentation's figures from the examples: ``python docs/gallery.py``.

Every example in ``examples/`` runs in full (its own process, JAX defaults, as a user runs it)
and writes its figures into ``docs/gallery/``, which ``docs/gallery.md`` shows beside the
example's source. Takes a few minutes on 2 cores; ``--only NAME ...`` runs some of them. The
tests run each example's quick mode instead (``tests/test_*`` with ``run_example``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "gallery"

# example -> (the arguments that send its figures into OUT, the figures it writes there)
EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "choose_lambda": (["--out", str(OUT)], ["lasso_path.png", "lasso_cv.png", "iris_cv.png"]),
    "finetune_l2sp": (["--plot", str(OUT / "finetune_l2sp.png")], ["finetune_l2sp.png"]),
    "feature_selection": (
        ["--plot", str(OUT / "feature_selection.png")],
        ["feature_selection.png"],
    ),
    "structured_sparsity": (
        ["--plot", str(OUT / "structured_sparsity.png")],
        ["structured_sparsity.png"],
    ),
    "tune_lambda": (["--plot", str(OUT / "tune_lambda.png")], ["tune_lambda.png"]),
    "unrolled_hypergradient": (
        ["--plot", str(OUT / "unrolled_hypergradient.png")],
        ["unrolled_hypergradient.png"],
    ),
}


def run(name: str) -> None:
    args, figures = EXAMPLES[name]
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), *args], check=True)
    missing = [f for f in figures if not (OUT / f).is_file()]
    if missing:
        raise SystemExit(f"examples/{name}.py did not write {missing} into {OUT}")
    print(f"{name}: {', '.join(figures)} in {time.perf_counter() - start:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=sorted(EXAMPLES), help="run only these examples")
    names = ap.parse_args().only or list(EXAMPLES)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in names:
        run(name)


if __name__ == "__main__":
    main()
