"""What `jaxreg.linear.fit` and `path` return."""

from __future__ import annotations

from typing import NamedTuple

import jax


class LinearResult(NamedTuple):
    r"""What `fit` returns (and `path`, with a leading strength axis on every field).

    Attributes:
      coef: ``(n_features,)`` coefficients (NaN when the data or a traced strength is NaN).
      intercept: the intercept (0 without ``fit_intercept``).
      gap: the duality gap of the returned point, absolute (in the objective's units, not
        divided by ``tol``'s scale): for l1 / group lasso / l2 / elastic-net penalties with
        the squared or logistic loss; otherwise the largest prox-gradient residual
        :math:`L_j \lVert w_j - \mathrm{prox}(w_j - g_j / L_j) \rVert` (0 at a stationary
        point).
      iterations: outer iterations (full-gradient passes over ``X``).
      epochs: coordinate-descent epochs over the working sets, in all (sparse ``X``: an
        epoch is one pass over the working set and 6 over its nonzero coefficients).
      converged: ``gap`` (and the intercept's and unpenalized features' residuals) at most
        ``tol`` times its scale (see `fit`); False also when the data hold NaN.
    """

    coef: jax.Array
    intercept: jax.Array
    gap: jax.Array
    iterations: jax.Array
    epochs: jax.Array
    converged: jax.Array
