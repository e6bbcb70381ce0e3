"""K-fold splits and the choice of a strength from their scores: what `jaxreg.select` and
`jaxreg.linear` cross-validation share."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ._optional import require


class CVResult(NamedTuple):
    """The result of `jaxreg.select.cross_validate` (`jaxreg.select.plot_cv` draws it).

    Attributes:
      strengths: (K,) the strengths evaluated
      scores: (folds, K), higher is better
      mean_score: (K,) mean over folds
      std_score: (K,), population std over folds (as scikit-learn's cv_results_)
      best_strength: argmax of mean_score (the largest strength on ties; NaN worst)
      one_se_strength: largest strength within one standard error of best (glmnet)
    """

    strengths: np.ndarray
    scores: np.ndarray
    mean_score: np.ndarray
    std_score: np.ndarray
    best_strength: float
    one_se_strength: float


def _sklearn(module: str) -> Any:
    # jr.select.cross_validate and jr.linear.cross_validate split folds with scikit-learn
    return require(f"sklearn.{module}", what="jaxreg.select/linear.cross_validate", extra="select")


def _splitter(folds: Any, stratified: bool | None, seed: int, y: np.ndarray):
    selection = _sklearn("model_selection")
    targets = _sklearn("utils.multiclass")

    if hasattr(folds, "split"):
        return folds
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(
            f"folds must be an int >= 2 or a scikit-learn splitter (KFold(5), ...); got {folds!r}."
        )
    # class labels: ints, bools or strings that scikit-learn sees as binary/multiclass; a float
    # target is a regression target even when its values are whole numbers (prices, counts)
    kind = "continuous" if np.issubdtype(y.dtype, np.floating) else targets.type_of_target(y)
    labels = kind in ("binary", "multiclass")
    if stratified is None:  # classes: stratify; a regression target: do not
        stratified = labels
    elif stratified and not labels:
        raise ValueError(
            f"stratified=True needs class labels (an int, bool or string y); y is {kind!r} "
            f"(dtype {y.dtype}). Use stratified=None (the default: classes stratified) or False."
        )
    cls = selection.StratifiedKFold if stratified else selection.KFold
    return cls(n_splits=folds, shuffle=True, random_state=seed)


def fold_splits(
    folds: Any, stratified: bool | None, groups: Any, seed: int, X: Any, y: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, test) row indices of each fold (`cross_validate`'s folds; also
    `jaxreg.linear.cross_validate`'s)."""
    if groups is not None and not hasattr(folds, "split"):
        raise ValueError(
            f"groups= needs a group splitter, e.g. folds=GroupKFold({folds}); folds={folds!r} "
            "would ignore the groups."
        )
    splitter = _splitter(folds, stratified, seed, y)
    return list(splitter.split(X, y) if groups is None else splitter.split(X, y, groups))


def choose_strength(strengths: np.ndarray, scores: np.ndarray) -> tuple[Any, ...]:
    """Mean, population std, best and one-SE strengths of a (folds, K) score table.

    NaN scores rank worst: a strength with any NaN fold has a NaN mean and is never chosen.
    The standard error is glmnet's ``sd(ddof=1) / sqrt(folds)``.
    """
    mean, std = scores.mean(axis=0), scores.std(axis=0)
    finite = np.isfinite(mean)
    if not finite.any():
        raise ValueError("cross_validate: every strength gave a NaN or infinite score.")
    top = np.where(finite, mean, -np.inf)
    tied = np.nonzero(top == top.max())[0]
    best = int(tied[np.argmax(strengths[tied])])  # ties: the most regularized, whatever the order
    folds = scores.shape[0]
    se = scores[:, best].std(ddof=1) / math.sqrt(folds) if folds > 1 else 0.0
    within = np.nonzero(finite & (mean >= mean[best] - se))[0]
    one_se = float(strengths[within[np.argmax(strengths[within])]])
    return mean, std, float(strengths[best]), one_se
