"""PyTorch's and Keras's optimizers as optax transformations, operation for operation.

Each transformation below restates one ``torch.optim`` single-tensor update (the path torch
takes for CPU tensors) or one ``keras.optimizers`` ``update_step`` in the same order of
floating-point operations, so that in float64 the weights agree to rounding after hundreds of
steps. Scalars that torch computes in Python double (bias corrections, Adagrad's decayed rate)
are computed here in the parameters' dtype, the bias corrections as ``-expm1(t log beta)`` so
that float32 stays within 2e-7 of torch's double.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

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


class TorchState(NamedTuple):
    """State of a converted torch optimizer: the step count and torch's per-parameter buffers."""

    count: jax.Array
    buffers: Any  # a tuple of pytrees with the params' structure (momentum, exp_avg, ...)


def _lerp(start: jax.Array, end: jax.Array, weight: float) -> jax.Array:
    """``torch.lerp`` with a Python weight: two formulas, switched at 0.5, as torch does."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def _one_minus_power(beta: float, t: jax.Array) -> jax.Array:
    """``1 - beta ** t`` as ``-expm1(t log beta)`` with ``log beta`` taken in Python double.

    torch computes it in double; in float32 ``1 - float32(0.999) ** t`` is off by up to 2e-5
    relative (the rounding of 0.999), this by up to 2e-7 (measured for t <= 300).
    """
    return -jnp.expm1(t * jnp.asarray(math.log(beta), t.dtype))


def _transform(
    n_buffers: int, init_buffer: Callable[[int, jax.Array], jax.Array], step: Callable[..., Any]
) -> optax.GradientTransformation:
    """An optax transformation from a per-leaf ``step(count, g, p, *buffers) -> (u, *buffers)``."""

    def init(params: Any) -> TorchState:
        buffers = tuple(
            jax.tree.map(lambda p, k=k: init_buffer(k, p), params) for k in range(n_buffers)
        )
        return TorchState(jnp.zeros([], jnp.int32), buffers)

    def update(grads: Any, state: TorchState, params: Any = None) -> tuple[Any, TorchState]:
        if params is None:
            raise ValueError(
                "a converted torch optimizer needs the current params (weight decay reads "
                "them): call tx.update(grads, opt_state, params)."
            )
        count = state.count + 1
        out = jax.tree.map(
            lambda g, p, *bufs: step(count, g, p, *bufs), grads, params, *state.buffers
        )
        is_out = lambda x: type(x) is tuple  # noqa: E731 - not optax's MaskedNode (a NamedTuple)
        parts = [
            jax.tree.map(lambda o, k=k: o[k], out, is_leaf=is_out) for k in range(1 + n_buffers)
        ]
        return parts[0], TorchState(count, tuple(parts[1:]))

    # optax types the state as any pytree (OptState); ours is a TorchState
    return optax.GradientTransformation(init, update)  # pyright: ignore[reportArgumentType]


def torch_sgd(
    *, lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool,
    maximize: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.SGD``: coupled weight decay, momentum buffer (first step: the gradient)."""

    def step(count, g, p, buf):
        g = -g if maximize else g
        d = g + weight_decay * p if weight_decay else g
        if momentum:
            buf = jnp.where(count == 1, d, buf * momentum + (1 - dampening) * d)
            d = d + momentum * buf if nesterov else buf
        return -lr * d, buf

    return _transform(1, lambda k, p: jnp.zeros_like(p), step)


def torch_adam(
    *, lr: float, betas: Sequence[float], eps: float, weight_decay: float, amsgrad: bool,
    maximize: bool, decoupled_weight_decay: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.Adam`` / ``AdamW``: eps added to sqrt(v_hat), bias corrections per step."""
    b1, b2 = float(betas[0]), float(betas[1])

    def step(count, g, p, m, v, vmax):
        g = -g if maximize else g
        decay = None
        if weight_decay and decoupled_weight_decay:
            decay = p * (1 - lr * weight_decay) - p  # param.mul_(1 - lr * wd), before the step
        elif weight_decay:
            g = g + weight_decay * p
        m = _lerp(m, g, 1 - b1)
        v = v * b2 + (1 - b2) * g * g
        t = count.astype(p.dtype)
        step_size = lr / _one_minus_power(b1, t)
        bc2_sqrt = jnp.sqrt(_one_minus_power(b2, t))
        if amsgrad:
            vmax = jnp.maximum(vmax, v)
        denom = jnp.sqrt(vmax if amsgrad else v) / bc2_sqrt + eps
        u = (-step_size * m) / denom  # param.addcdiv_(m, denom, value=-step_size)
        return (u if decay is None else decay + u), m, v, vmax

    return _transform(3, lambda k, p: jnp.zeros_like(p), step)


def torch_rmsprop(
    *, lr: float, alpha: float, eps: float, weight_decay: float, momentum: float, centered: bool,
    maximize: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.RMSprop``: eps added to the root of the (centered) square average."""

    def step(count, g, p, sq, gavg, buf):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        sq = sq * alpha + (1 - alpha) * g * g
        if centered:
            gavg = _lerp(gavg, g, 1 - alpha)
            avg = jnp.sqrt(sq + -1 * gavg * gavg) + eps
        else:
            avg = jnp.sqrt(sq) + eps
        if momentum:
            buf = buf * momentum + g / avg
            return -lr * buf, sq, gavg, buf
        return (-lr * g) / avg, sq, gavg, buf

    return _transform(3, lambda k, p: jnp.zeros_like(p), step)


def torch_adagrad(
    *, lr: float, lr_decay: float, weight_decay: float, initial_accumulator_value: float,
    eps: float, maximize: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``torch.optim.Adagrad``: the rate decays as lr / (1 + (t - 1) lr_decay)."""

    def step(count, g, p, total):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        clr = lr / (1 + (count.astype(p.dtype) - 1) * lr_decay)
        total = total + 1 * g * g
        std = jnp.sqrt(total) + eps
        return (-clr * g) / std, total

    return _transform(1, lambda k, p: jnp.full_like(p, initial_accumulator_value), step)


_TORCH_BUILDERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "SGD": torch_sgd,
    "Adam": torch_adam,
    "AdamW": torch_adam,
    "RMSprop": torch_rmsprop,
    "Adagrad": torch_adagrad,
}
# keys torch keeps in a param group that change nothing in these updates (or are unsupported
# and checked below)
_TORCH_IGNORED = {"params", "foreach", "differentiable", "fused", "capturable", "initial_lr"}


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


def torch_transform(name: str, group: dict[str, Any]) -> optax.GradientTransformation:
    """One param group's optax transformation; unknown or unsupported settings raise."""
    hyper = {**_TORCH_DEFAULTS[name], **{k: v for k, v in group.items() if k not in _TORCH_IGNORED}}
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
    if name == "AdamW":
        hyper["decoupled_weight_decay"] = True
    _check_torch(name, hyper)
    return _TORCH_BUILDERS[name](**hyper)


def _check_torch(name: str, h: dict[str, Any]) -> None:
    """The checks torch's constructors make, so that a config torch refuses is refused here."""
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


# --------------------------------------------------------------------------------------------
# Keras 3


def _rounder(tf_rounding: bool) -> Callable[[float], float]:
    """Keras on TensorFlow turns Python constants it ``ops.cast``s into float32 tensors first."""
    return (lambda x: float(np.float32(x))) if tf_rounding else float


def _keras_decay(p: jax.Array, lr: float, wd: float | None) -> jax.Array | None:
    """Keras's decoupled ``variable - variable * wd * lr``, applied before the update step."""
    return None if not wd else (p - p * wd * lr) - p


def keras_sgd(
    *, learning_rate: float, momentum: float, nesterov: bool, weight_decay: float | None,
    tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.SGD``: ``m = m * momentum - g * lr``; the variable moves by ``m``."""
    r = _rounder(tf_rounding)
    lr, mom = learning_rate, r(momentum)

    def step(count, g, p, m):
        decay = _keras_decay(p, lr, weight_decay and r(weight_decay))
        if momentum:
            m = m * mom - g * lr
            u = m * mom - g * lr if nesterov else m
        else:
            u = -(g * lr)
        return (u if decay is None else decay + u), m

    return _transform(1, lambda k, p: jnp.zeros_like(p), step)


def keras_adam(
    *, learning_rate: float, beta_1: float, beta_2: float, epsilon: float, amsgrad: bool,
    weight_decay: float | None, tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.Adam`` / ``AdamW``: "epsilon hat" (eps added to sqrt(v), the bias
    corrections folded into the step size alpha)."""
    r = _rounder(tf_rounding)
    lr = learning_rate

    def step(count, g, p, m, v, vhat):
        decay = _keras_decay(p, lr, weight_decay and r(weight_decay))
        t = count.astype(p.dtype)
        b1p = jnp.power(jnp.asarray(r(beta_1), p.dtype), t)
        b2p = jnp.power(jnp.asarray(r(beta_2), p.dtype), t)
        alpha = lr * jnp.sqrt(1 - b2p) / (1 - b1p)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g * g - v) * (1 - beta_2)
        if amsgrad:
            vhat = jnp.maximum(vhat, v)
        u = -((m * alpha) / (jnp.sqrt(vhat if amsgrad else v) + epsilon))
        return (u if decay is None else decay + u), m, v, vhat

    return _transform(3, lambda k, p: jnp.zeros_like(p), step)


def keras_rmsprop(
    *, learning_rate: float, rho: float, momentum: float, epsilon: float, centered: bool,
    weight_decay: float | None, tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.RMSprop``: eps added inside the square root."""
    r = _rounder(tf_rounding)
    lr = learning_rate

    def step(count, g, p, vel, avg, mom):
        decay = _keras_decay(p, lr, weight_decay and r(weight_decay))
        vel = rho * vel + (1 - rho) * (g * g)
        if centered:
            avg = rho * avg + (1 - rho) * g
            denom = vel - avg * avg + epsilon
        else:
            denom = vel + epsilon
        inc = (lr * g) / jnp.sqrt(denom)
        if momentum > 0:
            mom = momentum * mom + inc
            inc = mom
        return (-inc if decay is None else decay + -inc), vel, avg, mom

    return _transform(3, lambda k, p: jnp.zeros_like(p), step)


def keras_adagrad(
    *, learning_rate: float, initial_accumulator_value: float, epsilon: float,
    weight_decay: float | None, tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.Adagrad``: the accumulator starts at 0.1 by default."""
    r = _rounder(tf_rounding)
    lr = learning_rate

    def step(count, g, p, acc):
        decay = _keras_decay(p, lr, weight_decay and r(weight_decay))
        acc = acc + g * g
        u = -((lr * g) / jnp.sqrt(acc + epsilon))
        return (u if decay is None else decay + u), acc

    init = r(initial_accumulator_value)  # keras.initializers.Constant: a float32 constant
    return _transform(1, lambda k, p: jnp.full_like(p, init), step)


_KERAS_DEFAULTS: dict[str, dict[str, Any]] = {
    "SGD": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": None},
    "Adam": {
        "learning_rate": 1e-3,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
        "weight_decay": None,
    },
    "RMSprop": {
        "learning_rate": 1e-3,
        "rho": 0.9,
        "momentum": 0.0,
        "epsilon": 1e-7,
        "centered": False,
        "weight_decay": None,
    },
    "Adagrad": {
        "learning_rate": 1e-3,
        "initial_accumulator_value": 0.1,
        "epsilon": 1e-7,
        "weight_decay": None,
    },
}
_KERAS_DEFAULTS["AdamW"] = {**_KERAS_DEFAULTS["Adam"], "weight_decay": 0.004}
_KERAS_BUILDERS = {
    "SGD": keras_sgd,
    "Adam": keras_adam,
    "AdamW": keras_adam,
    "RMSprop": keras_rmsprop,
    "Adagrad": keras_adagrad,
}
# base-optimizer settings that must be off (anything else would change the update)
_KERAS_OFF = {
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
_KERAS_IGNORED = {"name", "ema_momentum", "ema_overwrite_frequency"}
# keras's default `name` of each optimizer, for get_config() dicts
_KERAS_NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}
# Keras optimizers this module does not reproduce: their configs look like Adam's or SGD's
_KERAS_OTHERS = {"nadam", "adamax", "adadelta", "adafactor", "ftrl", "lion", "lamb", "muon"}


def _keras_default_name(config_name: Any) -> str:
    """Keras's automatic names: 'adam', 'adam_w', 'rm_sprop', 'sgd_1', 'adam_2' -> 'adamw'..."""
    return re.sub(r"_\d+$", "", str(config_name)).replace("_", "").lower()


def keras_transform(
    spec: Any, *, name: str | None, tf_rounding: bool
) -> optax.GradientTransformation:
    """The optax transformation of a Keras optimizer object, its serialize() or get_config()."""
    if hasattr(spec, "get_config") and not isinstance(spec, dict):
        kind = next((c.__name__ for c in type(spec).__mro__ if c.__name__ in _KERAS_BUILDERS), None)
        config = spec.get_config()
    elif isinstance(spec, dict) and "class_name" in spec:
        kind, config = spec["class_name"], dict(spec.get("config") or {})
    elif isinstance(spec, dict):
        kind = _KERAS_NAMES.get(_keras_default_name(spec.get("name", "")))
        config = dict(spec)
    else:
        raise TypeError(
            "spec must be a keras optimizer, keras.optimizers.serialize(opt) or opt.get_config(); "
            f"got {type(spec).__name__}."
        )
    seen = _keras_default_name(config.get("name", ""))
    if seen in _KERAS_OTHERS or (kind and name and name != kind):
        raise ValueError(
            f"from_keras_optimizer: the spec is a Keras {kind or seen!r} optimizer"
            + (f", not {name!r}" if name else "")
            + f"; supported: {sorted(_KERAS_BUILDERS)}."
        )
    kind = name or kind
    if kind not in _KERAS_BUILDERS:
        what = kind if kind else f"a config named {config.get('name')!r}"
        raise ValueError(
            f"from_keras_optimizer supports {sorted(_KERAS_BUILDERS)}; got {what} (pass name= "
            "for a get_config() dict with a custom name)."
        )
    for key, off in _KERAS_OFF.items():
        if config.get(key, off) not in (off, 1 if key == "gradient_accumulation_steps" else off):
            raise ValueError(f"from_keras_optimizer: {key}={config[key]!r} is not reproduced.")
    if isinstance(config.get("learning_rate"), dict):
        raise ValueError("from_keras_optimizer: learning-rate schedules are not reproduced.")
    hyper = {k: v for k, v in config.items() if k not in _KERAS_OFF and k not in _KERAS_IGNORED}
    hyper = {**_KERAS_DEFAULTS[kind], **hyper}
    unknown = set(hyper) - set(_KERAS_DEFAULTS[kind])
    if unknown:
        raise ValueError(f"from_keras_optimizer: unsupported {kind} settings {sorted(unknown)}.")
    hyper = {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in hyper.items()}
    return _KERAS_BUILDERS[kind](**hyper, tf_rounding=tf_rounding)
