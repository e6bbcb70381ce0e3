"""The working set: the blocks the inner solver runs on (celer's / skglm's rule)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def working_set(w: jax.Array, viol: jax.Array, ws_min: int) -> tuple[jax.Array, jax.Array]:
    """celer's working set: ``count = clip(2 * #active, ws_min, G)`` blocks, the active ones
    (nonzero) and then the largest violations (ties: the lower index), returned first in a
    permutation of ``range(G)``, in index order. The ``count``-th largest score is found by
    bisection on its bit pattern (non-negative floats order as their bits do): ``bits``
    passes of a comparison, where ``lax.top_k`` sorts all ``G`` scores (slower on XLA:CPU,
    benchmarks/README.md). With ``ws_min >= G`` it is every block, a constant."""
    g_count = w.shape[0]
    if ws_min >= g_count:  # every block, always: nothing to choose (and nothing to compile)
        return jnp.arange(g_count, dtype=jnp.int32), jnp.asarray(g_count, jnp.int32)
    active = jnp.any(w != 0, axis=1)
    count = jnp.clip(2 * jnp.sum(active), ws_min, g_count)
    score = jnp.where(active | jnp.isnan(viol), jnp.inf, jnp.maximum(viol, 0.0))
    bits = score.dtype.itemsize * 8
    key = jax.lax.bitcast_convert_type(score, jnp.dtype(f"int{bits}"))

    def halve(_, lohi):  # invariant: #(key >= lo) >= count > #(key >= hi)
        lo, hi = lohi
        mid = lo + (hi - lo) // 2
        enough = jnp.sum(key >= mid) >= count
        return jnp.where(enough, mid, lo), jnp.where(enough, hi, mid)

    top = jnp.max(key)
    lo, _ = jax.lax.fori_loop(0, bits, halve, (jnp.zeros_like(top), top + 1))
    above = key > lo  # fewer than count of them; ties at lo fill the rest by index
    tie = key == lo
    take = above | (tie & (jnp.cumsum(tie) <= count - jnp.sum(above)))
    pos = jnp.where(take, jnp.cumsum(take) - 1, jnp.sum(take) + jnp.cumsum(~take) - 1)
    ws = jnp.zeros(g_count, jnp.int32).at[pos].set(jnp.arange(g_count, dtype=jnp.int32))
    return ws, count
