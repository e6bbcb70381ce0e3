"""Separable kinds: l1, l2 and elastic net, sums over elements (small leaves are batched).

Each takes ``center=c`` (L2-SP and friends): the kind evaluated at ``x - c``; the core
(``jaxreg/_penalty/``) does the shift, the prox's too, so the classes hold only the field.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
from jax.typing import ArrayLike

from .. import _numerics as nx
from .. import _prox_kernels as kernels_prox
from .._penalty.types import Term, penalty_class
from .._penalty.validation import (
    as_leaf,
    check_scalar,
    term_fields,
)
from .._typing import Center, MaskLike, Weights


@penalty_class
class L1(Term):
    r""":math:`\lambda \sum_i w_i |x_i - c_i|` (weights :math:`w_i`, 1 by default; center
    :math:`c_i`, 0 by default); see `jaxreg.l1`."""

    weights: Weights = None
    center: Center = None
    name: ClassVar[str] = "l1"
    elementwise: ClassVar[bool] = True
    smooth_on: ClassVar[str | None] = "nonzeros"

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.sum_abs(x, w)

    def prox_leaf(self, z, t, strength):
        return kernels_prox.soft_threshold(z, t * strength)

    def dual_norm(self, g, w):
        return jnp.max(nx.ratio_or_inf(jnp.abs(g), w))

    def l1_l2_split(self):
        return self.strength, 0.0


def l1(
    strength: ArrayLike, *, mask: MaskLike = None, weights: Weights = None, center: Center = None
) -> Term:
    r"""Lasso penalty :math:`\lambda \sum_i w_i |x_i - c_i|` (:math:`w_i = 1` without
    ``weights``, :math:`c_i = 0` without ``center``).

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
      center: the reference point :math:`c` the penalty pulls toward (e.g. the pretrained
        weights when fine-tuning): a number, or a pytree with the params' structure or a prefix
        of it whose leaves broadcast to each penalized leaf; ``None`` (entries) mean 0. The prox
        is :math:`c + \mathrm{prox}(x - c)`, exact. No framework has a centred penalty: the
        converters raise on one.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.l1(0.1)({"w": jnp.array([1.0, -2.0, 0.0])})
    Array(0.3..., dtype=float32)
    >>> jr.l1(0.1, weights={"w": jnp.array([1.0, 0.0, 5.0])})({"w": jnp.array([1.0, -2.0, 0.0])})
    Array(0.1, dtype=float32)
    >>> jr.l1(0.1, center={"w": jnp.array([1.0, -2.0, 1.0])})({"w": jnp.array([1.0, -2.0, 0.0])})
    Array(0.1, dtype=float32)
    """
    return L1(**term_fields(strength, mask, weights, center))


@penalty_class
class L2(Term):
    r""":math:`\frac{\lambda}{2} \sum_i w_i (x_i - c_i)^2`; see `jaxreg.l2`."""

    weights: Weights = None
    center: Center = None
    name: ClassVar[str] = "l2"
    elementwise: ClassVar[bool] = True
    quadratic: ClassVar[bool] = True
    smooth_on: ClassVar[str | None] = "all"

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        return nx.half_sum_squares(x, w)

    def l1_l2_split(self):
        return 0.0, self.strength


def l2(
    strength: ArrayLike, *, mask: MaskLike = None, weights: Weights = None, center: Center = None
) -> Term:
    r"""Ridge / weight-decay penalty :math:`\frac{\lambda}{2} \sum_i w_i (x_i - c_i)^2`
    (:math:`c_i = 0` without ``center``).

    Its gradient is :math:`\lambda x` (without weights): the coupled ``weight_decay=strength``
    of ``torch.optim.SGD`` / ``torch.optim.Adam``. Keras's ``L2(l2)`` has no ½: use
    ``L2(l2=strength / 2)``. scikit-learn ``Ridge(alpha)`` is ``l2(alpha / n_samples)`` with a
    :math:`\frac{1}{2n}\lVert y - Xw\rVert^2` data term (see `jaxreg.conventions`).

    Args:
      strength: :math:`\lambda \ge 0`.
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0`, as in `l1`.
      center: the reference point :math:`c`, as in `l1`. ``l2(s, center=pretrained)`` is L2-SP
        (Li et al., ICML 2018): fine-tuning pulled toward the pretrained weights, not toward 0.
        Its gradient is :math:`\lambda (x - c)`; its prox :math:`(x + t\lambda c) / (1 +
        t\lambda)`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.l2(0.1)({"w": jnp.array([1.0, -2.0])})
    Array(0.25, dtype=float32)
    >>> jr.l2(0.1, center={"w": jnp.array([1.0, 0.0])})({"w": jnp.array([1.0, -2.0])})
    Array(0.2, dtype=float32)
    """
    return L2(**term_fields(strength, mask, weights, center))


@penalty_class
class ElasticNet(Term):
    r""":math:`\lambda \sum_i w_i (\rho |x_i - c_i| + \frac{1-\rho}{2} (x_i - c_i)^2)`; see
    `jaxreg.elastic_net`.

    Built from its parts: ``L1(strength * rho) + L2(strength * (1 - rho))``, at one center.
    """

    l1_ratio: Any
    weights: Weights = None
    center: Center = None
    name: ClassVar[str] = "elastic_net"
    elementwise: ClassVar[bool] = True
    smooth_on: ClassVar[str | None] = "nonzeros"

    def parts(self) -> tuple[Term, ...]:
        r = self.l1_ratio
        common = {"mask": self.mask, "weights": self.weights, "center": self.center}
        return (
            L1(strength=self.strength * r, **common),
            L2(strength=self.strength * (1 - r), **common),
        )

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        # Two reductions, not one of the combined term: faster on XLA:CPU in every layout, with
        # and without the gradient (benchmarks/README.md).
        l1, l2 = self.parts()
        r = nx.checked_hyperparameter(self.l1_ratio, nx.acc_dtype(x.dtype), high=1.0)
        return r * l1.unscaled_value(x, w) + (1 - r) * l2.unscaled_value(x, w)

    def dual_norm(self, g, w):
        return self.parts()[0].dual_norm(g, w) / self.l1_ratio

    def l1_l2_split(self):
        return self.strength * self.l1_ratio, self.strength * (1 - self.l1_ratio)


def elastic_net(
    strength: ArrayLike,
    l1_ratio: ArrayLike,
    *,
    mask: MaskLike = None,
    weights: Weights = None,
    center: Center = None,
) -> Term:
    r"""Elastic net :math:`\lambda \sum_i w_i \left(\rho |x_i - c_i| + \frac{1-\rho}{2}
    (x_i - c_i)^2\right)` (:math:`c_i = 0` without ``center``).

    This is scikit-learn's ``ElasticNet(alpha=strength, l1_ratio=l1_ratio)`` and glmnet's
    parametrization (``alpha`` there is ``l1_ratio`` here). Keras: ``L1L2(l1=strength * l1_ratio,
    l2=strength * (1 - l1_ratio) / 2)``. It is the sum of its parts
    ``l1(strength * l1_ratio) + l2(strength * (1 - l1_ratio))``.

    Args:
      strength: :math:`\lambda \ge 0`.
      l1_ratio: :math:`\rho \in [0, 1]`; 1 is `l1`, 0 is `l2` (a pytree leaf: may be traced).
      mask: as in `l1`.
      weights: per-element weights :math:`w_i \ge 0`, as in `l1`.
      center: the reference point :math:`c` of both parts, as in `l1`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.elastic_net(1.0, 0.5)({"w": jnp.array([2.0])})
    Array(2., dtype=float32)
    >>> jr.elastic_net(1.0, 0.5, center=1.0)({"w": jnp.array([3.0])})
    Array(2., dtype=float32)
    """
    check_scalar(l1_ratio, "l1_ratio", high=1.0)
    return ElasticNet(**term_fields(strength, mask, weights, center), l1_ratio=as_leaf(l1_ratio))
