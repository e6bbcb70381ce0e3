"""Keras 3's optimizers as optax transformations, operation for operation.

Each transformation restates one ``keras.optimizers`` ``update_step`` (with the base optimizer's
decoupled weight decay before it) in the same order of floating-point operations, so that in
float64 the weights agree to rounding after hundreds of steps.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._optimizer_state import keras_iterations, keras_leaf_states, resuming, with_structure
from ._optimizers import Rate, per_leaf_transform, rate_at
from ._schedules import KERAS_SCHEDULES, keras_schedule


def _rounder(tf_rounding: bool) -> Callable[[float], float]:
    """Keras on TensorFlow turns Python constants it ``ops.cast``s into float32 tensors first."""
    return (lambda x: float(np.float32(x))) if tf_rounding else float


def _keras_decay(p: jax.Array, lr: Any, wd: float | None) -> jax.Array | None:
    """Keras's decoupled ``variable - variable * wd * lr``, applied before the update step."""
    return None if not wd else (p - p * wd * lr) - p


def keras_sgd(
    *, learning_rate: Rate, momentum: float, nesterov: bool, weight_decay: float | None,
    tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.SGD``: ``m = m * momentum - g * lr``; the variable moves by ``m``."""
    r = _rounder(tf_rounding)
    mom = r(momentum)

    def step(count, g, p, m):
        lr = rate_at(learning_rate, count, p.dtype)
        decay = _keras_decay(p, lr, weight_decay and r(weight_decay))
        if momentum:
            m = m * mom - g * lr
            u = m * mom - g * lr if nesterov else m
        else:
            u = -(g * lr)
        return (u if decay is None else decay + u), m

    return per_leaf_transform(1, lambda k, p: jnp.zeros_like(p), step)


def keras_adam(
    *, learning_rate: Rate, beta_1: float, beta_2: float, epsilon: float, amsgrad: bool,
    weight_decay: float | None, tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.Adam`` / ``AdamW``: "epsilon hat" (eps added to sqrt(v), the bias
    corrections folded into the step size alpha)."""
    r = _rounder(tf_rounding)

    def step(count, g, p, m, v, vhat):
        lr = rate_at(learning_rate, count, p.dtype)
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
    *, learning_rate: Rate, rho: float, momentum: float, epsilon: float, centered: bool,
    weight_decay: float | None, tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.RMSprop``: eps added inside the square root."""
    r = _rounder(tf_rounding)

    def step(count, g, p, vel, avg, mom):
        lr = rate_at(learning_rate, count, p.dtype)
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
    *, learning_rate: Rate, initial_accumulator_value: float, epsilon: float,
    weight_decay: float | None, tf_rounding: bool,
) -> optax.GradientTransformation:  # fmt: skip
    """``keras.optimizers.Adagrad``: the accumulator starts at 0.1 by default."""
    r = _rounder(tf_rounding)

    def step(count, g, p, acc):
        lr = rate_at(learning_rate, count, p.dtype)
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
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
_KERAS_CLIPS = ("clipnorm", "global_clipnorm", "clipvalue")
_KERAS_IGNORED = {"name", "ema_momentum", "ema_overwrite_frequency", *_KERAS_CLIPS}
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


def _refuse_loss_scaling(spec: Any) -> None:
    """A ``LossScaleOptimizer`` (object or config) raises: its dynamic loss scale skips the
    steps whose scaled gradients overflow, which one optax update does not reproduce."""
    if isinstance(spec, dict):
        config = spec.get("config") if "class_name" in spec else spec
        scaled = spec.get("class_name") == "LossScaleOptimizer" or "inner_optimizer" in (
            config or {}
        )
    else:
        scaled = any(c.__name__ == "LossScaleOptimizer" for c in type(spec).__mro__)
    if scaled:
        raise ValueError(
            "from_keras_optimizer: loss scaling (LossScaleOptimizer) is not reproduced: it "
            "skips the steps whose scaled gradients overflow and changes its scale. To convert "
            "the update it wraps without the loss scaling, pass opt.inner_optimizer."
        )


def _keras_default_name(config_name: Any) -> str:
    """Keras's automatic names: 'adam', 'adam_w', 'rm_sprop', 'sgd_1', 'adam_2' -> 'adamw'..."""
    return re.sub(r"_\d+$", "", str(config_name)).replace("_", "").lower()


def _keras_clip_by_norm(g: jax.Array, clipnorm: float) -> jax.Array:
    """``BaseOptimizer._clip_by_norm``: ``g * c / max(||g||, c)``, a zero gradient kept as is."""
    l2sum = jnp.sum(jnp.square(g), keepdims=True)
    pred = l2sum > 0
    l2norm = jnp.where(pred, jnp.sqrt(jnp.where(pred, l2sum, jnp.ones_like(l2sum))), l2sum)
    return (g * clipnorm) / jnp.maximum(l2norm, clipnorm)


def keras_clip(config: dict[str, Any]) -> optax.GradientTransformation | None:
    """Keras's gradient clipping (``_clip_gradients``, before weight decay and the update), or
    None. Keras applies the first of ``clipnorm`` (per variable), ``global_clipnorm`` (over all
    the gradients passed to ``apply``: here, the whole tree) and ``clipvalue`` that is set."""
    clipnorm, global_clipnorm, clipvalue = (config.get(k) for k in _KERAS_CLIPS)
    for key, value in zip(_KERAS_CLIPS, (clipnorm, global_clipnorm, clipvalue), strict=True):
        if value is not None and not value >= 0:
            raise ValueError(f"from_keras_optimizer: {key} must be >= 0; got {key}={value!r}.")
    if clipnorm:
        c = float(clipnorm)
        clip = lambda grads: jax.tree.map(lambda g: _keras_clip_by_norm(g, c), grads)  # noqa: E731
    elif global_clipnorm:
        c = float(global_clipnorm)

        def clip(grads: Any) -> Any:
            leaves = jax.tree.leaves(grads)
            norm = jnp.sqrt(jnp.sum(jnp.stack([jnp.sum(jnp.square(g)) for g in leaves])))
            # + (norm - norm): a NaN scale for an infinite or NaN norm, as Keras does
            scale = c * jnp.minimum(1.0 / norm, 1.0 / c) + (norm - norm)
            return jax.tree.map(lambda g: g * scale.astype(g.dtype), grads)
    elif clipvalue:
        v = float(clipvalue)
        clip = lambda grads: jax.tree.map(lambda g: jnp.clip(g, -v, v), grads)  # noqa: E731
    else:
        return None
    return optax.stateless(lambda updates, params=None: clip(updates))


_MATCHES_NOTHING = re.compile(r"(?!)")


def _leaf_name(path: tuple[Any, ...]) -> str:
    """A JAX leaf's own name, the last key of its path: what Keras's ``variable.name`` is (for
    an nnx Variable, the path to the Variable, not its ``.value``)."""
    if not path:
        return ""
    key = path[-1]
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _on_tensorflow(spec: Any) -> bool:
    """Whether the Keras optimizer object runs on the TensorFlow backend."""
    return any(c.__name__ == "TFOptimizer" for c in type(spec).__mro__)


def _matched_name(variable: Any, *, on_tensorflow: bool) -> str:
    """The name ``exclude_from_weight_decay(var_names=...)`` is matched against: on TensorFlow
    the ``tf.Variable``'s (``variable.value.name``, e.g. ``"dense/kernel:0"``: TF's
    ``_apply_weight_decay`` hands ``_use_weight_decay`` the tf.Variable), on JAX and torch the
    Keras variable's own ``name`` (``"kernel"``)."""
    keras = sys.modules.get("keras")
    if keras is None or not isinstance(variable, keras.Variable):
        raise ValueError(
            "params: each leaf must be a Keras variable (e.g. layer.kernel) to say which "
            f"variable's name exclude_from_weight_decay matches; got {type(variable).__name__}."
        )
    return variable.value.name if on_tensorflow else variable.name


def decay_labels(spec: Any, keras_params: Any) -> Any:
    """Keras's ``exclude_from_weight_decay`` as `optax.multi_transform` labels, or None.

    Keras (``BaseOptimizer._use_weight_decay``) skips a variable's decay if it is in
    ``var_list`` or ``re.search``-es one of ``var_names`` in ``variable.name``, where the
    variable is the one the backend's ``_apply_weight_decay`` passes: on JAX and torch the Keras
    variable (its own name, ``"kernel"``), on TensorFlow its ``tf.Variable`` (the full name,
    ``"dense/kernel:0"``). With the Keras variables of each leaf (``keras_params``) both rules
    apply exactly, per backend. Without them, on JAX and torch ``var_names`` are matched against
    each JAX leaf's last path key (the analogue of the variable's own name), and on TensorFlow
    they raise (the JAX leaves carry no tf.Variable name); ``var_list`` raises.
    """
    ids = getattr(spec, "_exclude_from_weight_decay", None) or set()
    pattern: re.Pattern[str] = (
        getattr(spec, "_exclude_from_weight_decay_pattern", None) or _MATCHES_NOTHING
    )
    if not ids and pattern is _MATCHES_NOTHING:
        return None
    on_tensorflow = _on_tensorflow(spec)
    if keras_params is not None:
        var_key = spec._var_key

        def keras_label(v: Any) -> str:
            name = _matched_name(v, on_tensorflow=on_tensorflow)
            return "no_decay" if var_key(v) in ids or pattern.search(name) else "decay"

        return jax.tree.map(keras_label, keras_params)
    if ids:
        raise ValueError(
            "from_keras_optimizer: exclude_from_weight_decay(var_list=...) names Keras variables; "
            "pass params=, the JAX params' tree with the Keras variables as leaves, to say which "
            "leaf each is."
        )
    if on_tensorflow:
        raise ValueError(
            "from_keras_optimizer: on the TensorFlow backend Keras matches exclude_from_weight_"
            f"decay(var_names=...) (pattern {pattern.pattern!r}) against each tf.Variable's full "
            "name (e.g. 'dense/kernel:0'), which the JAX leaves do not carry; pass params=, the "
            "JAX params' tree with the Keras variables as leaves (e.g. {'kernel': layer.kernel, "
            "'bias': layer.bias}), to match exactly those names."
        )

    def label(path: tuple[Any, ...], node: Any) -> Any:
        name = "no_decay" if pattern.search(_leaf_name(path)) else "decay"
        # an nnx Variable's array sits under its `.value`: the name is the Variable's key
        return jax.tree.map(lambda _: name, node) if _is_nnx_variable(node) else name

    return lambda params: jax.tree_util.tree_map_with_path(label, params, is_leaf=_is_nnx_variable)


def _is_nnx_variable(node: Any) -> bool:
    nnx = sys.modules.get("flax.nnx")  # no nnx Variable exists unless flax.nnx was imported
    return nnx is not None and isinstance(node, nnx.Variable)


def keras_settings(spec: Any, *, name: str | None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The optimizer's kind, its whole config, and its update's settings, from a Keras optimizer
    object, its serialize() or get_config(); settings that change the update and are not
    reproduced raise."""
    _refuse_loss_scaling(spec)
    if hasattr(spec, "get_config") and not isinstance(spec, dict):
        kind = next((c.__name__ for c in type(spec).__mro__ if c.__name__ in _KERAS_BUILDERS), None)
        try:
            config = spec.get_config()
        except NotImplementedError as e:  # a custom LearningRateSchedule without get_config
            rate = getattr(spec, "_learning_rate", None)
            raise ValueError(
                f"from_keras_optimizer: the learning rate {type(rate).__name__} is a custom "
                f"schedule, which is not reproduced; supported: {', '.join(KERAS_SCHEDULES)} "
                f"(Keras: {e})"
            ) from e
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
    hyper = {k: v for k, v in config.items() if k not in _KERAS_OFF and k not in _KERAS_IGNORED}
    hyper = {**_KERAS_DEFAULTS[kind], **hyper}
    unknown = set(hyper) - set(_KERAS_DEFAULTS[kind])
    if unknown:
        raise ValueError(f"from_keras_optimizer: unsupported {kind} settings {sorted(unknown)}.")
    hyper = {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in hyper.items()}
    return kind, config, hyper


def keras_update(
    kind: str, hyper: dict[str, Any], *, tf_rounding: bool
) -> optax.GradientTransformation:
    """The update (with its weight decay) of a Keras optimizer's settings."""
    return _KERAS_BUILDERS[kind](**hyper, tf_rounding=tf_rounding)


def keras_optimizer(
    spec: Any, *, name: str | None, tf_rounding: bool, params: Any
) -> optax.GradientTransformation:
    """The optax transformation of a Keras optimizer (see `from_keras_optimizer`): its
    clipping, then its decoupled weight decay (on the leaves it does not exclude) and update,
    resuming from its state when ``params`` maps the JAX leaves to its variables."""
    kind, config, hyper = keras_settings(spec, name=name)
    if isinstance(hyper["learning_rate"], dict):  # a serialized LearningRateSchedule
        hyper["learning_rate"] = keras_schedule(hyper["learning_rate"], float32=tf_rounding)
    labels = decay_labels(spec, params) if hyper.get("weight_decay") else None
    parts: dict[Any, optax.GradientTransformation] = {
        "decay": keras_update(kind, hyper, tf_rounding=tf_rounding)
    }
    if labels is not None:
        no_decay = {**hyper, "weight_decay": None}
        parts["no_decay"] = keras_update(kind, no_decay, tf_rounding=tf_rounding)
    if params is not None:
        if isinstance(spec, dict):
            raise ValueError(
                "from_keras_optimizer: params= carries the optimizer's state, so spec must be "
                "the Keras optimizer object; got a config dict."
            )
        treedef, count, per_leaf, values = keras_leaf_states(spec, params, kind)
        parts = {
            k: resuming(tx, treedef, count, per_leaf, tx.init, values) for k, tx in parts.items()
        }
    elif keras_iterations(spec):
        raise ValueError(
            f"from_keras_optimizer: this optimizer has taken {keras_iterations(spec)} steps; a "
            "fresh optax state would drop its moments. Pass params=, the JAX params' tree with "
            "the Keras variables as leaves (e.g. {'kernel': layer.kernel, 'bias': layer.bias}), "
            "to resume from its state; or pass opt.get_config() to start from zero state on "
            "purpose."
        )
    if labels is None:
        tx = parts["decay"]
    elif params is not None:  # labels of the map's tree (callable if it is an equinox module)
        tx = with_structure(optax.multi_transform(parts, lambda _: labels), treedef)
    else:
        tx = optax.multi_transform(parts, labels)
    clip = keras_clip(config)
    return tx if clip is None else optax.chain(clip, tx)
