"""Closed-form proximal operators of one leaf.

Every prox here is ``argmin_z 1/2 ||z - x||^2 + t * g(z)`` for a positively homogeneous ``g``
(L1, group norms, nuclear norm), optionally plus ``t * b / 2 * ||z||^2``. For the latter:

    prox(x) = prox_{t g / (1 + t b)}(x / (1 + t b)) = P(x, t * lam) / (1 + t * b)

where ``P(x, tau)`` is the threshold operator of ``g`` (homogeneity moves the scaling out).
Exact zeros come out as exact zeros. NaN propagates: thresholds test ``norm <= tau``, which is
False for NaN.
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
    return x * scale


def singular_value_threshold(x: jax.Array, tau: jax.Array) -> jax.Array:
    """``U max(S - tau, 0) V^T``: the prox of ``tau * ||.||_*`` (matrix view as in `nuclear`)."""
    m = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
    u, s, vt = jnp.linalg.svd(m, full_matrices=False)
    out = jnp.dot(u * jnp.maximum(s - tau, 0.0), vt, precision=jax.lax.Precision.HIGHEST)
    return out.reshape(x.shape)


def leaf_prox(x: jax.Array, t: jax.Array, nonsmooth, l2: jax.Array) -> jax.Array:
    """The prox of ``t * (g(z) + l2 / 2 * ||z||^2)`` at ``x`` with ``g`` given by ``nonsmooth``.

    ``nonsmooth`` is None or ``(kind, strength, options)`` with kind in l1, group_lasso, nuclear.
    ``t`` is a scalar, or an array of ``x``'s shape: a diagonal metric, exact for the
    elementwise parts; group lasso uses its mean over each group and nuclear over the matrix
    (their prox has no closed form in a non-isotropic metric).
    Computed in the accumulation dtype (float32 for bf16/fp16), returned in ``x``'s dtype.
    """
    dtype = x.dtype
    z = nx.upcast(x)
    t = jnp.asarray(t, z.dtype)
    if nonsmooth is not None:
        kind, lam, options = nonsmooth
        if t.ndim and kind == "group_lasso":
            t = jnp.mean(t, axis=options["axis"], keepdims=True)
        elif t.ndim and kind == "nuclear":
            t = jnp.mean(t)
        tau = t * jnp.asarray(lam, z.dtype)
        if kind == "l1":
            z = soft_threshold(z, tau)
        elif kind == "group_lasso":
            z = block_soft_threshold(z, tau, options["axis"])
        else:
            z = singular_value_threshold(z, tau)
    z = z / (1 + t * jnp.asarray(l2, z.dtype))
    return z.astype(dtype)
