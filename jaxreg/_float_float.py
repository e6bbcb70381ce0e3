"""Float-float ("double-float") arithmetic: float64-grade scalars in float32, without x64.

PyTorch computes an optimizer's scalars (Adam's ``lr / (1 - beta1**t)``, ``(1 - beta2**t) **
0.5``, AdamW's ``1 - lr * weight_decay``, Adagrad's decayed rate) in Python floats, and each
enters a float32 tensor op as the float32 nearest to its float64 value. With JAX's default
(``jax_enable_x64`` off) there is no float64 under ``jit``; this module computes those values as
the unevaluated sum ``hi + lo`` of two float32s, ``|lo| <= ulp(hi) / 2`` (about 48 significant
bits), from error-free transformations, and rounds once at the end (`to_float`).

The error-free transformations (Dekker 1971; Knuth, TAOCP vol. 2, 4.2.2; the QD library of
Hida, Li and Bailey for the float-float operations built on them):

- ``two_sum(a, b) = (s, e)``: ``s = fl(a + b)`` and ``e = a + b - s`` exactly (6 flops, any
  order of magnitude);
- ``split(a) = (h, l)``: ``a = h + l`` with ``h`` and ``l`` of 12 significant bits each, so
  that every product of two halves is exact in float32;
- ``two_prod(a, b)``: ``a b`` as the float-float sum of those four exact products. XLA contracts
  ``c - a * b`` into a fused multiply-add (rounded once): with every product exact, that changes
  nothing in an error-free step. XLA also reassociates sums with a constant (``(b + 1) - 1``
  becomes ``b``): constants enter through an optimization barrier (`_opaque`).

Each float-float operation below has a relative error of a few ``2**-48``. ``1 - beta**t`` is
computed as ``-expm1(t log beta)`` with ``log beta`` known to float-float precision (from Python's
`decimal` for a constant beta): its relative error stays a few ``2**-48`` for every ``t``, where
repeated squaring would multiply ``beta``'s own representation error by ``t`` (``0.9999**t`` for
``t`` near 10**4 would lose 12 of the 24 spare bits). The float32 result then differs from
float64's rounded value only when float64's value lies within about ``2**-45`` (relative) of a
midpoint between two float32s (then float64's own rounding decides, which 48 bits cannot
follow): tests/test_float32_torch.py checks 2.9 million values under ``jit``, all torch's float32
but for such ties.

Every function is jit-able, on traced or concrete float32 scalars (or arrays, elementwise).
"""

from __future__ import annotations

import decimal
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

_F32 = jnp.float32


class FloatFloat(NamedTuple):
    """The real number ``hi + lo`` (both float32, ``|lo| <= ulp(hi) / 2``)."""

    hi: Any
    lo: Any


def _opaque(hi: Any, lo: Any) -> FloatFloat:
    """The pair as values XLA computes with as written: its simplifier reassociates sums with
    a constant (``(b + 1) - 1`` becomes ``b``), which would erase ``two_sum``'s error term."""
    hi, lo = jax.lax.optimization_barrier((jnp.asarray(hi, _F32), jnp.asarray(lo, _F32)))
    return FloatFloat(hi, lo)


def constant(x: float) -> FloatFloat:
    """A Python float (a float64) as the float-float nearest to it (48 of its 53 bits)."""
    hi = np.float32(x)
    return _opaque(hi, np.float32(x - np.float64(hi)))


def exact(x: Any) -> FloatFloat:
    """A float32 value (traced or not), exactly: ``(x, 0)``."""
    x = jnp.asarray(x, _F32)
    return _opaque(x, jnp.zeros_like(x))


def to_float(x: FloatFloat, dtype: Any = _F32) -> Any:
    """``x`` rounded once to float32 (``hi`` is already ``fl(hi + lo)``), then to ``dtype``."""
    return x.hi.astype(dtype)


def _two_sum(a: Any, b: Any) -> FloatFloat:
    s = a + b
    b_virtual = s - a
    return FloatFloat(s, (a - (s - b_virtual)) + (b - b_virtual))


def _fast_two_sum(a: Any, b: Any) -> FloatFloat:
    """``two_sum`` for ``|a| >= |b|`` (or ``a == 0``): 3 flops."""
    s = a + b
    return FloatFloat(s, b - (s - a))


def _split(a: Any) -> tuple[Any, Any]:
    """``a = high + low``, each of 12 significant bits: ``high`` is ``a`` with the last 12 of
    its 23 stored mantissa bits cleared (integer masking, where Dekker's ``c - (c - a)``, ``c =
    4097 a``, would change if XLA contracted ``c - a`` into a fused multiply-add)."""
    bits = jax.lax.bitcast_convert_type(a, jnp.int32)
    high = jax.lax.bitcast_convert_type(bits & jnp.int32(-4096), _F32)
    return high, a - high


def _two_prod(a: Any, b: Any) -> FloatFloat:
    """``a b`` as ``hi + lo`` to about ``2**-48``, from the four exact products of the halves.

    Not Dekker's ``p = fl(a b)``, ``e = a b - p``: XLA duplicates ``a * b`` into the fusion of
    ``... - p`` and contracts it into a fused multiply-add (measured on CPU), which makes ``e``
    wrong. Here every product is exact, so a contraction rounds nothing differently."""
    ah, al = _split(a)
    bh, bl = _split(b)
    s, e1 = _two_sum(ah * bh, ah * bl)
    s, e2 = _two_sum(s, al * bh)
    return _fast_two_sum(s, (e1 + e2) + al * bl)


def add(x: FloatFloat, y: FloatFloat) -> FloatFloat:
    """``x + y`` (QD's accurate addition: the two halves summed error-free, then renormalized)."""
    s, e = _two_sum(x.hi, y.hi)
    t, f = _two_sum(x.lo, y.lo)
    s, e = _fast_two_sum(s, e + t)
    return _fast_two_sum(s, e + f)


def neg(x: FloatFloat) -> FloatFloat:
    return FloatFloat(-x.hi, -x.lo)


def sub(x: FloatFloat, y: FloatFloat) -> FloatFloat:
    return add(x, neg(y))


def mul(x: FloatFloat, y: FloatFloat) -> FloatFloat:
    """``x * y``: the exact product of the highs plus the cross terms (``lo * lo`` is below the
    precision)."""
    p, e = _two_prod(x.hi, y.hi)
    return _fast_two_sum(p, e + (x.hi * y.lo + x.lo * y.hi))


def div(x: FloatFloat, y: FloatFloat) -> FloatFloat:
    """``x / y``: three quotient digits, each from the remainder of the previous ones."""
    q1 = x.hi / y.hi
    r = sub(x, mul(y, exact(q1)))
    q2 = r.hi / y.hi
    r = sub(r, mul(y, exact(q2)))
    q3 = r.hi / y.hi
    return add(_fast_two_sum(q1, q2), exact(q3))


def sqrt(x: FloatFloat) -> FloatFloat:
    """``sqrt(x)`` for ``x > 0``: from the float32 root ``s``, ``sqrt(x) = s + d`` with
    ``2 s d + d**2 = x - s**2``, so ``d = q - q**2 / (2 s)`` to third order, ``q = (x - s**2) /
    (2 s)``, with ``x - s**2`` exact. (Newton's step alone, ``s + q``, is off by ``q**2 / (2 s)``,
    up to ``2**-51``: enough to round ``sqrt(1 - 2**-24)`` the wrong way.)"""
    s = jnp.sqrt(x.hi)
    p, e = _two_prod(s, s)
    residual = add(_two_sum(x.hi - p, -e), exact(x.lo))  # x.hi - p is exact (Sterbenz)
    q = div(residual, exact(2.0 * s))
    return add(exact(s), sub(q, exact(q.hi * q.hi / (2.0 * s))))


def _decimal_pair(d: decimal.Decimal) -> tuple[np.float32, np.float32]:
    hi = np.float32(float(d))
    return hi, np.float32(float(d - decimal.Decimal(float(hi))))


_CONTEXT = decimal.Context(prec=40)
_LN2 = _decimal_pair(_CONTEXT.ln(decimal.Decimal(2)))
# expm1(r) = r * sum_k r**k / (k + 1)!, |r| <= ln(2) / 2: 14 terms reach 2**-55
_EXPM1_TERMS = [_decimal_pair(_CONTEXT.divide(1, math.factorial(k + 1))) for k in range(14)]
# below it exp(y) < 2**-115, so 1 - exp(y) rounds to 1 in float32 whatever follows
_EXP_FLOOR = -80.0


def log_constant(x: float) -> FloatFloat:
    """``log(x)`` of a Python float ``x > 0`` (``0`` gives ``-100``: ``x**t`` is 0 to float32
    precision), computed in 40-digit decimal and then rounded to float-float."""
    if x == 0:
        return exact(-100.0)
    return _opaque(*_decimal_pair(_CONTEXT.ln(decimal.Decimal(x))))


def log(x: Any) -> FloatFloat:
    """``log(x)`` of a float32 ``x > 0`` (traced), ``0`` gives ``-100``: from ``y = fl(log x)``,
    ``log x = y + log1p(d)`` with ``d = x exp(-y) - 1`` of order ``2**-23``, so
    ``log1p(d) = d - d**2 / 2`` to ``2**-69``."""
    x = jnp.asarray(x, _F32)
    positive = x > 0
    y = jnp.log(jnp.where(positive, x, 1.0))
    # d = (x - exp(y)) / exp(y) with exp(y) = 1 + expm1(y): the error of expm1(y) is relative
    # to it, of the order of log x, not to 1, which keeps log x's relative error a few 2**-48
    exp_y_minus_1 = expm1(exact(y))
    one = exact(jnp.ones_like(x))
    d = div(sub(sub(exact(x), one), exp_y_minus_1), add(exp_y_minus_1, one))
    out = add(exact(y), sub(d, exact(0.5 * d.hi * d.hi)))
    return FloatFloat(jnp.where(positive, out.hi, -100.0), jnp.where(positive, out.lo, 0.0))


def expm1(y: FloatFloat) -> FloatFloat:
    """``exp(y) - 1`` for ``y < 88`` (float32's range): ``y = k ln 2 + r``
    with ``|r| <= ln(2) / 2``, then ``exp(y) - 1 = 2**k expm1(r) + (2**k - 1)``, with
    ``expm1(r)`` by its Taylor series (no cancellation at ``k = 0``, a factor at most 3 after)."""
    floor = y.hi < _EXP_FLOOR
    y = FloatFloat(jnp.where(floor, _EXP_FLOOR, y.hi), jnp.where(floor, 0.0, y.lo))
    k = jnp.round(y.hi / _LN2[0])
    r = sub(y, mul(exact(k), _opaque(*_LN2)))
    series = _opaque(*_EXPM1_TERMS[-1])
    for term in reversed(_EXPM1_TERMS[:-1]):
        series = add(mul(series, r), _opaque(*term))
    em1 = mul(series, r)
    scale = jnp.ldexp(jnp.ones_like(k), k.astype(jnp.int32))  # 2**k, exactly
    return add(FloatFloat(em1.hi * scale, em1.lo * scale), add(exact(scale), exact(-1.0)))


def one_minus_power(log_base: FloatFloat, t: Any) -> FloatFloat:
    """``1 - base**t = -expm1(t log base)`` for ``t >= 1`` (a float32 integer, traced), from
    ``log_base`` (`log_constant` or `log`)."""
    return neg(expm1(mul(exact(t), log_base)))
