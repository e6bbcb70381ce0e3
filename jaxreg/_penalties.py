"""The penalty kinds, one class each, and their builders.

Everything about a kind lives in its class: the formula (docstring), its value on one leaf
(`raw`), its proximal map (`shrink`, or `parts` for elastic net), the dual norm that
`jaxreg.select.lambda_max` needs (`zero_strength`), its minimum ndim and default mask, and the
`parts` the converters read. Adding a kind is one class and one builder here (plus its
re-export in ``__init__.py`` and its tests); nothing else names kinds.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from . import _numerics as nx
from . import _prox
from ._masks import Mask, as_mask, kernels
from ._penalty import (
    Penalty,
    Term,
    as_leaf,
    check_nonnegative_tree,
    check_scalar,
    hyper,
    penalty_class,
    static_field,
)

Weights = Any  # a pytree of non-negative arrays (params' structure or a prefix), or None


def _weight(w: Any, dtype: Any) -> Any:
    return 1.0 if w is None else hyper(w, dtype)


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
# Group lasso


@penalty_class
class GroupLasso(Term):
    r""":math:`\lambda \sum_g w_g \lVert x_g \rVert_2` along ``axis``; see `jaxreg.group_lasso`."""

    axis: tuple[int, ...] = static_field(default=(-1,))
    weights: Weights = None
    name: ClassVar[str] = "group_lasso"
    min_ndim: ClassVar[int] = 1

    def weight_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        axes = _axes(self.axis, len(shape))
        return tuple(n for i, n in enumerate(shape) if i not in axes)

    def _keepdims_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        axes = _axes(self.axis, len(shape))
        return tuple(1 if i in axes else n for i, n in enumerate(shape))

    def check_leaf(self, path: str, x: Any, w: Any) -> None:
        ndim = np.ndim(x)
        if ndim >= 1 and not all(-ndim <= a < ndim for a in self.axis):
            raise ValueError(
                f"axis={self.axis if len(self.axis) > 1 else self.axis[0]} is out of range for "
                f"the leaf at '{path}' with shape {np.shape(x)}."
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
        norms = nx.group_norms(x, self.axis)
        if w is None:
            return jnp.sum(norms)
        return jnp.sum(norms * _weight(self._group_weight(w, x.shape), norms.dtype))

    def shrink(self, z, t, scale):
        axes = _axes(self.axis, z.ndim)
        if t.ndim:  # a diagonal metric lr / D: the step of the group's mean metric
            t = _harmonic_mean(t, axes)
        if jnp.ndim(scale):  # one weight per group: back to keepdims form
            scale = self._keepdims_weight(scale, z.shape)
        return _prox.block_soft_threshold(z, t * scale, axes), t

    def zero_strength(self, g, w):
        norms = jnp.sqrt(jnp.sum(g * g, axis=self.axis))
        return jnp.max(_ratio_or_inf(norms, None if w is None else self._group_weight(w, g.shape)))


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


def _check_out_axis(out_axis: Any) -> int:
    if isinstance(out_axis, bool) or not isinstance(out_axis, int):
        raise TypeError(
            f"out_axis must be an int (-1 for flax/Keras kernels, 0 for PyTorch/equinox "
            f"weights); got out_axis={out_axis!r}."
        )
    return out_axis


def l1(strength: Any, *, mask: Any = None, weights: Weights = None) -> Penalty:
    r"""Lasso penalty :math:`\lambda \sum_i w_i |x_i|` (:math:`w_i = 1` without ``weights``).

    The derivative at ``x_i = 0`` is 0, as in TensorFlow and PyTorch.
    Equivalent settings: Keras ``L1(l1=strength)``; PyTorch ``strength * p.abs().sum()`` added to
    the loss; scikit-learn ``Lasso(alpha=strength)`` when the data term is
    :math:`\frac{1}{2n}\lVert y - Xw\rVert^2`.

    Args:
      strength: :math:`\lambda \ge 0`, a Python number or a scalar array (may be traced).
      mask: which leaves to penalize: None (every floating leaf), a pytree of bools with the
        params' structure or a prefix of it, or a callable ``params -> pytree of bools`` (as in
        `optax.masked`); see `jaxreg.masks`.
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


def l2(strength: Any, *, mask: Any = None, weights: Weights = None) -> Penalty:
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
    strength: Any, l1_ratio: Any, *, mask: Any = None, weights: Weights = None
) -> Penalty:
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


def group_lasso(
    strength: Any,
    *,
    axis: int | tuple[int, ...] = -1,
    mask: Any = None,
    weights: Weights = None,
) -> Penalty:
    r"""Group lasso :math:`\lambda \sum_g w_g \lVert x_g \rVert_2`.

    A group is every index of a leaf except ``axis``; the norm runs along ``axis``. Groups that
    neural networks have:

    - one group per input feature (a zero group removes the feature): flax/Keras kernel
      ``(in, out)``, ``axis=-1`` (default); PyTorch/equinox ``Linear.weight`` ``(out, in)``,
      ``axis=0``;
    - one group per output neuron / conv output channel (structured pruning): flax kernel
      ``(..., out)``, ``axis=tuple(range(ndim - 1))``, e.g. ``axis=(0, 1, 2)`` for a conv;
      equinox ``Conv2d.weight`` ``(out, in, kh, kw)``, ``axis=(1, 2, 3)``.

    The gradient of an all-zero group is 0, not NaN.

    Args:
      strength: :math:`\lambda \ge 0`.
      axis: the axis or axes the norm runs along.
      mask: as in `l1`.
      weights: one weight :math:`w_g \ge 0` per group: leaves broadcastable to the leaf's shape
        with ``axis`` removed, or to it with ``axis`` kept as 1s (``(out, 1, 1, 1)`` for an
        equinox conv with ``axis=(1, 2, 3)``); e.g. :math:`\sqrt{\text{group size}}`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.group_lasso(1.0)({"kernel": jnp.array([[3.0, 4.0], [0.0, 0.0]])})
    Array(5., dtype=float32)
    """
    axes = _check_axis(axis)
    return GroupLasso(**_common(strength, mask, weights), axis=axes)


def nuclear(strength: Any, *, out_axis: int = -1, mask: Any = None) -> Penalty:
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


def spectral(strength: Any, *, out_axis: int = -1, mask: Any = None) -> Penalty:
    r"""Spectral norm :math:`\lambda\, \sigma_{\max}(W)` of each kernel's matrix.

    Matrix, ``out_axis`` and mask as in `nuclear`. The gradient is :math:`u_1 v_1^\top` (0 at
    the zero matrix). No closed-form prox.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.spectral(1.0)({"kernel": jnp.diag(jnp.array([3.0, -1.0]))})
    Array(3., dtype=float32)
    """
    return Spectral(**_common(strength, mask), out_axis=_check_out_axis(out_axis))


def orthogonal(
    strength: Any, *, mode: str = "rows", out_axis: int = -1, mask: Any = None
) -> Penalty:
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
