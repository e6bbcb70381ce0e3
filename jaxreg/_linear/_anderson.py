"""Inner-solver epochs with Anderson extrapolation (Bertrand & Massias 2021; skglm's scheme)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.flatten_util
import jax.numpy as jnp


def _extrapolate(hist: jax.Array, st: Any, unravel: Callable, objective: Callable, dtype) -> Any:
    """The affine combination of the history's states whose differences have the least norm
    (regularized), kept when finite and lower in ``objective`` than ``st``."""
    m = hist.shape[0] - 1
    u = jnp.diff(hist, axis=0)  # (m, size)
    gram = u @ u.T
    gram = gram + 1e-10 * jnp.trace(gram) * jnp.eye(m, dtype=dtype)
    # Cholesky (the Gram matrix is positive definite once regularized; NaN otherwise, and the
    # combination is rejected): three small kernels where `jnp.linalg.solve`'s pivoted LU with
    # its permutations compiles to about twenty, in every inner solver of a program
    chol = jax.lax.linalg.cholesky(gram)
    half = jax.lax.linalg.triangular_solve(
        chol, jnp.ones((m, 1), dtype), left_side=True, lower=True
    )
    coef = jax.lax.linalg.triangular_solve(
        chol, half, left_side=True, lower=True, transpose_a=True
    )[:, 0]
    ext = (coef / jnp.sum(coef)) @ hist[1:]
    new = unravel(ext)
    ok = jnp.isfinite(ext).all() & (objective(new) < objective(st))
    return jax.lax.cond(ok, lambda: new, lambda: st)


def run_epochs(
    epoch: Callable[[Any], tuple[Any, jax.Array]],
    objective: Callable[[Any], jax.Array],
    st0: Any,
    *,
    anderson: int,
    max_epochs: int,
    inner_tol: jax.Array,
    dtype: Any,
) -> tuple[Any, jax.Array]:
    """Inner-solver epochs ``epoch(st) -> (st, crit)`` until ``crit <= inner_tol`` or
    ``max_epochs``, with Anderson extrapolation (Bertrand & Massias 2021; skglm's scheme):
    the states after ``anderson + 1`` consecutive epochs are combined, the combination is
    kept when it is finite and lowers ``objective(st)``, and the history starts afresh (an
    iterate from before a jump would spoil the next combination). Every leaf of a state
    (coefficients, intercept, and the residual or gradient carried with them) is affine in
    the coefficients and the weights sum to one, so the combined residual is the residual
    at the combined coefficients: no pass over ``X``. Returns the state and the epochs run."""
    m = anderson
    flat0, unravel = jax.flatten_util.ravel_pytree(st0)

    def cond(c):  # the first epoch always runs unless inner_tol is inf (nothing to do)
        return (c[1] < max_epochs) & (c[2] > inner_tol) & jnp.isfinite(inner_tol)

    def body(c):
        st, e, _, hist, k = c
        st, crit = epoch(st)
        if m:
            hist = hist.at[k].set(jax.flatten_util.ravel_pytree(st)[0])
            full = k == m
            st = jax.lax.cond(
                full, lambda st: _extrapolate(hist, st, unravel, objective, dtype), lambda x: x, st
            )
            k = jnp.where(full, 0, k + 1)
        return st, e + 1, crit, hist, k

    hist0 = jnp.zeros((max(m, 1) + 1, flat0.size), flat0.dtype)
    zero = jnp.zeros((), jnp.int32)
    init = (st0, zero, jnp.asarray(jnp.inf, dtype), hist0, zero)
    st, e, _, _, _ = jax.lax.while_loop(cond, body, init)
    return st, e
