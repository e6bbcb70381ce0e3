"""Masks: which leaves a penalty touches, with `optax.masked`'s contract.

A mask is None (every penalizable leaf), a pytree of bools with the params' structure or a
prefix of it, or a callable ``params -> pytree of bools``, exactly as in `optax.masked`. Every
mask is normalized once, at build time, into a `Mask`: a hashable, picklable callable
``params -> pytree of bools`` (so it works in `optax.masked` too) that combines with ``&``,
``|`` and ``~``. Masks decide from tree structure, paths, types and shapes, never from values.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import numpy as np

from ._trees import broadcast_prefix, path_str
from ._typing import MaskLike, PyTree


def _as_bool(x: Any, where: str) -> bool:
    if isinstance(x, bool | np.bool_):
        return bool(x)
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            f"a mask must be static, but the mask's entry at '{where}' is a traced value. Decide "
            "from paths, types and shapes (jr.masks.where), not from parameter values."
        )
    if isinstance(x, np.ndarray | jax.Array) and x.shape == () and x.dtype == bool:
        return bool(x)
    raise TypeError(
        f"mask entries must be bools; got {type(x).__name__} {x!r} at '{where}'. A mask is None, "
        "a pytree of bools or a callable params -> pytree of bools (as in optax.masked); for a "
        "per-leaf predicate use jr.masks.where(lambda path, leaf: ...)."
    )


def resolve(mask: Mask | None, params: PyTree) -> list[bool]:
    """One bool per leaf of ``params`` (in `jax.tree.leaves` order): does ``mask`` select it?"""
    return [True] * len(jax.tree.leaves(params)) if mask is None else mask.selects(params)


def _bools(tree: PyTree, params: PyTree) -> list[bool]:
    """A bool tree (params' structure or a prefix) as one bool per leaf of ``params``."""
    entries = broadcast_prefix(tree, params, name="mask")
    paths = [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    return [_as_bool(e, p or "<root>") for e, p in zip(entries, paths, strict=True)]


class Mask:
    """A static leaf selection: ``mask(params)`` is a pytree of bools with params' structure.

    Combine with ``a & b``, ``a | b`` and ``~a`` (operands may also be bool trees or optax-style
    callables). Equal masks compare and hash equal, so a `Penalty` holding one stays a valid
    static argument / pytree aux datum.
    """

    def selects(self, params: PyTree) -> list[bool]:  # pragma: no cover - overridden
        """One bool per leaf of ``params``, in `jax.tree.leaves` order."""
        raise NotImplementedError

    def __call__(self, params: PyTree) -> PyTree:
        return jax.tree.unflatten(jax.tree.structure(params), self.selects(params))

    def _key(self) -> tuple[Any, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __and__(self, other: MaskLike) -> Mask:
        return _Combine("&", (self, as_mask(other, argument="mask")))

    def __rand__(self, other: MaskLike) -> Mask:
        return _Combine("&", (as_mask(other, argument="mask"), self))

    def __or__(self, other: MaskLike) -> Mask:
        return _Combine("|", (self, as_mask(other, argument="mask")))

    def __ror__(self, other: MaskLike) -> Mask:
        return _Combine("|", (as_mask(other, argument="mask"), self))

    def __invert__(self) -> Mask:
        return _Not(self)


class _Combine(Mask):
    def __init__(self, op: str, parts: tuple[Mask | None, Mask | None]):
        self.op, self.parts = op, parts

    def selects(self, params: PyTree) -> list[bool]:
        a, b = (resolve(p, params) for p in self.parts)
        if self.op == "&":
            return [x and y for x, y in zip(a, b, strict=True)]
        return [x or y for x, y in zip(a, b, strict=True)]

    def _key(self) -> tuple[Any, ...]:
        return (self.op, self.parts)

    def __repr__(self) -> str:
        return f"({self.parts[0]!r} {self.op} {self.parts[1]!r})"


class _Not(Mask):
    def __init__(self, inner: Mask):
        self.inner = inner

    def selects(self, params: PyTree) -> list[bool]:
        return [not x for x in resolve(self.inner, params)]

    def _key(self) -> tuple[Any, ...]:
        return (self.inner,)

    def __repr__(self) -> str:
        return f"~{self.inner!r}"


class _Const(Mask):
    def __init__(self, value: bool):
        self.value = bool(value)

    def selects(self, params: PyTree) -> list[bool]:
        return [self.value] * len(jax.tree.leaves(params))

    def _key(self) -> tuple[Any, ...]:
        return (self.value,)

    def __repr__(self) -> str:
        return repr(self.value)


class _BoolTree(Mask):
    """A user's pytree of bools (params' structure or a prefix), compared by structure + bools."""

    def __init__(self, tree: PyTree):
        self.tree = tree

    def selects(self, params: PyTree) -> list[bool]:
        return _bools(self.tree, params)

    def _key(self) -> tuple[Any, ...]:
        leaves, treedef = jax.tree.flatten(self.tree)
        return (treedef, tuple(bool(x) for x in leaves))

    def __repr__(self) -> str:
        return repr(self.tree)


class _Fn(Mask):
    """An optax-style callable ``params -> pytree of bools``; equal only to itself."""

    def __init__(self, fn: Callable[[PyTree], PyTree]):
        self.fn = fn

    def selects(self, params: PyTree) -> list[bool]:
        return _bools(self.fn(params), params)

    def __call__(self, params: PyTree) -> PyTree:
        return self.fn(params)

    def _key(self) -> tuple[Any, ...]:
        return (self.fn,)

    def __repr__(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


def _required_positional(fn: Callable[..., Any]) -> int | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(
        1
        for p in sig.parameters.values()
        if p.kind in kinds and p.default is inspect.Parameter.empty
    )


def as_mask(mask: MaskLike, *, argument: str = "mask") -> Mask | None:
    """Normalize a user's ``mask=`` (None, bool, bool pytree, callable, `Mask`) at build time.

    A pytree whose leaves are all bools is a bool tree even when its root is callable (an
    equinox module mapped to bools); any other callable is ``params -> pytree of bools``.
    """
    if mask is None or isinstance(mask, Mask):
        return mask
    if isinstance(mask, bool | np.bool_):
        return _Const(bool(mask))
    if isinstance(mask, str):
        raise TypeError(
            f"{argument} must be None, a pytree of bools or a callable params -> pytree of bools; "
            f"got the string {mask!r}. To select leaves by name use "
            f"jaxreg.masks.by_path(include={mask!r})."
        )
    leaves = jax.tree.leaves(mask)
    if all(isinstance(x, bool | np.bool_) for x in leaves) and not (
        callable(mask) and leaves == [mask]
    ):
        return _BoolTree(mask)
    if callable(mask) and leaves == [mask]:
        if _required_positional(mask) == 2:
            raise TypeError(
                f"{argument}={getattr(mask, '__qualname__', mask)!r} takes two arguments; masks "
                "follow optax.masked: a callable takes params and returns a pytree of bools. Wrap "
                "a per-leaf predicate (path, leaf) -> bool as jaxreg.masks.where(predicate)."
            )
        return _Fn(mask)
    bad = next(x for x in leaves if not isinstance(x, bool | np.bool_))
    raise TypeError(
        f"{argument} must be None, a pytree of bools or a callable params -> pytree of bools; "
        f"it holds a leaf {bad!r} of type {type(bad).__name__}."
    )


# --------------------------------------------------------------------------------------------
# Ready-made masks


class where(Mask):  # noqa: N801 - used like a function: jr.masks.where(predicate)
    """A per-leaf predicate as a mask: selects the leaves where ``predicate(path, leaf)`` is True.

    ``path`` is the leaf's ``'a/b/0/kernel'`` key path (dict keys, attribute names and sequence
    indices joined by ``/``; flax nnx's trailing ``.value`` dropped); ``leaf`` is the leaf
    itself. The predicate must return a Python bool decided from the path, type, shape or dtype,
    never from values (they may be traced). A mask compares equal to another only if it holds
    the same function object, and pickles if the function does (a module-level ``def``).

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> wide = jr.masks.where(lambda path, leaf: leaf.shape[-1] > 2)
    >>> wide({"a": jnp.ones((3, 4)), "b": jnp.ones(2)})
    {'a': True, 'b': False}
    """

    def __init__(self, predicate: Callable[[str, Any], bool]):
        if not callable(predicate):
            raise TypeError(f"predicate must be callable (path, leaf) -> bool; got {predicate!r}.")
        if _required_positional(predicate) not in (None, 2):
            raise TypeError(
                f"jr.masks.where(predicate): the predicate is called as predicate(path, leaf) "
                f"with the leaf's 'a/b/c' path and the leaf; "
                f"{getattr(predicate, '__qualname__', predicate)!r} takes "
                f"{_required_positional(predicate)} required argument(s)."
            )
        self.predicate = predicate

    def selects(self, params: PyTree) -> list[bool]:
        out = []
        for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
            p = path_str(path)
            decision = self.predicate(p, leaf)
            if not isinstance(decision, bool | np.bool_):
                raise TypeError(
                    f"a jr.masks.where predicate must return a Python bool; it returned "
                    f"{decision!r} (type {type(decision).__name__}) for path '{p}'. Decide from "
                    "the path and the leaf's shape/dtype, never from traced values."
                )
            out.append(bool(decision))
        return out

    def _key(self) -> tuple[Any, ...]:
        return (self.predicate,)

    def __repr__(self) -> str:
        return f"where({getattr(self.predicate, '__qualname__', self.predicate)})"


#: Names of the leaves that hold a layer's weights in flax, Keras, equinox, PyTorch, Haiku and
#: scikit-learn: ``kernel``, ``weight(s)``, ``coef(s)``, ``w``/``W``, optionally with a number or
#: an ``_``-suffix (``w1``, ``W_2``, ``weight_ih_l0``), ``..._kernel``/``..._weight`` (Keras
#: ``recurrent_kernel``, torch MultiheadAttention ``in_proj_weight``), and the attention
#: projections ``wq``, ``wk``, ``wv``, ``wo`` (LLaMA; ``wqkv``, ``Wq``, ``wq_a``). Not GPT-2's
#: ``wte``/``wpe``: those are embedding tables.
KERNEL_NAME = re.compile(
    r"^(?:[A-Za-z0-9]+_)*(?:kernel|weight)(?:\d+|_[A-Za-z0-9_]*)?$"
    r"|^(?:weights|coefs?|w|W|[wW](?:q|k|v|o|qkv|kv))(?:\d+|_[A-Za-z0-9_]*)?$"
)
#: The names a 1-D kernel may have: a linear model's coefficient vector. Not ``weight``: a 1-D
#: ``weight`` is a normalization scale (torch and equinox BatchNorm/LayerNorm/GroupNorm/RMSNorm)
#: or a PReLU slope.
VECTOR_KERNEL_NAME = re.compile(r"^(?:kernel|weights|coefs?|w|W)(?:\d+|_[A-Za-z0-9_]*)?$")
# equinox layers whose `weight` is not a kernel: an embedding table or a normalization scale.
_EQX_NOT_KERNELS = frozenset({"Embedding", "LayerNorm", "GroupNorm", "RMSNorm", "BatchNorm"})


def _not_kernels(node: Any) -> bool:
    cls = type(node)
    return cls.__module__.split(".")[0] == "equinox" and cls.__name__ in _EQX_NOT_KERNELS


def _components(path: Any) -> list[str]:
    """A leaf's path as names, torch's ``.``-joined state_dict keys split: ``['0', 'weight']``."""
    return [c for c in re.split(r"[/.]", path_str(path)) if c]


class _Kernels(Mask):
    """Select the layers' weight matrices and conv kernels, by name and shape.

    A leaf is a kernel when its name (the last component of its path that is not a sequence
    index; torch's ``.``-joined ``state_dict`` keys are split) is ``kernel``, ``weight``,
    ``weights``, ``coef``, ``coefs``, ``w`` or ``W``, optionally with a number or an
    ``_``-suffix (``w1``, ``W_2``, ``weight_ih_l0``, ``coefs/0``) or an ``_``-prefix
    (``recurrent_kernel``, ``in_proj_weight``), or is an attention projection ``wq``, ``wk``,
    ``wv``, ``wo``, ``wqkv``, ``wkv`` (LLaMA-style; the same suffixes; not GPT-2's ``wte`` /
    ``wpe``, which are embeddings), and

    - it has 2 or more dimensions, and is not a ``weight`` beside a ``bias`` of its own shape
      (the elementwise scale of a norm over a 2-D shape: torch ``LayerNorm((H, W))``); or
    - it has 1 dimension and is named ``w``, ``W``, ``coef(s)``, ``weights`` or ``kernel`` (a
      linear model's coefficient vector); a 1-D ``weight`` is a norm scale (torch and equinox
      BatchNorm, LayerNorm, GroupNorm, RMSNorm) or a PReLU slope, never a kernel;

    and it does not sit inside an equinox ``Embedding``, ``LayerNorm``, ``GroupNorm``,
    ``RMSNorm`` or ``BatchNorm``. A leaf with no name (a bare array, ``[(W, b), ...]``) is a
    kernel when it has 2 or more dimensions, whereas the leaves of a list or tuple held by a
    name that is not a kernel name are not (``{"layers": [(W, b)]}`` selects nothing). On such
    trees, and on path-less stacked layers (their biases are ``(L, out)``), pass an explicit
    mask. Scalars are never kernels.

    So: flax linen/nnx ``Dense``/``Linear``/``Conv``/attention ``kernel``, equinox
    ``Linear``/``Conv``/``MLP`` ``weight``, torch ``Linear``/``Conv``/``MultiheadAttention``/
    ``LSTM`` weights (in a ``state_dict`` nested by module or flat): yes. ``bias``, ``scale``,
    ``embedding``, batch statistics (``mean``, ``var``, ``running_mean``), norm scales: no.
    This is Keras's ``kernel_regularizer`` and scikit-learn's ``coefs_``.

    What names and shapes cannot tell: a torch ``nn.Embedding``'s ``weight`` (2-D, no bias) is
    selected, as is the ``weight`` of a torch ``LayerNorm``/``RMSNorm`` over a 2-D shape
    without a bias; from the torch module itself, `jaxreg.masks.from_torch_module` selects by
    layer type. To add flax embeddings, use ``kernels | by_path("embedding")``. A penalty whose
    mask is ``kernels`` raises if it selects nothing while params have leaves of 2 or more
    dimensions (a naming mismatch, not a model without kernels), and ``kernels`` raises when it
    selects nothing but finds a 1-D ``weight`` (a coefficient vector named like a norm scale:
    name it ``w`` or ``coef``, or pass a mask).

    Names cannot see tied weights either: a torch ``state_dict`` lists a parameter shared by
    two modules (a language model's head tied to its embedding) under both names, and each copy
    is penalized. Use `jaxreg.masks.from_torch_module` (it selects one name per parameter), or
    build the JAX tree from ``dict(model.named_parameters())``, which lists each parameter once.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.masks.kernels({"dense": {"kernel": jnp.ones((4, 3)), "bias": jnp.ones(3)}})
    {'dense': {'bias': False, 'kernel': True}}
    >>> jr.masks.kernels({"fc": {"weight": jnp.ones((3, 4))}, "bn": {"weight": jnp.ones(3)}})
    {'bn': {'weight': False}, 'fc': {'weight': True}}
    """

    __name__ = "kernels"  # used like a function (``jr.masks.kernels(params)``): named like one

    def selects(self, params: PyTree) -> list[bool]:
        in_eqx_norm = jax.tree.leaves(
            jax.tree_util.tree_map_with_path(
                lambda _, node: jax.tree.map(lambda _: True, node) if _not_kernels(node) else False,
                params,
                is_leaf=_not_kernels,
            )
        )
        flat = jax.tree_util.tree_flatten_with_path(params)[0]
        paths = [_components(path) for path, _ in flat]
        shapes = {tuple(p): np.shape(leaf) for p, (_, leaf) in zip(paths, flat, strict=True)}
        out, vector_weights = [], []
        for excluded, comps, (_, leaf) in zip(in_eqx_norm, paths, flat, strict=True):
            names = [c for c in comps if not c.isdigit()]
            ndim = np.ndim(leaf)
            if excluded:
                out.append(False)
            elif not names:  # a bare array, or lists/tuples only: the shape is all there is
                out.append(ndim >= 2)
            elif ndim >= 2:
                norm_scale = comps[-1] == "weight" and (
                    shapes.get((*comps[:-1], "bias")) == np.shape(leaf)
                )
                out.append(bool(KERNEL_NAME.match(names[-1])) and not norm_scale)
            else:
                out.append(ndim == 1 and bool(VECTOR_KERNEL_NAME.match(names[-1])))
                if ndim == 1 and KERNEL_NAME.match(names[-1]) and not out[-1]:
                    vector_weights.append("/".join(comps))
        if vector_weights and not any(out):
            raise ValueError(
                f"jaxreg.masks.kernels: the only weights of params are 1-D {vector_weights[:4]}; "
                "a 1-D `weight` is a norm scale (torch, equinox), never a kernel. If it is a "
                "linear model's coefficients, name it `w` or `coef`, or pass mask= explicitly."
            )
        return out

    def _key(self) -> tuple[Any, ...]:
        return ()

    def __repr__(self) -> str:
        return "kernels"  # as penalties print it: l2(0.1, mask=kernels)

    def __reduce__(self) -> str:
        return "kernels"  # pickles as the module-level singleton


kernels: Mask = _Kernels()  # typed as the public class: _Kernels is an implementation


def _compile(patterns: str | Iterable[str] | None, argument: str) -> tuple[str, ...]:
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, Iterable):
        raise TypeError(
            f"{argument} must be a regex string, a list of them or None; got {patterns!r} "
            f"(type {type(patterns).__name__})."
        )
    out = []
    for p in patterns:
        if not isinstance(p, str):
            raise TypeError(f"{argument} must be a regex string or a list of them; got {p!r}.")
        try:
            re.compile(p)
        except re.error as e:
            raise ValueError(f"{argument}={p!r} is not a valid regular expression: {e}.") from e
        out.append(p)
    return tuple(out)


class by_path(Mask):  # noqa: N801 - used like a function: jr.masks.by_path(include=...)
    """Select leaves whose ``'a/b/c'`` key path matches (``re.search``) a regex.

    A leaf is selected when it matches any ``include`` pattern (every leaf, if ``include`` is
    None) and no ``exclude`` pattern. Paths join dict keys, attribute names and sequence
    indices with ``/``: ``'params/Dense_0/kernel'`` for flax linen, ``'layers/0/kernel'`` for a
    flax nnx state, ``'layers/0/weight'`` for an equinox MLP.

    Every ``include`` and every ``exclude`` pattern must match at least one path of the tree
    the mask is applied to, or applying it raises: a typo would otherwise select nothing
    (``kernels & by_path(include="^haed/")`` is 0), drop out of a list or a ``|``, or, through
    ``~`` or ``exclude``, penalize what it meant to leave out. The check reads only paths, so
    it holds on every use: alone, combined with ``& | ~``, in a penalty (eagerly and under
    ``jax.jit``) and in ``optax.masked`` / ``add_decayed_weights``. A tree with no leaves
    matches vacuously. Apply the mask to the tree it was written for: on a sub-tree that lacks
    a pattern's leaves, build a mask for that sub-tree.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> mask = jr.masks.by_path(include="kernel", exclude="^head/")
    >>> mask({"body": {"kernel": jnp.ones((2, 2))}, "head": {"kernel": jnp.ones((2, 2))}})
    {'body': {'kernel': True}, 'head': {'kernel': False}}
    """

    def __init__(
        self,
        include: str | Iterable[str] | None = None,
        exclude: str | Iterable[str] | None = None,
    ):
        self.include = _compile(include, "include")
        self.exclude = _compile(exclude, "exclude")

    def selects(self, params: PyTree) -> list[bool]:
        inc = [re.compile(p) for p in self.include]
        exc = [re.compile(p) for p in self.exclude]
        paths = [path_str(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        # Paths are static (also under jit and inside optax), so a typo is caught on every use:
        # alone, combined with & | ~ (where it would silently select or deselect), in a penalty
        # or in optax.masked.
        for argument, regexes, effect in (
            ("include", inc, "selects nothing through it"),
            ("exclude", exc, "excludes nothing"),
        ):
            unused = [r.pattern for r in regexes if paths and not any(r.search(p) for p in paths)]
            if unused:
                raise ValueError(
                    f"{self!r}: {argument}={unused[0]!r} matches no leaf of params (re.search "
                    f"on the 'a/b/c' paths), so it {effect}; the paths are {paths[:8]}"
                    f"{' ...' if len(paths) > 8 else ''}. Every include and exclude pattern "
                    "must match a path of the tree the mask is applied to."
                )
        return [
            (not inc or any(r.search(p) for r in inc)) and not any(r.search(p) for r in exc)
            for p in paths
        ]

    def _key(self) -> tuple[Any, ...]:
        return (self.include, self.exclude)

    def __repr__(self) -> str:
        named = (("include", self.include), ("exclude", self.exclude))
        args = [f"{k}={v[0] if len(v) == 1 else list(v)!r}" for k, v in named if v]
        return f"by_path({', '.join(args)})"


class _TorchParameters(Mask):
    """One leaf per selected torch parameter (see `from_torch_module`).

    ``groups`` holds, per parameter object, its ``state_dict`` names in
    ``named_parameters(remove_duplicate=False)`` order; a tied parameter has several.
    """

    def __init__(self, groups: frozenset[tuple[str, ...]], layers: tuple[str, ...]):
        self.groups, self.layers = groups, layers

    def selects(self, params: PyTree) -> list[bool]:
        keys = [
            ".".join(_components(p)) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]
        ]
        present = set(keys)
        missing = sorted(g[0] for g in self.groups if not present.intersection(g))
        if missing:
            raise ValueError(
                f"{self!r}: params have no leaf for the module's parameters {missing[:6]}"
                f"{' ...' if len(missing) > 6 else ''}; params must be the module's state_dict "
                "(flat, keyed 'layer.0.weight', or nested by module). Its keys: "
                f"{keys[:8]}{' ...' if len(keys) > 8 else ''}."
            )
        # a tied parameter is one tensor under several names: penalize it once, under the
        # first name present (torch's own rule in named_parameters())
        chosen = {next(name for name in g if name in present) for g in self.groups}
        return [k in chosen for k in keys]

    def _key(self) -> tuple[Any, ...]:
        return (self.groups,)

    def __repr__(self) -> str:
        return f"from_torch_module(include=({', '.join(self.layers)}))"


def from_torch_module(module: Any, *, include: Iterable[type] | None = None) -> Mask:
    """A mask selecting the weights of a torch module's layers of the given types.

    Names and shapes cannot tell a torch ``nn.Embedding`` from an ``nn.Linear`` (both a 2-D
    ``weight``), nor a ``LayerNorm`` over a 2-D shape from a matrix; the module can. The mask
    selects, in a JAX copy of ``module.state_dict()`` (flat, keyed ``'encoder.0.weight'``, or
    nested by module: ``{'encoder': {'0': {'weight': ...}}}``), the parameters of every
    submodule that is an instance of one of ``include``, except its biases (parameters whose
    name contains ``bias``): ``Linear.weight``, ``Conv2d.weight``, ``MultiheadAttention``'s
    ``in_proj_weight`` (its ``out_proj`` is a ``Linear``), ``LSTM``'s ``weight_ih_l0``, ...
    A parameter shared by two modules (tied weights: a language model's head tied to its
    embedding) is one tensor that ``state_dict()`` lists under each name: the mask selects it
    once, under the first of its names that params hold (in ``named_parameters()`` order, the
    name torch itself keeps), so the penalty counts it once, as torch's does. Building
    the mask reads the module once; it holds only key names (hashable, picklable), never torch
    objects, and raises when params lack a selected parameter.

    Args:
      module: a ``torch.nn.Module``.
      include: the layer types whose weights are selected (subclasses too). Default: the
        layers whose weights are kernels in Keras's sense: ``Linear``, ``Bilinear``,
        ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d``, ``MultiheadAttention``, ``RNN``/``LSTM``/
        ``GRU`` and their cells; not ``Embedding`` or the norms (add them:
        ``include=(nn.Linear, nn.Embedding)``).

    For example, with ``net = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))`` and
    ``params = {k: jnp.asarray(v.numpy()) for k, v in net.state_dict().items()}``,
    ``jr.masks.from_torch_module(net)(params)`` is ``{'0.weight': False, '1.bias': False,
    '1.weight': True}`` (``tests/test_masks_torch.py``; no doctest: a doctest process may hold
    TensorFlow, which shares a process badly with torch).
    """
    import torch.nn as nn  # the caller holds a torch module: torch is installed

    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}.")
    if include is None:
        layers: tuple[type, ...] = (
            nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
            nn.ConvTranspose2d, nn.ConvTranspose3d, nn.MultiheadAttention, nn.RNNBase,
            nn.RNNCellBase,
        )  # fmt: skip
    else:
        layers = tuple(include) if isinstance(include, Iterable) else (include,)
        bad = [t for t in layers if not (isinstance(t, type) and issubclass(t, nn.Module))]
        if bad or not layers:
            raise TypeError(
                "include must be torch.nn.Module subclasses, e.g. (torch.nn.Linear, "
                f"torch.nn.Conv2d); got {bad[0] if bad else include!r}."
            )
    aliases: dict[int, list[str]] = {}  # a parameter's names in state_dict, by identity
    for name, p in module.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(p), []).append(name)
    groups = set()
    for sub in module.modules():
        if isinstance(sub, layers):
            for name, p in sub.named_parameters(recurse=False):
                if "bias" not in name:
                    groups.add(tuple(aliases[id(p)]))
    if not groups:
        raise ValueError(
            f"from_torch_module: {type(module).__name__} has no parameters in layers of type "
            f"{[t.__name__ for t in layers]}; its layers: "
            f"{sorted({type(m).__name__ for m in module.modules()})}."
        )
    return _TorchParameters(frozenset(groups), tuple(t.__name__ for t in layers))
