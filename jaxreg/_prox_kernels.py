"""Proximal kernels: closed-form maps on one array, shared by the kinds' `prox_leaf` methods.

``P(x, tau) = argmin_z 1/2 ||z - x||^2 + tau * g(z)`` for ``g`` the L1 norm, a sum of group
norms, the nuclear norm, the lq quasi-norm (q = 1/2, 2/3) and the sorted L1 norm (through its
isotonic projection). Exact zeros come out as exact zeros. NaN propagates: thresholds test
``norm <= tau``, which is False for NaN. How the kinds' maps combine with an L2 part lives in
`jaxreg._penalty.composition`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from . import _numerics as nx


def soft_threshold(x: jax.Array, tau: jax.Array) -> jax.Array:
    """``sign(x) * max(|x| - tau, 0)``: the prox of ``tau * |.|``; +0.0 where thresholded."""
    return jnp.where(jnp.abs(x) <= tau, 0.0, x - jnp.sign(x) * tau)


def block_soft_threshold(x: jax.Array, tau: jax.Array, axis: tuple[int, ...]) -> jax.Array:
    """``x_g * max(1 - tau / ||x_g||, 0)`` per group: the prox of ``tau * sum_g ||x_g||``.

    Zero-safe: a group with ``||x_g|| <= tau`` (including an all-zero group) becomes exactly 0
    without dividing by its norm.
    """
    norms = nx.safe_sqrt(jnp.sum(x * x, axis=axis, keepdims=True))
    small = norms <= tau
    scale = jnp.where(small, 0.0, 1.0 - tau / jnp.where(small, 1.0, norms))
    return jnp.where(small, 0.0, x * scale)  # +0.0, not x * 0 = -0.0 for negative x


def singular_value_threshold(m: jax.Array, tau: jax.Array) -> jax.Array:
    """``U max(S - tau, 0) V^T`` of a matrix: the prox of ``tau * ||.||_*``."""
    u, s, vt = jnp.linalg.svd(m, full_matrices=False)
    out = jnp.dot(u * jnp.maximum(s - tau, 0.0), vt, precision=jax.lax.Precision.HIGHEST)
    return jnp.where(out == 0, 0.0, out)  # +0.0: a sum of 0 * (-x) terms is -0.0


def keep_nan(z: jax.Array, out: jax.Array) -> jax.Array:
    """``out``, with the NaNs of ``z`` put back (a prox must not turn NaN into 0)."""
    return jnp.where(jnp.isnan(z), z, out)


def harmonic_mean(t: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``1 / mean(1 / t)`` over ``axes`` (kept): for steps ``lr / D``, ``lr / mean(D)``.

    The arithmetic mean of ``lr / D`` would let one weight with ``D ~ eps`` (a zero gradient
    under Adam) make the whole group's step huge and zero it; a zero step stays 0.
    """
    return 1.0 / jnp.mean(1.0 / t, axis=axes, keepdims=True)


def decreasing_isotonic(w: jax.Array) -> jax.Array:
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


def lq_threshold(z: jax.Array, u: jax.Array, q: float) -> jax.Array:
    """The prox of ``u * |.|^q`` for q in {1/2, 2/3}: the global minimizer, elementwise."""
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
    a = jnp.abs(z)
    wide = z.dtype == jnp.float64
    newton = 2 if wide else 1
    if q == 0.5:
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
    return keep_nan(z, jnp.where(keep & (u > 0), out, jnp.where(u > 0, 0.0, z)))
