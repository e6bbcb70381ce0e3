"""Sorted L1 (SLOPE): the largest magnitude gets the largest strength."""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np

from .. import _numerics as nx
from .. import _prox_kernels as kernels_prox
from .._masks import as_mask
from .._penalty.types import Term, format_hyperparameter, penalty_class
from .._penalty.validation import (
    as_leaf,
)
from .._typing import MaskLike, Strengths


def _is_one(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer) and np.ndim(x) == 0 and float(np.asarray(x)) == 1


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
        return out if _is_one(self.strength) else f"{format_hyperparameter(self.strength)} * {out}"

    def _sequence(self, n: int, dtype: Any) -> jax.Array:
        return nx.checked_hyperparameter(self.sequence, dtype)[:n]

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        z = nx.upcast(x).ravel()
        desc = -jnp.sort(-nx.abs0(z))
        return jnp.sum(desc * self._sequence(z.size, z.dtype))

    def prox_leaf(self, z, t, strength):
        t = self.prox_step(t)  # a diagonal metric: the step of the leaf's mean metric
        flat = z.ravel()
        a = jnp.abs(flat)
        order = jnp.argsort(-a, stable=True)
        lam = jnp.ravel(t)[0] * strength * self._sequence(flat.size, z.dtype)
        shrunk = jnp.maximum(kernels_prox.decreasing_isotonic(a[order] - lam), 0.0)
        out = jnp.zeros_like(flat).at[order].set(shrunk) * jnp.sign(flat)
        return kernels_prox.keep_nan(z, out.reshape(z.shape))

    def prox_step(self, t):
        return kernels_prox.harmonic_mean(t, tuple(range(t.ndim))) if t.ndim else t

    def dual_norm(self, g, w):
        # the dual norm: 0 is optimal iff every partial sum of the sorted |g| is at most the
        # same partial sum of strength * sequence
        desc = -jnp.sort(-jnp.abs(g.ravel()))
        seq = self._sequence(desc.size, desc.dtype)
        return jnp.max(jnp.cumsum(desc) / jnp.cumsum(seq))


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
