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

Columns stored over several chunks (`Columns.chunked`: power-law column lengths) are not
all gathered (the working set's longest column would set the width of all): the columns of
one chunk are gathered as above, and each pass updates first the working set's long columns
(several chunks: each update loops over its chunks in the whole ``X``, twice, the gradient
then the scatter), then its short ones, so an epoch costs the working set's nonzeros plus one
chunk's padding per column.
"""

from __future__ import annotations

import functools
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


def _sweep(pad: _Padded, dtype: Any, buf: jax.Array, order: jax.Array, length: Any, first=0):
    """CD on the columns ``order[first:length]``, in order: ``(buf, largest L_j |d_j|)``."""

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

    return jax.lax.fori_loop(first, length, upd, (buf, jnp.zeros((), dtype)))


class _Chunked(NamedTuple):
    """The working set's columns as chunks of the whole ``X`` (`Columns.chunked`)."""

    rows: jax.Array  # (C, m) every chunk's rows
    vals: jax.Array  # (C, m)
    gw: jax.Array  # (C, m) s x: the gradient's weights
    starts: jax.Array  # (p + 1,)
    idx: jax.Array  # (cap,) the working set's columns
    u: jax.Array  # (cap,) their weighted means (0 without an intercept)
    par: jax.Array  # (cap, 4) step, threshold, shrink, curvature
    n: int


def _sweep_chunked(ch: _Chunked, dtype: Any, buf: jax.Array, order: jax.Array, length: Any):
    """`_sweep` on chunked columns: ``buf`` is ``[r_u, wc, c]`` as there."""
    n, cap = ch.n, ch.idx.shape[0]

    def upd(k, cc):
        buf, res = cc
        j = order[k]
        col = ch.idx[j]
        lo, hi = ch.starts[col], ch.starts[col + 1]
        sx_r = jax.lax.fori_loop(lo, hi, lambda t, a: a + ch.gw[t] @ buf[ch.rows[t]], 0.0)
        gj = sx_r - ch.u[j] * buf[n + 1 + cap]  # X_c^T s r_c, as in `_padded`
        wj, pj = buf[n + 1 + j], ch.par[j]
        new = soft_threshold(wj - gj * pj[0], pj[1]) * pj[2]
        d = jnp.where(pj[2] > 0, new - wj, 0.0)

        def scatter(t, bf):
            return bf.at[ch.rows[t]].add(d * ch.vals[t], mode="promise_in_bounds")

        buf = jax.lax.fori_loop(lo, hi, scatter, buf)
        buf = buf.at[n + 1 + j].add(d).at[n + 1 + cap].add(d * ch.u[j])
        return buf, jnp.maximum(res, jnp.abs(d) * pj[3])

    return jax.lax.fori_loop(0, length, upd, (buf, jnp.zeros((), dtype)))


def _epoch(sweep, n: int, count: Any, everyone: jax.Array, c: tuple[Any, ...]):
    """A pass over the working set (``everyone``: ``range(cap)``), then ``_ACTIVE_SWEEPS``
    over its nonzero coefficients; ``sweep(buf, order, length)``."""
    cap = everyone.shape[0]
    buf, res = sweep(jnp.concatenate(c), everyone, count)
    nz = buf[n + 1 : n + 1 + cap] != 0
    pos = jnp.where(nz, jnp.cumsum(nz) - 1, cap)
    order = jnp.zeros(cap, jnp.int32).at[pos].set(everyone, mode="drop")
    buf = jax.lax.fori_loop(0, _ACTIVE_SWEEPS, lambda _, bf: sweep(bf, order, jnp.sum(nz))[0], buf)
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


def _long_first(order: jax.Array, length: Any, long: jax.Array) -> tuple[jax.Array, Any]:
    """``order[:length]`` with its long columns first (each part in its order), and their
    count."""
    taken = jnp.arange(order.shape[0]) < length
    is_long = taken & long
    is_short = taken & ~long
    n_long = jnp.sum(is_long)
    pos = jnp.where(
        is_long,
        jnp.cumsum(is_long) - 1,
        jnp.where(is_short, n_long + jnp.cumsum(is_short) - 1, length + jnp.cumsum(~taken) - 1),
    )
    return jnp.zeros_like(order).at[pos].set(order), n_long


def _chunked_constants(ls: LeastSquares, sn_e):
    """Every column's ``s x`` at its nonzeros, weighted mean ``u`` and centred curvature
    (`_centred_curvatures`), by chunks: O(nnz)."""
    cols, n = ls.cols, ls.cols.n
    assert cols.rows is not None and cols.owner is not None
    rows, vals = cols.rows, cols.values
    gw = vals * sn_e[rows]
    p = cols.num_features
    u = cols.per_column(jnp.sum(gw, axis=1)) if ls.fit_intercept else jnp.zeros(p, vals.dtype)
    srow = cols.per_column(jnp.sum(sn_e[rows], axis=1))
    dev = jnp.where(rows < n, vals - u[cols.owner][:, None], 0.0)
    lc = cols.per_column(jnp.sum(sn_e[rows] * dev * dev, axis=1))
    return gw, u, lc + u * u * jnp.maximum(1.0 - srow, 0.0)


def sparse_inner(ls: LeastSquares, cap: int, w, b, z, g, ws, count, inner_tol):
    """The inner solve on ``ws[:count]`` at capacity ``cap``: ``(w, b, z, epochs)``, ``z``
    afresh from the columns at the new coefficients."""
    cols, dtype, n = ls.cols, ls.y.dtype, ls.cols.n
    assert cols.rows is not None
    idx = ws[:cap]
    sn_e = jnp.append(ls.sn, 0.0)
    if cols.chunked:
        assert cols.starts is not None
        gw_all, u_all, lc_all = _chunked_constants(ls, sn_e)
        u, lc = u_all[idx], lc_all[idx]
    else:
        rows, vals = cols.rows[idx], cols.values[idx]
        gw0 = vals * sn_e[rows]
        u, lc = _centred_curvatures(ls, rows, vals, sn_e, gw0)
    (st_c, th_c, sh_c, l_c), bt, delta = ls.centred(idx, u, lc, w, b)
    wc0 = w[idx, 0]
    a_c, b2_c = ls.a[idx], ls.b2[idx]
    sh_c = jnp.where(jnp.arange(cap) < count, sh_c, 0.0)
    if cols.chunked:
        assert cols.starts is not None
        par = jnp.stack((st_c, th_c, sh_c, l_c), axis=1)
        ch = _Chunked(cols.rows, cols.values, gw_all, cols.starts, idx, u, par, n)
        first = cols.starts[idx]  # a short column's one chunk
        long = cols.starts[idx + 1] - first > 1
        rows, vals, gw0 = cols.rows[first], cols.values[first], gw_all[first]
        pad = _padded(ls, rows, vals, u, gw0, (st_c, th_c, sh_c, l_c))

        def sweep_chunked(buf, order, length):  # the long columns first, then the short ones
            order, n_long = _long_first(order, length, long[order])
            buf, res_long = _sweep_chunked(ch, dtype, buf, order, n_long)
            buf, res = _sweep(pad, dtype, buf, order, length, first=n_long)
            return buf, jnp.maximum(res, res_long)

        sweep = sweep_chunked
    else:
        pad = _padded(ls, rows, vals, u, gw0, (st_c, th_c, sh_c, l_c))
        sweep = functools.partial(_sweep, pad, dtype)

    everyone = jnp.arange(cap, dtype=jnp.int32)
    st0 = (jnp.append(z - ls.y + delta, 0.0), wc0, jnp.zeros(1, dtype))
    (_, wc, _), e = run_epochs(
        lambda c: _epoch(sweep, n, count, everyone, c),
        lambda st: _objective(n, sn_e, a_c, b2_c, st),
        st0,
        anderson=ls.anderson,
        max_epochs=ls.max_epochs,
        inner_tol=inner_tol,
        dtype=dtype,
    )
    b = bt - u @ wc
    w = w.at[idx, 0].set(wc)
    if cols.chunked:  # every nonzero coefficient is in the working set
        return w, b, cols.matvec(w) + b, e
    xw = jnp.zeros(n + 1, dtype).at[rows].add(vals * wc[:, None])
    return w, b, xw[:n] + b, e
