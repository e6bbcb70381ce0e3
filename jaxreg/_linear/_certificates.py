r"""Certificates: the optimality violation and the duality gap.

Where the datafit has a dual and the penalty an l1 / l2 split (convex penalties with the
squared or logistic loss), the certificate is the duality gap; otherwise it is the largest
prox-gradient residual :math:`L_j \lVert w_j - \mathrm{prox}_{\mathrm{pen}_j / L_j}(w_j - g_j
/ L_j)\rVert`, 0 exactly at a stationary point.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._problem import Problem


def violation(pb: Problem, w: jax.Array, g: jax.Array, z: jax.Array) -> jax.Array:
    """:math:`L_j \\lVert w_j - \\mathrm{prox}(w_j - g_j / L_j)\\rVert` per block (0 if
    :math:`L_j = 0`)."""
    lz = pb.lipschitz(z)
    t = (1.0 / jnp.where(lz > 0, lz, 1.0))[:, None]
    step = w - pb.penalty.prox_all(w - g * t, t)
    return jnp.where(lz > 0, jnp.sqrt(jnp.sum(step * step, axis=1)) * lz, 0.0)


def has_gap(pb: Problem) -> bool:
    """Whether the certificate is a duality gap (else the stationarity residual)."""
    return pb.datafit.has_dual and pb.split is not None


def gap_and_rest(pb: Problem, w: jax.Array, z: jax.Array, g: jax.Array) -> tuple[Any, Any]:
    """The duality gap (or the stationarity residual) and, in the same units, the largest
    residual of what the gap does not see: the intercept and unpenalized blocks."""
    _, _, icpt = pb.intercept_step(jnp.zeros((), pb.dtype), z)
    finite = jnp.isfinite(g).all() & jnp.isfinite(z).all()
    if not has_gap(pb):  # (NaN in X: the violation's L_j > 0 test would read it as 0)
        return jnp.where(finite, jnp.max(violation(pb, w, g, z), initial=0.0), jnp.nan), icpt
    assert pb.split is not None and pb.lips is not None  # a dual: a bounded curvature
    free = pb.split.unpenalized() & (pb.lips > 0)
    g2 = jnp.sum(g * g, axis=1) / jnp.where(free, pb.lips, 1.0)  # ||g_j||^2 / L_j
    rest = jnp.maximum(icpt, jnp.max(jnp.where(free, g2, 0.0), initial=0.0))
    # a negative difference means the dual point is off (unpenalized blocks): the residual
    # bounds it from above; NaN in g (X) must reach the gap, which the dual's rescaling (a
    # comparison with NaN) would drop
    gap = jnp.maximum(pb.primal(w, z) - dual_objective(pb, *pb.dual_data(z, g)), rest)
    return jnp.where(finite, gap, jnp.nan), rest


def dual_objective(pb: Problem, y: jax.Array, z: jax.Array, g: jax.Array) -> jax.Array:
    r"""A dual objective at the rescaled residual.

    The primal is :math:`\sum_i s_i \ell_i(z_i) + \sum_j h_j(w_j)` with :math:`h_j` the
    penalty's l1 / l2 split; its Fenchel dual at :math:`u = -c\, \ell'(z)` is :math:`D =
    -\sum_i s_i \ell_i^*(-u_i) - \sum_j h_j^*(v_j)`, :math:`v = X^\top (s u) = -c\, g`, with
    ``c <= 1`` making ``v`` feasible. Blocks with no penalty (:math:`h_j = 0`) would need
    :math:`v_j = 0` exactly: they are left out of the dual and their optimality is checked on
    its own, as the intercept's is (`gap_and_rest`).
    """
    assert pb.split is not None
    c, conj = pb.split.rescaled_conjugate(g)
    return pb.datafit.dual(y, pb.sn, z, c) - jnp.sum(conj)
