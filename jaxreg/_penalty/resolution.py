"""Leaf resolution: which term penalizes which leaf, with which weight and center.

The one step that the value, `Penalty.per_leaf`, `Penalty.prox`, `jaxreg.select.lambda_max`
and the solvers all consume; shape errors are raised here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import numpy as np

from .._masks import Mask, kernels, resolve
from .._trees import broadcast_prefix, is_floating, is_penalizable, leaf_paths, nnx_non_params
from .._typing import PyTree

if TYPE_CHECKING:  # types.py calls resolve_terms: importing Term at run time would be a cycle
    from .types import Term


class LeafAssignment(NamedTuple):
    """The leaves of ``params`` and, per term, the leaves it penalizes, their weights and
    centers."""

    leaves: list[Any]
    treedef: Any
    paths: list[str]
    chosen: list[list[int]]  # per term: indices of the leaves it penalizes
    weights: list[list[Any]]  # per term: the weight of each chosen leaf (None: no weight)
    centers: list[list[Any]]  # per term: the center of each chosen leaf (None: the origin)


def resolve_terms(terms: Sequence[Term], params: PyTree) -> LeafAssignment:
    """Which term penalizes which leaf, with which weight and center; shape errors raised
    here, once."""
    leaves, treedef = jax.tree.flatten(params)
    paths = leaf_paths(params)
    chosen, weights, centers = [], [], []
    not_params: list[bool] | None = None
    for term in terms:
        term.check_scalars()
        mask = term.default_mask if term.mask is None else term.mask
        selected = resolve(mask, params)
        if mask is None:  # every parameter: not nnx BatchStat & co.
            not_params = nnx_non_params(params) if not_params is None else not_params
            selected = [s and not n for s, n in zip(selected, not_params, strict=True)]
        idx = [
            i
            for i, (s, x) in enumerate(zip(selected, leaves, strict=True))
            if s and is_penalizable(x, explicit=mask is not None)
        ]
        if not idx:
            _check_selects_something(term, mask, paths, leaves)
        w_all = getattr(term, "weights", None)
        ws = (
            broadcast_prefix(w_all, params, name="weights", none_is_leaf=True)
            if w_all is not None
            else [None] * len(leaves)
        )
        c_all = getattr(term, "center", None)
        cs = (
            broadcast_prefix(c_all, params, name="center", none_is_leaf=True)
            if c_all is not None
            else [None] * len(leaves)
        )
        for i in idx:
            term.check_leaf(paths[i] or "<root>", leaves[i], ws[i])
            _check_center(term, paths[i] or "<root>", leaves[i], cs[i])
        chosen.append(idx)
        weights.append([ws[i] for i in idx])
        centers.append([cs[i] for i in idx])
    return LeafAssignment(leaves, treedef, paths, chosen, weights, centers)


def _check_center(term: Term, path: str, x: Any, c: Any) -> None:
    """The center of a leaf is a point of the leaf's space: it must broadcast to its shape."""
    if c is None:
        return
    shape = np.shape(x)
    try:
        ok = np.broadcast_shapes(np.shape(c), shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{term.name}: the center for the leaf at '{path}' has shape {np.shape(c)}, which "
            f"does not broadcast to the leaf's shape {shape}; center must have the params' "
            "structure (or a prefix of it) with leaves of the params' shapes, or scalars."
        )


def _check_selects_something(
    term: Term, mask: Mask | None, paths: list[str], leaves: list[Any]
) -> None:
    """Raise when a term selects no leaf for a reason that is a mistake, not a design.

    A mask that selects nothing gives a penalty of 0: silent when the cause is a naming
    mismatch (``kernels`` on a model whose matrices are called otherwise) or a matrix penalty
    on params without matrices (a regex typo in `by_path` raises in the mask itself).
    """
    floating = [(p or "<root>", x) for p, x in zip(paths, leaves, strict=True) if is_floating(x)]
    if not floating:
        return  # nothing could be penalized: an empty model, or a tree of ints
    matrices = [p for p, x in floating if np.ndim(x) >= 2]
    if mask == kernels and matrices:
        raise ValueError(
            f"{term.name}: jaxreg.masks.kernels selects no leaf of params (it picks leaves "
            f"named kernel, weight, coef, w, W, w1, ...); leaves with 2 or more "
            f"dimensions: {matrices[:8]}. Pass mask= explicitly, e.g. "
            "mask=jaxreg.masks.by_path(include=...)."
        )
    if term.min_ndim >= 2 and not matrices:
        raise ValueError(
            f"{term.name} penalizes matrices (leaves with 2 or more dimensions); params have "
            f"none: {[f'{p} {np.shape(x)}' for p, x in floating][:8]}."
        )
