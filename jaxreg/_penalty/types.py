"""The types: `Penalty` (a JAX pytree), `Term` (one kind: the interface every kind implements)
and `Sum` (what ``pen_a + pen_b`` builds).

Kinds live in `jaxreg._kinds`, one class each; this module knows none of them by name. It
holds what every kind shares: the pytree/dataclass machinery, composition (``+``, ``*``),
value equality, and the three operations on a parameter pytree (value, `per_leaf`, `prox`),
which delegate to `resolution`, `evaluation` and `composition`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable
from typing import Any, ClassVar, Literal, TypeVar, cast, dataclass_transform

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._masks import Mask
from .._typing import PyTree
from .composition import checked_leaf_step, leaf_prox, leaf_steps
from .evaluation import batched_unscaled_values, scaled_sum, shifted, total
from .resolution import resolve_terms
from .validation import as_leaf, check_scalar

T = TypeVar("T")


# Leaves every term has and that the prox of a sum handles itself (strengths add, weights and
# centers are resolved per leaf); any other leaf is a numeric hyperparameter (a Huber-type
# delta) that two terms must share to merge, or their thresholds do not add.
_PER_TERM_LEAVES = frozenset({"strength", "weights", "center"})


def _same_value(a: Any, b: Any) -> bool:
    """One object, or equal concrete values (traced leaves: identity only)."""
    if a is b:
        return True
    if a is None or b is None or isinstance(a, jax.core.Tracer) or isinstance(b, jax.core.Tracer):
        return False
    return np.shape(a) == np.shape(b) and bool(np.array_equal(np.asarray(a), np.asarray(b)))


def static_field(**kwargs: Any) -> Any:
    """A dataclass field that is pytree aux data (hashable configuration), not a leaf."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(static_field,))
def penalty_class(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen, keyword-only dataclass registered as a pytree.

    Fields made with `static_field` (mask, axis, mode, ...) are aux data and must be hashable;
    the others (strength, l1_ratio, weights, center) are leaves, so a penalty crosses `jit`, `vmap`,
    `scan` and optax states as a value, and a new strength does not retrace.
    """
    cls = dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)(cls)
    fields = dataclasses.fields(cast(Any, cls))
    data = tuple(f.name for f in fields if not f.metadata.get("static"))
    meta = tuple(f.name for f in fields if f.metadata.get("static"))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data)

    # The class is part of the aux data. `jax.tree_util.register_dataclass`'s PyTreeDefs of
    # two classes with the same fields (L1 and L2) compare equal with different hashes (jax
    # 0.10), and `jax.jit`'s cache matched them now and then: a function compiled for
    # l1(s) + non_negative() ran for l2(s) + non_negative(), silently (a user's jit of a step
    # that takes a penalty too). With the class in the aux data they are unequal.
    def flatten(obj: Any) -> tuple[list[Any], Any]:
        return [getattr(obj, name) for name in data], (cls, tuple(getattr(obj, n) for n in meta))

    def flatten_with_keys(obj: Any) -> tuple[list[tuple[Any, Any]], Any]:
        children, aux = flatten(obj)
        return list(zip(keys, children, strict=True)), aux

    def unflatten(aux: Any, children: Any) -> Any:
        obj = object.__new__(cls)  # as register_dataclass: no validation of traced leaves
        for name, value in (*zip(data, children, strict=True), *zip(meta, aux[1], strict=True)):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
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
    weights, centers) are its leaves, everything else (kind, mask, axis) is static. So it goes into
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
        for term, idx, ws, cs in zip(
            self.terms, plan.chosen, plan.weights, plan.centers, strict=True
        ):
            if not idx:
                continue
            xs = [shifted(plan.leaves[i], c) for i, c in zip(idx, cs, strict=True)]
            if term.elementwise and all(w is None for w in ws):
                values = batched_unscaled_values(term, xs)
            else:
                values = [term.unscaled_value(x, w) for x, w in zip(xs, ws, strict=True)]
            parts.append(scaled_sum(term, values))
        return total(parts)

    def per_leaf(self, params: PyTree) -> PyTree:
        """``params``' structure with each penalized leaf's share of the penalty, None elsewhere.

        >>> import jax.numpy as jnp, jaxreg as jr
        >>> jr.l1(0.5).per_leaf({"w": jnp.array([1.0, -2.0]), "step": jnp.array(3)})
        {'step': None, 'w': Array(1.5, dtype=float32)}
        """
        plan = resolve_terms(self.terms, params)
        shares: list[list[jax.Array]] = [[] for _ in plan.leaves]
        for term, idx, ws, cs in zip(
            self.terms, plan.chosen, plan.weights, plan.centers, strict=True
        ):
            for i, w, c in zip(idx, ws, cs, strict=True):
                shares[i].append(
                    scaled_sum(term, [term.unscaled_value(shifted(plan.leaves[i], c), w)])
                )
        return jax.tree.unflatten(plan.treedef, [total(s) if s else None for s in shares])

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
        `orthogonal` have no closed form and raise `NotImplementedError`. A centred term
        (``center=c``) is exact: :math:`c + \mathrm{prox}(z - c)`; quadratic parts may have
        other centers, non-quadratic parts summed on one leaf must share theirs. Leaves the penalty
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
                    "penalty in the loss, or use a kind with a prox "
                    f"({kind_names(lambda kind: kind.has_prox)})."
                )
        plan = resolve_terms(self.terms, params)
        steps = leaf_steps(step, params, len(plan.leaves))
        per_leaf: dict[int, list[tuple[Term, Any, Any]]] = {}
        for term, idx, ws, cs in zip(
            self.terms, plan.chosen, plan.weights, plan.centers, strict=True
        ):
            for i, w, c in zip(idx, ws, cs, strict=True):
                per_leaf.setdefault(i, []).extend((part, w, c) for part in term.parts())
        out = list(plan.leaves)
        for i, parts in per_leaf.items():
            x = jnp.asarray(plan.leaves[i])
            out[i] = leaf_prox(
                x, checked_leaf_step(steps[i], x, plan.paths[i]), parts, plan.paths[i]
            )
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
        leaves, treedef = jax.tree.flatten(self)  # the treedef holds each kind's class
        return treedef, tuple(_leaf_key(x) for x in leaves)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Penalty):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())


@dataclasses.dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class Term(Penalty):
    """One kind of penalty: ``strength * unscaled_value(leaf)`` summed over the leaves ``mask``
    selects.

    What every builder (`jaxreg.l1`, `jaxreg.group_lasso`, ...) returns, and what a sum's
    ``terms`` hold; ``strength`` is a pytree leaf, ``mask`` is static, ``name`` is the kind.
    A subclass (one per kind, in a family module of ``jaxreg/_kinds/``) is everything about its
    kind: the formula (docstring), `unscaled_value` on one leaf, its proximal map (`prox_leaf`,
    and `prox_step` when it averages a diagonal metric; or `parts` for a sum of kinds),
    `dual_norm` (what `lambda_max` needs), `min_ndim`, `default_mask`; and what the solvers
    and converters ask of it: `l1_l2_split` (None by default) and `coefficient_block_size`
    (1 for an elementwise kind with a prox by default).
    """

    strength: Any
    mask: Mask | None = static_field(default=None)

    name: ClassVar[str] = ""
    min_ndim: ClassVar[int] = 0  # leaves with fewer dims cannot be penalized by this kind
    default_mask: ClassVar[Mask | None] = None  # used when mask is None
    elementwise: ClassVar[bool] = False  # additive over elements: small leaves may be batched
    has_prox: ClassVar[bool] = True
    quadratic: ClassVar[bool] = False  # b / 2 * sum w z^2: its prox divides by 1 + t b w
    # The value is ``strength * unscaled_value`` and the prox of a sum of such terms adds their
    # thresholds. False for kinds whose value is not linear in the strength (mcp, scad,
    # constraints): `unscaled_value` then returns the whole value (strength included), and a
    # weight multiplies each element's penalty, so `prox_leaf` gets it folded into the step.
    linear_in_strength: ClassVar[bool] = True
    # g(c x) = c g(x) for c >= 0 (l1, group lasso, nuclear): the prox of g + b/2 ||z||^2 is
    # then the prox of g divided by 1 + t b. False (l0, lq, mcp, scad, constraints): the exact
    # prox_{t/(1+tb) g}(x / (1 + t b)) is used instead.
    positively_homogeneous: ClassVar[bool] = True
    # The projection onto an orthant (non_negative): on a leaf shared with elementwise norms
    # (l1, l2, elastic net) the prox of the sum is this projection of their prox (they are even
    # and nondecreasing in |x|), so scikit-learn's `positive=True` composes with its penalty.
    orthant_projection: ClassVar[bool] = False
    # Where the value is smooth in x, for implicit differentiation of a solution (_implicit.py):
    # "all" (l2), "nonzeros" (smooth once the zero pattern is fixed: l1, group lasso, mcp,
    # ...), or None (nuclear, spectral, orthogonal, slope, constraints: not differentiated).
    smooth_on: ClassVar[str | None] = None

    @property
    def terms(self) -> tuple[Term, ...]:
        return (self,)

    def unscaled_value(self, x: jax.Array, w: Any) -> jax.Array:
        """The value on one leaf without the strength factor (with it when not
        `linear_in_strength`), in the accumulation dtype; ``w``: the leaf's weight or None."""
        raise NotImplementedError

    def parts(self) -> tuple[Term, ...]:
        """The kinds this term is a sum of (elastic net: its l1 and l2 parts)."""
        return (self,)

    def check_scalars(self) -> None:
        """Strength (and l1_ratio) must be scalars: a batch of penalties lives under vmap."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            per_leaf = f.name in ("weights", "center")  # pytrees matched to params' leaves
            if not f.metadata.get("static") and not per_leaf and np.ndim(value) != 0:
                raise ValueError(
                    f"{self.name}'s {f.name} has shape {np.shape(value)}: this is a batch of "
                    "penalties (e.g. built by jax.vmap(jaxreg.l1)(strengths)); use it under "
                    "jax.vmap, one penalty per call (jax.vmap(lambda pen: pen(params))(pens))."
                )

    @property
    def is_centred(self) -> bool:
        """Whether the term pulls toward a reference point ``c`` (``center=``) other than 0.

        Every consumer that does not handle centers (the converters, ``jaxreg.linear``) calls
        `reject_centred` rather than read such a term as its uncentred kind.
        """
        return bool(jax.tree.leaves(getattr(self, "center", None)))

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

    def prox_leaf(self, z: jax.Array, t: jax.Array, strength: jax.Array) -> jax.Array:
        """``argmin_x 1/2 ||x - z||^2 + t * g(x)`` on one leaf, ``g`` this kind at ``strength``.

        ``t``: the step, a scalar or one per element (a diagonal metric). ``strength``: the
        strength of ``g`` at each element (or group): the term's strength times the weight for
        kinds linear in the strength; for the others the weight is already folded into ``t``.
        """
        raise NotImplementedError

    def prox_step(self, t: jax.Array) -> jax.Array:
        """The step `prox_leaf` applies, broadcastable to the leaf: ``t``, except for kinds that
        use one step per group (the harmonic mean of a diagonal metric's steps)."""
        return t

    def merges_with(self, other: Term) -> bool:
        """Whether two non-quadratic parts on one leaf combine by adding their thresholds."""
        return (
            self.linear_in_strength
            and type(self) is type(other)
            and self.config() == other.config()
            and all(
                _same_value(getattr(self, f.name), getattr(other, f.name))
                for f in dataclasses.fields(self)
                if not f.metadata.get("static") and f.name not in _PER_TERM_LEAVES
            )
        )

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

    def l1_l2_split(self) -> tuple[Any, Any] | None:
        r"""``(a, b)`` when the term is :math:`\sum_g w_g \left(a \lVert x_g\rVert_2 +
        \frac{b}{2} \lVert x_g\rVert_2^2\right)` over its groups :math:`g` (single elements
        for an `elementwise` kind), else None (the default).

        ``a`` and ``b`` are scalar leaves (traced under `jit`), ``w_g`` the term's weights. The
        solvers read it for the fast l1 / l2 prox, the dual norm and the conjugate of the
        duality gap; the converters for Keras's ``l1`` / ``l2``, torch's weight decay and
        scikit-learn's ``alpha`` / ``l1_ratio``.
        """
        return None

    def coefficient_block_size(self, p: int) -> int:
        """The size of the consecutive blocks of a coefficient vector ``(p,)`` that this kind
        penalizes one by one: 1 for an `elementwise` kind with a prox; a kind that is neither
        (and does not override this) cannot run in a coordinate solver and raises."""
        if self.elementwise and self.has_prox:
            return 1
        raise NotImplementedError(
            "jr.linear supports elementwise penalties with a prox, weighted or not ("
            f"{kind_names(lambda kind: kind.elementwise and kind.has_prox)}) and group lasso on "
            "consecutive features "
            f"(group_lasso(s, reshape=(-1, group_size))); got {self!r}. Use jr.solve for "
            "others."
        )

    def dual_norm(self, g: jax.Array, w: Any) -> jax.Array:
        """The dual norm of ``g``, the loss gradient at 0 on one leaf: the smallest strength for
        which 0 is optimal there (``w``: the leaf's weight or None)."""
        raise ValueError(
            "lambda_max is defined for penalties that zero weights with a finite slope at 0 ("
            f"{kind_names(lambda kind: kind.dual_norm is not Term.dual_norm)}); got {self.name}."
        )

    def __repr__(self) -> str:
        args = [format_hyperparameter(self.strength)]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("strength", "mask"):
                continue
            scalar = isinstance(value, numbers.Real | np.ndarray | np.generic | jax.Array) and (
                np.ndim(cast(ArrayLike, value)) == 0
            )
            if f.name == "center" and value is not None and not scalar:  # weights by the MB
                args.append(f"center=<{len(jax.tree.leaves(value))} arrays>")
                continue
            if f.default is dataclasses.MISSING:
                args.append(format_hyperparameter(value))  # required: positional, as in the builder
            elif not (value is f.default or (f.metadata.get("static") and value == f.default)):
                args.append(f"{f.name}={format_hyperparameter(value)}")
        if self.mask is not None:
            args.append(f"mask={self.mask!r}")
        return f"{self.name}({', '.join(args)})"


def kind_names(has: Callable[[type[Term]], bool]) -> str:
    """The names of the kinds defined so far (jaxreg's and a user's subclasses of `Term`) for
    which ``has(kind)``, for an error message: it lists what exists, so a new kind appears in
    the messages without an edit to them."""
    names, stack = set(), list(Term.__subclasses__())
    while stack:
        kind = stack.pop()
        stack.extend(kind.__subclasses__())
        if kind.name and has(kind):
            names.add(kind.name)
    return ", ".join(sorted(names))


def reject_centred(pen: Any, caller: str) -> None:
    """Raise for a penalty with a centred term (``center=``): ``caller`` cannot express it.

    Keras regularizers, torch's weight decay, scikit-learn's estimators and jaxreg.linear all
    pull toward 0; reading ``l2(s, center=c)`` as ``l2(s)`` would be a silent wrong answer.
    """
    for term in getattr(pen, "terms", ()):
        if term.is_centred:
            raise ValueError(
                f"{caller}: {term!r} is centred (it pulls toward center=c, not toward 0), and "
                f"{caller} has no equivalent: its penalties all pull toward 0. Keep the centred "
                "penalty in the JAX loss (or use jaxreg.solve / jaxreg.transforms.proximal)."
            )


def format_hyperparameter(x: Any) -> str:
    """A concrete scalar hyperparameter as its number (``0.1``, not ``array(0.1)``)."""
    concrete = isinstance(x, jax.Array | np.ndarray | np.generic) and not isinstance(
        x, jax.core.Tracer
    )
    return str(np.asarray(x)) if concrete and np.ndim(x) == 0 else repr(x)


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
