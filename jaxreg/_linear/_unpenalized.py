r"""The unpenalized features of a least-squares fit: an exact Newton step and certificate.

On them the objective is a quadratic with Hessian :math:`H = X_F^\top \mathrm{diag}(s) X_F`
(columns centred with an intercept), so :math:`f(w) - \min_{w_F} f = \frac12 g_F^\top H^+
g_F` exactly; after a Newton step that is rounding, and the gap (whose dual leaves the free
features out, exact once :math:`g_F = 0`) bounds the rest. The per-coordinate bound
:math:`\lVert g_j\rVert^2 / L_j` is no certificate: with two strongly correlated unpenalized
columns it claimed far less than the excess, and coordinate descent crawled there
(benchmarks/README.md).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._design import Columns

# Unpenalized features certified: all of them up to FREE_MAX features, else the first
# FREE_GATHER (more: not converged, whatever the certificate says); an eigh of that size
FREE_MAX = 512
FREE_GATHER = 64


def free_capacity(g_count: int, size: int) -> int:
    """How many of ``g_count`` unpenalized blocks of ``size`` features are taken."""
    return g_count if g_count * size <= FREE_MAX else max(FREE_GATHER // size, 1)


class Unpenalized(NamedTuple):
    """The first ``cap`` free features (in index order) and their centred Hessian's
    eigendecomposition, computed once per fit; with more than ``cap`` of them the excess is
    that of the first ``cap`` only: no certificate (the caller says not converged)."""

    idx: jax.Array  # (cap,) their blocks' indices
    xv: jax.Array  # (cap B, n) their centred columns (0 rows beyond their count)
    u: jax.Array  # (cap B,) the columns' weighted means (0 without an intercept)
    vec: jax.Array  # H's eigenvectors
    inv: jax.Array  # 1 / H's eigenvalues, 0 for the null space
    y: jax.Array
    sn: jax.Array

    def coords(self, z: jax.Array) -> jax.Array:
        """H's eigenbasis coordinates of g_F (the intercept's derivative taken out)."""
        return self.vec.T @ (self.xv @ (self.sn * (z - self.y)))

    def newton(self, wbz: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        """The exact minimization over the free features, the others fixed."""
        w, b, z = wbz
        delta = -(self.vec @ (self.inv * self.coords(z)))
        # X_c delta = X delta - (u . delta): the intercept takes the shift, sum s (z - y) stays
        w = w.at[self.idx].add(delta.reshape(self.idx.shape[0], -1))
        return w, b - self.u @ delta, z + delta @ self.xv

    def excess(self, z: jax.Array) -> jax.Array:
        """:math:`\\frac12 g_F^\\top H^+ g_F`."""
        c = self.coords(z)
        return 0.5 * jnp.sum(self.inv * c * c)


def _eigen(cols: Columns, sn, idx, fm, fit_intercept: bool):
    """The gathered columns (a sparse ``X``'s made dense), centred, and H's eigenpairs."""
    cap, dtype = idx.shape[0], sn.dtype
    if cols.rows is None:  # blocks of B columns: (cap B, n), fm per column
        size = cols.values.shape[1]
        xv = cols.values[idx].reshape(cap * size, cols.n)
        fm = jnp.repeat(fm, size)
        cap = cap * size
    elif cols.owner is None:  # row n takes the padding
        xv = jnp.zeros((cap, cols.n + 1), dtype).at[jnp.arange(cap)[:, None], cols.rows[idx]]
        xv = xv.add(cols.values[idx])[:, : cols.n]
    else:  # chunks: each to its column's place among idx (cap: dropped)
        place = (
            jnp.full(cols.num_features, cap, jnp.int32)
            .at[idx]
            .set(jnp.arange(cap, dtype=jnp.int32))
        )
        at = place[cols.owner][:, None]
        xv = jnp.zeros((cap, cols.n + 1), dtype).at[at, cols.rows].add(cols.values, mode="drop")
        xv = xv[:, : cols.n]
    u = xv @ sn if fit_intercept else jnp.zeros(cap, dtype)
    xv = (xv - u[:, None]) * fm[:, None]
    h = (xv * sn) @ xv.T + jnp.diag(1.0 - fm)
    ev, vec = jnp.linalg.eigh(h)
    cut = ev[-1] * cap * jnp.finfo(dtype).eps
    inv = jnp.where(ev > cut, 1.0 / jnp.where(ev > cut, ev, 1.0), 0.0)
    return xv, u, vec, inv


def unpenalized(cols: Columns, y, sn, free, cap: int, fit_intercept: bool) -> Unpenalized:
    """The free blocks (``free``: a mask over the ``(G,)`` blocks of ``B`` features), the
    first ``cap``."""
    dtype = y.dtype
    g_count = free.shape[0]
    count = jnp.sum(free)
    pos = jnp.where(free, jnp.cumsum(free) - 1, count + jnp.cumsum(~free) - 1)
    idx = jnp.zeros(g_count, jnp.int32).at[pos].set(jnp.arange(g_count, dtype=jnp.int32))[:cap]
    fm = (jnp.arange(cap) < count).astype(dtype)
    n = y.shape[0]
    m = cap * (cols.values.shape[1] if cols.rows is None else 1)  # features
    zeros = (jnp.zeros((m, n), dtype), jnp.zeros(m, dtype), jnp.eye(m, dtype=dtype))
    xv, u, vec, inv = jax.lax.cond(
        count > 0,
        lambda _: _eigen(cols, sn, idx, fm, fit_intercept),
        lambda _: (*zeros, jnp.zeros(m, dtype)),
        None,
    )
    return Unpenalized(idx, xv, u, vec, inv, y, sn)
