"""`regularized`: a loss function plus a penalty, ready for `jax.value_and_grad`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, ParamSpec, overload

import jax

from ._penalty.types import Penalty

P = ParamSpec("P")


@overload
def regularized(
    loss_fn: Callable[P, Any],
    penalty: Penalty,
    *,
    has_aux: Literal[False] = False,
    return_parts: Literal[False] = False,
) -> Callable[P, jax.Array]: ...


@overload
def regularized(
    loss_fn: Callable[P, Any],
    penalty: Penalty,
    *,
    has_aux: bool = False,
    return_parts: bool = False,
) -> Callable[P, tuple[jax.Array, Any]]: ...


def regularized(
    loss_fn: Callable[..., Any],
    penalty: Penalty,
    *,
    has_aux: bool = False,
    return_parts: bool = False,
) -> Callable[..., Any]:
    r"""``loss_fn(params, *args, **kwargs) + penalty(params)``.

    Args:
      loss_fn: ``loss_fn(params, *args, **kwargs)`` returning a scalar, or ``(scalar, aux)``
        when ``has_aux``.
      penalty: a `jaxreg.Penalty`; only ``params`` (the first argument) is penalized.
      has_aux: whether ``loss_fn`` returns ``(loss, aux)``; the result then returns
        ``(total, aux)``, matching ``jax.value_and_grad(..., has_aux=True)``.
      return_parts: also return ``{'loss': ..., 'penalty': ...}``: ``(total, parts)``, or
        ``(total, (aux, parts))`` with ``has_aux``.

    >>> import jax, jax.numpy as jnp, jaxreg as jr
    >>> mse = lambda w, x, y: jnp.mean((x @ w - y) ** 2)
    >>> loss = jr.regularized(mse, jr.l2(1.0), return_parts=True)
    >>> total, parts = loss(jnp.array([1.0, 2.0]), jnp.eye(2), jnp.zeros(2))
    >>> float(total), float(parts["loss"]), float(parts["penalty"])
    (5.0, 2.5, 2.5)
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable; got {loss_fn!r}.")
    if not isinstance(penalty, Penalty):
        raise TypeError(
            f"penalty must be a jaxreg Penalty (jr.l1, jr.l2, ...); got {type(penalty).__name__}."
        )

    def total(params: Any, *args: Any, **kwargs: Any) -> Any:
        out = loss_fn(params, *args, **kwargs)
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    "has_aux=True needs loss_fn to return a (loss, aux) pair; got "
                    f"{type(out).__name__}."
                )
            loss, aux = out
        else:
            loss, aux = out, None
        pen = penalty(params)
        value = loss + pen
        if return_parts:
            parts = {"loss": loss, "penalty": pen}
            return (value, (aux, parts)) if has_aux else (value, parts)
        return (value, aux) if has_aux else value

    total.__name__ = f"regularized_{getattr(loss_fn, '__name__', 'loss')}"
    return total
