"""Non-convex elementwise kinds: mcp, scad (folded concave), l0 and lq.

A weight multiplies each element's penalty (skglm's ``Weighted*`` convention), so the prox of
``t * w_i * p(x_i)`` is the prox of ``p`` with the step ``t * w_i``.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, ClassVar

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .. import _numerics as nx
from .. import _prox_kernels as kernels_prox
from .._penalty.types import Term, penalty_class, static_field
from .._penalty.validation import (
    as_leaf,
    check_scalar,
    term_fields,
)
from .._typing import MaskLike, Weights


def _shape_parameter(gamma: Any, dtype: Any, low: float) -> jax.Array:
    """A shape parameter cast to ``dtype``; NaN unless > ``low`` (traced values included)."""
    g = jnp.asarray(gamma, dtype)
    return jnp.where(g > low, g, jnp.nan)


class FoldedConcave(Term):
    """An MCP-like kind: ``sum_i w_i p_lam(|x_i|)`` with ``p`` given by `elementwise_penalty`,
    slope ``lam`` at 0 (so ``lambda_max`` is l1's), not linear in the strength."""

    elementwise: ClassVar[bool] = True
    linear_in_strength: ClassVar[bool] = False
    positively_homogeneous: ClassVar[bool] = False
    smooth_on: ClassVar[str | None] = "nonzeros"

    def elementwise_penalty(self, a: jax.Array, lam: jax.Array) -> jax.Array:
        raise NotImplementedError

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x)
        return nx.weighted_sum(
            self.elementwise_penalty(nx.abs0(z), nx.checked_hyperparameter(self.strength, z.dtype)),
            w,
        )

    def dual_norm(self, g, w):  # the slope at 0 is strength * w, as for l1
        return jnp.max(nx.ratio_or_inf(jnp.abs(g), w))


@penalty_class
class MCP(FoldedConcave):
    r"""Minimax concave penalty :math:`\sum_i w_i\,p(x_i)`; see `jaxreg.mcp`."""

    gamma: Any
    weights: Weights = None
    name: ClassVar[str] = "mcp"

    def elementwise_penalty(self, a: jax.Array, lam: jax.Array) -> jax.Array:
        g = _shape_parameter(self.gamma, a.dtype, 0.0)
        return kernels_prox.keep_nan(
            a, jnp.where(a <= g * lam, lam * a - a * a / (2 * g), g * lam * lam / 2)
        )

    def prox_leaf(self, z, t, strength):
        # The global minimizer in closed form: firm thresholding while the prox objective is
        # convex (t < gamma), hard thresholding at lam * sqrt(t * gamma) beyond (the penalty is
        # then concave on [0, gamma lam], so the minimum sits at 0 or at z itself).
        g, lam, a = _shape_parameter(self.gamma, z.dtype, 0.0), strength, jnp.abs(z)
        convex = t < g
        inner = jnp.sign(z) * (a - t * lam) / jnp.where(convex, 1 - t / g, 1.0)
        firm = jnp.where(a <= t * lam, 0.0, jnp.where(a <= g * lam, inner, z))
        hard = jnp.where(a * a > lam * lam * t * g, z, 0.0)
        return kernels_prox.keep_nan(z, jnp.where(convex, firm, hard))

    def scaled(self, factor):
        # c * MCP(lam, gamma) = MCP(c lam, gamma / c): same knot gamma * lam, c times the value
        if isinstance(factor, jax.core.Tracer):
            gamma = jnp.where(factor > 0, self.gamma / jnp.where(factor > 0, factor, 1), self.gamma)
        else:
            gamma = self.gamma / factor if factor else self.gamma
        return dataclasses.replace(
            self, strength=as_leaf(factor * self.strength), gamma=as_leaf(gamma)
        )


def mcp(
    strength: ArrayLike, gamma: ArrayLike, *, mask: MaskLike = None, weights: Weights = None
) -> Term:
    r"""Minimax concave penalty (MCP, Zhang 2010) :math:`\sum_i w_i\,p_{\lambda,\gamma}(x_i)`.

    .. math:: p_{\lambda,\gamma}(x) = \begin{cases} \lambda|x| - \frac{x^2}{2\gamma} &
       |x| \le \gamma\lambda \\ \frac{\gamma\lambda^2}{2} & |x| > \gamma\lambda \end{cases}

    scikit-learn-style parametrization of skglm's ``MCPenalty(alpha=strength, gamma=gamma)``
    (``WeightedMCPenalty`` with ``weights``: a weight multiplies its element's penalty). L1's
    slope at 0, no shrinkage of weights beyond :math:`\gamma\lambda`; :math:`\gamma \to \infty`
    is `l1`. Non-convex: `Penalty.prox` is its exact (global) proximal map, firm thresholding
    for steps :math:`t < \gamma` (hard thresholding at :math:`\lambda\sqrt{t\gamma}` beyond),
    and `jaxreg.solve` reaches a stationary point, not necessarily the global minimum.
    ``lambda_max`` is the strength at which 0 is a stationary point (as for `l1`). The
    derivative at ``x_i = 0`` is 0. ``c * mcp(lam, gamma)`` is ``mcp(c * lam, gamma / c)``.

    Args:
      strength: :math:`\lambda \ge 0`.
      gamma: :math:`\gamma > 0` (skglm and ncvreg use 3 by default).
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0` multiplying each element's penalty.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.mcp(1.0, 3.0)({"w": jnp.array([1.0, 5.0])})  # 1 - 1/6 + 3/2
    Array(2.3333333, dtype=float32)
    """
    check_scalar(gamma, "gamma")
    if not isinstance(gamma, jax.core.Tracer) and not float(np.asarray(gamma)) > 0:
        raise ValueError(f"mcp needs gamma > 0; got gamma={gamma!r}.")
    return MCP(**term_fields(strength, mask, weights), gamma=as_leaf(gamma))


@penalty_class
class SCAD(FoldedConcave):
    r"""Smoothly clipped absolute deviation :math:`\sum_i w_i\,p(x_i)`; see `jaxreg.scad`."""

    gamma: Any
    weights: Weights = None
    name: ClassVar[str] = "scad"

    def elementwise_penalty(self, a: jax.Array, lam: jax.Array) -> jax.Array:
        g = _shape_parameter(self.gamma, a.dtype, 2.0)
        mid = (2 * g * lam * a - a * a - lam * lam) / (2 * (g - 1))
        outer = lam * lam * (g + 1) / 2
        return kernels_prox.keep_nan(
            a, jnp.where(a <= lam, lam * a, jnp.where(a <= g * lam, mid, outer))
        )

    def prox_leaf(self, z, t, strength):
        # The global minimizer in closed form. For t < gamma - 1 the prox objective is strictly
        # convex: Fan & Li's (2001) thresholding with step t, soft below (1 + t) lam, the
        # middle piece's stationary point ((gamma - 1) |z| - t gamma lam) / (gamma - 1 - t) up
        # to gamma lam, and z itself beyond. For t >= gamma - 1 the middle piece is concave, so
        # the minimum over [lam, gamma lam] sits at an end, which the minimizers of the outer
        # pieces over their closed intervals (min(soft, lam) and max(|z|, gamma lam)) cover:
        # compare those two objectives (a tie keeps the smaller magnitude).
        g, lam, a = _shape_parameter(self.gamma, z.dtype, 2.0), strength, jnp.abs(z)
        convex = t < g - 1
        soft = jnp.maximum(a - t * lam, 0.0)
        mid = ((g - 1) * a - t * g * lam) / jnp.where(convex, g - 1 - t, 1.0)
        firm = jnp.where(a <= (1 + t) * lam, soft, jnp.where(a <= g * lam, mid, a))
        low, high = jnp.minimum(soft, lam), jnp.maximum(a, g * lam)
        # objectives minus their common 0.5 a^2 would cancel badly: keep the squares
        low_obj = 0.5 * (low - a) ** 2 + t * lam * low
        high_obj = 0.5 * (high - a) ** 2 + t * lam * lam * (g + 1) / 2
        take_high = (high_obj < low_obj) | (a == jnp.inf)  # a bounded penalty keeps +-inf
        best = jnp.where(convex, firm, jnp.where(take_high, high, low))
        return kernels_prox.keep_nan(z, jnp.where(best > 0, jnp.sign(z) * best, 0.0))

    def scaled(self, factor):
        if not isinstance(factor, jax.core.Tracer) and factor == 1:
            return self
        raise TypeError(
            f"{factor!r} * {self!r} is not a SCAD penalty (its knots are the strength and gamma "
            "* strength): scale the strength in jr.scad(...) instead."
        )


def scad(
    strength: ArrayLike, gamma: ArrayLike, *, mask: MaskLike = None, weights: Weights = None
) -> Term:
    r"""Smoothly clipped absolute deviation (SCAD, Fan and Li 2001) :math:`\sum_i w_i\,p(x_i)`.

    .. math:: p_{\lambda,\gamma}(x) = \begin{cases} \lambda|x| & |x| \le \lambda \\
       \frac{2\gamma\lambda|x| - x^2 - \lambda^2}{2(\gamma - 1)} & \lambda < |x| \le
       \gamma\lambda \\ \frac{\lambda^2(\gamma + 1)}{2} & |x| > \gamma\lambda \end{cases}

    skglm's ``SCAD(alpha=strength, gamma=gamma)``. Non-convex: `Penalty.prox` is its exact
    (global) proximal map for every step (skglm's formula assumes :math:`t < \gamma - 1`), and
    `jaxreg.solve` reaches a stationary point. ``lambda_max`` as for `l1`; the derivative at 0
    is 0. A multiple of a SCAD penalty is not one: ``c * scad(...)`` raises a `TypeError`.

    Args:
      strength: :math:`\lambda \ge 0`.
      gamma: :math:`\gamma > 2` (3.7 in Fan and Li).
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0` multiplying each element's penalty.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.scad(1.0, 3.7)({"w": jnp.array([0.5, 10.0])})  # 0.5 + 4.7 / 2
    Array(2.85, dtype=float32)
    """
    check_scalar(gamma, "gamma")
    if not isinstance(gamma, jax.core.Tracer) and not float(np.asarray(gamma)) > 2:
        raise ValueError(f"scad needs gamma > 2; got gamma={gamma!r}.")
    return SCAD(**term_fields(strength, mask, weights), gamma=as_leaf(gamma))


@penalty_class
class L0(Term):
    r""":math:`\lambda \sum_i w_i [x_i \ne 0]`; see `jaxreg.l0`."""

    weights: Weights = None
    name: ClassVar[str] = "l0"
    elementwise: ClassVar[bool] = True
    positively_homogeneous: ClassVar[bool] = False
    smooth_on: ClassVar[str | None] = "nonzeros"

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x)
        return nx.weighted_sum(kernels_prox.keep_nan(z, (z != 0).astype(z.dtype)), w)

    def prox_leaf(self, z, t, strength):  # hard thresholding; a tie keeps the exact zero
        return kernels_prox.keep_nan(z, jnp.where(z * z > 2 * t * strength, z, 0.0))


def l0(strength: ArrayLike, *, mask: MaskLike = None, weights: Weights = None) -> Term:
    r"""The :math:`\ell_0` penalty :math:`\lambda \sum_i w_i [x_i \ne 0]`: the number of non-zeros.

    Its gradient is 0 everywhere: use it through `Penalty.prox` (hard thresholding: keep
    :math:`x_i` when :math:`x_i^2 > 2 t \lambda w_i`, else 0), e.g. in
    `jaxreg.transforms.proximal` or `jaxreg.solve` (a stationary point). ``lambda_max`` is not
    defined (0 is always a local minimum). NaN counts as NaN, not as a non-zero.

    Args:
      strength: :math:`\lambda \ge 0`.
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.l0(0.1)({"w": jnp.array([1.0, 0.0, -3.0])})
    Array(0.2, dtype=float32)
    """
    return L0(**term_fields(strength, mask, weights))


_LQ = {0.5: "1/2", 2 / 3: "2/3"}


@penalty_class
class Lq(Term):
    r""":math:`\lambda \sum_i w_i |x_i|^q`, :math:`q \in \{1/2, 2/3\}`; see `jaxreg.lq`."""

    q: float = static_field()
    weights: Weights = None
    name: ClassVar[str] = "lq"
    elementwise: ClassVar[bool] = True
    positively_homogeneous: ClassVar[bool] = False
    smooth_on: ClassVar[str | None] = "nonzeros"

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x)
        a = jnp.abs(z)
        pos = a > 0  # derivative 0 at 0 (the true one is infinite), NaN propagates
        power = jnp.where(
            pos, jnp.where(pos, a, 1.0) ** self.q, kernels_prox.keep_nan(z, jnp.zeros_like(a))
        )
        return nx.weighted_sum(power, w)

    def prox_leaf(self, z, t, strength):
        return kernels_prox.lq_threshold(z, t * strength, self.q)


def lq(strength: ArrayLike, q: float, *, mask: MaskLike = None, weights: Weights = None) -> Term:
    r"""The :math:`\ell_q` quasi-norm penalty :math:`\lambda \sum_i w_i |x_i|^q`, :math:`q \in
    \{\frac12, \frac23\}`.

    skglm's ``L0_5(alpha=strength)`` and ``L2_3(alpha=strength)``: the two exponents with a
    closed-form proximal map (Xu et al. 2012; Cao et al. 2013), which `Penalty.prox` uses
    (exact zeros below the threshold :math:`\frac32 (t\lambda)^{2/3}` for q = 1/2 and
    :math:`2 (\frac23 t\lambda)^{3/4}` for q = 2/3). The derivative at 0 is taken as 0 (the
    true one is infinite); ``lambda_max`` is not defined (0 is always a local minimum).

    Args:
      strength: :math:`\lambda \ge 0`.
      q: 1/2 or 2/3 (``0.5``, ``2 / 3``).
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.lq(1.0, 0.5)({"w": jnp.array([4.0, -9.0])})
    Array(5., dtype=float32)
    """
    if isinstance(q, bool) or not isinstance(q, numbers.Real):
        raise TypeError(f"q must be 1/2 or 2/3; got q={q!r}.")
    exact = [v for v in _LQ if abs(float(q) - v) < 1e-12]
    if not exact:
        raise ValueError(
            f"q must be 1/2 or 2/3 (the exponents with a closed-form prox); got q={q!r}."
        )
    return Lq(**term_fields(strength, mask, weights), q=exact[0])
