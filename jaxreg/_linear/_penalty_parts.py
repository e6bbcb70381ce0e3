r"""The one adapter from jaxreg's penalty kinds to what the coordinate solvers need.

Every place where `jaxreg.linear` touches a penalty is here, and it only calls the kinds'
own methods (it never names a kind): `Term.coefficient_block_size` (the consecutive blocks a
kind penalizes one by one), `Term.l1_l2_split` (a kind that is :math:`h_j(v) = a_j \lVert
v\rVert + \frac{b_j}{2} \lVert v\rVert^2` per block: the fast block prox, the dual norm and
the conjugate of the duality gap), and the general prox (`leaf_prox`) and value of the others.
The solvers call `BlockPenalty`'s and `L1L2Split`'s methods.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._numerics import checked_hyperparameter as checked
from .._penalty import Penalty, Term, leaf_prox, reject_centred, resolve_terms
from .._prox_kernels import block_soft_threshold
from .._prox_kernels import soft_threshold as soft_threshold  # the inner solvers' l1 prox


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
            shrunk = block_soft_threshold(v, thr[0], (0,))
        return shrunk / (1.0 + t * self.b[j])

    def value(self, w: jax.Array) -> jax.Array:
        r""":math:`\sum_j a_j \lVert w_j\rVert + \frac{b_j}{2} \lVert w_j\rVert^2` (``w``:
        ``(G, B)``)."""
        norms = jnp.sqrt(jnp.sum(w * w, axis=1))
        return jnp.sum(self.a[:, 0] * norms) + 0.5 * jnp.sum(self.b * w * w)

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

    ``size`` is the kinds' `Term.coefficient_block_size` on ``p`` features: 1 for
    elementwise kinds, ``B`` for a group lasso on consecutive features (``reshape=(-1, B)``,
    ``axis=-1``: celer's / skglm's contiguous groups)."""

    def __init__(self, parts: list[tuple[Term, Any]], size: int, p: int):
        self.parts = parts
        self.size = size
        self.p = p

    def split(self, shape: tuple[int, ...], dtype: Any) -> L1L2Split | None:
        """The per-block ``a`` and per-feature ``b`` (``shape``: ``(G, B)``), or None unless
        every part has an `l1_l2_split` whose norm is of whole blocks (a quadratic part's is of
        any block: l2 beside a group lasso, not l1 beside it)."""
        splits = [part.l1_l2_split() for part, _ in self.parts]
        if any(
            ab is None or not (part.quadratic or part.coefficient_block_size(self.p) == self.size)
            for (part, _), ab in zip(self.parts, splits, strict=True)
        ):
            return None
        a = jnp.zeros(shape, dtype)
        b = jnp.zeros(shape, dtype)
        # checked: a traced negative strength or weight becomes NaN
        for (part, w), ab in zip(self.parts, splits, strict=True):
            assert ab is not None
            wt = 1.0 if w is None else checked(w, dtype)
            ca, cb = checked(ab[0], dtype) * wt, checked(ab[1], dtype) * wt
            if not part.elementwise and jnp.ndim(wt):  # one weight per block: over its features
                ca, cb = jnp.reshape(ca, (-1, 1)), jnp.reshape(cb, (-1, 1))
            a, b = a + ca, b + cb
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
    return BlockPenalty(parts, size, p)


def _chosen_terms(penalty: Penalty, p: int, dtype: Any) -> list[tuple[Term, Any]]:
    """The terms with their weight on the coefficients; all of them must apply."""
    reject_centred(penalty, "jr.linear")
    try:
        plan = resolve_terms(penalty.terms, np.zeros(p, dtype))  # (NumPy's: no eager compile)
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
    """The one block size of the terms that couple features (elementwise ones fit any)."""
    sizes = {term.coefficient_block_size(p) for term in terms} - {1}
    if len(sizes) > 1:
        raise NotImplementedError(f"jr.linear needs one group size; got {sorted(sizes)}.")
    size = sizes.pop() if sizes else 1
    if p % size:
        raise ValueError(f"group size {size} does not divide the {p} features.")
    return size
