r"""Datafits: one class per loss :math:`\ell(y, z)` of the linear model's data term.

The data term is :math:`\sum_i s_i\, \ell(y_i, z_i)` with ``s`` the normalized sample weights
(summing to 1) and :math:`z = X w + b`. A datafit is a frozen, hashable dataclass (a static
argument of the compiled solvers, as skglm's ``Quadratic`` / ``Logistic`` are its solvers'
arguments); the solvers call its methods and never name a loss.

>>> import jax.numpy as jnp
>>> logistic = datafit_for("logistic", 1.35)
>>> z, y = jnp.asarray(0.0), jnp.asarray(1.0)
>>> float(logistic.derivative(z, y)), float(logistic.curvature(z, y)), logistic.curvature_bound
(-0.5, 0.25, 0.25)
>>> datafit_for("huber", 2.0) == Huber(2.0)  # hashable values: a static jit argument
True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

_CURVATURE_FLOOR = 1e-6  # of the largest curvature: the second-order model's weights


@dataclasses.dataclass(frozen=True)
class Datafit:
    """What the solvers need of a loss :math:`\\ell(y, z)`, elementwise in ``(z, y)``."""

    name: ClassVar[str] = ""
    # sup_z l''(z): the coordinate steps' Lipschitz constant; None: no bound (the coordinate
    # steps backtrack, the curvature is evaluated at z)
    curvature_bound: ClassVar[float | None] = None
    # A Fenchel dual is implemented (`dual`): with an l1 / group / l2 penalty, a duality gap
    has_dual: ClassVar[bool] = False
    # l(y, z) = (z - y)^2 / 2: the least-squares inner solvers apply
    is_least_squares: ClassVar[bool] = False
    # With an l1 / l2 split, the outer loop takes prox-Newton steps on the second-order model
    # (`quadratic_model`, `jaxreg._linear._prox_newton`) instead of coordinate steps on the loss
    newton_steps: ClassVar[bool] = False
    # y holds class labels: cross-validation stratifies its folds by default (a regression
    # target is never stratified, whole numbers or not: counts, prices)
    classification: ClassVar[bool] = False

    @classmethod
    def from_options(cls, *, huber_delta: Any) -> Datafit:
        """The datafit from `jaxreg.linear`'s keywords (only Huber takes one)."""
        return cls()

    def value(self, z: jax.Array, y: jax.Array) -> jax.Array:
        raise NotImplementedError

    def derivative(self, z: jax.Array, y: jax.Array) -> jax.Array:
        """:math:`\\partial \\ell / \\partial z`."""
        raise NotImplementedError

    def curvature(self, z: jax.Array, y: jax.Array) -> jax.Array:
        """:math:`\\partial^2 \\ell / \\partial z^2`."""
        raise NotImplementedError

    def quadratic_model(self, z: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        r"""The weights ``h`` and the working response ``t`` of the loss's second-order model
        at ``z``: :math:`\ell(z') \approx \ell(z) + \ell'(z)(z' - z) + \frac{h}{2}(z' - z)^2
        = \frac{h}{2}(z' - t)^2 + \mathrm{const}`, :math:`t = z - \ell'(z) / h`, with
        :math:`h = \max(\ell''(z), 10^{-6} \max_i \ell''(z_i))`: a row far on its side of
        the margin has :math:`\ell'' \approx 0` and :math:`\ell' / \ell''` unbounded (glmnet
        clamps its probabilities for the same reason). A larger ``h`` is a more cautious model
        with the same fixed point."""
        c = self.curvature(z, y)
        h = jnp.maximum(c, _CURVATURE_FLOOR * jnp.max(c))
        return h, z - self.derivative(z, y) / h

    def intercept_step(self, b: Any, z: jax.Array, y: jax.Array, sn: jax.Array) -> tuple[Any, ...]:
        """A Newton step on the intercept (exact for the squared loss): ``(b, z)`` moved by
        it, and its squared residual :math:`(\\sum_i s_i \\ell'_i)^2 / \\sum_i s_i \\ell''_i`."""
        fallback = 1.0 if self.curvature_bound is None else self.curvature_bound
        d = sn * self.derivative(z, y)
        curv = jnp.sum(sn * self.curvature(z, y))
        db = self.newton_intercept(d, curv, fallback, y, sn)
        return b + db, z + db, jnp.sum(d) ** 2 / jnp.where(curv > 0, curv, fallback)

    def newton_intercept(self, d: jax.Array, curv: jax.Array, fallback: float, y, sn) -> Any:
        """The intercept's Newton step from ``d = s l'(z)`` and the summed curvature."""
        return -jnp.sum(d) / jnp.where(curv > 0, curv, fallback)

    def dual(self, y: jax.Array, sn: jax.Array, z: jax.Array, c: Any) -> jax.Array:
        """:math:`-\\sum_i s_i \\ell^*(-u_i)` at the rescaled dual point
        :math:`u = -c\\, \\ell'(z)` (``c <= 1``; see `jaxreg._linear._certificates`)."""
        raise NotImplementedError(f"loss={self.name!r} has no dual in jr.linear.")

    def check_labels(self, labels: np.ndarray) -> None:
        """Raise a clear error for labels this loss cannot take (concrete, NaN-free)."""

    def null_intercept(self, y: jax.Array, sn: jax.Array) -> Any:
        """The intercept-only model's ``z``: what ``tol`` is relative to (`tol_scale`)."""
        raise NotImplementedError

    def tol_scale(self, y: jax.Array, sn: jax.Array, fit_intercept: bool) -> jax.Array:
        """What ``tol`` is relative to: the null model's loss (intercept only, or 0)."""
        z0 = self.null_intercept(y, sn) if fit_intercept else 0.0
        return jnp.sum(sn * self.value(jnp.full_like(y, z0), y))

    def score_loss(self, z: jax.Array, y: jax.Array) -> jax.Array:
        """The held-out loss whose weighted mean cross-validation minimizes."""
        return self.value(z, y)


@dataclasses.dataclass(frozen=True)
class Squared(Datafit):
    r""":math:`\frac12 (y - z)^2` (scikit-learn's ``Lasso`` / ``ElasticNet`` data term)."""

    name: ClassVar[str] = "squared"
    curvature_bound: ClassVar[float | None] = 1.0
    has_dual: ClassVar[bool] = True
    is_least_squares: ClassVar[bool] = True

    def value(self, z, y):
        return 0.5 * (z - y) ** 2

    def derivative(self, z, y):
        return z - y

    def curvature(self, z, y):
        return jnp.ones_like(z)

    def dual(self, y, sn, z, c):  # -l*(-u) = u y - u^2 / 2 at u = c (y - z)
        u = c * (y - z)
        return jnp.sum(sn * (u * y - 0.5 * u * u))

    def tol_scale(self, y, sn, fit_intercept):
        """scikit-learn's :math:`\\lVert y - \\bar y\\rVert^2 / n` (weighted)."""
        c = jnp.sum(sn * y) if fit_intercept else 0.0
        return jnp.sum(sn * (y - c) ** 2)

    def score_loss(self, z, y):  # the MSE, as LassoCV's mse_path_
        return (z - y) ** 2


@dataclasses.dataclass(frozen=True)
class Logistic(Datafit):
    r""":math:`\log(1 + e^z) - y z`, ``y`` in {0, 1}."""

    name: ClassVar[str] = "logistic"
    curvature_bound: ClassVar[float | None] = 0.25
    has_dual: ClassVar[bool] = True
    newton_steps: ClassVar[bool] = True
    classification: ClassVar[bool] = True

    def value(self, z, y):
        return jax.nn.softplus(z) - y * z

    def derivative(self, z, y):
        return jax.nn.sigmoid(z) - y

    def curvature(self, z, y):
        q = jax.nn.sigmoid(z)
        return q * (1 - q)

    def dual(self, y, sn, z, c):  # -l*(-u) = -H(q), q = y - u in [0, 1], u = c (y - sigmoid(z))
        q = jnp.clip(y - c * (y - jax.nn.sigmoid(z)), 0.0, 1.0)
        ent = jnp.where(q > 0, q * jnp.log(jnp.where(q > 0, q, 1.0)), 0.0) + jnp.where(
            q < 1, (1 - q) * jnp.log(jnp.where(q < 1, 1 - q, 1.0)), 0.0
        )
        return -jnp.sum(sn * ent)

    def check_labels(self, labels):
        if not np.all((labels == 0) | (labels == 1)):
            odd = float(labels[np.argmax((labels != 0) & (labels != 1))])
            raise ValueError(f"loss='logistic' needs labels y in {{0, 1}}; y holds {odd:g}.")
        if np.all(labels == labels[0]):
            raise ValueError(
                "loss='logistic' needs both classes in y; y has a single class "
                f"({float(labels[0]):g}), whose maximum-likelihood intercept is infinite (as "
                "scikit-learn refuses it)."
            )

    def null_intercept(self, y, sn):
        m = jnp.clip(jnp.sum(sn * y), 1e-12, 1 - 1e-12)
        return jnp.log(m / (1 - m))


@dataclasses.dataclass(frozen=True)
class Huber(Datafit):
    r""":math:`\frac12 r^2` for :math:`|r| \le \delta`, :math:`\delta |r| - \frac12 \delta^2`
    beyond (:math:`r = z - y`)."""

    delta: float = 1.35
    name: ClassVar[str] = "huber"
    curvature_bound: ClassVar[float | None] = 1.0

    @classmethod
    def from_options(cls, *, huber_delta: Any) -> Datafit:
        return cls(huber_delta)

    def __post_init__(self):
        d = self.delta
        if not (isinstance(d, int | float) and math.isfinite(d) and d > 0):
            raise ValueError(f"huber_delta must be a finite number > 0; got huber_delta={d!r}.")

    def value(self, z, y):
        r = jnp.abs(z - y)
        delta = self.delta
        return jnp.where(r <= delta, 0.5 * r * r, delta * r - 0.5 * delta * delta)

    def derivative(self, z, y):
        return jnp.clip(z - y, -self.delta, self.delta)

    def curvature(self, z, y):  # 1 inside delta, else 0
        return (jnp.abs(z - y) <= self.delta).astype(z.dtype)

    def null_intercept(self, y, sn):
        return jnp.median(y)


@dataclasses.dataclass(frozen=True)
class Poisson(Datafit):
    r""":math:`e^z - y z`, ``y >= 0`` (no curvature bound: coordinate steps backtrack)."""

    name: ClassVar[str] = "poisson"
    newton_steps: ClassVar[bool] = True

    def value(self, z, y):
        return jnp.exp(z) - y * z

    def derivative(self, z, y):
        return jnp.exp(z) - y

    def curvature(self, z, y):
        return jnp.exp(z)

    def newton_intercept(self, d, curv, fallback, y, sn):  # exact: log(mean y / mean e^z)
        ybar = jnp.sum(sn * y)
        return jnp.where(ybar > 0, jnp.log(jnp.where(ybar > 0, ybar, 1.0) / curv), -1.0)

    def check_labels(self, labels):
        if not np.all(labels >= 0):
            raise ValueError(
                f"loss='poisson' needs counts y >= 0; got min {float(labels.min()):g}."
            )
        if not np.any(labels > 0):  # the intercept would run to -inf
            raise ValueError(
                "loss='poisson' needs at least one count y > 0; got y all 0, whose fit has "
                "no minimizer (the predicted rate goes to 0: the intercept to -inf)."
            )

    def tol_scale(self, y, sn, fit_intercept):
        """The null model's half deviance: its loss minus the saturated model's."""
        z0 = jnp.log(jnp.maximum(jnp.sum(sn * y), 1e-300)) if fit_intercept else 0.0
        ylogy = jnp.where(y > 0, y * jnp.log(jnp.where(y > 0, y, 1.0)), 0.0)
        return jnp.sum(sn * (self.value(jnp.full_like(y, z0), y) - (y - ylogy)))


_BY_NAME: dict[str, type[Datafit]] = {c.name: c for c in (Squared, Logistic, Huber, Poisson)}
LOSSES = tuple(_BY_NAME)


def datafit_for(loss: Any, huber_delta: Any) -> Datafit:
    """The datafit named by ``loss=`` (``huber_delta`` checked for the Huber loss only)."""
    cls = _BY_NAME.get(loss) if isinstance(loss, str) else None
    if cls is None:
        raise ValueError(f"loss must be one of {LOSSES}; got loss={loss!r}.")
    return cls.from_options(huber_delta=huber_delta)
