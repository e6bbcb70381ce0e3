"""What the framework workers share: reading the job, batch slicing, writing results.

A worker is started as ``python -m parity._<worker> JOB_DIR FRAMEWORK TASK`` (see
`parity._tasks`); it trains every run in ``JOB_DIR/<task>.json`` and writes
``JOB_DIR/<task>.npz`` and ``.meta.json`` (with what each run exports for later workers:
Keras's configs and measured constants, torch's param groups), then the cross-validation
(``<task>.cv.json``) when the task has one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class MissingExport(LookupError):
    """The run this one reads from (its ``source``) has no exports."""


def batches(order: np.ndarray, batch: int) -> list[np.ndarray]:
    return [order[i : i + batch] for i in range(0, len(order), batch)]


def main(
    train: Callable[[dict[str, Any], dict[str, np.ndarray], Callable], dict],
    cross_validate: Callable[[dict[str, Any], dict[str, np.ndarray]], dict] | None = None,
) -> None:
    job_dir, framework, task = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    job_spec = json.loads((job_dir / f"{task}.json").read_text())
    with np.load(job_dir / "job.npz") as f:
        job = {k: f[k] for k in f.files}
    exports: dict[str, dict[str, Any]] = {}

    def exported(index: int) -> dict[str, Any]:
        """What the run ``index`` of an earlier worker exported."""
        if not exports:
            for p in job_dir.glob("*.meta.json"):
                for i, m in json.loads(p.read_text()).items():
                    exports[i] = m.get("exports", {})
        if str(index) not in exports:
            raise MissingExport(f"run {index} of an earlier worker did not finish")
        return exports[str(index)]

    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    specs = job_spec["runs"]
    for n, spec in enumerate(specs, 1):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            out = train(spec, job, exported)
        except MissingExport as e:  # its source's worker failed: that failure is reported
            print(f"{framework} {n}/{len(specs)} {spec['name']} skipped: {e}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu  # every thread of this process: the load it puts
        i = spec["index"]
        for key in ("trajectory", "train_logits", "test_logits"):
            arrays[f"{i}/{key}"] = np.asarray(out.pop(key), np.float64)
        meta[str(i)] = {"seconds": seconds, "cpu_seconds": cpu, **out}
        print(
            f"{framework} {n}/{len(specs)} {spec['name']} {spec['config']} {seconds:.2f}s "
            f"(CPU {cpu:.2f}s)",
            file=sys.stderr,
            flush=True,
        )
    np.savez(job_dir / f"{task}.npz", **arrays)
    (job_dir / f"{task}.meta.json").write_text(json.dumps(meta))
    if job_spec["cv"] and cross_validate:
        start = time.perf_counter()
        out = cross_validate(job_spec["cv"], job)
        out["seconds"] = time.perf_counter() - start
        print(f"{framework} cross-validation {out['seconds']:.1f}s", file=sys.stderr, flush=True)
        (job_dir / f"{task}.cv.json").write_text(json.dumps(out))


def run_inputs(spec: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    """The run's data and initial weights in its dtype, and its batch order per epoch."""
    cfg, h = spec["config"], spec["hyper"]
    model = h["model"]
    dt = np.dtype(cfg["dtype"])
    ds = model["dataset"]
    key = f"{cfg['preset']}/{cfg['seed']}"
    names = weight_names(model)
    init = {k: job[f"{key}/{k}"].astype(dt) for k in names}
    if h.get("nudge"):
        init = nudged(init, h["nudge"])
    orders = job[f"{key}/orders"][: h["epochs"]]
    if h.get("reorder"):
        orders = reordered(orders, h["batch"], h["reorder"])
    return {
        "dtype": dt,
        "X_train": inputs(job[f"{ds}/X_train"], model).astype(dt),
        "y_train": job[f"{ds}/y_train"],
        "X_test": inputs(job[f"{ds}/X_test"], model).astype(dt),
        "init": init,
        "orders": orders,
    }


def schedule_record(
    schedule: dict[str, Any] | None, rates: list[float] | None, norms: list[float] | None
) -> dict[str, Any] | None:
    """What shows the schedule and the clipping at work: the rate of each epoch, and the
    gradient's global norm before clipping at each step (clipped where above ``max_norm``);
    None where a framework does not expose it."""
    if not schedule:
        return None
    return {
        "lr_per_epoch": rates,
        "steps": None if norms is None else len(norms),
        "clipped_steps": None if norms is None else sum(n > schedule["max_norm"] for n in norms),
        "grad_norm_range": [min(norms), max(norms)] if norms else None,
    }


def nudged(init: dict[str, np.ndarray], member: int) -> dict[str, np.ndarray]:
    """Every nonzero weight moved one ulp of its own dtype, up or down (signs drawn with seed
    ``member``): a noise-floor member, as different as rounding alone can make two runs.

    Zeros (the initial biases) stay: rounding never moves an exact zero, and one ulp of zero
    is a subnormal that would turn ReLU's gradient on wherever an input patch is all zeros
    (torch keeps subnormals; XLA on CPU flushes them to zero).
    """
    rng = np.random.default_rng(member)
    out = {}
    for k, w in init.items():
        up = rng.random(w.shape) < 0.5
        moved = np.where(up, np.nextafter(w, np.inf), np.nextafter(w, -np.inf))
        out[k] = np.where(w == 0, w, moved).astype(w.dtype)
    return out


def reordered(orders: np.ndarray, batch: int, member: int) -> np.ndarray:
    """The rows of every batch in another order (drawn with seed ``member``), the batches kept:
    each step's mean gradient is the same number, summed in another order. A noise-floor member
    that rounds differently at every step, as two frameworks' kernels do, where a nudge of the
    initial weights perturbs once."""
    rng = np.random.default_rng(10_000 + member)
    out = orders.copy()
    for e in range(len(out)):
        for i in range(0, out.shape[1], batch):
            out[e, i : i + batch] = rng.permutation(out[e, i : i + batch])
    return out


def inputs(X: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """Rows for an MLP, NHWC 8x8x1 images for the CNN."""
    return X.reshape(-1, 8, 8, 1) if model["kind"] == "cnn" else X


def weight_names(model: dict[str, Any]) -> list[str]:
    if model["kind"] == "mlp":
        return [f"{p}{i}" for i in range(1, len(model["sizes"])) for p in "Wb"]
    return ["K1", "c1", "K2", "c2", "W3", "b3"]


def flat(weights: list[Any]) -> np.ndarray:
    """The canonical weight vector: Keras layout, ``weight_names`` order, float64."""
    return np.concatenate([np.asarray(w, np.float64).ravel() for w in weights])


def cv_inputs(cv: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    dt = np.dtype(cv["dtype"])
    names = weight_names({"kind": "mlp", "sizes": cv["sizes"]})
    return {
        "X": job["iris/X_train"].astype(dt),
        "y": job["iris/y_train"],
        "init": {k: job[f"cv/{k}"].astype(dt) for k in names},
        "folds": [(job[f"cv/{i}/train"], job[f"cv/{i}/test"]) for i in range(cv["folds"])],
    }
