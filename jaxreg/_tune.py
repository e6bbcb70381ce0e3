"""Differentiable strengths: hypergradients through `jaxreg.solve` and a gradient-based search."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar, cast

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import optax

from ._optional import require
from ._penalty import Penalty
from ._solve import solve
from ._typing import PyTree

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

# hypergradient's result is the gradient w.r.t. the penalty's leaves: a penalty of its class
P = TypeVar("P", bound=Penalty)


def hypergradient(
    objective: Callable[[PyTree], jax.Array],
    penalty: P,
    init_params: PyTree,
    val_loss: Callable[[PyTree], jax.Array],
    *,
    max_iter: int = 10_000,
    tol: float = 1e-10,
) -> P:
    r"""The gradient of ``val_loss(solve(objective, penalty, init_params))`` w.r.t. ``penalty``.

    .. math:: \nabla_\theta\, \mathcal{L}_{\mathrm{val}}(x^\star(\theta)), \qquad
       x^\star(\theta) = \arg\min_x f(x) + \mathrm{pen}_\theta(x),

    by implicit differentiation of the solution (see `jaxreg.solve`), not by unrolling the
    solver. The result is a pytree of the penalty's structure: ``grad.strength`` for
    ``jr.l1(s)``, ``grad.weights`` for a weighted one, ``grad.terms[i].strength`` for a sum.
    It is ``jax.grad(lambda pen: val_loss(jr.solve(objective, pen, init_params)[0]))(penalty)``;
    write that yourself to differentiate w.r.t. data the objective closes over, to use
    ``jax.jvp``, to ``jax.vmap`` over strengths, or to see ``info.converged`` (the gradient
    of a solve that did not converge is that of a point that is not the solution). Defined
    where the solution's zero pattern is stable (almost every strength); at a kink it is one
    of the one-sided derivatives.

    Args:
      objective: the smooth training loss, ``params -> scalar``.
      penalty: a differentiable `jaxreg.Penalty` (l1, l2, elastic_net, group_lasso,
        sparse_group_lasso, mcp, scad, lq, l0; weighted or masked; sums of them).
      init_params: the solver's start.
      val_loss: ``params -> scalar``, e.g. the held-out mean squared error.
      max_iter, tol: passed to `jaxreg.solve`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> f = lambda w: 0.5 * jnp.sum((w - jnp.array([3.0, 0.5])) ** 2)
    >>> val = lambda w: 0.5 * jnp.sum((w - jnp.array([2.5, 0.0])) ** 2)
    >>> g = jr.select.hypergradient(f, jr.l1(1.0), jnp.zeros(2), val)
    >>> round(float(g.strength), 4)  # w = (3 - s, 0): d/ds 0.5 (0.5 - s)^2 = s - 0.5
    0.5
    """
    if not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a jaxreg Penalty; got {type(penalty).__name__}.")

    def outer(pen: Penalty) -> jax.Array:
        return val_loss(solve(objective, pen, init_params, max_iter=max_iter, tol=tol)[0])

    return jax.grad(outer, allow_int=True)(penalty)


class TuneResult(NamedTuple):
    """The result of `jaxreg.select.tune` (`jaxreg.select.plot_tune` draws it).

    Attributes:
      hyper: the hyperparameters with the lowest validation loss seen (positive)
      params: the solution(s) there (a leading fold axis with ``data``)
      val_loss: the validation loss there (mean over folds with ``data``)
      history_hyper: every evaluated point, in order
      history_loss: (evaluations,) its validation loss
      solves: (evaluations,) solves used so far (per fold), after each evaluation
    """

    hyper: PyTree
    params: PyTree
    val_loss: float
    history_hyper: list[PyTree]
    history_loss: np.ndarray
    solves: np.ndarray


def tune(
    objective: Callable[..., jax.Array],
    val_loss: Callable[..., jax.Array],
    penalty: Callable[[PyTree], Penalty],
    hyper0: PyTree,
    init_params: PyTree,
    *,
    data: PyTree = None,
    max_evals: int = 10,
    max_step: float = 1.0,
    xtol: float = 1e-3,
    max_iter: int = 10_000,
    tol: float = 1e-10,
    verbose: bool = False,
) -> TuneResult:
    r"""Gradient-based search for strengths: minimize a validation loss over :math:`\log h`.

    .. math:: \min_{u} \; \mathcal{L}(u) = \mathrm{mean}_k\; \mathrm{val}_k\big(x_k^\star(
       e^{u})\big), \qquad x_k^\star(h) = \arg\min_x \mathrm{objective}_k(x) +
       \mathrm{penalty}(h)(x),

    with ``h`` any pytree of positive hyperparameters: one strength (``penalty=jr.l1``), or one
    per feature or group (``penalty=lambda h: jr.l1(1.0, weights=h)``: hundreds of
    hyperparameters cost no more than one). Each evaluation is one warm-started
    `jaxreg.solve` per fold (from the previous accepted solution) plus its implicit
    hypergradient (a conjugate-gradient solve on the support, see `jaxreg.solve`). Steps are
    gradient steps in :math:`u = \log h` with Barzilai-Borwein lengths
    :math:`\alpha = s^\top s / s^\top y` (a secant method for one strength), the first one
    moving the largest coordinate by ``max_step / 2`` and none by more than ``max_step``
    (default 1: a factor e); a step that increases the loss is not taken and the next is 4x
    shorter. It stops after ``max_evals`` evaluations or when an accepted step moves every
    :math:`u_i` by less than ``xtol``. The loss is not convex in :math:`u`: start near a
    sensible value (``lambda_max / 10``, from `jaxreg.select.lambda_max`). The losses are
    those of warm-started solves; in float32 a cold solve at the returned ``hyper`` can differ
    in the 5th digit (float64: ~1e-11).

    Args:
      objective: the training loss, ``params -> scalar`` (``(params, fold_data) -> scalar``
        with ``data``).
      val_loss: the held-out loss, same signature.
      penalty: ``h -> Penalty``, e.g. ``jr.l1`` or ``lambda h: jr.elastic_net(h, 0.5)``.
      hyper0: the starting hyperparameters (a positive number, array or pytree).
      init_params: the first solve's start (shared by the folds).
      data: None, or a pytree of arrays with a leading fold axis (e.g. ``(X_train, y_train,
        X_val, y_val)`` stacked over K folds of equal size): the folds are solved under
        ``jax.vmap`` and the loss is their mean.
      max_evals: evaluations (solves per fold) at most; a grid of ``G`` strengths costs ``G``.
      max_step, xtol: as above, in units of :math:`\log h`.
      max_iter, tol: passed to `jaxreg.solve`.
      verbose: print each evaluation.

    Returns:
      `TuneResult`: the best point seen and the history (`plot_tune` draws it).
    """
    if not callable(penalty) or isinstance(penalty, Penalty):
        raise TypeError(
            "penalty must be a function h -> Penalty (e.g. jr.l1, or lambda h: jr.l1(1.0, "
            f"weights=h)); got {type(penalty).__name__}."
        )
    if isinstance(max_evals, bool) or not isinstance(max_evals, int) or max_evals < 1:
        raise ValueError(f"max_evals must be a positive int; got max_evals={max_evals!r}.")
    for name, v in (("max_step", max_step), ("xtol", xtol)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0; got {name}={v!r}.")
    h0 = jax.tree.map(lambda v: np.asarray(v, dtype=np.result_type(float, v)), hyper0)
    if not jax.tree.leaves(h0):
        raise ValueError("hyper0 must hold at least one number.")
    for v in jax.tree.leaves(h0):
        if not np.all(np.isfinite(v) & (v > 0)):
            raise ValueError(
                f"hyper0 must be finite and > 0 (it is searched in log space); got {v!r}."
            )
    x_init = jax.tree.map(jnp.asarray, init_params)
    if data is None:
        folds, x = None, x_init
    else:
        sizes = {np.shape(v)[0] if np.ndim(v) else None for v in jax.tree.leaves(data)}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                "data must be a pytree of arrays with one leading fold axis of one size; got "
                f"leading sizes {sorted(map(str, sizes))}."
            )
        folds = sizes.pop()
        x = jax.tree.map(lambda v: jnp.broadcast_to(v, (folds, *jnp.shape(v))), x_init)

    def one(u, x, d):
        h = jax.tree.map(jnp.exp, u)
        args = () if d is None else (d,)
        sol = solve(lambda p: objective(p, *args), penalty(h), x, max_iter=max_iter, tol=tol)[0]
        return val_loss(sol, *args), sol

    def mean_loss(u, x):
        if data is None:
            return one(u, x, None)
        losses, sols = jax.vmap(one, in_axes=(None, 0, 0))(u, x, data)
        return jnp.mean(losses), sols

    evaluate = jax.jit(jax.value_and_grad(mean_loss, has_aux=True))
    u = jax.tree.map(np.log, h0)
    (loss, x_new), g = evaluate(u, x)
    history, losses = [jax.tree.map(np.exp, u)], [float(loss)]
    best = (float(loss), u, x_new)
    x, loss, alpha = x_new, float(loss), None

    def largest(t):
        return max(float(np.max(np.abs(v))) for v in jax.tree.leaves(t))

    def report(k, value):
        if verbose:
            print(f"tune: evaluation {k}: validation loss {value:.6g}")

    report(1, loss)
    while len(losses) < max_evals:
        gmax = largest(g)
        if not math.isfinite(gmax):
            break  # NaN/inf gradient: keep the best point seen
        if gmax == 0:
            break  # stationary
        if alpha is None:
            alpha = 0.5 * max_step / gmax
        length = alpha * min(1.0, max_step / (alpha * gmax))  # no u_i moves more than max_step
        step = jax.tree.map(lambda v, c=-length: c * np.asarray(v), g)
        u_new = jax.tree.map(lambda a, b: np.asarray(a) + b, u, step)
        (l_new, x_try), g_new = evaluate(u_new, x)
        l_new = float(l_new)
        history.append(jax.tree.map(np.exp, u_new))
        losses.append(l_new)
        report(len(losses), l_new)
        if l_new < best[0]:
            best = (l_new, u_new, x_try)
        if not l_new <= loss:  # also NaN: not taken
            alpha /= 4
            continue
        s, y = step, optax.tree.sub(g_new, g)
        sy = float(cast(jax.Array, optax.tree.vdot(s, y)))  # optax annotates ArrayLike
        ss = float(cast(jax.Array, optax.tree.vdot(s, s)))
        alpha = ss / sy if sy > 0 else 2 * alpha
        u, x, loss, g = u_new, x_try, l_new, g_new
        if largest(s) < xtol:
            break
    return TuneResult(
        hyper=jax.tree.map(np.exp, best[1]),
        params=best[2],
        val_loss=best[0],
        history_hyper=history,
        history_loss=np.asarray(losses),
        solves=np.arange(1, len(losses) + 1),
    )


def plot_tune(
    result: TuneResult,
    grid: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    ax: Axes | None = None,
) -> Figure | SubFigure:
    """The validation loss at each evaluation of `tune`, against the strength (one strength)
    or the evaluation number (several); ``grid=(strengths, losses)`` draws a grid's curve
    beside it. Draws on ``ax`` (a new figure when None). Returns the matplotlib figure, as
    `plot_path` and `plot_cv` do."""
    plt = require("matplotlib.pyplot", what="jaxreg.select.plot_tune", extra="plot")

    if ax is None:
        fig, ax = cast("tuple[Figure, Axes]", plt.subplots(figsize=(6.5, 4)))
    else:
        fig = ax.figure
    scalar = all(sum(np.size(v) for v in jax.tree.leaves(h)) == 1 for h in result.history_hyper)
    losses = result.history_loss
    if scalar:
        hs = np.array([float(jax.tree.leaves(h)[0]) for h in result.history_hyper])
        if grid is not None:
            gs, gl = map(np.asarray, grid)
            ax.plot(gs, gl, "-", color="0.6", label=f"grid ({len(gs)} solves)")
        ax.plot(hs, losses, "o-", color="C3", label=f"tune ({len(hs)} solves)")
        for k, (h, v) in enumerate(zip(hs, losses, strict=True)):
            ax.annotate(str(k + 1), (h, v), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("strength")
    else:
        ax.plot(np.arange(1, len(losses) + 1), losses, "o-", color="C3", label="tune")
        if grid is not None:
            ax.axhline(float(np.min(grid[1])), color="0.6", ls="--", label="best of the grid")
        ax.set_xlabel("evaluation (one solve each)")
    ax.set_ylabel("validation loss")
    ax.legend()
    return fig
