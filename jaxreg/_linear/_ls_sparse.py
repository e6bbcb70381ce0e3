r"""The least-squares inner solver on a sparse ``X``: the working set's padded columns.

The residual lives on ``n + 1`` rows (row ``n`` takes the padding's zero updates), each
update reading and writing its column's nonzeros only; an epoch is one pass over the working
set and ``_ACTIVE_SWEEPS`` over its nonzero coefficients (glmnet's active cycling). The
columns are centred implicitly (`LeastSquares.centred`; scikit-learn's sparse ``X_offset``):
the buffer holds the uncentred residual ``r_u`` and a shift ``c``, ``r_c = r_u - c``, so an
update still touches the column's nonzeros only.

The loop carries ONE buffer, ``[r_u (n + 1 rows), wc (cap), c]``: each update is one gather
and one scatter-add on it (the column's rows, its own coefficient's slot and the shift's).
Carrying ``r`` and ``wc`` as two arrays made XLA:CPU copy them at every update (measured in
benchmarks/README.md); for the same reason one coordinate is updated per loop step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._anderson import run_epochs
from ._least_squares_parts import LeastSquares
from ._penalty_parts import soft_threshold

_ACTIVE_SWEEPS = 6  # passes over the nonzero coefficients per epoch


class _Padded(NamedTuple):
    """The working set's columns as scatter targets into the one buffer."""

    at: jax.Array  # (cap, width) buffer positions: the column's rows, its slot, the shift's
    add: jax.Array  # (cap, width) what one unit of the coefficient adds there
    gw: jax.Array  # (cap, width) the gradient's weights on the gathered buffer entries
    par: jax.Array  # (cap, 4) step, threshold, shrink, curvature
    m: int  # the longest column: the coefficient's slot in a gathered row


def _sweep(pad: _Padded, dtype: Any, buf: jax.Array, order: jax.Array, length: Any):
    """CD on the columns ``order[:length]``, in order: ``(buf, largest L_j |d_j|)``."""

    def upd(k, cc):
        buf, res = cc
        j = order[k]
        x = buf[pad.at[j]]  # r_u at the column's rows, w_j, c
        gj, wj, pj = pad.gw[j] @ x, x[pad.m], pad.par[j]
        v = wj - gj * pj[0]
        new = soft_threshold(v, pj[1]) * pj[2]
        d = jnp.where(pj[2] > 0, new - wj, 0.0)
        buf = buf.at[pad.at[j]].add(d * pad.add[j], mode="promise_in_bounds")
        return buf, jnp.maximum(res, jnp.abs(d) * pj[3])

    return jax.lax.fori_loop(0, length, upd, (buf, jnp.zeros((), dtype)))


def _epoch(pad: _Padded, n: int, count: Any, everyone: jax.Array, c: tuple[Any, ...]):
    """A pass over the working set (``everyone``: ``range(cap)``), then ``_ACTIVE_SWEEPS``
    over its nonzero coefficients."""
    cap, dtype = everyone.shape[0], pad.add.dtype
    buf, res = _sweep(pad, dtype, jnp.concatenate(c), everyone, count)
    nz = buf[n + 1 : n + 1 + cap] != 0
    pos = jnp.where(nz, jnp.cumsum(nz) - 1, cap)
    order = jnp.zeros(cap, jnp.int32).at[pos].set(everyone, mode="drop")
    buf = jax.lax.fori_loop(
        0, _ACTIVE_SWEEPS, lambda _, bf: _sweep(pad, dtype, bf, order, jnp.sum(nz))[0], buf
    )
    return (buf[: n + 1], buf[n + 1 : n + 1 + cap], buf[n + 1 + cap :]), res


def _padded(ls: LeastSquares, rows, vals, u, gw0, params) -> _Padded:
    cap, m = rows.shape
    n, dtype = ls.cols.n, ls.y.dtype
    slot = n + 1 + jnp.arange(cap, dtype=rows.dtype)
    shift = jnp.full((cap, 1), n + 1 + cap, rows.dtype)
    width = m + (2 if ls.fit_intercept else 1)  # no shift: it stays 0
    at = jnp.concatenate([rows, slot[:, None], shift], axis=1)[:, :width]
    add = jnp.concatenate([vals, jnp.ones((cap, 1), dtype), u[:, None]], axis=1)[:, :width]
    # X_c^T s r_c = sum s x r_u - u c (X_c^T s = 0, sum s r_c = 0)
    gw = jnp.concatenate([gw0, jnp.zeros((cap, 1), dtype), -u[:, None]], axis=1)[:, :width]
    return _Padded(at, add, gw, jnp.stack(params, axis=1), m)


def _centred_curvatures(ls: LeastSquares, rows, vals, sn_e, gw0):
    """The columns' weighted means ``u`` and :math:`\\sum_i s_i (x_{ij} - u_j)^2` over all
    rows: the nonzeros' rows, and ``u^2 s`` on the others (no cancellation); ``sn_e``: the
    sample weights with a 0 for the padding's row ``n``, ``gw0 = s x`` at the nonzeros."""
    n, cap = ls.cols.n, rows.shape[0]
    u = jnp.sum(gw0, axis=1) if ls.fit_intercept else jnp.zeros(cap, ls.y.dtype)
    srow = jnp.sum(sn_e[rows], axis=1)
    dev = jnp.where(rows < n, vals - u[:, None], 0.0)
    lc = jnp.sum(sn_e[rows] * dev * dev, axis=1) + u * u * jnp.maximum(1.0 - srow, 0.0)
    return u, lc


def _objective(n: int, sn_e, a_c, b2_c, st: tuple[Any, ...]):
    """From the carried residual (row n is 0)."""
    r_u, wc, c = st
    r = jnp.where(jnp.arange(n + 1) < n, r_u - c[0], 0.0)
    return 0.5 * jnp.sum(sn_e * r * r) + jnp.sum(a_c * jnp.abs(wc) + 0.5 * b2_c * wc * wc)


def sparse_inner(ls: LeastSquares, cap: int, w, b, z, g, ws, count, inner_tol):
    """The inner solve on ``ws[:count]`` at capacity ``cap``: ``(w, b, z, epochs)``, ``z``
    afresh from the columns at the new coefficients."""
    cols, dtype, n = ls.cols, ls.y.dtype, ls.cols.n
    assert cols.rows is not None
    idx = ws[:cap]
    rows, vals = cols.rows[idx], cols.values[idx]
    sn_e = jnp.append(ls.sn, 0.0)
    gw0 = vals * sn_e[rows]
    u, lc = _centred_curvatures(ls, rows, vals, sn_e, gw0)
    (st_c, th_c, sh_c, l_c), bt, delta = ls.centred(idx, u, lc, w, b)
    wc0 = w[idx, 0]
    a_c, b2_c = ls.a[idx], ls.b2[idx]
    sh_c = jnp.where(jnp.arange(cap) < count, sh_c, 0.0)
    pad = _padded(ls, rows, vals, u, gw0, (st_c, th_c, sh_c, l_c))
    everyone = jnp.arange(cap, dtype=jnp.int32)
    st0 = (jnp.append(z - ls.y + delta, 0.0), wc0, jnp.zeros(1, dtype))
    (_, wc, _), e = run_epochs(
        lambda c: _epoch(pad, n, count, everyone, c),
        lambda st: _objective(n, sn_e, a_c, b2_c, st),
        st0,
        anderson=ls.anderson,
        max_epochs=ls.max_epochs,
        inner_tol=inner_tol,
        dtype=dtype,
    )
    b = bt - u @ wc
    w = w.at[idx, 0].set(wc)
    xw = jnp.zeros(n + 1, dtype).at[rows].add(vals * wc[:, None])
    return w, b, xw[:n] + b, e
