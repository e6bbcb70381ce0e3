"""What the suite runs: presets, penalties, the runs of each framework and the pairs compared.

Only NumPy and scikit-learn (for Iris) are imported here; each framework is imported only by its
own worker process. Keras and torch get their penalties and optimizers as plain numbers, built
with their own APIs; only the JAX worker uses jaxreg.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

FRAMEWORKS = ("jax", "tf", "torch")
OPTIMIZERS = ("adam", "sgd")
PENALTIES = ("none", "l1", "l2", "elastic_net")
DTYPES = ("float64", "float32")
# epsilon is set explicitly to the same value in all three (Keras's default is 1e-7).
ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
MOMENTUM = 0.9
# Strengths in the textbook convention (l1 * sum|w| + l2 / 2 * sum w^2); see penalty_spec.
STRENGTHS = {"l1": 0.003, "l2": 0.01, "elastic_net": 0.01}
L1_RATIO = 0.5


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    hidden: int
    lr: dict[str, float]  # per optimizer
    batch: int
    epochs: int
    penalties: tuple[str, ...]
    tolerance: dict[str, float]  # per dtype: max relative weight difference that passes


PRESETS = {
    # The classic tutorial setting: Adam(0.001), batch 32, 10 epochs, L2 0.01 (as lambda/2 sum w^2).
    "seed": Preset(
        "seed", 4, {"adam": 0.001, "sgd": 0.01}, 32, 10, ("l2",), {"float64": 1e-9, "float32": 1e-5}
    ),
    "converged": Preset(
        "converged",
        4,
        {"adam": 0.01, "sgd": 0.05},
        16,
        200,
        PENALTIES,
        {"float64": 1e-9, "float32": 1e-3},
    ),
}


def f32(x: float) -> float:
    """The float64 value of ``x`` rounded to float32 (what Keras-on-TensorFlow uses)."""
    return float(np.float32(x))


@dataclasses.dataclass(frozen=True)
class Config:
    """One training problem: every framework trains exactly this."""

    preset: str
    optimizer: str
    penalty: str
    dtype: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.preset, self.optimizer, self.penalty, self.dtype)


@dataclasses.dataclass(frozen=True)
class Run:
    """One training of a `Config` by one framework, with one optimizer form and constants.

    variant: how the framework is used. ``stock``: the framework's own optimizer and penalty
      (Keras regularizer objects, torch loss term, optax + jaxreg); ``weight_decay``: torch's
      coupled weight_decay on a kernels-only parameter group instead of a loss term;
      ``keras_adam`` / ``torch_adam``: JAX with that framework's Adam reproduced by
      ``jr.conventions.from_keras_optimizer`` / ``from_torch_optimizer``.
    constants: ``native``: hyperparameters as given; ``keras_f32``: the float32-rounded
      constants that Keras on TensorFlow actually uses in float64 (Adam's beta powers, SGD's
      momentum, the regularizer strength).
    """

    config: Config
    framework: str
    variant: str = "stock"
    constants: str = "native"

    @property
    def name(self) -> str:
        tags = [t for t in (self.variant, self.constants) if t not in ("stock", "native")]
        return self.framework + (f"[{','.join(tags)}]" if tags else "")

    def hyper(self) -> dict[str, Any]:
        """Every number the run needs, with the constants its convention uses."""
        p = PRESETS[self.config.preset]
        kc = self.constants == "keras_f32"
        h: dict[str, Any] = {
            "lr": p.lr[self.config.optimizer],
            "batch": p.batch,
            "epochs": p.epochs,
            "hidden": p.hidden,
            "b1": ADAM["b1"],
            "b2": ADAM["b2"],
            "eps": ADAM["eps"],
            # Keras on TensorFlow casts beta_1/beta_2 through float32 for the bias-correction
            # powers only (jr.conventions.from_keras_optimizer(tf_rounding=True) does the same)
            "tf_rounding": kc,
            "momentum": f32(MOMENTUM) if kc else MOMENTUM,
        }
        h["penalty"] = penalty_spec(self.config.penalty, keras_f32=kc)
        return h


def penalty_spec(name: str, *, keras_f32: bool) -> dict[str, Any]:
    """The penalty as plain numbers every worker reads; no framework's converter is involved.

    Every penalty here is ``l1 * sum|w| + l2 / 2 * sum w^2`` over the kernels (textbook).
    ``keras`` holds the same penalty in Keras's own units, written out here from Keras's
    documented formulas: ``L1L2(l1=l1, l2=l2 / 2)`` (Keras's L2 has no 1/2). With ``keras_f32``
    the textbook numbers are those Keras-on-TensorFlow applies to float64 weights: its
    strengths rounded through float32 (the TF worker measures them on a probe weight, and the
    report shows both).
    """
    if name == "none":
        return {"name": "none", "l1": 0.0, "l2": 0.0, "keras": None}
    s = STRENGTHS[name]
    l1 = {"l1": s, "l2": 0.0, "elastic_net": s * L1_RATIO}[name]
    l2 = {"l1": 0.0, "l2": s, "elastic_net": s * (1 - L1_RATIO)}[name]
    keras = {"l1": l1, "l2": l2 / 2}
    if keras_f32:
        l1, l2 = f32(keras["l1"]), 2 * f32(keras["l2"])
    return {"name": name, "l1": l1, "l2": l2, "keras": keras}


def build_runs(
    presets, optimizers, penalties, dtypes, frameworks
) -> tuple[list[Run], list[tuple[Run, Run, bool]]]:
    """All runs and all pairs ``(a, b, graded)``; ungraded pairs are shown for information."""
    runs: list[Run] = []
    pairs: list[tuple[Run, Run, bool]] = []
    for preset in presets:
        for optimizer in optimizers:
            for penalty in (p for p in penalties if p in PRESETS[preset].penalties):
                for dtype in dtypes:
                    cfg = Config(preset, optimizer, penalty, dtype)
                    kc = "keras_f32" if dtype == "float64" else "native"
                    tf = Run(cfg, "tf")
                    torch = Run(cfg, "torch")
                    jax = Run(cfg, "jax")
                    wd = Run(cfg, "torch", "weight_decay")
                    if optimizer == "adam":
                        jk, jt = Run(cfg, "jax", "keras_adam", kc), Run(cfg, "jax", "torch_adam")
                        cand = [tf, torch, jax, jk, jt]
                        cand_pairs = [(jt, torch, True), (jk, tf, True)]
                        if penalty == "l2":
                            cand += [wd]
                            cand_pairs += [(wd, jt, True)]
                        # stock optax.adam vs stock torch Adam: the same algorithm, graded
                        cand_pairs += [(jax, torch, True), (tf, torch, False)]
                    else:
                        jk, tk = Run(cfg, "jax", constants=kc), Run(cfg, "torch", constants=kc)
                        cand = list(dict.fromkeys([tf, torch, jax, jk, tk]))
                        cand_pairs = [(jax, torch, True), (jk, tf, True), (tk, tf, True)]
                        # stock TF vs stock torch, unadjusted: float32-rounded constants
                        cand_pairs += [(tf, torch, False)]
                        if penalty == "l2":
                            cand += [wd]
                            cand_pairs += [(wd, jax, True)]
                    runs += [r for r in cand if r.framework in frameworks]
                    pairs += [
                        (a, b, g)
                        for a, b, g in dict.fromkeys(cand_pairs)
                        if a.framework in frameworks and b.framework in frameworks and a != b
                    ]
    return runs, pairs


def load_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Iris, stratified 80/20 split, standardized with the training part's statistics."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    X, y = load_iris(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return {
        "X_train": (X_train - mean) / std,
        "X_test": (X_test - mean) / std,
        "y_train": y_train.astype(np.int64),
        "y_test": y_test.astype(np.int64),
    }


def initial_weights(hidden: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels in Keras's (in, out) layout and zero biases, drawn once in NumPy."""
    rng = np.random.default_rng(seed)

    def glorot(n_in, n_out):
        limit = np.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-limit, limit, size=(n_in, n_out))

    return {
        "W1": glorot(4, hidden),
        "b1": np.zeros(hidden),
        "W2": glorot(hidden, 3),
        "b2": np.zeros(3),
    }


def batch_orders(n: int, epochs: int, seed: int = 0) -> np.ndarray:
    """One permutation of the training rows per epoch, shared by all frameworks."""
    rng = np.random.default_rng(seed + 1)
    return np.stack([rng.permutation(n) for _ in range(epochs)])


WEIGHT_NAMES = ("W1", "b1", "W2", "b2")


def flatten(weights: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(weights[k], np.float64).ravel() for k in WEIGHT_NAMES])


def write_job(directory: Path, runs: list[Run], seed: int) -> None:
    """Everything a worker needs: data, initial weights, batch orders and its runs."""
    data = load_data(seed)
    arrays = dict(data)
    for name, preset in PRESETS.items():
        for k, v in initial_weights(preset.hidden, seed).items():
            arrays[f"{name}/{k}"] = v
        arrays[f"{name}/orders"] = batch_orders(len(data["y_train"]), preset.epochs, seed)
    np.savez(directory / "job.npz", **arrays)
    for fw in FRAMEWORKS:
        specs = [
            {"index": i, "name": r.name, **dataclasses.asdict(r), "hyper": r.hyper()}
            for i, r in enumerate(runs)
            if r.framework == fw
        ]
        (directory / f"{fw}.json").write_text(json.dumps(specs))
