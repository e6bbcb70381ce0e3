r"""The prox-Newton solver: a smooth loss with an l1 / l2 / elastic-net penalty (logistic, Poisson).

Each outer iteration computes the full gradient, each feature's violation, the certificate
and the working set as the other solvers do; then the datafit's second-order model at
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

from ._certificates import State, finish, gap_and_rest, violation
from ._least_squares import inner_capacities
from ._least_squares_parts import LeastSquares
from ._ls_dense import dense_inner
from ._ls_sparse import sparse_inner
from ._options import SolverOptions
from ._problem import Problem
from ._working_set import working_set

# The model is solved to this fraction of the outer violation (skglm: 0.3 squared); a Newton
# step gains its quadratic rate only from a model solved well (benchmarks/README.md)
_INNER = 0.03
_ARMIJO = 1e-4  # the sufficient decrease, a fraction of the decrement
_BACKTRACKS = 30  # the step halves at most this many times (else no step is taken)


def _line_search(pb: Problem, w, b, z, g, w1, b1, z1):
    """``(w, b, z)`` moved by the largest ``t`` in {1, 1/2, ...} with :math:`F(w + t d) \\le
    F(w) + \\sigma t \\Delta`, :math:`\\Delta = \\nabla f^\\top d + \\mathrm{pen}(w_1) -
    \\mathrm{pen}(w)` (:math:`\\le 0` for a step that lowers the model); no move if none does."""
    d, db, dz = w1 - w, b1 - b, z1 - z
    pen0 = pb.penalty.value(w)
    f0 = pb.primal(w, z)
    slope = jnp.sum(g * d) + db * jnp.sum(pb.deriv_at(z, None)) + pb.penalty.value(w1) - pen0
    slope = jnp.minimum(slope, 0.0)

    def objective(t):
        return pb.primal(w + t * d, z + t * dz)

    def cond(c):
        t, k = c
        return (objective(t) > f0 + _ARMIJO * t * slope) & (k < _BACKTRACKS)

    t, _ = jax.lax.while_loop(cond, lambda c: (c[0] / 2, c[1] + 1), (jnp.ones_like(f0), 0))
    t = jnp.where(objective(t) <= f0, t, 0.0)
    return w + t * d, b + t * db, z + t * dz


def _newton_step(pb: Problem, options: SolverOptions, caps, bounds, st: State, ws, count, tol_in):
    """The model at ``st.z`` solved on ``ws[:count]`` (the smallest capacity that holds it),
    then the line search: ``(w, b, z, epochs)``."""
    assert pb.split is not None
    h, target = pb.datafit.quadratic_model(st.z, pb.y)
    v = pb.sn * h
    scale = jnp.sum(v)  # the model in the inner solvers' normalization: weights summing to 1
    vn = v / scale
    model = LeastSquares(
        pb.cols, target, vn, pb.split.a[:, 0] / scale, pb.split.b[:, 0] / scale,
        jnp.sum(vn * target), pb.fit_intercept, options.anderson, options.max_epochs,
    )  # fmt: skip
    inner = dense_inner if pb.cols.rows is None else sparse_inner
    # the model's gradient at st.w is the loss's over scale; so is its violation
    branches = [functools.partial(inner, model, c) for c in caps]
    which = jnp.sum(count > bounds)
    w1, b1, z1, e = jax.lax.switch(
        which, branches, st.w, st.b, st.z, st.g / scale, ws, count, tol_in / scale
    )
    w, b, z = _line_search(pb, st.w, st.b, st.z, st.g, w1, b1, z1)
    # the dual point is feasible only with the intercept's derivative at 0: a Newton step on
    # it alone (the joint step leaves it off; with columns of nonzero mean its residual
    # understates the gap, as `gap_and_rest` says)
    b, z, _ = pb.intercept_step(b, z)
    return w, b, z, e


def _outer_step(pb: Problem, options: SolverOptions, caps, bounds, tol, ws_min, st: State):
    viol = violation(pb, st.w, st.g, st.z)
    ws, count = working_set(st.w, viol, ws_min)
    # (under vmap a finished fit runs this step too: told inf, its inner loop does nothing,
    # and its state is kept)
    tol_in = jnp.where(st.done, jnp.inf, _INNER * jnp.max(viol, initial=0.0))
    w, b, z, e = _newton_step(pb, options, caps, bounds, st, ws, count, tol_in)
    w, b, z = jax.tree.map(
        lambda old, new: jnp.where(st.done, old, new), (st.w, st.b, st.z), (w, b, z)
    )
    g = pb.grad_full(z)
    gap, rest = gap_and_rest(pb, w, z, g)
    done = (gap <= tol) & (rest <= tol)
    return State(w, b, z, st.it + 1, st.epochs + e, gap, done, g)


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
    caps = inner_capacities(pb.cols.rows is not None, w0.shape[0])
    bounds = jnp.asarray(caps[:-1], jnp.int32)
    if zg0 is None:
        z0 = pb.cols.matvec(w0) + b0
        g0 = pb.grad_full(z0)
    else:
        z0, g0 = zg0
    gap, rest = gap_and_rest(pb, w0, z0, g0)
    zero = jnp.zeros((), jnp.int32)
    st = State(w0, b0, z0, zero, zero, gap, (gap <= tol) & (rest <= tol), g0)
    st = jax.lax.while_loop(  # NaN (in the data) stops at once
        lambda st: (st.it < options.max_iter) & ~st.done & ~jnp.isnan(st.gap),
        lambda st: _outer_step(pb, options, caps, bounds, tol, ws_min, st),
        st,
    )
    gap, rest = gap_and_rest(pb, st.w, st.z, st.g)  # the state's z and g are at st.w
    # the loop's certificate at this same point decides (float32: see `solve_least_squares`)
    gap = jnp.where(st.done, st.gap, gap)
    rest = jnp.where(st.done, jnp.minimum(rest, tol), rest)
    return finish(st, gap, rest, tol)
