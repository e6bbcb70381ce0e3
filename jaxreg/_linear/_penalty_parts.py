r"""The one adapter from jaxreg's penalty kinds to what the coordinate solvers need.

Every place where `jaxreg.linear` touches a kind is here: which kinds it takes, their prox on
a block of coefficients, their value, and the split of an l1 / group lasso / l2 / elastic-net
penalty into per-block coefficients :math:`h_j(v) = a_j \lVert v\rVert + \frac{b_j}{2}
\lVert v\rVert^2` (the fast block prox, the dual norm and the conjugate of the duality gap).
The solvers call `BlockPenalty`'s and `L1L2Split`'s methods and never name a kind.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._kinds.group import GroupLasso
from .._numerics import checked_hyperparameter as checked
from .._penalty import Penalty, Term, leaf_prox, reject_centred, resolve_terms


def soft_threshold(v: Any, threshold: Any) -> Any:
    """The l1 prox: :math:`\\mathrm{sign}(v) (|v| - \\tau)_+`."""
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - threshold, 0.0)


class L1L2Split(NamedTuple):
    """Per-block sparsity coefficients ``a`` (l1 per feature, group lasso per group, broadcast
    over its block) and per-feature l2 coefficients ``b``, both ``(G, B)``."""

    a: jax.Array
    b: jax.Array

    def prox(self, j: Any, v: jax.Array, t: Any) -> jax.Array:
        """prox of ``t h_j`` at ``v`` (shape ``(B,)``): soft / block soft threshold, then the
        l2's division (cheaper than the general prox: several small XLA ops per update)."""
        thr = t * self.a[j]
        if v.shape[0] == 1:
            shrunk = soft_threshold(v, thr)
        else:
            norm = jnp.sqrt(jnp.sum(v * v))
            shrunk = v * jnp.maximum(1.0 - thr[0] / jnp.where(norm > 0, norm, 1.0), 0.0)
        return shrunk / (1.0 + t * self.b[j])

    def unpenalized(self) -> jax.Array:
        """Blocks with neither coefficient: no dual constraint of theirs."""
        return (self.a[:, 0] == 0) & (self.b[:, 0] == 0)

    def rescaled_conjugate(self, g: jax.Array) -> tuple[jax.Array, jax.Array]:
        r"""The dual point's rescaling ``c`` and the conjugate per block at :math:`v = -c\,
        g` (``g`` the full gradient, ``(G, B)``).

        ``c`` is 1 over the dual norm, at most 1 (celer's / scikit-learn's rescaling), so that
        :math:`\lVert v_j\rVert \le a_j` where :math:`b_j = 0`; then :math:`h_j^*(v_j) =
        (\lVert v_j\rVert - a_j)_+^2 / (2 b_j)` where :math:`b_j > 0`, 0 on the others."""
        a, b = self.a[:, 0], self.b[:, 0]
        gn = jnp.sqrt(jnp.sum(g * g, axis=1))
        constrained = (b == 0) & (a > 0)
        ratio = jnp.where(constrained, gn / jnp.where(constrained, a, 1.0), 0.0)
        dual_norm = jnp.max(ratio, initial=0.0)
        c = jnp.where(dual_norm > 1, 1.0 / dual_norm, 1.0)
        smooth = b > 0
        conj = jnp.where(
            smooth, jnp.maximum(c * gn - a, 0.0) ** 2 / (2 * jnp.where(smooth, b, 1.0)), 0.0
        )
        return c, conj


class BlockPenalty:
    """The penalty on coefficient blocks ``(G, B)``: its kinds with their weights in block form.

    ``size`` is 1 for elementwise kinds, ``B`` for a group lasso on consecutive features
    (``reshape=(-1, B)``, ``axis=-1``: celer's / skglm's contiguous groups)."""

    def __init__(self, parts: list[tuple[Term, Any]], size: int):
        self.parts = parts
        self.size = size

    def split(self, shape: tuple[int, ...], dtype: Any) -> L1L2Split | None:
        """The l1 / group lasso / l2 coefficients, or None for other kinds."""
        names = {part.name for part, _ in self.parts}
        if not (names <= {"l1", "l2"} or names <= {"group_lasso", "l2"}):
            return None
        a = jnp.zeros(shape, dtype)
        b = jnp.zeros(shape, dtype)
        # checked: a traced negative strength or weight becomes NaN
        for part, w in self.parts:
            c = checked(part.strength, dtype) * (1.0 if w is None else checked(w, dtype))
            if part.name == "l2":
                b = b + c
            elif part.name == "l1":
                a = a + c
            else:  # group lasso: one coefficient per group, broadcast over its block
                a = a + jnp.reshape(c, (-1, 1)) if jnp.ndim(c) else a + c
        return L1L2Split(a, b)

    def at(self, j: Any) -> list[tuple[Term, Any]]:
        """Block ``j``'s parts: each kind with block ``j``'s weight."""
        return [(part, None if w is None else w[j]) for part, w in self.parts]

    def value(self, w: jax.Array) -> jax.Array:
        return _parts_value(self.parts, w)

    def value_at(self, j: Any, v: jax.Array) -> jax.Array:
        """pen_j(v) for block ``j``."""
        return _parts_value(self.at(j), v)

    def prox_at(self, v: jax.Array, t: Any, j: Any) -> jax.Array:
        """prox of ``t * pen_j`` at block ``j``'s value ``v`` (shape ``(B,)``)."""
        if not self.parts:
            return v
        return leaf_prox(v, t, self.at(j), "coef")

    def prox_all(self, z: jax.Array, t: Any) -> jax.Array:
        """The prox on every block at once: ``z`` of shape ``(G, B)``, ``t`` broadcast to it."""
        if not self.parts:
            return z
        return leaf_prox(z, jnp.broadcast_to(t, z.shape), self.parts, "coef")


def _parts_value(parts: list[tuple[Term, Any]], w: jax.Array) -> jax.Array:
    total = jnp.zeros((), w.dtype)
    for part, wt in parts:
        raw = part.unscaled_value(w, wt)
        total = total + (checked(part.strength, w.dtype) * raw if part.linear_in_strength else raw)
    return total


def block_penalty(penalty: Penalty, p: int, dtype: Any) -> BlockPenalty:
    """``penalty`` on the coefficient vector ``(p,)`` in block form; clear errors for what
    jr.linear does not take (raised eagerly by the drivers, with readable values)."""
    chosen = _chosen_terms(penalty, p, dtype)
    size = _block_size([term for term, _ in chosen], p)
    g = p // size
    parts = []
    for term, w in chosen:
        if w is not None:
            w = jnp.asarray(w, dtype)
            if term.elementwise:
                w = jnp.broadcast_to(w, (p,)).reshape(g, size)
            else:
                w = jnp.broadcast_to(w.reshape(-1) if w.ndim else w, (g,))
        parts.extend((part, w) for part in term.parts())
    return BlockPenalty(parts, size)


def _chosen_terms(penalty: Penalty, p: int, dtype: Any) -> list[tuple[Term, Any]]:
    """The terms with their weight on the coefficients; all of them must apply."""
    reject_centred(penalty, "jr.linear")
    try:
        plan = resolve_terms(penalty.terms, jnp.zeros(p, dtype))
    except ValueError as e:  # a mask or kind that selects nothing (resolve_terms says which)
        raise ValueError(
            f"{e} jr.linear penalizes the coefficient vector (shape ({p},)): use l1, l2, "
            "elastic_net, ... with the default mask."
        ) from None
    left_out = [term for term, idx in zip(penalty.terms, plan.chosen, strict=True) if not idx]
    if left_out:
        raise ValueError(
            f"{left_out[0]!r} does not apply to the coefficient vector (shape ({p},)): its "
            "mask or its kind (nuclear, spectral, orthogonal need matrices) leaves it out, so "
            "it would change nothing. jr.linear penalizes the coefficients: use l1, l2, "
            "elastic_net, ... with the default mask."
        )
    return [
        (term, ws[0])
        for term, idx, ws in zip(penalty.terms, plan.chosen, plan.weights, strict=True)
        if idx
    ]


def _block_size(terms: list[Term], p: int) -> int:
    """1, or the group size of group lasso terms on consecutive features."""
    sizes = set()
    for term in terms:
        if (
            isinstance(term, GroupLasso)
            and term.reshape is not None
            and len(term.reshape) == 2
            and term.reshape[0] is not Ellipsis  # (..., g) views trailing axes: not (-1, g)
        ):
            if term.axis not in ((-1,), (1,)) or term.reshape[-1] == -1:
                raise NotImplementedError(
                    f"jr.linear takes group penalties on consecutive features: "
                    f"reshape=(-1, group_size), axis=-1; got {term!r}."
                )
            sizes.add(term.reshape[-1])
        elif not term.elementwise or not term.has_prox:
            raise NotImplementedError(
                f"jr.linear supports elementwise penalties with a prox (l1, l2, elastic_net, "
                f"weighted or not, mcp, scad, lq, l0) and group lasso on consecutive features "
                f"(group_lasso(s, reshape=(-1, group_size))); got {term!r}. Use jr.solve for "
                "others."
            )
    if len(sizes) > 1:
        raise NotImplementedError(f"jr.linear needs one group size; got {sorted(sizes)}.")
    size = sizes.pop() if sizes else 1
    if p % size:
        raise ValueError(f"group size {size} does not divide the {p} features.")
    return size
