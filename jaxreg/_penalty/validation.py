"""Build-time checks of hyperparameters: what every builder calls before it makes a term.

Each check names the argument, the value and what is allowed. Traced values (builders called
under `jit`/`vmap`) can only be checked for shape; `jaxreg._numerics.checked_hyperparameter`
turns the bad ones into NaN where they are used.
"""

from __future__ import annotations

import math
import numbers
import operator
from types import EllipsisType
from typing import Any, cast

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._masks import as_mask
from .._typing import PyTree


def check_scalar(
    value: Any, name: str, *, low: float = 0.0, high: float = math.inf, low_open: bool = False
) -> Any:
    """Validate a hyperparameter: a finite real scalar in [low, high], or an array/tracer.

    ``low_open`` excludes ``low``: (low, high]. Concrete values (Python numbers, NumPy and JAX
    scalars) are checked now; traced values can only be checked for shape, so `jax.vmap` /
    `jax.jit` over strengths work.
    """
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real | np.ndarray | np.generic | jax.Array)
    ):
        raise TypeError(
            f"{name} must be a real number or a scalar array; got {value!r} "
            f"(type {type(value).__name__})."
        )
    array = cast(ArrayLike, value)  # a numbers.Real is ArrayLike; pyright cannot tell
    if jnp.ndim(array) != 0:
        raise ValueError(f"{name} must be a scalar; got an array of shape {jnp.shape(array)}.")
    if not jnp.issubdtype(jnp.result_type(value), jnp.number) or jnp.issubdtype(
        jnp.result_type(value), jnp.complexfloating
    ):
        raise TypeError(f"{name} must be real; got dtype {jnp.result_type(value)}.")
    if isinstance(value, jax.core.Tracer):
        return value
    v = float(value)
    above = low < v if low_open else low <= v
    if not (math.isfinite(v) and above and v <= high):
        opening = "(" if low_open else "["
        allowed = (
            f"{'>' if low_open else '>='} {low:g}"
            if high == math.inf
            else f"in {opening}{low:g}, {high:g}]"
        )
        raise ValueError(f"{name} must be finite and {allowed}; got {name}={value!r}.")
    return value


def check_nonnegative_tree(tree: PyTree, name: str) -> None:
    """Concrete leaves of ``tree`` must be finite and >= 0 (traced leaves are checked at use)."""
    for path, w in jax.tree_util.tree_flatten_with_path(tree)[0]:
        where = jax.tree_util.keystr(path) or "<root>"
        if isinstance(w, bool) or not isinstance(
            w, numbers.Real | np.ndarray | np.generic | jax.Array
        ):
            raise TypeError(
                f"{name} must be a pytree of non-negative real arrays; got {type(w).__name__} "
                f"{w!r} at {name}{where if where != '<root>' else ''}."
            )
        if isinstance(w, jax.core.Tracer):
            continue
        host = np.asarray(w)
        if not np.issubdtype(host.dtype, np.number) or np.issubdtype(
            host.dtype, np.complexfloating
        ):
            raise TypeError(f"{name} must be real; got dtype {host.dtype} at {where}.")
        if not np.all(np.isfinite(host)) or np.any(host < 0):
            raise ValueError(
                f"{name} must be finite and >= 0 everywhere; got {host.tolist()!r:.200} at {where}."
            )


def check_center_tree(tree: PyTree) -> None:
    """``center``'s concrete leaves must be finite real arrays or numbers (traced leaves pass)."""
    for path, c in jax.tree_util.tree_flatten_with_path(tree)[0]:
        where = jax.tree_util.keystr(path) or "<root>"
        real = isinstance(c, numbers.Real | np.ndarray | np.generic | jax.Array) and not (
            isinstance(c, bool)
            or jnp.issubdtype(jnp.result_type(c), jnp.bool_)
            or jnp.issubdtype(jnp.result_type(c), jnp.complexfloating)
        )
        if not real:
            raise TypeError(
                f"center must be a number or a pytree of real arrays (the reference weights, "
                f"e.g. the pretrained params); got {type(c).__name__} {c!r:.80} at center{where}. "
                "For an equinox module, pass eqx.filter(model, eqx.is_inexact_array)."
            )
        if not isinstance(c, jax.core.Tracer) and not np.all(np.isfinite(np.asarray(c))):
            raise ValueError(f"center must be finite everywhere; got NaN/inf at center{where}.")


def as_leaf(x: Any) -> Any:
    """A hyperparameter as an array leaf: Python numbers become float64 NumPy arrays.

    An array, not a Python float, so that `eqx.filter_jit` (which makes Python scalars static)
    does not retrace for each strength; NumPy float64, not a JAX array, so that the value stays
    exact for the converters (``float(l2(0.01).strength) == 0.01``) whatever `jax_enable_x64`
    says. JAX arrays and tracers are kept as they are.
    """
    if isinstance(x, jax.Array):
        return x
    return np.asarray(float(x)) if isinstance(x, numbers.Real) else np.asarray(x)


def term_fields(
    strength: Any, mask: Any, weights: Any = None, center: Any = None
) -> dict[str, Any]:
    """The fields every term shares, checked: ``strength``, ``mask`` (``weights``, ``center``)."""
    check_scalar(strength, "strength")
    out = {"strength": as_leaf(strength), "mask": as_mask(mask)}
    if weights is not None:
        check_nonnegative_tree(weights, "weights")
        out["weights"] = jax.tree.map(as_leaf, weights)
    if center is not None:
        check_center_tree(center)
        out["center"] = jax.tree.map(as_leaf, center)
    return out


def as_axis(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer (``int``, ``np.int64``, a 0-d integer
    array: what `operator.index` accepts) and not a bool; None otherwise."""
    if isinstance(value, bool | np.bool_):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def check_axis(axis: Any, name: str = "axis") -> tuple[int, ...]:
    """``axis`` (an integer or a non-empty tuple of them) as a tuple of Python ints."""
    given = axis if isinstance(axis, tuple) else (axis,)
    axes = tuple(as_axis(a) for a in given)
    if not axes or any(a is None for a in axes):
        raise TypeError(f"{name} must be an int or a non-empty tuple of ints; got {name}={axis!r}.")
    ints = cast(tuple[int, ...], axes)
    if len(set(ints)) != len(ints):
        raise ValueError(f"{name} must not repeat an axis; got {name}={axis!r}.")
    return ints


def check_reshape(reshape: Any) -> tuple[int | EllipsisType, ...] | None:
    """None, a shape with at most one -1, or ``(..., d1, ..., dk)``: positive ints after a
    leading ``...`` (the view of the leaf's trailing axes, resolved per leaf)."""
    if reshape is None:
        return None
    given = tuple(reshape) if isinstance(reshape, tuple | list) else None
    keeps_leading = bool(given) and given[0] is Ellipsis  # pyright: ignore[reportOptionalSubscript]
    dims = given[1:] if keeps_leading and given else given
    ok = (
        dims is not None
        and len(dims) > 0
        and all(
            isinstance(n, int | np.integer)
            and not isinstance(n, bool)
            and (n >= 1 or (n == -1 and not keeps_leading))
            for n in dims
        )
        and list(dims).count(-1) <= 1
    )
    if not ok or dims is None:
        raise ValueError(
            "reshape must be None, a tuple of positive ints with at most one -1, e.g. "
            "(-1, num_heads, head_dim), or a leading ... and positive ints, e.g. "
            f"(..., num_heads, head_dim) (the trailing axes, any leading ones kept); got "
            f"reshape={reshape!r}."
        )
    ints = tuple(int(n) for n in dims)
    return (..., *ints) if keeps_leading else ints


def check_out_axis(out_axis: Any) -> int:
    checked = as_axis(out_axis)
    if checked is None:
        raise TypeError(
            f"out_axis must be an int (-1 for flax/Keras kernels, 0 for PyTorch/equinox "
            f"weights); got out_axis={out_axis!r}."
        )
    return checked


def check_axes_in_range(axis: tuple[int, ...], path: str, x: Any, hint: str = "") -> None:
    """Raise when an axis of ``axis`` does not exist in the leaf ``x`` at ``path``, or when two
    of them name the same axis of it (``axis=(-1, 2)`` on a 3-D leaf)."""
    ndim = np.ndim(x)
    shown = axis[0] if len(axis) == 1 else axis
    if not all(-ndim <= a < ndim for a in axis):
        raise ValueError(
            f"axis={shown} is out of range for the leaf at '{path}' with shape {np.shape(x)}{hint}."
        )
    normalised = tuple(a % ndim for a in axis)
    if len(set(normalised)) != len(normalised):
        raise ValueError(
            f"axis={shown} names the same axis twice for the leaf at '{path}' with shape "
            f"{np.shape(x)}: counted from the start, axis={normalised}."
        )
