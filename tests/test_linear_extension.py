"""A penalty kind and a loss added by writing one class each, as a reader would.

The classes below are defined here, outside jaxreg: `jr.linear` solves with them through
their methods only (the kinds' prox, value and `l1_l2_split`; the datafit's value, derivative
and curvature), and the converters read the new kind's `l1_l2_split`. Each fit is checked
against a NumPy proximal-gradient loop (FISTA with restarts) run to its fixed point.
The public `jr.linear` takes losses by name, so the new loss is solved by the internal
driver `fit_compiled` with `SolverOptions(datafit)`; the new kinds go through `jr.linear.fit`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from helpers import assert_close
from sklearn.linear_model import ElasticNet

import jaxreg as jr
from jaxreg._linear._checks import initial_point, prepare
from jaxreg._linear._compiled import fit_compiled
from jaxreg._linear._datafits import Datafit
from jaxreg._linear._options import SolverOptions
from jaxreg._penalty import Term, penalty_class

# -- the added classes ----------------------------------------------------------------------


@penalty_class
class HuberPenalty(Term):
    r""":math:`\lambda \sum_i w_i h_\delta(x_i)`, :math:`h_\delta(x) = x^2 / (2\delta)` for
    :math:`|x| \le \delta`, :math:`|x| - \delta / 2` beyond: l1 far from 0, l2 near it."""

    delta: Any = 1.0
    weights: Any = None
    name: ClassVar[str] = "huber_penalty"
    elementwise: ClassVar[bool] = True
    positively_homogeneous: ClassVar[bool] = False

    def unscaled_value(self, x, w):
        a = jnp.abs(x)
        h = jnp.where(a <= self.delta, a * a / (2 * self.delta), a - self.delta / 2)
        return jnp.sum(h if w is None else w * h)

    def prox_leaf(self, z, t, strength):
        tau = t * strength
        inside = jnp.abs(z) <= self.delta + tau
        return jnp.where(inside, z * self.delta / (self.delta + tau), z - tau * jnp.sign(z))


@penalty_class
class L1Ridge(Term):
    r""":math:`\lambda \sum_i (|x_i| + \frac{\gamma}{2} x_i^2)`: an elastic net by another
    parametrization; its `l1_l2_split` gives it the least-squares solver, the duality gap and
    the converters."""

    gamma: Any = 1.0
    name: ClassVar[str] = "l1_ridge"
    elementwise: ClassVar[bool] = True
    positively_homogeneous: ClassVar[bool] = False

    def unscaled_value(self, x, w):
        return jnp.sum(jnp.abs(x) + self.gamma / 2 * x * x)

    def prox_leaf(self, z, t, strength):
        return (
            jnp.sign(z)
            * jnp.maximum(jnp.abs(z) - t * strength, 0)
            / (1 + t * strength * self.gamma)
        )

    def l1_l2_split(self):
        return self.strength, self.strength * self.gamma


@dataclasses.dataclass(frozen=True)
class LogCosh(Datafit):
    r""":math:`\log\cosh(z - y)`: squared near the fit, absolute far from it."""

    name: ClassVar[str] = "log_cosh"
    curvature_bound: ClassVar[float | None] = 1.0

    def value(self, z, y):
        r = jnp.abs(z - y)
        return r + jnp.log1p(jnp.exp(-2 * r)) - jnp.log(2.0)

    def derivative(self, z, y):
        return jnp.tanh(z - y)

    def curvature(self, z, y):
        return 1 - jnp.tanh(z - y) ** 2

    def null_intercept(self, y, sn):
        return jnp.sum(sn * y)


# -- the references ---------------------------------------------------------------------------


def fista(grad, prox, lipschitz, x0, *, iters=200_000, tol=1e-15):
    """FISTA with gradient restarts (O'Donoghue & Candes 2015) to its fixed point."""
    x, y, t = x0.copy(), x0.copy(), 1.0
    for _ in range(iters):
        x_new = prox(y - grad(y) / lipschitz, 1 / lipschitz)
        if np.max(np.abs(x_new - x)) <= tol * max(1.0, np.max(np.abs(x_new))):
            return x_new
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        if np.dot(y - x_new, x_new - x) > 0:  # restart
            t_new, y = 1.0, x_new
        else:
            y = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    raise AssertionError("the reference did not converge")


def reference_fit(X, y, loss_grad, curvature, coef_prox):
    """``argmin mean(loss(X w + b, y)) + pen(w)`` in NumPy, ``x = (w, b)``."""
    n, p = X.shape
    Xb = np.hstack([X, np.ones((n, 1))])

    def grad(x):
        return Xb.T @ loss_grad(Xb @ x, y) / n

    def prox(x, t):
        return np.append(coef_prox(x[:p], t), x[p])

    lipschitz = curvature * np.linalg.norm(Xb, 2) ** 2 / n
    x = fista(grad, prox, lipschitz, np.zeros(p + 1))
    return x[:p], x[p]


def data(n=60, p=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    w = np.array([3.0, -2.0, 0.0, 0.0, 1.5, 0.0, 0.5, 0.0])[:p]
    y = X @ w + 0.5 + rng.standard_t(2, size=n)  # heavy tails: the robust loss's use
    return X, y


def huber_prox(z, tau, delta):
    return np.where(np.abs(z) <= delta + tau, z * delta / (delta + tau), z - tau * np.sign(z))


# -- the tests --------------------------------------------------------------------------------


def test_the_added_kind_has_its_prox_and_value_eagerly_and_under_jit():
    pen = HuberPenalty(strength=0.7, delta=0.5)
    z = jnp.asarray(np.linspace(-3, 3, 13))
    expected = huber_prox(np.asarray(z), 0.7 * 0.4, 0.5)
    for prox in (pen.prox, jax.jit(pen.prox)):
        assert_close(np.asarray(prox(z, 0.4)), expected, rtol=1e-12, atol=1e-15)
    a = np.abs(np.asarray(z))
    value = 0.7 * np.sum(np.where(a <= 0.5, a * a, a - 0.25))  # x^2 / (2 * 0.5), |x| - 0.5 / 2
    assert_close(float(jax.jit(lambda pen: pen(z))(pen)), value, rtol=1e-12)


def test_the_added_kind_fits_with_jr_linear():
    X, y = data()
    pen = HuberPenalty(strength=0.3, delta=0.4)
    res = jr.linear.fit(X, y, pen, tol=1e-13, max_iter=500)
    ref_w, ref_b = reference_fit(
        X, y, lambda z, y: z - y, 1.0, lambda v, t: huber_prox(v, 0.3 * t, 0.4)
    )
    assert bool(res.converged)
    assert_close(np.asarray(res.coef), ref_w, rtol=0, atol=1e-8)
    assert_close(float(res.intercept), ref_b, rtol=0, atol=1e-8)


def test_a_kind_with_an_l1_l2_split_gets_the_gap_and_the_converters():
    X, y = data(seed=1)
    pen = L1Ridge(strength=0.2, gamma=3.0)
    res = jr.linear.fit(X, y, pen, tol=1e-12)
    ref_w, ref_b = reference_fit(
        X, y, lambda z, y: z - y, 1.0,
        lambda v, t: np.sign(v) * np.maximum(np.abs(v) - 0.2 * t, 0) / (1 + 0.2 * 3.0 * t),
    )  # fmt: skip
    assert bool(res.converged) and 0 <= float(res.gap) <= 1e-12  # a duality gap, certified

    def objective(w, b):
        r = X @ w + b - y
        return np.mean(r * r) / 2 + 0.2 * np.sum(np.abs(w)) + 0.2 * 3.0 / 2 * np.sum(w * w)

    # the gap certifies the objective to ~1e-14 of it; the coefficients then within
    # sqrt(2 gap / mu) (mu = 0.6, the l2 part): 1e-7 here, not the residual's 1e-8
    fit_w, fit_b = np.asarray(res.coef), float(res.intercept)
    assert_close(objective(fit_w, fit_b), objective(ref_w, ref_b), rtol=1e-13)
    assert_close(fit_w, ref_w, rtol=0, atol=1e-6)
    assert_close(fit_b, ref_b, rtol=0, atol=1e-6)
    # the converters read the split: l1 0.2 and l2 0.6 are ElasticNet(0.8, 0.25), Keras's
    # L1L2(0.2, 0.3)
    est = jr.conventions.to_sklearn(pen, ElasticNet)
    assert_close(np.array([est.alpha, est.l1_ratio]), np.array([0.8, 0.25]), rtol=1e-15)
    config = jr.conventions.to_keras_config(pen)["config"]
    assert_close(np.array([config["l1"], config["l2"]]), np.array([0.2, 0.3]), rtol=1e-15)


def test_the_added_loss_fits_with_the_internal_driver():
    X, y = data(seed=2)
    datafit = LogCosh()
    cases = [
        (jr.l1(0.05), lambda v, t: np.sign(v) * np.maximum(np.abs(v) - 0.05 * t, 0)),
        (HuberPenalty(strength=0.1, delta=0.3), lambda v, t: huber_prox(v, 0.1 * t, 0.3)),
    ]
    for pen, coef_prox in cases:
        cols, yj, s, _, p, dtype = prepare(X, y, None, datafit, None)
        w0, b0 = initial_point(None, p, dtype)
        res = fit_compiled(
            cols, yj, s, pen, w0, b0, 1e-13, options=SolverOptions(datafit, max_iter=500)
        )
        ref_w, ref_b = reference_fit(X, y, lambda z, y: np.tanh(z - y), 1.0, coef_prox)
        assert bool(res.converged), pen
        assert_close(np.asarray(res.coef), ref_w, rtol=0, atol=1e-8, what=repr(pen))
        assert_close(float(res.intercept), ref_b, rtol=0, atol=1e-8, what=repr(pen))
