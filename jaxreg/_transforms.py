"""optax transformations built on `Penalty.prox`."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, cast

import jax
import jax.numpy as jnp
import optax

from ._penalty.types import Penalty
from ._penalty.validation import check_scalar


class ProximalState(NamedTuple):
    """The optax state of `jaxreg.transforms.proximal`.

    Attributes:
      count: number of updates so far, for learning-rate schedules
      adam: optax.ScaleByAdamState when precondition="adam"
    """

    count: jax.Array
    adam: optax.ScaleByAdamState | tuple[()] = ()


def proximal(
    penalty: Penalty,
    learning_rate: optax.ScalarOrSchedule,
    *,
    precondition: Literal["adam"] | None = None,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    r"""Proximal steps for optax: exact zeros for L1 / group lasso / nuclear penalties.

    ``precondition=None`` (default): chain it last, after any optimizer, with the optimizer's
    learning rate::

        tx = optax.chain(optax.adam(lr), jr.transforms.proximal(pen, lr))

    Given the incoming update :math:`u` (already scaled by :math:`-\eta`), it returns
    :math:`\mathrm{prox}_{\eta\,\mathrm{pen}}(p + u) - p`, so ``optax.apply_updates`` lands on
    the prox point: proximal gradient descent after SGD. Do not also put the penalty in the
    loss. A weight set to 0 is exactly 0.0 after ``apply_updates`` (``p + (0 - p)`` is exact).

    The trap with Adam: the threshold is :math:`\eta\lambda` per step while Adam moves every
    weight by about :math:`\eta\,|\hat m/\sqrt{\hat v}|` - of order :math:`\eta` whatever the
    gradient's scale. A weight then stays at 0 only when :math:`\lambda` beats that normalized
    move, so strengths of the gradient's scale (``lambda_max``, what works with SGD) give no
    zeros, and strengths large enough to hold noisy weights at 0 also erode useful ones.

    ``precondition="adam"`` fixes that: the transform *is* Adam (give it the raw gradients;
    do not chain it after ``optax.adam``) and takes the prox in Adam's own metric
    :math:`D = \mathrm{diag}(\sqrt{\hat v} + \epsilon)`:

    .. math:: p \leftarrow \arg\min_z \tfrac12 (z - p^+)^\top D (z - p^+) + \eta\,\mathrm{pen}(z),
       \qquad p^+ = p - \eta\,\hat m / (\sqrt{\hat v} + \epsilon).

    For L1 that is soft-thresholding with per-weight threshold :math:`\eta\lambda / D_{ii}`, and a
    weight at 0 stays at 0 exactly when :math:`|\hat m| \le \lambda`: the optimality condition
    of the penalized problem, at the gradient's scale, so ``jr.select.lambda_max`` applies.
    Group lasso / nuclear use the mean of :math:`D` over each group / matrix (their prox has
    no closed form in a non-isotropic metric).

    Args:
      penalty: a `jaxreg.Penalty` with a closed-form prox.
      learning_rate: the learning rate :math:`\eta`, a number or an optax schedule.
      precondition: None or ``"adam"`` (see above).
      b1, b2, eps: Adam's constants, used only with ``precondition="adam"``.
    """
    if not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a jaxreg Penalty; got {type(penalty).__name__}.")
    if not callable(learning_rate):
        check_scalar(learning_rate, "learning_rate")
    if precondition not in (None, "adam"):
        raise ValueError(f"precondition must be None or 'adam'; got precondition={precondition!r}.")
    adam = optax.scale_by_adam(b1=b1, b2=b2, eps=eps) if precondition == "adam" else None

    def init(params: Any) -> ProximalState:
        adam_state = cast(optax.ScaleByAdamState, adam.init(params)) if adam else ()
        return ProximalState(jnp.zeros([], jnp.int32), adam_state)

    def update(updates: Any, state: ProximalState, params: Any = None):
        if params is None:
            raise ValueError(
                "jr.transforms.proximal needs the current params: call "
                "tx.update(grads, opt_state, params)."
            )
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        lr = cast(jax.Array | float, lr)  # optax annotates a schedule's value as ArrayLike
        count = cast(jax.Array, optax.safe_increment(state.count))
        if adam is None:
            adam_state, step = (), lr
        else:
            direction, adam_state = adam.update(updates, state.adam, params)
            adam_state = cast(optax.ScaleByAdamState, adam_state)
            updates = jax.tree.map(lambda d: -lr * d, direction)
            # D = sqrt(v_hat) + eps, v_hat as optax.scale_by_adam computes it; the per-element
            # step of the metric prox is lr / D (None where the gradient is None)
            correction = cast(jax.Array, 1 - b2**adam_state.count)
            step = jax.tree.map(
                lambda nu: (
                    None if nu is None else lr / (jnp.sqrt(nu / correction.astype(nu.dtype)) + eps)
                ),
                adam_state.nu,
                is_leaf=lambda x: x is None,
            )
        # Leaves without an update (None, as equinox gives for non-trainable leaves) stay put
        # and are not shrunk: a prox only moves what the optimizer moves.
        moved = jax.tree.map(
            lambda u, p: p if u is None else optax.apply_updates(p, u),
            updates,
            params,
            is_leaf=lambda x: x is None,
        )
        target = penalty.prox(moved, step)
        new_updates = jax.tree.map(
            lambda u, z, p: None if u is None else z - p,
            updates,
            target,
            params,
            is_leaf=lambda x: x is None,
        )
        return new_updates, ProximalState(count, adam_state)

    # optax types the state as any pytree (OptState); ours is a ProximalState
    return optax.GradientTransformation(init, update)  # pyright: ignore[reportArgumentType]
