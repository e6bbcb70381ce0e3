"""Keras 3's optimizers as optax transformations, operation for operation.

Each transformation restates one ``keras.optimizers`` ``update_step`` (with the base optimizer's
decoupled weight decay before it) in the same order of floating-point operations, so that in
float64 the weights agree to rounding after hundreds of steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._optimizers import per_leaf_transform


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

    return per_leaf_transform(1, lambda k, p: jnp.zeros_like(p), step)


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

    return per_leaf_transform(3, lambda k, p: jnp.zeros_like(p), step)


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

    return per_leaf_transform(3, lambda k, p: jnp.zeros_like(p), step)


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
    return per_leaf_transform(1, lambda k, p: jnp.full_like(p, init), step)


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
