"""scikit-learn's penalties as jaxreg penalties and back: one table, one entry per estimator.

Every scikit-learn penalty is an elastic net (or, for the multi-task estimators, its L2,1
version) of some strength. Each `SklearnConvention` entry states the estimator's objective as
its documentation writes it, and from it three factors:

    scikit-learn's objective  ∝  data_scale · count · (jaxreg's mean data term)
                                 + penalty_scale · raw · (jaxreg's penalty at strength 1)

with ``raw`` its ``alpha`` (or ``1 / C``) and ``count`` 1, the number of training rows ``n``,
or the rows of one mini-batch. Dividing by ``data_scale · count`` gives jaxreg's strength:
``raw · penalty_scale / (data_scale · count)``; `to_sklearn` inverts the same expression.
Ridge, for example: ``||y - Xw||² + α||w||² = 2n · (1/(2n))||y - Xw||² + 2α · ½||w||²``, so
``data_scale = 2``, ``count = n``, ``penalty_scale = 2`` and the strength is ``α / n``.
Nothing here imports scikit-learn: estimators are read through ``get_params`` and their
fitted attributes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal, TypeVar, cast

import numpy as np

from ._kinds.constraints import non_negative
from ._kinds.group import GroupLasso, group_lasso
from ._kinds.separable import ElasticNet, elastic_net, l1, l2
from ._masks import kernels
from ._penalty import Penalty, Sum, Term, reject_centred
from ._typing import MaskLike, SklearnEstimator

E = TypeVar("E")  # a scikit-learn estimator class's instances

Mix = Literal["l1", "l2", "l1_ratio", "sgd", "logistic", "liblinear"]
Count = Literal["one", "rows", "batch"]


@dataclasses.dataclass(frozen=True)
class SklearnConvention:
    """How one scikit-learn estimator's penalty maps to jaxreg's textbook penalty.

    Attributes:
      estimator: the class name (subclasses match too; the most derived entry wins).
      objective: scikit-learn's objective, as its documentation writes it.
      data_term: the jaxreg data term (a mean) that goes with the returned penalty.
      strength: the hyperparameter holding the strength: ``"alpha"``, or ``"C"`` (raw = 1/C).
      data_scale, count, penalty_scale: the factors of the module docstring.
      mix: how the l1/l2 split is set: fixed (``"l1"``, ``"l2"``), by ``l1_ratio``, by
        SGD's ``penalty`` and ``l1_ratio``, by LogisticRegression's, or by liblinear's
        ``penalty``.
      group: the l1 part is the L2,1 norm over tasks (``group_lasso(axis=-1)`` on ``coef_.T``).
      cv: a cross-validated estimator: read its fitted ``alpha_`` / ``C_`` / ``l1_ratio_``.
      liblinear: liblinear penalizes the intercept (as a feature); only ``fit_intercept=False``
        converts.
    """

    estimator: str
    objective: str
    data_term: str
    strength: Literal["alpha", "C"]
    data_scale: float
    count: Count
    penalty_scale: float
    mix: Mix
    group: bool = False
    cv: bool = False
    liblinear: bool = False


# (data_scale, count, penalty_scale) of the objectives' shapes
_MEAN = (1, "one", 1)  # a mean loss + alpha * the textbook penalty
_SUMS = (2, "rows", 2)  # ||y - Xw||^2 + alpha ||w||^2: twice n half-mean losses, 2 alpha ||w||^2/2
_C_SUM = (1, "rows", 1)  # C * sum of losses + the textbook penalty (divided by C: raw = 1/C)
_HUBER = (1, "rows", 2)  # a sum of losses + alpha ||w||^2
_BATCH = (1, "batch", 1)  # per batch of b rows: a mean loss + alpha / b * ||W||^2 / 2


def _entry(
    estimator: str,
    scale: tuple[float, Count, float],
    mix: Mix,
    objective: str,
    data_term: str,
    **options: Any,
) -> SklearnConvention:
    data_scale, count, penalty_scale = scale
    strength = "C" if scale == _C_SUM else "alpha"  # only C-parametrized objectives sum this way
    return SklearnConvention(
        estimator, objective, data_term, strength, data_scale, count, penalty_scale, mix, **options
    )


def _table() -> dict[str, SklearnConvention]:
    e = _entry
    mse, mt_mse, t_mse = "1/(2n)‖y−Xw−b‖²", "1/(2n)‖Y−XW−b‖²_F", "1/(2n)‖T−XW−b‖²_F, T = ±1"
    enet = "1/(2n)‖y−Xw‖² + α(r‖w‖₁ + (1−r)/2‖w‖²)"
    mt = "1/(2n)‖Y−XW‖²_F + α(r‖W‖₂,₁ + (1−r)/2‖W‖²_F)"
    sgd = "(1/n)Σ L + α(r‖w‖₁ + (1−r)/2‖w‖²)"
    glm = "1/(2n)Σ deviance + α/2‖w‖²"
    svm = "½‖w‖² (penalty='l1': ‖w‖₁) + C·Σ loss"
    mlp = "per mini-batch of b rows: mean loss + α/(2b)‖W‖²"
    logistic = "C·Σ log-loss + r‖w‖₁ + (1−r)/2‖w‖²"
    huber = "Σ(σ + H_ε(r/σ)σ) + α‖w‖² (sums)"
    entries = [
        e("Lasso", _MEAN, "l1", "1/(2n)‖y−Xw‖² + α‖w‖₁", mse),
        e("ElasticNet", _MEAN, "l1_ratio", enet, mse),
        e("MultiTaskLasso", _MEAN, "l1", "1/(2n)‖Y−XW‖²_F + α‖W‖₂,₁", mt_mse, group=True),
        e("MultiTaskElasticNet", _MEAN, "l1_ratio", mt, mt_mse, group=True),
        e("Ridge", _SUMS, "l2", "‖y−Xw‖² + α‖w‖² (sums)", mse),
        e("RidgeClassifier", _SUMS, "l2", "‖T−XW‖²_F + α‖W‖²_F, T = ±1 (sums)", t_mse),
        e("LogisticRegression", _C_SUM, "logistic", logistic, "mean log-loss"),
        e("SGDRegressor", _MEAN, "sgd", sgd, "mean of its loss (squared error: ½(y−f)²)"),
        e("SGDClassifier", _MEAN, "sgd", sgd, "mean of its loss"),
        e("Perceptron", _MEAN, "sgd", sgd + ", L = max(0, −y·f)", "mean of max(0, −y·f)"),
        e("PoissonRegressor", _MEAN, "l2", glm, "½·mean deviance"),
        e("GammaRegressor", _MEAN, "l2", glm, "½·mean deviance"),
        e("TweedieRegressor", _MEAN, "l2", glm, "½·mean deviance"),
        e("HuberRegressor", _HUBER, "l2", huber, "mean of σ + H_ε(r/σ)σ"),
        e("QuantileRegressor", _MEAN, "l1", "(1/n)Σ pinball + α‖w‖₁", "mean pinball"),
        e("LinearSVC", _C_SUM, "liblinear", svm, "mean of its loss", liblinear=True),
        e("LinearSVR", _C_SUM, "l2", "½‖w‖² + C·Σ loss", "mean of its loss", liblinear=True),
        e("MLPClassifier", _BATCH, "l2", mlp, "mean loss of the batch"),
        e("MLPRegressor", _BATCH, "l2", mlp, "mean loss of the batch"),
    ]
    table = {c.estimator: c for c in entries}
    # a cross-validated estimator: its estimator's row at the strength its refit used
    bases = ("Lasso", "ElasticNet", "MultiTaskLasso", "MultiTaskElasticNet", "Ridge")
    for name in (*bases, "RidgeClassifier", "LogisticRegression"):
        base = table[name]
        fitted = "C_" if base.strength == "C" else "alpha_"
        fitted += ", l1_ratio_" if base.mix in ("l1_ratio", "logistic") else ""
        objective = f"{base.objective} at the fitted {fitted}"
        table[name + "CV"] = dataclasses.replace(
            base, estimator=name + "CV", objective=objective, cv=True
        )
    return table


#: The table: every estimator `from_sklearn` and `to_sklearn` convert, by class name.
CONVENTIONS: dict[str, SklearnConvention] = _table()


def convention(estimator_class: type, *, caller: str) -> SklearnConvention:
    """The table entry of ``estimator_class``: its most derived class that has one."""
    for cls in getattr(estimator_class, "__mro__", ()):
        if cls.__name__ in CONVENTIONS:
            return CONVENTIONS[cls.__name__]
    raise TypeError(
        f"{caller} supports {', '.join(CONVENTIONS)} (and their subclasses); got "
        f"{getattr(estimator_class, '__name__', estimator_class)}."
    )


def _number(value: Any, what: str) -> float:
    try:
        return float(value)
    except Exception as e:  # a tracer, or not a number
        raise TypeError(f"{what} needs a concrete number; got {value!r}.") from e


def _rows(n_samples: Any, name: str, meaning: str, caller: str) -> float:
    if n_samples is None:
        raise ValueError(
            f"{caller}({name}) needs n_samples: {meaning}. scikit-learn scales this penalty "
            "against a summed loss, jaxreg against a mean loss, so the factor is n."
        )
    if isinstance(n_samples, bool) or not (
        isinstance(n_samples, int | float | np.integer | np.floating)
        and math.isfinite(n_samples)
        and n_samples > 0
    ):
        raise ValueError(f"n_samples must be a positive number; got n_samples={n_samples!r}.")
    return float(n_samples)


def _batch_rows(p: dict[str, Any], n_samples: Any, name: str, caller: str) -> float:
    """The rows of each MLP mini-batch, as ``_fit_stochastic`` sets them (lbfgs: all rows)."""
    n = _rows(n_samples, name, "the number of training rows (the batch size follows)", caller)
    if p.get("solver") == "lbfgs":
        return n
    if n != int(n):
        raise ValueError(f"{caller}({name}): n_samples counts rows; got n_samples={n_samples!r}.")
    n_train = int(n)
    if p.get("early_stopping"):  # train_test_split holds out ceil(validation_fraction * n)
        n_train -= math.ceil(p["validation_fraction"] * n_train)
    size = p.get("batch_size", "auto")
    b = min(200, n_train) if size == "auto" else int(np.clip(size, 1, n_train))
    if n_train % b:
        raise ValueError(
            f"{caller}({name}(batch_size={size!r})) on {n_train} training rows: the batches have "
            f"{b} rows and the last {n_train % b}, and scikit-learn adds alpha/(2 * rows of the "
            "batch) * ||W||^2 to each batch's mean loss, so no one penalty reproduces every "
            f"batch. Use a batch_size that divides {n_train}, or solver='lbfgs'."
        )
    return float(b)


def _count(conv: SklearnConvention, p: dict[str, Any], n_samples: Any, caller: str) -> float:
    name = conv.estimator
    if conv.count == "rows":
        return _rows(n_samples, name, "the number of training rows (sum of sample weights)", caller)
    if conv.count == "batch":
        return _batch_rows(p, n_samples, name, caller)
    return 1.0


def _check_intercept(conv: SklearnConvention, p: dict[str, Any], name: str) -> None:
    if (conv.liblinear or p.get("solver") == "liblinear") and p.get("fit_intercept", True):
        raise ValueError(
            f"{name} (liblinear) penalizes the intercept too (as a feature of value "
            "intercept_scaling); no penalty on the coefficients alone reproduces it. Use "
            "fit_intercept=False (and a column of ones in X if you need an intercept)"
            + (", or another solver." if conv.mix == "logistic" else ".")
        )


def _one(value: Any, what: str) -> float:
    """A fitted ``alpha_`` / ``C_`` / ``l1_ratio_``: one number (repeated per class is fine)."""
    values = np.unique(np.asarray(value, dtype=float).ravel())
    if values.size != 1:
        raise ValueError(
            f"from_sklearn: {what} holds several values {values.tolist()} (one per target or "
            "class); one jaxreg penalty has one strength. Convert each target's model alone."
        )
    return float(values[0])


def _logistic_ratio(est: Any, p: dict[str, Any], cv: bool) -> float | None:
    """LogisticRegression(CV)'s l1_ratio as scikit-learn resolves it; None: no penalty."""
    penalty = p.get("penalty", "deprecated")
    fitted_ratio = getattr(est, "l1_ratio_", None) if cv else None
    if penalty == "deprecated":  # scikit-learn >= 1.8: l1_ratio alone chooses the penalty
        if cv:
            return 0.0 if p.get("l1_ratios") in (None, "warn") else _one(fitted_ratio, "l1_ratio_")
        return 0.0 if p.get("l1_ratio") is None else float(p["l1_ratio"])
    if penalty is None:
        return None
    if penalty in ("l1", "l2"):
        return 1.0 if penalty == "l1" else 0.0
    if penalty == "elasticnet":
        return _one(fitted_ratio, "l1_ratio_") if cv else float(p["l1_ratio"])
    raise ValueError(f"{type(est).__name__}: unsupported penalty={penalty!r}.")


def _hyper_and_ratio(
    conv: SklearnConvention, est: Any, p: dict[str, Any]
) -> tuple[float, float | None]:
    """(alpha or C, l1_ratio); a ratio of None means no penalty at all."""
    name = type(est).__name__
    if conv.cv:
        attr = conv.strength + "_"
        if not hasattr(est, attr):
            raise ValueError(
                f"from_sklearn({name}): the estimator is not fitted; a cross-validated "
                f"estimator's strength is its fitted {attr}. Call .fit(X, y) first."
            )
        if p.get("refit") is False:
            raise ValueError(
                f"from_sklearn({name}(refit=False)): coef_ averages the folds' models, which "
                "solve no single penalized problem; use refit=True."
            )
        value = _one(getattr(est, attr), attr)
    else:
        value = _number(p[conv.strength], f"from_sklearn({name}).{conv.strength}")
    if conv.strength == "C" and not value > 0:
        raise ValueError(f"{name}: C must be > 0; got C={value!r}.")
    if conv.strength == "alpha" and not value >= 0:
        raise ValueError(f"{name}: alpha must be >= 0; got alpha={value!r}.")
    if conv.mix == "l1":
        return value, 1.0
    if conv.mix == "l2":
        return value, 0.0
    if conv.mix == "l1_ratio":
        ratio = est.l1_ratio_ if conv.cv else p["l1_ratio"]
        return value, _one(ratio, "l1_ratio_") if conv.cv else float(ratio)
    if conv.mix == "logistic":
        return value, _logistic_ratio(est, p, conv.cv)
    penalty = p.get("penalty")
    if conv.mix == "liblinear":
        return value, 1.0 if penalty == "l1" else 0.0
    # sgd
    if penalty is None:
        return value, None
    if penalty not in ("l2", "l1", "elasticnet"):
        raise ValueError(f"{name}: unsupported penalty={penalty!r}.")
    return value, {"l1": 1.0, "l2": 0.0}.get(penalty, p["l1_ratio"])


def _penalty(strength: float, ratio: float, *, group: bool, mask: MaskLike) -> Penalty:
    if group:  # alpha r sum_j ||W_j.||_2 + alpha (1 - r)/2 ||W||_F^2: a group per feature row
        pen = group_lasso(strength * ratio, axis=-1, mask=mask) if ratio else Sum()
        return pen if ratio == 1 else pen + l2(strength * (1 - ratio), mask=mask)
    if ratio == 1:
        return l1(strength, mask=mask)
    if ratio == 0:
        return l2(strength, mask=mask)
    return elastic_net(strength, ratio, mask=mask)


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
    - ``Ridge(alpha)``, ``RidgeClassifier(alpha)``: ``l2(alpha / n)`` (RidgeClassifier: the
      squared error on targets ±1, one column per class)
    - ``LogisticRegression(C, l1_ratio)``: ``elastic_net(1 / (C n), l1_ratio)``
      (``l2(1 / (C n))`` at ``l1_ratio=0``, ``l1(1 / (C n))`` at 1)
    - ``MLPClassifier(alpha)``, ``MLPRegressor(alpha)``: ``l2(alpha / b, mask=kernels)``, with
      ``b`` the rows of each mini-batch: ``min(batch_size, n)`` (``'auto'``: 200), after the
      ``early_stopping`` hold-out; ``n`` for ``solver='lbfgs'``
    - ``PoissonRegressor(alpha)``, ``GammaRegressor``, ``TweedieRegressor``: ``l2(alpha)`` with
      the data term half the mean deviance, :math:`\frac{1}{2n}\sum_i d(y_i, \mu_i)`
    - ``SGDRegressor`` / ``SGDClassifier`` / ``Perceptron(alpha, penalty, l1_ratio)``:
      ``l2(alpha)``, ``l1(alpha)`` or ``elastic_net(alpha, l1_ratio)`` with the mean of their
      loss (squared error is :math:`\frac12 (y - f)^2`; the Perceptron's is
      :math:`\max(0, -y f)`); ``penalty=None`` (the Perceptron's default) gives an empty penalty
    - ``QuantileRegressor(alpha)``: ``l1(alpha)`` with the mean pinball loss
    - ``HuberRegressor(alpha)``: ``l2(2 alpha / n)`` with
      :math:`\frac1n\sum_i (\sigma + H_\epsilon(r_i / \sigma)\,\sigma)` (scikit-learn sums)
    - ``LinearSVC(C, penalty)`` / ``LinearSVR(C)`` with ``fit_intercept=False``: ``l2(1 / (C n))``
      (``l1`` for ``penalty='l1'``) with the mean of their loss; with an intercept liblinear
      penalizes it too, which no coefficient penalty reproduces, so that raises
    - the cross-validated ``LassoCV``, ``ElasticNetCV``, ``MultiTaskLassoCV``,
      ``MultiTaskElasticNetCV``, ``RidgeCV``, ``RidgeClassifierCV``, ``LogisticRegressionCV``:
      the row of their estimator at the fitted ``alpha_`` / ``C_`` / ``l1_ratio_`` (the
      strength the refit on all rows used); an unfitted one raises, as do per-target
      strengths (``RidgeCV(alpha_per_target=True)``) and ``LogisticRegressionCV(refit=False)``
      (whose coefficients average the folds')

    scikit-learn never penalizes intercepts: apply the result to the coefficients only (for the
    MLPs the default ``mask`` is `jaxreg.masks.kernels`, i.e. ``coefs_``). ``C=inf`` (or
    ``penalty=None``) gives an empty penalty (value 0). ``positive=True`` (Lasso, ElasticNet,
    Ridge, RidgeClassifier and their CV) adds ``jaxreg.constraints.non_negative(mask=mask)``,
    on the leaves the penalty covers: ``Lasso(alpha, positive=True)`` is ``l1(alpha) +
    non_negative()`` (`jaxreg.solve` and `jaxreg.linear.fit` minimize it exactly). The table
    these rows come from is ``jaxreg._sklearn.CONVENTIONS``.

    Args:
      estimator: a scikit-learn estimator (fitted or not: hyperparameters are read, and a
        cross-validated estimator's fitted choice).
      n_samples: required where the factor depends on it: Ridge(CV), RidgeClassifier(CV),
        LogisticRegression(CV), HuberRegressor, LinearSVC/SVR: the number of training rows (the
        sum of sample weights when weighted); MLPs: the number of training rows, from which
        the batch size follows (it raises if the last batch is smaller than the others:
        scikit-learn scales each batch's penalty by its own size; with ``sample_weight`` it
        divides by each batch's sum of weights instead, which no one penalty reproduces).
      mask: the mask of the returned penalty.

    >>> from sklearn.linear_model import Lasso, Ridge
    >>> import jaxreg as jr
    >>> jr.conventions.from_sklearn(Lasso(alpha=0.1))
    l1(0.1)
    >>> jr.conventions.from_sklearn(Ridge(alpha=2.0), n_samples=100)
    l2(0.02)
    """
    conv = convention(type(estimator), caller="from_sklearn")
    name = type(estimator).__name__
    p = estimator.get_params(deep=False)
    _check_intercept(conv, p, name)
    value, ratio = _hyper_and_ratio(conv, estimator, p)
    if conv.count == "batch" and mask is None:
        mask = kernels  # coefs_, never intercepts_
    # positive=True (Lasso, ElasticNet, Ridge, RidgeClassifier and their CV): coef_ >= 0, the
    # constraint on the leaves the penalty covers
    positive = non_negative(mask=mask) if p.get("positive") else Sum()
    if ratio is None or (conv.strength == "C" and math.isinf(value)):
        return positive
    if not 0 <= ratio <= 1:
        raise ValueError(f"{name}: l1_ratio must be in [0, 1]; got {ratio!r}.")
    count = _count(conv, p, n_samples, "from_sklearn")
    if conv.strength == "C":  # raw = 1 / C
        strength = conv.penalty_scale / (value * conv.data_scale * count)
    else:
        strength = value * conv.penalty_scale / (conv.data_scale * count)
    pen = _penalty(strength, ratio, group=conv.group, mask=mask)
    return pen + positive if positive.terms else pen


def _parts(pen: Penalty) -> tuple[float, float, float, bool]:
    """(l1, l2, group) strengths of a penalty whose terms have an l1 / l2 split (l1, l2,
    elastic net, and group lasso over the rows of ``coef_.T``) without weights, the shapes
    scikit-learn's penalties take, and whether it holds ``non_negative`` (``positive=True``)."""
    a = b = g = 0.0
    positive = False
    for t in pen.terms:
        if getattr(t, "weights", None) is not None:
            raise ValueError(f"to_sklearn: scikit-learn has no per-element weights; got {t!r}.")
        if t.orthant_projection:  # non_negative: coef_ >= 0
            positive = True
            continue
        split = t.l1_l2_split()
        if split is None or not (t.elementwise or _task_groups(t)):
            raise ValueError(f"to_sklearn: no scikit-learn estimator penalizes {t!r}.")
        norm, quad = (_number(v, "to_sklearn") for v in split)
        if t.elementwise:
            a += norm
        else:
            g += norm
        b += quad
    return a, b, g, positive


def _task_groups(t: Term) -> bool:
    """Whether ``t``'s groups are the rows of ``coef_.T`` ``(n_features, n_tasks)``, any number
    of tasks: the multi-task estimators' L2,1 norm. A layout of scikit-learn's matrix, not of a
    coefficient vector, so the converter reads the group kind's own options."""
    return isinstance(t, GroupLasso) and t.axis in ((-1,), (1,)) and t.reshape is None


def _strength_and_ratio(pen: Penalty, l1_part: float, l2_part: float) -> tuple[float, float]:
    """(strength, l1_ratio) of ``l1_part |w|_1 + l2_part / 2 w^2``."""
    norms = [t for t in pen.terms if not t.orthant_projection]
    if len(norms) == 1 and isinstance(norms[0], ElasticNet):  # exact, not re-summed
        t = norms[0]
        return _number(t.strength, "to_sklearn"), _number(t.l1_ratio, "to_sklearn")
    total = l1_part + l2_part
    return total, (l1_part / total if total else 1.0)


# LogisticRegression's solvers that minimize each penalty (scikit-learn's _check_solver)
_LOGISTIC_SOLVERS = {
    "l2": ("lbfgs", "newton-cg", "newton-cholesky", "sag", "saga", "liblinear"),
    "l1": ("saga", "liblinear"),
    "elasticnet": ("saga",),
}


def _hyperparameters(
    conv: SklearnConvention, p: dict[str, Any], strength: float, ratio: float, count: float
) -> dict[str, Any]:
    """The estimator's keywords that hold the penalty (`from_sklearn`'s formulas, inverted)."""
    name = conv.estimator
    raw = strength * conv.data_scale * count / conv.penalty_scale
    if conv.strength == "C":
        if conv.mix != "logistic" and not raw:
            raise ValueError(f"to_sklearn: {name} needs a positive strength (C = 1 / (s n)).")
        hyper: dict[str, Any] = {"C": 1.0 / raw if raw else math.inf}
    else:
        hyper = {"alpha": raw}
    if not strength and conv.mix in ("l1", "l2", "l1_ratio", "logistic"):
        # no penalty: alpha=0 (or C=inf), with the estimator's own l1_ratio left alone
        if conv.mix == "logistic" and p.get("penalty") != "deprecated":  # scikit-learn < 1.8
            hyper = {"penalty": None}
        return {**hyper, **_intercept(conv, p)}
    kind = "l1" if ratio == 1 else "l2" if ratio == 0 else "elasticnet"
    if conv.mix in ("l1", "l2") and kind != conv.mix:
        what = "an l1 (group lasso for the multi-task ones)" if conv.mix == "l1" else "an l2"
        raise ValueError(f"to_sklearn: {name} takes {what} penalty only; got l1_ratio={ratio}.")
    if conv.mix == "l1_ratio":
        hyper["l1_ratio"] = ratio
    elif conv.mix == "sgd":
        hyper.update(penalty=kind if strength else None, l1_ratio=ratio if strength else 0.15)
        if not strength:
            hyper["alpha"] = 0.0
    elif conv.mix == "liblinear":
        if kind == "elasticnet":
            raise ValueError(f"to_sklearn: {name} takes an l2 or an l1 penalty, not both.")
        hyper["penalty"] = kind
        if kind == "l1":  # liblinear's l1 is primal only
            hyper["dual"] = False
    elif conv.mix == "logistic":
        if p.get("penalty") == "deprecated":  # scikit-learn >= 1.8: l1_ratio says which
            hyper["l1_ratio"] = ratio
        else:
            hyper.update(penalty=kind, l1_ratio=ratio if kind == "elasticnet" else None)
        if raw and p.get("solver", "lbfgs") not in _LOGISTIC_SOLVERS[kind]:
            hyper["solver"] = "saga"  # the one solver for every penalty
    return {**hyper, **_intercept(conv, p)}


def _intercept(conv: SklearnConvention, p: dict[str, Any]) -> dict[str, Any]:
    """liblinear penalizes the intercept: convert without one (`to_sklearn` checked the user's)."""
    liblinear = conv.liblinear or p.get("solver") == "liblinear"
    return {"fit_intercept": False} if liblinear else {}


def to_sklearn(
    pen: Penalty, estimator_class: type[E], *, n_samples: float | None = None, **kwargs: Any
) -> E:
    """The scikit-learn estimator whose objective is a mean data term plus ``pen``.

    The inverse of `from_sklearn` (its table gives each estimator's convention): the returned
    ``estimator_class(**kwargs, **hyperparameters)`` satisfies ``from_sklearn(est,
    n_samples=n) == pen`` in value. ``pen`` must be l1 / l2 / elastic-net terms (and, for the
    multi-task estimators, ``group_lasso(axis=-1)``) without weights, and optionally
    ``jaxreg.constraints.non_negative()``, which becomes ``positive=True`` (estimators without
    that option raise); masks are not read (scikit-learn penalizes the coefficients, never the
    intercept). An empty penalty (``jr.Sum()``, or strength 0) gives the estimator's
    unpenalized form: ``alpha=0``, or ``C=inf`` for ``LogisticRegression`` (its ``l1_ratio``
    left alone); ``LinearSVC``/``LinearSVR`` need a positive strength. ``n_samples`` is needed
    where `from_sklearn` needs it.

    ``kwargs`` go to the estimator (``max_iter``, ``tol``, ``batch_size``, ...); one that sets
    a hyperparameter the conversion sets to another value raises. The choices it makes:

    - ``LogisticRegression``: an l1 or elastic-net penalty needs ``solver='saga'`` (scikit-
      learn's lbfgs minimizes l2 only); it is set unless ``kwargs`` names a solver that
      minimizes the penalty. With ``solver='liblinear'`` (which penalizes the intercept) the
      estimator fits no intercept: ``fit_intercept=False`` is set, and ``fit_intercept=True``
      raises (compare with a jaxreg model without an intercept, or add a column of ones to ``X``
      knowing that liblinear penalizes its coefficient).
    - ``LinearSVC`` / ``LinearSVR``: ``fit_intercept=False`` (liblinear penalizes the
      intercept; ``fit_intercept=True`` raises); ``LinearSVC`` with an l1 penalty:
      ``penalty='l1', dual=False`` (liblinear's l1 is primal only).
    - ``SGDClassifier`` / ``SGDRegressor`` / ``Perceptron``: ``penalty`` from the l1/l2 mix.
    - MLPs: ``n_samples`` is the training rows; ``alpha`` is scaled by the rows of a batch
      (from ``batch_size`` and ``solver`` in ``kwargs``, or their defaults).

    Cross-validated estimators choose their own strength: convert to their base estimator.

    >>> from sklearn.linear_model import ElasticNet, Ridge
    >>> import jaxreg as jr
    >>> jr.conventions.to_sklearn(jr.elastic_net(0.1, 0.3), ElasticNet)
    ElasticNet(alpha=0.1, l1_ratio=0.3)
    >>> jr.conventions.to_sklearn(jr.l2(0.02), Ridge, n_samples=100)
    Ridge(alpha=2.0)
    """
    reject_centred(pen, "to_sklearn")
    conv = convention(estimator_class, caller="to_sklearn")
    name = estimator_class.__name__
    if conv.cv:
        base = name.removesuffix("CV")
        raise TypeError(
            f"to_sklearn: {name} chooses its own strength by cross-validation, so no penalty "
            f"converts to it; convert to {base} (or pass {base}'s strength to {name}'s grid)."
        )
    a, b, g, positive = _parts(pen)
    l1_name = "group" if conv.group else "l1"
    allowed = {"l1": (l1_name,), "l2": ("l2",)}.get(conv.mix, (l1_name, "l2"))
    extra = [k for k, v in {"l1": a, "l2": b, "group": g}.items() if v and k not in allowed]
    if extra:
        raise ValueError(
            f"to_sklearn: {name} has no {' or '.join(extra)} part; got {pen!r} (it takes "
            f"{' and '.join(allowed)})."
        )
    strength, ratio = _strength_and_ratio(pen, g if conv.group else a, b)
    make = cast(Callable[..., E], estimator_class)
    p = {**make().get_params(deep=False), **kwargs}  # type: ignore[attr-defined]
    if "fit_intercept" in kwargs:  # liblinear with an intercept: not this penalty's problem
        _check_intercept(conv, p, name)
    if positive and "positive" not in p:
        raise ValueError(
            f"to_sklearn: {name} has no positive option, so it cannot hold the non_negative "
            f"constraint of {pen!r}; Lasso, ElasticNet and Ridge(Classifier) take positive=True."
        )
    count = _count(conv, p, n_samples, "to_sklearn")
    hyper = _hyperparameters(conv, p, strength, ratio, count)
    if "positive" in p:
        hyper["positive"] = positive
    clash = {k: kwargs[k] for k in hyper if k in kwargs and kwargs[k] != hyper[k]}
    if "solver" in clash and hyper.get("solver") == "saga":  # the user's solver cannot do it
        raise ValueError(
            f"to_sklearn: {name}(solver={kwargs['solver']!r}) does not minimize this penalty "
            f"({pen!r}); use solver='saga'."
        )
    if clash:
        raise ValueError(
            f"to_sklearn: {', '.join(f'{k}={v!r}' for k, v in clash.items())} contradicts the "
            f"conversion of {pen!r}, which sets "
            f"{', '.join(f'{k}={hyper[k]!r}' for k in clash)}; leave it out of the keywords."
        )
    return make(**{**kwargs, **hyper})
