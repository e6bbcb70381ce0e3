"""PyTorch's optimizers as optax transformations, operation for operation.

Each transformation below restates one ``torch.optim`` single-tensor update (the path torch
takes for CPU tensors; its foreach path computes the same values) in the same order of
floating-point operations, so that in float64 the weights agree to rounding after hundreds of
steps. Scalars that torch computes in Python double (Adam's ``lr / (1 - beta1**t)`` and
``(1 - beta2**t) ** 0.5``, AdamW's ``1 - lr * weight_decay``, Adagrad's decayed rate) enter its
tensor ops rounded once to the tensor's dtype; here they are computed in float64 under
``jax_enable_x64`` and otherwise in float-float arithmetic (``_float_float.py``), then rounded
once, so that float32 gets torch's very scalars with or without x64. The per-leaf machinery
(`per_leaf_transform`, `ConvertedState`) is shared with the Keras optimizers
(``_keras_optimizers.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import _float_float as ff

# torch's defaults, per optimizer (torch 2.x); a spec may leave any of them out
_TORCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "SGD": {
        "lr": 1e-3,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
        "maximize": False,
    },
    "Adam": {
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.0,
        "amsgrad": False,
        "maximize": False,
        "decoupled_weight_decay": False,
    },
    "RMSprop": {
        "lr": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
        "maximize": False,
    },
    "Adagrad": {
        "lr": 1e-2,
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
        "maximize": False,
    },
}
_TORCH_DEFAULTS["AdamW"] = {
    **_TORCH_DEFAULTS["Adam"],
    "weight_decay": 1e-2,
    "decoupled_weight_decay": True,
}


# a learning rate (or a momentum, a beta1): a number, or an optax schedule of the number of
# updates already made
Rate = float | Callable[[jax.Array], jax.Array]


class ConvertedState(NamedTuple):
    """State of a converted torch or Keras optimizer: the step count (torch's ``step``, Keras's
    ``iterations``) and the per-parameter buffers, in the order the update names them."""

    count: jax.Array
    buffers: Any  # a tuple of pytrees with the params' structure (momentum, exp_avg, ...)


def rate_at(rate: Rate, count: jax.Array, dtype: Any) -> Any:
    """The rate (or momentum) of the update that makes ``count`` updates: a number as is, a
    schedule at ``count - 1`` (the updates already made, as optax schedules count), cast to the
    params' dtype as torch casts its Python-double rate to the tensor's."""
    if callable(rate):
        return jnp.asarray(rate(count - 1), dtype)
    return rate


def _lerp(start: jax.Array, end: jax.Array, weight: Any) -> jax.Array:
    """``torch.lerp`` with a scalar weight: two formulas, switched at 0.5, as torch does."""
    if isinstance(weight, float):
        if weight < 0.5:
            return start + weight * (end - start)
        return end - (end - start) * (1 - weight)
    return jnp.where(
        weight < 0.5, start + weight * (end - start), end - (end - start) * (1 - weight)
    )


def _one_minus_power(beta: Any, t: jax.Array) -> jax.Array:
    """``1 - beta ** t`` in float64 as ``-expm1(t log beta)``, ``log beta`` taken in Python
    double (for a scheduled beta, in float64)."""
    log_beta = math.log(beta) if isinstance(beta, float) else jnp.log(beta)
    return -jnp.expm1(t * jnp.asarray(log_beta, t.dtype))


def _wide_rate(rate: Rate, count: jax.Array) -> Any:
    """The rate of the update that makes ``count`` updates, uncast: a Python float as is, a
    schedule's value in the default float dtype (float64 under x64)."""
    return rate(count - 1) if callable(rate) else rate


def _x64() -> bool:
    return jnp.result_type(float) == jnp.float64


def _float_float(x: Any) -> ff.FloatFloat:
    """A Python float (torch's double) or a traced float32 (a scheduled rate) as float-float."""
    return ff.constant(x) if isinstance(x, float) else ff.exact(x)


def _adam_scalars(lr: Any, beta1: Any, beta2: float, count: jax.Array, dtype: Any) -> Any:
    """torch's ``step_size = lr / (1 - beta1**t)`` and ``bias_correction2_sqrt = (1 -
    beta2**t) ** 0.5``, both Python doubles, each rounded once to ``dtype``."""
    if _x64():
        t = count.astype(jnp.float64)
        step_size = lr / _one_minus_power(beta1, t)
        return step_size.astype(dtype), jnp.sqrt(_one_minus_power(beta2, t)).astype(dtype)
    t = count.astype(jnp.float32)
    log_beta1 = ff.log_constant(beta1) if isinstance(beta1, float) else ff.log(beta1)
    step_size = ff.div(_float_float(lr), ff.one_minus_power(log_beta1, t))
    bc2_sqrt = ff.sqrt(ff.one_minus_power(ff.log_constant(beta2), t))
    return ff.to_float(step_size, dtype), ff.to_float(bc2_sqrt, dtype)


def _decay_factor(lr: Any, weight_decay: float, dtype: Any) -> Any:
    """AdamW's ``1 - lr * weight_decay`` (a Python double in torch), rounded once to ``dtype``."""
    if isinstance(lr, float):
        return 1 - lr * weight_decay  # a Python double already; enters the op rounded
    if _x64():
        return (1 - lr * weight_decay).astype(dtype)
    factor = ff.sub(ff.constant(1.0), ff.mul(ff.exact(lr), ff.constant(weight_decay)))
    return ff.to_float(factor, dtype)


def _adagrad_rate(lr: Any, lr_decay: float, count: jax.Array, dtype: Any) -> Any:
    """Adagrad's ``clr = lr / (1 + (t - 1) * lr_decay)`` (a Python double in torch), rounded
    once to ``dtype``."""
    if _x64():
        return (lr / (1 + (count.astype(jnp.float64) - 1) * lr_decay)).astype(dtype)
    steps_before = ff.exact((count - 1).astype(jnp.float32))
    denominator = ff.add(ff.constant(1.0), ff.mul(steps_before, ff.constant(float(lr_decay))))
    return ff.to_float(ff.div(_float_float(lr), denominator), dtype)


def per_leaf_transform(
    n_buffers: int,
    init_buffer: Callable[[int, jax.Array], jax.Array],
    step: Callable[..., Any],
    *,
    scalars: Callable[[jax.Array, Any], Any] | None = None,
) -> optax.GradientTransformation:
    """An optax transformation from a per-leaf ``step(count, g, p, *buffers) -> (u, *buffers)``.

    With ``scalars``, ``step`` gets ``scalars(count, p.dtype)`` in place of ``count``, computed
    once per update and dtype: the float-float scalars are a few hundred ops behind optimization
    barriers that XLA does not merge, so a copy per leaf compiled anew for each leaf (a 6-leaf
    network compiled 2.4x longer than one leaf).
    """

    def init(params: Any) -> ConvertedState:
        buffers = tuple(
            jax.tree.map(lambda p, k=k: init_buffer(k, p), params) for k in range(n_buffers)
        )
        return ConvertedState(jnp.zeros([], jnp.int32), buffers)

    def update(grads: Any, state: ConvertedState, params: Any = None) -> tuple[Any, ConvertedState]:
        if params is None:
            raise ValueError(
                "a converted optimizer needs the current params (weight decay reads "
                "them): call tx.update(grads, opt_state, params)."
            )
        count = state.count + 1
        if not jax.tree.leaves(grads):  # a group that holds no leaf (optax.masked): no step
            return grads, ConvertedState(count, state.buffers)
        per_dtype: dict[Any, Any] = {}

        def first_argument(dtype: Any) -> Any:
            if scalars is None:
                return count
            if dtype not in per_dtype:
                per_dtype[dtype] = scalars(count, dtype)
            return per_dtype[dtype]

        out = jax.tree.map(
            lambda g, p, *bufs: step(first_argument(p.dtype), g, p, *bufs),
            grads,
            params,
            *state.buffers,
        )
        # a tree of (u, *buffers) tuples into a tuple of trees; transposing by the grads' own
        # structure leaves the params' tuples (eqx.nn.MLP's layers) alone
        updates, *buffers = jax.tree.transpose(
            jax.tree.structure(grads), jax.tree.structure((0,) * (1 + n_buffers)), out
        )
        return updates, ConvertedState(count, tuple(buffers))

    # optax types the state as any pytree (OptState); ours is a ConvertedState
    return optax.GradientTransformation(init, update)  # pyright: ignore[reportArgumentType]


def torch_sgd(
    *, lr: Rate, momentum: Rate, dampening: float, weight_decay: float, nesterov: bool,
    maximize: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.SGD``: coupled weight decay, momentum buffer (first step: the gradient)."""

    def step(count, g, p, buf):
        lr_t, mom = rate_at(lr, count, p.dtype), rate_at(momentum, count, p.dtype)
        g = -g if maximize else g
        d = g + weight_decay * p if weight_decay else g
        if callable(momentum) or momentum:
            buf = jnp.where(count == 1, d, buf * mom + (1 - dampening) * d)
            d = d + mom * buf if nesterov else buf
        return -lr_t * d, buf

    return per_leaf_transform(1, lambda k, p: jnp.zeros_like(p), step)


def torch_adam(
    *, lr: Rate, betas: Sequence[Any], eps: float, weight_decay: float, amsgrad: bool,
    maximize: bool, decoupled_weight_decay: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.Adam`` / ``AdamW``: eps added to sqrt(v_hat), bias corrections per step."""
    beta1: Any = betas[0] if callable(betas[0]) else float(betas[0])  # a Rate
    b2 = float(betas[1])

    def scalars(count, dtype):
        lr_t, b1 = _wide_rate(lr, count), _wide_rate(beta1, count)
        factor = None
        if weight_decay and decoupled_weight_decay:
            factor = _decay_factor(lr_t, weight_decay, dtype)
        return b1, factor, _adam_scalars(lr_t, b1, b2, count, dtype)

    def step(per_update, g, p, m, v, vmax):
        b1, factor, (step_size, bc2_sqrt) = per_update
        g = -g if maximize else g
        decay = None
        if factor is not None:  # param.mul_(1 - lr * wd), before the step
            decay = p * factor - p
        elif weight_decay:
            g = g + weight_decay * p
        m = _lerp(m, g, 1 - b1 if isinstance(b1, float) else (1 - b1).astype(p.dtype))
        v = v * b2 + (1 - b2) * g * g
        if amsgrad:
            vmax = jnp.maximum(vmax, v)
        denom = jnp.sqrt(vmax if amsgrad else v) / bc2_sqrt + eps
        u = (-step_size * m) / denom  # param.addcdiv_(m, denom, value=-step_size)
        return (u if decay is None else decay + u), m, v, vmax

    return per_leaf_transform(3, lambda k, p: jnp.zeros_like(p), step, scalars=scalars)


def torch_rmsprop(
    *, lr: Rate, alpha: float, eps: float, weight_decay: float, momentum: Rate, centered: bool,
    maximize: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.RMSprop``: eps added to the root of the (centered) square average."""

    def step(count, g, p, sq, gavg, buf):
        lr_t, mom = rate_at(lr, count, p.dtype), rate_at(momentum, count, p.dtype)
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        sq = sq * alpha + (1 - alpha) * g * g
        if centered:
            gavg = _lerp(gavg, g, 1 - alpha)
            avg = jnp.sqrt(sq + -1 * gavg * gavg) + eps
        else:
            avg = jnp.sqrt(sq) + eps
        if callable(momentum) or momentum:
            buf = buf * mom + g / avg
            return -lr_t * buf, sq, gavg, buf
        return (-lr_t * g) / avg, sq, gavg, buf

    return per_leaf_transform(3, lambda k, p: jnp.zeros_like(p), step)


def torch_adagrad(
    *, lr: Rate, lr_decay: float, weight_decay: float, initial_accumulator_value: float,
    eps: float, maximize: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.Adagrad``: the rate decays as lr / (1 + (t - 1) lr_decay)."""

    def rate(count, dtype):
        return _adagrad_rate(_wide_rate(lr, count), lr_decay, count, dtype)

    def step(clr, g, p, total):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        total = total + 1 * g * g
        std = jnp.sqrt(total) + eps
        return (-clr * g) / std, total

    init = initial_accumulator_value
    return per_leaf_transform(1, lambda k, p: jnp.full_like(p, init), step, scalars=rate)


_TORCH_BUILDERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "SGD": torch_sgd,
    "Adam": torch_adam,
    "AdamW": torch_adam,
    "RMSprop": torch_rmsprop,
    "Adagrad": torch_adagrad,
}
# keys torch keeps in a param group that change nothing in these updates (or are unsupported
# and checked below)
_TORCH_IGNORED = {"params", "foreach", "differentiable", "fused", "capturable"}
# keys torch's schedulers write into the param groups (read by the schedule, not the update)
_SCHEDULER_KEYS = {"initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"}


def torch_name(spec: Any, name: str | None) -> str:
    """The torch optimizer's class name, from the object, ``name=``, or a param group's keys."""
    if isinstance(spec, dict) and "param_groups" in spec:
        spec = spec["param_groups"]
    if hasattr(spec, "param_groups"):
        found = next(
            (c.__name__ for c in type(spec).__mro__ if c.__name__ in _TORCH_BUILDERS), None
        )
        if found is None:
            raise ValueError(
                f"from_torch_optimizer supports {sorted(_TORCH_BUILDERS)}; got "
                f"{type(spec).__name__}."
            )
        if name is not None and name != found:
            raise ValueError(f"name={name!r} contradicts the optimizer, a torch {found}.")
        return found
    if name is not None:
        if name not in _TORCH_BUILDERS:
            raise ValueError(f"name must be one of {sorted(_TORCH_BUILDERS)}; got name={name!r}.")
        return name
    group = spec[0] if isinstance(spec, list | tuple) and spec else spec
    group = group if isinstance(group, dict) else {}
    keys = set(group)
    if {"momentum", "dampening"} <= keys:
        return "SGD"
    if "betas" in keys and "decoupled_weight_decay" in keys:  # torch >= 2.6 writes it
        return "AdamW" if group["decoupled_weight_decay"] else "Adam"
    if {"alpha", "centered"} <= keys:
        return "RMSprop"
    if "lr_decay" in keys:
        return "Adagrad"
    raise ValueError(
        "from_torch_optimizer: pass name='SGD' | 'Adam' | 'AdamW' | 'RMSprop' | 'Adagrad' when "
        f"the spec's keys do not say which optimizer it is; got keys {sorted(keys)}."
    )


def torch_groups(spec: Any) -> list[dict[str, Any]]:
    """The param groups' hyperparameters: from the optimizer, a state_dict list, or one dict.

    torch's Adagrad fills every group's sums from the constructor's initial_accumulator_value
    (``opt.defaults``), not the group's own: read from the optimizer, groups get that value.
    """
    if hasattr(spec, "param_groups"):
        groups = [dict(g) for g in spec.param_groups]
        init = getattr(spec, "defaults", {}).get("initial_accumulator_value")
        if init is not None:
            groups = [{**g, "initial_accumulator_value": init} for g in groups]
        return groups
    if isinstance(spec, dict) and "param_groups" in spec:  # a whole state_dict()
        return torch_groups(spec["param_groups"])
    if isinstance(spec, dict):
        return [dict(spec)]
    if isinstance(spec, list | tuple) and spec and all(isinstance(g, dict) for g in spec):
        return [dict(g) for g in spec]
    raise TypeError(
        "spec must be a torch.optim optimizer (not a learning-rate scheduler), its "
        "state_dict() or state_dict()['param_groups'] list, or a dict of hyperparameters; got "
        f"{type(spec).__name__}."
    )


def torch_transform(
    name: str, group: dict[str, Any], *, lr: Rate | None = None, momentum: Rate | None = None
) -> optax.GradientTransformation:
    """One param group's optax transformation; unknown or unsupported settings raise.

    ``lr``, ``momentum``: the group's schedules, when a scheduler drives them (``momentum`` is
    Adam's beta1, as OneCycleLR cycles it); a group that shows a scheduler
    (torch writes ``initial_lr`` into the groups it drives) without one raises.
    """
    if lr is None and "initial_lr" in group:
        raise ValueError(
            "from_torch_optimizer: the param groups carry 'initial_lr': a torch learning-rate "
            "scheduler drives this optimizer, and converting without it would train at the "
            f"current lr={group.get('lr')!r} forever. Pass scheduler=<the scheduler> to "
            "reproduce its rates (or drop 'initial_lr' from a state_dict's groups to mean a "
            "constant rate)."
        )
    ignored = _TORCH_IGNORED | (_SCHEDULER_KEYS if lr is not None else set())
    hyper = {**_TORCH_DEFAULTS[name], **{k: v for k, v in group.items() if k not in ignored}}
    unknown = set(hyper) - set(_TORCH_DEFAULTS[name])
    if unknown:
        raise ValueError(f"from_torch_optimizer: unsupported {name} settings {sorted(unknown)}.")
    if group.get("capturable") or group.get("differentiable"):
        raise ValueError(
            "from_torch_optimizer: capturable/differentiable modes are not reproduced."
        )
    for key, value in hyper.items():
        if isinstance(value, jax.Array) or hasattr(value, "item"):
            hyper[key] = value.item()  # a 0-d tensor lr
    if isinstance(hyper.get("betas"), list | tuple):  # torch also takes 0-d tensor betas
        hyper["betas"] = tuple(b.item() if hasattr(b, "item") else b for b in hyper["betas"])
    if name == "AdamW":
        hyper["decoupled_weight_decay"] = True
    _check_torch(name, hyper)
    if lr is not None:
        hyper["lr"] = lr
    if momentum is not None and "betas" in hyper:
        hyper["betas"] = (momentum, hyper["betas"][1])
    elif momentum is not None:
        hyper["momentum"] = momentum
    return _TORCH_BUILDERS[name](**hyper)


def _check_torch(name: str, h: dict[str, Any]) -> None:
    """The checks torch's constructors make, so that a config torch refuses is refused here."""
    numbers = [
        (k, h[k]) for k in _TORCH_DEFAULTS[name] if isinstance(_TORCH_DEFAULTS[name][k], float)
    ]
    numbers += [("betas", b) for b in h.get("betas", ())]
    for key, value in numbers:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(
                f"from_torch_optimizer: {name}'s {key} must be a number; got {key}="
                f"{h[key]!r} ({type(value).__name__})."
            )
    for key in ("lr", "eps", "weight_decay", "momentum", "lr_decay", "initial_accumulator_value"):
        if key in h and not h[key] >= 0:
            raise ValueError(
                f"from_torch_optimizer: {name} needs {key} >= 0; got {key}={h[key]!r}."
            )
    if "betas" in h and not all(0 <= b < 1 for b in h["betas"]):
        raise ValueError(f"from_torch_optimizer: betas must be in [0, 1); got {h['betas']!r}.")
    if name == "SGD" and h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
        raise ValueError(
            "from_torch_optimizer: torch's nesterov SGD needs momentum > 0 and dampening = 0; "
            f"got momentum={h['momentum']!r}, dampening={h['dampening']!r}."
        )
