"""Choosing the strength: grids, lambda_max, vmapped sweeps, K-fold CV and warm-started paths."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.typing import ArrayLike

from ._folds import CVResult, choose_strength, fold_splits
from ._linear import cross_validate as linear_cv
from ._optional import require
from ._penalty import Penalty, check_scalar, resolve_terms
from ._solve import solve
from ._typing import Device, LinearLoss, PyTree, Splitter, Strengths

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

# --------------------------------------------------------------------------------------------
# Grids


def strength_grid(lambda_max: ArrayLike, *, num: int = 100, ratio: float = 1e-3) -> np.ndarray:
    """``num`` strengths from ``lambda_max`` down to ``ratio * lambda_max``, evenly in log scale.

    The defaults are glmnet's and scikit-learn's (``LassoCV(n_alphas=100, eps=1e-3)``); the
    order is descending, as theirs, so warm starts go from sparse to dense.

    >>> import jaxreg as jr
    >>> jr.select.strength_grid(1.0, num=3, ratio=0.01)
    array([1.  , 0.1 , 0.01])
    """
    check_scalar(lambda_max, "lambda_max", low_open=True)
    check_scalar(ratio, "ratio", high=1.0, low_open=True)
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ValueError(f"num must be a positive int; got num={num!r}.")
    top = float(np.asarray(lambda_max))  # a concrete scalar (checked above): a grid is eager
    return np.geomspace(top, top * ratio, num=num)


def lambda_max(loss_fn: Callable[[PyTree], jax.Array], params: PyTree, pen: Penalty) -> jax.Array:
    r"""The smallest strength at which every penalized weight is 0 (at its center) at the optimum.

    Zero the leaves ``pen`` penalizes (set them to its ``center`` :math:`c` for a centred
    penalty: there the question is when :math:`x = c` is optimal) and take
    :math:`g = \nabla \mathrm{loss}` there; 0 (:math:`c`) is optimal for strength
    :math:`\lambda` iff :math:`|g_i| \le \lambda` (L1),
    :math:`\lVert g_{\text{group}}\rVert_2 \le \lambda` (group lasso),
    :math:`|g_i| \le \lambda\rho` (elastic net), :math:`\sigma_{\max}(G) \le \lambda`
    (nuclear), :math:`\lVert G\rVert_* \le \lambda` (spectral), for a stack of matrices
    (``batch_axes``) the largest over its matrices; with ``weights`` each bound is
    :math:`\lambda w` (an entry of weight 0 with a non-zero gradient is never 0 at the
    optimum: the result is then inf). ``pen``'s own strength is ignored: the result is the
    strength to give its builder. Leaves ``pen`` does not penalize (intercepts) are used as
    given, so pass them at their optimum for zero weights (e.g. the intercept at mean(y)).

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> X, y = jnp.eye(2), jnp.array([3.0, -1.0])
    >>> loss = lambda w: 0.5 * jnp.mean((X @ w - y) ** 2)
    >>> float(jr.select.lambda_max(loss, jnp.ones(2), jr.l1(1.0)))
    1.5
    """
    if not isinstance(pen, Penalty) or len(pen.terms) != 1:
        raise ValueError(f"lambda_max needs a single-term penalty; got {pen!r}.")
    term = pen.terms[0]
    plan = resolve_terms([term], params)
    (idx,), (ws,), (cs,) = plan.chosen, plan.weights, plan.centers
    if not idx:
        raise ValueError(
            "lambda_max: the penalty selects no leaf of params (only floating-point leaves, "
            "not scalars unless a mask selects them, are penalized)."
        )
    zeroed = list(plan.leaves)
    for i, c in zip(idx, cs, strict=True):
        x = jnp.asarray(zeroed[i])
        zeroed[i] = (
            jnp.zeros_like(x) if c is None else jnp.broadcast_to(jnp.asarray(c, x.dtype), x.shape)
        )
    grads = jax.tree.leaves(jax.grad(loss_fn)(jax.tree.unflatten(plan.treedef, zeroed)))
    return jnp.max(jnp.stack([term.dual_norm(grads[i], w) for i, w in zip(idx, ws, strict=True)]))


# --------------------------------------------------------------------------------------------
# Sweeps


def _strength_array(strengths: Any) -> jax.Array:
    s = jnp.asarray(strengths)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"strengths must be a non-empty 1-D array; got shape {s.shape}.")
    if not jnp.issubdtype(s.dtype, jnp.floating):
        s = s.astype(jnp.result_type(float))
    host = np.asarray(s)
    if not np.all(np.isfinite(host)) or np.any(host < 0):
        raise ValueError(f"strengths must be finite and >= 0; got {host!r}.")
    return s


def _shard(x: jax.Array, devices: Sequence[Any] | None) -> tuple[jax.Array, int]:
    """Pad the leading axis to a multiple of len(devices) and shard it over them."""
    if not devices or len(devices) == 1:
        return x, 0
    d = len(devices)
    pad = (-x.shape[0]) % d
    if pad:
        x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)])
    mesh = jax.sharding.Mesh(np.asarray(devices), ("s",))
    spec = jax.sharding.PartitionSpec("s", *([None] * (x.ndim - 1)))
    return jax.device_put(x, jax.sharding.NamedSharding(mesh, spec)), pad


def sweep(
    train_fn: Callable[..., PyTree],
    strengths: Strengths,
    *args: PyTree,
    devices: Sequence[Device] | None = None,
    cache: bool = False,
) -> PyTree:
    """``train_fn(s, *args)`` for every strength ``s`` at once: ``jit(vmap(train_fn))``.

    One compilation serves the whole sweep. With ``devices`` (e.g. ``jax.devices()``) the
    strength axis is sharded over them (padded to a multiple of their number), so K strengths
    on D devices run K/D each. Returns ``train_fn``'s pytree with a leading strength axis.

    ``cache=False`` (default): each call traces ``train_fn`` afresh, so it always sees the
    current values of the globals it reads (a notebook that changes a learning rate and sweeps
    again gets the new results), at the price of a compilation per call. ``cache=True``: the
    compiled sweep is kept for this ``train_fn`` object (and the number of ``args``), as
    `jax.jit` keeps a function's: repeated sweeps skip compilation, but globals are read only
    when it traces (the first call, and again whenever the shapes or number of strengths
    change); redefine ``train_fn`` (or pass ``cache=False``) after changing them.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.select.sweep(lambda s, x: x / (1 + s), jnp.array([0.0, 1.0, 3.0]), jnp.ones(2))
    Array([[1.  , 1.  ],
           [0.5 , 0.5 ],
           [0.25, 0.25]], dtype=float32)
    """
    s = _strength_array(strengths)
    s, pad = _shard(s, devices)
    out = (_vmapped if cache else _vmap_jit)(train_fn, len(args))(s, *args)
    return jax.tree.map(lambda x: x[: x.shape[0] - pad], out) if pad else out


def _vmap_jit(train_fn: Callable[..., Any], n_args: int) -> Callable[..., Any]:
    # a new vmap wrapper each time: jit's cache is keyed on it, so train_fn is traced afresh
    return jax.jit(jax.vmap(train_fn, in_axes=(0,) + (None,) * n_args))


_vmapped = functools.lru_cache(maxsize=64)(_vmap_jit)  # sweep(cache=True): bounded


# --------------------------------------------------------------------------------------------
# Cross-validation


def cross_validate(
    train_fn: Callable[[jax.Array, jax.Array, jax.Array], PyTree] | str,
    score_fn: Callable[[PyTree, jax.Array, jax.Array], ArrayLike] | Any,
    strengths: Strengths,
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    folds: int | Splitter = 5,
    stratified: bool | None = None,
    groups: npt.ArrayLike | None = None,
    seed: int = 0,
    devices: Sequence[Device] | None = None,
    **linear_options: Any,
) -> CVResult:
    """K-fold cross-validation of every strength, vmapped over folds and strengths.

    ``train_fn(strength, X_train, y_train) -> params`` and ``score_fn(params, X_test, y_test)
    -> scalar`` (higher is better, like scikit-learn scorers: return minus the MSE for a
    regression) are your plain functions; each call sees exactly one fold's rows. Folds come
    from scikit-learn: ``StratifiedKFold`` for class labels and ``KFold`` otherwise
    (``stratified=None`` stratifies an int, bool or string ``y`` that scikit-learn's
    ``type_of_target`` calls binary or multiclass; a float ``y`` is a regression target even
    with whole-number values; True/False forces it), with ``shuffle=True,
    random_state=seed``; or pass any splitter (``folds=KFold(5)`` reproduces
    ``LassoCV(cv=5)``; ``folds=GroupKFold(5), groups=g`` keeps groups together: ``groups``
    goes to ``folds.split(X, y, groups)``). Folds of equal shape are stacked and
    run as one vmapped call, so each distinct fold shape compiles once. With ``devices`` the
    strength axis is sharded over them (padded to a multiple of their number), as in `sweep`.

    A strength whose score is NaN (or infinite) on any fold ranks worst and is never chosen;
    a `RuntimeWarning` names those strengths, and every other result is returned.

    **A linear model given as data** (scikit-learn's ``LassoCV`` / ``ElasticNetCV``): pass a
    loss name (``"squared"``, ``"logistic"``, ``"huber"``, ``"poisson"``) as ``train_fn`` and
    the penalty (a builder ``strength -> Penalty`` such as ``jr.l1``, or a `Penalty` of
    strength 1) as ``score_fn``: ``cross_validate("squared", jr.l1, strengths, X, y,
    folds=KFold(5))`` is ``jaxreg.linear.cross_validate(X, y, jr.l1, strengths,
    loss="squared", folds=KFold(5))``: one warm-started coordinate-descent path per fold
    instead of a generic solve per strength, scored by minus the held-out mean loss (the
    MSE for ``"squared"``, as ``LassoCV``'s ``mse_path_``), with an intercept. The function
    form cannot tell that it fits a linear model, hence the explicit switch. ``devices`` is
    not supported there; the solver's keyword options (``fit_intercept``, ``sample_weight``,
    ``tol``, ``max_iter``, ``max_epochs``, ``huber_delta``, ``ws_min``, ``anderson``,
    ``dtype``, ``vmap_folds``) go on to `jaxreg.linear.cross_validate` (only there: with
    functions they raise a TypeError).

    Returns:
      `CVResult` with per-strength ``mean_score`` / ``std_score`` (population std, as
      scikit-learn's ``cv_results_``), the per-fold ``scores``, ``best_strength`` and
      ``one_se_strength``: the most regularized strength whose mean score is within one
      standard error of the best, with glmnet's standard error ``sd(ddof=1) / sqrt(folds)``
      of the best strength's fold scores (``lambda.1se``).
    """
    if isinstance(train_fn, str):  # a linear model given as data: jr.linear's solver
        if devices is not None:
            raise ValueError(
                "cross_validate with a loss name (jaxreg.linear's path) does not shard over "
                f"devices; got devices={devices!r}. Drop devices, or pass train_fn/score_fn."
            )
        # here score_fn is the penalty (or its builder) and train_fn the loss's name, which
        # jr.linear checks
        penalty = cast("Penalty | Callable[[ArrayLike], Penalty]", score_fn)
        return linear_cv(
            X, y, penalty, strengths, folds=folds, stratified=stratified, groups=groups,
            seed=seed, loss=cast(LinearLoss, train_fn), **linear_options,
        )  # fmt: skip
    if linear_options:
        raise TypeError(
            f"cross_validate got unexpected keyword arguments {sorted(linear_options)}: solver "
            "options go with a loss name as train_fn (jaxreg.linear.cross_validate); with "
            "train_fn / score_fn functions, set them inside train_fn."
        )
    s = _strength_array(strengths)
    n_strengths = s.shape[0]
    s, _ = _shard(s, devices)
    X_np, y_np = np.asarray(X), np.asarray(y)
    if len(X_np) != len(y_np):
        raise ValueError(
            f"X and y must have the same number of rows; got {len(X_np)} and {len(y_np)}."
        )
    splits = fold_splits(folds, stratified, groups, seed, X_np, y_np)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, (tr, te) in enumerate(splits):
        by_shape.setdefault((len(tr), len(te)), []).append(i)

    def one_fold(strengths, Xtr, ytr, Xte, yte):
        def one_strength(strength):
            return score_fn(train_fn(strength, Xtr, ytr), Xte, yte)

        return jax.vmap(one_strength)(strengths)

    run = jax.jit(jax.vmap(one_fold, in_axes=(None, 0, 0, 0, 0)))
    scores = np.zeros((len(splits), n_strengths))
    for idx in by_shape.values():
        tr = np.stack([splits[i][0] for i in idx])
        te = np.stack([splits[i][1] for i in idx])
        out = run(
            s,
            jnp.asarray(X_np[tr]),
            jnp.asarray(y_np[tr]),
            jnp.asarray(X_np[te]),
            jnp.asarray(y_np[te]),
        )
        scores[idx] = np.asarray(out, dtype=np.float64)[:, :n_strengths]
    host = np.asarray(s, dtype=np.float64)[:n_strengths]
    bad = ~np.isfinite(scores).all(axis=0)
    if bad.any():
        warnings.warn(
            f"cross_validate: strengths {host[bad].tolist()} gave NaN or infinite scores on some "
            "folds; they rank worst and are never chosen.",
            RuntimeWarning,
            stacklevel=2,
        )
    mean, std, best, one_se = choose_strength(host, scores)
    return CVResult(host, scores, mean, std, best, one_se)


# --------------------------------------------------------------------------------------------
# Regularization paths


class PathResult(NamedTuple):
    """The result of `jaxreg.select.path` (`jaxreg.select.plot_path` draws it).

    Attributes:
      strengths: (K,) the strengths, in the order solved
      params: the parameter pytree stacked along a leading strength axis
      iterations: (K,) solver iterations per strength
      converged: (K,) whether each solve converged
    """

    strengths: np.ndarray
    params: PyTree
    iterations: jax.Array
    converged: jax.Array


def path(
    objective: Callable[[PyTree], jax.Array],
    pen: Penalty | Callable[[jax.Array], Penalty],
    strengths: Strengths,
    init_params: PyTree,
    *,
    max_iter: int = 10_000,
    tol: float = 1e-10,
) -> PathResult:
    """Warm-started regularization path: `jaxreg.solve` at each strength, in one `lax.scan`.

    ``pen`` is a builder ``strength -> Penalty`` (e.g. ``jr.l1`` or
    ``lambda s: jr.elastic_net(s, 0.5)``), or a `Penalty` built with strength 1 that is scaled
    (``s * pen``). Give strengths in descending order (as `strength_grid` does) so each solve
    starts from the sparser solution before it, as glmnet and ``lasso_path`` do.

    A linear model given as data (``X``, ``y``, a loss name) has its own, much faster path:
    `jaxreg.linear.path` (working-set coordinate descent with duality gaps; scikit-learn's
    ``lasso_path`` / ``enet_path``). This function keeps to objectives given as functions.
    """
    s = _strength_array(strengths)
    build = (lambda v: v * pen) if isinstance(pen, Penalty) else pen
    x0 = jax.tree.map(jnp.asarray, init_params)

    @jax.jit
    def run(s, x0):
        def step(x, strength):
            x, info = solve(objective, build(strength), x, max_iter=max_iter, tol=tol)
            return x, (x, info.iterations, info.converged)

        return jax.lax.scan(step, x0, s)[1]

    params, its, conv = run(s, x0)
    return PathResult(np.asarray(s, np.float64), params, its, conv)


# --------------------------------------------------------------------------------------------
# Plots


def _strength_axis(ax: Any, strengths: np.ndarray) -> None:
    """Log scale; symlog (linear below the smallest positive strength) when 0 is a strength."""
    positive = strengths[strengths > 0]
    if (strengths == 0).any():
        linthresh = float(positive.min()) if positive.size else 1.0
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlim(-0.2 * linthresh, 1.5 * float(strengths.max()) or 1.0)  # no negative side
        ax.set_xlabel("strength (log scale; linear near 0, so strength 0 is shown)")
    else:
        ax.set_xscale("log")
        ax.set_xlabel("strength (log scale)")


def plot_path(result: PathResult, ax: Axes | None = None) -> Figure | SubFigure:
    """Coefficients against the strength (log scale, strongest on the left), as in
    scikit-learn's lasso-path example. Returns the matplotlib figure."""
    plt = require("matplotlib.pyplot", what="jaxreg.select.plot_path", extra="plot")

    if ax is None:
        fig, ax = cast("tuple[Figure, Axes]", plt.subplots(figsize=(7, 4.5)))
    else:
        fig = ax.figure
    leaves = [
        np.asarray(x).reshape(len(result.strengths), -1) for x in jax.tree.leaves(result.params)
    ]
    order = np.argsort(result.strengths)  # any grid order draws one line per coefficient
    coefs = np.concatenate(leaves, axis=1)[order]
    strengths = np.asarray(result.strengths)[order]
    for j in range(coefs.shape[1]):
        ax.plot(strengths, coefs[:, j], lw=1.2)
    _strength_axis(ax, strengths)
    ax.invert_xaxis()
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylabel("coefficient")
    ax.set_title("regularization path")
    return fig


def plot_cv(result: CVResult, ax: Axes | None = None) -> Figure | SubFigure:
    """Mean CV score ± one std against the strength, with the best and one-SE strengths marked.
    Returns the matplotlib figure."""
    plt = require("matplotlib.pyplot", what="jaxreg.select.plot_cv", extra="plot")

    if ax is None:
        fig, ax = cast("tuple[Figure, Axes]", plt.subplots(figsize=(7, 4.5)))
    else:
        fig = ax.figure
    order = np.argsort(result.strengths)
    strengths = np.asarray(result.strengths)[order]
    mean, std = result.mean_score[order], result.std_score[order]
    for row in result.scores:
        ax.plot(strengths, row[order], color="0.75", lw=0.8)
    ax.plot(strengths, mean, color="k", lw=2, label="mean over folds")
    ax.fill_between(strengths, mean - std, mean + std, alpha=0.2, label="± 1 std")
    ax.axvline(result.best_strength, ls="--", color="C3", label=f"best {result.best_strength:.3g}")
    ax.axvline(
        result.one_se_strength, ls=":", color="C2", label=f"one-SE {result.one_se_strength:.3g}"
    )
    _strength_axis(ax, strengths)
    ax.set_ylabel("score (higher is better)")
    ax.set_title("cross-validation")
    ax.legend(fontsize=8)
    return fig
