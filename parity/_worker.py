"""What the three framework workers share: reading the job, batch slicing, writing results.

A worker is started as ``python -m parity._<framework>_worker JOB_DIR``; it trains every run in
``JOB_DIR/<framework>.json`` and writes ``JOB_DIR/<framework>.npz`` (+ ``.meta.json``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def batches(order: np.ndarray, batch: int) -> list[np.ndarray]:
    return [order[i : i + batch] for i in range(0, len(order), batch)]


def main(framework: str, train: Callable[[dict[str, Any], dict[str, np.ndarray]], dict]) -> None:
    job_dir = Path(sys.argv[1])
    specs = json.loads((job_dir / f"{framework}.json").read_text())
    with np.load(job_dir / "job.npz") as f:
        job = {k: f[k] for k in f.files}
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    for n, spec in enumerate(specs, 1):
        start = time.perf_counter()
        out = train(spec, job)
        seconds = time.perf_counter() - start
        i = spec["index"]
        for key in ("trajectory", "train_logits", "test_logits"):
            arrays[f"{i}/{key}"] = np.asarray(out.pop(key), np.float64)
        meta[str(i)] = {"seconds": seconds, **out}
        print(
            f"{framework} {n}/{len(specs)} {spec['name']} {spec['config']} {seconds:.2f}s",
            file=sys.stderr,
            flush=True,
        )
    np.savez(job_dir / f"{framework}.npz", **arrays)
    (job_dir / f"{framework}.meta.json").write_text(json.dumps(meta))


def run_inputs(spec: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    """The run's data and initial weights in its dtype, and its batch order per epoch."""
    cfg, h = spec["config"], spec["hyper"]
    dt = np.dtype(cfg["dtype"])
    return {
        "dtype": dt,
        "X_train": job["X_train"].astype(dt),
        "y_train": job["y_train"],
        "X_test": job["X_test"].astype(dt),
        "init": {k: job[f"{cfg['preset']}/{k}"].astype(dt) for k in ("W1", "b1", "W2", "b2")},
        "orders": job[f"{cfg['preset']}/orders"][: h["epochs"]],
    }
