"""The penalty kinds, one class each, and their builders.

Everything about a kind lives in its class: the formula (docstring), its value on one leaf
(`raw`), its proximal map (`shrink`, or `parts` for elastic net), the dual norm that
`jaxreg.select.lambda_max` needs (`zero_strength`), its minimum ndim and default mask, and the
`parts` the converters read, and two flags for the core: ``homogeneous`` (the value is
``strength * raw``) and ``positively_homogeneous`` (``g(c x) = c g(x)``). Adding a kind is
one class and one builder here (constraints, the indicators of sets, live in
`_constraints.py`), plus its re-export in ``__init__.py`` and its tests; nothing else names
kinds.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, ClassVar, Literal

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _numerics as nx
from . import _prox
from ._masks import Mask, as_mask, kernels
from ._penalty import (
    Term,
    as_leaf,
    check_nonnegative_tree,
    check_scalar,
    hyper,
    penalty_class,
    static_field,
)
from ._penalty import _weight_or_one as _weight
from ._typing import MaskLike, Strengths, Weights


def _sum_abs(x: jax.Array, w: Any) -> jax.Array:
    z = nx.upcast(x)
    return jnp.sum(nx.abs0(z)) if w is None else jnp.sum(nx.abs0(z) * _weight(w, z.dtype))


def _half_sum_squares(x: jax.Array, w: Any) -> jax.Array:
    z = nx.upcast(x)
    return 0.5 * (jnp.sum(z * z) if w is None else jnp.sum(z * z * _weight(w, z.dtype)))


def _axes(axis: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    return tuple(sorted(a % ndim for a in axis))


def _harmonic_mean(t: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``1 / mean(1 / t)`` over ``axes`` (kept): for steps ``lr / D``, ``lr / mean(D)``.

    The arithmetic mean of ``lr / D`` would let one weight with ``D ~ eps`` (a zero gradient
    under Adam) make the whole group's step huge and zero it; a zero step stays 0.
    """
    return 1.0 / jnp.mean(1.0 / t, axis=axes, keepdims=True)


def _ratio_or_inf(a: jax.Array, w: Any) -> jax.Array:
    """``a / w`` with ``a / 0 = inf`` for ``a > 0`` and 0 for ``a == 0`` (NaN propagates)."""
    if w is None:
        return a
    safe = jnp.where(w > 0, w, 1)
    return jnp.where(w > 0, a / safe, jnp.where(a == 0, 0.0, jnp.inf))


# --------------------------------------------------------------------------------------------
# Elementwise kinds


@penalty_class
class L1(Term):
    r""":math:`\lambda \sum_i w_i |x_i|` (weights :math:`w_i`, 1 by default); see `jaxreg.l1`."""

    weights: Weights = None
    name: ClassVar[str] = "l1"
    elementwise: ClassVar[bool] = True
    smooth_on: ClassVar[str | None] = "nonzeros"

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        return _sum_abs(x, w)

    def shrink(self, z, t, scale):
        return _prox.soft_threshold(z, t * scale), t

    def zero_strength(self, g, w):
        return jnp.max(_ratio_or_inf(jnp.abs(g), w))


@penalty_class
class L2(Term):
    r""":math:`\frac{\lambda}{2} \sum_i w_i x_i^2`; see `jaxreg.l2`."""

    weights: Weights = None
    name: ClassVar[str] = "l2"
    elementwise: ClassVar[bool] = True
    quadratic: ClassVar[bool] = True
    smooth_on: ClassVar[str | None] = "all"

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        return _half_sum_squares(x, w)


@penalty_class
class ElasticNet(Term):
    r""":math:`\lambda \sum_i w_i (\rho |x_i| + \frac{1-\rho}{2} x_i^2)`; see `jaxreg.elastic_net`.

    Built from its parts: ``L1(strength * rho) + L2(strength * (1 - rho))``.
    """

    l1_ratio: Any
    weights: Weights = None
    name: ClassVar[str] = "elastic_net"
    elementwise: ClassVar[bool] = True
    smooth_on: ClassVar[str | None] = "nonzeros"

    def parts(self) -> tuple[Term, ...]:
        r, common = self.l1_ratio, {"mask": self.mask, "weights": self.weights}
        return (
            L1(strength=self.strength * r, **common),
            L2(strength=self.strength * (1 - r), **common),
        )

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        # Two reductions, not one of the combined term: faster on XLA:CPU in every layout, with
        # and without the gradient (benchmarks/README.md).
        l1, l2 = self.parts()
        r = hyper(self.l1_ratio, nx.acc_dtype(x.dtype), high=1.0)
        return r * l1.raw(x, w) + (1 - r) * l2.raw(x, w)

    def zero_strength(self, g, w):
        return self.parts()[0].zero_strength(g, w) / self.l1_ratio


# --------------------------------------------------------------------------------------------
# Non-convex elementwise kinds: a weight multiplies each element's penalty (skglm's Weighted*
# convention), so the prox of t * w_i * p(x_i) is the prox of p with the step t * w_i.


def _gamma(gamma: Any, dtype: Any, low: float) -> jax.Array:
    """A shape parameter cast to ``dtype``; NaN unless > ``low`` (traced values included)."""
    g = jnp.asarray(gamma, dtype)
    return jnp.where(g > low, g, jnp.nan)


def _nan_keeping(z: jax.Array, out: jax.Array) -> jax.Array:
    """``out``, with the NaNs of ``z`` put back (a prox must not turn NaN into 0)."""
    return jnp.where(jnp.isnan(z), z, out)


def _elementwise_sum(values: jax.Array, w: Any) -> jax.Array:
    return jnp.sum(values) if w is None else jnp.sum(values * _weight(w, values.dtype))


class _Folded(Term):
    """An MCP-like kind: ``sum_i w_i p_lam(|x_i|)`` with ``p`` given by ``_p``, slope ``lam`` at
    0 (so ``lambda_max`` is l1's), not linear in the strength."""

    elementwise: ClassVar[bool] = True
    homogeneous: ClassVar[bool] = False
    positively_homogeneous: ClassVar[bool] = False
    smooth_on: ClassVar[str | None] = "nonzeros"

    def _p(self, a: jax.Array, lam: jax.Array) -> jax.Array:
        raise NotImplementedError

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x)
        return _elementwise_sum(self._p(nx.abs0(z), hyper(self.strength, z.dtype)), w)

    def zero_strength(self, g, w):  # the slope at 0 is strength * w, as for l1
        return jnp.max(_ratio_or_inf(jnp.abs(g), w))


@penalty_class
class MCP(_Folded):
    r"""Minimax concave penalty :math:`\sum_i w_i\,p(x_i)`; see `jaxreg.mcp`."""

    gamma: Any
    weights: Weights = None
    name: ClassVar[str] = "mcp"

    def _p(self, a: jax.Array, lam: jax.Array) -> jax.Array:
        g = _gamma(self.gamma, a.dtype, 0.0)
        return _nan_keeping(
            a, jnp.where(a <= g * lam, lam * a - a * a / (2 * g), g * lam * lam / 2)
        )

    def shrink(self, z, t, scale):
        # The global minimizer in closed form: firm thresholding while the prox objective is
        # convex (t < gamma), hard thresholding at lam * sqrt(t * gamma) beyond (the penalty is
        # then concave on [0, gamma lam], so the minimum sits at 0 or at z itself).
        g, lam, a = _gamma(self.gamma, z.dtype, 0.0), scale, jnp.abs(z)
        convex = t < g
        inner = jnp.sign(z) * (a - t * lam) / jnp.where(convex, 1 - t / g, 1.0)
        firm = jnp.where(a <= t * lam, 0.0, jnp.where(a <= g * lam, inner, z))
        hard = jnp.where(a * a > lam * lam * t * g, z, 0.0)
        return _nan_keeping(z, jnp.where(convex, firm, hard)), t

    def scaled(self, factor):
        # c * MCP(lam, gamma) = MCP(c lam, gamma / c): same knot gamma * lam, c times the value
        if isinstance(factor, jax.core.Tracer):
            gamma = jnp.where(factor > 0, self.gamma / jnp.where(factor > 0, factor, 1), self.gamma)
        else:
            gamma = self.gamma / factor if factor else self.gamma
        return dataclasses.replace(
            self, strength=as_leaf(factor * self.strength), gamma=as_leaf(gamma)
        )


@penalty_class
class SCAD(_Folded):
    r"""Smoothly clipped absolute deviation :math:`\sum_i w_i\,p(x_i)`; see `jaxreg.scad`."""

    gamma: Any
    weights: Weights = None
    name: ClassVar[str] = "scad"

    def _p(self, a: jax.Array, lam: jax.Array) -> jax.Array:
        g = _gamma(self.gamma, a.dtype, 2.0)
        mid = (2 * g * lam * a - a * a - lam * lam) / (2 * (g - 1))
        outer = lam * lam * (g + 1) / 2
        return _nan_keeping(a, jnp.where(a <= lam, lam * a, jnp.where(a <= g * lam, mid, outer)))

    def shrink(self, z, t, scale):
        # The global minimizer in closed form. For t < gamma - 1 the prox objective is strictly
        # convex: Fan & Li's (2001) thresholding with step t, soft below (1 + t) lam, the
        # middle piece's stationary point ((gamma - 1) |z| - t gamma lam) / (gamma - 1 - t) up
        # to gamma lam, and z itself beyond. For t >= gamma - 1 the middle piece is concave, so
        # the minimum over [lam, gamma lam] sits at an end, which the minimizers of the outer
        # pieces over their closed intervals (min(soft, lam) and max(|z|, gamma lam)) cover:
        # compare those two objectives (a tie keeps the smaller magnitude).
        g, lam, a = _gamma(self.gamma, z.dtype, 2.0), scale, jnp.abs(z)
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
        return _nan_keeping(z, jnp.where(best > 0, jnp.sign(z) * best, 0.0)), t

    def scaled(self, factor):
        if not isinstance(factor, jax.core.Tracer) and factor == 1:
            return self
        raise TypeError(
            f"{factor!r} * {self!r} is not a SCAD penalty (its knots are the strength and gamma "
            "* strength): scale the strength in jr.scad(...) instead."
        )


@penalty_class
class L0(Term):
    r""":math:`\lambda \sum_i w_i [x_i \ne 0]`; see `jaxreg.l0`."""

    weights: Weights = None
    name: ClassVar[str] = "l0"
    elementwise: ClassVar[bool] = True
    positively_homogeneous: ClassVar[bool] = False
    smooth_on: ClassVar[str | None] = "nonzeros"

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x)
        return _elementwise_sum(_nan_keeping(z, (z != 0).astype(z.dtype)), w)

    def shrink(self, z, t, scale):  # hard thresholding; a tie keeps the exact zero
        return _nan_keeping(z, jnp.where(z * z > 2 * t * scale, z, 0.0)), t


_LQ = {0.5: "1/2", 2 / 3: "2/3"}


def _int_view(x: jax.Array) -> Any:
    return jnp.int64 if x.dtype == jnp.float64 else jnp.int32


def _inv_sqrt(a: jax.Array, steps: int) -> jax.Array:
    """``a^(-1/2)`` for normal ``a > 0``: the bit-pattern estimate (relative error 3.4%), then
    Newton steps (e -> 1.5 e^2: 1.7e-3, 4.5e-6, 3e-11)."""
    it = _int_view(a)
    magic = it(0x5FE6EB50C7B537A9 if it == jnp.int64 else 0x5F3759DF)
    bits = magic - (jax.lax.bitcast_convert_type(a, it) >> 1)
    r = jax.lax.bitcast_convert_type(bits, a.dtype)
    for _ in range(steps):
        r = r * (1.5 - 0.5 * (a * r) * r)
    return r


def _inv_cbrt(a: jax.Array, steps: int) -> jax.Array:
    """``a^(-1/3)`` for normal ``a > 0``: the bit-pattern estimate ``magic - bits(a) / 3``
    (relative error 3.4%), then Newton steps (e -> 2 e^2: 2.3e-3, 1.1e-5, 2.3e-10).

    The division by 3 runs in floating point on the top bits of ``a`` placed in the mantissa of
    2^23 (2^52), where integers are exact: XLA:CPU vectorizes neither an integer division nor
    (cheaply) int <-> float conversions.
    """
    it = _int_view(a)
    if it == jnp.int64:  # the high word; big = 2^52, whose bits are 0x43300000_00000000
        shift, big, big_bits, magic = 32, 2.0**52, 0x4330000000000000, 0x553EF0FF
    else:
        shift, big, big_bits, magic = 8, 2.0**23, 0x4B000000, 0x54A232
    high = jax.lax.bitcast_convert_type(a, it) >> shift
    top = jax.lax.bitcast_convert_type(high | it(big_bits), a.dtype)  # big + high, exactly
    est = (big + magic + big / 3) - top * (1 / 3)  # big + (magic - high / 3), an integer
    r = jax.lax.bitcast_convert_type(jax.lax.bitcast_convert_type(est, it) << shift, a.dtype)
    for _ in range(steps):
        r = r * (4 - (a * r) * (r * r)) * (1 / 3)
    return r


def _horner(c: jax.Array, coefficients: tuple[float, ...]) -> jax.Array:
    p: Any = coefficients[0]
    for k in coefficients[1:]:
        p = p * c + k
    return p


# Minimax fits (Lawson's iteration; highest degree first) of the largest root y(c) of
# y^3 - y + c on [0, 1 / (2 * 1.5^1.5)] (error 4.7e-5) and of y^4 - y + c on [0, 2^(-4/3)]
# (error 2.8e-5): the ranges of c where lq(1/2) and lq(2/3) keep a nonzero minimizer.
_ROOT3 = (-5.2113403967, 1.0268859914, -0.5595520608, -0.4926032821, 0.9999532650)
_ROOT4 = (
    -42.977114096,
    39.464054798,
    -15.098601383,
    2.3117917891,
    -0.4245192902,
    -0.3274568616,
    0.9999723146,
)


@penalty_class
class Lq(Term):
    r""":math:`\lambda \sum_i w_i |x_i|^q`, :math:`q \in \{1/2, 2/3\}`; see `jaxreg.lq`."""

    q: float = static_field()
    weights: Weights = None
    name: ClassVar[str] = "lq"
    elementwise: ClassVar[bool] = True
    positively_homogeneous: ClassVar[bool] = False
    smooth_on: ClassVar[str | None] = "nonzeros"

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x)
        a = jnp.abs(z)
        pos = a > 0  # derivative 0 at 0 (the true one is infinite), NaN propagates
        power = jnp.where(pos, jnp.where(pos, a, 1.0) ** self.q, _nan_keeping(z, jnp.zeros_like(a)))
        return _elementwise_sum(power, w)

    def shrink(self, z, t, scale):
        # The kept minimizer x > 0 of (x - a)^2 / 2 + u x^q solves x - a + q u x^(q-1) = 0: with
        # s = x^(1/2), s^3 - a s + u/2 = 0 (q = 1/2); with s = x^(1/3), s^4 - a s + 2u/3 = 0
        # (q = 2/3); x is the largest root. Xu et al. (2012) and Cao et al. (2013) (skglm's
        # prox_05 / prox_2_3) solve it with arccos, cos and cube roots, which XLA:CPU does not
        # vectorize; here only mul/add/div. With s = y / r for r ~ a^(-1/2) (a^(-1/3)), y is the
        # root of f(y) = y^n - A y + C, A = a r^2 (a r^3) ~ 1, C = (u/2) r^3 ((2u/3) r^4), in
        # [0.79, 1] when kept, where f' >= 1 and f'' / (2 f') <= 2.45 (3.8). A fit in C starts
        # Newton within 5.4e-5 (fit error plus |dy/dA| |A - 1|), so one Newton step lands within
        # 1.1e-8 (below float32's half ulp there, 3e-8) and two within 7.2e-17 (3.4e-17) in
        # float64, where r is good to 3e-11 (2.3e-10). Then x = a y^2 / A (a y^3 / A), with
        # 1 / A = 2 - A + O((A - 1)^2), |A - 1| < 3.3e-5 in float32 and 7e-10 in float64.
        u = t * scale
        a = jnp.abs(z)
        wide = z.dtype == jnp.float64
        newton = 2 if wide else 1
        if self.q == 0.5:
            keep = a >= 1.5 * u ** (2 / 3)
            r = _inv_sqrt(a, 3 if wide else 2)
            big_a = (a * r) * r
            c = ((0.5 * u) * r) * r * r
            y = _horner(c, _ROOT3)
            for _ in range(newton):
                y2 = y * y
                y = y - ((y2 - big_a) * y + c) / (3 * y2 - big_a)
            power = y * y
        else:
            keep = a >= 2 * (2 / 3 * u) ** 0.75
            r = _inv_cbrt(a, 3 if wide else 2)
            r2 = r * r
            big_a = (a * r) * r2
            c = ((2 / 3 * u) * r2) * r2
            y = _horner(c, _ROOT4)
            for _ in range(newton):
                y3 = y * y * y
                y = y - ((y3 - big_a) * y + c) / (4 * y3 - big_a)
            power = y * y * y
        out = jnp.where(a == jnp.inf, z, z * (power * (2 - big_a)))
        return _nan_keeping(z, jnp.where(keep & (u > 0), out, jnp.where(u > 0, 0.0, z))), t


# --------------------------------------------------------------------------------------------
# Group lasso


@penalty_class
class GroupLasso(Term):
    r""":math:`\lambda \sum_g w_g \lVert x_g \rVert_2` along ``axis``; see `jaxreg.group_lasso`."""

    axis: tuple[int, ...] = static_field(default=(-1,))
    weights: Weights = None
    reshape: tuple[int, ...] | None = static_field(default=None)
    name: ClassVar[str] = "group_lasso"
    min_ndim: ClassVar[int] = 1
    smooth_on: ClassVar[str | None] = "nonzeros"

    def _view(self, x: jax.Array) -> jax.Array:
        """The leaf as the groups see it: ``x.reshape(reshape)`` (e.g. heads split out)."""
        return x if self.reshape is None else jnp.reshape(x, self.reshape)

    def _view_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.reshape is None:
            return shape
        size, known = math.prod(shape), math.prod(n for n in self.reshape if n != -1)
        if -1 in self.reshape and known and size % known == 0:
            return tuple(size // known if n == -1 else n for n in self.reshape)
        if -1 not in self.reshape and known == size:
            return self.reshape
        raise ValueError(
            f"reshape={self.reshape} cannot view a leaf of shape {shape} ({size} elements)."
        )

    def weight_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        axes = _axes(self.axis, len(shape))
        return tuple(n for i, n in enumerate(shape) if i not in axes)

    def _keepdims_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        axes = _axes(self.axis, len(shape))
        return tuple(1 if i in axes else n for i, n in enumerate(shape))

    def check_leaf(self, path: str, x: Any, w: Any) -> None:
        if self.reshape is not None and np.ndim(x) >= 1:
            try:
                view = self._view_shape(np.shape(x))
            except ValueError as e:
                raise ValueError(f"{e} The leaf is at '{path}'.") from None
            x = np.broadcast_to(np.zeros((), bool), view)  # the view's shape, no memory
        ndim = np.ndim(x)
        if ndim >= 1 and not all(-ndim <= a < ndim for a in self.axis):
            raise ValueError(
                f"axis={self.axis[0] if len(self.axis) == 1 else self.axis} is out of range for "
                f"the leaf at '{path}' with shape {np.shape(x)}"
                f"{'' if self.reshape is None else ' (after reshape)'}. Select the leaves that "
                "have that axis with `mask` (e.g. mask=jaxreg.masks.kernels)."
            )
        if w is not None and ndim >= 1 and self._is_keepdims(w, np.shape(x)):
            w = None  # the keepdims form, e.g. (out, 1, 1, 1) for axis=(1, 2, 3): fine
        super().check_leaf(path, x, w)

    def _is_keepdims(self, w: Any, shape: tuple[int, ...]) -> bool:
        keep = self._keepdims_shape(shape)
        if np.ndim(w) != len(shape) or len(self.weight_shape(shape)) == len(shape):
            return False
        try:
            return np.broadcast_shapes(np.shape(w), keep) == keep
        except ValueError:
            return False

    def _group_weight(self, w: Any, shape: tuple[int, ...]) -> jax.Array:
        """The weight in the group shape (``shape`` without ``axis``), from either form."""
        if self._is_keepdims(w, shape):
            keep = self._keepdims_shape(shape)
            return jnp.squeeze(jnp.broadcast_to(w, keep), _axes(self.axis, len(shape)))
        return jnp.broadcast_to(w, self.weight_shape(shape))

    def _keepdims_weight(self, w: Any, shape: tuple[int, ...]) -> jax.Array:
        return jnp.expand_dims(self._group_weight(w, shape), _axes(self.axis, len(shape)))

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        x = self._view(x)
        norms = nx.group_norms(x, self.axis)
        if w is None:
            return jnp.sum(norms)
        return jnp.sum(norms * _weight(self._group_weight(w, x.shape), norms.dtype))

    def shrink(self, z, t, scale):
        shape, z = z.shape, self._view(z)
        axes = _axes(self.axis, z.ndim)
        if t.ndim:  # a diagonal metric lr / D: the step of the group's mean metric
            t = _harmonic_mean(self._view(t), axes)
        if jnp.ndim(scale):  # one weight per group: back to keepdims form
            scale = self._keepdims_weight(scale, z.shape)
        z = _prox.block_soft_threshold(z, t * scale, axes)
        if self.reshape is not None:
            z, t = z.reshape(shape), jnp.broadcast_to(t, z.shape).reshape(shape) if t.ndim else t
        return z, t

    def zero_strength(self, g, w):
        g = self._view(g)
        norms = jnp.sqrt(jnp.sum(g * g, axis=self.axis))
        return jnp.max(_ratio_or_inf(norms, None if w is None else self._group_weight(w, g.shape)))


@penalty_class
class SparseGroupLasso(GroupLasso):
    r""":math:`\lambda (\rho \sum_i |x_i| + (1 - \rho) \sum_g \lVert x_g \rVert_2)` along
    ``axis``; see `jaxreg.sparse_group_lasso`."""

    l1_ratio: Any = None
    name: ClassVar[str] = "sparse_group_lasso"

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        r = hyper(self.l1_ratio, nx.acc_dtype(x.dtype), high=1.0)
        return r * _sum_abs(x, None) + (1 - r) * super().raw(x, None)

    def shrink(self, z, t, scale):
        # the prox of the sum is the group prox of the soft-threshold (Friedman et al. 2010)
        r = hyper(self.l1_ratio, z.dtype, high=1.0)
        z = _prox.soft_threshold(z, t * scale * r)
        return super().shrink(z, t, scale * (1 - r))

    def zero_strength(self, g, w):
        # 0 is optimal iff || soft_threshold(g_group, lam rho) || <= lam (1 - rho) for every
        # group: the smallest such lam, by bisection on each group's decreasing gap
        g = self._view(g)
        r = jnp.asarray(self.l1_ratio, g.dtype)
        axes = _axes(self.axis, g.ndim)
        a = jnp.abs(g)

        def gap(lam):  # lam: one per group, in keepdims form
            shrunk = jnp.maximum(a - lam * r, 0.0)
            norms = jnp.sqrt(jnp.sum(shrunk * shrunk, axis=axes, keepdims=True))
            return norms - lam * (1 - r)

        # gap(hi) <= 0: at max|g| / rho the soft-threshold is 0; at ||g|| / (1 - rho) the gap
        # is at most ||g|| - ||g|| = 0
        top = jnp.max(a, axis=axes, keepdims=True) / jnp.maximum(r, 1e-300)
        whole = jnp.sqrt(jnp.sum(a * a, axis=axes, keepdims=True)) / jnp.maximum(1 - r, 1e-300)
        hi = jnp.minimum(top, whole)
        lo = jnp.zeros_like(hi)

        def step(_, bounds):
            lo, hi = bounds
            mid = (lo + hi) / 2
            pos = gap(mid) > 0
            return jnp.where(pos, mid, lo), jnp.where(pos, hi, mid)

        _, hi = jax.lax.fori_loop(0, 200, step, (lo, hi))
        return jnp.max(hi)


# --------------------------------------------------------------------------------------------
# Sorted L1 (SLOPE)


def _is_one(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer) and np.ndim(x) == 0 and float(np.asarray(x)) == 1


def _fmt_scalar(x: Any) -> str:
    return repr(x) if isinstance(x, jax.core.Tracer) else str(np.asarray(x))


def _decreasing_isotonic(w: jax.Array) -> jax.Array:
    """The non-increasing sequence closest to ``w`` in least squares: the stack-based
    pool-adjacent-violators algorithm (one pass, merging blocks whose means increase), as
    skglm's ``prox_SLOPE``; a `lax.fori_loop`, so it jits."""
    n = w.shape[0]

    def push(i, state):
        k, start, total, count = state
        start, total, count = start.at[k].set(i), total.at[k].set(w[i]), count.at[k].set(1)

        def violated(st):
            k, _, total, count = st
            return (k > 0) & (total[k - 1] * count[k] <= total[k] * count[k - 1])

        def merge(st):
            k, start, total, count = st
            total = total.at[k - 1].add(total[k])
            count = count.at[k - 1].add(count[k])
            return k - 1, start, total, count

        k, start, total, count = jax.lax.while_loop(violated, merge, (k, start, total, count))
        return k + 1, start, total, count

    zeros_i = jnp.zeros(n, jnp.int32)
    k, start, total, count = jax.lax.fori_loop(
        0, n, push, (jnp.int32(0), zeros_i, jnp.zeros_like(w), zeros_i)
    )
    means = total / jnp.maximum(count, 1).astype(w.dtype)
    starts = jnp.where(jnp.arange(n) < k, start, n)
    block = jnp.searchsorted(starts, jnp.arange(n), side="right") - 1
    return means[block]


@penalty_class
class Slope(Term):
    r""":math:`\lambda \sum_i s_i |x|_{(i)}`, :math:`|x|_{(1)} \ge |x|_{(2)} \ge \dots`; see
    `jaxreg.slope`."""

    sequence: Any = None
    name: ClassVar[str] = "slope"

    def check_scalars(self) -> None:
        if np.ndim(self.strength) != 0:
            raise ValueError(
                f"slope's strength has shape {np.shape(self.strength)}: a batch of penalties; "
                "use it under jax.vmap."
            )

    def check_leaf(self, path: str, x: Any, w: Any) -> None:
        super().check_leaf(path, x, w)
        m, size = np.shape(self.sequence)[-1], int(np.size(x))
        if size > m:
            raise ValueError(
                f"slope has {m} strengths; the leaf at '{path}' has {size} elements (shape "
                f"{np.shape(x)}): give at least one strength per element of each penalized leaf."
            )

    def __repr__(self) -> str:
        seq = self.sequence
        shown = np.asarray(seq).tolist() if not isinstance(seq, jax.core.Tracer) else repr(seq)
        args = [str(shown)] + ([] if self.mask is None else [f"mask={self.mask!r}"])
        out = f"slope({', '.join(args)})"
        return out if _is_one(self.strength) else f"{_fmt_scalar(self.strength)} * {out}"

    def _sequence(self, n: int, dtype: Any) -> jax.Array:
        return hyper(self.sequence, dtype)[:n]

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x).ravel()
        desc = -jnp.sort(-nx.abs0(z))
        return jnp.sum(desc * self._sequence(z.size, z.dtype))

    def shrink(self, z, t, scale):
        if t.ndim:  # a diagonal metric: the step of the leaf's mean metric
            t = _harmonic_mean(t, tuple(range(z.ndim)))
        flat = z.ravel()
        a = jnp.abs(flat)
        order = jnp.argsort(-a, stable=True)
        lam = jnp.ravel(t)[0] * scale * self._sequence(flat.size, z.dtype)
        shrunk = jnp.maximum(_decreasing_isotonic(a[order] - lam), 0.0)
        out = jnp.zeros_like(flat).at[order].set(shrunk) * jnp.sign(flat)
        return _nan_keeping(z, out.reshape(z.shape)), t

    def zero_strength(self, g, w):
        # the dual norm: 0 is optimal iff every partial sum of the sorted |g| is at most the
        # same partial sum of strength * sequence
        desc = -jnp.sort(-jnp.abs(g.ravel()))
        seq = self._sequence(desc.size, desc.dtype)
        return jnp.max(jnp.cumsum(desc) / jnp.cumsum(seq))


# --------------------------------------------------------------------------------------------
# Matrix kinds: the (fan_in, out) matrix of each kernel


@dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class _Matrix(Term):
    out_axis: int = static_field(default=-1)
    min_ndim: ClassVar[int] = 2
    default_mask: ClassVar[Mask | None] = kernels

    def check_leaf(self, path: str, x: Any, w: Any) -> None:
        super().check_leaf(path, x, w)
        if not -np.ndim(x) <= self.out_axis < np.ndim(x):
            raise ValueError(
                f"out_axis={self.out_axis} is out of range for the leaf at '{path}' with shape "
                f"{np.shape(x)}."
            )

    def matrix(self, x: jax.Array) -> jax.Array:
        return nx.as_matrix(x, self.out_axis)


@penalty_class
class Nuclear(_Matrix):
    r""":math:`\lambda \sum_k \sigma_k(W)`; see `jaxreg.nuclear`."""

    name: ClassVar[str] = "nuclear"

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.nuclear_norm(self.matrix(x))

    def shrink(self, z, t, scale):
        t = _harmonic_mean(t, tuple(range(t.ndim))) if t.ndim else t
        m = _prox.singular_value_threshold(self.matrix(z), t * scale)
        return nx.from_matrix(m, z.shape, self.out_axis), t

    def zero_strength(self, g, w):
        return nx.spectral_norm(self.matrix(g))  # the dual of the nuclear norm


@penalty_class
class Spectral(_Matrix):
    r""":math:`\lambda\, \sigma_{\max}(W)`; see `jaxreg.spectral`."""

    name: ClassVar[str] = "spectral"
    has_prox: ClassVar[bool] = False

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.spectral_norm(self.matrix(x))


@penalty_class
class Orthogonal(_Matrix):
    r""":math:`\lambda\,\mathrm{mean}_{i<j} |\cos(r_i, r_j)|` (Keras's); see `jaxreg.orthogonal`."""

    mode: str = static_field(default="rows")
    name: ClassVar[str] = "orthogonal"
    has_prox: ClassVar[bool] = False

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.keras_orthogonality(self.matrix(x), self.mode)


# --------------------------------------------------------------------------------------------
# Public builders: validate once, return a pytree Penalty


def _common(strength: Any, mask: Any, weights: Any = None) -> dict[str, Any]:
    check_scalar(strength, "strength")
    out = {"strength": as_leaf(strength), "mask": as_mask(mask)}
    if weights is not None:
        check_nonnegative_tree(weights, "weights")
        out["weights"] = jax.tree.map(as_leaf, weights)
    return out


def _check_axis(axis: Any) -> tuple[int, ...]:
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"axis must be an int or a non-empty tuple of ints; got axis={axis!r}.")
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis must not repeat an axis; got axis={axis!r}.")
    return axes


def _check_reshape(reshape: Any) -> tuple[int, ...] | None:
    if reshape is None:
        return None
    ok = isinstance(reshape, tuple | list) and all(
        isinstance(n, int | np.integer) and not isinstance(n, bool) and (n >= 1 or n == -1)
        for n in reshape
    )
    if not ok or len(reshape) == 0 or list(reshape).count(-1) > 1:
        raise ValueError(
            "reshape must be None or a tuple of positive ints with at most one -1, e.g. "
            f"(-1, num_heads, head_dim); got reshape={reshape!r}."
        )
    return tuple(int(n) for n in reshape)


def _check_out_axis(out_axis: Any) -> int:
    if isinstance(out_axis, bool) or not isinstance(out_axis, int):
        raise TypeError(
            f"out_axis must be an int (-1 for flax/Keras kernels, 0 for PyTorch/equinox "
            f"weights); got out_axis={out_axis!r}."
        )
    return out_axis


def l1(strength: ArrayLike, *, mask: MaskLike = None, weights: Weights = None) -> Term:
    r"""Lasso penalty :math:`\lambda \sum_i w_i |x_i|` (:math:`w_i = 1` without ``weights``).

    The derivative at ``x_i = 0`` is 0, as in TensorFlow and PyTorch.
    Equivalent settings: Keras ``L1(l1=strength)``; PyTorch ``strength * p.abs().sum()`` added to
    the loss; scikit-learn ``Lasso(alpha=strength)`` when the data term is
    :math:`\frac{1}{2n}\lVert y - Xw\rVert^2`.

    Args:
      strength: :math:`\lambda \ge 0`, a Python number or a scalar array (may be traced).
      mask: which leaves to penalize: None (every floating leaf with at least one dimension:
        0-d leaves, Python floats and scalar arrays, typed or not, are left out), a pytree of
        bools with the params' structure or a prefix of it, or a callable
        ``params -> pytree of bools`` (as in `optax.masked`); a mask that selects a floating
        0-d leaf penalizes it. See `jaxreg.masks`.
      weights: per-element weights :math:`w_i \ge 0` (adaptive / weighted lasso): a pytree with
        the params' structure or a prefix of it whose leaves broadcast to each penalized leaf;
        ``None`` entries mean 1. Value, gradient and `Penalty.prox` all use them.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.l1(0.1)({"w": jnp.array([1.0, -2.0, 0.0])})
    Array(0.3..., dtype=float32)
    >>> jr.l1(0.1, weights={"w": jnp.array([1.0, 0.0, 5.0])})({"w": jnp.array([1.0, -2.0, 0.0])})
    Array(0.1, dtype=float32)
    """
    return L1(**_common(strength, mask, weights))


def l2(strength: ArrayLike, *, mask: MaskLike = None, weights: Weights = None) -> Term:
    r"""Ridge / weight-decay penalty :math:`\frac{\lambda}{2} \sum_i w_i x_i^2`.

    Its gradient is :math:`\lambda x` (without weights): the coupled ``weight_decay=strength``
    of ``torch.optim.SGD`` / ``torch.optim.Adam``. Keras's ``L2(l2)`` has no ½: use
    ``L2(l2=strength / 2)``. scikit-learn ``Ridge(alpha)`` is ``l2(alpha / n_samples)`` with a
    :math:`\frac{1}{2n}\lVert y - Xw\rVert^2` data term (see `jaxreg.conventions`).

    Args:
      strength: :math:`\lambda \ge 0`.
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0`, as in `l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.l2(0.1)({"w": jnp.array([1.0, -2.0])})
    Array(0.25, dtype=float32)
    """
    return L2(**_common(strength, mask, weights))


def elastic_net(
    strength: ArrayLike, l1_ratio: ArrayLike, *, mask: MaskLike = None, weights: Weights = None
) -> Term:
    r"""Elastic net :math:`\lambda \sum_i w_i \left(\rho |x_i| + \frac{1-\rho}{2} x_i^2\right)`.

    This is scikit-learn's ``ElasticNet(alpha=strength, l1_ratio=l1_ratio)`` and glmnet's
    parametrization (``alpha`` there is ``l1_ratio`` here). Keras: ``L1L2(l1=strength * l1_ratio,
    l2=strength * (1 - l1_ratio) / 2)``. It is the sum of its parts
    ``l1(strength * l1_ratio) + l2(strength * (1 - l1_ratio))``.

    Args:
      strength: :math:`\lambda \ge 0`.
      l1_ratio: :math:`\rho \in [0, 1]`; 1 is `l1`, 0 is `l2` (a pytree leaf: may be traced).
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0`, as in `l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.elastic_net(1.0, 0.5)({"w": jnp.array([2.0])})
    Array(2., dtype=float32)
    """
    check_scalar(l1_ratio, "l1_ratio", high=1.0)
    return ElasticNet(**_common(strength, mask, weights), l1_ratio=as_leaf(l1_ratio))


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
    return MCP(**_common(strength, mask, weights), gamma=as_leaf(gamma))


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
    return SCAD(**_common(strength, mask, weights), gamma=as_leaf(gamma))


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
    return L0(**_common(strength, mask, weights))


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
    return Lq(**_common(strength, mask, weights), q=exact[0])


def group_lasso(
    strength: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    reshape: tuple[int, ...] | None = None,
    mask: MaskLike = None,
    weights: Weights = None,
) -> Term:
    r"""Group lasso :math:`\lambda \sum_g w_g \lVert x_g \rVert_2`.

    A group is every index of a leaf except ``axis``; the norm runs along ``axis``. With
    ``reshape``, each selected leaf is first viewed as ``leaf.reshape(reshape)`` and ``axis``
    and ``weights`` refer to that view (for layouts that fuse the group index into another
    dimension, such as equinox's attention heads). A zero group stays exactly 0.0 under
    `jaxreg.transforms.proximal`. Groups that neural networks have (pick the leaves with
    ``mask``, e.g. ``jr.masks.by_path(include="attention/out/kernel")``):

    ================================  ====================================  ================
    group                             leaf (layout)                         argument
    ================================  ====================================  ================
    input feature (row)               flax ``Dense`` kernel ``(in, out)``   ``axis=-1``
    input feature                     equinox ``Linear.weight``             ``axis=0``
                                      ``(out, in)``
    output neuron                     flax ``Dense`` kernel ``(in, out)``   ``axis=0``
    output neuron                     equinox ``Linear.weight``             ``axis=1``
                                      ``(out, in)``
    conv output channel               flax ``Conv`` kernel                  ``axis=(0, 1, 2)``
                                      ``(kh, kw, in, out)``
    conv output channel               equinox ``Conv2d.weight``             ``axis=(1, 2, 3)``
                                      ``(out, in, kh, kw)``
    attention head (its output)       flax ``MultiHeadAttention`` ``out``   ``axis=(1, 2)``
                                      kernel ``(heads, head_dim, out)``
    attention head (its query, key    flax ``query/key/value`` kernel       ``axis=(0, 2)``
    or value projection)              ``(in, heads, head_dim)``
    attention head (its output)       equinox ``MultiheadAttention``        ``reshape=(-1,
                                      ``output_proj.weight``                heads, vo_size),
                                      ``(out, heads * vo_size)``            axis=(0, 2)``
    attention head (its query, key    equinox ``query_proj.weight``         ``reshape=(heads,
    or value projection)              ``(heads * qk_size, in)``             -1), axis=1``
    ================================  ====================================  ================

    A neuron whose outgoing weights (an input-feature group of the next layer) are 0 can be
    removed from the network; one whose incoming weights are 0 still outputs the constant
    ``act(bias)``, which folds into the next layer's bias (``examples/structured_sparsity.py``
    removes neurons that way). Groups on one leaf cannot overlap: a column group and a row
    group on the same kernel have no closed-form prox and raise. A head whose output-projection
    group is 0 contributes nothing.

    The gradient of an all-zero group is 0, not NaN.

    Args:
      strength: :math:`\lambda \ge 0`.
      axis: the axis or axes the norm runs along (of the view, with ``reshape``).
      reshape: None, or the shape (one ``-1`` allowed) every selected leaf is viewed as.
      mask: as in `l1`.
      weights: one weight :math:`w_g \ge 0` per group: leaves broadcastable to the leaf's shape
        with ``axis`` removed, or to it with ``axis`` kept as 1s (``(out, 1, 1, 1)`` for an
        equinox conv with ``axis=(1, 2, 3)``); e.g. :math:`\sqrt{\text{group size}}`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.group_lasso(1.0)({"kernel": jnp.array([[3.0, 4.0], [0.0, 0.0]])})
    Array(5., dtype=float32)
    >>> w = jnp.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])  # (out, heads * vo_size)
    >>> jr.group_lasso(1.0, reshape=(-1, 2, 2), axis=(0, 2))(w)  # heads of 2: 5 + 1
    Array(6., dtype=float32)
    """
    axes = _check_axis(axis)
    return GroupLasso(
        **_common(strength, mask, weights), axis=axes, reshape=_check_reshape(reshape)
    )


def sparse_group_lasso(
    strength: ArrayLike,
    l1_ratio: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    reshape: tuple[int, ...] | None = None,
    mask: MaskLike = None,
) -> Term:
    r"""Sparse group lasso :math:`\lambda \left(\rho \sum_i |x_i| + (1 - \rho) \sum_g
    \lVert x_g \rVert_2\right)`: zeros whole groups and single weights inside the kept ones.

    Groups as in `group_lasso` (the norm runs along ``axis`` of the leaf, or of its view
    ``leaf.reshape(reshape)``; its table lists the groups of flax and equinox layers): one per
    output neuron of a flax kernel ``(in, out)`` with ``axis=0``, one per conv output channel
    with ``axis=(0, 1, 2)``, one per attention head of a flax ``MultiHeadAttention`` query
    kernel ``(features, heads, head_dim)`` with ``axis=(0, 2)``. skglm's ``WeightedL1GroupL2(alpha=
    strength, weights_groups=1 - l1_ratio, weights_features=l1_ratio)``. The prox is the group
    soft-threshold of the soft-threshold (exact). ``lambda_max`` solves, for each group,
    :math:`\lVert S(g, \lambda\rho) \rVert_2 = \lambda (1 - \rho)` by bisection.

    Args:
      strength: :math:`\lambda \ge 0`.
      l1_ratio: :math:`\rho \in [0, 1]`: 0 is `group_lasso`, 1 is `l1`.
      axis: the axis or axes the group norm runs along.
      reshape: as in `group_lasso`.
      mask: as in `l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.sparse_group_lasso(1.0, 0.5)({"w": jnp.array([[3.0, 4.0], [0.0, 0.0]])})
    Array(6., dtype=float32)
    """
    check_scalar(l1_ratio, "l1_ratio", high=1.0)
    return SparseGroupLasso(
        **_common(strength, mask),
        axis=_check_axis(axis),
        reshape=_check_reshape(reshape),
        l1_ratio=as_leaf(l1_ratio),
    )


def slope(strengths: Strengths, *, mask: MaskLike = None) -> Term:
    r"""Sorted L1 (SLOPE, Bogdan et al. 2015) :math:`\sum_i \lambda_i |x|_{(i)}`: the largest
    magnitude gets the largest strength.

    ``strengths`` is non-increasing, e.g. the Benjamini-Hochberg sequence
    :math:`\lambda_i = \sigma\,\Phi^{-1}(1 - iq/2p)`; each penalized leaf, flattened, takes its
    first ``leaf.size`` strengths (so give at least as many as the largest leaf has elements;
    SLOPE is usually used on one coefficient vector). skglm's ``SLOPE(alphas=strengths)``.
    The prox sorts, subtracts the strengths and projects onto non-increasing sequences by
    pool-adjacent-violators (exact; a sequential `lax` loop, so slow on long leaves); with
    per-element steps it uses the leaf's mean metric. ``c * slope(s)`` is ``slope(c * s)``.

    Args:
      strengths: a 1-D array, non-increasing and non-negative.
      mask: as in `l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.slope(jnp.array([1.0, 0.5]))({"w": jnp.array([-1.0, 3.0])})  # 3 * 1 + 1 * 0.5
    Array(3.5, dtype=float32)
    """
    seq = np.asarray(strengths) if not isinstance(strengths, jax.Array) else strengths
    if np.ndim(seq) != 1 or np.shape(seq)[0] == 0:
        raise ValueError(f"strengths must be a non-empty 1-D array; got shape {np.shape(seq)}.")
    if not isinstance(seq, jax.core.Tracer):
        v = np.asarray(seq, np.float64)
        if not (np.all(np.isfinite(v)) and np.all(v >= 0) and np.all(np.diff(v) <= 0)):
            raise ValueError(
                "strengths must be finite, non-negative and non-increasing; got "
                f"{np.array2string(v, threshold=8)}."
            )
    return Slope(strength=as_leaf(1.0), mask=as_mask(mask), sequence=as_leaf(seq))


def nuclear(strength: ArrayLike, *, out_axis: int = -1, mask: MaskLike = None) -> Term:
    r"""Nuclear (trace) norm :math:`\lambda \sum_k \sigma_k(W)` of each kernel's matrix.

    The matrix of a leaf is ``(fan_in, out)``: ``out_axis`` is the output axis and every other
    axis is folded into fan_in, so a flax/Keras conv kernel ``(kh, kw, in, out)`` with
    ``out_axis=-1`` (the default) and an equinox/PyTorch weight ``(out, in, kh, kw)`` with
    ``out_axis=0`` give the same matrix. With ``mask=None`` the leaves are those of
    `jaxreg.masks.kernels` (never biases, scales or embeddings); an explicit mask that selects a
    leaf with fewer than 2 dimensions raises. The gradient is :math:`U V^\top` over the non-zero
    singular values (0 at the zero matrix); the prox thresholds singular values. No
    Keras/PyTorch built-in equivalent.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.nuclear(1.0)({"kernel": jnp.diag(jnp.array([3.0, -1.0])), "bias": jnp.ones(2)})
    Array(4., dtype=float32)
    """
    return Nuclear(**_common(strength, mask), out_axis=_check_out_axis(out_axis))


def spectral(strength: ArrayLike, *, out_axis: int = -1, mask: MaskLike = None) -> Term:
    r"""Spectral norm :math:`\lambda\, \sigma_{\max}(W)` of each kernel's matrix.

    Matrix, ``out_axis`` and mask as in `nuclear`. The gradient is :math:`u_1 v_1^\top` (0 at
    the zero matrix). No closed-form prox.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.spectral(1.0)({"kernel": jnp.diag(jnp.array([3.0, -1.0]))})
    Array(3., dtype=float32)
    """
    return Spectral(**_common(strength, mask), out_axis=_check_out_axis(out_axis))


def orthogonal(
    strength: ArrayLike,
    *,
    mode: Literal["rows", "columns"] = "rows",
    out_axis: int = -1,
    mask: MaskLike = None,
) -> Term:
    r"""Keras's orthogonality penalty, :math:`\lambda` times the mean pairwise :math:`|\cos|`.

    :math:`\lambda\, \mathrm{mean}_{i<j} |\hat r_i \cdot \hat r_j|` where :math:`\hat r_i` are
    the L2-normalized rows (``mode="rows"``) or columns (``"columns"``) of each kernel's
    ``(fan_in, out)`` matrix (Keras's Dense layout; see `nuclear` for ``out_axis``): "columns"
    makes the output units' weight vectors orthogonal, "rows" the fan-in vectors. Normalized as
    `keras.ops.normalize` does (``epsilon=1e-7``). Same value as
    ``keras.regularizers.OrthogonalRegularizer(factor=strength, mode=mode)`` on a Dense kernel,
    except that a single-row (column) matrix gives 0 where Keras gives NaN. No closed-form prox.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.orthogonal(1.0)({"kernel": jnp.array([[1.0, 0.0], [1.0, 1.0]])})
    Array(0.707..., dtype=float32)
    """
    if mode not in ("rows", "columns"):
        raise ValueError(f"mode must be 'rows' or 'columns'; got mode={mode!r}.")
    return Orthogonal(**_common(strength, mask), mode=mode, out_axis=_check_out_axis(out_axis))
