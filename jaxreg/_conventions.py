"""Exact converters between jaxreg's textbook convention and Keras, PyTorch and scikit-learn.

jaxreg's convention (``_kinds/separable.py``): L1 is ``strength * sum|w|``, L2 is
``strength / 2 * sum w^2``, elastic net is ``strength * (r * sum|w| + (1 - r) / 2 * sum w^2)``,
added to a *mean* data loss. Every factor below is derived from those formulas; none of this
module imports Keras, PyTorch or scikit-learn except `to_keras`, which must build Keras objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import jax
import numpy as np
import optax
from jax.typing import ArrayLike

from ._kinds.group import GroupLasso, group_lasso
from ._kinds.matrix import Orthogonal, orthogonal
from ._kinds.separable import L1, L2, ElasticNet, elastic_net, l1, l2
from ._masks import kernels
from ._optimizers import keras_transform, torch_groups, torch_name, torch_transform
from ._optional import require
from ._penalty import Penalty, Sum, reject_centred, resolve_terms
from ._typing import (
    KerasObject,
    MaskLike,
    OptimizerName,
    PyTree,
    SklearnEstimator,
    TorchOptimizer,
    TorchSpec,
)

if TYPE_CHECKING:
    import keras

E = TypeVar("E")  # a scikit-learn estimator class's instances

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
        for part in t.parts():
            s = _concrete(part.strength, "to_keras")
            if isinstance(part, L1):
                l1_total += s
            elif isinstance(part, L2):
                l2_total += s / _KERAS_L2_TO_TEXTBOOK
            elif isinstance(part, Orthogonal) and part.out_axis == -1:
                ortho.append({"factor": s, "mode": part.mode})
            else:
                raise ValueError(
                    f"to_keras: Keras has no built-in equivalent of {part!r}; subclass "
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
    if len(pen.terms) != 1 or not isinstance(pen.terms[0], L2) or pen.terms[0].weights is not None:
        raise ValueError(
            f"to_torch_weight_decay: only a single l2 penalty is a coupled weight decay; "
            f"got {pen!r}."
        )
    term = pen.terms[0]
    wd = _concrete(term.strength, "to_torch_weight_decay")
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
    spec: TorchSpec, *, name: OptimizerName | None = None, groups: PyTree = None
) -> optax.GradientTransformation:
    r"""An optax transformation that reproduces a ``torch.optim`` optimizer's update.

    Covered: ``SGD`` (momentum, dampening, nesterov), ``Adam`` (amsgrad, coupled or
    ``decoupled_weight_decay``), ``AdamW``, ``RMSprop`` (centered, momentum), ``Adagrad``
    (``lr_decay``, ``initial_accumulator_value``), all with ``maximize``. Each is torch's
    single-tensor update in the same order of operations (eps added to :math:`\sqrt{\hat v}`
    as torch and optax do, bias corrections per step): tested against torch itself to 1e-12
    relative in float64 and 1e-6 in float32 after 300 steps. Pass the params to ``update``.

    Which are L2 penalties in disguise: the coupled ``weight_decay`` of SGD, Adam, RMSprop and
    Adagrad is ``jr.l2(weight_decay)`` added to the loss (`from_torch_weight_decay`). AdamW's
    (and ``decoupled_weight_decay=True``) is not: it shrinks the weights by
    ``lr * weight_decay`` outside Adam's normalization.

    Args:
      spec: a torch optimizer; its ``state_dict()["param_groups"]`` list; or one dict of
        hyperparameters (missing keys take torch's defaults). Importing torch is not needed for
        the dict forms.
      name: ``"SGD"``, ``"Adam"``, ``"AdamW"``, ``"RMSprop"`` or ``"Adagrad"``, when ``spec`` is
        a dict whose keys do not say which.
      groups: with several param groups, a pytree with the params' structure of group indices
        (0, 1, ... in the order of ``param_groups``); the result is an `optax.multi_transform`.
        (torch's Adagrad fills its sums from the constructor's ``initial_accumulator_value``,
        not a group's own value; the conversion reads each group's value.)

    >>> import jax.numpy as jnp, optax, jaxreg as jr
    >>> tx = jr.conventions.from_torch_optimizer({"lr": 0.1, "momentum": 0.9}, name="SGD")
    >>> params = {"w": jnp.array([1.0, -2.0])}
    >>> state = tx.init(params)
    >>> updates, state = tx.update({"w": jnp.array([0.5, 0.5])}, state, params)
    >>> optax.apply_updates(params, updates)
    {'w': Array([ 0.95, -2.05], dtype=float32)}
    """
    kind = torch_name(spec, name)
    groups_hyper = torch_groups(spec)
    inits = {g.get("initial_accumulator_value", 0) for g in groups_hyper}
    if kind == "Adagrad" and len(inits) > 1:
        raise ValueError(
            "from_torch_optimizer: these Adagrad param groups give different "
            f"initial_accumulator_value {sorted(inits)}, but torch fills every group's sums from "
            "the constructor's value; pass the optimizer object (its defaults hold that value)."
        )
    txs = [torch_transform(kind, group) for group in groups_hyper]
    if len(txs) == 1 and groups is None:
        return txs[0]
    if groups is None:
        raise ValueError(
            f"from_torch_optimizer: the spec has {len(txs)} param groups; pass groups=, a pytree "
            "with the params' structure of group indices (0, 1, ...), to say which leaf is in "
            "which group."
        )
    return optax.multi_transform(dict(enumerate(txs)), groups)


def from_keras_optimizer(
    spec: KerasObject | dict[str, Any],
    *,
    name: OptimizerName | None = None,
    tf_rounding: bool = False,
) -> optax.GradientTransformation:
    r"""An optax transformation that reproduces a ``keras.optimizers`` optimizer's update.

    Covered (Keras 3): ``SGD`` (momentum, nesterov), ``Adam`` (amsgrad), ``AdamW``,
    ``RMSprop`` (centered, momentum), ``Adagrad`` (``initial_accumulator_value``, 0.1 by
    default), each with ``weight_decay``. Each is Keras's ``update_step`` in the same order of
    operations: Adam adds epsilon to :math:`\sqrt{v}` and folds the bias corrections into the
    step size ("epsilon hat"), unlike optax's and PyTorch's Adam; Keras's epsilon defaults to
    1e-7. Tested against Keras itself (TensorFlow backend, its own process) to 1e-12 relative in
    float64 and 1e-6 in float32 after 300 steps. Pass the params to ``update``.

    Keras's ``weight_decay`` is decoupled (``w -= lr * wd * w`` before each step) for every
    optimizer: it is not an L2 penalty (``kernel_regularizer=L2(...)`` is; see `from_keras`).
    Clipping, EMA, loss scaling, gradient accumulation and learning-rate schedules raise.

    Args:
      spec: a Keras optimizer, ``keras.optimizers.serialize(opt)``, or ``opt.get_config()``
        (missing keys take Keras's defaults). Importing Keras is not needed for the dict forms.
      name: ``"SGD"``, ``"Adam"``, ``"AdamW"``, ``"RMSprop"`` or ``"Adagrad"`` for a
        ``get_config()`` dict whose ``name`` is not Keras's default.
      tf_rounding: reproduce Keras on TensorFlow with float64 weights, which turns SGD's
        momentum, Adam's betas (in their bias-correction powers), the weight decay and
        Adagrad's initial accumulator into float32 tensors first (measured against Keras; the
        learning rate stays exact). Irrelevant for
        float32 weights.

    >>> import jax.numpy as jnp, optax, jaxreg as jr
    >>> tx = jr.conventions.from_keras_optimizer({"name": "SGD", "learning_rate": 0.1})
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, _ = tx.update(jnp.array([0.5, 0.5]), tx.init(params), params)
    >>> optax.apply_updates(params, updates)
    Array([ 0.95, -2.05], dtype=float32)
    """
    return keras_transform(spec, name=name, tf_rounding=tf_rounding)


def _class_names(estimator: Any) -> list[str]:
    return [c.__name__ for c in type(estimator).__mro__]


def _need_n(
    n_samples: Any, estimator_name: str, meaning: str, *, caller: str = "from_sklearn"
) -> float:
    if n_samples is None:
        raise ValueError(
            f"{caller}({estimator_name}) needs n_samples: {meaning}. scikit-learn scales this "
            "penalty against a summed loss, jaxreg against a mean loss, so the factor is n."
        )
    if isinstance(n_samples, bool) or not (
        isinstance(n_samples, int | float | np.integer | np.floating)
        and math.isfinite(n_samples)
        and n_samples > 0
    ):
        raise ValueError(f"n_samples must be a positive number; got n_samples={n_samples!r}.")
    return float(n_samples)


def from_sklearn(
    estimator: SklearnEstimator, *, n_samples: float | None = None, mask: MaskLike = None
) -> Penalty:
    r"""The jaxreg penalty that, added to a *mean* data loss, gives the estimator's objective.

    Data term in jaxreg :math:`\frac{1}{2n}\|y-Xw\|^2` for the linear regressions, the mean
    log-loss for LogisticRegression, the mean loss of one batch for the MLPs:

    - ``Lasso(alpha)``: ``l1(alpha)``
    - ``ElasticNet(alpha, l1_ratio)``: ``elastic_net(alpha, l1_ratio)``
    - ``MultiTaskElasticNet(alpha, l1_ratio)``: ``group_lasso(alpha * l1_ratio, axis=-1) +
      l2(alpha * (1 - l1_ratio))`` on the ``(n_features, n_tasks)`` matrix ``coef_.T`` (one
      group per feature, the L2,1 norm over tasks); ``MultiTaskLasso(alpha)``:
      ``group_lasso(alpha, axis=-1)``
    - ``Ridge(alpha)``: ``l2(alpha / n)``
    - ``LogisticRegression(C, l1_ratio)``: ``elastic_net(1 / (C n), l1_ratio)``
      (``l2(1 / (C n))`` at ``l1_ratio=0``, ``l1(1 / (C n))`` at 1)
    - ``MLPClassifier(alpha)``, ``MLPRegressor(alpha)``: ``l2(alpha / n, mask=kernels)``
    - ``PoissonRegressor(alpha)``, ``GammaRegressor``, ``TweedieRegressor``: ``l2(alpha)`` with
      the data term half the mean deviance, :math:`\frac{1}{2n}\sum_i d(y_i, \mu_i)`
    - ``SGDRegressor`` / ``SGDClassifier(alpha, penalty, l1_ratio)``: ``l2(alpha)``,
      ``l1(alpha)`` or ``elastic_net(alpha, l1_ratio)`` with the mean of their loss (squared
      error is :math:`\frac12 (y - f)^2`)
    - ``QuantileRegressor(alpha)``: ``l1(alpha)`` with the mean pinball loss
    - ``HuberRegressor(alpha)``: ``l2(2 alpha / n)`` with
      :math:`\frac1n\sum_i (\sigma + H_\epsilon(r_i / \sigma)\,\sigma)` (scikit-learn sums)
    - ``LinearSVC(C, penalty)`` / ``LinearSVR(C)`` with ``fit_intercept=False``: ``l2(1 / (C n))``
      (``l1`` for ``penalty='l1'``) with the mean of their loss; with an intercept liblinear
      penalizes it too, which no coefficient penalty reproduces, so that raises

    scikit-learn never penalizes intercepts: apply the result to the coefficients only (for the
    MLPs the default ``mask`` is `jaxreg.masks.kernels`, i.e. ``coefs_``). ``C=inf`` (or
    ``penalty=None``) gives an empty penalty (value 0).

    Args:
      estimator: a scikit-learn estimator (fitted or not; only hyperparameters are read).
      n_samples: required where the factor depends on it: Ridge, LogisticRegression,
        HuberRegressor, LinearSVC/SVR: the number of training rows (the sum of sample weights
        when weighted); MLPs: the number of
        rows in each mini-batch (``batch_size``; the whole training set for ``solver='lbfgs'``).
      mask: the mask of the returned penalty.

    >>> from sklearn.linear_model import Lasso, Ridge
    >>> import jaxreg as jr
    >>> jr.conventions.from_sklearn(Lasso(alpha=0.1))
    l1(0.1)
    >>> jr.conventions.from_sklearn(Ridge(alpha=2.0), n_samples=100)
    l2(0.02)
    """
    names = _class_names(estimator)
    p = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    if "MultiTaskElasticNet" in names:  # before Lasso: MultiTaskElasticNet subclasses it
        # alpha * r * sum_j ||W_j.||_2 + alpha * (1 - r) / 2 * ||W||_F^2: a group per feature
        r = 1.0 if "MultiTaskLasso" in names else p["l1_ratio"]
        pen = group_lasso(p["alpha"] * r, axis=-1, mask=mask)
        return pen if r == 1 else pen + l2(p["alpha"] * (1 - r), mask=mask)
    if "Lasso" in names:  # before ElasticNet: Lasso subclasses it
        return l1(p["alpha"], mask=mask)
    if "ElasticNet" in names:
        return elastic_net(p["alpha"], p["l1_ratio"], mask=mask)
    if "Ridge" in names:
        n = _need_n(n_samples, "Ridge", "the number of training rows")
        return l2(p["alpha"] / n, mask=mask)
    if "LogisticRegression" in names:
        n = _need_n(n_samples, "LogisticRegression", "the number of training rows")
        C, penalty, ratio = p["C"], p.get("penalty", "deprecated"), p.get("l1_ratio")
        if not C > 0:
            raise ValueError(f"LogisticRegression: C must be > 0; got C={C!r}.")
        if p.get("solver") == "liblinear" and p.get("fit_intercept", True):
            raise ValueError(
                "LogisticRegression(solver='liblinear') penalizes the intercept too (as a "
                "feature of value intercept_scaling); no penalty on the coefficients alone "
                "reproduces it. Use another solver, or fit_intercept=False."
            )
        if penalty == "deprecated":  # scikit-learn >= 1.8: the penalty is chosen by l1_ratio
            ratio = 0.0 if ratio is None else ratio
            penalty = "l2" if ratio == 0 else "l1" if ratio == 1 else "elasticnet"
        if penalty is None or math.isinf(C):
            return Sum()
        strength = 1.0 / (C * n)
        if penalty == "l2":
            return l2(strength, mask=mask)
        if penalty == "l1":
            return l1(strength, mask=mask)
        if penalty == "elasticnet":
            return elastic_net(strength, cast(float, ratio), mask=mask)  # None: it raises
        raise ValueError(f"LogisticRegression: unsupported penalty={penalty!r}.")
    if "BaseMultilayerPerceptron" in names:
        n = _need_n(n_samples, type(estimator).__name__, "the number of rows in each batch")
        return l2(p["alpha"] / n, mask=kernels if mask is None else mask)
    if "_GeneralizedLinearRegressor" in names:  # Poisson, Gamma, Tweedie
        return l2(p["alpha"], mask=mask)  # 1/(2n) sum deviance + alpha / 2 ||w||^2
    if "SGDRegressor" in names or "SGDClassifier" in names:
        penalty = p["penalty"]
        if penalty is None:
            return Sum()
        if penalty not in ("l2", "l1", "elasticnet"):
            raise ValueError(f"{type(estimator).__name__}: unsupported penalty={penalty!r}.")
        if penalty == "elasticnet":
            return elastic_net(p["alpha"], p["l1_ratio"], mask=mask)
        return (l1 if penalty == "l1" else l2)(p["alpha"], mask=mask)
    if "QuantileRegressor" in names:
        return l1(p["alpha"], mask=mask)  # 1/n sum pinball + alpha ||w||_1
    if "HuberRegressor" in names:
        n = _need_n(n_samples, "HuberRegressor", "the number of training rows")
        return l2(2.0 * p["alpha"] / n, mask=mask)  # sum of Huber terms + alpha ||w||^2
    if "LinearSVC" in names or "LinearSVR" in names:
        name = type(estimator).__name__
        if p.get("fit_intercept", True):
            raise ValueError(
                f"{name} (liblinear) penalizes the intercept too (as a feature of value "
                "intercept_scaling); no penalty on the coefficients alone reproduces it. Use "
                "fit_intercept=False (and a column of ones in X if you need an intercept)."
            )
        n = _need_n(n_samples, name, "the number of training rows")
        C = p["C"]
        if not C > 0:
            raise ValueError(f"{name}: C must be > 0; got C={C!r}.")
        strength = 1.0 / (C * n)  # 1/2 ||w||^2 + C sum loss, divided by C n
        return l1(strength, mask=mask) if p.get("penalty") == "l1" else l2(strength, mask=mask)
    raise TypeError(
        "from_sklearn supports Lasso, ElasticNet, MultiTaskLasso, MultiTaskElasticNet, Ridge, "
        "LogisticRegression, SGDClassifier, SGDRegressor, PoissonRegressor, GammaRegressor, "
        "TweedieRegressor, HuberRegressor, QuantileRegressor, LinearSVC, LinearSVR, "
        f"MLPClassifier and MLPRegressor (and their subclasses); got {type(estimator).__name__}."
    )


def _sklearn_parts(pen: Penalty) -> tuple[float, float, float]:
    """(l1, l2, group) strengths of a penalty made of l1 / l2 / elastic-net / group-lasso
    (axis=-1) terms with one mask and no weights: the shapes scikit-learn's penalties take."""
    a = b = g = 0.0
    for t in pen.terms:
        if getattr(t, "weights", None) is not None:
            raise ValueError(f"to_sklearn: scikit-learn has no per-element weights; got {t!r}.")
        for part in t.parts():
            s = _concrete(part.strength, "to_sklearn")
            if isinstance(part, L1):
                a += s
            elif isinstance(part, L2):
                b += s
            elif type(part) is GroupLasso and part.axis in ((-1,), (1,)) and part.reshape is None:
                g += s
            else:
                raise ValueError(f"to_sklearn: no scikit-learn estimator penalizes {part!r}.")
    return a, b, g


def to_sklearn(
    pen: Penalty, estimator_class: type[E], *, n_samples: float | None = None, **kwargs: Any
) -> E:
    """The scikit-learn estimator whose objective is a mean data term plus ``pen``.

    The inverse of `from_sklearn` (its table gives each estimator's convention): the returned
    ``estimator_class(**hyperparameters, **kwargs)`` satisfies ``from_sklearn(est, n_samples=n)``
    == ``pen`` in value. ``pen`` must be l1 / l2 / elastic-net terms (and, for the multi-task
    estimators, ``group_lasso(axis=-1)``) without weights; masks are not read (scikit-learn
    penalizes the coefficients, never the intercept). ``n_samples`` is needed where
    `from_sklearn` needs it; ``kwargs`` go to the estimator (``max_iter``, ``tol``, ...).

    >>> from sklearn.linear_model import ElasticNet, Ridge
    >>> import jaxreg as jr
    >>> jr.conventions.to_sklearn(jr.elastic_net(0.1, 0.3), ElasticNet)
    ElasticNet(alpha=0.1, l1_ratio=0.3)
    >>> jr.conventions.to_sklearn(jr.l2(0.02), Ridge, n_samples=100)
    Ridge(alpha=2.0)
    """
    reject_centred(pen, "to_sklearn")
    make = cast(Callable[..., E], estimator_class)  # called with the estimator's kwargs
    a, b, g = _sklearn_parts(pen)
    names = [c.__name__ for c in estimator_class.__mro__]
    name = estimator_class.__name__

    def only(*allowed: str) -> None:
        used = {"l1": a, "l2": b, "group": g}
        extra = [k for k, v in used.items() if v and k not in allowed]
        if extra:
            raise ValueError(
                f"to_sklearn: {name} has no {' or '.join(extra)} part; got {pen!r} (it takes "
                f"{', '.join(allowed)})."
            )

    def ratio(x: float, y: float) -> tuple[float, float]:  # (alpha, l1_ratio) of x|w|_1 + y/2 w^2
        if len(pen.terms) == 1 and isinstance(pen.terms[0], ElasticNet):  # exact, not re-summed
            t = pen.terms[0]
            return _concrete(t.strength, "to_sklearn"), _concrete(t.l1_ratio, "to_sklearn")
        total = x + y
        return total, (x / total if total else 1.0)

    if "MultiTaskElasticNet" in names:
        only("group", "l2")
        alpha, r = ratio(g, b)
        if "MultiTaskLasso" in names:
            only("group")
            return make(alpha=alpha, **kwargs)
        return make(alpha=alpha, l1_ratio=r, **kwargs)
    only("l1", "l2")
    if "Lasso" in names:
        only("l1")
        return make(alpha=a, **kwargs)
    if "ElasticNet" in names or "SGDRegressor" in names or "SGDClassifier" in names:
        alpha, r = ratio(a, b)
        if "ElasticNet" in names:
            return make(alpha=alpha, l1_ratio=r, **kwargs)
        if not alpha:
            return make(alpha=0.0, penalty=None, **kwargs)
        penalty = "l1" if r == 1 else "l2" if r == 0 else "elasticnet"
        return make(alpha=alpha, penalty=penalty, l1_ratio=r, **kwargs)
    if "_GeneralizedLinearRegressor" in names:
        only("l2")
        return make(alpha=b, **kwargs)
    if "QuantileRegressor" in names:
        only("l1")
        return make(alpha=a, **kwargs)
    if "Ridge" in names or "HuberRegressor" in names or "BaseMultilayerPerceptron" in names:
        only("l2")
        n = _need_n(
            n_samples, name, "the number of rows (per batch for the MLPs)", caller="to_sklearn"
        )
        return make(alpha=b * n / (2.0 if "HuberRegressor" in names else 1.0), **kwargs)
    if "LogisticRegression" in names or "LinearSVC" in names or "LinearSVR" in names:
        n = _need_n(n_samples, name, "the number of training rows", caller="to_sklearn")
        alpha, r = ratio(a, b)
        if not alpha:
            raise ValueError(f"to_sklearn: {name} needs a positive strength (C = 1 / (s n)).")
        C = 1.0 / (alpha * n)
        if "LogisticRegression" in names:
            return make(C=C, l1_ratio=r, **kwargs)
        if r not in (0.0, 1.0) or ("LinearSVR" in names and r):
            raise ValueError(f"to_sklearn: {name} takes an l2 (or, LinearSVC, l1) penalty only.")
        extra = {"penalty": "l1"} if r == 1.0 else {}
        return make(C=C, fit_intercept=False, **extra, **kwargs)
    raise TypeError(f"to_sklearn supports the estimators of from_sklearn; got {estimator_class!r}.")
