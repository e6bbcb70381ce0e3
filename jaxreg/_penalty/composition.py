"""Prox composition: the proximal map of a sum of terms on one leaf, from each kind's own map.

`Penalty.prox` checks the steps and calls `leaf_prox` on every penalized leaf; the solvers
(`jaxreg.linear`) call `leaf_prox` directly on their coefficients.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, cast

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np

from .. import _numerics as nx
from .._trees import broadcast_prefix
from .._typing import PyTree
from .validation import check_scalar

if TYPE_CHECKING:  # types.py calls leaf_prox: importing Term at run time would be a cycle
    from .types import Term


def is_scalar(x: Any) -> bool:
    return (
        isinstance(x, numbers.Number | jax.Array | np.ndarray | np.generic)
        and np.ndim(cast(Any, x)) == 0
    )


def leaf_steps(step: Any, params: PyTree, n: int) -> list[Any]:
    if is_scalar(step):
        check_scalar(step, "step")
        return [step] * n
    return broadcast_prefix(step, params, name="step", none_is_leaf=True)


def checked_leaf_step(t: Any, x: jax.Array, path: str) -> Any:
    if not (is_scalar(t) or isinstance(t, jax.Array | np.ndarray)):
        raise TypeError(
            f"step for the leaf at '{path or '<root>'}' must be a number or an array; got "
            f"{type(t).__name__} {t!r}."
        )
    if np.shape(t) not in ((), x.shape):
        raise ValueError(
            f"step for the leaf at '{path or '<root>'}' has shape {np.shape(t)}; it must be a "
            f"scalar or have the leaf's shape {x.shape}."
        )
    if isinstance(t, jax.core.Tracer):
        return nx.checked_hyperparameter(t)
    host = np.asarray(t)
    if not np.all(np.isfinite(host)) or np.any(host < 0):
        raise ValueError(
            f"step must be finite and >= 0; the step for the leaf at '{path or '<root>'}' has "
            f"{'NaN/inf' if not np.all(np.isfinite(host)) else 'negative'} entries."
        )
    return t


def leaf_prox(x: jax.Array, t: Any, parts: list[tuple[Term, Any]], path: str) -> jax.Array:
    """The prox of ``t * (g + quadratic)`` on one leaf; computed upcast, returned in x's dtype.

    ``parts``: ``(kind, weight or None)`` pairs, every elementary kind that penalizes the leaf
    (`Term.parts`): the quadratic ones (l2) add up, the others must be one kind that merges,
    and an orthant projection (non_negative) applies last, beside elementwise norms only.
    """
    orthants = [part for part, _ in parts if part.orthant_projection]
    if not orthants:
        return _norms_leaf_prox(x, t, parts, path)
    norms = [(part, w) for part, w in parts if not part.orthant_projection]
    for part, _ in norms:
        if not (part.quadratic or (part.elementwise and part.positively_homogeneous)):
            raise NotImplementedError(
                f"no closed-form prox for {part!r} + {orthants[0]!r} on the same leaf "
                f"'{path}' ({orthants[0].name} composes with l1, l2 and elastic_net); give "
                "the terms disjoint masks."
            )
    # prox of g + the orthant's indicator = projection of prox_g, for g even and
    # nondecreasing in |x| elementwise (for x_i of the wrong sign 0 beats any x_i of the right)
    z = _norms_leaf_prox(x, t, norms, path) if norms else x
    for part in orthants:
        z = part.prox_leaf(z, t, part.strength)
    return z


def _norms_leaf_prox(x: jax.Array, t: Any, parts: list[tuple[Term, Any]], path: str) -> jax.Array:
    z = nx.upcast(x)
    t = jnp.asarray(t, z.dtype)
    quad: Any = 0.0
    weighted_quad = False
    # the non-quadratic part: (kind, strength times weight, weight, strength)
    nonquad: tuple[Any, ...] | None = None
    for part, w in parts:
        if not isinstance(part.strength, jax.core.Tracer) and np.all(
            np.asarray(part.strength) == 0
        ):
            continue  # e.g. the l1 part of elastic_net(s, 0.0): no threshold to apply
        coef = nx.checked_hyperparameter(part.strength, z.dtype)
        if w is not None:
            coef = coef * nx.checked_hyperparameter(w, z.dtype)
        if part.quadratic:  # b / 2 * ||z||^2: divides the result by 1 + t b
            quad = quad + coef
            weighted_quad = weighted_quad or w is not None
        elif nonquad is None:
            nonquad = (part, coef, w, nx.checked_hyperparameter(part.strength, z.dtype))
        elif nonquad[0].merges_with(part):
            nonquad = (nonquad[0], nonquad[1] + coef, None, None)
        else:
            raise NotImplementedError(
                f"no closed-form prox for {nonquad[0]!r} + {part!r} on the same leaf "
                f"'{path}'; give the terms disjoint masks."
            )
    if nonquad is not None and not nonquad[0].positively_homogeneous:
        # prox of t (g + b/2 z^2) = prox of t / (1 + t b) g at z / (1 + t b): exact for any g
        # (the division after the prox below holds for positively homogeneous g only)
        part, coef, w, strength = nonquad
        c = 1 + t * quad
        if part.linear_in_strength:
            z = part.prox_leaf(z / c, t / c, coef)
        else:  # the weight multiplies the element's penalty: it folds into the step
            z = part.prox_leaf(z / c, t * nx.weight_or_one(w, z.dtype) / c, strength)
        return z.astype(x.dtype)
    t_used = t
    if nonquad is not None:
        if weighted_quad and not nonquad[0].elementwise:
            raise NotImplementedError(
                f"no closed-form prox for a weighted l2 with {nonquad[0].name} on the same leaf "
                f"'{path}': the L2 weight must be the same within each group."
            )
        z, t_used = nonquad[0].prox_leaf(z, t, nonquad[1]), nonquad[0].prox_step(t)
    return (z / (1 + t_used * quad)).astype(x.dtype)
