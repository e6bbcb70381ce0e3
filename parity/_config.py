"""What the suite runs: models, presets, penalties, the runs of each framework, the pairs compared.

Only NumPy and scikit-learn (for the datasets and folds) are imported here; each framework is
imported only by its own worker process. Keras and torch get their penalties and optimizers as
plain numbers and build them with their own APIs; only the JAX worker uses jaxreg, and its
converter runs read the configs that the Keras and torch workers export from the real objects.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

# Worker processes, in the order they run: the torch worker reads Keras's measured constants,
# the JAX worker reads the configs Keras and torch exported.
FRAMEWORKS = ("tf", "keras-jax", "keras-torch", "torch", "jax")
CV_FRAMEWORKS = ("tf", "torch", "jax")  # cross-validation: Keras on TF, torch, jaxreg
KERAS_BACKENDS = {"tf": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}
OPTIMIZERS = ("adam", "sgd", "nesterov", "adamw")  # nesterov: SGD with Nesterov momentum
PENALTIES = ("none", "l1", "l2", "elastic_net", "l2_group")
DTYPES = ("float64", "float32")
# epsilon is set explicitly to the same value in all three: Keras's default (torch's and optax's
# is 1e-8); the larger one makes Keras's "epsilon hat" Adam easier to tell from torch's.
ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-7}
MOMENTUM = 0.9
WEIGHT_DECAY = 0.01  # AdamW's decoupled decay, on every weight (the default of all three)
# Strengths in the textbook convention (l1 * sum|w| + l2 / 2 * sum w^2); see penalty_spec.
STRENGTHS = {"l1": 0.003, "l2": 0.01, "elastic_net": 0.01, "l2_group": 0.001}
# Not 0.5: a swapped l1_ratio must change the penalty.
L1_RATIO = 0.25
GROUP = 0.002  # l2_group: group lasso per output channel of the second conv kernel


@dataclasses.dataclass(frozen=True)
class Model:
    """A network in Keras's layout: kernels (in, out) and HWIO, biases; ReLU between layers."""

    name: str
    dataset: str  # "iris" or "digits"
    kind: str  # "mlp" or "cnn"
    sizes: tuple[int, ...]  # mlp: layer widths incl. input and classes; cnn: conv channels

    def shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """The weights, in the canonical order every worker reports them in."""
        if self.kind == "mlp":
            out = []
            for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True), 1):
                out += [(f"W{i}", (a, b)), (f"b{i}", (b,))]
            return out
        c1, c2 = self.sizes
        # 8x8x1 images, two 3x3 "valid" convs (8 -> 6 -> 4), flatten (h, w, c), dense 10
        return [
            ("K1", (3, 3, 1, c1)),
            ("c1", (c1,)),
            ("K2", (3, 3, c1, c2)),
            ("c2", (c2,)),
            ("W3", (4 * 4 * c2, 10)),
            ("b3", (10,)),
        ]

    def kernel_names(self) -> list[str]:
        return [n for n, s in self.shapes() if len(s) > 1]


MODELS = {
    "iris_mlp": Model("iris_mlp", "iris", "mlp", (4, 4, 3)),  # the article's 4-4-3
    "digits_mlp": Model("digits_mlp", "digits", "mlp", (64, 64, 64, 10)),
    "digits_cnn": Model("digits_cnn", "digits", "cnn", (8, 16)),
}


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A step schedule and global-norm clipping, written as each framework's users write them.

    torch: ``clip_grad_norm_(params, max_norm)`` before each ``opt.step()``, ``StepLR(opt,
    step_size=step_epochs, gamma=gamma)`` stepped once per epoch. Keras: ``ExponentialDecay(lr,
    decay_steps=step_epochs * steps_per_epoch, decay_rate=gamma, staircase=True)`` and
    ``global_clipnorm=max_norm``. optax: ``chain(clip_by_global_norm(max_norm), sgd(
    exponential_decay(..., staircase=True)))``. The rate after ``k`` steps is
    ``lr * gamma ** floor(k / (step_epochs * steps_per_epoch))`` in all three; the clipping
    scale is ``min(1, max_norm / ||g||)`` in Keras and optax, ``min(1, max_norm / (||g|| +
    1e-6))`` in torch (``torch.nn.utils.clip_grad_norm_``).
    """

    step_epochs: int
    gamma: float
    max_norm: float


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    model: str
    cases: tuple[tuple[str, str], ...]  # (optimizer, penalty)
    lr: dict[str, float]  # per optimizer
    batch: int
    epochs: int
    seeds: tuple[int, ...]
    keras_backends: bool = False  # also run Keras 3 on its JAX and torch backends
    # grade Keras's Adam vs torch's in float32 as a negative control (where the float32
    # spread is far below their difference; elsewhere the pair is shown)
    adam_control: bool = False
    schedule: Schedule | None = None
    momentum: float = MOMENTUM
    strengths: dict[str, float] | None = None  # replaces STRENGTHS' entries
    note: str = ""


ELEMENTWISE = 10.0  # one weight may differ more, relative to the largest movement
# float64: the largest ||a - b|| / ||w_final - w_init|| that passes at the worst epoch (the max
# elementwise measure gets ELEMENTWISE x this; see _report.divergence); negative controls and
# faults must exceed it. Measured worst graded pair: 2e-14; the float64 noise floor ~1e-15.
FLOAT64_TOLERANCE = 1e-12
# float32 is graded against its measured noise floor: the largest divergence of a framework's
# run from its own twins whose initial weights differ by one float32 ulp (NUDGED members).
# A pair passes within FLOOR_MULTIPLE x the floor of its configuration and seed; where that
# tolerance would exceed CHAOTIC (the floor above CHAOTIC / FLOOR_MULTIPLE), rounding decides
# too much of the outcome to resolve anything below CHAOTIC: that configuration and seed is
# chaotic and its float32 rows are information.
# Member kinds, alternating: ``nudge`` (each initial weight moved one ulp up or down, random
# signs: one perturbation) and ``reorder`` (the rows of every batch summed in another order:
# a rounding difference at every step, as between two frameworks' kernels).
MEMBERS = ("nudge", "reorder")
# Members per framework and (configuration, seed): nudge1, reorder1, nudge2. With two (nudge1,
# reorder1) the floor missed knife edges that nudge2 finds (measured: see docs/parity).
NUDGED = 3
FLOOR_MULTIPLE = 10.0
CHAOTIC = 1e-2  # the largest float32 tolerance graded
# Faults injected into one side (the first seed of each preset), each a relative size: float64
# must tell every one apart from the correct run at FLOAT64_TOLERANCE.
FAULTS = {
    "strength": 1e-6,  # every penalty strength (AdamW without one: the weight decay) x (1 + 1e-6)
    "eps": 1e-2,  # Adam's epsilon x 1.01
    "momentum": 1e-7,  # SGD's momentum 0.9 -> 0.9000001 (its 7th digit)
    "lr": None,  # the learning rate plus one float32 ulp (the rounding Keras-on-TF applies)
}
FLOOR_FRAMEWORKS = ("torch", "jax", "tf")
TF_FLOOR_DTYPES = ("float32",)  # Keras-on-TF's members cost most; float64 floors: torch, jax


PRESETS = {
    "tutorial": Preset(
        "tutorial",
        "iris_mlp",
        (("adam", "l2"),),
        {"adam": 0.001},
        32,
        10,
        (0, 1, 2),
        adam_control=True,
        note=(
            "The article's settings as they are (Adam 0.001, batch 32, 10 epochs): too short to "
            "learn in every framework, so only its weights, not its accuracy, say anything; "
            "each run's test accuracy at initialization is printed beside the final one (seed "
            "0 predicts the same classes before and after training: 0.0 on the test split)."
        ),
    ),
    "seed": Preset(
        "seed",
        "iris_mlp",
        (("adam", "l2"), ("sgd", "l2"), ("adamw", "none")),
        {"adam": 0.01, "sgd": 0.05, "adamw": 0.01},
        16,
        100,
        (0, 1, 2),
        keras_backends=True,
        note=(
            "The article's Iris MLP (4-4-3, ReLU, Adam, cross-entropy, L2 0.01) trained until "
            "it learns (test accuracy >= 0.9 in every framework), with SGD and AdamW beside it."
        ),
    ),
    "scheduled": Preset(
        "scheduled",
        "iris_mlp",
        (("sgd", "l2"),),
        {"sgd": 0.125},
        16,
        12,
        (0, 1, 2),
        schedule=Schedule(step_epochs=2, gamma=0.5, max_norm=0.5),
        # powers of two and 7/8: Keras-on-TF's float32 rounding of its constants is exact
        momentum=0.875,
        strengths={"l2": 2.0**-7},
        note=(
            "SGD with momentum, a step schedule (the rate halved every 2 epochs) and global-norm "
            "clipping at 0.5, as each framework's users write them: torch's StepLR stepped per "
            "epoch and clip_grad_norm_ before each step, Keras's ExponentialDecay(staircase="
            "True) and global_clipnorm, optax's exponential_decay and clip_by_global_norm. "
            "Every constant is exact in float32, so Keras-on-TF's rounding changes nothing."
        ),
    ),
    "converged": Preset(
        "converged",
        "iris_mlp",
        # L2 with these settings is the seed preset's
        tuple((o, p) for o in ("adam", "sgd") for p in ("none", "l1", "elastic_net")),
        {"adam": 0.01, "sgd": 0.05},
        16,
        100,
        (0, 1, 2),
        note="No penalty, L1 and elastic net (L2 is the seed preset's), 100 epochs.",
    ),
    "digits_mlp": Preset(
        "digits_mlp",
        "digits_mlp",
        (("adam", "l2"), ("sgd", "elastic_net"), ("adamw", "none")),
        {"adam": 0.001, "sgd": 0.05, "adamw": 0.001},
        64,
        10,
        (0, 1, 2),
        note="A deeper MLP (64-64-64-10) on scikit-learn's digits.",
    ),
    "digits_cnn": Preset(
        "digits_cnn",
        "digits_cnn",
        (("adam", "l2_group"), ("sgd", "l2_group"), ("nesterov", "l2"), ("adamw", "none")),
        {"adam": 0.003, "sgd": 0.03, "nesterov": 0.03, "adamw": 0.003},
        64,
        6,
        (0, 1, 2),
        note=(
            "Two 3x3 convs and a dense head on digits as 8x8 images: torch's OIHW kernels and "
            "NCHW flatten converted exactly; L2 on every kernel, group lasso per output channel "
            "of the second conv; Adam, SGD with momentum, SGD with Nesterov momentum, AdamW."
        ),
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
    seed: int

    @property
    def model(self) -> Model:
        return MODELS[PRESETS[self.preset].model]


@dataclasses.dataclass(frozen=True)
class Run:
    """One training of a `Config` by one framework, in one form.

    variant, by framework:
      ``stock`` (all): the framework's own optimizer and penalty (Keras regularizer objects,
      a torch loss term, optax + jaxreg built from the plain numbers).
      jax ``keras`` / ``keras_exact``: the optimizer and regularizers the Keras-on-TF run
      exported (``get_config()``), converted by ``jr.conventions.from_keras_optimizer`` /
      ``from_keras`` with ``tf_rounding`` on (float64) / off.
      jax ``torch`` / ``torch_wd``: the torch run's (``weight_decay`` run's)
      ``state_dict()["param_groups"]`` converted by ``jr.conventions.from_torch_optimizer``.
      torch ``weight_decay``: the L2 penalty as torch's coupled ``weight_decay`` on a
      kernels-only parameter group. torch ``keras_f32``: torch SGD given the constants measured
      in the Keras-on-TF run (float32-rounded momentum and regularizer strengths).
      Negative controls: torch ``adam_l2`` (Adam with coupled weight decay where AdamW is
      meant), tf ``no_half`` (``L2(l2=lambda)``: Keras's missing 1/2 forgotten).
      Noise floor (torch, jax, tf): ``nudge<k>``, the stock run from initial weights each moved
      one ulp of the run's dtype, up or down (signs drawn with seed k).
      Faults (torch): ``fault_<name>``, the stock run with one number of `FAULTS` perturbed.
      jax ``clip_eps`` (scheduled presets): stock optax with torch's ``clip_grad_norm_``
      formula (``||g|| + 1e-6``) in place of ``optax.clip_by_global_norm``.
      jax ``x64``: stock optax in float32 with ``jax_enable_x64`` on (only to measure its
      effect; every other float32 JAX run has it off, JAX's default).
    """

    config: Config
    framework: str
    variant: str = "stock"

    @property
    def name(self) -> str:
        return self.framework + ("" if self.variant == "stock" else f"[{self.variant}]")

    @property
    def needs(self) -> tuple[str, ...]:
        """The frameworks whose runs this one reads (exported configs, measured constants)."""
        if self.framework == "jax" and self.variant.startswith("keras"):
            return ("tf",)
        if self.framework == "jax" and self.variant.startswith("torch"):
            return ("torch",)
        if self.variant == "keras_f32":
            return ("tf",)
        return ()

    def source(self) -> Run | None:
        """The run whose exports this one reads."""
        c = self.config
        return {
            "keras": Run(c, "tf"),
            "keras_exact": Run(c, "tf"),
            "torch": Run(c, "torch"),
            "torch_wd": Run(c, "torch", "weight_decay"),
            "keras_f32": Run(c, "tf"),
        }.get(self.variant)

    def hyper(self) -> dict[str, Any]:
        """Every number the run needs, as plain numbers."""
        c = self.config
        p = PRESETS[c.preset]
        pen = penalty_spec(c.penalty, p.strengths)
        if self.variant == "no_half":  # the control: Keras's L2 given the textbook strength
            pen = {**pen, "keras": {**pen["keras"], "l2": pen["l2"]}}
        h = {
            "lr": p.lr[c.optimizer],
            "batch": p.batch,
            "epochs": p.epochs,
            "model": dataclasses.asdict(c.model),
            "b1": ADAM["b1"],
            "b2": ADAM["b2"],
            "eps": ADAM["eps"],
            "momentum": p.momentum,
            "nesterov": c.optimizer == "nesterov",
            "weight_decay": WEIGHT_DECAY if c.optimizer == "adamw" else 0.0,
            "penalty": pen,
            "nudge": int(self.variant[5:]) if self.variant.startswith("nudge") else 0,
            "reorder": int(self.variant[7:]) if self.variant.startswith("reorder") else 0,
            "fault": None,
            "schedule": dataclasses.asdict(p.schedule) if p.schedule else None,
        }
        if self.variant.startswith("fault_"):
            h = with_fault(h, self.variant[6:])
        return h


def member_variants(members: int) -> list[str]:
    """The noise-floor members of a framework, alternating `MEMBERS`' kinds: ``nudge1``,
    ``reorder1``, ``nudge2``, ``reorder2``, ..."""
    return [f"{MEMBERS[i % 2]}{i // 2 + 1}" for i in range(members)]


def faults_for(optimizer: str, penalty: str) -> list[str]:
    """The `FAULTS` that change a run of this optimizer and penalty."""
    out = ["strength"] if penalty != "none" or optimizer == "adamw" else []
    out += ["eps"] if optimizer in ("adam", "adamw") else ["momentum"]
    return [*out, "lr"]


def with_fault(h: dict[str, Any], name: str) -> dict[str, Any]:
    """``h`` with the fault ``name`` injected; ``h["fault"]`` records its relative size."""
    h = dict(h)
    if name == "strength":
        scale = 1 + FAULTS["strength"]
        pen = dict(h["penalty"])
        if pen["name"] == "none":  # AdamW: its decoupled decay is the strength
            h["weight_decay"] *= scale
        else:
            for k in ("l1", "l2", "group", "strength"):
                pen[k] *= scale
            pen["keras"] = {k: v * scale for k, v in pen["keras"].items()}
        h["penalty"] = pen
        size = FAULTS["strength"]
    elif name == "eps":
        h["eps"] *= 1 + FAULTS["eps"]
        size = FAULTS["eps"]
    elif name == "momentum":
        h["momentum"] += FAULTS["momentum"]
        size = FAULTS["momentum"] / (h["momentum"] - FAULTS["momentum"])
    elif name == "lr":  # one float32 ulp: a float64 ulp (1e-16) is below float64's own noise
        step = float(np.spacing(np.float32(h["lr"])))
        h["lr"] += step
        size = step / (h["lr"] - step)
    else:
        raise ValueError(f"fault: {name!r} is not one of {sorted(FAULTS)}")
    h["fault"] = {"name": name, "size": size}
    return h


def penalty_spec(name: str, strengths: dict[str, float] | None = None) -> dict[str, Any]:
    """The penalty as plain numbers every worker reads; no framework's converter is involved.

    ``l1 * sum|w| + l2 / 2 * sum w^2`` over every kernel (textbook units), plus
    ``group * sum_c ||K2[..., c]||_2`` for ``l2_group``. ``elastic_net`` is
    ``strength * (l1_ratio * |w| + (1 - l1_ratio) / 2 * w^2)``. ``keras`` holds the same
    penalty in Keras's units, written out from Keras's documented formulas:
    ``L1L2(l1=l1, l2=l2 / 2)`` (Keras's L2 has no 1/2). ``strengths`` replaces entries of
    `STRENGTHS` (a preset's own).
    """
    table = {**STRENGTHS, **(strengths or {})}
    spec: dict[str, Any] = {"name": name, "l1": 0.0, "l2": 0.0, "group": 0.0}
    spec |= {"strength": table.get(name, 0.0), "l1_ratio": None}
    if name == "l1":
        spec["l1"] = table["l1"]
    elif name in ("l2", "l2_group"):
        spec["l2"] = table[name]
    elif name == "elastic_net":
        s = table[name]
        spec |= {"l1_ratio": L1_RATIO, "l1": s * L1_RATIO, "l2": s * (1 - L1_RATIO)}
    if name == "l2_group":
        spec["group"] = GROUP
    spec["keras"] = None if name == "none" else {"l1": spec["l1"], "l2": spec["l2"] / 2}
    return spec


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two runs compared. kind: ``graded`` (must agree), ``control`` (must be reported as
    different: the measure can fail), ``info`` (shown with its named cause), ``floor`` (a
    nudged member vs its framework's run: the noise floor), ``fault`` (a run with one of
    `FAULTS` vs the correct run: float64 must tell them apart; float32 shows its resolution)."""

    a: Run
    b: Run
    kind: str


def build_runs(
    presets: list[str],
    optimizers: list[str],
    penalties: list[str],
    dtypes: list[str],
    frameworks: list[str],
    n_seeds: int | None = None,
    *,
    members: int = NUDGED,
    faults: bool = True,
) -> tuple[list[Run], list[Pair]]:
    """All runs and all pairs; a run whose framework (or source's) is absent is left out.

    ``members``: nudged runs per framework and configuration (the noise floor; 0: none, and
    float32 rows are then information); ``faults``: whether to inject `FAULTS`.
    """
    runs: list[Run] = []
    pairs: list[Pair] = []

    def ok(run: Run) -> bool:
        return run.framework in frameworks and all(f in frameworks for f in run.needs)

    for preset in presets:
        p = PRESETS[preset]
        for seed in p.seeds[:n_seeds]:
            for optimizer, penalty in p.cases:
                if optimizer not in optimizers or penalty not in penalties:
                    continue
                for dtype in dtypes:
                    cfg = Config(preset, optimizer, penalty, dtype, seed)
                    r, q = _config_pairs(cfg, p, members, faults)
                    runs += [x for x in r if ok(x)]
                    pairs += [x for x in q if ok(x.a) and ok(x.b)]
    return list(dict.fromkeys(runs)), list(dict.fromkeys(pairs))


def _config_pairs(
    cfg: Config, preset: Preset, members: int, faults: bool
) -> tuple[list[Run], list[Pair]]:
    R = lambda fw, v="stock": Run(cfg, fw, v)  # noqa: E731
    tf, torch, jax = R("tf"), R("torch"), R("jax")
    jk, jt = R("jax", "keras"), R("jax", "torch")
    f64 = cfg.dtype == "float64"
    first = cfg.seed == preset.seeds[0]  # controls, faults, floors: each preset's first seed
    if preset.schedule:
        pairs = [
            Pair(jt, torch, "graded"),  # torch's optimizer + StepLR converted, torch's clipping
            Pair(jk, tf, "graded"),  # Keras's optimizer (its schedule, global_clipnorm) converted
            # stock optax with torch's clipping formula: torch's algorithm, written in optax
            Pair(R("jax", "clip_eps"), torch, "graded"),
            # torch's clip_grad_norm_ divides by ||g|| + 1e-6, optax's clip_by_global_norm
            # by ||g||: the difference on the clipped steps (the row above is its measure)
            Pair(jax, torch, "info"),
            # Keras's SGD keeps the rate inside its momentum (m = mu*m - lr*g): once the rate
            # changes it is another algorithm than torch's and optax's (w -= lr*(mu*b + g))
            Pair(jax, tf, "info"),
            Pair(tf, torch, "info"),
        ]
        return _floors_and_faults(cfg, pairs, members, faults and first, first, reference=jt)
    o, pen = cfg.optimizer, cfg.penalty
    sgd = o in ("sgd", "nesterov")
    # Stock optax computes Adam's bias corrections 1 - b^t in the weights' dtype unless
    # jax_enable_x64 is on; torch in Python floats: in float32 shown with that cause
    x64_effect = not f64 and not sgd
    pairs = [
        Pair(jt, torch, "graded"),  # torch's exported optimizer through the converter
        Pair(jk, tf, "graded"),  # Keras's exported optimizer + regularizers, converted
        # stock optax vs stock torch.optim: the same algorithms
        Pair(jax, torch, "info" if x64_effect else "graded"),
    ]
    if sgd:
        # Keras SGD is the same algorithm; in float64 Keras-on-TF rounds its constants
        kind = "info" if f64 else "graded"
        pairs += [Pair(tf, torch, kind), Pair(jax, tf, kind)]
        if f64:  # TF vs torch directly: torch given the constants measured in Keras
            pairs.append(Pair(R("torch", "keras_f32"), tf, "graded"))
    else:  # Keras's Adam is "epsilon hat": not the algorithm of optax and torch
        control = not f64 and preset.adam_control
        pairs.append(Pair(tf, torch, "control" if control else "info"))
    if x64_effect and first:  # the measured cause: the same optax run with x64 on
        pairs.append(Pair(R("jax", "x64"), torch, "info"))
    if o == "adamw" and first:
        pairs.append(Pair(R("torch", "adam_l2"), torch, "control"))
    if pen in ("l2", "l2_group") and first:
        pairs.append(Pair(R("tf", "no_half"), tf, "control"))
    if pen == "l2" and o != "adamw":
        wd = R("torch", "weight_decay")
        pairs += [
            Pair(wd, jax, "info" if x64_effect else "graded"),
            Pair(R("jax", "torch_wd"), wd, "graded"),
        ]
    if preset.keras_backends:
        kj, kt = R("keras-jax"), R("keras-torch")
        exact = R("jax", "keras_exact") if f64 else jk
        # Keras on torch computes float64 matmuls in float32 (see _report.NOTES): shown only
        # Keras on torch: float64 runs float32 matmuls; its own AdamW rounds the decay factor
        # 1 - wd*lr to float32 (see _notes): both shown with their cause
        kt_kind = "info" if f64 or o == "adamw" else "graded"
        pairs += [Pair(exact, kj, "graded"), Pair(exact, kt, kt_kind)]
        if f64:  # the float32 rounding of Keras-on-TF, absent on the other backends
            pairs += [Pair(jk, kj, "info"), Pair(tf, kj, "info")]
    return _floors_and_faults(cfg, pairs, members, faults and first, first, reference=jax)


def _floors_and_faults(
    cfg: Config, pairs: list[Pair], members: int, faults: bool, floors: bool, *, reference: Run
) -> tuple[list[Run], list[Pair]]:
    """``pairs`` plus the noise-floor members and the faults; ``reference``: the JAX run a
    float64 fault is compared with, as a graded pair would see it (float32: torch's own)."""
    R = lambda fw, v="stock": Run(cfg, fw, v)  # noqa: E731
    if floors or cfg.dtype == "float32":  # float32 is graded by its own seed's floor
        for fw in FLOOR_FRAMEWORKS:
            if fw == "tf" and cfg.dtype not in TF_FLOOR_DTYPES:
                continue
            pairs += [Pair(R(fw, v), R(fw), "floor") for v in member_variants(members)]
    if faults:
        against = reference if cfg.dtype == "float64" else R("torch")
        pairs += [
            Pair(R("torch", f"fault_{f}"), against, "fault")
            for f in faults_for(cfg.optimizer, cfg.penalty)
        ]
    runs = [x for pr in pairs for x in (pr.a, pr.b)]
    return runs, pairs


# --------------------------------------------------------------------------------------------
# Data, initial weights, batch orders, folds


def load_data(dataset: str) -> dict[str, np.ndarray]:
    """Iris (standardized with the training part's statistics) or digits (pixels / 16, 8x8x1
    images for the CNN); stratified 80/20 split with a fixed seed."""
    from sklearn.datasets import load_digits, load_iris
    from sklearn.model_selection import train_test_split

    X, y = (load_iris if dataset == "iris" else load_digits)(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=0
    )
    if dataset == "iris":
        mean, std = X_train.mean(axis=0), X_train.std(axis=0)
        X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    else:
        X_train, X_test = X_train / 16.0, X_test / 16.0
    return {
        "X_train": X_train,
        "X_test": X_test,
        "y_train": y_train.astype(np.int64),
        "y_test": y_test.astype(np.int64),
    }


def initial_weights(model: Model, seed: int) -> dict[str, np.ndarray]:
    """Glorot-uniform kernels (Keras's fan-in/fan-out, conv receptive field included) and zero
    biases, drawn once in NumPy."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in model.shapes():
        if len(shape) == 1:
            out[name] = np.zeros(shape)
            continue
        field = int(np.prod(shape[:-2]))
        limit = np.sqrt(6.0 / (field * shape[-2] + field * shape[-1]))
        out[name] = rng.uniform(-limit, limit, size=shape)
    return out


def batch_orders(n: int, epochs: int, seed: int) -> np.ndarray:
    """One permutation of the training rows per epoch, shared by all frameworks."""
    rng = np.random.default_rng(seed + 1000)
    return np.stack([rng.permutation(n) for _ in range(epochs)])


# --------------------------------------------------------------------------------------------
# Cross-validation of the strength (the article's third question)


@dataclasses.dataclass(frozen=True)
class CV:
    """Choose the L2 strength of the Iris MLP by 5-fold cross-validation, in every framework.

    Full-batch SGD with momentum in float64 on the training rows. The strengths (textbook
    units), the learning rate and the momentum are powers of two (or sums of two), exactly
    representable in float32, so Keras-on-TF's float32 rounding of its constants is exact and
    the three frameworks train the same model. Score: minus the mean validation cross-entropy.
    """

    folds: int = 5
    strengths: tuple[float, ...] = tuple(2.0**k for k in range(-12, -2))  # 10 values
    lr: float = 0.25
    momentum: float = 0.875
    epochs: int = 150
    model: str = "iris_mlp"
    dtype: str = "float64"

    def spec(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "sizes": MODELS[self.model].sizes}


def cv_splitter(folds: int):
    """scikit-learn's ``StratifiedKFold(shuffle=True, random_state=0)``: the JAX side passes it
    to ``jr.select.cross_validate``; the others read the folds it made from the job."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)


def write_job(directory: Path, runs: list[Run], cv: CV | None, epochs: int | None = None) -> None:
    """``job.npz``: the data, initial weights, batch orders and folds every worker reads (its
    runs are in its task's file, `parity._tasks.write_tasks`)."""
    arrays: dict[str, np.ndarray] = {}
    for dataset in sorted({r.config.model.dataset for r in runs} | ({"iris"} if cv else set())):
        for k, v in load_data(dataset).items():
            arrays[f"{dataset}/{k}"] = v
    for c in sorted({r.config for r in runs}, key=dataclasses.astuple):
        key = f"{c.preset}/{c.seed}"
        if f"{key}/orders" in arrays:
            continue
        for k, v in initial_weights(c.model, c.seed).items():
            arrays[f"{key}/{k}"] = v
        n = len(arrays[f"{c.model.dataset}/y_train"])
        arrays[f"{key}/orders"] = batch_orders(n, epochs or PRESETS[c.preset].epochs, c.seed)
    if cv:
        for k, v in initial_weights(MODELS[cv.model], 0).items():
            arrays[f"cv/{k}"] = v
        for i, (tr, te) in enumerate(
            cv_splitter(cv.folds).split(arrays["iris/X_train"], arrays["iris/y_train"])
        ):
            arrays[f"cv/{i}/train"], arrays[f"cv/{i}/test"] = tr, te
    np.savez(directory / "job.npz", **arrays)
