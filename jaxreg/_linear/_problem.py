r"""One fit's problem: the data, the datafit and the penalty, as the solvers evaluate them.

.. math:: \min_{w, b}\; \sum_i s_i\, \ell(y_i, x_i^\top w + b) + \mathrm{pen}(w),
   \qquad \textstyle\sum_i s_i = 1,

with ``w`` in blocks ``(G, B)``. `Problem` holds what every solver reads (never written:
a value built once per fit, inside the compiled function).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._datafits import Datafit
from ._design import Columns
from ._penalty_parts import BlockPenalty, L1L2Split


class Problem(NamedTuple):
    cols: Columns  # in blocks of penalty.size
    y: jax.Array
    sn: jax.Array  # the weights of the mean: s / sum(s)
    datafit: Datafit
    penalty: BlockPenalty
    split: L1L2Split | None  # the penalty's l1 / l2 coefficients (None: other kinds)
    lips: jax.Array | None  # the blocks' curvature bounds (None: the datafit has none)
    fit_intercept: bool
    col_means: jax.Array | None = None  # (G, B) X^T s: the squared loss with an intercept

    @property
    def dtype(self) -> Any:
        return self.y.dtype

    def lipschitz(self, z: jax.Array) -> jax.Array:
        """The blocks' curvature bounds; at ``z`` for a datafit without a global one."""
        if self.lips is not None:
            return self.lips
        return self.cols.lipschitz(self.sn * self.datafit.curvature(z, self.y))

    def primal(self, w: jax.Array, z: jax.Array) -> jax.Array:
        return jnp.sum(self.sn * self.datafit.value(z, self.y)) + self.penalty.value(w)

    def deriv_at(self, z: jax.Array, i: Any) -> jax.Array:
        """``s l'(z)`` on every row (``i`` None) or on rows ``i``."""
        if i is None:
            return self.sn * self.datafit.derivative(z, self.y)
        return self.sn[i] * self.datafit.derivative(z[i], self.y[i])

    def grad_full(self, z: jax.Array) -> jax.Array:
        """:math:`X^\\top (s\\, \\ell'(z))`, ``(G, B)``."""
        return self.cols.rmatvec(self.sn * self.datafit.derivative(z, self.y))

    def block_prox(self, j: Any, v: jax.Array, t: Any) -> jax.Array:
        """prox of ``t pen_j`` at ``v`` (shape ``(B,)``)."""
        if self.split is None:
            return self.penalty.prox_at(v, t, j)
        return self.split.prox(j, v, t)

    def dual_data(self, z: jax.Array, g: jax.Array) -> tuple[Any, Any, Any]:
        r"""``(y, z, g)`` for the dual point. The squared loss with an intercept: shifted so
        that the residual ``y - z`` has weighted mean 0 exactly as the intercept's dual
        constraint asks (``g`` with it: :math:`X^\top s (z - y - \bar d)`), and ``y`` centred
        (``u = c (y - z)`` does not change). In float32 the residual's mean is rounding, not
        0, and :math:`\sum_i s_i u_i y_i` multiplied it by ``y``'s offset: the gap of an
        optimal fit was 0.6 with ``y`` around 2,500 (tests/test_linear_layouts.py)."""
        if self.col_means is None:
            return self.y, z, g
        ybar = jnp.sum(self.sn * self.y)
        dbar = jnp.sum(self.sn * (z - self.y))
        return self.y - ybar, (z - ybar) - dbar, g - self.col_means * dbar

    def intercept_step(self, b: Any, z: jax.Array) -> tuple[Any, Any, Any]:
        """The datafit's Newton step on the intercept: ``(b, z)`` moved, the squared residual."""
        if not self.fit_intercept:
            return b, z, jnp.zeros((), self.dtype)
        return self.datafit.intercept_step(b, z, self.y, self.sn)


def column_means(cols: Columns, sn: jax.Array, datafit: Datafit, fit_intercept: bool):
    """``X^T s`` where the dual point needs it (`Problem.dual_data`), else None."""
    return cols.rmatvec(sn) if fit_intercept and datafit.is_least_squares else None


def make_problem(
    cols: Columns,
    y: jax.Array,
    s: jax.Array,
    datafit: Datafit,
    penalty: BlockPenalty,
    fit_intercept: bool,
    lips: jax.Array | None,
    means: jax.Array | None = None,
) -> Problem:
    """The problem on ``cols`` in blocks; ``lips`` and ``means`` (`column_means`) computed
    here unless given (a path's, once for all its fits)."""
    sn = s / jnp.sum(s)
    kappa = datafit.curvature_bound
    if kappa is None and penalty.size > 1:
        raise NotImplementedError(
            f"loss={datafit.name!r} with group penalties is not supported yet."
        )
    if lips is None and kappa is not None:
        lips = kappa * cols.lipschitz(sn)  # (G,)
    split = penalty.split((cols.num_blocks, penalty.size), y.dtype)
    if means is None:
        means = column_means(cols, sn, datafit, fit_intercept)
    return Problem(cols, y, sn, datafit, penalty, split, lips, fit_intercept, means)
