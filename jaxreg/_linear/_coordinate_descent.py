r"""The general solver: working sets, cyclic (block) coordinate descent, any datafit.

The outer loop is `working_set_loop` (violations, working set, full gradient
:math:`X^\top s \ell'(z)`, certificate); its inner solve runs CD epochs on the working set
(Anderson extrapolation, `run_epochs`) until their own violation is below a tenth of the outer
one, then computes ``X w + b`` afresh and takes the intercept's Newton step. A
datafit with a curvature bound takes prox-gradient steps of size :math:`1 / L_j`; one without
(Poisson with a non-convex penalty) takes coordinate Newton steps whose curvature doubles until
the objective decreases.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from ._anderson import run_epochs
from ._newton_decrement import curved_certificate
from ._options import SolverOptions
from ._outer_loop import State, working_set_loop
from ._problem import Problem

_INNER_FRACTION = 0.1  # the inner loop stops at this fraction of the outer violation
_BACKTRACKS = 50  # a prox-Newton step's curvature doubles at most this many times


def _backtracked(pb: Problem, j: Any, wj: jax.Array, gj: jax.Array, z: jax.Array):
    """Block ``j``'s prox-Newton step ``(h, new)``: the curvature ``h`` starts at the
    datafit's at ``z`` and doubles until the objective along the block decreases."""
    cols, y, sn = pb.cols, pb.y, pb.sn
    h0 = cols.quad(j, sn * pb.datafit.curvature(z, y))
    h0 = jnp.where(h0 > 0, h0, 1.0)

    def local(v):  # the objective along block j, up to a constant
        zv = cols.axpy(j, v - wj, z)
        return jnp.sum(sn * pb.datafit.value(zv, y)) + pb.penalty.value_at(j, v)

    f0 = local(wj)

    def cond(c):
        h, new, k = c
        return (local(new) > f0) & (k < _BACKTRACKS)

    def body(c):
        h, _, k = c
        return 2 * h, pb.penalty.prox_at(wj - gj / (2 * h), 1.0 / (2 * h), j), k + 1

    new0 = pb.penalty.prox_at(wj - gj / h0, 1.0 / h0, j)
    h, new, _ = jax.lax.while_loop(cond, body, (h0, new0, 0))
    return h, new


def _block_update(pb: Problem, ws: jax.Array, k: Any, c: tuple[Any, Any, Any]):
    """One block's step in a CD epoch: ``(w, z, res)`` with ``res`` the largest
    :math:`L_j \\lVert w_j' - w_j\\rVert` so far."""
    w, z, res = c
    j = ws[k]
    gj = pb.cols.dot_fn(j, lambda i: pb.deriv_at(z, i))
    if pb.lips is not None:  # bounded
        lj = jnp.where(pb.lips[j] > 0, pb.lips[j], 1.0)
        new = pb.block_prox(j, w[j] - gj / lj, 1.0 / lj)
    else:  # a prox-Newton step whose curvature doubles until the objective decreases
        lj, new = _backtracked(pb, j, w[j], gj, z)
    new = jnp.where(lj > 0, new, w[j])
    d = new - w[j]
    res = jnp.maximum(res, jnp.sqrt(jnp.sum(d * d)) * lj)
    return w.at[j].set(new), pb.cols.axpy(j, d, z), res


def _cd_epoch(pb: Problem, carry: tuple[Any, Any, Any], ws: jax.Array, count: Any):
    """One cyclic pass over the blocks ws[:count] and the intercept; also returns the
    largest L_j ||w_j' - w_j||: the prox-gradient residual at the point each block saw
    (skglm's inner criterion), free to compute."""
    w, b, z = carry
    dtype = pb.dtype
    w, z, res = jax.lax.fori_loop(
        0, count, lambda k, c: _block_update(pb, ws, k, c), (w, z, jnp.zeros((), dtype))
    )
    if pb.fit_intercept:
        kappa = pb.datafit.curvature_bound
        if kappa is not None:
            db = -jnp.sum(pb.sn * pb.datafit.derivative(z, pb.y)) / kappa
            b, z = b + db, z + db
            res = jnp.maximum(res, jnp.abs(db) * kappa)
        else:
            b, z, r = pb.intercept_step(b, z)
            res = jnp.maximum(res, jnp.sqrt(r))
    return (w, b, z), res


def _cd_epochs(pb: Problem, options: SolverOptions, st: State, ws, count, inner_tol):
    """CD epochs on ``ws[:count]`` (`run_epochs`), then ``z`` afresh from ``w`` (the
    coordinate updates' running ``z`` drifts, float32 above all, and the certificate must be
    that of the returned coefficients) and the intercept's Newton step: ``(w, b, z,
    epochs)``."""
    (w, b, _), epochs = run_epochs(
        lambda c: _cd_epoch(pb, c, ws, count),
        lambda c: pb.primal(c[0], c[2]),
        (st.w, st.b, st.z),
        anderson=options.anderson,
        max_epochs=options.max_epochs,
        inner_tol=inner_tol,
        dtype=pb.dtype,
    )
    b, z, _ = pb.intercept_step(b, pb.cols.matvec(w) + b)
    return w, b, z, epochs


def solve_cd(
    pb: Problem, w0: jax.Array, b0: jax.Array, *, tol: Any, options: SolverOptions, ws_min: int
) -> State:
    """The working-set loop from ``(w0, b0)``, the intercept's Newton step first. ``X w0 +
    b0`` is computed here, not a path's carried one: that differs by rounding, which flips the
    inner loops' discrete choices (Anderson's acceptance, the epoch that meets the inner
    tolerance), and a path's fit would then differ, within ``tol``, from the same fit started
    alone at ``(w0, b0)``; the pass costs less than one epoch."""
    b0, z0, _ = pb.intercept_step(b0, pb.cols.matvec(w0) + b0)
    certify, certified = curved_certificate(pb, *w0.shape)
    return working_set_loop(
        pb, w0, b0, z0, pb.grad_full(z0), functools.partial(_cd_epochs, pb, options),
        certify=certify, certified=certified, fraction=_INNER_FRACTION,
        tol=tol, max_iter=options.max_iter, ws_min=ws_min,
    )  # fmt: skip
