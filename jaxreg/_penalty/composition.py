"""Prox composition: the proximal map of a sum of terms on one leaf, from each kind's own map.

`Penalty.prox` checks the steps and calls `leaf_prox` on every penalized leaf; the solvers
(`jaxreg.linear`) call `leaf_prox` directly on their coefficients. Centred terms
(``center=c``) are exact: see `leaf_prox`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
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


class NoClosedFormProx(NotImplementedError):
    """Two non-quadratic kinds on one leaf whose sum has no closed-form prox (raised while
    tracing: callers that know the penalty as given may name it)."""


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


def same_center(a: Any, b: Any) -> bool:
    """Whether two terms' centers on one leaf are one point: None (0) for both, one object,
    or equal concrete values. Traced centers are compared by identity only."""
    if a is None or b is None:
        return a is None and b is None
    if a is b:
        return True
    if isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer):
        return False
    return np.shape(a) == np.shape(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))


def leaf_prox(
    x: jax.Array, t: Any, parts: Sequence[tuple[Term, Any] | tuple[Term, Any, Any]], path: str
) -> jax.Array:
    r"""The prox of ``t * (g + quadratic)`` on one leaf; computed upcast, returned in x's dtype.

    ``parts``: ``(kind, weight or None, center or None)`` triples (the center may be left out:
    0), every elementary kind that penalizes the leaf (`Term.parts`): the quadratic ones (l2)
    add up, the others must be one kind that merges, at one center :math:`c`; an orthant
    projection (non_negative) applies last, beside convex elementwise kinds only. Centred
    terms are exact: in :math:`u = z - c` the prox of :math:`g(u) + \sum_k \frac{b_k}{2}
    \lVert u - (c_k - c)\rVert^2` is that of :math:`g + \frac{B}{2}\lVert u\rVert^2`
    (:math:`B = \sum_k b_k`) at :math:`u + t \sum_k b_k (c_k - c)`, and
    :math:`\mathrm{prox}_{g(\cdot - c)}(z) = c + \mathrm{prox}_g(z - c)`.
    """
    orthants = [entry[0] for entry in parts if entry[0].orthant_projection]
    if not orthants:
        return _norms_leaf_prox(x, t, parts, path)
    norms = [entry for entry in parts if not entry[0].orthant_projection]
    for part, *_ in norms:
        if not (part.quadratic or (part.elementwise and part.positively_homogeneous)):
            raise NotImplementedError(
                f"no closed-form prox for {part!r} + {orthants[0]!r} on the same leaf "
                f"'{path}' ({orthants[0].name} composes with l1, l2 and elastic_net); give "
                "the terms disjoint masks."
            )
    # prox of g + the orthant's indicator = projection of prox_g for g convex and elementwise
    # (centred or not): each coordinate's problem is 1-D and convex, so its minimizer over
    # x_i >= 0 is the unconstrained one clipped at 0
    z = _norms_leaf_prox(x, t, norms, path) if norms else x
    for part in orthants:
        z = part.prox_leaf(z, t, part.strength)
    return z


def _norms_leaf_prox(
    x: jax.Array, t: Any, parts: Sequence[tuple[Term, Any] | tuple[Term, Any, Any]], path: str
) -> jax.Array:
    z = nx.upcast(x)
    t = jnp.asarray(t, z.dtype)
    quads: list[tuple[Any, Any]] = []  # (strength times weight, center)
    weighted_quad = False
    # the non-quadratic part: (kind, strength times weight, weight, strength, center)
    nonquad: tuple[Any, ...] | None = None
    apart: list[tuple[Any, Any]] = []  # traced centers merged on the promise they are equal
    for part, w, *rest in parts:
        center = rest[0] if rest else None
        if not isinstance(part.strength, jax.core.Tracer) and np.all(
            np.asarray(part.strength) == 0
        ):
            continue  # e.g. the l1 part of elastic_net(s, 0.0): no threshold to apply
        coef = nx.checked_hyperparameter(part.strength, z.dtype)
        if w is not None:
            coef = coef * nx.checked_hyperparameter(w, z.dtype)
        if part.quadratic:  # b / 2 * ||z - c||^2: divides the result by 1 + t b
            quads.append((coef, center))
            weighted_quad = weighted_quad or w is not None
        elif nonquad is None:
            strength = nx.checked_hyperparameter(part.strength, z.dtype)
            nonquad = (part, coef, w, strength, center)
        elif nonquad[0].merges_with(part) and (
            same_center(nonquad[4], center) or _traced_centers(nonquad[4], center)
        ):
            if not same_center(nonquad[4], center):  # equal or not: known only at run time
                apart.append((nonquad[4], center))
            nonquad = (nonquad[0], nonquad[1] + coef, None, None, nonquad[4])
        else:
            why = " at different centers" if nonquad[0].merges_with(part) else ""
            raise NoClosedFormProx(
                f"no closed-form prox for {nonquad[0]!r} + {part!r}{why} on the same leaf "
                f"'{path}'; give the terms disjoint masks{' or one center' if why else ''}."
            )
    quad: Any = 0.0
    for coef, _ in quads:
        quad = quad + coef
    # centred terms: work in u = z - c (c: the non-quadratic part's center); each quadratic
    # centred elsewhere adds a constant pull t * b_k * (c_k - c)
    c_g = None if nonquad is None or nonquad[4] is None else jnp.asarray(nonquad[4], z.dtype)
    if c_g is not None:
        z = z - c_g
    pull: Any = None
    for coef, center in quads:
        if (c_g is None and center is None) or (nonquad is not None and center is nonquad[4]):
            continue
        offset = (0.0 if center is None else jnp.asarray(center, z.dtype)) - (
            0.0 if c_g is None else c_g
        )
        pull = coef * offset if pull is None else pull + coef * offset
    if nonquad is not None and not nonquad[0].positively_homogeneous:
        # prox of t (g + b/2 z^2) = prox of t / (1 + t b) g at z / (1 + t b): exact for any g
        # (the division after the prox below holds for positively homogeneous g only)
        part, coef, w, strength, _ = nonquad
        if pull is not None:
            z = z + t * pull
        c = 1 + t * quad
        if part.linear_in_strength:
            z = part.prox_leaf(z / c, t / c, coef)
        else:  # the weight multiplies the element's penalty: it folds into the step
            z = part.prox_leaf(z / c, t * nx.weight_or_one(w, z.dtype) / c, strength)
        return _nan_where_apart(z if c_g is None else z + c_g, apart).astype(x.dtype)
    t_used = t if nonquad is None else nonquad[0].prox_step(t)
    if pull is not None:  # a group kind's mean step: the pull uses the step its prox uses
        z = z + t_used * pull
    if nonquad is not None:
        if weighted_quad and not nonquad[0].elementwise:
            raise NotImplementedError(
                f"no closed-form prox for a weighted l2 with {nonquad[0].name} on the same leaf "
                f"'{path}': the L2 weight must be the same within each group."
            )
        z = nonquad[0].prox_leaf(z, t, nonquad[1])
    z = z / (1 + t_used * quad)
    return _nan_where_apart(z if c_g is None else z + c_g, apart).astype(x.dtype)


def _traced_centers(a: Any, b: Any) -> bool:
    """Two centers whose equality is known only at run time (a penalty passed through jit)."""
    return (
        a is not None
        and b is not None
        and (isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer))
    )


def _nan_where_apart(z: jax.Array, apart: list[tuple[Any, Any]]) -> jax.Array:
    """NaN (not a wrong prox) where traced centers that were merged turn out to differ."""
    for a, b in apart:
        differ = jnp.broadcast_to(jnp.asarray(a, z.dtype) != jnp.asarray(b, z.dtype), z.shape)
        z = jnp.where(jnp.any(differ), jnp.nan, z)
    return z
