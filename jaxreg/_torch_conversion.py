"""`from_torch_optimizer`'s assembly: each param group's update, schedule and carried state."""

from __future__ import annotations

from typing import Any

import jax
import optax

from ._optimizer_state import resuming, torch_group_state, torch_has_trained, torch_leaf_states
from ._optimizers import Rate, torch_groups, torch_name, torch_transform
from ._schedules import (
    check_position,
    epoch_momenta,
    epoch_rates,
    jax_schedule,
    scheduler_phase,
)


def _holds_state(spec: Any) -> bool:
    return hasattr(spec, "param_groups") or (isinstance(spec, dict) and "state" in spec)


def torch_optimizer(
    spec: Any,
    *,
    name: str | None,
    groups: Any,
    scheduler: Any,
    params: Any,
    every: int = 1,
    before: int = 0,
) -> optax.GradientTransformation:
    """The optax transformation of a torch optimizer (see `from_torch_optimizer`); ``every``
    is its ``updates_per_scheduler_step``, ``before`` its ``updates_before_scheduler``."""
    kind = torch_name(spec, name)
    hyper = torch_groups(spec)
    inits = {g.get("initial_accumulator_value", 0) for g in hyper}
    if kind == "Adagrad" and len(inits) > 1:
        raise ValueError(
            "from_torch_optimizer: these Adagrad param groups give different "
            f"initial_accumulator_value {sorted(inits)}, but torch fills every group's sums from "
            "the constructor's value; pass the optimizer object (its defaults hold that value)."
        )
    carried = None
    counts = [0] * len(hyper)
    if params is not None:
        if not _holds_state(spec):
            raise ValueError(
                "from_torch_optimizer: params= carries the optimizer's state, so spec must be "
                "the optimizer or its whole state_dict(); got a spec without state."
            )
        treedef, leaves = torch_leaf_states(spec, params, kind)
        carried = [torch_group_state(kind, g, leaves, k) for k, g in enumerate(hyper)]
        counts = [count for count, _ in carried]
        of_leaf = jax.tree.unflatten(treedef, [leaf.group for leaf in leaves])
        if groups is None and len(hyper) > 1:
            groups = of_leaf
        elif groups is not None and jax.tree.leaves(groups) != jax.tree.leaves(of_leaf):
            raise ValueError(
                "from_torch_optimizer: groups= puts leaves in other param groups than the torch "
                f"optimizer does ({of_leaf}); leave groups out when passing params=."
            )
    elif _holds_state(spec) and torch_has_trained(spec):
        raise ValueError(
            "from_torch_optimizer: this optimizer has taken steps (it holds momentum or moment "
            "buffers), which a fresh optax state would drop. Pass params=, a pytree of the JAX "
            "params' structure whose leaves are the torch parameters (e.g. {'w': model.fc.weight"
            ".T, 'b': model.fc.bias}), to resume from its state; or pass "
            "opt.state_dict()['param_groups'] to start over from zero state on purpose."
        )
    rates: list[Rate | None] = [None] * len(hyper)
    momenta: list[Rate | None] = [None] * len(hyper)
    if scheduler is not None:
        if hasattr(spec, "param_groups") and getattr(scheduler, "optimizer", spec) is not spec:
            raise ValueError("scheduler: it drives another optimizer than spec.")
        epoch_fns, momentum_fns = epoch_rates(scheduler, hyper), epoch_momenta(scheduler, hyper)
        epoch = check_position(scheduler, epoch_fns, hyper, momentum_fns)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(
                "updates_per_scheduler_step must be an int >= 1; got "
                f"updates_per_scheduler_step={every!r}."
            )
        # torch's Adam, AdamW, RMSprop and Adagrad keep the step count; SGD does not
        known = params is not None and kind != "SGD"
        phases = [
            scheduler_phase(epoch=epoch, count=c, every=every, before=before, known=known)
            for c in counts
        ]
        # the next update is made at count + 1 and must use torch's rate at `epoch`
        rates = [
            jax_schedule(f, epoch=epoch, count=c, every=every, phase=ph)
            for f, c, ph in zip(epoch_fns, counts, phases, strict=True)
        ]
        if momentum_fns is not None:
            momenta = [
                jax_schedule(f, epoch=epoch, count=c, every=every, phase=ph)
                for f, c, ph in zip(momentum_fns, counts, phases, strict=True)
            ]
    txs = [
        torch_transform(kind, g, lr=r, momentum=m)
        for g, r, m in zip(hyper, rates, momenta, strict=True)
    ]
    if carried is not None:
        txs = [
            resuming(tx, treedef, count, per_leaf, tx.init, [leaf.value for leaf in leaves])
            for tx, (count, per_leaf) in zip(txs, carried, strict=True)
        ]
    if len(txs) == 1 and groups is None:
        return txs[0]
    if groups is None:
        raise ValueError(
            f"from_torch_optimizer: the spec has {len(txs)} param groups; pass groups=, a pytree "
            "with the params' structure of group indices (0, 1, ...), to say which leaf is in "
            "which group."
        )
    return optax.multi_transform(dict(enumerate(txs)), groups)
