r"""The least-squares inner solver for group penalties on a dense ``X``: the working set's
groups gathered.

Block coordinate descent on :math:`\frac12 \sum_i s_i (y_i - x_{W,i}^\top w_W - b)^2 +
\sum_g a_g \lVert w_g\rVert + \frac{b_g}{2} \lVert w_g\rVert^2` over the working set's
groups of ``B`` consecutive features, their centred columns gathered into a dense ``(W B, n)``
block. Each group takes a prox-gradient step of size :math:`1 / L_g`, :math:`L_g` the largest
eigenvalue of its centred Gram matrix (skglm's ``GroupBCD``, celer's group lasso), through the
penalty's `L1L2Split.prox`. As in `dense_inner` (``_ls_dense.py``), ``_GROUPED`` features' worth
of groups are updated per loop step (sequentially, unrolled, with their own Gram matrix: the
loop's per-step overhead is paid once per step), carrying the residual.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._anderson import run_epochs
from ._least_squares_parts import LeastSquares
from ._penalty_parts import L1L2Split

_GROUPED = 10  # features per loop step (whole groups, at least one)
# Working-set capacities in features: one compiled inner solver each, the smallest that holds
# the working set picked at run time. The dense Lasso's (`_least_squares._CAPACITIES`) less
# its smallest, 64, whose branch cost more compile time than it saved (benchmarks/README.md).
_CAPACITIES = (1024, 16384, 65536)


def block_capacities(g_count: int, size: int) -> list[int]:
    """The working-set capacities, in groups of ``size`` features (the last: all ``g_count``)."""
    return sorted({c // size for c in _CAPACITIES if 0 < c // size < g_count} | {g_count})


class _Gathered(NamedTuple):
    """The working set's centred columns (padded to whole steps) and the CD constants."""

    xc: jax.Array  # (cap_pad * B, n) centred columns, group after group
    dblk: jax.Array  # (nb, kb, kb) each step's own Gram matrix
    lips: jax.Array  # (cap_pad,) each group's curvature bound L_g, 0: never moved
    split: L1L2Split  # (cap_pad, B) the groups' penalty coefficients
    kg: int  # groups per step
    size: int  # B


def _step_grams(xc, sn, kb, steps, dtype):
    """Each step's own Gram matrix (the first ``steps`` steps, one small product each: a
    batched one over all is slower on XLA:CPU; 0 beyond)."""
    nb = xc.shape[0] // kb

    def one(i, dd):
        xj = jax.lax.dynamic_slice_in_dim(xc, i * kb, kb)
        return dd.at[i].set((xj * sn) @ xj.T)

    return jax.lax.fori_loop(0, steps, one, jnp.zeros((nb, kb, kb), dtype))


def _sequential(blk: _Gathered, g0: Any, wj, gj, dj):
    """The step's ``kg`` group updates, one after the other (unrolled): ``(new, d, res)``."""
    size = blk.size
    new_j, ds, res = wj, [], jnp.zeros((), wj.dtype)
    for i in range(blk.kg):
        lg = blk.lips[g0 + i]
        lpos = lg > 0
        t = 1.0 / jnp.where(lpos, lg, 1.0)
        gi = gj[i * size : (i + 1) * size]
        new = blk.split.prox(g0 + i, new_j[i] - gi * t, t)
        d = jnp.where(lpos, new - new_j[i], 0.0)
        gj = gj + d @ dj[i * size : (i + 1) * size]
        new_j = new_j.at[i].add(d)
        ds.append(d)
        res = jnp.maximum(res, jnp.sqrt(jnp.sum(d * d)) * lg)
    return new_j, jnp.concatenate(ds), res


def _step(blk: _Gathered, sn: jax.Array, bi: Any, cc: tuple[Any, Any, Any]):
    """Step ``bi``'s groups; the carried residual ``r`` moved by their changes."""
    wc, r, res = cc
    kg, kb = blk.kg, blk.kg * blk.size
    g0, j0 = bi * kg, bi * kb
    wj = jax.lax.dynamic_slice_in_dim(wc, g0, kg)
    xj = jax.lax.dynamic_slice_in_dim(blk.xc, j0, kb)
    new_j, dv, moved = _sequential(blk, g0, wj, xj @ (sn * r), blk.dblk[bi])
    r = r + dv @ xj
    return jax.lax.dynamic_update_slice_in_dim(wc, new_j, g0, 0), r, jnp.maximum(res, moved)


def _epoch(blk: _Gathered, sn: jax.Array, steps: Any, c: tuple[Any, Any]):
    wc, t, res = jax.lax.fori_loop(
        0, steps, lambda bi, cc: _step(blk, sn, bi, cc), (*c, jnp.zeros((), sn.dtype))
    )
    return (wc, t), res


def _objective(blk: _Gathered, sn: jax.Array, st: tuple[Any, Any]):
    """From the carried residual."""
    wc, r = st
    return 0.5 * jnp.sum(sn * r * r) + blk.split.value(wc)


def _group_lips(dblk: jax.Array, kg: int, size: int) -> jax.Array:
    """Each group's largest eigenvalue, from the diagonal blocks of the steps' Gram matrices."""
    nb = dblk.shape[0]
    diag = jnp.stack(
        [dblk[:, i * size : (i + 1) * size, i * size : (i + 1) * size] for i in range(kg)], 1
    )
    return jnp.linalg.eigvalsh(diag.reshape(nb * kg, size, size))[:, -1]


def block_inner(ls: LeastSquares, cap: int, w, b, z, g, ws, count, inner_tol):
    """The inner solve on the groups ``ws[:count]`` at capacity ``cap`` (groups): ``(w, b, z,
    epochs)``, ``z`` afresh from ``X``'s columns at the new coefficients. ``ls.a`` and
    ``ls.b2`` are per group ``(G,)``."""
    cols, y, sn, dtype = ls.cols, ls.y, ls.sn, ls.y.dtype
    size, n = w.shape[1], ls.cols.n
    kg = max(1, min(_GROUPED // size, cap))
    kb = kg * size
    capp = cap + (-cap % kg)  # whole steps: padded groups have L_g = 0, never moved
    idx = ws[:cap]
    xu = cols.values[idx].reshape(cap * size, n)  # every nonzero coef is here
    u = xu @ sn if ls.fit_intercept else jnp.zeros(cap * size, dtype)
    xc = jnp.pad(xu - u[:, None], ((0, (capp - cap) * size), (0, 0)))
    steps = (count + kg - 1) // kg
    dblk = _step_grams(xc, sn, kb, steps, dtype)
    lips = _group_lips(dblk, kg, size)
    lips = jnp.where(jnp.arange(capp) < count, jnp.maximum(lips, 0.0), 0.0)
    ones = jnp.ones((1, size), dtype)
    pad = ((0, capp - cap), (0, 0))
    split = L1L2Split(jnp.pad(ls.a[idx, None] * ones, pad), jnp.pad(ls.b2[idx, None] * ones, pad))
    wc0 = jnp.pad(w[idx], pad)
    # centred: X w + b = X_c w + b~, b~ = b + u^T w (optimal at sum(s y), `LeastSquares.centred`)
    uw = u @ w[idx].reshape(-1)
    bt = ls.ybar if ls.fit_intercept else b
    r0 = z - y + (bt - b - uw)  # the centred residual X_c w + b~ - y
    blk = _Gathered(xc, dblk, lips, split, kg, size)
    (wc, _), e = run_epochs(
        lambda c: _epoch(blk, sn, steps, c),
        lambda st: _objective(blk, sn, st),
        (wc0, r0),
        anderson=ls.anderson,
        max_epochs=ls.max_epochs,
        inner_tol=inner_tol,
        dtype=dtype,
    )
    wc = wc[:cap]
    flat = wc.reshape(-1)
    b = bt - u @ flat
    return w.at[idx].set(wc), b, flat @ xu + b, e
