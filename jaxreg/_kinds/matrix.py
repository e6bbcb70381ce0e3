"""Matrix kinds: nuclear, spectral, orthogonal, on the (fan_in, out) matrix of each kernel."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import numpy as np
from jax.typing import ArrayLike

from .. import _numerics as nx
from .. import _prox_kernels as kernels_prox
from .._masks import Mask, kernels
from .._penalty.types import Term, penalty_class, static_field
from .._penalty.validation import (
    check_out_axis,
    term_fields,
)
from .._typing import MaskLike


@dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class MatrixTerm(Term):
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
class Nuclear(MatrixTerm):
    r""":math:`\lambda \sum_k \sigma_k(W)`; see `jaxreg.nuclear`."""

    name: ClassVar[str] = "nuclear"

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.nuclear_norm(self.matrix(x))

    def prox_leaf(self, z, t, strength):
        t = self.prox_step(t)
        m = kernels_prox.singular_value_threshold(self.matrix(z), t * strength)
        return nx.from_matrix(m, z.shape, self.out_axis)

    def prox_step(self, t):
        return kernels_prox.harmonic_mean(t, tuple(range(t.ndim))) if t.ndim else t

    def dual_norm(self, g, w):
        return nx.spectral_norm(self.matrix(g))  # the dual of the nuclear norm


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
    return Nuclear(**term_fields(strength, mask), out_axis=check_out_axis(out_axis))


@penalty_class
class Spectral(MatrixTerm):
    r""":math:`\lambda\, \sigma_{\max}(W)`; see `jaxreg.spectral`."""

    name: ClassVar[str] = "spectral"
    has_prox: ClassVar[bool] = False

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.spectral_norm(self.matrix(x))


def spectral(strength: ArrayLike, *, out_axis: int = -1, mask: MaskLike = None) -> Term:
    r"""Spectral norm :math:`\lambda\, \sigma_{\max}(W)` of each kernel's matrix.

    Matrix, ``out_axis`` and mask as in `nuclear`. The gradient is :math:`u_1 v_1^\top` (0 at
    the zero matrix). No closed-form prox.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.spectral(1.0)({"kernel": jnp.diag(jnp.array([3.0, -1.0]))})
    Array(3., dtype=float32)
    """
    return Spectral(**term_fields(strength, mask), out_axis=check_out_axis(out_axis))


@penalty_class
class Orthogonal(MatrixTerm):
    r""":math:`\lambda\,\mathrm{mean}_{i<j} |\cos(r_i, r_j)|` (Keras's); see `jaxreg.orthogonal`."""

    mode: str = static_field(default="rows")
    name: ClassVar[str] = "orthogonal"
    has_prox: ClassVar[bool] = False

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.keras_orthogonality(self.matrix(x), self.mode)


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
    return Orthogonal(**term_fields(strength, mask), mode=mode, out_axis=check_out_axis(out_axis))
