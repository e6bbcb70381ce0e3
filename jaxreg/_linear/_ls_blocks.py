r"""The least-squares inner solver for group penalties on a dense ``X``: block coordinate
descent on the working set's groups, read in place.

Block coordinate descent on :math:`\frac12 \sum_i s_i (y_i - x_{W,i}^\top w_W - b)^2 +
\sum_g a_g \lVert w_g\rVert + \frac{b_g}{2} \lVert w_g\rVert^2` over the working set's
groups of ``B`` consecutive features, on their columns centred by their weighted means ``u``
(with an intercept, as `LeastSquares.centred` explains). Each group takes a prox-gradient step
of size :math:`1 / L_g`, :math:`L_g` the largest eigenvalue of its centred Gram matrix
(skglm's ``GroupBCD``, celer's group lasso), through the penalty's `L1L2Split.prox`;
``_REPEAT`` such steps per visit, the group's gradient moved by its own Gram matrix between
them. As in
`dense_inner` (``_ls_dense.py``), ``_GROUPED`` features' worth of groups are updated per loop
step (sequentially, unrolled, with their own Gram matrix: the loop's per-step overhead is paid
once per step), carrying the residual. The groups' columns are read from ``X`` in place, a
dynamic slice per group: on XLA:CPU gathering the working set into a new ``(W B, n)`` array
took 25x a pass over ``X`` (benchmarks/README.md), once per outer iteration.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._anderson import run_epochs
from ._least_squares_parts import LeastSquares
from ._penalty_parts import L1L2Split

# prox-gradient steps per group visit, on the group's own quadratic (its Gram matrix: no pass
# over n): nearer its exact minimization, fewer epochs (benchmarks/README.md)
_REPEAT = 3
_GROUPED = 10  # features per loop step (whole groups, at least one)


class _Blocks(NamedTuple):
    """The working set in steps of ``kg`` groups, and the CD constants."""

    values: jax.Array  # (G, B, n) X's columns in groups
    ws: jax.Array  # (G + pad,) the groups, working set first (padding: group 0, never moved)
    u: jax.Array  # (nb, kb) each step's column means (0 without an intercept)
    dblk: jax.Array  # (nb, kb, kb) each step's centred Gram matrix
    lips: jax.Array  # (G + pad,) each group's curvature bound L_g, 0: never moved
    split: L1L2Split  # (G + pad, B) the groups' penalty coefficients, in ws order
    kg: int  # groups per step

    def columns(self, bi: Any) -> jax.Array:
        """Step ``bi``'s columns ``(kb, n)``, uncentred."""
        g0 = bi * self.kg
        take = [
            jax.lax.dynamic_index_in_dim(self.values, self.ws[g0 + i], 0, False)
            for i in range(self.kg)
        ]
        return jnp.concatenate(take)


def _step_constants(blk: _Blocks, sn, steps: Any, centre: bool):
    """Each step's column means, centred Gram matrix and its groups' largest eigenvalues (the
    first ``steps``, for a cost that follows the working set; 0 beyond)."""
    kg = blk.kg
    size = blk.values.shape[1]

    def one(i, c):
        u, dd, lips = c
        xj = blk.columns(i)
        uj = xj @ sn if centre else jnp.zeros(xj.shape[0], xj.dtype)
        xc = xj - uj[:, None]
        gram = (xc * sn) @ xc.T
        diag = jnp.stack(
            [gram[k * size : (k + 1) * size, k * size : (k + 1) * size] for k in range(kg)]
        )
        top = jnp.linalg.eigvalsh(diag)[:, -1]
        lips = jax.lax.dynamic_update_slice_in_dim(lips, top, i * kg, 0)
        return u.at[i].set(uj), dd.at[i].set(gram), lips

    return jax.lax.fori_loop(0, steps, one, (blk.u, blk.dblk, blk.lips))


def _sequential(blk: _Blocks, g0: Any, wj, gj, dj):
    r"""The step's ``kg`` group updates, one after the other (unrolled): ``(new, d, res)``,
    ``res`` the largest :math:`L_g \lVert w_g' - w_g\rVert` over the visit."""
    size = wj.shape[1]
    new_j, ds, res = wj, [], jnp.zeros((), wj.dtype)
    for i in range(blk.kg):
        lg = blk.lips[g0 + i]
        lpos = lg > 0
        t = 1.0 / jnp.where(lpos, lg, 1.0)
        gi = gj[i * size : (i + 1) * size]
        hg = dj[i * size : (i + 1) * size, i * size : (i + 1) * size]
        cur = new_j[i]
        for _ in range(_REPEAT):
            new = blk.split.prox(g0 + i, cur - gi * t, t)
            dd = jnp.where(lpos, new - cur, 0.0)
            gi = gi + dd @ hg
            cur = cur + dd
        d = cur - new_j[i]
        gj = gj + d @ dj[i * size : (i + 1) * size]
        new_j = new_j.at[i].add(d)
        ds.append(d)
        res = jnp.maximum(res, jnp.sqrt(jnp.sum(d * d)) * lg)
    return new_j, jnp.concatenate(ds), res


def _step(blk: _Blocks, sn: jax.Array, bi: Any, cc: tuple[Any, Any, Any]):
    """Step ``bi``'s groups; the carried residual ``r`` moved by their changes."""
    wc, r, res = cc
    g0 = bi * blk.kg
    wj = jax.lax.dynamic_slice_in_dim(wc, g0, blk.kg)
    xj = blk.columns(bi) - blk.u[bi][:, None]
    new_j, dv, moved = _sequential(blk, g0, wj, xj @ (sn * r), blk.dblk[bi])
    r = r + dv @ xj
    return jax.lax.dynamic_update_slice_in_dim(wc, new_j, g0, 0), r, jnp.maximum(res, moved)


def _epoch(blk: _Blocks, sn: jax.Array, steps: Any, c: tuple[Any, Any]):
    wc, r, res = jax.lax.fori_loop(
        0, steps, lambda bi, cc: _step(blk, sn, bi, cc), (*c, jnp.zeros((), sn.dtype))
    )
    return (wc, r), res


def _products(blk: _Blocks, wc: jax.Array, steps: Any, n: int):
    """``X_W w_W`` (uncentred) and ``u^T w_W`` over the working set's steps."""

    def one(bi, c):
        xw, uw = c
        wj = jax.lax.dynamic_slice_in_dim(wc, bi * blk.kg, blk.kg).reshape(-1)
        return xw + wj @ blk.columns(bi), uw + wj @ blk.u[bi]

    return jax.lax.fori_loop(0, steps, one, (jnp.zeros(n, wc.dtype), jnp.zeros((), wc.dtype)))


def block_inner(ls: LeastSquares, cap: int, w, b, z, g, ws, count, inner_tol):
    """The inner solve on the groups ``ws[:count]`` (``cap``: all ``G``, nothing is gathered):
    ``(w, b, z, epochs)``, ``z`` afresh from ``X``'s columns at the new coefficients. ``ls.a``
    and ``ls.b2`` are per group ``(G,)``."""
    del g, cap  # the residual is carried; the columns are read in place
    cols, y, sn, dtype = ls.cols, ls.y, ls.sn, ls.y.dtype
    g_count, size = w.shape
    n = cols.n
    kg = max(1, min(_GROUPED // size, g_count))
    kb = kg * size
    gp = g_count + (-g_count % kg)  # whole steps: padded groups have L_g = 0, never moved
    nb = gp // kg
    wsp = jnp.pad(ws, (0, gp - g_count))
    steps = (count + kg - 1) // kg
    zeros = (jnp.zeros((nb, kb), dtype), jnp.zeros((nb, kb, kb), dtype))
    ones = jnp.ones((1, size), dtype)
    split = L1L2Split(ls.a[wsp, None] * ones, ls.b2[wsp, None] * ones)
    blk = _Blocks(cols.values, wsp, *zeros, jnp.zeros(gp, dtype), split, kg)
    u, dblk, lips = _step_constants(blk, sn, steps, ls.fit_intercept)
    lips = jnp.where(jnp.arange(gp) < count, jnp.maximum(lips, 0.0), 0.0)
    blk = blk._replace(u=u, dblk=dblk, lips=lips)
    wc0 = jnp.where((jnp.arange(gp) < g_count)[:, None], w[wsp], 0.0)  # the padding: 0
    # centred: X w + b = X_c w + b~, b~ = b + u^T w (optimal at sum(s y), `LeastSquares.centred`)
    uw = jnp.sum(u * wc0.reshape(nb, kb))
    bt = ls.ybar if ls.fit_intercept else b
    r0 = z - y + (bt - b - uw)  # the centred residual X_c w + b~ - y
    (wc, _), e = run_epochs(
        lambda c: _epoch(blk, sn, steps, c),
        lambda st: 0.5 * jnp.sum(sn * st[1] * st[1]) + blk.split.value(st[0]),
        (wc0, r0),
        anderson=ls.anderson,
        max_epochs=ls.max_epochs,
        inner_tol=inner_tol,
        dtype=dtype,
    )
    xw, uw = _products(blk, wc, steps, n)
    b = bt - uw
    return w.at[ws].set(wc[:g_count]), b, xw + b, e
