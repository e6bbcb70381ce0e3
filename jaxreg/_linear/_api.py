"""`jaxreg.linear`'s public functions: `fit`, `path`, `cross_validate`."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import numpy as np
import numpy.typing as npt
from jax.typing import ArrayLike, DTypeLike

from .._folds import CVResult, choose_strength, fold_splits
from .._penalty import NoClosedFormProx, Penalty
from .._typing import DataMatrix, LinearLoss, Splitter, Strengths
from ._checks import check_penalty, initial_point, path_args, prepare, warn_unconverged
from ._compiled import fit_compiled, fold_scores, fold_scores_vmapped, path_compiled
from ._options import solver_options
from ._penalty_parts import block_penalty
from ._result import LinearResult


def fit(
    X: DataMatrix,
    y: npt.ArrayLike,
    penalty: Penalty,
    *,
    loss: LinearLoss = "squared",
    fit_intercept: bool = True,
    sample_weight: npt.ArrayLike | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    max_epochs: int = 10_000,
    init: tuple[ArrayLike, ArrayLike] | None = None,
    huber_delta: float = 1.35,
    ws_min: int = 10,
    anderson: int = 5,
    dtype: DTypeLike | None = None,
) -> LinearResult:
    r"""Fit a penalized linear model: working sets, coordinate descent, duality gap.

    .. math:: \min_{w, b}\; \frac{1}{\sum_i s_i} \sum_i s_i\, \ell(y_i, x_i^\top w + b)
       + \mathrm{pen}(w)

    with ``loss="squared"``: :math:`\ell = \frac12 (y - z)^2` (scikit-learn's ``Lasso`` /
    ``ElasticNet`` objective: ``jr.l1(alpha)``, ``jr.elastic_net(alpha, l1_ratio)``);
    ``"logistic"``: :math:`\log(1 + e^z) - y z`, ``y`` in {0, 1} (``LogisticRegression(C,
    l1_ratio=1)`` is ``jr.l1(1 / (C * n))``); ``"huber"``: :math:`\frac12 r^2` for
    :math:`|r| \le \delta`, :math:`\delta |r| - \frac12\delta^2` beyond; ``"poisson"``:
    :math:`e^z - y z`, ``y >= 0`` (``PoissonRegressor(alpha)`` is ``jr.l2(alpha)``).
    ``penalty``: any elementwise jaxreg penalty with a prox (l1, l2, elastic_net, weighted or
    not; mcp, scad, lq, l0, for which the result is a stationary point), or a group lasso on
    consecutive features (``jr.group_lasso(s, reshape=(-1, group_size))``: celer's
    ``groups=group_size``; dense ``X``, not with ``"poisson"``), applied to the coefficients
    only.

    It stops when the duality gap (l1 / l2 / elastic-net penalties with the squared or
    logistic loss) is at most ``tol`` times scikit-learn's scale, :math:`\lVert y - \bar
    y\rVert^2 / n` (weighted; :math:`\lVert y \rVert^2 / n` without intercept), as
    ``Lasso(tol=...)`` does; for the other losses, ``tol`` times the intercept-only model's
    loss (logistic: its mean log-loss; Poisson: its half deviance; Huber: its mean Huber loss
    at the median of ``y``; without intercept, the loss at ``z = 0``). A constant ``y`` makes
    that scale 0 (or rounding): where it is below ``50 eps^2`` times the mean of ``y^2 + |y|``
    (the rounding of the exact fit's gap), that is the absolute tolerance, so the exact fit
    converges. Otherwise
    (Huber, Poisson, non-convex penalties) ``gap`` is the largest prox-gradient
    residual :math:`\max_j L_j |w_j - \mathrm{prox}_{\mathrm{pen}_j/L_j}(w_j - g_j/L_j)|`,
    0 exactly at a stationary point, with the same scale. ``tol`` must be > 0; below ``50
    eps`` of the dtype (6e-6 in float32, 1e-14 in float64) it is raised to that floor: the
    gap is a difference of two nearly equal numbers and cannot be certified below that. A fit
    that stops at ``max_iter`` warns (eagerly; under `jax.jit`, read ``converged``).
    Unpenalized features (a strength or weight of 0, no l2) have no dual constraint: with the
    squared loss (dense or sparse ``X``) an exact Newton step on them follows every inner solve
    (an ``eigh`` of their Gram matrix :math:`H`, computed once) and their exact excess
    :math:`\frac12 g_F^\top H^+ g_F` is added to the gap, so ``converged`` means within ``tol``;
    this holds for all of them when ``X`` has at most 512 features, else for up to 64
    unpenalized features (more: the loop stops on the per-coordinate bound below and
    ``converged`` stays False; the coefficients are usable, uncertified). With the logistic
    loss their squared Newton decrement at the point, :math:`g_F^\top H_F^+ g_F` with
    :math:`H_F` weighted by the loss's curvature there, is added to the gap (the same 512 / 64
    features): twice the second-order estimate of what they can still gain, a bound near the
    optimum (the per-coordinate bound with the curvature bound 1/4 passed well-separated
    classes 57 times ``tol`` off); far from it, and on nearly collinear unpenalized columns,
    a logistic fit can need many outer iterations (read ``converged``).
    The losses without a dual (Poisson, Huber) certify stationarity, as above.
    The algorithm is in ``jaxreg/_linear/__init__.py``'s docstring. jit-able in
    ``y``, ``sample_weight``, the penalty's leaves and a dense ``X`` (a traced BCOO ``X``
    raises a ``ValueError``: a sparse ``X`` is laid out on the host); NaN in them gives NaN
    coefficients and ``converged=False``; a negative or NaN strength raises a ``ValueError``
    (traced: NaN). ``dtype=float64`` needs ``jax_enable_x64``. Differentiable in forward
    mode only (`jax.jvp`, `jax.jacfwd`: through the solver's iterations); `jax.grad` raises
    JAX's error on reverse-mode differentiation of a ``while_loop``: for the gradient of a
    validation loss in the strength use `jaxreg.select.hypergradient` (implicit
    differentiation), for a loss of the coefficients `jaxreg.solve`.

    Args:
      X: ``(n_samples, n_features)``: NumPy or JAX array, ``scipy.sparse`` matrix or a
        ``jax.experimental.sparse.BCOO`` (converted to padded sparse columns).
      y: ``(n_samples,)`` targets (labels in {0, 1} for the logistic loss).
      penalty: a `jaxreg.Penalty` on the coefficient vector ``(n_features,)``; its ``weights``
        (if any) are per feature.
      loss, fit_intercept, sample_weight: as above (``sample_weight`` >= 0, any scale).
      tol: the stopping tolerance, relative as above.
      max_iter: outer iterations (full gradient passes) at most.
      max_epochs: coordinate-descent epochs per working set at most.
      init: ``(coef, intercept)`` to start from (a warm start), or None for zeros.
      huber_delta: :math:`\delta` of the Huber loss.
      ws_min: the smallest working set.
      anderson: extrapolate every this many epochs (0: never).
      dtype: the computation's dtype (default: float64 with ``jax_enable_x64``, else float32).

    Returns:
      `LinearResult` ``(coef, intercept, gap, iterations, epochs, converged)``.
    """
    options = solver_options(
        tol=tol, loss=loss, huber_delta=huber_delta, fit_intercept=fit_intercept,
        max_iter=max_iter, max_epochs=max_epochs, ws_min=ws_min, anderson=anderson,
    )  # fmt: skip
    cols, yj, s, n, p, dtype = prepare(X, y, sample_weight, options.datafit, dtype)
    check_penalty(penalty)
    w0, b0 = initial_point(init, p, dtype)
    block_penalty(penalty, p, dtype)  # its errors, eagerly, with readable values
    with _prox_errors_name(penalty):
        res = fit_compiled(cols, yj, s, penalty, w0, b0, tol, options=options)
    warn_unconverged(res, "fit")
    return res


def path(
    X: DataMatrix,
    y: npt.ArrayLike,
    penalty: Penalty | Callable[[ArrayLike], Penalty],
    strengths: Strengths,
    *,
    loss: LinearLoss = "squared",
    fit_intercept: bool = True,
    sample_weight: npt.ArrayLike | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    max_epochs: int = 10_000,
    huber_delta: float = 1.35,
    ws_min: int = 10,
    anderson: int = 5,
    dtype: DTypeLike | None = None,
    init: tuple[ArrayLike, ArrayLike] | None = None,
) -> LinearResult:
    """`fit` at each strength, warm-started, in one compiled `lax.scan`.

    ``penalty`` is a builder ``strength -> Penalty`` (``jr.l1``, ``lambda s:
    jr.elastic_net(s, 0.5)``) or a `Penalty` built with strength 1 that is scaled (``s *
    pen``). Give ``strengths`` in descending order (``jr.select.strength_grid``) so each fit
    starts from the sparser one before it (as ``lasso_path`` and glmnet do). Returns a
    `LinearResult` whose fields have a leading strength axis. Other arguments as in `fit`.
    jit-able as `fit` is, with ``strengths`` traced too (an array; concrete negative or NaN
    strengths raise a ``ValueError``, traced ones give NaN). ``init=(coef, intercept)`` starts
    the first strength there (a previous path's or fit's end) instead of at 0.
    """
    options = solver_options(
        tol=tol, loss=loss, huber_delta=huber_delta, fit_intercept=fit_intercept,
        max_iter=max_iter, max_epochs=max_epochs, ws_min=ws_min, anderson=anderson,
    )  # fmt: skip
    cols, yj, s, n, p, dtype = prepare(X, y, sample_weight, options.datafit, dtype)
    strengths, build, template = path_args(strengths, penalty, p, dtype)
    start = None if init is None else initial_point(init, p, dtype)
    with _prox_errors_name(penalty):
        res = path_compiled(
            cols, yj, s, strengths, tol, start, template, build=build, options=options
        )
    warn_unconverged(res, "path")
    return res


def cross_validate(
    X: DataMatrix,
    y: npt.ArrayLike,
    penalty: Penalty | Callable[[ArrayLike], Penalty],
    strengths: Strengths,
    *,
    folds: int | Splitter = 5,
    stratified: bool | None = None,
    groups: npt.ArrayLike | None = None,
    seed: int = 0,
    loss: LinearLoss = "squared",
    fit_intercept: bool = True,
    sample_weight: npt.ArrayLike | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    max_epochs: int = 10_000,
    huber_delta: float = 1.35,
    ws_min: int = 10,
    anderson: int = 5,
    dtype: DTypeLike | None = None,
    vmap_folds: bool = False,
) -> CVResult:
    """K-fold cross-validation of a regularization path: scikit-learn's ``LassoCV``,
    ``ElasticNetCV`` and ``LogisticRegressionCV`` (L1), one compiled path for every fold.

    Each fold is the whole ``X`` with the held-out rows' sample weights set to 0, so every
    fold has the same shapes and one compiled `path` serves them all (a fold's fit is exactly
    the fit on its training rows: the data term is a weighted mean). ``vmap_folds=True`` runs
    the folds as one `jax.vmap` instead: slower on a CPU (a vmapped while loop runs until its
    slowest fold, and both branches of each `lax.cond`; benchmarks/README.md), so the
    default is a loop; try it on a GPU. The score of a
    strength on a fold is minus the held-out mean loss: minus the mean squared error
    :math:`(y - z)^2` for ``loss="squared"`` (``LassoCV``'s ``mse_path_``), minus the mean
    log-loss for ``"logistic"``, minus the mean Huber loss for ``"huber"``; weighted by
    ``sample_weight`` when given. Folds, ``stratified``, ``groups`` and ``seed`` as in
    `jaxreg.select.cross_validate` (``folds=KFold(5)`` reproduces ``LassoCV(cv=5)``), except
    that ``stratified=None`` stratifies for ``loss="logistic"`` only: the loss, not ``y``'s
    dtype, says whether ``y`` holds classes (integer targets of the other losses, such as
    counts or whole-number prices, get plain shuffled folds, as ``LassoCV`` would). Every
    fold's training and held-out rows need a positive total ``sample_weight`` (else a
    ``ValueError`` names the fold). The other arguments as in `path`.

    ``LogisticRegressionCV(Cs=...)``: scikit-learn's objective on ``m`` rows is ``C * (sum of
    the losses) + ||w||_1``, jaxreg's strength ``1 / (C m)``, with ``m`` the rows the fit sees
    (the sum of their sample weights when weighted), as `jaxreg.conventions.from_sklearn` reads
    a fitted estimator with ``n_samples`` its training rows. Here one strength serves
    every fold, so ``strengths = 1 / (Cs * m)`` with ``m`` a fold's training rows, ``n (K - 1)
    / K`` for K equal folds, reproduces its folds' fits (unequal folds: within one row); its
    refit on all ``n`` rows at ``C_`` is the strength ``1 / (C_ n)``.

    Returns:
      `jaxreg.select.CVResult` (``best_strength``, ``one_se_strength``, per-fold ``scores``).
    """
    options = solver_options(
        tol=tol, loss=loss, huber_delta=huber_delta, fit_intercept=fit_intercept,
        max_iter=max_iter, max_epochs=max_epochs, ws_min=ws_min, anderson=anderson,
    )  # fmt: skip
    cols, yj, s, n, p, dtype = prepare(X, y, sample_weight, options.datafit, dtype)
    strengths, build, template = path_args(strengths, penalty, p, dtype)
    labels = np.asarray(y)
    if options.datafit.classification:  # 0 / 1 floats are classes to the splitter
        labels = np.where(np.isnan(labels), 0, labels).astype(np.int64)
    if stratified is None:  # the loss says what y is, not y's dtype
        stratified = options.datafit.classification
    splits = fold_splits(folds, stratified, groups, seed, np.zeros((n, 1)), labels)
    train = np.stack([np.isin(np.arange(n), tr) for tr, _ in splits])
    _check_fold_weights(s, train)
    static = {"build": build, "options": options}
    with _prox_errors_name(penalty):
        if vmap_folds:
            scores, converged = fold_scores_vmapped(
                cols, yj, s, jax.device_put(train), strengths, tol, template, **static
            )
        else:  # (NumPy's stacks and row masks: eager jnp ones compile)
            out = [
                fold_scores(cols, yj, s, jax.device_put(m), strengths, tol, template, **static)
                for m in train
            ]
            scores = np.stack([np.asarray(o[0]) for o in out])
            converged = np.stack([np.asarray(o[1]) for o in out])
    scores = np.asarray(scores, np.float64)
    if not bool(np.all(np.asarray(converged))):
        warnings.warn(
            "jr.linear.cross_validate: some fits stopped at max_iter before the gap reached "
            "tol; raise max_iter or tol.",
            RuntimeWarning,
            stacklevel=2,
        )
    host = np.asarray(strengths, np.float64)
    mean, std, best, one_se = choose_strength(host, scores)
    return CVResult(host, scores, mean, std, best, one_se)


def _check_fold_weights(s: jax.Array, train: np.ndarray) -> None:
    """Each fold's training and held-out rows need a positive weight (eagerly; traced
    weights: the scores are NaN)."""
    if isinstance(s, jax.core.Tracer):
        return
    sh = np.asarray(s, np.float64)
    for k, mask in enumerate(train):
        for rows, what in ((mask, "training"), (~mask, "held-out")):
            if not sh[rows].sum() > 0:
                raise ValueError(
                    f"sample_weight is 0 on every {what} row of fold {k}: its fit or its "
                    "score is undefined. Give those rows weight, or choose folds (a "
                    "scikit-learn splitter as folds=) that mix them."
                )


@contextlib.contextmanager
def _prox_errors_name(penalty: Any) -> Iterator[None]:
    """A penalty without a closed-form prox on the coefficients fails while the solver is
    traced, its strengths tracers in the message: name it as given, and what to do."""
    try:
        yield
    except NoClosedFormProx:
        raise NoClosedFormProx(
            f"jr.linear needs the whole penalty's prox on the coefficient vector in closed "
            f"form; {penalty!r} sums non-quadratic kinds that have none together (an l2 term "
            "can be added to any one kind): keep one of them."
        ) from None
