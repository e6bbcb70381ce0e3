"""optax transformations built on `Penalty.prox`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ._penalties import Penalty, check_scalar


class ProximalState(NamedTuple):
    count: jax.Array  # number of updates so far, for learning-rate schedules


def proximal(
    penalty: Penalty, learning_rate: float | Callable[[jax.Array], Any]
) -> optax.GradientTransformation:
    r"""Proximal step after any optax optimizer: exact zeros for L1 / group lasso / nuclear.

    Chain it last, with the optimizer's learning rate::

        tx = optax.chain(optax.adam(lr), jr.transforms.proximal(pen, lr))

    Given the incoming update :math:`u` (already scaled by :math:`-\eta`), it returns
    :math:`\mathrm{prox}_{\eta\,\mathrm{pen}}(p + u) - p`, so ``optax.apply_updates`` lands on
    the prox point: proximal gradient descent for SGD, and the usual "prox after the step" for
    Adam. Do not also put the penalty in the loss. A weight set to 0 is exactly 0.0 after
    ``apply_updates`` (``p + (0 - p)`` is exact).

    Choosing the strength with Adam: the threshold is :math:`\eta\lambda` per step, while
    Adam moves every weight by about :math:`\eta` per step whatever its gradient's scale. A
    weight is held at 0 when its gradient-driven move is below the threshold, which for Adam
    means :math:`\lambda \gtrsim |\hat m / (\sqrt{\hat v} + \epsilon)|` - a number of order
    one for weights the data keeps pushing, and smaller for those it does not. So strengths
    that work with plain SGD (about the gradient scale, e.g. ``jr.select.lambda_max``) are far
    too small with Adam; use :math:`\lambda` of order 0.1-1 and check the zeros (see
    ``examples/feature_selection.py``).

    Args:
      penalty: a `jaxreg.Penalty` with a closed-form prox.
      learning_rate: the optimizer's learning rate :math:`\eta`, a number or an optax schedule
        ``count -> lr``.
    """
    if not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a jaxreg Penalty; got {type(penalty).__name__}.")
    if not callable(learning_rate):
        check_scalar(learning_rate, "learning_rate")

    def init(params: Any) -> ProximalState:
        del params
        return ProximalState(count=jnp.zeros([], jnp.int32))

    def update(updates: Any, state: ProximalState, params: Any = None):
        if params is None:
            raise ValueError(
                "jr.transforms.proximal needs the current params: call "
                "tx.update(grads, opt_state, params)."
            )
        step = learning_rate(state.count) if callable(learning_rate) else learning_rate
        moved = optax.apply_updates(params, updates)
        target = penalty.prox(moved, step)
        new_updates = jax.tree.map(lambda t, p: t - p, target, params)
        return new_updates, ProximalState(count=optax.safe_increment(state.count))

    return optax.GradientTransformation(init, update)
