"""Evaluation helpers: a term's value summed over its leaves, small leaves batched, centred
terms on ``x - c``.

`Penalty.__call__` and `Penalty.per_leaf` use these; each reduction runs in the accumulation
dtype (`jaxreg._numerics.acc_dtype`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from .._numerics import checked_hyperparameter, upcast

if TYPE_CHECKING:  # types.py calls these helpers: importing Term at run time would be a cycle
    from .types import Term


#: Leaves with fewer elements are concatenated (per dtype) before an elementwise reduction,
#: at most CONCAT_CHUNK leaves per buffer: thousands of separate reductions take XLA minutes to
#: compile, while concatenating mid-size leaves costs a copy (benchmarks/README.md).
SMALL_LEAF = 1 << 12
CONCAT_CHUNK = 256


def shifted(x: Any, c: Any) -> jax.Array:
    """The leaf as a centred term sees it, ``x - c`` in the accumulation dtype; ``x`` itself
    (untouched: uncentred values stay bit-identical) when ``c`` is None."""
    x = jnp.asarray(x)
    if c is None:
        return x
    z = upcast(x)
    return z - jnp.asarray(c, z.dtype)


def batched_unscaled_values(term: Term, xs: list[jax.Array]) -> list[jax.Array]:
    """Unscaled values of an elementwise kind: big leaves one by one, small ones batched."""
    values = [term.unscaled_value(x, None) for x in xs if x.size >= SMALL_LEAF]
    small: dict[Any, list[jax.Array]] = {}
    for x in xs:
        if x.size < SMALL_LEAF:
            small.setdefault(x.dtype, []).append(x.ravel())
    for group in small.values():
        for i in range(0, len(group), CONCAT_CHUNK):
            chunk = group[i : i + CONCAT_CHUNK]
            values.append(
                term.unscaled_value(chunk[0] if len(chunk) == 1 else jnp.concatenate(chunk), None)
            )
    return values


def scaled_sum(term: Term, values: list[jax.Array]) -> jax.Array:
    """The term's value from its unscaled values on some leaves: their sum times the strength."""
    dtype = jnp.result_type(*(r.dtype for r in values))
    value = values[0] if len(values) == 1 else jnp.sum(jnp.stack([r.astype(dtype) for r in values]))
    return (
        checked_hyperparameter(term.strength, dtype) * value if term.linear_in_strength else value
    )


def total(parts: list[jax.Array]) -> jax.Array:
    """The sum of the terms' values in their widest dtype; 0.0 (float32) for no term."""
    if not parts:
        return jnp.zeros((), jnp.float32)
    dtype = jnp.result_type(*(p.dtype for p in parts))
    return parts[0] if len(parts) == 1 else jnp.sum(jnp.stack([p.astype(dtype) for p in parts]))
