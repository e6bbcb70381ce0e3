"""Group kinds: group lasso and sparse group lasso, norms along an axis of each leaf."""

from __future__ import annotations

import math
from types import EllipsisType
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
    check_axes_in_range,
    check_axis,
    check_reshape,
    check_scalar,
    term_fields,
)
from .._typing import Center, MaskLike, Weights


@penalty_class
class GroupLasso(Term):
    r""":math:`\lambda \sum_g w_g \lVert x_g - c_g \rVert_2` along ``axis``; see
    `jaxreg.group_lasso`."""

    axis: tuple[int, ...] = static_field(default=(-1,))
    weights: Weights = None
    reshape: tuple[int | EllipsisType, ...] | None = static_field(default=None)
    center: Center = None  # in the leaf's shape (before reshape); the core shifts by it
    name: ClassVar[str] = "group_lasso"
    min_ndim: ClassVar[int] = 1
    smooth_on: ClassVar[str | None] = "nonzeros"

    def _view(self, x: jax.Array) -> jax.Array:
        """The leaf as the groups see it: ``x.reshape(reshape)`` (e.g. heads split out)."""
        return x if self.reshape is None else jnp.reshape(x, self._view_shape(x.shape))

    def _view_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.reshape is None:
            return shape
        if self.reshape[0] is Ellipsis:
            return self._trailing_view_shape(shape)
        dims = tuple(n for n in self.reshape if isinstance(n, int))
        size, known = math.prod(shape), math.prod(n for n in dims if n != -1)
        if -1 in dims and known and size % known == 0:
            return tuple(size // known if n == -1 else n for n in dims)
        if -1 not in dims and known == size:
            return dims
        raise ValueError(
            f"reshape={self.reshape} cannot view a leaf of shape {shape} ({size} elements)."
        )

    def _trailing_view_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(..., d1, ..., dk)``: the last ``m`` axes viewed as ``(d1, ..., dk)``, the leading
        ones kept, for the one ``m >= 1`` whose axes hold ``d1 * ... * dk`` elements."""
        dims = tuple(n for n in self.reshape or () if isinstance(n, int))
        fits = [m for m in range(1, len(shape) + 1) if math.prod(shape[-m:]) == math.prod(dims)]
        if len(fits) != 1:
            why = "no" if not fits else f"more than one ({fits})"
            raise ValueError(
                f"reshape={self.reshape} views the trailing axes holding {math.prod(dims)} "
                f"elements; a leaf of shape {shape} has {why} such run of trailing axes."
            )
        return shape[: -fits[0]] + dims

    def weight_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        axes = nx.sorted_axes(self.axis, len(shape))
        return tuple(n for i, n in enumerate(shape) if i not in axes)

    def _keepdims_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        axes = nx.sorted_axes(self.axis, len(shape))
        return tuple(1 if i in axes else n for i, n in enumerate(shape))

    def check_leaf(self, path: str, x: Any, w: Any) -> None:
        if self.reshape is not None and np.ndim(x) >= 1:
            try:
                view = self._view_shape(np.shape(x))
            except ValueError as e:
                raise ValueError(f"{e} The leaf is at '{path}'.") from None
            x = np.broadcast_to(np.zeros((), bool), view)  # the view's shape, no memory
        ndim = np.ndim(x)
        if ndim >= 1:
            after = "" if self.reshape is None else " (after reshape)"
            hint = (
                f"{after}. Select the leaves that have that axis with `mask` (e.g. "
                "mask=jaxreg.masks.kernels)"
            )
            check_axes_in_range(self.axis, path, x, hint)
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
            return jnp.squeeze(jnp.broadcast_to(w, keep), nx.sorted_axes(self.axis, len(shape)))
        return jnp.broadcast_to(w, self.weight_shape(shape))

    def _keepdims_weight(self, w: Any, shape: tuple[int, ...]) -> jax.Array:
        return jnp.expand_dims(self._group_weight(w, shape), nx.sorted_axes(self.axis, len(shape)))

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        x = self._view(x)
        norms = nx.group_norms(x, self.axis)
        if w is None:
            return jnp.sum(norms)
        return jnp.sum(norms * nx.weight_or_one(self._group_weight(w, x.shape), norms.dtype))

    def prox_leaf(self, z, t, strength):
        shape, z = z.shape, self._view(z)
        axes = nx.sorted_axes(self.axis, z.ndim)
        if t.ndim:  # a diagonal metric lr / D: the step of the group's mean metric
            t = kernels_prox.harmonic_mean(self._view(t), axes)
        if jnp.ndim(strength):  # one weight per group: back to keepdims form
            strength = self._keepdims_weight(strength, z.shape)
        return kernels_prox.block_soft_threshold(z, t * strength, axes).reshape(shape)

    def prox_step(self, t):
        if not t.ndim:
            return t
        view = self._view(t)
        mean = kernels_prox.harmonic_mean(view, nx.sorted_axes(self.axis, view.ndim))
        return mean if self.reshape is None else jnp.broadcast_to(mean, view.shape).reshape(t.shape)

    def dual_norm(self, g, w):
        g = self._view(g)
        norms = jnp.sqrt(jnp.sum(g * g, axis=self.axis))
        return jnp.max(
            nx.ratio_or_inf(norms, None if w is None else self._group_weight(w, g.shape))
        )

    def l1_l2_split(self):
        return self.strength, 0.0

    def coefficient_block_size(self, p: int) -> int:
        """The group size ``B`` of ``reshape=(-1, B), axis=-1``: consecutive features, celer's /
        skglm's contiguous groups. ``(..., B)`` views trailing axes, not ``(-1, B)``."""
        r = self.reshape
        if r is None or len(r) != 2 or r[0] is Ellipsis:
            return super().coefficient_block_size(p)  # one group of every feature: raises
        if self.axis not in ((-1,), (1,)) or r[-1] == -1 or not isinstance(r[-1], int):
            raise NotImplementedError(
                f"jr.linear takes group penalties on consecutive features: "
                f"reshape=(-1, group_size), axis=-1; got {self!r}."
            )
        return r[-1]


def group_lasso(
    strength: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    reshape: tuple[int | EllipsisType, ...] | None = None,
    mask: MaskLike = None,
    weights: Weights = None,
    center: Center = None,
) -> Term:
    r"""Group lasso :math:`\lambda \sum_g w_g \lVert x_g - c_g \rVert_2` (:math:`c = 0`
    without ``center``).

    A group is every index of a leaf except ``axis``; the norm runs along ``axis``. With
    ``reshape``, each selected leaf is first viewed as ``leaf.reshape(reshape)`` and ``axis``
    and ``weights`` refer to that view (for layouts that fuse the group index into another
    dimension, such as equinox's attention heads). A zero group stays exactly 0.0 under
    `jaxreg.transforms.proximal`. Groups that neural networks have (pick the leaves with
    ``mask``, e.g. ``jr.masks.by_path(include="attention/out/kernel")``); the axes are negative,
    so the same term serves a single layer and layers stacked on a leading axis (``nnx.vmap``,
    ``nnx.scan``, ``nn.scan``, ``eqx.filter_vmap``: a kernel ``(L, in, out)``), each layer's
    groups then being separate, **except the two** ``reshape`` **rows, which are for one layer
    (a stack needs** ``L`` **in the view: below the table)**:

    ================================  ====================================  ==================
    group                             leaf (layout)                         argument
    ================================  ====================================  ==================
    input feature (row)               flax ``Dense`` kernel ``(in, out)``   ``axis=-1``
    input feature                     equinox ``Linear.weight``             ``axis=-2``
                                      ``(out, in)``
    output neuron                     flax ``Dense`` kernel ``(in, out)``   ``axis=-2``
    output neuron                     equinox ``Linear.weight``             ``axis=-1``
                                      ``(out, in)``
    conv output channel               flax ``Conv`` kernel                  ``axis=(-4, -3,
                                      ``(kh, kw, in, out)``                 -2)``
    conv output channel               equinox ``Conv2d.weight``             ``axis=(-3, -2,
                                      ``(out, in, kh, kw)``                 -1)``
    attention head (its output)       flax ``MultiHeadAttention`` ``out``   ``axis=(-2, -1)``
                                      kernel ``(heads, head_dim, out)``
    attention head (its query, key    flax ``query/key/value`` kernel       ``axis=(-3, -1)``
    or value projection)              ``(in, heads, head_dim)``
    attention head (its output)       equinox ``MultiheadAttention``        ``reshape=(-1,
                                      ``output_proj.weight``                heads, vo_size),
                                      ``(out, heads * vo_size)``            axis=(-3, -1)``
    attention head (its query, key    equinox ``query_proj.weight``         ``reshape=(heads,
    or value projection)              ``(heads * qk_size, in)``             -1), axis=-1``
    ================================  ====================================  ==================

    **The** ``reshape`` **rows are for one layer.** ``reshape`` views the whole leaf: on
    ``L`` stacked equinox attention layers ``(L, out, heads * vo_size)`` the single-layer row
    folds the layers into its ``-1``, so each head's group holds that head of every layer (a
    wrong value, no error). For a stack put the layer axis in the view,
    ``reshape=(L, -1, heads, vo_size)`` and ``reshape=(L, heads, -1)`` (the same ``axis``), or
    start the view with ``...``: ``reshape=(..., d1, ..., dk)`` views only the leaf's last
    ``m`` axes, the one run of trailing axes holding :math:`d_1 \cdots d_k` elements (it
    raises if none or several do), and keeps the leading ones. ``reshape=(..., heads,
    vo_size), axis=(-3, -1)`` on ``output_proj.weight`` and ``reshape=(..., heads, qk_size,
    in), axis=(-2, -1)`` on ``query_proj.weight`` give one group per head on a single layer and
    per layer and head on a stack.

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
      reshape: None, the shape (one ``-1`` allowed) every selected leaf is viewed as, or
        ``(..., d1, ..., dk)``: the view of the trailing axes, the leading ones kept.
      mask: as in `l1`.
      weights: one weight :math:`w_g \ge 0` per group: leaves broadcastable to the leaf's shape
        with ``axis`` removed, or to it with ``axis`` kept as 1s (``(out, 1, 1, 1)`` for an
        equinox conv with ``axis=(1, 2, 3)``); e.g. :math:`\sqrt{\text{group size}}`.
      center: the reference point :math:`c`, as in `l1`, in the leaf's shape (not the view's):
        the groups of :math:`x - c` are shrunk, and a group that reaches 0 sits exactly at
        :math:`c_g` (block soft-thresholding of :math:`x - c`, then :math:`+ c`).

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.group_lasso(1.0)({"kernel": jnp.array([[3.0, 4.0], [0.0, 0.0]])})
    Array(5., dtype=float32)
    >>> c = {"kernel": jnp.array([[0.0, 0.0], [3.0, 4.0]])}
    >>> jr.group_lasso(1.0, center=c)({"kernel": jnp.array([[3.0, 4.0], [0.0, 0.0]])})
    Array(10., dtype=float32)
    >>> w = jnp.array([[3.0, 4.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])  # (out, heads * vo_size)
    >>> jr.group_lasso(1.0, reshape=(-1, 2, 2), axis=(0, 2))(w)  # heads of 2: 5 + 1
    Array(6., dtype=float32)
    """
    axes = check_axis(axis)
    return GroupLasso(
        **term_fields(strength, mask, weights, center), axis=axes, reshape=check_reshape(reshape)
    )


@penalty_class
class SparseGroupLasso(GroupLasso):
    r""":math:`\lambda (\rho \sum_i |x_i| + (1 - \rho) \sum_g \lVert x_g \rVert_2)` along
    ``axis``; see `jaxreg.sparse_group_lasso`."""

    l1_ratio: Any = None
    name: ClassVar[str] = "sparse_group_lasso"

    def l1_l2_split(self):
        return None  # an l1 inside each group: not a norm of whole groups

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        r = nx.checked_hyperparameter(self.l1_ratio, nx.acc_dtype(x.dtype), high=1.0)
        return r * nx.sum_abs(x, None) + (1 - r) * super().unscaled_value(x, None)

    def prox_leaf(self, z, t, strength):
        # the prox of the sum is the group prox of the soft-threshold (Friedman et al. 2010)
        r = nx.checked_hyperparameter(self.l1_ratio, z.dtype, high=1.0)
        z = kernels_prox.soft_threshold(z, t * strength * r)
        return super().prox_leaf(z, t, strength * (1 - r))

    def dual_norm(self, g, w):
        # 0 is optimal iff || soft_threshold(g_group, lam rho) || <= lam (1 - rho) for every
        # group: the smallest such lam, by bisection on each group's decreasing gap
        g = self._view(g)
        r = jnp.asarray(self.l1_ratio, g.dtype)
        axes = nx.sorted_axes(self.axis, g.ndim)
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


def sparse_group_lasso(
    strength: ArrayLike,
    l1_ratio: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    reshape: tuple[int | EllipsisType, ...] | None = None,
    mask: MaskLike = None,
) -> Term:
    r"""Sparse group lasso :math:`\lambda \left(\rho \sum_i |x_i| + (1 - \rho) \sum_g
    \lVert x_g \rVert_2\right)`: zeros whole groups and single weights inside the kept ones.

    Groups as in `group_lasso` (the norm runs along ``axis`` of the leaf, or of its view
    ``leaf.reshape(reshape)``; its table lists the groups of flax and equinox layers): one per
    output neuron of a flax kernel ``(in, out)`` with ``axis=-2``, one per conv output channel
    with ``axis=(-4, -3, -2)``, one per attention head of a flax ``MultiHeadAttention`` query
    kernel ``(features, heads, head_dim)`` with ``axis=(-3, -1)`` (negative axes also serve
    layers stacked on a leading axis). skglm's ``WeightedL1GroupL2(alpha=
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
        **term_fields(strength, mask),
        axis=check_axis(axis),
        reshape=check_reshape(reshape),
        l1_ratio=as_leaf(l1_ratio),
    )
