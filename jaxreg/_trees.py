"""Pytree plumbing shared by every penalty: leaf paths, which leaves are penalized, prefixes.

Everything here runs at trace time, in Python, on tree *structure* and leaf *types* only: it
never looks at array values, so it is free under `jit` and never forces a device sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._typing import PyTree as PyTree


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


def leaf_paths(params: PyTree) -> list[str]:
    return [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]


def is_floating(x: Any) -> bool:
    """A floating-point leaf: a NumPy/JAX array (tracers included) or a Python/NumPy float.

    Integers, bools and PRNG keys (typed or uint32) are not; ``None`` is not a leaf at all.
    """
    if isinstance(x, float):
        return True
    if not isinstance(x, jax.Array | np.ndarray | np.generic):
        return False
    return bool(jnp.issubdtype(x.dtype, jnp.inexact))


def is_penalizable(x: Any, *, explicit: bool) -> bool:
    """The one rule for which leaves a penalty may touch, the same eagerly and under `jit`.

    A leaf is penalized when its mask selects it and it is floating point (`is_floating`).
    Without a mask (``mask=None``), scalars (0-d leaves: Python floats, weakly or strongly
    typed 0-d arrays) are left out, so a hyperparameter held in the model (equinox
    ``Dropout(p=0.5)``) is never penalized by default; a mask that selects a scalar penalizes
    it. (`resolve_terms` also leaves out flax nnx variables that are not ``nnx.Param``, such as
    ``BatchStat``, when there is no mask.) The rule looks at dtype and shape only, never at
    JAX's weak typing, which `jax.jit` and `optax.apply_updates` change.
    """
    return is_floating(x) and (explicit or np.ndim(x) >= 1)


def _is_nnx_variable(x: Any) -> bool:
    cls = type(x)
    return cls.__module__.startswith("flax.nnx") and any(
        c.__name__ == "Variable" for c in cls.__mro__
    )


def nnx_non_params(params: PyTree) -> list[bool]:
    """One bool per leaf: does it sit in a flax nnx Variable that is not an ``nnx.Param``?

    ``BatchStat``, ``Cache``, ``Intermediate``, RNG state...: state, not parameters. Known by
    type, without importing flax.
    """
    out: list[bool] = []
    for node in jax.tree.leaves(params, is_leaf=_is_nnx_variable):
        if _is_nnx_variable(node):
            is_param = any(c.__name__ == "Param" for c in type(node).__mro__)
            out += [not is_param] * len(jax.tree.leaves(node))
        else:
            out.append(False)
    return out


class _Box:
    """Wraps a prefix leaf so that `None` and containers survive a flatten as one leaf."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def broadcast_prefix(
    prefix: PyTree, params: PyTree, *, name: str, none_is_leaf: bool = False
) -> list[Any]:
    """One entry per leaf of ``params``: ``prefix`` has params' structure or a prefix of it.

    This is `jax.tree.map`'s prefix rule (the one `optax.masked` uses): a leaf of ``prefix``
    applies to the whole subtree of ``params`` under it. With ``none_is_leaf`` a ``None`` in
    ``prefix`` is a value (e.g. "no weight") rather than an empty subtree.
    """
    is_leaf = (lambda x: x is None) if none_is_leaf else None
    try:
        boxed = jax.tree.map(
            lambda p, sub: [_Box(p)] * len(jax.tree.leaves(sub)), prefix, params, is_leaf=is_leaf
        )
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{name} does not fit params: {name} must have the params' tree structure or a prefix "
            f"of it.\n  {name}: {jax.tree.structure(prefix, is_leaf=is_leaf)}\n  params: "
            f"{jax.tree.structure(params)}\n({e})"
        ) from None
    return [b.value for b in jax.tree.leaves(boxed, is_leaf=lambda x: isinstance(x, _Box))]
