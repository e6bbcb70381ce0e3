"""PyTorch's and Keras's learning-rate schedules as closed forms: torch's of the scheduler's
epoch, Keras's of the optimizer's ``iterations``.

torch steps most schedulers *chainably*: each ``get_lr`` multiplies the group's current rate by
a factor (``lr * gamma`` at each of StepLR's steps, a ratio of cosines for CosineAnnealingLR).
Every chain below telescopes to torch's own ``_get_closed_form_lr``, which is what is computed
here: equal to torch's chained rate to rounding (the chain's error grows by about one ulp per
step and is reset wherever the chain hits a fixed value, e.g. ``eta_min`` at each cosine
half-period). Each schedule is written once against an array namespace ``xp`` (NumPy in float64
for the checks at conversion, ``jax.numpy`` under ``jit``): the same formula, two evaluators.
Keras's schedules are already closed forms; they are restated op for op below in the dtype Keras
computes them in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# ``epoch -> rate`` for one param group, in the array namespace ``xp`` (numpy or jax.numpy)
EpochRate = Callable[[Any, Any], Any]

TORCH_SCHEDULERS = (
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "ConstantLR",
    "OneCycleLR",
    "PolynomialLR",
    "SequentialLR",
)


def _number(x: Any) -> float:
    """A Python float from a float or a 0-d tensor (torch allows tensor learning rates)."""
    return float(x.item()) if hasattr(x, "item") else float(x)


def scheduler_kind(scheduler: Any) -> str:
    """The torch scheduler's class name among `TORCH_SCHEDULERS`, or a ValueError."""
    names = [c.__name__ for c in type(scheduler).__mro__]
    kind = next((n for n in names if n in TORCH_SCHEDULERS), None)
    if kind is None or names[0] not in TORCH_SCHEDULERS:  # a subclass may change get_lr
        raise ValueError(
            f"scheduler: {type(scheduler).__name__} is not reproduced; supported: "
            f"{', '.join(TORCH_SCHEDULERS)} (SequentialLR of these). Schedulers driven by a "
            "metric (ReduceLROnPlateau) or a Python function (LambdaLR) have no closed form."
        )
    return kind


def epoch_rates(scheduler: Any, groups: list[dict[str, Any]]) -> list[EpochRate]:
    """One ``(xp, epoch) -> rate`` per param group: torch's rate after ``epoch`` scheduler steps.

    ``groups`` are the optimizer's param-group dicts (OneCycleLR keeps its rates there).
    """
    kind = scheduler_kind(scheduler)
    s = scheduler
    if kind == "SequentialLR":
        if any(getattr(sub, "cycle_momentum", False) for sub in s._schedulers):
            raise ValueError(
                "scheduler: a SequentialLR whose OneCycleLR cycles the momentum (it stays where "
                "that phase left it afterwards) is not reproduced; build the OneCycleLR with "
                "cycle_momentum=False."
            )
        parts = [epoch_rates(sub, groups) for sub in s._schedulers]
        milestones = [int(m) for m in s._milestones]
        return [_sequential([p[i] for p in parts], milestones) for i in range(len(groups))]
    if kind == "OneCycleLR":
        return [_one_cycle(s, g, "lr") for g in groups]
    bases = [_number(b) for b in s.base_lrs]
    return [_closed_form(kind, s, base) for base in bases]


def _closed_form(kind: str, s: Any, base: float) -> EpochRate:
    """torch's ``_get_closed_form_lr`` of one group, as a function of the epoch."""
    if kind == "StepLR":
        gamma, size = float(s.gamma), int(s.step_size)
        return lambda xp, e: base * xp.power(gamma, (e // size) * 1.0)
    if kind == "MultiStepLR":
        gamma, miles = float(s.gamma), np.asarray(sorted(s.milestones.elements()), np.int64)
        return lambda xp, e: (
            base * xp.power(gamma, xp.searchsorted(xp.asarray(miles), e, side="right") * 1.0)
        )
    if kind == "ExponentialLR":
        gamma = float(s.gamma)
        return lambda xp, e: base * xp.power(gamma, e * 1.0)
    if kind == "CosineAnnealingLR":
        t_max, eta_min = int(s.T_max), float(s.eta_min)
        return lambda xp, e: eta_min + (base - eta_min) * (1 + xp.cos(math.pi * e / t_max)) / 2
    if kind == "LinearLR":
        start, end, total = float(s.start_factor), float(s.end_factor), int(s.total_iters)
        return lambda xp, e: base * (start + (end - start) * xp.minimum(total, e) / total)
    if kind == "ConstantLR":
        factor, total = float(s.factor), int(s.total_iters)
        return lambda xp, e: xp.where(e < total, base * factor, base)
    # PolynomialLR, its 1 - min(T, e) / T as (T - min(T, e)) / T: XLA may turn the division by
    # a constant into a product by its reciprocal, and 1 - 1.0000000000000002 < 0 gives a NaN
    total, power = int(s.total_iters), float(s.power)
    return lambda xp, e: base * xp.power((total - xp.minimum(total, e)) / total, power)


def epoch_momenta(scheduler: Any, groups: list[dict[str, Any]]) -> list[EpochRate] | None:
    """OneCycleLR's momentum (SGD's and RMSprop's ``momentum``, Adam's beta1) per param group,
    when it cycles it (``cycle_momentum=True``, its default); else None."""
    if scheduler_kind(scheduler) != "OneCycleLR" or not scheduler.cycle_momentum:
        return None
    return [_one_cycle(scheduler, g, "momentum") for g in groups]


def _one_cycle(s: Any, group: dict[str, Any], what: str) -> EpochRate:
    """OneCycleLR's phases (not chainable: torch computes each step's rate from the step) for
    the rate (``what="lr"``) or the momentum."""
    keys = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
    rates = {k: _number(group[k]) for k in keys if k in group}
    phases = [
        (float(p["end_step"]), p[f"start_{what}"], p[f"end_{what}"]) for p in s._schedule_phases
    ]
    total, cos = int(s.total_steps), s._anneal_func_type == "cos"

    def rate(xp: Any, e: Any) -> Any:
        out, start = xp.nan, 0.0
        # later phases first, so that the earliest phase whose end_step >= e wins, as in torch
        bounds = [start] + [end for end, _, _ in phases[:-1]]
        for i in reversed(range(len(phases))):
            end, lo, hi = phases[i]
            a, b = rates[lo], rates[hi]
            pct = (e - bounds[i]) / (end - bounds[i])
            value = (b + (a - b) / 2.0 * (xp.cos(math.pi * pct) + 1)) if cos else (b - a) * pct + a
            take = (e <= end) | (i == len(phases) - 1)
            out = xp.where(take, value, out)
        return xp.where(e > total, xp.nan, out)  # torch raises past total_steps

    return rate


def _sequential(parts: list[EpochRate], milestones: list[int]) -> EpochRate:
    """SequentialLR: the i-th scheduler from its own epoch 0 at the (i-1)-th milestone."""
    starts = [0, *milestones]

    def rate(xp: Any, e: Any) -> Any:
        out = parts[0](xp, e)
        for start, part in zip(starts[1:], parts[1:], strict=True):
            out = xp.where(e >= start, part(xp, e - start), out)
        return out

    return rate


def rate_at(rate: EpochRate, epoch: int) -> float:
    """The rate at a concrete epoch, in NumPy float64 (for the checks at conversion)."""
    with np.errstate(all="ignore"):
        return float(rate(np, np.int64(epoch)))


def jax_schedule(
    rate: EpochRate, *, epoch: int, count: int, every: int, phase: int = 0
) -> Callable[[Any], Any]:
    """The optax schedule of the updates already made, ``n``: ``rate(epoch + (n - count +
    phase) // every)``, the scheduler at ``epoch`` when ``count`` updates were made, ``phase``
    of them since its last step, and stepped once per ``every`` updates; in the default float
    dtype."""

    def schedule(n: Any) -> Any:
        # the epoch as a float of the default dtype: integer arithmetic in JAX would promote the
        # rate's divisions to float32 even under float64 (float32 counts exactly to 2**24 steps)
        e = epoch + (jnp.asarray(n) - count + phase) // every
        return rate(jnp, jnp.asarray(e, jnp.result_type(float)))

    return schedule


def scheduler_phase(*, epoch: int, count: int, every: int, before: int, known: bool) -> int:
    """The updates made since the scheduler's last step, checked against its ``last_epoch``.

    With the optimizer's step count ``known``, a scheduler stepped once per ``every`` updates
    after ``before`` updates made without it is at ``epoch = (count - before) // every``; any
    other epoch means ``every`` (or ``before``) is not how it was stepped, and the rates would
    drift from torch's, so it raises. Unknown (SGD keeps no count, or no ``params=``): 0, the
    conversion at an epoch's end that the docs ask for.
    """
    if not known:
        return 0
    phase = count - before - epoch * every
    if 0 <= phase < every:
        return phase
    per_epoch = (count - before) / epoch if epoch else None
    hint = (
        f" (once per {per_epoch:g} updates here)"
        if per_epoch is not None and per_epoch == int(per_epoch)
        else ""
    )
    raise ValueError(
        f"scheduler: the optimizer has made {count} updates ({before} of them before the "
        f"scheduler, updates_before_scheduler={before}), but the scheduler is at last_epoch="
        f"{epoch}: stepped once per updates_per_scheduler_step={every} updates it would be at "
        f"{(count - before) // every}. Pass updates_per_scheduler_step=<optimizer steps per "
        f"scheduler.step()>{hint}, and updates_before_scheduler=<optimizer steps made before "
        "the scheduler was created> if it was created (or resumed with last_epoch=) later."
    )


def _momentum_of(group: dict[str, Any]) -> float:
    return _number(group["betas"][0] if "betas" in group else group["momentum"])


def check_position(
    scheduler: Any,
    rates: list[EpochRate],
    groups: list[dict[str, Any]],
    momenta: list[EpochRate] | None = None,
) -> int:
    """The scheduler's epoch, checked against the optimizer's current rates.

    A rate that differs from the closed form means the chain was broken: the rate was set by
    hand, or another scheduler also drives it. Reproducing the closed
    form then would silently change the training, so it raises.
    """
    epoch = int(scheduler.last_epoch)
    for i, (rate, group) in enumerate(zip(rates, groups, strict=True)):
        lr, want = _number(group["lr"]), rate_at(rate, epoch)
        if not math.isclose(lr, want, rel_tol=1e-9, abs_tol=0.0):
            raise ValueError(
                f"scheduler: param group {i}'s lr is {lr!r}, but {type(scheduler).__name__} at "
                f"last_epoch={epoch} gives {want!r}: the rate was changed outside this "
                "scheduler (by hand, or by a second scheduler), which is not reproduced. Pass "
                "the one scheduler that sets the rate."
            )
    for i, (momentum, group) in enumerate(
        zip(momenta or [None] * len(groups), groups, strict=True)
    ):
        if momentum is None:
            continue
        got, want = _momentum_of(group), rate_at(momentum, epoch)
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=0.0):
            raise ValueError(
                f"scheduler: param group {i}'s momentum is {got!r}, but OneCycleLR at "
                f"last_epoch={epoch} gives {want!r}: it was changed outside the scheduler, "
                "which is not reproduced."
            )
    return epoch


# --------------------------------------------------------------------------------------------
# Keras 3: ``keras.optimizers.schedules``, functions of the optimizer's ``iterations`` computed
# in the dtype of the initial rate's tensor (floatx on the JAX backend), restated op for op

KERAS_SCHEDULES = (
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
)


def keras_schedule(serialized: dict[str, Any], *, float32: bool) -> Callable[[Any], Any]:
    """The optax schedule (of ``iterations``, the updates already made) of a serialized Keras
    learning-rate schedule (``opt.get_config()["learning_rate"]``); others raise. ``float32``:
    computed in float32, as Keras on TensorFlow does (its Python floats become float32
    tensors) whatever the weights' dtype; else in the default float dtype (floatx on JAX)."""
    kind, c = serialized.get("class_name"), dict(serialized.get("config") or {})
    if kind not in KERAS_SCHEDULES:
        raise ValueError(
            f"from_keras_optimizer: the learning-rate schedule {kind!r} is not reproduced; "
            f"supported: {', '.join(KERAS_SCHEDULES)}."
        )
    dtype = jnp.float32 if float32 else jnp.result_type(float)
    # each Python number becomes a tensor of that dtype where Keras converts or casts it
    return _KERAS_RATES[kind](c, lambda x: jnp.asarray(x, dtype))


def _div(a: Any, b: Any) -> Any:
    """``a / b`` rounded once, as TensorFlow and NumPy divide: XLA turns a division by a
    constant scalar into a product by its reciprocal (off by an ulp half the time)."""
    return a / jax.lax.optimization_barrier(b)


def _exponential(c: dict[str, Any], t: Callable[[Any], Any]) -> Callable[[Any], Any]:
    lr0, steps, decay = t(c["initial_learning_rate"]), t(c["decay_steps"]), t(c["decay_rate"])

    def rate(step: Any) -> Any:
        p = _div(t(step), steps)
        return lr0 * jnp.power(decay, jnp.floor(p) if c.get("staircase") else p)

    return rate


def _piecewise(c: dict[str, Any], t: Callable[[Any], Any]) -> Callable[[Any], Any]:
    bounds, values = list(c["boundaries"]), [t(v) for v in c["values"]]

    def rate(step: Any) -> Any:
        out = jnp.where(step <= bounds[0], values[0], values[-1])
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1], strict=True):
            out = jnp.where((step > low) & (step <= high), value, out)
        return out

    return rate


def _polynomial(c: dict[str, Any], t: Callable[[Any], Any]) -> Callable[[Any], Any]:
    lr0, end = t(c["initial_learning_rate"]), t(c.get("end_learning_rate", 1e-4))
    power, steps = t(c.get("power", 1.0)), t(c["decay_steps"])

    def rate(step: Any) -> Any:
        s, decay_steps = t(step), steps
        if c.get("cycle"):
            decay_steps = steps * jnp.where(s == 0, t(1.0), jnp.ceil(_div(s, steps)))
        else:
            s = jnp.minimum(s, steps)
        return (lr0 - end) * jnp.power(1 - _div(s, decay_steps), power) + end

    return rate


def _inverse_time(c: dict[str, Any], t: Callable[[Any], Any]) -> Callable[[Any], Any]:
    lr0, steps, decay = t(c["initial_learning_rate"]), t(c["decay_steps"]), t(c["decay_rate"])

    def rate(step: Any) -> Any:
        p = _div(t(step), steps)
        return _div(lr0, t(1) + decay * (jnp.floor(p) if c.get("staircase") else p))

    return rate


def _cosine(c: dict[str, Any], t: Callable[[Any], Any]) -> Callable[[Any], Any]:
    lr0, steps, alpha = t(c["initial_learning_rate"]), t(c["decay_steps"]), c.get("alpha", 0.0)
    target, warmup = c.get("warmup_target"), t(c.get("warmup_steps") or 0)

    def decay(step: Any, start: Any) -> Any:
        # keras.ops.cos returns float32 for float64 input on the JAX backend (measured): the
        # whole decayed factor is float32 there, as everything is on TensorFlow
        angle = (t(math.pi) * _div(step, steps)).astype(jnp.float32)
        cosine = 0.5 * (1.0 + jnp.cos(angle))
        return start * ((1 - float(alpha)) * cosine + float(alpha))

    def rate(step: Any) -> Any:
        s = t(step)
        if target is None:
            return decay(jnp.minimum(s, steps), lr0)
        goal = t(target)
        s = jnp.minimum(s, steps + warmup)
        warm = (goal - lr0) * _div(s, warmup) + lr0
        return jnp.where(s < warmup, warm, decay(s - warmup, goal))

    return rate


_KERAS_RATES: dict[str, Callable[..., Callable[[Any], Any]]] = {
    "ExponentialDecay": _exponential,
    "PiecewiseConstantDecay": _piecewise,
    "PolynomialDecay": _polynomial,
    "InverseTimeDecay": _inverse_time,
    "CosineDecay": _cosine,
}
