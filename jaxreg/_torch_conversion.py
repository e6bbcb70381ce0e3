"""`from_torch_optimizer`'s assembly: each param group's update, schedule and carried state."""

from __future__ import annotations

import functools
import types
from collections.abc import Hashable, Mapping
from typing import Any

import jax
import numpy as np
import optax

from ._optimizer_state import (
    resuming,
    torch_group_state,
    torch_has_trained,
    torch_leaf_states,
    with_structure,
)
from ._optimizers import Rate, torch_groups, torch_name, torch_transform
from ._schedules import (
    check_position,
    epoch_momenta,
    epoch_rates,
    jax_schedule,
    scheduler_phase,
)

# the multi_transform label of the leaves torch never updates (requires_grad=False)
_FROZEN = -1


def _holds_state(spec: Any) -> bool:
    return hasattr(spec, "param_groups") or (isinstance(spec, dict) and "state" in spec)


def _frozen_parameters(hyper: list[dict[str, Any]]) -> list[str]:
    """The optimizer's parameters with ``requires_grad=False``, as 'group g: shape (..)'."""
    return [
        f"group {k}: shape {tuple(p.shape)}"
        for k, g in enumerate(hyper)
        for p in g.get("params", [])
        if getattr(p, "requires_grad", True) is False
    ]


def _is_label_function(groups: Any) -> bool:
    """A plain function (or partial) of the params; any pytree of labels is a tree, even a
    callable one (a tree_map over an ``eqx.nn.MLP`` is an MLP)."""
    if isinstance(groups, types.FunctionType | types.MethodType | functools.partial):
        return True
    return callable(groups) and jax.tree_util.treedef_is_leaf(jax.tree.structure(groups))


def _check_labels(labels: Any, n_groups: int) -> None:
    """Each label is an int naming one of the ``n_groups`` param groups."""
    for path, label in jax.tree_util.tree_flatten_with_path(labels)[0]:
        if isinstance(label, bool) or not isinstance(label, int | np.integer):
            raise ValueError(
                f"groups: each label is the index of a torch param group, an int in 0.."
                f"{n_groups - 1}; got {label!r} ({type(label).__name__}) at leaf "
                f"{jax.tree_util.keystr(path)}."
            )
        if not 0 <= label < n_groups:
            raise ValueError(
                f"groups: the label {label!r} at leaf {jax.tree_util.keystr(path)} is not a param "
                f"group of the optimizer, which has {n_groups}: allowed 0..{n_groups - 1}."
            )


def _check_group_sizes(labels: Any, params: Any, hyper: list[dict[str, Any]]) -> None:
    """Each torch group holds as many parameters as leaves are labelled with it, and (for an
    optimizer object) parameters of the same numbers of elements (a kernel may be the
    transposed weight)."""
    try:
        per_leaf = jax.tree.map(lambda lab, sub: jax.tree.map(lambda _: lab, sub), labels, params)
    except ValueError as e:
        raise ValueError(
            f"groups: its tree is not the params' structure (or a prefix of it): {labels!r} for "
            f"params of structure {jax.tree.structure(params)}; give one label per leaf."
        ) from e
    labelled = list(zip(jax.tree.leaves(per_leaf), jax.tree.leaves(params), strict=True))
    for k, group in enumerate(hyper):
        if "params" not in group:  # a dict of hyperparameters: no parameters to count
            continue
        sizes = sorted(int(np.size(p)) for label, p in labelled if label == k)
        torch_params = group["params"]  # tensors (the optimizer) or ids (a state_dict)
        if len(sizes) != len(torch_params):
            raise ValueError(
                f"groups: {len(sizes)} leaves are labelled {k}, but torch's param group {k} "
                f"holds {len(torch_params)} parameters; label each leaf with the index of the "
                "param group of its torch parameter (group sizes "
                f"{[len(g['params']) for g in hyper]})."
            )
        if all(hasattr(p, "numel") for p in torch_params):
            wanted = sorted(int(p.numel()) for p in torch_params)
            if sizes != wanted:
                raise ValueError(
                    f"groups: the leaves labelled {k} have {sizes} elements, torch's param "
                    f"group {k} parameters of {wanted}: the labels put leaves in another group "
                    "than their torch parameters."
                )


def _grouped(
    txs: Mapping[Hashable, optax.GradientTransformation],
    groups: Any,
    hyper: list[dict[str, Any]],
) -> optax.GradientTransformation:
    """`optax.multi_transform` of the groups' updates, its labels checked against torch's
    param groups when ``init`` sees the params."""
    if _is_label_function(groups):
        label_fn = groups
    else:
        _check_labels(groups, len(hyper))  # a tree: checked now, its sizes at init
        label_fn = lambda _: groups  # noqa: E731 (a callable tree would be called otherwise)
    tx = optax.multi_transform(txs, label_fn)

    def init(params: Any) -> Any:
        labels = label_fn(params)
        _check_labels(labels, len(hyper))
        _check_group_sizes(labels, params, hyper)
        return tx.init(params)

    return optax.GradientTransformation(init, tx.update)


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
        if groups is not None and jax.tree.leaves(groups) != jax.tree.leaves(of_leaf):
            raise ValueError(
                "groups: it puts leaves in other param groups than the torch optimizer does "
                f"({of_leaf}); leave groups out when passing params=."
            )
        groups = None  # the labels come from the map, frozen leaves apart
        if len(hyper) > 1 or any(leaf.frozen for leaf in leaves):
            labels = [_FROZEN if leaf.frozen else leaf.group for leaf in leaves]
            groups = jax.tree.unflatten(treedef, labels)
    elif _frozen_parameters(hyper):
        raise ValueError(
            "from_torch_optimizer: the optimizer holds parameters with requires_grad=False ("
            + ", ".join(_frozen_parameters(hyper))
            + "), which torch never updates (their grad stays None: no step, no weight decay)."
            " Pass params=, the JAX params' tree with the torch parameters as leaves, so that "
            "their leaves get no update; or leave them out of the optimizer."
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
    if carried is not None:  # labels from the map: right by construction, frozen leaves apart
        parts: dict[Hashable, optax.GradientTransformation] = {_FROZEN: optax.set_to_zero()}
        parts.update(enumerate(txs))
        mapped = groups
        # the labels' tree may be callable (an equinox module): a function returns it
        return with_structure(optax.multi_transform(parts, lambda _: mapped), treedef)
    return _grouped(dict(enumerate(txs)), groups, hyper)
