"""Closed-form threshold operators: the proximal maps of positively homogeneous norms.

``P(x, tau) = argmin_z 1/2 ||z - x||^2 + tau * g(z)`` for ``g`` the L1 norm, a sum of group
norms or the nuclear norm. Exact zeros come out as exact zeros. NaN propagates: thresholds test
``norm <= tau``, which is False for NaN. How they combine with an L2 part lives in
`_penalty.py`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _numerics as nx


def soft_threshold(x: jax.Array, tau: jax.Array) -> jax.Array:
    """``sign(x) * max(|x| - tau, 0)``: the prox of ``tau * |.|``; +0.0 where thresholded."""
    return jnp.where(jnp.abs(x) <= tau, 0.0, x - jnp.sign(x) * tau)


def block_soft_threshold(x: jax.Array, tau: jax.Array, axis: tuple[int, ...]) -> jax.Array:
    """``x_g * max(1 - tau / ||x_g||, 0)`` per group: the prox of ``tau * sum_g ||x_g||``.

    Zero-safe: a group with ``||x_g|| <= tau`` (including an all-zero group) becomes exactly 0
    without dividing by its norm.
    """
    norms = nx.safe_sqrt(jnp.sum(x * x, axis=axis, keepdims=True))
    small = norms <= tau
    scale = jnp.where(small, 0.0, 1.0 - tau / jnp.where(small, 1.0, norms))
    return jnp.where(small, 0.0, x * scale)  # +0.0, not x * 0 = -0.0 for negative x


def singular_value_threshold(m: jax.Array, tau: jax.Array) -> jax.Array:
    """``U max(S - tau, 0) V^T`` of a matrix: the prox of ``tau * ||.||_*``."""
    u, s, vt = jnp.linalg.svd(m, full_matrices=False)
    out = jnp.dot(u * jnp.maximum(s - tau, 0.0), vt, precision=jax.lax.Precision.HIGHEST)
    return jnp.where(out == 0, 0.0, out)  # +0.0: a sum of 0 * (-x) terms is -0.0
