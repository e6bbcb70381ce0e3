"""A trained torch or Keras optimizer's state, carried onto JAX params.

The user says which framework parameter each JAX leaf is with a pytree of the JAX params'
structure whose leaves are the framework's own parameters (torch tensors, or views of them such
as ``weight.T``; Keras variables), or, for a torch ``state_dict()``, their integer ids. Every
buffer is copied exactly (through the same view as the weight); a buffer that is missing, extra,
or at another step than its group's raises: the converted optimizer resumes where the framework
stopped, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.core import Tracer
from optax.transforms import MaskedNode

from ._optimizers import ConvertedState

# each torch optimizer's per-parameter buffers, in the order its update names them
TORCH_BUFFERS: dict[str, tuple[str, ...]] = {
    "SGD": ("momentum_buffer",),
    "Adam": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "AdamW": ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
    "RMSprop": ("square_avg", "grad_avg", "momentum_buffer"),
    "Adagrad": ("sum",),
}
# each Keras optimizer's slot variables (attribute of the optimizer, one per trainable variable)
KERAS_SLOTS: dict[str, tuple[str, ...]] = {
    "SGD": ("momentums",),
    "Adam": ("_momentums", "_velocities", "_velocity_hats"),
    "AdamW": ("_momentums", "_velocities", "_velocity_hats"),
    "RMSprop": ("_velocities", "_average_gradients", "_momentums"),
    "Adagrad": ("_accumulators",),
}


class LeafState:
    """One JAX leaf's framework state: its group, step, named buffers (NumPy arrays), the
    parameter's value through the leaf's view (None for a state_dict's ids), and whether torch
    skips it (``requires_grad=False``: its grad stays None, so torch never updates it)."""

    def __init__(
        self,
        group: int,
        step: float | None,
        buffers: dict[str, np.ndarray],
        value: np.ndarray | None,
        *,
        frozen: bool = False,
    ):
        self.group, self.step, self.buffers, self.value = group, step, buffers, value
        self.frozen = frozen


def _numpy(x: Any) -> np.ndarray:
    """A copy: torch goes on updating its buffers in place after the conversion."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy().copy()
    return np.array(x, copy=True)


def _view_of(leaf: Any, params: list[Any]) -> tuple[int, Callable[[Any], np.ndarray]]:
    """The index of the torch parameter a leaf is (or views), and how to view its buffers."""
    ids = {id(p): i for i, p in enumerate(params)}
    if id(leaf) in ids:
        return ids[id(leaf)], _numpy
    base = getattr(leaf, "_base", None)
    if base is None or id(base) not in ids:
        raise ValueError(
            "params: each leaf must be a parameter of the torch optimizer (or a view of one, "
            f"such as weight.T); got a {type(leaf).__name__} of shape "
            f"{tuple(getattr(leaf, 'shape', ()))} that the optimizer does not hold."
        )
    if not base.is_contiguous():
        raise ValueError("params: a view of a non-contiguous torch parameter is not supported.")
    # the view's strides index the base's storage: apply them to the base's element numbers
    numbers = np.arange(base.numel()).reshape(tuple(base.shape))
    offset = leaf.storage_offset() - base.storage_offset()
    item = numbers.itemsize
    picked = np.lib.stride_tricks.as_strided(
        numbers.reshape(-1)[offset:],
        shape=tuple(leaf.shape),
        strides=tuple(s * item for s in leaf.stride()),
    )
    return ids[id(base)], lambda buf: _numpy(buf).reshape(-1)[picked]


def torch_leaf_states(spec: Any, torch_params: Any, name: str) -> tuple[Any, list[LeafState]]:
    """The treedef of ``torch_params`` and each leaf's torch state, checked complete."""
    if hasattr(spec, "param_groups"):
        params = [p for g in spec.param_groups for p in g["params"]]
        state_of = lambda i: spec.state.get(params[i], {})  # noqa: E731
        group_sizes = [len(g["params"]) for g in spec.param_groups]
    else:  # a state_dict(): parameters are ints, the state is keyed by them
        params = [i for g in spec["param_groups"] for i in g["params"]]
        state_of = lambda i: spec["state"].get(params[i], {})  # noqa: E731
        group_sizes = [len(g["params"]) for g in spec["param_groups"]]
    group_of = np.repeat(np.arange(len(group_sizes)), group_sizes)
    leaves, treedef = jax.tree.flatten(torch_params)
    out, seen = [], set()
    for leaf in leaves:
        if isinstance(leaf, int) and not hasattr(spec, "param_groups"):
            if leaf not in params:
                raise ValueError(f"params: {leaf} is not a parameter id of the state_dict.")
            index, view, value, frozen = params.index(leaf), _numpy, None, False
        else:
            (index, view), value = _view_of(leaf, params), _numpy(leaf)
            frozen = not params[index].requires_grad
        if index in seen:
            raise ValueError(f"params: torch parameter {index} appears twice in the tree.")
        seen.add(index)
        raw = dict(state_of(index))
        step = raw.pop("step", None)
        unknown = set(raw) - set(TORCH_BUFFERS[name])
        if unknown:
            raise ValueError(
                f"from_torch_optimizer: torch state {sorted(unknown)} of parameter {index} is not "
                f"part of the {name} update reproduced here."
            )
        buffers = {k: view(v) for k, v in raw.items() if v is not None}
        step = None if step is None else float(step)
        out.append(LeafState(int(group_of[index]), step, buffers, value, frozen=frozen))
    missing = [i for i in range(len(params)) if i not in seen and state_of(i)]
    if missing:
        raise ValueError(
            f"params: the torch optimizer holds state for parameters {missing} that the tree "
            "does not name; map every parameter the optimizer trained (their state would be "
            "dropped otherwise)."
        )
    return treedef, out


def torch_group_state(
    name: str, group: dict[str, Any], leaves: list[LeafState], k: int
) -> tuple[int, list[list[np.ndarray | None]]]:
    """Group ``k``'s step count and buffers per leaf (None: the leaf is in another group, or
    frozen: torch never steps it, so its state, if any, says nothing of the group's count).

    SGD keeps no step: its count only says whether the momentum buffer exists (torch starts
    the buffer at the first step's gradient).
    """
    mine = [leaf for leaf in leaves if leaf.group == k and not leaf.frozen]
    names = TORCH_BUFFERS[name]
    expected = _expected_buffers(name, group)
    if name == "SGD":
        steps = {1 if "momentum_buffer" in leaf.buffers else 0 for leaf in mine}
    else:
        steps = {leaf.step or 0 for leaf in mine}
    if len(steps) > 1:
        raise ValueError(
            f"from_torch_optimizer: the parameters of param group {k} are at different steps "
            f"{sorted(steps)} (some missed gradients); torch then updates each on its own count, "
            "which one optax state per group does not reproduce."
        )
    count = int(steps.pop()) if steps else 0
    per_leaf: list[list[np.ndarray | None]] = []
    for leaf in leaves:
        if leaf.group != k or leaf.frozen:
            per_leaf.append([None] * len(names))
            continue
        if count and set(leaf.buffers) != expected:
            raise ValueError(
                f"from_torch_optimizer: a parameter of group {k} has torch state "
                f"{sorted(leaf.buffers)}, but {name} with these settings keeps {sorted(expected)}"
                " (a setting changed mid-training?)."
            )
        per_leaf.append([leaf.buffers.get(n) for n in names])
    return count, per_leaf


def _expected_buffers(name: str, group: dict[str, Any]) -> set[str]:
    if name == "SGD":
        return {"momentum_buffer"} if group.get("momentum", 0) else set()
    if name in ("Adam", "AdamW"):
        return {"exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if group.get("amsgrad") else set())
    if name == "RMSprop":
        return (
            {"square_avg"}
            | ({"grad_avg"} if group.get("centered") else set())
            | ({"momentum_buffer"} if group.get("momentum", 0) else set())
        )
    return {"sum"}


def torch_has_trained(spec: Any) -> bool:
    """Whether a torch optimizer (or state_dict) holds state a fresh one would not."""
    state = spec.state if hasattr(spec, "param_groups") else spec.get("state", {})
    for s in state.values():
        if float(s.get("step", 0)) > 0 or s.get("momentum_buffer") is not None:
            return True
    return False


def keras_iterations(spec: Any) -> int:
    """The steps a Keras optimizer object has taken (0 for a config dict)."""
    iterations = getattr(spec, "iterations", None) if not isinstance(spec, dict) else None
    return 0 if iterations is None else int(np.asarray(iterations))


def keras_leaf_states(
    spec: Any, keras_params: Any, kind: str
) -> tuple[Any, int, list[list[np.ndarray | None]], list[np.ndarray]]:
    """The treedef of ``keras_params``, the optimizer's ``iterations``, each leaf's slot
    variables (``momentums``, ``velocities``, ...), checked complete, and each variable's value."""
    leaves, treedef = jax.tree.flatten(keras_params)
    count = keras_iterations(spec)
    values = [_numpy(leaf) for leaf in leaves]
    indices = getattr(spec, "_trainable_variables_indices", None)
    if not indices:  # never built: no state yet
        return treedef, count, [[None] * len(KERAS_SLOTS[kind]) for _ in leaves], values
    slots = [getattr(spec, attr, None) or [] for attr in KERAS_SLOTS[kind]]
    per_leaf, seen = [], set()
    for leaf in leaves:
        index = indices.get(spec._var_key(leaf))
        if index is None:
            raise ValueError(
                "params: each leaf must be a trainable variable the Keras optimizer was built "
                f"with; got {getattr(leaf, 'path', type(leaf).__name__)!r}."
            )
        seen.add(index)
        per_leaf.append([_numpy(slot[index]) if slot else None for slot in slots])
    missing = sorted(set(indices.values()) - seen)
    if missing:
        raise ValueError(
            f"params: the Keras optimizer holds state for variables {missing} (in its build "
            "order) that the tree does not name; map every variable it trained."
        )
    return treedef, count, per_leaf, values


def check_values(paths_leaves: Sequence[tuple[Any, Any]], values: Sequence[Any]) -> None:
    """Each concrete JAX leaf equals the framework parameter mapped to it (rounded to the leaf's
    dtype), so that a crossed or untransposed map raises instead of moving the state onto the
    wrong weights; traced leaves (``init`` under ``jit``) are not checked."""
    for (path, p), value in zip(paths_leaves, values, strict=True):
        if value is None or isinstance(p, MaskedNode | Tracer):
            continue
        where = f"params: the JAX leaf {jax.tree_util.keystr(path)}"
        if tuple(value.shape) != tuple(p.shape):
            raise ValueError(
                f"{where} has shape {tuple(p.shape)}, the framework parameter mapped to it "
                f"{tuple(value.shape)}: give the leaf as the same view of the framework parameter "
                "as the weight (e.g. weight.T)."
            )
        got, want = np.asarray(p), value.astype(np.asarray(p).dtype)
        if not np.array_equal(got, want, equal_nan=True):
            diff = float(np.nanmax(np.abs(got.astype(np.float64) - want.astype(np.float64))))
            raise ValueError(
                f"{where} differs from the framework parameter mapped to it at conversion (max "
                f"|difference| {diff:.3g}): the map crosses two parameters or misses a view (e.g. "
                "weight.T for a kernel), so the carried state would move onto the wrong weights. "
                "Map each leaf to its own parameter, through the view that gives the JAX value."
            )


def check_structure(got: Any, treedef: Any) -> None:
    """The JAX params' treedef ``got`` is that of the map given with ``params=``."""
    if got != treedef:
        raise ValueError(
            "params: the JAX params' structure differs from the tree of framework "
            "parameters given at conversion. Build that tree from the JAX params themselves "
            "so that it has their very structure: jax.tree_util.tree_map_with_path(lambda "
            "path, leaf: <the framework parameter of that path>, params) (a flax nnx.State "
            "keeps each array in an nnx.Variable, so a plain dict, or nnx.State of a dict, "
            f"is another structure; the docs' Conventions page shows it).\n{got}\nvs\n"
            f"{treedef}"
        )


def with_structure(tx: optax.GradientTransformation, treedef: Any) -> optax.GradientTransformation:
    """``tx`` whose ``init`` first checks the params' structure against the ``params=`` map's
    (before `optax.multi_transform` matches its labels to the params with a bare pytree error)."""

    def init(params: Any) -> Any:
        check_structure(jax.tree.structure(params), treedef)
        return tx.init(params)

    return optax.GradientTransformation(init, tx.update)


def resuming(
    tx: optax.GradientTransformation,
    treedef: Any,
    count: int,
    per_leaf: Sequence[Sequence[np.ndarray | None]],
    init_buffers: Callable[[Any], Any],
    values: Sequence[np.ndarray | None],
) -> optax.GradientTransformation:
    """``tx`` whose ``init`` returns the carried state instead of a fresh one.

    ``per_leaf[i][k]`` is buffer ``k`` of leaf ``i`` (None: the fresh value); leaves masked out
    by `optax.multi_transform` stay masked. ``values[i]``: the framework parameter of leaf ``i``
    (None: not known), which a concrete leaf must equal (`check_values`).
    """

    def init(params: Any) -> ConvertedState:
        is_masked = lambda x: isinstance(x, MaskedNode)  # noqa: E731
        paths_leaves, got = jax.tree_util.tree_flatten_with_path(params, is_leaf=is_masked)
        check_structure(got, treedef)
        check_values(paths_leaves, values)
        fresh: ConvertedState = init_buffers(params)
        fresh_leaves = [jax.tree.leaves(b, is_leaf=is_masked) for b in fresh.buffers]
        buffers = []
        for k, fresh_k in enumerate(fresh_leaves):
            leaves = []
            for i, ((path, p), new) in enumerate(zip(paths_leaves, fresh_k, strict=True)):
                carried = per_leaf[i][k]
                if is_masked(p) or carried is None:
                    leaves.append(new)
                    continue
                if tuple(carried.shape) != tuple(p.shape):
                    raise ValueError(
                        f"params: the JAX leaf {jax.tree_util.keystr(path)} has shape "
                        f"{tuple(p.shape)}, its framework state {tuple(carried.shape)}: give the "
                        "leaf as the same view of the framework parameter as the weight (e.g. "
                        "weight.T)."
                    )
                leaves.append(jnp.asarray(carried, p.dtype))
            buffers.append(jax.tree.unflatten(treedef, leaves))
        return ConvertedState(jnp.asarray(count, jnp.int32), tuple(buffers))

    return optax.GradientTransformation(init, tx.update)  # pyright: ignore[reportArgumentType]
