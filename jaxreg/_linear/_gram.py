r"""Tall least-squares problems (``n`` much larger than ``p``) in their Gram form.

With the squared loss the data term depends on ``X`` and ``y`` only through the centred
Gram matrix :math:`G = X_c^\top \mathrm{diag}(s) X_c`, :math:`q = X_c^\top \mathrm{diag}(s)
y_c` and :math:`\sum_i s_i y_{c,i}^2` (``X_c``, ``y_c`` centred by their weighted means with
an intercept, as they are; ``sum(s) = 1``):

.. math:: \tfrac12 \sum_i s_i (y_{c,i} - x_{c,i}^\top w)^2
   = \tfrac12 \lVert t - R w\rVert^2 + \tfrac12 \Big(\sum_i s_i y_{c,i}^2 - \lVert t\rVert^2\Big),
   \qquad G = V \Lambda V^\top,\; R = \Lambda^{1/2} V^\top,\; t = \Lambda^{-1/2} V^\top q,

(rows of a zero eigenvalue left out: ``q`` lies in ``G``'s range). So the fit on ``X`` is
the fit on the ``p x p`` design ``R`` (rows of weight ``1 / p``, scaled by ``sqrt(p)``), with
no intercept: in exact arithmetic the same minimizer, the same gradient :math:`G w - q` and
an objective off by a constant. Every pass over the data then costs ``p^2`` instead of
``n p``; the price is one ``X^T X`` and one ``eigh`` per compiled call (per path, not per
strength): glmnet's "covariance updates", scikit-learn's ``precompute``. The intercept is
:math:`\bar y - u^\top w` with ``u`` the columns' weighted means.

In floating point it is not the same problem: ``eigh`` drops the eigenvalues below ``p eps``
times the largest, so columns whose scale is below ``sqrt(p eps)`` times the largest (1e-3
against 1e3 in float32, 1e-8 against 1e8 in float64) vanish from ``R``, and the compressed
fit's gap then certifies a different problem (float32: converged, gap 4e-5, true
suboptimality 0.45). So the Gram-form fit is only a warm start: the caller continues with
the residual-form solver on ``X`` itself, whose gap (from ``y - X w - b``) decides
``converged``; where the Gram form was right that costs a few passes over ``X``. In float32
the Gram form is not used at all: it loses columns at scales real data has (polynomial
features, unscaled units) and was no faster there (n = 20,000, p = 200: 0.41 s against the
residual form's 0.12 s per fit, benchmarks/README.md).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ._design import Columns

# The Gram form is used when n >= _ROWS_PER_FEATURE * p and p <= _MAX_FEATURES (a dense X and
# the squared loss): the eigh costs O(p^3), the Gram matrix O(n p^2), once per call; each
# pass over the data then costs p^2 instead of n p.
_ROWS_PER_FEATURE = 4
_MAX_FEATURES = 1024


def uses_gram_form(cols: Columns, is_least_squares: bool) -> bool:
    """Whether a fit on ``cols`` starts in the Gram form (a fact of the shapes and the dtype:
    static): float64 only (see the module)."""
    p = cols.num_features
    return (
        is_least_squares
        and cols.values.dtype == jnp.float64
        and cols.rows is None
        and cols.values.shape[1] == 1
        and p <= _MAX_FEATURES
        and cols.n >= _ROWS_PER_FEATURE * p
    )


class GramForm(NamedTuple):
    """The compressed problem (``cols``, ``y``, ``s``: no intercept) and what gives the
    original intercept back."""

    cols: Columns  # (p, 1, p): R's columns, scaled by sqrt(p)
    y: jax.Array  # (p,) t, scaled by sqrt(p)
    s: jax.Array  # (p,) uniform weights
    u: jax.Array  # (p,) the columns' weighted means (0 without an intercept)
    ybar: jax.Array  # y's weighted mean (0 without an intercept)

    def intercept(self, w: jax.Array) -> jax.Array:
        return self.ybar - self.u @ w


def gram_form(cols: Columns, y: jax.Array, s: jax.Array, fit_intercept: bool) -> GramForm:
    """The Gram form of the least-squares fit on ``(cols, y, s)`` (see the module)."""
    xt = cols.values[:, 0, :]  # (p, n)
    p, dtype = xt.shape[0], y.dtype
    sn = s / jnp.sum(s)
    if fit_intercept:
        u, ybar = xt @ sn, jnp.sum(sn * y)
    else:
        u, ybar = jnp.zeros(p, dtype), jnp.zeros((), dtype)
    # centred before the products: X^T S X - u u^T would cancel the columns' means away and
    # leave float32 rounding of n u^2 in G (columns of mean 1,000: a fit 200x the optimum)
    xc = xt - u[:, None]
    xs = xc * sn
    gram = xs @ xc.T
    q = xs @ (y - ybar)
    finite = jnp.isfinite(gram).all() & jnp.isfinite(q).all()
    ev, vec = jnp.linalg.eigh(jnp.where(finite, gram, 0.0))
    cut = jnp.maximum(ev[-1], 0.0) * p * jnp.finfo(dtype).eps
    keep = ev > cut
    root = jnp.sqrt(jnp.where(keep, ev, 1.0))
    scale = jnp.sqrt(jnp.asarray(p, dtype))
    r = jnp.where(keep[:, None], root[:, None] * vec.T, 0.0) * scale  # (p rows, p features)
    t = jnp.where(keep, (vec.T @ q) / root, 0.0) * scale
    t = jnp.where(finite, t, jnp.nan)  # NaN in X or y gives NaN coefficients
    return GramForm(Columns(r.T[:, None, :], None, p), t, jnp.ones(p, dtype), u, ybar)
