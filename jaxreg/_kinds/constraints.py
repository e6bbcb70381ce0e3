"""Constraints as penalties: the indicator of a set (0 inside, +inf outside), whose proximal map
is the projection onto the set. One class per kind and its builder.

A constraint is a `Penalty` like the others: a pytree (its bounds are leaves), masked, summed
with penalties, used through `Penalty.prox` in `jaxreg.transforms.proximal` (projected
gradient: the constraint holds after every step) or `jaxreg.solve`. Its strength is always 1
and a positive multiple of a constraint is the same constraint.
"""

from __future__ import annotations

import dataclasses
import math
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
    as_axis,
    as_leaf,
    check_axes_in_range,
    check_axis,
    check_scalar,
    term_fields,
)
from .._typing import MaskLike


class Constraint(Term):
    """The indicator of a set: `unscaled_value` is 0 inside and +inf outside (NaN propagates),
    `prox_leaf` the projection (the step does not matter, except through the metric for
    `top_k` / `n_m`)."""

    linear_in_strength: ClassVar[bool] = False
    positively_homogeneous: ClassVar[bool] = False

    def inside(self, x: jax.Array) -> jax.Array:
        """Whether ``x`` lies in the set: a bool array (elementwise, or one per group)."""
        raise NotImplementedError

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        """The indicator on one leaf: 0 inside the set, +inf outside, NaN if ``x`` has a NaN."""
        z = nx.upcast(x)
        value = jnp.where(jnp.all(self.inside(z)), 0.0, jnp.inf).astype(z.dtype)
        return jnp.where(jnp.any(jnp.isnan(z)), jnp.nan, value)

    def scaled(self, factor: Any) -> Term:
        """``factor * indicator`` is the indicator itself for ``factor > 0``; others raise."""
        if not isinstance(factor, jax.core.Tracer) and not factor > 0:
            raise ValueError(
                f"a constraint can only be scaled by a positive factor; got {factor!r}."
            )
        return self  # c * indicator = indicator for c > 0

    def __repr__(self) -> str:
        args = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.name not in ("strength", "mask")
        ]
        if self.mask is not None:
            args.append(f"mask={self.mask!r}")
        return f"{self.name}({', '.join(args)})"


@penalty_class
class NonNegative(Constraint):
    r""":math:`x_i \ge 0` for every element; see `jaxreg.constraints.non_negative`."""

    name: ClassVar[str] = "non_negative"
    elementwise: ClassVar[bool] = True
    orthant_projection: ClassVar[bool] = True

    def inside(self, x):
        return x >= 0

    def prox_leaf(self, z, t, strength):
        return kernels_prox.keep_nan(z, jnp.maximum(z, 0.0))


def non_negative(*, mask: MaskLike = None) -> Constraint:
    r"""The constraint :math:`x \ge 0` (Keras's ``NonNeg``): projection ``max(x, 0)``.

    It may share leaves with ``l1``, ``l2`` and ``elastic_net`` (scikit-learn's
    ``positive=True``): the prox of the sum is ``max(prox of the norms, 0)``, exact because
    they are even and nondecreasing in :math:`|x|`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.constraints.non_negative().prox({"w": jnp.array([1.0, -2.0])}, 0.1)
    {'w': Array([1., 0.], dtype=float32)}
    """
    return NonNegative(**term_fields(1.0, mask))


@penalty_class
class Box(Constraint):
    r""":math:`lo \le x_i \le hi` for every element; see `jaxreg.constraints.box`."""

    lo: Any
    hi: Any
    name: ClassVar[str] = "box"
    elementwise: ClassVar[bool] = True

    def _bounds(self, dtype) -> tuple[jax.Array, jax.Array]:
        """lo and hi, both NaN when lo > hi (traced bounds cannot be checked by the builder)."""
        lo, hi = jnp.asarray(self.lo, dtype), jnp.asarray(self.hi, dtype)
        ok = lo <= hi
        return jnp.where(ok, lo, jnp.nan), jnp.where(ok, hi, jnp.nan)

    def inside(self, x):
        # optax.apply_updates lands on p + (clip(p) - p), which may round an ulp past a bound
        lo, hi = self._bounds(x.dtype)
        slack = 4 * jnp.finfo(x.dtype).eps * jnp.maximum(jnp.abs(lo), jnp.abs(hi))
        slack = jnp.where(jnp.isfinite(slack), slack, 0.0)
        return (x >= lo - slack) & (x <= hi + slack)

    def unscaled_value(self, x, w):
        lo, _ = self._bounds(nx.upcast(x).dtype)
        return jnp.where(jnp.isnan(lo), jnp.nan, super().unscaled_value(x, w))

    def prox_leaf(self, z, t, strength):
        lo, hi = self._bounds(z.dtype)
        out = jnp.where(jnp.isnan(lo), jnp.nan, jnp.clip(z, lo, hi))
        return kernels_prox.keep_nan(z, out)


def box(lo: ArrayLike, hi: ArrayLike, *, mask: MaskLike = None) -> Constraint:
    r"""The constraint :math:`lo \le x \le hi` elementwise: projection ``clip(x, lo, hi)``.

    skglm's ``IndicatorBox(alpha)`` is ``box(0, alpha)``.

    Args:
      lo, hi: the bounds, scalars with ``lo <= hi`` (``-inf`` / ``inf`` allowed).
      mask: as in `jaxreg.l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.constraints.box(-1.0, 1.0)({"w": jnp.array([0.5, 2.0])})
    Array(inf, dtype=float32)
    """
    for v, name in ((lo, "lo"), (hi, "hi")):  # finite, or an infinite bound
        infinite = not isinstance(v, jax.core.Tracer) and np.ndim(v) == 0 and np.isinf(v)
        check_scalar(0.0 if infinite else v, name, low=-math.inf)
    concrete = not isinstance(lo, jax.core.Tracer) and not isinstance(hi, jax.core.Tracer)
    if concrete and not float(np.asarray(lo)) <= float(np.asarray(hi)):
        raise ValueError(f"box needs lo <= hi; got lo={lo!r}, hi={hi!r}.")
    return Box(**term_fields(1.0, mask), lo=as_leaf(lo), hi=as_leaf(hi))


@penalty_class
class L2Ball(Constraint):
    r""":math:`\lVert x_g \rVert_2 \le r` for every group along ``axis``; see
    `jaxreg.constraints.l2_ball`."""

    radius: Any
    axis: tuple[int, ...] = static_field(default=(0,))
    name: ClassVar[str] = "l2_ball"
    min_ndim: ClassVar[int] = 1

    def check_leaf(self, path, x, w):
        super().check_leaf(path, x, w)
        check_axes_in_range(self.axis, path, x)

    def inside(self, x):
        norms = jnp.sqrt(jnp.sum(x * x, axis=nx.sorted_axes(self.axis, x.ndim)))
        # a projected group's norm is the radius up to rounding: allow a few ulps
        slack = 1 + 8 * jnp.finfo(x.dtype).eps
        return norms <= jnp.asarray(self.radius, x.dtype) * slack

    def prox_leaf(self, z, t, strength):
        # Euclidean projection whatever the metric (a diagonal metric has no closed form)
        axes = nx.sorted_axes(self.axis, z.ndim)
        norms = jnp.sqrt(jnp.sum(z * z, axis=axes, keepdims=True))
        r = jnp.asarray(self.radius, z.dtype)
        factor = jnp.where(norms > r, r / jnp.where(norms > r, norms, 1.0), 1.0)
        return z * factor


def l2_ball(
    radius: ArrayLike, *, axis: int | tuple[int, ...] = 0, mask: MaskLike = None
) -> Constraint:
    r"""Max-norm: :math:`\lVert x_g \rVert_2 \le r` for each group, the norm along ``axis``.

    Keras's ``MaxNorm(max_value=radius, axis=axis)``: ``axis=0`` on a Dense kernel
    ``(in, out)`` bounds each output neuron's incoming weights (Keras's default; the same for
    flax kernels); a conv kernel ``(h, w, in, out)`` takes ``axis=(0, 1, 2)``; a PyTorch or
    equinox ``Linear.weight`` ``(out, in)`` takes ``axis=1``. For layers stacked on a leading
    axis (``nnx.vmap``, ``nn.scan``, ``eqx.filter_vmap``: ``(L, in, out)``) give the axes
    negative, ``axis=-2`` (flax), ``axis=(-4, -3, -2)`` (flax conv), ``axis=-1`` (equinox),
    which also serve a single layer: the default ``axis=0`` would run along the layers. The
    projection rescales each group to norm ``min(norm, r)`` (Euclidean, also under a
    diagonal metric).

    Args:
      radius: :math:`r \ge 0`.
      axis: the axis or axes the norm runs along.
      mask: as in `jaxreg.l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.constraints.l2_ball(1.0).prox({"w": jnp.array([[3.0, 0.5], [4.0, 0.0]])}, 0.1)
    {'w': Array([[0.6, 0.5],
           [0.8, 0. ]], dtype=float32)}
    """
    check_scalar(radius, "radius")
    return L2Ball(**term_fields(1.0, mask), radius=as_leaf(radius), axis=check_axis(axis))


def _keep_largest(z: jax.Array, score: jax.Array, k: int) -> jax.Array:
    """Zero all but the ``k`` largest ``score`` entries along the last axis (ties: the first)."""
    m = z.shape[-1]
    if m <= 16:  # small blocks (n_m): ranks by pairwise comparisons, one fused elementwise pass
        si = score[..., :, None]
        sj = score[..., None, :]
        earlier = jnp.arange(m)[None, :] < jnp.arange(m)[:, None]
        ranks = jnp.sum((sj > si) | ((sj == si) & earlier), axis=-1)
        keep = ranks < k
    elif k >= m:
        keep = jnp.ones(z.shape, bool)
    else:  # the k-th largest score (a partial sort), then the first ties up to k
        kth = jax.lax.top_k(score, k)[0][..., -1:]
        greater = score > kth
        need = k - jnp.sum(greater, axis=-1, keepdims=True)
        tie = score == kth
        keep = greater | (tie & (jnp.cumsum(tie, axis=-1) <= need))
    return kernels_prox.keep_nan(z, jnp.where(keep, z, 0.0))


def _metric_score(z: jax.Array, t: jax.Array) -> jax.Array:
    """Which entries to keep in the metric ``D = 1 / t``: the largest ``z^2 / t``. Steps are
    taken relative to the largest one, so a uniform step (0 included: a schedule's first
    step) is the Euclidean projection, and an entry whose own step is 0 (infinite cost to
    move) is kept."""
    t = jnp.broadcast_to(t, z.shape)
    top = jnp.max(t)
    rel = jnp.where(top > 0, t / jnp.where(top > 0, top, 1.0), 1.0)
    return jnp.where(rel > 0, z * z / jnp.where(rel > 0, rel, 1.0), jnp.inf)


@penalty_class
class TopK(Constraint):
    r"""At most ``k`` non-zeros per slice along ``axis`` (the whole leaf when None); see
    `jaxreg.constraints.top_k`."""

    k: int = static_field()
    axis: tuple[int, ...] | None = static_field(default=None)
    name: ClassVar[str] = "top_k"

    def _slices(self, x: jax.Array) -> tuple[jax.Array, Any]:
        """``x`` with the constrained axes flattened last, and how to undo it."""
        if self.axis is None:
            return x.reshape(1, -1), lambda y: y.reshape(x.shape)
        axes = nx.sorted_axes(self.axis, x.ndim)
        rest = [a for a in range(x.ndim) if a not in axes]
        moved = jnp.transpose(x, rest + list(axes))
        flat = moved.reshape(*moved.shape[: len(rest)], -1)
        inverse = tuple(int(i) for i in np.argsort(rest + list(axes)))
        return flat, lambda y: jnp.transpose(y.reshape(moved.shape), inverse)

    def check_leaf(self, path, x, w):
        super().check_leaf(path, x, w)
        if self.axis is not None:
            check_axes_in_range(self.axis, path, x)

    def inside(self, x):
        flat, _ = self._slices(x)
        return jnp.sum(flat != 0, axis=-1) <= self.k

    def prox_leaf(self, z, t, strength):
        flat, back = self._slices(z)
        score, _ = self._slices(_metric_score(z, t))
        return back(_keep_largest(flat, score, self.k))


def top_k(
    k: int, *, axis: int | tuple[int, ...] | None = None, mask: MaskLike = None
) -> Constraint:
    r"""At most ``k`` non-zeros in each slice along ``axis`` (in the whole leaf when None).

    The projection keeps the ``k`` entries of largest magnitude and zeroes the rest (ties: the
    first in index order). With per-element steps :math:`t_i` (the metric
    :math:`D = 1/t` of `jaxreg.transforms.proximal(..., precondition="adam")`) it keeps the
    largest :math:`x_i^2 / t_i`: the exact projection in that metric. E.g. ``axis=-2`` on a
    flax kernel ``(in, out)``: at most ``k`` inputs per output neuron. ``axis=None`` counts
    over the whole leaf, all layers of a stacked kernel ``(L, in, out)`` together; ``axis=(-2,
    -1)`` gives ``k`` per matrix, on a single or a stacked kernel.

    Args:
      k: the number of non-zeros allowed per slice (``>= 1``).
      axis: the axis or axes of a slice; None for the whole leaf.
      mask: as in `jaxreg.l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.constraints.top_k(2).prox({"w": jnp.array([0.5, -3.0, 1.0, 2.0])}, 0.1)
    {'w': Array([ 0., -3.,  0.,  2.], dtype=float32)}
    """
    k = _positive_int(k, "k")
    return TopK(**term_fields(1.0, mask), k=k, axis=None if axis is None else check_axis(axis))


@penalty_class
class NM(Constraint):
    r"""At most ``n`` non-zeros in every block of ``m`` consecutive elements along ``axis``
    (N:M structured sparsity); see `jaxreg.constraints.n_m`."""

    n: int = static_field()
    m: int = static_field()
    axis: int = static_field()
    name: ClassVar[str] = "n_m"
    min_ndim: ClassVar[int] = 1

    def check_leaf(self, path, x, w):
        super().check_leaf(path, x, w)
        check_axes_in_range((self.axis,), path, x)
        shape = np.shape(x)
        if shape[self.axis] % self.m:
            raise ValueError(
                f"n_m({self.n}, {self.m}, axis={self.axis}) needs the leaf's axis {self.axis} to "
                f"be a multiple of m={self.m}; the leaf at '{path}' has shape {shape}."
            )

    def _blocks(self, x: jax.Array) -> tuple[jax.Array, Any]:
        moved = jnp.moveaxis(x, self.axis, -1)
        blocks = moved.reshape(*moved.shape[:-1], -1, self.m)
        return blocks, lambda y: jnp.moveaxis(y.reshape(moved.shape), -1, self.axis)

    def inside(self, x):
        blocks, _ = self._blocks(x)
        return jnp.sum(blocks != 0, axis=-1) <= self.n

    def prox_leaf(self, z, t, strength):
        blocks, back = self._blocks(z)
        score, _ = self._blocks(_metric_score(z, t))
        return back(_keep_largest(blocks, score, self.n))


def n_m(n: int, m: int, *, axis: int, mask: MaskLike = None) -> Constraint:
    r"""N:M structured sparsity: at most ``n`` non-zeros in every ``m`` consecutive elements
    along ``axis`` (2:4 is what NVIDIA's sparse tensor cores accelerate).

    The blocks run along the reduction (input) dimension of a matmul: ``axis=-2`` for a flax
    kernel ``(in, out)``, ``axis=-1`` for a PyTorch / equinox ``Linear.weight`` ``(out, in)``;
    negative axes serve a single layer and layers stacked on a leading axis alike (``axis=0``
    on a stacked flax kernel ``(L, in, out)`` would run along the layers). The projection
    keeps the ``n`` largest magnitudes of each block (in the metric :math:`1/t` with
    per-element steps, as `top_k`). The leaf's ``axis`` must be a multiple of ``m``.

    Args:
      n, m: ``1 <= n <= m``.
      axis: the axis the blocks run along (required: the layouts differ between frameworks).
      mask: as in `jaxreg.l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.constraints.n_m(2, 4, axis=0).prox({"w": jnp.array([0.5, -3.0, 1.0, 2.0])}, 0.1)
    {'w': Array([ 0., -3.,  0.,  2.], dtype=float32)}
    """
    n, m = _positive_int(n, "n"), _positive_int(m, "m")
    if n > m:
        raise ValueError(f"n_m needs n <= m; got n={n}, m={m}.")
    checked = as_axis(axis)
    if checked is None:
        raise TypeError(f"axis must be an int; got axis={axis!r}.")
    return NM(**term_fields(1.0, mask), n=n, m=m, axis=checked)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {name}={value!r}.")
    return int(value)
