"""Matrix kinds: nuclear, spectral, orthogonal, on the (fan_in, out) matrix of each kernel, or
on each matrix of a stack of them (``batch_axes``: layers stacked by a scan or a vmap)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, Literal, cast

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .. import _numerics as nx
from .. import _prox_kernels as kernels_prox
from .._masks import Mask, kernels
from .._penalty.types import Term, penalty_class, static_field
from .._penalty.validation import (
    as_axis,
    check_out_axis,
    term_fields,
)
from .._typing import MaskLike


def clash_hint(out_axis: int) -> str:
    """How to fix ``out_axis`` naming one of ``batch_axes``, for the likely mistake."""
    if out_axis == 0:
        return (
            "equinox/PyTorch weights (out, in) stacked on axis 0 are (L, out, in): take "
            "out_axis=-2 with batch_axes=0"
        )
    return (
        "batch_axes names the axes that index the matrices (the layer axis: 0 for stacks made "
        "by nnx.vmap, nnx.scan, nn.scan or eqx.filter_vmap), out_axis the output axis of each "
        "matrix (-1 for flax (L, in, out), -2 for equinox (L, out, in))"
    )


def check_batch_axes(batch_axes: Any, out_axis: int) -> tuple[int, ...]:
    """``batch_axes`` as a tuple of ints (None: no batch axis); repeats and ``out_axis`` raise.

    Only literal clashes can be seen here; the ones that appear once negative axes are
    normalised against a leaf's ndim raise in `MatrixTerm.check_leaf`.
    """
    if batch_axes is None:
        return ()
    given = batch_axes if isinstance(batch_axes, tuple) else (batch_axes,)
    axes = tuple(as_axis(a) for a in given)
    if any(a is None for a in axes):
        raise TypeError(
            "batch_axes must be None, an int or a tuple of ints (the axes that index separate "
            f"matrices, e.g. batch_axes=0 for layers stacked by nnx.vmap); got "
            f"batch_axes={batch_axes!r}."
        )
    ints = cast(tuple[int, ...], axes)
    if len(set(ints)) != len(ints):
        raise ValueError(f"batch_axes must not repeat an axis; got batch_axes={batch_axes!r}.")
    if out_axis in ints:
        raise ValueError(
            f"batch_axes={batch_axes!r} contains out_axis={out_axis}: the output axis of each "
            f"matrix cannot also index the matrices; {clash_hint(out_axis)}."
        )
    return ints


@dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class MatrixTerm(Term):
    """A kind on matrices: each selected leaf is one ``(fan_in, out)`` matrix, or a stack of
    them indexed by ``batch_axes``, and the value is the sum over the stack."""

    out_axis: int = static_field(default=-1)
    batch_axes: tuple[int, ...] = static_field(default=())
    min_ndim: ClassVar[int] = 2
    default_mask: ClassVar[Mask | None] = kernels

    def check_leaf(self, path: str, x: Any, w: Any) -> None:
        super().check_leaf(path, x, w)
        ndim = np.ndim(x)
        if not -ndim <= self.out_axis < ndim:
            raise ValueError(
                f"out_axis={self.out_axis} is out of range for the leaf at '{path}' with shape "
                f"{np.shape(x)}."
            )
        if not self.batch_axes:
            return
        where = f"the leaf at '{path}' with shape {np.shape(x)}"
        in_range = all(-ndim <= a < ndim for a in self.batch_axes)
        if in_range and len({a % ndim for a in self.batch_axes}) != len(self.batch_axes):
            raise ValueError(f"batch_axes={self.batch_axes} name the same axis twice for {where}.")
        if ndim - len(self.batch_axes) < 2:
            raise ValueError(
                f"{self.name} with batch_axes={self.batch_axes} needs leaves with at least "
                f"{len(self.batch_axes) + 2} dimensions (a stack of matrices); {where} is not "
                "one. Restrict this term's mask to the stacked layers (e.g. "
                "mask=jaxreg.masks.kernels & jaxreg.masks.by_path('^layers/')) and penalize the "
                "other kernels with a second term without batch_axes."
            )
        if not in_range:
            raise ValueError(f"batch_axes={self.batch_axes} is out of range for {where}.")
        batch = [a % ndim for a in self.batch_axes]
        if self.out_axis % ndim in batch:
            raise ValueError(
                f"batch_axes={self.batch_axes} contain out_axis={self.out_axis} for {where}: "
                "the output axis of each matrix cannot also index the matrices; "
                f"{clash_hint(self.out_axis % ndim)}."
            )

    def _layout(self, shape: tuple[int, ...]) -> tuple[list[int], int]:
        """The permutation that puts the batch axes first (ascending) and out_axis last, and
        the number of matrices."""
        ndim = len(shape)
        batch = sorted(a % ndim for a in self.batch_axes)
        out = self.out_axis % ndim
        rest = [a for a in range(ndim) if a not in batch and a != out]
        return batch + rest + [out], math.prod(shape[a] for a in batch)

    def matrices(self, x: jax.Array) -> jax.Array:
        """The ``(count, fan_in, out)`` stack of the leaf's matrices, in the accumulation dtype."""
        perm, count = self._layout(x.shape)
        return jnp.transpose(nx.upcast(x), perm).reshape(count, -1, x.shape[perm[-1]])

    def from_matrices(self, m: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        """The inverse of `matrices` for a leaf of ``shape``."""
        perm, _ = self._layout(shape)
        moved = m.reshape([shape[a] for a in perm])
        return jnp.transpose(moved, tuple(int(i) for i in np.argsort(perm)))

    def matrix_axes(self, ndim: int) -> tuple[int, ...]:
        """The leaf's axes that form one matrix: all but ``batch_axes``."""
        batch = {a % ndim for a in self.batch_axes}
        return tuple(a for a in range(ndim) if a not in batch)

    def sum_over_matrices(self, norm: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
        """``sum_b norm(matrix_b)``; one matrix when there are no ``batch_axes``."""
        if not self.batch_axes:
            return norm(nx.as_matrix(x, self.out_axis))
        return jnp.sum(jax.vmap(norm)(self.matrices(x)))

    def max_over_matrices(self, norm: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
        """``max_b norm(matrix_b)``: the dual norm of a sum of norms on disjoint blocks."""
        if not self.batch_axes:
            return norm(nx.as_matrix(x, self.out_axis))
        return jnp.max(jax.vmap(norm)(self.matrices(x)))


@penalty_class
class Nuclear(MatrixTerm):
    r""":math:`\lambda \sum_b \sum_k \sigma_k(W_b)`; see `jaxreg.nuclear`."""

    name: ClassVar[str] = "nuclear"

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return self.sum_over_matrices(nx.nuclear_norm, x)

    def prox_leaf(self, z, t, strength):
        tau = self.prox_step(t) * strength
        if not self.batch_axes:
            m = kernels_prox.singular_value_threshold(nx.as_matrix(z, self.out_axis), tau)
            return nx.from_matrix(m, z.shape, self.out_axis)
        ms = self.matrices(z)
        # tau: a scalar, or one per matrix in keepdims form (1 on the matrix axes), whose
        # row-major order is that of the batch axes in `matrices`
        taus = jnp.broadcast_to(jnp.ravel(tau), (ms.shape[0],))
        return self.from_matrices(
            jax.vmap(kernels_prox.singular_value_threshold)(ms, taus), z.shape
        )

    def prox_step(self, t):
        # one step per matrix: the harmonic mean of a diagonal metric's steps over it
        return kernels_prox.harmonic_mean(t, self.matrix_axes(t.ndim)) if t.ndim else t

    def dual_norm(self, g, w):
        return self.max_over_matrices(nx.spectral_norm, g)  # the dual of the nuclear norm


def nuclear(
    strength: ArrayLike,
    *,
    out_axis: int = -1,
    batch_axes: int | tuple[int, ...] | None = None,
    mask: MaskLike = None,
) -> Term:
    r"""Nuclear (trace) norm :math:`\lambda \sum_b \sum_k \sigma_k(W_b)` of each kernel's matrix
    (each matrix :math:`W_b` of a stack).

    The matrix of a leaf is ``(fan_in, out)``: ``out_axis`` is the output axis and every other
    axis is folded into fan_in (``jnp.moveaxis(leaf, out_axis, -1).reshape(-1, out)``), so a
    flax/Keras conv kernel ``(kh, kw, in, out)`` with ``out_axis=-1`` (the default) and an
    equinox/PyTorch weight ``(out, in, kh, kw)`` with ``out_axis=0`` give the same matrix.

    ``batch_axes`` (None, an int or a tuple of ints) names axes that index separate matrices,
    as NumPy's ``linalg`` treats leading axes: layers stacked by ``nnx.vmap`` / ``nnx.scan``,
    flax ``nn.scan`` or ``eqx.filter_vmap`` have a leading layer axis (``batch_axes=0``).
    Each matrix is formed from the remaining axes by the rule above: with ``batch`` the
    normalised ``batch_axes`` in ascending order and ``rest`` the other axes but ``out_axis`` in
    order, the matrices are ``jnp.transpose(leaf, batch + rest + [out_axis]).reshape(B, -1,
    out)`` (``B`` the product of the batch sizes). The value is the sum over the matrices,
    :math:`\sum_b` of the formula on matrix :math:`b`; so are the gradient and the prox.
    Without ``batch_axes`` a leaf of any ndim is *one* matrix: a stacked kernel
    ``(L, in, out)`` folds into the ``(L \cdot in, out)`` matrix, and an equinox stack
    ``(L, out, in)`` with ``out_axis=0`` into ``(out \cdot in, L)`` (the layer axis taken as
    the output axis, no error). Give ``out_axis`` as a negative axis (``-2`` for equinox
    ``(L, out, in)``) so that one term serves stacked and single layers.

    Attention: a flax ``query``/``key``/``value`` kernel ``(in, heads, head_dim)`` with
    ``out_axis=-1`` is the ``(in \cdot heads, head_dim)`` matrix, neither one head's
    ``(in, head_dim)`` nor the projection's ``(in, heads \cdot head_dim)``; one matrix per head
    is ``batch_axes=-2`` (stacked ``(L, in, heads, head_dim)``: ``batch_axes=(0, -2)``). The
    ``out`` kernel ``(heads, head_dim, out)`` is the whole output projection
    ``(heads \cdot head_dim, out)``.

    A term with ``batch_axes`` takes the leading axis of *every* leaf it selects as layers:
    an unstacked kernel with 3 or more dimensions (a conv, a flax attention kernel) is not
    rejected. Restrict it to the stacked leaves with ``mask`` (e.g.
    ``jaxreg.masks.kernels & jaxreg.masks.by_path("^blocks/")``) and add a second term for
    the others.

    With ``mask=None`` the leaves are those of `jaxreg.masks.kernels` (never biases or norm scales;
    see its rule); an explicit mask that selects a leaf with fewer than 2 dimensions (2 plus the
    number of ``batch_axes``) raises. The gradient is :math:`U V^\top` over the non-zero
    singular values (0 at the zero matrix); the prox thresholds singular values, matrix by
    matrix (with per-element steps, at the harmonic mean of each matrix's steps).
    ``jaxreg.select.lambda_max`` is the largest spectral norm of the loss gradient's matrices.
    No Keras/PyTorch built-in equivalent.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.nuclear(1.0)({"kernel": jnp.diag(jnp.array([3.0, -1.0])), "bias": jnp.ones(2)})
    Array(4., dtype=float32)
    >>> layers = jnp.stack([jnp.diag(jnp.array([3.0, 4.0])), jnp.array([[0.0, 2.0], [0.0, 0.0]])])
    >>> jr.nuclear(1.0, batch_axes=0)({"kernel": layers})  # (L, in, out): (3 + 4) + 2
    Array(9., dtype=float32)
    >>> jr.nuclear(1.0)({"kernel": layers})  # one (L * in, out) matrix: 3 + sqrt(20)
    Array(7.472136, dtype=float32)
    """
    out_axis = check_out_axis(out_axis)
    return Nuclear(
        **term_fields(strength, mask),
        out_axis=out_axis,
        batch_axes=check_batch_axes(batch_axes, out_axis),
    )


@penalty_class
class Spectral(MatrixTerm):
    r""":math:`\lambda \sum_b \sigma_{\max}(W_b)`; see `jaxreg.spectral`."""

    name: ClassVar[str] = "spectral"
    has_prox: ClassVar[bool] = False

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return self.sum_over_matrices(nx.spectral_norm, x)

    def dual_norm(self, g, w):
        return self.max_over_matrices(nx.nuclear_norm, g)  # the dual of the spectral norm


def spectral(
    strength: ArrayLike,
    *,
    out_axis: int = -1,
    batch_axes: int | tuple[int, ...] | None = None,
    mask: MaskLike = None,
) -> Term:
    r"""Spectral norm :math:`\lambda \sum_b \sigma_{\max}(W_b)` of each kernel's matrix (each
    matrix :math:`W_b` of a stack).

    Matrix, ``out_axis``, ``batch_axes`` and mask as in `nuclear`: with ``batch_axes`` the value
    is the sum of the matrices' spectral norms. The gradient is :math:`u_1 v_1^\top` (0 at the
    zero matrix). No closed-form prox. ``jaxreg.select.lambda_max`` is the largest nuclear norm
    of the loss gradient's matrices (the dual norm).

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.spectral(1.0)({"kernel": jnp.diag(jnp.array([3.0, -1.0]))})
    Array(3., dtype=float32)
    """
    out_axis = check_out_axis(out_axis)
    return Spectral(
        **term_fields(strength, mask),
        out_axis=out_axis,
        batch_axes=check_batch_axes(batch_axes, out_axis),
    )


@penalty_class
class Orthogonal(MatrixTerm):
    r""":math:`\lambda \sum_b \mathrm{mean}_{i<j} |\cos(r_i, r_j)|` over the rows of each
    matrix :math:`W_b` (Keras's); see `jaxreg.orthogonal`."""

    mode: str = static_field(default="rows")
    name: ClassVar[str] = "orthogonal"
    has_prox: ClassVar[bool] = False

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return self.sum_over_matrices(lambda m: nx.keras_orthogonality(m, self.mode), x)


def orthogonal(
    strength: ArrayLike,
    *,
    mode: Literal["rows", "columns"] = "rows",
    out_axis: int = -1,
    batch_axes: int | tuple[int, ...] | None = None,
    mask: MaskLike = None,
) -> Term:
    r"""Keras's orthogonality penalty, :math:`\lambda` times the mean pairwise :math:`|\cos|`.

    :math:`\lambda \sum_b \mathrm{mean}_{i<j} |\hat r_i \cdot \hat r_j|` where :math:`\hat r_i`
    are the L2-normalized rows (``mode="rows"``) or columns (``"columns"``) of each kernel's
    ``(fan_in, out)`` matrix :math:`W_b` (Keras's Dense layout; see `nuclear` for ``out_axis``
    and ``batch_axes``: with ``batch_axes``, the sum over the stack's matrices of each one's
    mean, without, a single matrix): "columns" makes the output units' weight vectors
    orthogonal, "rows" the fan-in vectors. Normalized as `keras.ops.normalize` does
    (``epsilon=1e-7``). Same value as
    ``keras.regularizers.OrthogonalRegularizer(factor=strength, mode=mode)`` on a Dense kernel,
    except that a single-row (column) matrix gives 0 where Keras gives NaN. No closed-form prox.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.orthogonal(1.0)({"kernel": jnp.array([[1.0, 0.0], [1.0, 1.0]])})
    Array(0.707..., dtype=float32)
    """
    if mode not in ("rows", "columns"):
        raise ValueError(f"mode must be 'rows' or 'columns'; got mode={mode!r}.")
    out_axis = check_out_axis(out_axis)
    return Orthogonal(
        **term_fields(strength, mask),
        mode=mode,
        out_axis=out_axis,
        batch_axes=check_batch_axes(batch_axes, out_axis),
    )
