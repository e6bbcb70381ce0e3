"""Pytree plumbing shared by every penalty: leaf paths, leaf selection and mask resolution.

Everything here runs at trace time, in Python, on tree *structure* only: it never looks at
array values, so it is free under `jit` and never forces a device sync.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any
MaskFn = Callable[[str, Any], bool]


def key_name(key: Any) -> str:
    """One path component as text: dict keys, attribute names and sequence indices."""
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def path_str(path: Sequence[Any]) -> str:
    """A key path as ``'a/b/0/kernel'``, the form `jaxreg.masks.by_path` matches against.

    A trailing ``.value`` attribute is dropped: it is how flax nnx ``Variable`` boxes hold their
    array, and ``'layers/0/kernel'`` is the name a user knows.
    """
    names = [key_name(k) for k in path]
    if names and names[-1] == "value" and isinstance(path[-1], jax.tree_util.GetAttrKey):
        names.pop()
    return "/".join(names)


def is_inexact_array(x: Any) -> bool:
    """True for floating-point arrays (NumPy or JAX, tracers included); PRNG keys are excluded."""
    if not isinstance(x, jax.Array | np.ndarray | np.generic):
        return False
    return jnp.issubdtype(x.dtype, jnp.inexact)


def _one_level(x: PyTree) -> tuple[list[tuple[Any, PyTree]], bool]:
    """The direct children of a node with their keys, and whether `x` is a leaf."""
    children, treedef = jax.tree_util.tree_flatten_with_path(x, is_leaf=lambda y: y is not x)
    if jax.tree_util.treedef_is_leaf(treedef) and treedef.num_leaves == 1:
        return [], True
    return [(path[0], child) for path, child in children], False


def _is_bool(x: Any) -> bool:
    return isinstance(x, bool | np.bool_)


def _broadcast_mask(mask: PyTree, params: PyTree, path: tuple[Any, ...]) -> list[bool]:
    """Expand a bool pytree that is `params`' structure or a prefix of it, one bool per leaf."""
    if _is_bool(mask):
        return [bool(mask)] * len(jax.tree_util.tree_leaves(params))
    mask_children, mask_is_leaf = _one_level(mask)
    if mask_is_leaf:
        raise TypeError(
            f"mask leaves must be Python or NumPy bools; got {type(mask).__name__} "
            f"{mask!r} at path '{path_str(path)}'. Use True/False, or a callable "
            "(path, leaf) -> bool such as jaxreg.masks.kernels."
        )
    param_children, param_is_leaf = _one_level(params)
    mask_keys = [key_name(k) for k, _ in mask_children]
    param_keys = [key_name(k) for k, _ in param_children]
    if param_is_leaf or mask_keys != param_keys:
        where = path_str(path) or "<root>"
        got = f"a leaf ({type(params).__name__})" if param_is_leaf else f"keys {param_keys}"
        raise ValueError(
            f"mask does not fit params at path '{where}': the mask has keys {mask_keys}, "
            f"params have {got}. A mask must have the params' tree structure or a prefix of it."
        )
    out: list[bool] = []
    for (key, m), (_, p) in zip(mask_children, param_children, strict=True):
        out.extend(_broadcast_mask(m, p, (*path, key)))
    return out


def check_mask(mask: Any, *, argument: str = "mask") -> None:
    """Build-time check of a mask's kind (its structure is checked against params at call time)."""
    if mask is None or callable(mask) or _is_bool(mask):
        return
    if isinstance(mask, str):
        raise TypeError(
            f"{argument} must be None, a pytree of bools or a callable (path, leaf) -> bool; "
            f"got the string {mask!r}. To select leaves by name use "
            f"jaxreg.masks.by_path(include={mask!r})."
        )
    if not jax.tree_util.tree_leaves(mask):
        return
    bad = [leaf for leaf in jax.tree_util.tree_leaves(mask) if not _is_bool(leaf)]
    if bad:
        raise TypeError(
            f"{argument} must be None, a pytree of bools or a callable (path, leaf) -> bool; "
            f"it holds a leaf {bad[0]!r} of type {type(bad[0]).__name__}."
        )


def select_leaves(params: PyTree, mask: Any) -> list[bool]:
    """One bool per leaf of `params` (in `jax.tree.leaves` order): is this leaf penalized?

    A leaf is penalized when it is a floating-point array and the mask selects it. `None`
    subtrees have no leaves, so they are never penalized.
    """
    with_path = jax.tree_util.tree_flatten_with_path(params)[0]
    if mask is None:
        chosen = [True] * len(with_path)
    elif callable(mask):
        chosen = []
        for path, leaf in with_path:
            if not is_inexact_array(leaf):
                chosen.append(False)
                continue
            decision = mask(path_str(path), leaf)
            if not _is_bool(decision):
                raise TypeError(
                    f"a mask callable must return a Python bool; it returned {decision!r} "
                    f"(type {type(decision).__name__}) for path '{path_str(path)}'. Decide from "
                    "the path and the leaf's shape/dtype, never from traced values."
                )
            chosen.append(bool(decision))
    else:
        chosen = _broadcast_mask(mask, params, ())
    return [c and is_inexact_array(leaf) for c, (_, leaf) in zip(chosen, with_path, strict=True)]


def leaf_paths(params: PyTree) -> list[str]:
    return [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
