r"""The unpenalized features' certificate for a loss whose curvature varies (logistic, Poisson).

The duality gap leaves the unpenalized (free) features out: its dual point needs their
gradient :math:`g_F` to be 0 exactly. What the fit can still gain on them is, to second order,
the Newton decrement of the loss at :math:`z = X w + b`,

.. math:: \lambda^2 = g_F^\top H_F^+ g_F, \qquad H_F = X_F^\top \mathrm{diag}(s\, \ell''(z))
   X_F,

with the columns centred by their :math:`s \ell''`-weighted means when there is an intercept
(the intercept's own decrement is the gap's intercept residual). Its half is the excess of the
loss's second-order model, exact for the squared loss (`unpenalized`'s ``excess``, with
:math:`H_F` constant); for a loss whose curvature falls along the step it was 0.2% short of the
true excess (a new user's nearly collinear, well-separated logistic case), so the certificate
is the whole :math:`\lambda^2`, which bounds the excess of a self-concordant function once
:math:`\lambda \le 0.68` (Boyd & Vandenberghe, section 9.6.3). The per-coordinate bound
:math:`\lVert g_j\rVert^2 / L_j`, :math:`L_j` from the curvature bound (a quarter for the
logistic loss), is no certificate: on well-separated classes :math:`\ell'' \ll 1/4` on most
rows, and an unpenalized logistic fit stopped "converged" 57 times its tolerance above the
optimum with coefficients 31% off (a new user's case, ``tests/test_linear_inputs.py``).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from ._certificates import gap_and_rest, has_gap
from ._outer_loop import Certify
from ._problem import Problem
from ._unpenalized import free_capacity, unpenalized


def curved_certificate(pb: Problem, g_count: int, size: int) -> tuple[Certify, Any]:
    """The certificate (`gap_and_rest`, plus the unpenalized blocks' decrement where the
    loss has a dual and is not the squared one) and whether it covers every unpenalized
    block (else the fit is not converged, whatever it says)."""
    if not has_gap(pb) or pb.datafit.is_least_squares:
        return functools.partial(gap_and_rest, pb), True
    assert pb.split is not None and pb.lips is not None  # a dual: a bounded curvature
    free = pb.split.unpenalized() & (pb.lips > 0)
    cap = free_capacity(g_count, size)

    def certify(w, z, g):
        gap, rest = gap_and_rest(pb, w, z, g)
        ex = jax.lax.cond(
            jnp.any(free),
            lambda z: unpenalized_decrement(pb, free, cap, z),
            lambda z: jnp.zeros((), pb.dtype),
            z,
        )
        return gap + ex, jnp.maximum(rest, ex)

    return certify, jnp.sum(free) <= cap


def unpenalized_decrement(pb: Problem, free: jax.Array, cap: int, z: jax.Array) -> jax.Array:
    """The Newton decrement on the first ``cap`` blocks that ``free`` marks, at ``z``."""
    curvature = pb.sn * pb.datafit.curvature(z, pb.y)
    scale = jnp.sum(curvature)
    scale = jnp.where(scale > 0, scale, 1.0)
    # H_F / scale from `unpenalized` (weights summing to 1, as its means need)
    part = unpenalized(pb.cols, pb.y, curvature / scale, free, cap, pb.fit_intercept)
    coords = part.vec.T @ (part.xv @ (pb.sn * pb.datafit.derivative(z, pb.y)))
    return jnp.sum(part.inv * coords * coords) / scale
