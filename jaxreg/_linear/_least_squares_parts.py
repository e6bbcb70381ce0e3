"""What the least-squares inner solvers (dense and sparse ``X``) share: the problem's
constants and the centred parametrization of the working set."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._design import Columns


class LeastSquares(NamedTuple):
    r""":math:`\frac12 \sum_i s_i (y_i - x_i^\top w - b)^2 + \sum_j a_j |w_j| + \frac{b_j}{2}
    w_j^2`, as the inner solvers read it."""

    cols: Columns
    y: jax.Array
    sn: jax.Array  # the weights of the mean: s / sum(s)
    a: jax.Array  # (p,) l1 coefficients
    b2: jax.Array  # (p,) l2 coefficients
    ybar: jax.Array  # the optimal intercept of centred columns (sum(sn) = 1)
    fit_intercept: bool
    anderson: int
    max_epochs: int

    def centred(self, idx: jax.Array, u: jax.Array, lc: jax.Array, w: jax.Array, b: Any):
        r"""The working set's CD constants and its start in the centred parametrization.

        With an intercept the inner solvers work on the columns centred by their weighted
        means ``u = X_W^T s`` (as scikit-learn centres a dense X, and implicitly a sparse
        one): ``X w + b = X_c w + b~`` with ``b~ = b + u^T w``, whose optimum ``sum(s y)``
        does not depend on ``w`` (``X_c^T s = 0``). Coordinate descent on uncentred columns
        must move the intercept after every coefficient (many more epochs on columns of large
        mean: benchmarks/README.md). ``lc`` are the centred columns' curvatures
        :math:`\sum_i s_i (x_{ij} - u_j)^2` (computed without cancellation by the caller).
        Returns (step, threshold, shrink, curvature) per coordinate, the intercept ``b~`` and
        the shift ``delta`` of the residual: ``r_c = z - y + delta``. Without an intercept
        ``u = 0``, ``b~ = b`` and nothing changes."""
        lcp = lc > 0  # a constant column (with an intercept) cannot move
        st_c = 1.0 / jnp.where(lcp, lc, 1.0)
        params = (
            st_c,
            self.a[idx] * st_c,
            jnp.where(lcp, 1.0 / (1.0 + self.b2[idx] * st_c), 0.0),
            lc,
        )
        if not self.fit_intercept:
            return params, b, jnp.zeros((), self.y.dtype)
        return params, self.ybar, self.ybar - b - u @ w[idx, 0]
