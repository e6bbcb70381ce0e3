"""Ready-made masks: callables ``(path, leaf) -> bool`` that choose the penalized leaves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._trees import MaskFn


def kernels(path: str, leaf: Any) -> bool:
    """Select weight matrices and conv kernels (``ndim >= 2``), not biases or norm scales.

    This is the usual "regularize the kernels" choice of Keras (``kernel_regularizer``) and of
    scikit-learn's ``MLPClassifier`` (``coefs_`` only). Embedding tables are 2-D and are selected.

    >>> import jax.numpy as jnp
    >>> kernels("dense/kernel", jnp.ones((4, 3))), kernels("dense/bias", jnp.ones(3))
    (True, False)
    """
    del path
    return getattr(leaf, "ndim", 0) >= 2


def _compile(patterns: str | Iterable[str] | None, argument: str) -> list[re.Pattern[str]]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    compiled = []
    for p in patterns:
        if not isinstance(p, str):
            raise TypeError(f"{argument} must be a regex string or a list of them; got {p!r}.")
        try:
            compiled.append(re.compile(p))
        except re.error as e:
            raise ValueError(f"{argument}={p!r} is not a valid regular expression: {e}.") from e
    return compiled


def by_path(
    include: str | Iterable[str] | None = None, exclude: str | Iterable[str] | None = None
) -> MaskFn:
    """Select leaves whose ``'a/b/c'`` key path matches (``re.search``) a regex.

    A leaf is selected when it matches any ``include`` pattern (every leaf, if ``include`` is
    None) and no ``exclude`` pattern. Paths join dict keys, attribute names and sequence
    indices with ``/``: ``'params/Dense_0/kernel'`` for flax linen, ``'layers/0/kernel'`` for a
    flax nnx state, ``'layers/0/weight'`` for an equinox MLP.

    >>> import jax.numpy as jnp
    >>> mask = by_path(include="kernel", exclude="^head/")
    >>> mask("body/kernel", jnp.ones((2, 2))), mask("head/kernel", jnp.ones((2, 2)))
    (True, False)
    """
    inc = _compile(include, "include")
    exc = _compile(exclude, "exclude")

    def mask(path: str, leaf: Any) -> bool:
        del leaf
        if inc and not any(p.search(path) for p in inc):
            return False
        return not any(p.search(path) for p in exc)

    mask.__qualname__ = mask.__name__ = f"by_path(include={include!r}, exclude={exclude!r})"
    return mask
