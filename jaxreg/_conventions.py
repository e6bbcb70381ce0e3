"""Exact converters between jaxreg's textbook convention and Keras and PyTorch.

jaxreg's convention (``_kinds/separable.py``): L1 is ``strength * sum|w|``, L2 is
``strength / 2 * sum w^2``, elastic net is ``strength * (r * sum|w| + (1 - r) / 2 * sum w^2)``,
added to a *mean* data loss. Every factor below is derived from those formulas; none of this
module imports Keras or PyTorch except `to_keras`, which must build Keras objects. The
scikit-learn converters are one table in ``_sklearn.py``; the optimizers' update rules live in
``_optimizers.py``, ``_keras_optimizers.py``, ``_schedules.py`` and ``_optimizer_state.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import jax
import numpy as np
import optax
from jax.typing import ArrayLike

from ._keras_optimizers import keras_optimizer
from ._kinds.matrix import Orthogonal, orthogonal
from ._kinds.separable import l1, l2
from ._masks import kernels
from ._optimizers import torch_groups, torch_name
from ._optional import require
from ._penalty import Penalty, reject_centred, resolve_terms
from ._torch_conversion import torch_optimizer
from ._typing import (
    KerasObject,
    MaskLike,
    OptimizerName,
    PyTree,
    TorchOptimizer,
    TorchScheduler,
    TorchSpec,
)

if TYPE_CHECKING:
    import keras


# Keras's L2(l) is l * sum w^2 (no 1/2): textbook strength = 2 * l.
_KERAS_L2_TO_TEXTBOOK = 2.0


def _f32(value: float) -> float:
    return float(np.float32(value))


def _keras_config(reg_or_config: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(reg_or_config, dict):
        if "class_name" in reg_or_config:  # keras.regularizers.serialize(...)
            return reg_or_config["class_name"], dict(reg_or_config.get("config") or {})
        keys = set(reg_or_config)
        by_keys = {
            frozenset({"l1"}): "L1",
            frozenset({"l2"}): "L2",
            frozenset({"l1", "l2"}): "L1L2",
            frozenset({"factor", "mode"}): "OrthogonalRegularizer",
        }
        name = by_keys.get(frozenset(keys))
        if name is None:
            raise ValueError(
                f"reg_or_config: cannot tell which Keras regularizer the config {reg_or_config!r} "
                "describes; pass the regularizer object or keras.regularizers.serialize(reg)."
            )
        return name, dict(reg_or_config)
    if hasattr(reg_or_config, "get_config"):
        names = [c.__name__ for c in type(reg_or_config).__mro__]
        for name in ("L1L2", "L1", "L2", "OrthogonalRegularizer"):
            if name in names:
                return name, reg_or_config.get_config()
    raise TypeError(
        "reg_or_config must be a keras.regularizers L1, L2, L1L2 or OrthogonalRegularizer, or its "
        f"config dict; got {type(reg_or_config).__name__}: {reg_or_config!r}."
    )


def from_keras(
    reg_or_config: KerasObject | dict[str, Any], *, mask: MaskLike = None, tf_rounding: bool = False
) -> Penalty:
    r"""The jaxreg penalty with the same value as a Keras regularizer.

    ================================  ==========================================================
    Keras                             jaxreg
    ================================  ==========================================================
    ``L1(l1)``: l1·Σ|w|               ``jr.l1(l1)``
    ``L2(l2)``: l2·Σw²                ``jr.l2(2 * l2)``
    ``L1L2(l1, l2)``                  ``jr.l1(l1) + jr.l2(2 * l2)``
    ``OrthogonalRegularizer(f, m)``   ``jr.orthogonal(f, mode=m)``
    ================================  ==========================================================

    Keras applies a regularizer to the weight it is attached to (``kernel_regularizer``:
    kernels only), and ``model.fit`` adds the sum of ``model.losses`` once per batch, unscaled.
    Pass ``mask=jr.masks.kernels`` to mirror ``kernel_regularizer`` on every layer.

    Args:
      reg_or_config: a Keras regularizer, its ``get_config()`` dict or its
        ``keras.regularizers.serialize`` dict.
      mask: the mask of the returned penalty.
      tf_rounding: reproduce Keras-on-TensorFlow, which turns the Python strength into a float32
        tensor before casting it to the weights' dtype (``ops.cast(self.l2, x.dtype)``), so
        float64 weights see ``float32(l2)``. Irrelevant for float32 weights.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.conventions.from_keras({"l2": 0.01})
    l2(0.02)
    """
    name, config = _keras_config(reg_or_config)
    r = _f32 if tf_rounding else float
    if name == "L1":
        return l1(r(config["l1"]), mask=mask)
    if name == "L2":
        return l2(_KERAS_L2_TO_TEXTBOOK * r(config["l2"]), mask=mask)
    if name == "L1L2":
        return l1(r(config.get("l1", 0.0)), mask=mask) + l2(
            _KERAS_L2_TO_TEXTBOOK * r(config.get("l2", 0.0)), mask=mask
        )
    if name == "OrthogonalRegularizer":
        return orthogonal(r(config["factor"]), mode=config.get("mode", "rows"), mask=mask)
    raise ValueError(
        f"reg_or_config: unsupported Keras regularizer {name!r}; supported: L1, L2, L1L2, "
        "OrthogonalRegularizer."
    )


def _concrete(value: Any, what: str) -> float:
    try:
        return float(value)
    except Exception as e:  # a tracer
        raise TypeError(f"{what} needs a concrete strength; got {value!r}.") from e


def to_keras_config(pen: Penalty) -> dict[str, Any]:
    """The ``keras.regularizers.serialize`` dict of the Keras regularizer equal to ``pen``.

    Needs no Keras import; `to_keras` builds the object from it. Only L1, L2, elastic net (and
    their sums) and `orthogonal` have Keras equivalents, and ``pen``'s mask must be None or
    `jaxreg.masks.kernels` (a Keras regularizer applies to the one weight it is attached to).

    >>> import jaxreg as jr
    >>> jr.conventions.to_keras_config(jr.elastic_net(0.1, 0.5))
    {'class_name': 'L1L2', 'config': {'l1': 0.05, 'l2': 0.025}}
    """
    reject_centred(pen, "to_keras")
    l1_total, l2_total, ortho = 0.0, 0.0, []
    masks = {t.mask for t in pen.terms}
    if len(masks) > 1:
        raise ValueError(
            f"to_keras: the terms of {pen!r} have different masks; one Keras regularizer is "
            "attached to each weight, so convert each mask's terms on their own."
        )
    for t in pen.terms:
        if t.mask is not None and t.mask != kernels:
            raise ValueError(
                f"to_keras: the {t.name} term has mask={t.mask!r}; a Keras regularizer applies to "
                "the weight it is attached to, so only mask=None or jr.masks.kernels convert."
            )
        if getattr(t, "weights", None) is not None:
            raise ValueError(
                f"to_keras: Keras regularizers have no per-element weights; got {t!r}."
            )
        # Keras's L1 / L2 / L1L2 are elementwise: a*sum|w| + l2*sum w^2, so an elementwise
        # kind's own l1 / l2 split; OrthogonalRegularizer is one class matched to one kind
        split = t.l1_l2_split() if t.elementwise else None
        if split is not None:
            l1_total += _concrete(split[0], "to_keras")
            l2_total += _concrete(split[1], "to_keras") / _KERAS_L2_TO_TEXTBOOK
        elif isinstance(t, Orthogonal) and t.out_axis == -1 and not t.batch_axes:
            ortho.append({"factor": _concrete(t.strength, "to_keras"), "mode": t.mode})
        else:
            raise ValueError(
                f"to_keras: Keras has no built-in equivalent of {t!r}; subclass "
                "keras.regularizers.Regularizer and call the jaxreg formula instead."
            )
    if ortho:
        if len(ortho) > 1 or l1_total or l2_total:
            raise ValueError("to_keras: an orthogonal penalty converts only on its own.")
        return {"class_name": "OrthogonalRegularizer", "config": ortho[0]}
    if l1_total and l2_total:
        return {"class_name": "L1L2", "config": {"l1": l1_total, "l2": l2_total}}
    if l1_total:
        return {"class_name": "L1", "config": {"l1": l1_total}}
    return {"class_name": "L2", "config": {"l2": l2_total}}


def to_keras(pen: Penalty) -> keras.regularizers.Regularizer:
    """A Keras regularizer with the same value as ``pen`` on one weight (see `to_keras_config`).

    Attach it as ``kernel_regularizer=`` of each layer.

    >>> import jaxreg as jr
    >>> jr.conventions.to_keras(jr.l2(0.01)).get_config()
    {'l2': 0.005}
    """
    reject_centred(pen, "to_keras")
    keras = require(
        "keras",
        what="jaxreg.conventions.to_keras",
        extra="keras",
        hint="Without TensorFlow, run Keras on JAX: KERAS_BACKEND=jax.",
    )

    return keras.regularizers.deserialize(to_keras_config(pen))


def to_torch_weight_decay(pen: Penalty, params: PyTree = None) -> float | PyTree:
    """The coupled ``weight_decay`` of ``torch.optim.SGD/Adam`` equal to an `l2` penalty.

    The inverse of `from_torch_weight_decay`. Only a single `l2` term without weights converts.
    torch applies ``weight_decay`` to a whole parameter group, so the mask decides the form:

    - ``mask=None``: every parameter; the float ``weight_decay`` for one group.
    - any other mask: pass ``params`` (the JAX tree the penalty applies to); the result is that
      tree with ``weight_decay`` on the leaves the mask selects and ``0.0`` elsewhere: put the
      leaves of each value in their own torch parameter group. Without ``params`` it raises
      rather than return a decay that would also reach biases and norm scales.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.conventions.to_torch_weight_decay(jr.l2(0.01))
    0.01
    >>> params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}
    >>> jr.conventions.to_torch_weight_decay(jr.l2(0.01, mask=jr.masks.kernels), params)
    {'bias': 0.0, 'kernel': 0.01}
    """
    reject_centred(pen, "to_torch_weight_decay")
    # a single quadratic kind (l2) without weights: its split is (0, weight_decay)
    term = pen.terms[0] if len(pen.terms) == 1 else None
    split = None if term is None or not term.quadratic else term.l1_l2_split()
    if term is None or split is None or getattr(term, "weights", None) is not None:
        raise ValueError(
            f"to_torch_weight_decay: only a single l2 penalty is a coupled weight decay; "
            f"got {pen!r}."
        )
    wd = _concrete(split[1], "to_torch_weight_decay")
    if term.mask is None and params is None:
        return wd
    if params is None:
        raise ValueError(
            f"to_torch_weight_decay: {pen!r} has a mask, and torch's weight_decay applies to a "
            "whole parameter group; pass params to get the decay of each leaf (0.0 where the "
            "mask does not select it) and build one parameter group per value."
        )
    plan = resolve_terms([term], params)
    chosen = set(plan.chosen[0])
    return jax.tree.unflatten(
        plan.treedef, [wd if i in chosen else 0.0 for i in range(len(plan.leaves))]
    )


def from_torch_weight_decay(
    weight_decay: ArrayLike | TorchOptimizer | dict[str, Any], *, mask: MaskLike = None
) -> Penalty:
    r"""The penalty whose gradient is PyTorch's coupled weight decay: ``jr.l2(weight_decay)``.

    ``torch.optim.SGD/Adam/RMSprop/Adagrad(weight_decay=wd)`` add ``wd * p`` to each
    parameter's gradient before the update; that is the gradient of
    :math:`\frac{wd}{2}\sum p^2`: an L2 penalty in disguise. It applies to every parameter of
    the group, biases included: give torch a kernels-only parameter group (and
    ``mask=jr.masks.kernels`` here) to penalize kernels only. ``AdamW`` and
    ``Adam(decoupled_weight_decay=True)`` (and Keras's ``weight_decay``) decay the weights
    *decoupled* from the gradient: under Adam that is not an L2 penalty, has no `Penalty`
    equivalent, and raises here; reproduce it with `from_torch_optimizer`.

    Args:
      weight_decay: the number, or a torch optimizer / param-group dict to read it from (a
        dict with only ``weight_decay`` and ``lr`` is coupled decay; one whose keys leave the
        optimizer ambiguous, Adam's without ``decoupled_weight_decay``, raises).
      mask: the mask of the returned penalty.

    >>> import jaxreg as jr
    >>> jr.conventions.from_torch_weight_decay(1e-4)
    l2(0.0001)
    """
    if hasattr(weight_decay, "param_groups") or isinstance(weight_decay, dict):
        bare = isinstance(weight_decay, dict) and set(weight_decay) <= {"weight_decay", "lr"}
        # a hand-written {'weight_decay': wd}: coupled; Adam's keys without
        # decoupled_weight_decay could be an AdamW of torch < 2.6: torch_name asks for name=
        name = None if bare else torch_name(weight_decay, None)
        decays = set()
        for group in torch_groups(weight_decay):
            if name == "AdamW" or group.get("decoupled_weight_decay"):
                raise ValueError(
                    f"from_torch_weight_decay: {name} decays the weights decoupled from the "
                    "gradient, which is not an L2 penalty under Adam; use "
                    "jr.conventions.from_torch_optimizer to reproduce it."
                )
            decays.add(float(group.get("weight_decay", 0.0)))
        if len(decays) != 1:
            raise ValueError(
                f"from_torch_weight_decay: the param groups have weight decays {sorted(decays)}; "
                "convert each group's value with its own mask."
            )
        weight_decay = decays.pop()
    return l2(cast(ArrayLike, weight_decay), mask=mask)  # a number by now


def from_torch_optimizer(
    spec: TorchSpec,
    *,
    name: OptimizerName | None = None,
    groups: PyTree = None,
    scheduler: TorchScheduler | None = None,
    params: PyTree = None,
    updates_per_scheduler_step: int = 1,
    updates_before_scheduler: int = 0,
) -> optax.GradientTransformation:
    r"""An optax transformation that reproduces a ``torch.optim`` optimizer's update.

    Covered: ``SGD`` (momentum, dampening, nesterov), ``Adam`` (amsgrad, coupled or
    ``decoupled_weight_decay``), ``AdamW``, ``RMSprop`` (centered, momentum), ``Adagrad``
    (``lr_decay``, ``initial_accumulator_value``), all with ``maximize``. Each is torch's
    single-tensor update in the same order of operations (eps added to :math:`\sqrt{\hat v}`
    as torch and optax do, bias corrections per step): tested against torch itself to 1e-12
    relative in float64 and 16 ulps in float32 after 300 steps. Pass the params to ``update``.

    Float32 and ``jax_enable_x64``: torch computes Adam's ``lr / (1 - beta1**t)`` and
    ``(1 - beta2**t) ** 0.5``, AdamW's ``1 - lr * weight_decay`` and Adagrad's
    ``lr / (1 + (t - 1) * lr_decay)`` in Python floats (float64); each enters a float32 op as
    the float32 nearest to it. The conversion computes the same scalars in float64 when x64 is
    on, and in float-float arithmetic (pairs of float32s, about 48 bits) when it is off (JAX's
    default), then rounds once: float32 training gets torch's very scalars either way (checked
    bitwise for ``t`` up to 100,000), also from a scheduled rate (whose own value is the
    schedule's closed form in the default dtype). Stock ``optax.adam`` with x64
    off computes them in float32: the rounding of beta alone puts ``1 - float32(0.999)**t``
    1.3e-5 (relative) from torch's, ``0.9999``'s 1.7e-4. (Keras's float32 Adam computes its
    bias corrections in float32 itself, and `from_keras_optimizer` does too.)

    Which are L2 penalties in disguise: the coupled ``weight_decay`` of SGD, Adam, RMSprop and
    Adagrad is ``jr.l2(weight_decay)`` added to the loss (`from_torch_weight_decay`). AdamW's
    (and ``decoupled_weight_decay=True``) is not: it shrinks the weights by
    ``lr * weight_decay`` outside Adam's normalization.

    Args:
      spec: a torch optimizer; its ``state_dict()`` or ``state_dict()["param_groups"]`` list;
        or one dict of hyperparameters (missing keys take torch's defaults). Importing torch is
        not needed for the dict forms.
      name: ``"SGD"``, ``"Adam"``, ``"AdamW"``, ``"RMSprop"`` or ``"Adagrad"``, when ``spec`` is
        a dict whose keys do not say which.
      groups: with several param groups, a pytree with the params' structure (or a prefix of
        it) of group indices (ints 0, 1, ... in the order of ``param_groups``), or a plain
        function (or ``functools.partial``) of the params returning one; the result is an
        `optax.multi_transform`. A pytree of labels is a tree even when it is callable (a
        ``tree_map`` over an ``eqx.nn.MLP`` is an MLP). Checked at ``init``: every label is an
        int in range, and, where the spec lists each group's ``params`` (the optimizer or its
        ``state_dict()``), each group gets as many leaves as it holds parameters (with the same
        numbers of elements, for the optimizer object); else it raises naming ``groups``.
        Read from ``params=`` when that is given. (torch's Adagrad fills its sums from the
        constructor's ``initial_accumulator_value``, not a group's own value; the conversion
        reads each group's value.)
      scheduler: the ``torch.optim.lr_scheduler`` object driving the optimizer: ``StepLR``,
        ``MultiStepLR``, ``ExponentialLR``, ``CosineAnnealingLR``, ``LinearLR``,
        ``ConstantLR``, ``OneCycleLR`` (its cycled momentum or beta1 too), ``PolynomialLR``,
        or a ``SequentialLR`` of these; others raise. Each group's rate becomes torch's closed form
        of the scheduler's epoch (equal to its chained rate to rounding: 1e-13 relative in
        float64 over 400 steps), continuing from ``scheduler.last_epoch``: the ``k``-th update
        after conversion uses torch's rate after ``last_epoch + k - 1`` scheduler steps, i.e.
        the scheduler stepped once per optimizer step, after it, as torch's docs prescribe. A
        current ``lr`` that differs from the schedule (set by hand, or a second scheduler)
        raises.
        Past OneCycleLR's ``total_steps`` (where torch raises) the rate is NaN.
      params: to resume a trained optimizer: a pytree with the structure of the JAX params
        (the ones passed to ``init``) whose leaves are the torch parameters, as objects of the
        optimizer or views of them (``weight.T``, ``weight.permute(2, 3, 1, 0)``: the view that
        made the JAX weight is applied to its buffers), or, with a ``state_dict()`` spec, their
        integer ids; build it from the JAX params (``jax.tree_util.tree_map_with_path``) so that
        it has their structure (an ``nnx.State``'s leaves sit in ``nnx.Variable``s). ``init``
        then returns torch's state: its ``step`` and every buffer
        (``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``momentum_buffer``, ``square_avg``,
        ``grad_avg``, ``sum``), exactly, so training continues where torch stopped. A
        parameter with state missing from the tree, a group whose parameters are at different
        steps, or a buffer the settings do not use raises, and so does an eager ``init`` whose
        JAX leaf is not the value (rounded to the leaf's dtype) of the parameter mapped to it:
        a crossed or untransposed map. Needed too when the optimizer holds parameters with
        ``requires_grad=False`` (frozen layers in ``model.parameters()``): torch never updates
        them (their grad stays None), and their leaves get a zero update and no state change
        here, whatever gradient JAX gives them; without ``params=`` that raises (a
        ``state_dict()`` does not record ``requires_grad``: pass the object). (torch also
        skips, for one step, a parameter whose grad is None because that step's loss did not
        use it; JAX gives it a zero gradient, which the converted optimizer applies, decay and
        moments included: the conversion cannot see which steps those are.)
      updates_per_scheduler_step: the optimizer steps per ``scheduler.step()``: ``n`` for a
        scheduler stepped once per epoch of ``n`` batches. With ``params=`` (and an optimizer
        that counts its steps: not SGD) the optimizer's step count ``t`` must match the
        scheduler's: ``last_epoch == (t - updates_before_scheduler) // n``, else it raises;
        then a conversion mid-epoch continues the epoch. Otherwise it assumes a conversion at
        an epoch's end.
      updates_before_scheduler: the optimizer steps made before the scheduler was created
        (negative for a scheduler resumed with ``last_epoch=`` ahead of the optimizer).

    >>> import jax.numpy as jnp, optax, jaxreg as jr
    >>> tx = jr.conventions.from_torch_optimizer({"lr": 0.1, "momentum": 0.9}, name="SGD")
    >>> params = {"w": jnp.array([1.0, -2.0])}
    >>> state = tx.init(params)
    >>> updates, state = tx.update({"w": jnp.array([0.5, 0.5])}, state, params)
    >>> optax.apply_updates(params, updates)
    {'w': Array([ 0.95, -2.05], dtype=float32)}

    Moved to JAX mid-training (a full example: the docs' Conventions page)::

        tx = jr.conventions.from_torch_optimizer(opt, scheduler=sched, params={"w": fc.weight.T})
        state = tx.init({"w": w})  # torch's moments, step and schedule position
    """
    if isinstance(updates_before_scheduler, bool) or not isinstance(updates_before_scheduler, int):
        raise ValueError(
            "updates_before_scheduler must be an int; got "
            f"updates_before_scheduler={updates_before_scheduler!r}."
        )
    return torch_optimizer(
        spec,
        name=name,
        groups=groups,
        scheduler=scheduler,
        params=params,
        every=updates_per_scheduler_step,
        before=updates_before_scheduler,
    )


def from_keras_optimizer(
    spec: KerasObject | dict[str, Any],
    *,
    name: OptimizerName | None = None,
    tf_rounding: bool = False,
    params: PyTree = None,
) -> optax.GradientTransformation:
    r"""An optax transformation that reproduces a ``keras.optimizers`` optimizer's update.

    Covered (Keras 3): ``SGD`` (momentum, nesterov), ``Adam`` (amsgrad), ``AdamW``,
    ``RMSprop`` (centered, momentum), ``Adagrad`` (``initial_accumulator_value``, 0.1 by
    default), each with ``weight_decay``. Each is Keras's ``update_step`` in the same order of
    operations: Adam adds epsilon to :math:`\sqrt{v}` and folds the bias corrections into the
    step size ("epsilon hat"), unlike optax's and PyTorch's Adam; Keras's epsilon defaults to
    1e-7. Tested against Keras itself (TensorFlow backend, its own process) to 1e-12 relative in
    float64 and 16 ulps in float32 after 300 steps. Pass the params to ``update``.

    Keras's ``weight_decay`` is decoupled (``w -= lr * wd * w`` before each step) for every
    optimizer: it is not an L2 penalty (``kernel_regularizer=L2(...)`` is; see `from_keras`).
    ``exclude_from_weight_decay(var_names=...)`` (read from the optimizer object) is
    reproduced as the optimizer's backend matches it: ``re.search`` in the name of the variable
    its ``_apply_weight_decay`` hands ``_use_weight_decay``. On JAX and torch that is the Keras
    variable's own ``name`` (``"kernel"``); on TensorFlow the ``tf.Variable``'s full name
    (``"dense/kernel:0"``, so ``var_names=["dense"]`` excludes the layer there and nothing on
    JAX). With ``params=`` each leaf takes its Keras variable's name, per backend, exactly.
    Without it, on JAX and torch a name is matched against the last key of the leaf's JAX path
    (``"bias"`` in ``{"Dense_0": {"bias": ...}}``; an ``nnx.Variable``'s key, not its
    ``.value``), the analogue of the variable's own name for flax, equinox and dict params; on
    TensorFlow ``var_names`` raise (the JAX leaves carry no tf.Variable name), and
    ``var_list=`` raises on every backend. Keras does not serialize the exclusions: a config
    dict has none, so convert the object.

    The learning rate: a Keras optimizer keeps a constant rate in a variable of
    ``keras.config.floatx()`` as it was when the optimizer was constructed (not of the weights'
    dtype), and casts that value to each variable's dtype: built under the default float32
    floatx, ``Adam(2e-3)`` applies ``float32(2e-3)`` even to float64 weights, on every backend,
    and ``get_config()`` returns that rounded value. The conversion reads the same value, so it
    reproduces that optimizer; to train float64 at the exact rate, set floatx to float64 before
    constructing the optimizer (as the tests do).

    Clipping is reproduced as Keras applies it,
    before the decay: the first set of ``clipnorm`` (each leaf to that norm), ``global_clipnorm``
    (the whole tree) and ``clipvalue``. Learning-rate schedules ``ExponentialDecay``,
    ``PiecewiseConstantDecay``, ``PolynomialDecay``, ``InverseTimeDecay`` and ``CosineDecay``
    (warm-up included) are reproduced at Keras's ``iterations`` (exact on the JAX backend; on
    TensorFlow in float64 to float32 rounding of the rate: TF computes it in float32 with its
    own cos and pow); other schedules, EMA, loss scaling and gradient accumulation raise.

    Args:
      spec: a Keras optimizer, ``keras.optimizers.serialize(opt)``, or ``opt.get_config()``
        (missing keys take Keras's defaults). Importing Keras is not needed for the dict forms.
      name: ``"SGD"``, ``"Adam"``, ``"AdamW"``, ``"RMSprop"`` or ``"Adagrad"`` for a
        ``get_config()`` dict whose ``name`` is not Keras's default.
      tf_rounding: reproduce Keras on TensorFlow with float64 weights, which turns SGD's
        momentum, Adam's betas (in their bias-correction powers), the weight decay and
        Adagrad's initial accumulator into float32 tensors first (measured against Keras; the
        learning rate is the variable's value, see above). Irrelevant for float32 weights.
      params: to resume a trained optimizer (one whose ``iterations`` > 0 raises without it): a
        pytree with the JAX params' structure whose leaves are the Keras variables (e.g.
        ``{"kernel": layer.kernel, "bias": layer.bias}``; needed on TensorFlow for
        ``var_names`` exclusions, see above). ``init`` then returns the
        optimizer's ``iterations`` and slot variables (``momentums``, ``velocities``,
        ``velocity_hats``, ``average_gradients``, ``accumulators``) exactly; a variable it
        trained that the tree leaves out raises, and so does an eager ``init`` whose JAX leaf
        is not the value (rounded to the leaf's dtype) of the variable mapped to it.

    >>> import jax.numpy as jnp, optax, jaxreg as jr
    >>> tx = jr.conventions.from_keras_optimizer({"name": "SGD", "learning_rate": 0.1})
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, _ = tx.update(jnp.array([0.5, 0.5]), tx.init(params), params)
    >>> optax.apply_updates(params, updates)
    Array([ 0.95, -2.05], dtype=float32)

    Fine-tuning moved from Keras to JAX mid-way (in full: the docs' Conventions page)::

        tx = jr.conventions.from_keras_optimizer(opt, params={"kernel": layer.kernel})
        state = tx.init({"kernel": kernel})  # Keras's iterations and moments
    """
    return keras_optimizer(spec, name=name, tf_rounding=tf_rounding, params=params)
