r"""The prox-Newton solver: a smooth loss with an l1 / l2 / elastic-net penalty (logistic, Poisson).

The outer loop is `working_set_loop` (violations, working set, full gradient, certificate);
its inner solve is one prox-Newton step: the datafit's second-order model at
:math:`z = X w + b` (`Datafit.quadratic_model`: weights :math:`h`, working response
:math:`t`),

.. math:: \min_{w', b'}\; \tfrac12 \sum_i s_i h_i\, (t_i - x_i^\top w' - b')^2
   + \mathrm{pen}(w'),

is a weighted least-squares problem, solved on the working set by the least-squares inner
solvers (`dense_inner` / `sparse_inner`: sample weights :math:`s h / \sum_i s_i h_i` and the
penalty divided by :math:`\sum_i s_i h_i`); a backtracking line search on the true objective
(Armijo's rule on the prox-Newton decrement, Tseng & Yun 2009) then moves ``(w, b, z)`` along
the step. This is skglm's ``ProxNewton`` and glmnet's IRLS with coordinate descent: one pass
over ``X`` per outer iteration (the gradient), the coordinate updates on the model's gathered
columns, where coordinate descent on the loss itself evaluates it on every row at every update.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from ._least_squares import least_squares_inner
from ._least_squares_parts import LeastSquares
from ._newton_decrement import curved_certificate
from ._options import SolverOptions
from ._outer_loop import State, working_set_loop
from ._problem import Problem

# The model is solved to this fraction of the outer violation (skglm: 0.3 squared); a Newton
# step gains its quadratic rate only from a model solved well (benchmarks/README.md)
_INNER = 0.03
_ARMIJO = 1e-4  # the sufficient decrease, a fraction of the decrement
_BACKTRACKS = 30  # the step halves at most this many times (else no step is taken)


def _line_search(pb: Problem, w, b, z, g, w1, b1, z1):
    """``(w, b, z)`` moved by the largest ``t`` in {1, 1/2, ...} with :math:`F(w + t d) \\le
    F(w) + \\sigma t \\Delta + \\epsilon`, :math:`\\Delta = \\nabla f^\\top d +
    \\mathrm{pen}(w_1) - \\mathrm{pen}(w)` (:math:`\\le 0` for a step that lowers the model);
    no move if none does. :math:`\\epsilon = 16\\, \\mathrm{eps}\\, |F(w)|`, the rounding of
    ``F`` (Hager & Zhang's approximate Armijo condition): near the optimum a Newton step lowers
    ``F`` by the square of what it lowers the gap, below that rounding, and compared exactly
    the steps were refused at random and the gap stalled just above ``tol``."""
    d, db, dz = w1 - w, b1 - b, z1 - z
    pen0 = pb.penalty.value(w)
    f0 = pb.primal(w, z)
    top = f0 + 16 * jnp.finfo(f0.dtype).eps * jnp.abs(f0)  # F(w) + epsilon
    slope = jnp.sum(g * d) + db * jnp.sum(pb.deriv_at(z, None)) + pb.penalty.value(w1) - pen0
    slope = jnp.minimum(slope, 0.0)

    def objective(t):
        return pb.primal(w + t * d, z + t * dz)

    def cond(c):
        t, k = c
        return (objective(t) > top + _ARMIJO * t * slope) & (k < _BACKTRACKS)

    t, _ = jax.lax.while_loop(cond, lambda c: (c[0] / 2, c[1] + 1), (jnp.ones_like(f0), 0))
    t = jnp.where(objective(t) <= top, t, 0.0)
    return w + t * d, b + t * db, z + t * dz


def _newton_step(pb: Problem, options: SolverOptions, st: State, ws, count, inner_tol):
    """The model at ``st.z`` solved on ``ws[:count]``, then the line search: ``(w, b, z,
    epochs)``."""
    assert pb.split is not None
    h, target = pb.datafit.quadratic_model(st.z, pb.y)
    v = pb.sn * h
    scale = jnp.sum(v)  # the model in the inner solvers' normalization: weights summing to 1
    vn = v / scale
    model = LeastSquares(
        pb.cols, target, vn, pb.split.a[:, 0] / scale, pb.split.b[:, 0] / scale,
        jnp.sum(vn * target), pb.fit_intercept, options.anderson, options.max_epochs,
    )  # fmt: skip
    # the model's gradient at st.w is the loss's over scale; so is its violation
    solve_ws = least_squares_inner(model, st.w.shape[0])
    w1, b1, z1, epochs = solve_ws(st.w, st.b, st.z, st.g / scale, ws, count, inner_tol / scale)
    w, b, z = _line_search(pb, st.w, st.b, st.z, st.g, w1, b1, z1)
    # the dual point is feasible only with the intercept's derivative at 0: a Newton step on
    # it alone (the joint step leaves it off; with columns of nonzero mean its residual
    # understates the gap, as `gap_and_rest` says)
    b, z, _ = pb.intercept_step(b, z)
    return w, b, z, epochs


def solve_prox_newton(
    pb: Problem,
    w0: jax.Array,
    b0: jax.Array,
    zg0: tuple[jax.Array, jax.Array] | None,
    *,
    tol: Any,
    options: SolverOptions,
    ws_min: int,
) -> State:
    """The working-set loop of prox-Newton steps from ``(w0, b0)``; ``zg0``: ``X w0 + b0``
    and the full gradient there, as a path's previous fit returns them."""
    if zg0 is None:
        z0 = pb.cols.matvec(w0) + b0
        g0 = pb.grad_full(z0)
    else:
        z0, g0 = zg0
    certify, certified = curved_certificate(pb, *w0.shape)
    return working_set_loop(
        pb, w0, b0, z0, g0, functools.partial(_newton_step, pb, options),
        certify=certify, certified=certified, fraction=_INNER,
        tol=tol, max_iter=options.max_iter, ws_min=ws_min,
    )  # fmt: skip
