r"""The least-squares inner solver on a dense ``X``: the working set's columns gathered.

Cyclic coordinate descent on :math:`\frac12 \sum_i s_i (y_i - x_{W,i}^\top w_W - b)^2 +
\sum_j a_j |w_j| + \frac{b_j}{2} w_j^2` over the working set's centred columns gathered into
a dense ``(W, n)`` block ``X_W``, in blocks of ``_BLOCK`` coordinates (sequential, unrolled,
with the block's own Gram matrix: XLA:CPU's per-step overhead is paid once per block),
carrying either the gradient :math:`X_W \mathrm{diag}(s) (z - y)` (a W-vector updated with
the Gram matrix :math:`X_W \mathrm{diag}(s) X_W^\top`: scikit-learn's
``enet_coordinate_descent_gram``) up to ``_GRAM_MAX`` features, or the residual beyond
(a larger Gram matrix costs more than the epochs it saves: benchmarks/README.md).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._anderson import run_epochs
from ._least_squares_parts import LeastSquares
from ._penalty_parts import soft_threshold

_GRAM_MAX = 64
_BLOCK = 8


class _Gathered(NamedTuple):
    """The working set's centred columns (padded to whole blocks) and CD constants."""

    xc: jax.Array  # (cap + pad, n) centred columns
    gm: jax.Array | None  # their Gram matrix X_c diag(s) X_c^T, or None (residual carried)
    dblk: jax.Array  # (nb, kb, kb) each block's own Gram matrix
    step: jax.Array  # 1 / curvature per coordinate
    threshold: jax.Array
    shrink: jax.Array  # 1 / (1 + l2 step), 0: never moved
    curvature: jax.Array
    a: jax.Array
    b2: jax.Array
    bt: Any  # the centred intercept b~
    count: Any
    kb: int


def _block_grams(xc, sn, gm, kb, count, dtype):
    """Each block's own Gram matrix: the exact sequential updates within a block."""
    nb = xc.shape[0] // kb
    if gm is not None:
        return jax.vmap(lambda i: jax.lax.dynamic_slice(gm, (i * kb, i * kb), (kb, kb)))(
            jnp.arange(nb)
        )

    # the blocks the working set reaches only (a batched einsum over all is slower)
    def one(i, dd):
        xj = jax.lax.dynamic_slice_in_dim(xc, i * kb, kb)
        return dd.at[i].set((xj * sn) @ xj.T)

    return jax.lax.fori_loop(0, (count + kb - 1) // kb, one, jnp.zeros((nb, kb, kb), dtype))


def _sequential(blk: _Gathered, wj, stj, thj, shj, gj, dj):
    """The block's ``kb`` coordinate updates, one after the other (unrolled)."""
    new_j, ds = wj, []
    for i in range(blk.kb):
        v = new_j[i] - gj[i] * stj[i]
        new = soft_threshold(v, thj[i]) * shj[i]
        new = jnp.where(shj[i] > 0, new, new_j[i])
        d = new - new_j[i]
        gj = gj + d * dj[i]
        new_j = new_j.at[i].set(new)
        ds.append(d)
    return new_j, jnp.stack(ds)


def _block_step(blk: _Gathered, sn: jax.Array, bi: Any, cc: tuple[Any, Any, Any]):
    """Block ``bi``'s updates; the carried gradient (or residual) moved by the block's."""
    wc, t, res = cc
    kb = blk.kb
    j0 = bi * kb

    def sl(v):
        return jax.lax.dynamic_slice_in_dim(v, j0, kb)

    wj, stj, thj, shj = sl(wc), sl(blk.step), sl(blk.threshold), sl(blk.shrink)
    shj = jnp.where(j0 + jnp.arange(kb) < blk.count, shj, 0.0)
    gj = sl(t) if blk.gm is not None else sl(blk.xc) @ (sn * t)
    new_j, dv = _sequential(blk, wj, stj, thj, shj, gj, blk.dblk[bi])
    if blk.gm is not None:
        t = t + dv @ jax.lax.dynamic_slice_in_dim(blk.gm, j0, kb)
    else:
        t = t + dv @ sl(blk.xc)
    res = jnp.maximum(res, jnp.max(jnp.abs(dv) * sl(blk.curvature)))
    return jax.lax.dynamic_update_slice_in_dim(wc, new_j, j0, 0), t, res


def _epoch(blk: _Gathered, sn: jax.Array, c: tuple[Any, Any]):
    nblk = (blk.count + blk.kb - 1) // blk.kb
    wc, t, res = jax.lax.fori_loop(
        0, nblk, lambda bi, cc: _block_step(blk, sn, bi, cc), (*c, jnp.zeros((), sn.dtype))
    )
    return (wc, t), res


def _objective(blk: _Gathered, y: jax.Array, sn: jax.Array, st: tuple[Any, Any]):
    """From the carried residual (the Gram variant: from X_W)."""
    wc = st[0]
    r = wc @ blk.xc + blk.bt - y if blk.gm is not None else st[1]
    return 0.5 * jnp.sum(sn * r * r) + jnp.sum(blk.a * jnp.abs(wc) + 0.5 * blk.b2 * wc * wc)


def dense_inner(ls: LeastSquares, cap: int, w, b, z, g, ws, count, inner_tol):
    """The inner solve on ``ws[:count]`` at capacity ``cap``: ``(w, b, z, epochs)``, ``z``
    afresh from ``X``'s columns at the new coefficients (not from the Gram matrix)."""
    cols, y, sn, dtype = ls.cols, ls.y, ls.sn, ls.y.dtype
    gram = cap <= _GRAM_MAX
    kb = min(_BLOCK, cap)
    idx = ws[:cap]
    pad = (0, -cap % kb)  # zero rows up to whole blocks: shrink 0, never moved

    def take(v):
        return jnp.pad(v, pad)

    xu = cols.values[idx, 0]  # every nonzero coef is here
    u = xu @ sn if ls.fit_intercept else jnp.zeros(cap, dtype)
    xk = xu - u[:, None]
    params, bt, delta = ls.centred(idx, u, (xk * xk) @ sn, w, b)
    xc = jnp.pad(xk, (pad, (0, 0)))
    wc0 = take(w[idx, 0])
    st_c, th_c, sh_c, l_c = map(take, params)
    a_c, b2_c = take(ls.a[idx]), take(ls.b2[idx])
    gm = (xc * sn) @ xc.T if gram else None
    dblk = _block_grams(xc, sn, gm, kb, count, dtype)
    blk = _Gathered(xc, gm, dblk, st_c, th_c, sh_c, l_c, a_c, b2_c, bt, count, kb)
    # carried: the gradient X_c^T s r_c = g - u sum(s (z - y)) (X_c^T s = 0 absorbs delta),
    # or the centred residual r_c = X_c w + b~ - y
    carried = take(g[idx, 0] - u * jnp.sum(sn * (z - y))) if gram else z - y + delta
    st0 = (wc0, carried)
    (wc, _), e = run_epochs(
        lambda c: _epoch(blk, sn, c),
        lambda st: _objective(blk, y, sn, st),
        st0,
        anderson=ls.anderson,
        max_epochs=ls.max_epochs,
        inner_tol=inner_tol,
        dtype=dtype,
    )
    wc = wc[:cap]
    b = bt - u @ wc
    return w.at[idx, 0].set(wc), b, wc @ xu + b, e
