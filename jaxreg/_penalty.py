"""The `Penalty` type: a JAX pytree, a sum of terms (one class per kind), and its evaluation.

Kinds live in `_penalties.py`, one class each; this module knows none of them by name. It
holds what every kind shares: the pytree/dataclass machinery, composition, equality, and the
one resolution step (which term penalizes which leaf, with which weight) that the value,
`per_leaf`, `prox` and `jaxreg.select.lambda_max` all consume.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, NamedTuple, TypeVar, cast, dataclass_transform

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _numerics as nx
from ._masks import Mask, by_path, kernels, resolve
from ._trees import (
    broadcast_prefix,
    is_floating,
    is_penalizable,
    leaf_paths,
    nnx_non_params,
)
from ._typing import PyTree

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# Validation


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


def hyper(value: Any, dtype: Any = None, *, high: float = math.inf) -> jax.Array:
    """A hyperparameter (strength, ratio, weight, step) cast to ``dtype``; NaN outside [0, high].

    Builders check concrete values; this catches the ones they cannot see: strengths and steps
    traced under `jit`/`vmap`, a traced negative factor, or a `jax.tree.map` over a penalty.
    """
    v = jnp.asarray(value, dtype)
    ok = v >= 0 if high == math.inf else (v >= 0) & (v <= high)
    return v * jnp.where(ok, 1.0, jnp.nan).astype(v.dtype)  # NaN in the gradient too


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is pytree aux data (hashable configuration), not a leaf."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(static_field,))
def penalty_class(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, keyword-only dataclass registered as a pytree.

    Fields made with `static_field` (mask, axis, mode, ...) are aux data and must be hashable;
    the others (strength, l1_ratio, weights) are leaves, so a penalty crosses `jit`, `vmap`,
    `scan` and optax states as a value, and a new strength does not retrace.
    """
    cls = dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)(cls)
    fields = dataclasses.fields(cast(Any, cls))
    jax.tree_util.register_dataclass(
        cls,
        data_fields=[f.name for f in fields if not f.metadata.get("static")],
        meta_fields=[f.name for f in fields if f.metadata.get("static")],
    )
    return cls


def _leaf_key(x: Any) -> Any:
    if isinstance(x, jax.core.Tracer):
        raise TypeError(
            "a Penalty whose hyperparameters are traced has no value equality or hash; compare "
            "or hash penalties outside jit/vmap."
        )
    a = np.asarray(x, dtype=np.float64)  # by value: 0.5 == jnp.float32(0.5) == jnp.array(0.5)
    return (a.shape, a.tobytes())


# --------------------------------------------------------------------------------------------
# The Penalty type


class Penalty:
    """A sum of penalty terms over a parameter pytree; build it with `jaxreg.l1`, `jaxreg.l2`, ...

    ``pen(params)`` is a scalar: every penalized leaf is reduced once, in float32 for
    float32/bf16/fp16 leaves and in float64 for float64 leaves, and the result has the widest
    of those dtypes. A penalty is a JAX pytree: numeric hyperparameters (strengths, l1_ratio,
    weights) are its leaves, everything else (kind, mask, axis) is static. So it goes into
    `jax.jit` as an argument (a new strength does not retrace), comes out of one, is batched by
    `jax.vmap` (``jax.vmap(jr.l2)(strengths)``), scanned over and kept in optax states. Two
    penalties with equal hyperparameters compare and hash equal and pickle. They compose:
    ``pen_a + pen_b``, ``0.5 * pen``, ``pen / 2``, ``sum([...])``.
    """

    @property
    def terms(self) -> tuple[Term, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- evaluation --------------------------------------------------------------------------
    def __call__(self, params: PyTree) -> jax.Array:
        """The penalty's value: a scalar in the accumulation dtype (float32, or float64).

        Elementwise kinds without weights (l1, l2, elastic_net) reduce each large leaf in place
        and the small leaves of one dtype as concatenated buffers of up to 256 leaves: 10,000
        biases compile in 2 s, where 10,000 separate reductions take XLA minutes.
        """
        plan = resolve_terms(self.terms, params)
        parts = []
        for term, idx, ws in zip(self.terms, plan.chosen, plan.weights, strict=True):
            if not idx:
                continue
            xs = [jnp.asarray(plan.leaves[i]) for i in idx]
            if term.elementwise and all(w is None for w in ws):
                raws = _batched_raws(term, xs)
            else:
                raws = [term.raw(x, w) for x, w in zip(xs, ws, strict=True)]
            parts.append(_scaled_sum(term, raws))
        return _total(parts)

    def per_leaf(self, params: PyTree) -> PyTree:
        """``params``' structure with each penalized leaf's share of the penalty, None elsewhere.

        >>> import jax.numpy as jnp, jaxreg as jr
        >>> jr.l1(0.5).per_leaf({"w": jnp.array([1.0, -2.0]), "step": jnp.array(3)})
        {'step': None, 'w': Array(1.5, dtype=float32)}
        """
        plan = resolve_terms(self.terms, params)
        shares: list[list[jax.Array]] = [[] for _ in plan.leaves]
        for term, idx, ws in zip(self.terms, plan.chosen, plan.weights, strict=True):
            for i, w in zip(idx, ws, strict=True):
                shares[i].append(_scaled_sum(term, [term.raw(jnp.asarray(plan.leaves[i]), w)]))
        return jax.tree.unflatten(plan.treedef, [_total(s) if s else None for s in shares])

    # -- proximal operator -------------------------------------------------------------------
    def prox(self, params: PyTree, step: ArrayLike | PyTree) -> PyTree:
        r"""Proximal operator :math:`\arg\min_z \tfrac12\lVert z-p\rVert^2 + t\,\mathrm{pen}(z)`.

        Closed forms: `l1` soft-thresholds, `l2` scales by :math:`1/(1+t\lambda)`,
        `elastic_net` does both, `group_lasso` block-soft-thresholds each group (zero-safe),
        `nuclear` thresholds singular values; per-element ``weights`` scale each threshold.
        The non-convex `mcp`, `scad`, `lq`, `l0` give their exact global minimizer (firm, half,
        hard thresholding), and `jaxreg.constraints` project onto their set.
        Terms may be summed when, on every leaf, the non-quadratic parts are of one kind with one
        configuration (their strengths add; not for mcp and scad, whose sum is not of their
        kind); any number of l2 / elastic-net L2 parts may join them, exactly: the prox of
        :math:`g + \frac{b}{2}\lVert\cdot\rVert^2` with step :math:`t` is the prox of
        :math:`g` with step :math:`t / (1 + t b)` at :math:`z / (1 + t b)`. `spectral` and
        `orthogonal` have no closed form and raise `NotImplementedError`. Leaves the penalty
        does not touch are returned as they are (Python floats stay Python floats), and every
        leaf keeps its dtype. Values that land on 0 are exactly 0.0.

        Args:
          params: the pytree to shrink.
          step: :math:`t \ge 0`: a number or a scalar array (may be traced, e.g. a schedule);
            or a pytree with ``params``' structure (or a prefix of it), whatever its node types
            (dicts, equinox modules, nnx ``State``, ``FrozenDict``), of per-element steps: a
            scalar or an array of the leaf's shape each (a diagonal metric, as in a
            preconditioned method). The elementwise parts (l1, l2, elastic net) are then exact;
            group lasso and nuclear use the harmonic mean of the steps over each group / matrix
            (for steps ``lr / D``, the step of the mean metric ``lr / mean(D)``). Negative or
            NaN steps raise when concrete and give NaN when traced.

        >>> import jax.numpy as jnp, jaxreg as jr
        >>> jr.l1(1.0).prox({"w": jnp.array([3.0, -0.5, 0.2])}, 1.0)
        {'w': Array([2., 0., 0.], dtype=float32)}
        """
        for term in self.terms:
            if not term.has_prox:
                raise NotImplementedError(
                    f"{term.name} has no closed-form proximal operator in jaxreg; use it as a "
                    "penalty in the loss, or use a kind with a prox (l1, l2, elastic_net, "
                    "group_lasso, nuclear, mcp, scad, lq, l0, jaxreg.constraints)."
                )
        plan = resolve_terms(self.terms, params)
        steps = _steps(step, params, len(plan.leaves))
        per_leaf: dict[int, list[tuple[Term, Any]]] = {}
        for term, idx, ws in zip(self.terms, plan.chosen, plan.weights, strict=True):
            for i, w in zip(idx, ws, strict=True):
                per_leaf.setdefault(i, []).extend((part, w) for part in term.parts())
        out = list(plan.leaves)
        for i, parts in per_leaf.items():
            x = jnp.asarray(plan.leaves[i])
            out[i] = _leaf_prox(x, _leaf_step(steps[i], x, plan.paths[i]), parts, plan.paths[i])
        return jax.tree.unflatten(plan.treedef, out)

    # -- composition -------------------------------------------------------------------------
    def __add__(self, other: Penalty | Literal[0]) -> Penalty:
        return self._add(other)

    # int, not Literal[0]: sum() requires __radd__(int); a non-zero int raises as in __add__
    def __radd__(self, other: Penalty | int) -> Penalty:
        return self._add(other)

    def _add(self, other: object) -> Penalty:
        if isinstance(other, numbers.Number) and not isinstance(other, bool) and other == 0:
            return self  # pen + 0, and sum([pen_a, pen_b]) through __radd__
        if not isinstance(other, Penalty):
            # not NotImplemented: Python's own message would not say what is allowed
            raise TypeError(
                f"a jaxreg Penalty adds to another Penalty (or to 0, so sum([...]) works); got "
                f"{other!r} of type {type(other).__name__}. To scale a penalty, multiply it: "
                "2.0 * pen."
            )
        return Sum(terms=self.terms + other.terms)

    def __mul__(self, factor: ArrayLike) -> Penalty:
        if isinstance(factor, Penalty):
            return NotImplemented
        check_scalar(factor, "factor")
        scaled = tuple(t.scaled(factor) for t in self.terms)
        return scaled[0] if isinstance(self, Term) else Sum(terms=scaled)

    __rmul__ = __mul__

    def __truediv__(self, divisor: ArrayLike) -> Penalty:
        check_scalar(divisor, "divisor")
        if not isinstance(divisor, jax.core.Tracer) and float(np.asarray(divisor)) == 0:
            raise ValueError("divisor must be finite and > 0; got divisor=0.")
        return self * (1.0 / divisor)

    # -- value semantics ---------------------------------------------------------------------
    def _identity(self) -> tuple[Any, ...]:
        leaves, treedef = jax.tree.flatten(self)
        # the kinds' classes too: PyTreeDefs of two dataclass nodes with equal aux data and
        # field names compare equal across classes (jax 0.10)
        kinds = (type(self), *(type(t) for t in self.terms))
        return kinds, treedef, tuple(_leaf_key(x) for x in leaves)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Penalty):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())


@dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class Term(Penalty):
    """One kind of penalty: ``strength * raw(leaf)`` summed over the leaves ``mask`` selects.

    What every builder (`jaxreg.l1`, `jaxreg.group_lasso`, ...) returns, and what a sum's
    ``terms`` hold; ``strength`` is a pytree leaf, ``mask`` is static, ``name`` is the kind.
    A subclass (one per kind, in `_penalties.py`) is everything about its kind: the formula
    (docstring), `raw` on one leaf, its proximal map (`shrink`, or `parts` for a sum of kinds),
    `zero_strength` (the dual norm `lambda_max` needs), `min_ndim`, `default_mask`, and `parts`
    for the converters.
    """

    strength: Any
    mask: Mask | None = static_field(default=None)

    name: ClassVar[str] = ""
    min_ndim: ClassVar[int] = 0  # leaves with fewer dims cannot be penalized by this kind
    default_mask: ClassVar[Mask | None] = None  # used when mask is None
    elementwise: ClassVar[bool] = False  # additive over elements: small leaves may be batched
    has_prox: ClassVar[bool] = True
    quadratic: ClassVar[bool] = False  # b / 2 * sum w z^2: its prox divides by 1 + t b w
    # The value is ``strength * raw`` and the prox of a sum of such terms adds their
    # thresholds. False for kinds whose value is not linear in the strength (mcp, scad): `raw`
    # then returns the whole value (strength included), weights multiply each element's
    # penalty, and `shrink` gets the strength as ``scale`` and the weight folded into ``t``.
    homogeneous: ClassVar[bool] = True
    # g(c x) = c g(x) for c >= 0 (l1, group lasso, nuclear): the prox of g + b/2 ||z||^2 is
    # then the prox of g divided by 1 + t b. False (l0, lq, mcp, scad, constraints): the exact
    # prox_{t/(1+tb) g}(x / (1 + t b)) is used instead.
    positively_homogeneous: ClassVar[bool] = True
    # Where the value is smooth in x, for implicit differentiation of a solution (_implicit.py):
    # "all" (l2, orthogonal), "nonzeros" (smooth once the zero pattern is fixed: l1, group
    # lasso, mcp, ...), or None (nuclear, spectral, slope, constraints: not differentiated).
    smooth_on: ClassVar[str | None] = None

    @property
    def terms(self) -> tuple[Term, ...]:
        return (self,)

    def raw(self, x: jax.Array, w: Any) -> jax.Array:
        """The strength-free value on one leaf, in the accumulation dtype; ``w``: weight or None."""
        raise NotImplementedError

    def parts(self) -> tuple[Term, ...]:
        """The kinds this term is a sum of (elastic net: its l1 and l2 parts)."""
        return (self,)

    def check_scalars(self) -> None:
        """Strength (and l1_ratio) must be scalars: a batch of penalties lives under vmap."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not f.metadata.get("static") and f.name != "weights" and np.ndim(value) != 0:
                raise ValueError(
                    f"{self.name}'s {f.name} has shape {np.shape(value)}: this is a batch of "
                    "penalties (e.g. built by jax.vmap(jaxreg.l1)(strengths)); use it under "
                    "jax.vmap, one penalty per call (jax.vmap(lambda pen: pen(params))(pens))."
                )

    def check_leaf(self, path: str, x: Any, w: Any) -> None:
        """Raise a clear error when this kind cannot penalize ``x`` (shape, axis, weight)."""
        if np.ndim(x) < self.min_ndim:
            raise ValueError(
                f"{self.name} needs leaves with at least {self.min_ndim} dimension(s); the leaf "
                f"at '{path}' has shape {np.shape(x)} and its mask, "
                f"{self.default_mask if self.mask is None else self.mask!r}, selects it. Exclude "
                "it with `mask` (e.g. mask=jaxreg.masks.kernels & ~jaxreg.masks.by_path(...))."
            )
        if w is not None:
            shape = self.weight_shape(np.shape(x))
            try:
                ok = np.broadcast_shapes(np.shape(w), shape) == shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"weights for the leaf at '{path}' have shape {np.shape(w)}, which does not "
                    f"broadcast to {shape} ({self.name} takes one weight per "
                    f"{'element' if self.elementwise else 'group'} of a leaf of shape "
                    f"{np.shape(x)})."
                )

    def weight_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape ``weights`` broadcast to for a leaf of ``shape`` (the leaf's, per element)."""
        return shape

    def shrink(self, z: jax.Array, t: jax.Array, scale: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Proximal map with per-element coefficient ``scale`` (the strength times the weight):
        ``(z, the step it used, per element)``."""
        raise NotImplementedError

    def merges_with(self, other: Term) -> bool:
        """Whether two non-quadratic parts on one leaf combine by adding their thresholds."""
        return self.homogeneous and type(self) is type(other) and self.config() == other.config()

    def scaled(self, factor: Any) -> Term:
        """``factor * self`` as a term of this kind (``pen * c``, ``pen / c``)."""
        return dataclasses.replace(self, strength=as_leaf(factor * self.strength))

    def config(self) -> tuple[tuple[str, Any], ...]:
        """The kind's static options (axis, mode, ...), without the mask."""
        return tuple(
            (f.name, getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.metadata.get("static") and f.name != "mask"
        )

    def zero_strength(self, g: jax.Array, w: Any) -> jax.Array:
        """The smallest strength for which 0 is optimal on a leaf whose loss gradient at 0 is g."""
        raise ValueError(
            f"lambda_max is defined for penalties that zero weights with a finite slope at 0 "
            f"(l1, elastic_net, group_lasso, nuclear, mcp, scad); got {self.name}."
        )

    def __repr__(self) -> str:
        args = [_fmt(self.strength)]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("strength", "mask"):
                continue
            if f.default is dataclasses.MISSING:
                args.append(_fmt(value))  # required: positional, as in the builder
            elif not (value is f.default or (f.metadata.get("static") and value == f.default)):
                args.append(f"{f.name}={_fmt(value)}")
        if self.mask is not None:
            args.append(f"mask={self.mask!r}")
        return f"{self.name}({', '.join(args)})"


def _fmt(x: Any) -> str:
    """A concrete scalar hyperparameter as its number (``0.1``, not ``array(0.1)``)."""
    concrete = isinstance(x, jax.Array | np.ndarray | np.generic) and not isinstance(
        x, jax.core.Tracer
    )
    return str(np.asarray(x)) if concrete and np.ndim(x) == 0 else repr(x)


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


@penalty_class
class Sum(Penalty):
    """A sum of terms: what ``pen_a + pen_b`` builds; ``jr.Sum()`` is the zero penalty (value 0).

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> sum([jr.l1(1.0), jr.l2(2.0)], jr.Sum())
    l1(1.0) + l2(2.0)
    """

    terms: tuple[Term, ...] = ()

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.terms)) if self.terms else "Sum(terms=())"


# --------------------------------------------------------------------------------------------
# The one resolution step


class Plan(NamedTuple):
    leaves: list[Any]
    treedef: Any
    paths: list[str]
    chosen: list[list[int]]  # per term: indices of the leaves it penalizes
    weights: list[list[Any]]  # per term: the weight of each chosen leaf (None: no weight)


def resolve_terms(terms: Sequence[Term], params: PyTree) -> Plan:
    """Which term penalizes which leaf, with which weight; shape errors raised here, once."""
    leaves, treedef = jax.tree.flatten(params)
    paths = leaf_paths(params)
    chosen, weights = [], []
    not_params: list[bool] | None = None
    for term in terms:
        term.check_scalars()
        mask = term.default_mask if term.mask is None else term.mask
        selected = resolve(mask, params)
        if mask is None:  # every parameter: not nnx BatchStat & co.
            not_params = nnx_non_params(params) if not_params is None else not_params
            selected = [s and not n for s, n in zip(selected, not_params, strict=True)]
        idx = [
            i
            for i, (s, x) in enumerate(zip(selected, leaves, strict=True))
            if s and is_penalizable(x, explicit=mask is not None)
        ]
        if not idx:
            _check_selects_something(term, mask, paths, leaves)
        w_all = getattr(term, "weights", None)
        ws = (
            broadcast_prefix(w_all, params, name="weights", none_is_leaf=True)
            if w_all is not None
            else [None] * len(leaves)
        )
        for i in idx:
            term.check_leaf(paths[i] or "<root>", leaves[i], ws[i])
        chosen.append(idx)
        weights.append([ws[i] for i in idx])
    return Plan(leaves, treedef, paths, chosen, weights)


def _check_selects_something(
    term: Term, mask: Mask | None, paths: list[str], leaves: list[Any]
) -> None:
    """Raise when a term selects no leaf for a reason that is a mistake, not a design.

    A mask that selects nothing gives a penalty of 0: silent when the cause is a naming
    mismatch (``kernels`` on a model whose matrices are called otherwise), a regex typo in
    ``by_path(include=...)``, or a matrix penalty on params without matrices.
    """
    floating = [(p or "<root>", x) for p, x in zip(paths, leaves, strict=True) if is_floating(x)]
    if not floating:
        return  # nothing could be penalized: an empty model, or a tree of ints
    matrices = [p for p, x in floating if np.ndim(x) >= 2]
    if mask == kernels and matrices:
        raise ValueError(
            f"{term.name}: jaxreg.masks.kernels selects no leaf of params (it picks leaves "
            f"named kernel, weight, coef, w, W, w1, ...); leaves with 2 or more "
            f"dimensions: {matrices[:8]}. Pass mask= explicitly, e.g. "
            "mask=jaxreg.masks.by_path(include=...)."
        )
    if isinstance(mask, by_path) and mask.include:
        raise ValueError(
            f"{term.name}: its mask {mask!r} matches no leaf of params (re.search on the "
            f"'a/b/c' paths); the paths are {[p for p, _ in floating][:8]}"
            f"{' ...' if len(floating) > 8 else ''}."
        )
    if term.min_ndim >= 2 and not matrices:
        raise ValueError(
            f"{term.name} penalizes matrices (leaves with 2 or more dimensions); params have "
            f"none: {[f'{p} {np.shape(x)}' for p, x in floating][:8]}."
        )


# --------------------------------------------------------------------------------------------
# Evaluation helpers

#: Leaves with fewer elements are concatenated (per dtype) before an elementwise reduction,
#: at most CONCAT_CHUNK leaves per buffer: thousands of separate reductions take XLA minutes to
#: compile, while concatenating mid-size leaves costs a copy (benchmarks/README.md).
SMALL_LEAF = 1 << 12
CONCAT_CHUNK = 256


def _batched_raws(term: Term, xs: list[jax.Array]) -> list[jax.Array]:
    """Raw values of an additive elementwise kind: big leaves one by one, small ones batched."""
    raws = [term.raw(x, None) for x in xs if x.size >= SMALL_LEAF]
    small: dict[Any, list[jax.Array]] = {}
    for x in xs:
        if x.size < SMALL_LEAF:
            small.setdefault(x.dtype, []).append(x.ravel())
    for group in small.values():
        for i in range(0, len(group), CONCAT_CHUNK):
            chunk = group[i : i + CONCAT_CHUNK]
            raws.append(term.raw(chunk[0] if len(chunk) == 1 else jnp.concatenate(chunk), None))
    return raws


def _scaled_sum(term: Term, raws: list[jax.Array]) -> jax.Array:
    dtype = jnp.result_type(*(r.dtype for r in raws))
    raw = raws[0] if len(raws) == 1 else jnp.sum(jnp.stack([r.astype(dtype) for r in raws]))
    return hyper(term.strength, dtype) * raw if term.homogeneous else raw


def _total(parts: list[jax.Array]) -> jax.Array:
    if not parts:
        return jnp.zeros((), jnp.float32)
    dtype = jnp.result_type(*(p.dtype for p in parts))
    return parts[0] if len(parts) == 1 else jnp.sum(jnp.stack([p.astype(dtype) for p in parts]))


def _is_scalar(x: Any) -> bool:
    return (
        isinstance(x, numbers.Number | jax.Array | np.ndarray | np.generic)
        and np.ndim(cast(Any, x)) == 0
    )


def _steps(step: Any, params: PyTree, n: int) -> list[Any]:
    if _is_scalar(step):
        check_scalar(step, "step")
        return [step] * n
    return broadcast_prefix(step, params, name="step", none_is_leaf=True)


def _leaf_step(t: Any, x: jax.Array, path: str) -> Any:
    if not (_is_scalar(t) or isinstance(t, jax.Array | np.ndarray)):
        raise TypeError(
            f"step for the leaf at '{path or '<root>'}' must be a number or an array; got "
            f"{type(t).__name__} {t!r}."
        )
    if np.shape(t) not in ((), x.shape):
        raise ValueError(
            f"step for the leaf at '{path or '<root>'}' has shape {np.shape(t)}; it must be a "
            f"scalar or have the leaf's shape {x.shape}."
        )
    if isinstance(t, jax.core.Tracer):
        return hyper(t)
    host = np.asarray(t)
    if not np.all(np.isfinite(host)) or np.any(host < 0):
        raise ValueError(
            f"step must be finite and >= 0; the step for the leaf at '{path or '<root>'}' has "
            f"{'NaN/inf' if not np.all(np.isfinite(host)) else 'negative'} entries."
        )
    return t


def _weight_or_one(w: Any, dtype: Any) -> Any:
    return 1.0 if w is None else hyper(w, dtype)


def _leaf_prox(x: jax.Array, t: Any, parts: list[tuple[Term, Any]], path: str) -> jax.Array:
    """The prox of ``t * (g + quadratic)`` on one leaf; computed upcast, returned in x's dtype."""
    z = nx.upcast(x)
    t = jnp.asarray(t, z.dtype)
    quad: Any = 0.0
    weighted_quad = False
    shrink: tuple[Any, ...] | None = None
    for part, w in parts:
        if not isinstance(part.strength, jax.core.Tracer) and np.all(
            np.asarray(part.strength) == 0
        ):
            continue  # e.g. the l1 part of elastic_net(s, 0.0): no threshold to apply
        coef = hyper(part.strength, z.dtype)
        if w is not None:
            coef = coef * hyper(w, z.dtype)
        if part.quadratic:  # b / 2 * ||z||^2: divides the result by 1 + t b
            quad = quad + coef
            weighted_quad = weighted_quad or w is not None
        elif shrink is None:
            shrink = (part, coef, w, hyper(part.strength, z.dtype))
        elif shrink[0].merges_with(part):
            shrink = (shrink[0], shrink[1] + coef, None, None)
        else:
            raise NotImplementedError(
                f"no closed-form prox for {shrink[0]!r} + {part!r} on the same leaf "
                f"'{path}'; give the terms disjoint masks."
            )
    if shrink is not None and not shrink[0].positively_homogeneous:
        # prox of t (g + b/2 z^2) = prox of t / (1 + t b) g at z / (1 + t b): exact for any g
        # (the division after the prox below holds for positively homogeneous g only)
        part, coef, w, strength = shrink
        c = 1 + t * quad
        if part.homogeneous:
            z, _ = part.shrink(z / c, t / c, coef)
        else:  # the weight multiplies the element's penalty: it folds into the step
            z, _ = part.shrink(z / c, t * _weight_or_one(w, z.dtype) / c, strength)
        return z.astype(x.dtype)
    t_used = t
    if shrink is not None:
        if weighted_quad and not shrink[0].elementwise:
            raise NotImplementedError(
                f"no closed-form prox for a weighted l2 with {shrink[0].name} on the same leaf "
                f"'{path}': the L2 weight must be the same within each group."
            )
        z, t_used = shrink[0].shrink(z, t, shrink[1])
    return (z / (1 + t_used * quad)).astype(x.dtype)
