"""Grade the workers' trajectories: divergence per epoch, the noise floor of each
configuration, comparison rows (graded pairs, controls, faults) and run rows."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._config import (
    CHAOTIC,
    ELEMENTWISE,
    FLOAT64_TOLERANCE,
    FLOOR_MULTIPLE,
    PRESETS,
    Model,
    Pair,
    Run,
)
from ._notes import note


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b| over every weight (NaN if either side is not finite)."""
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return math.nan
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale else float(np.abs(a - b).max())


def divergence(ta: np.ndarray, tb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per epoch, the difference relative to how far training moved the weights.

    With ``m = w_final - w_init`` of run b: ``||a_e - b_e||_2 / ||m||_2`` and
    ``max_i |a_e - b_e|_i / max_i |m_i|``, for every epoch e (NaN if a side is not finite).
    """
    if not (np.all(np.isfinite(ta)) and np.all(np.isfinite(tb))):
        nan = np.full(len(tb), math.nan)
        return nan, nan
    move = tb[-1] - tb[0]
    diff = ta - tb
    l2 = np.linalg.norm(diff, axis=1) / max(np.linalg.norm(move), 1e-300)
    mx = np.abs(diff).max(axis=1) / max(np.abs(move).max(), 1e-300)
    return l2, mx


def _ce(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def config_fields(run: Run) -> dict[str, Any]:
    c = run.config
    return {
        "preset": c.preset,
        "model": c.model.name,
        "optimizer": c.optimizer,
        "penalty": c.penalty,
        "dtype": c.dtype,
        "seed": c.seed,
    }


def _margin(logits: np.ndarray) -> float:
    top = np.sort(logits, axis=1)
    return float((top[:, -1] - top[:, -2]).min())


def penalty_value(run: Run, w: np.ndarray) -> float:
    """The run's penalty at the canonical weight vector ``w``, in NumPy (textbook units)."""
    pen = run.hyper()["penalty"]
    if pen["keras"] is None:
        return 0.0
    l1, l2 = pen["keras"]["l1"], 2 * pen["keras"]["l2"]  # what this run applies
    out, offset = 0.0, 0
    for name, shape in run.config.model.shapes():
        x = w[offset : offset + int(np.prod(shape))].reshape(shape)
        offset += x.size
        if x.ndim > 1:
            out += l1 * np.abs(x).sum() + l2 / 2 * (x**2).sum()
        if name == "K2" and pen["group"]:
            out += pen["group"] * np.sqrt((x**2).sum(axis=(0, 1, 2))).sum()
    return float(out)


def forward(model: Model, w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The network's logits at the canonical weight vector ``w`` (Keras's layout), in NumPy
    float64: the accuracy at initialization needs no framework."""
    ws, offset = {}, 0
    for name, shape in model.shapes():
        ws[name] = w[offset : offset + int(np.prod(shape))].reshape(shape)
        offset += int(np.prod(shape))
    if model.kind == "mlp":
        h, layers = X, len(model.sizes) - 1
        for i in range(1, layers + 1):
            h = h @ ws[f"W{i}"] + ws[f"b{i}"]
            h = np.maximum(h, 0) if i < layers else h
        return h
    h = X.reshape(-1, 8, 8, 1)
    for k, c in (("K1", "c1"), ("K2", "c2")):  # 3x3 "valid" convolutions, NHWC / HWIO
        windows = np.lib.stride_tricks.sliding_window_view(h, (3, 3), axis=(1, 2))
        h = np.maximum(np.einsum("nhwcij,ijco->nhwo", windows, ws[k]) + ws[c], 0)
    return h.reshape(len(h), -1) @ ws["W3"] + ws["b3"]


def run_row(run: Run, res: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    ds = run.config.model.dataset
    y_train, y_test = job[f"{ds}/y_train"], job[f"{ds}/y_test"]
    init = forward(run.config.model, res["trajectory"][0], job[f"{ds}/X_test"])
    return {
        **config_fields(run),
        "framework": run.name,
        "train_accuracy": float((res["train_logits"].argmax(1) == y_train).mean()),
        "test_accuracy": float((res["test_logits"].argmax(1) == y_test).mean()),
        "init_test_accuracy": float((init.argmax(1) == y_test).mean()),
        # mean cross-entropy on the training rows + the penalty, at the final weights
        "final_loss": _ce(res["train_logits"], y_train) + penalty_value(run, res["trajectory"][-1]),
        "min_test_margin": _margin(res["test_logits"]),
        "jax_enable_x64": res.get("jax_enable_x64"),
        # scheduled runs: the rate of each epoch and how many steps were clipped
        "schedule_record": res.get("schedule_record"),
        "seconds": round(res["seconds"], 3),
        "cpu_seconds": round(res.get("cpu_seconds", math.nan), 3),
    }


NO_EFFECT = "no effect in this dtype (the fault rounds away)"

FloorKey = tuple[str, str, str, str, int]  # preset, optimizer, penalty, dtype, seed


def floor_key(run: Run) -> FloorKey:
    c = run.config
    return (c.preset, c.optimizer, c.penalty, c.dtype, c.seed)


def noise_floors(
    pairs: list[Pair], trajectory: Callable[[Run], np.ndarray | None]
) -> dict[FloorKey, dict[str, Any]]:
    """Per (preset, optimizer, penalty, dtype, seed): each framework's largest divergence of a
    noise-floor member from its own run, and their max, the floor that configuration's rows on
    that seed are graded by (training from other initial weights may be more or less chaotic).

    The max over every framework's members, not only the two a row compares: the floor is how
    sensitive this training problem is to rounding, and a knife edge (an L1 weight crossing
    zero, a ReLU unit dying) is found by some members and missed by others, whichever framework
    runs them."""
    out: dict[FloorKey, dict[str, Any]] = {}
    for p in pairs:
        if p.kind != "floor":
            continue
        ta, tb = trajectory(p.a), trajectory(p.b)
        if ta is None or tb is None:
            continue
        row = out.setdefault(floor_key(p.a), {"frameworks": {}, "kinds": {}, "members": 0})
        rel = float(np.max(divergence(ta, tb)[0]))
        fw, kind = p.a.framework, p.a.variant.rstrip("0123456789")
        row["frameworks"][fw] = max(row["frameworks"].get(fw, 0.0), rel)
        row["kinds"][kind] = max(row["kinds"].get(kind, 0.0), rel)
        row["members"] += 1
    for row in out.values():
        row["floor"] = max(row["frameworks"].values())
        row["chaotic"] = is_chaotic(row["floor"])
    return out


def is_chaotic(floor: float) -> bool:
    """Whether a float32 noise floor is too high to grade by: its tolerance,
    `FLOOR_MULTIPLE` x the floor, would exceed `CHAOTIC` (or the floor is not finite)."""
    return bool(not math.isfinite(floor) or FLOOR_MULTIPLE * floor > CHAOTIC)


def tolerance_for(kind: str, dtype: str, floor: dict[str, Any] | None) -> tuple[float | None, str]:
    """The threshold a row is judged by and how it is judged: float64 at `FLOAT64_TOLERANCE`;
    float32 at `FLOOR_MULTIPLE` x its configuration's noise floor, or as information where no
    floor was measured or the floor shows chaotic training."""
    if kind in ("info", "floor"):
        return None, kind
    if dtype == "float64":
        return FLOAT64_TOLERANCE, kind
    if floor is None:
        return None, "info: no noise floor measured"
    if floor["chaotic"]:
        return None, (
            f"info: chaotic (tolerance {FLOOR_MULTIPLE:g} x floor {floor['floor']:.1e} "
            f"> {CHAOTIC:g})"
        )
    return FLOOR_MULTIPLE * floor["floor"], kind


def comparison_row(
    pair: Pair,
    ra: dict[str, Any],
    rb: dict[str, Any],
    spreads: tuple[float, float] | None = None,
    floor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    a, b, c = pair.a, pair.b, pair.a.config
    ta, tb = ra["trajectory"], rb["trajectory"]
    l2, mx = divergence(ta, tb)
    per_epoch = [max_rel_diff(x, y) for x, y in zip(ta, tb, strict=True)]
    worst = int(np.nanargmax(l2)) if np.isfinite(l2).any() else 0
    rel, rel_max = float(np.max(l2)), float(np.max(mx))
    same = bool(np.array_equal(ra["test_logits"].argmax(1), rb["test_logits"].argmax(1)))
    tol, judged = tolerance_for(pair.kind, c.dtype, floor)
    # a fault that rounds away in this dtype (AdamW's decay x (1 + 1e-6) in float32: torch's
    # fl32(1 - lr*wd) is the same number) leaves the run bit for bit as it was: nothing was
    # injected, so nothing can be missed
    no_effect = pair.kind == "fault" and bool(np.array_equal(ta, tb))
    if no_effect:
        judged = NO_EFFECT
    detected = None if tol is None else bool(rel > tol)  # NaN is not "different"
    passed = None
    if tol is not None and pair.kind == "graded":
        passed = bool(rel <= tol and rel_max <= ELEMENTWISE * tol and same)
    elif pair.kind == "control" or (pair.kind == "fault" and c.dtype == "float64"):
        passed = detected  # a float64 fault must change the run: no effect fails
    if no_effect and c.dtype != "float64":
        detected = None
    fault = a.hyper()["fault"]
    return {
        **config_fields(a),
        "a": a.name,
        "b": b.name,
        "kind": pair.kind,
        "judged": judged,
        "max_rel_weight_diff": per_epoch[-1],
        "rel_movement": rel,
        "max_elementwise_rel_movement": rel_max,
        "worst_epoch": worst,
        "tolerance": tol,
        "noise_floor": floor["floor"] if floor else None,
        "chaotic": floor["chaotic"] if floor and c.dtype == "float32" else False,
        "fault_has_effect": (not no_effect) if pair.kind == "fault" else None,
        "fault": fault["name"] if fault else None,
        "fault_size": fault["size"] if fault else None,
        "detected": detected if pair.kind == "fault" else None,
        "same_test_predictions": same,
        "passed": passed,
        "note": note(c.optimizer, a.name, b.name, scheduled=PRESETS[c.preset].schedule is not None),
        # float32 pairs: how far each side's float32 run is from its own float64 run
        "float32_spread": list(spreads) if spreads else None,
        "per_epoch_max_rel_weight_diff": per_epoch,
        "per_epoch_rel_movement": l2.tolist(),
    }
