"""Penalties: builders that validate once and return a pure, jit-able `Penalty`.

The textbook formulas live here and only here (`_RAW` below); every converter in
`_conventions.py` is derived from them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _numerics as nx
from . import _prox
from ._masks import kernels
from ._trees import PyTree, check_mask, leaf_paths, select_leaves

# --------------------------------------------------------------------------------------------
# Validation


def check_scalar(value: Any, name: str, *, low: float = 0.0, high: float = math.inf) -> Any:
    """Validate a hyperparameter: a finite real scalar in [low, high], or an array/tracer.

    Concrete values (Python numbers, NumPy and JAX scalars) are checked now; traced values can
    only be checked for shape, so `jax.vmap` / `jax.jit` over strengths work.
    """
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Real | np.ndarray | np.generic | jax.Array)
    ):
        raise TypeError(
            f"{name} must be a real number or a scalar array; got {value!r} "
            f"(type {type(value).__name__})."
        )
    if jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar; got an array of shape {jnp.shape(value)}.")
    if not jnp.issubdtype(jnp.result_type(value), jnp.number) or jnp.issubdtype(
        jnp.result_type(value), jnp.complexfloating
    ):
        raise TypeError(f"{name} must be real; got dtype {jnp.result_type(value)}.")
    if isinstance(value, jax.core.Tracer):
        return value
    v = float(value)
    if not (math.isfinite(v) and low <= v <= high):
        allowed = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{name} must be finite and {allowed}; got {name}={value!r}.")
    return value


def _check_axis(axis: Any) -> tuple[int, ...]:
    axes = axis if isinstance(axis, tuple) else (axis,)
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise TypeError(f"axis must be an int or a non-empty tuple of ints; got axis={axis!r}.")
    return axes


# --------------------------------------------------------------------------------------------
# The textbook formulas, one per kind, as raw (strength-free) functions of one leaf.


def _l1(x, **_):
    return nx.sum_abs(x)


def _l2(x, **_):
    return 0.5 * nx.sum_squares(x)


def _elastic_net(x, *, l1_ratio, **_):
    # Two reductions, not one of the combined term: measured on XLA:CPU (jax 0.10, 1e8 float32),
    # the fused sum of r|w| + c w^2 is 2.0x the memory roofline for one leaf but 4.6x for the
    # 192-leaf transformer layout, and 2-3x slower with the gradient; the two sums are 2.0-2.4x.
    z = nx.upcast(x)
    r = jnp.asarray(l1_ratio, z.dtype)
    return r * jnp.sum(nx.abs0(z)) + (0.5 * (1 - r)) * jnp.sum(z * z)


def _group_lasso(x, *, axis, **_):
    return jnp.sum(nx.group_norms(x, axis))


def _nuclear(x, **_):
    return nx.nuclear_norm(nx.as_matrix(x))


def _spectral(x, **_):
    return nx.spectral_norm(nx.as_matrix(x))


def _orthogonal(x, *, mode, **_):
    return nx.keras_orthogonality(nx.as_matrix(x), mode)


class _Kind(NamedTuple):
    raw: Callable[..., jax.Array]
    formula: str
    min_ndim: int  # leaves with fewer dims cannot be penalized by this kind
    default_mask: Any


_RAW: dict[str, _Kind] = {
    "l1": _Kind(_l1, "strength * sum|w|", 0, None),
    "l2": _Kind(_l2, "strength / 2 * sum w^2", 0, None),
    "elastic_net": _Kind(
        _elastic_net, "strength * (l1_ratio * sum|w| + (1 - l1_ratio) / 2 * sum w^2)", 0, None
    ),
    "group_lasso": _Kind(_group_lasso, "strength * sum_g ||w_g||_2", 1, None),
    "nuclear": _Kind(_nuclear, "strength * sum of singular values", 2, kernels),
    "spectral": _Kind(_spectral, "strength * largest singular value", 2, kernels),
    "orthogonal": _Kind(_orthogonal, "strength * mean_{i<j} |cos(w_i, w_j)|", 2, kernels),
}


_ELEMENTWISE = frozenset({"l1", "l2", "elastic_net"})
#: Leaves with fewer elements are concatenated (per dtype) before an elementwise reduction,
#: at most CONCAT_CHUNK leaves per buffer. Measured on CPU: 10,000 leaves reduced one by one
#: take XLA minutes to compile (2 s in chunks of 256), while concatenating mid-size leaves costs
#: a copy: 1,000 leaves of 30,000 floats ran at 19.7x the roofline concatenated and 1.7x one by
#: one (value+grad 6.8x vs 1.2x).
SMALL_LEAF = 1 << 12
CONCAT_CHUNK = 256


def _elementwise_raws(term: Term, xs: list[jax.Array]) -> list[jax.Array]:
    """Raw values of an additive elementwise kind: big leaves one by one, small ones batched."""
    raws = [term.leaf_value("", x) for x in xs if x.size >= SMALL_LEAF]
    small: dict[Any, list[jax.Array]] = {}
    for x in xs:
        if x.size < SMALL_LEAF:
            small.setdefault(x.dtype, []).append(x.ravel())
    for group in small.values():
        for i in range(0, len(group), CONCAT_CHUNK):
            chunk = group[i : i + CONCAT_CHUNK]
            raws.append(
                term.leaf_value("", chunk[0] if len(chunk) == 1 else jnp.concatenate(chunk))
            )
    return raws


class Term(NamedTuple):
    """One summand of a `Penalty`: ``strength * raw_kind(leaf)`` over the leaves ``mask`` picks."""

    kind: str
    strength: Any
    mask: Any
    options: tuple[tuple[str, Any], ...] = ()

    def leaf_value(self, path: str, x: jax.Array) -> jax.Array:
        spec = _RAW[self.kind]
        if x.ndim < spec.min_ndim:
            raise ValueError(
                f"{self.kind} needs leaves with at least {spec.min_ndim} dimension(s); the leaf at "
                f"'{path}' has shape {x.shape}. Exclude it with `mask` (e.g. jaxreg.masks.kernels)."
            )
        options = dict(self.options)
        if "axis" in options:
            axes = options["axis"]
            if not all(-x.ndim <= a < x.ndim for a in axes):
                raise ValueError(
                    f"axis={axes if len(axes) > 1 else axes[0]} is out of range for the leaf at "
                    f"'{path}' with shape {x.shape}."
                )
        return spec.raw(x, **options)


# --------------------------------------------------------------------------------------------
# The Penalty object


class Penalty:
    """A sum of penalty terms over a parameter pytree; build it with `jaxreg.l1`, `jaxreg.l2`, ...

    ``pen(params)`` is a scalar: every penalized leaf is reduced once, in float32 for
    float32/bf16/fp16 leaves and in float64 for float64 leaves, and the result has the widest
    of those dtypes. It is a pure function of ``params``: use it under `jax.jit`, `jax.grad` and
    `jax.vmap` freely. Penalties compose: ``pen_a + pen_b``, ``0.5 * pen``.
    """

    __slots__ = ("terms", "__weakref__")  # weakref: jax.jit(pen) caches on it

    def __init__(self, terms: tuple[Term, ...]):
        self.terms = tuple(terms)

    # -- evaluation --------------------------------------------------------------------------
    def _selected(self, params: PyTree) -> tuple[list[Any], list[str], list[list[Term]], Any]:
        """Leaves, their paths, the terms that penalize each leaf, and the treedef."""
        leaves, treedef = jax.tree_util.tree_flatten(params)
        paths = leaf_paths(params)
        terms: list[list[Term]] = [[] for _ in leaves]
        for term in self.terms:
            mask = _RAW[term.kind].default_mask if term.mask is None else term.mask
            for i, chosen in enumerate(select_leaves(params, mask)):
                if chosen:
                    terms[i].append(term)
        return leaves, paths, terms, treedef

    def __call__(self, params: PyTree) -> jax.Array:
        """The penalty's value: a scalar in the accumulation dtype (float32, or float64).

        Elementwise kinds (l1, l2, elastic_net) reduce each large leaf in place and the small
        leaves of one dtype as concatenated buffers of up to 256 leaves: 10,000 biases compile
        in 2 s, where 10,000 separate reductions take XLA more than ten minutes.
        """
        leaves, paths, terms, _ = self._selected(params)
        parts: list[jax.Array] = []
        for term in self.terms:
            xs = [
                (paths[i], jnp.asarray(leaves[i]))
                for i in range(len(leaves))
                if any(t is term for t in terms[i])
            ]
            if not xs:
                continue
            if term.kind in _ELEMENTWISE:
                raws = _elementwise_raws(term, [x for _, x in xs])
            else:
                raws = [term.leaf_value(path, x) for path, x in xs]
            dtype = jnp.result_type(*(r.dtype for r in raws))
            raw = raws[0] if len(raws) == 1 else jnp.sum(jnp.stack([r.astype(dtype) for r in raws]))
            parts.append(jnp.asarray(term.strength, dtype) * raw)
        if not parts:
            return jnp.zeros((), jnp.float32)
        dtype = jnp.result_type(*(p.dtype for p in parts))
        return parts[0] if len(parts) == 1 else jnp.sum(jnp.stack([p.astype(dtype) for p in parts]))

    def per_leaf(self, params: PyTree) -> PyTree:
        """``params``' structure with each penalized leaf's share of the penalty, None elsewhere.

        >>> import jax.numpy as jnp, jaxreg as jr
        >>> jr.l1(0.5).per_leaf({"w": jnp.array([1.0, -2.0]), "step": jnp.array(3)})
        {'step': None, 'w': Array(1.5, dtype=float32)}
        """
        leaves, paths, terms, treedef = self._selected(params)
        values = []
        for leaf, path, ts in zip(leaves, paths, terms, strict=True):
            if not ts:
                values.append(None)
                continue
            x = jnp.asarray(leaf)
            parts = [t.leaf_value(path, x) for t in ts]
            dtype = jnp.result_type(*(p.dtype for p in parts))
            values.append(
                sum(jnp.asarray(t.strength, dtype) * p for t, p in zip(ts, parts, strict=True))
            )
        return jax.tree_util.tree_unflatten(treedef, values)

    # -- proximal operator -------------------------------------------------------------------
    def prox(self, params: PyTree, step: Any) -> PyTree:
        r"""Proximal operator :math:`\arg\min_z \tfrac12\lVert z-p\rVert^2 + t\,\mathrm{pen}(z)`.

        Closed forms: `l1` soft-thresholds, `l2` scales by :math:`1/(1+t\lambda)`,
        `elastic_net` does both, `group_lasso` block-soft-thresholds each group (zero-safe),
        `nuclear` thresholds singular values. Terms may be summed when, on every leaf, at most
        one of l1 / group_lasso / nuclear applies (any number of l2 / elastic-net L2 parts may
        join it): the prox of ``g + b/2 ||.||^2`` is the prox of ``g`` divided by
        :math:`1 + t b`. `spectral` and `orthogonal` have no closed form here and raise
        `NotImplementedError`. Leaves the penalty does not touch are returned unchanged, and
        every leaf keeps its dtype. Values that land on 0 are exactly 0.0.

        Args:
          params: the pytree to shrink.
          step: :math:`t \ge 0`, a number or a scalar array (may be traced, e.g. a schedule);
            or a pytree with ``params``' structure of positive per-element steps (a diagonal
            metric, as in a preconditioned method). The elementwise parts (l1, l2, elastic net)
            are then exact; group lasso and nuclear use the mean step over each group/matrix.

        >>> import jax.numpy as jnp, jaxreg as jr
        >>> jr.l1(1.0).prox({"w": jnp.array([3.0, -0.5, 0.2])}, 1.0)
        {'w': Array([2., 0., 0.], dtype=float32)}
        """
        leaves, treedef = jax.tree_util.tree_flatten(params)
        if jnp.ndim(step) == 0 and not isinstance(step, dict | list | tuple):
            check_scalar(step, "step")
            steps = [step] * len(leaves)
        else:
            steps = treedef.flatten_up_to(step)
        paths = leaf_paths(params)
        plans: list[dict[str, Any] | None] = [None] * len(leaves)
        for term in self.terms:
            if term.kind in ("spectral", "orthogonal"):
                raise NotImplementedError(
                    f"{term.kind} has no closed-form proximal operator in jaxreg; use it as a "
                    "smooth(ish) penalty in the loss, or use l1 / l2 / elastic_net / group_lasso "
                    "/ nuclear with prox."
                )
            mask = _RAW[term.kind].default_mask if term.mask is None else term.mask
            for i, chosen in enumerate(select_leaves(params, mask)):
                if chosen:
                    term.leaf_value(paths[i], jnp.asarray(leaves[i]))  # shape checks only
                    plans[i] = _add_to_plan(plans[i], term, paths[i])
        out = [
            leaf if plan is None else _prox.leaf_prox(jnp.asarray(leaf), t, plan["ns"], plan["l2"])
            for leaf, plan, t in zip(leaves, plans, steps, strict=True)
        ]
        return jax.tree_util.tree_unflatten(treedef, out)

    # -- composition -------------------------------------------------------------------------
    def __add__(self, other: Penalty) -> Penalty:
        if not isinstance(other, Penalty):
            return NotImplemented
        return Penalty(self.terms + other.terms)

    def __radd__(self, other: Any) -> Penalty:
        if isinstance(other, numbers.Number) and other == 0:  # sum([pen_a, pen_b])
            return self
        return NotImplemented

    def __mul__(self, factor: Any) -> Penalty:
        if isinstance(factor, Penalty):
            return NotImplemented
        check_scalar(factor, "factor")
        return Penalty(tuple(t._replace(strength=factor * t.strength) for t in self.terms))

    __rmul__ = __mul__

    def __truediv__(self, divisor: Any) -> Penalty:
        check_scalar(divisor, "divisor", low=np.nextafter(0.0, 1.0))
        return self * (1.0 / divisor)

    def __repr__(self) -> str:
        def one(t: Term) -> str:
            args = [f"{t.strength!r}"] + [
                f"{k}={v if k != 'axis' or len(v) > 1 else v[0]!r}" for k, v in t.options
            ]
            if t.mask is not None:
                args.append(f"mask={getattr(t.mask, '__name__', t.mask)!r}")
            return f"{t.kind}({', '.join(args)})"

        return " + ".join(one(t) for t in self.terms) if self.terms else "Penalty(<empty>)"


def _add_to_plan(plan: dict[str, Any] | None, term: Term, path: str) -> dict[str, Any]:
    """Fold one term into a leaf's prox plan: one nonsmooth part plus a total L2 coefficient."""
    plan = {"ns": None, "l2": 0.0} if plan is None else dict(plan)
    options = dict(term.options)
    if term.kind == "l2":
        plan["l2"] = plan["l2"] + term.strength
        return plan
    if term.kind == "elastic_net":
        r = options["l1_ratio"]
        plan["l2"] = plan["l2"] + term.strength * (1 - r)
        kind, lam, opts = "l1", term.strength * r, {}
    else:
        kind, lam, opts = term.kind, term.strength, options
    if plan["ns"] is None:
        plan["ns"] = (kind, lam, opts)
    elif plan["ns"][0] == kind and plan["ns"][2] == opts:
        plan["ns"] = (kind, plan["ns"][1] + lam, opts)
    else:
        raise NotImplementedError(
            f"no closed-form prox for {plan['ns'][0]} + {kind} on the same leaf '{path}'; give "
            "the terms disjoint masks."
        )
    return plan


def _build(kind: str, strength: Any, mask: Any, **options: Any) -> Penalty:
    check_scalar(strength, "strength")
    check_mask(mask)
    return Penalty((Term(kind, strength, mask, tuple(options.items())),))


# --------------------------------------------------------------------------------------------
# Public builders


def l1(strength: Any, *, mask: Any = None) -> Penalty:
    r"""Lasso penalty :math:`\lambda \sum_i |w_i|`.

    The derivative at ``w_i = 0`` is 0, as in TensorFlow and PyTorch.
    Equivalent settings: Keras ``L1(l1=strength)``; PyTorch ``strength * p.abs().sum()`` added to
    the loss; scikit-learn ``Lasso(alpha=strength)`` when the data term is
    :math:`\frac{1}{2n}\lVert y - Xw\rVert^2`.

    Args:
      strength: :math:`\lambda \ge 0`, a Python number or a scalar array (may be traced).
      mask: which leaves to penalize: None (every floating leaf), a pytree of bools (the params'
        structure or a prefix of it) or a callable ``(path, leaf) -> bool``.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.l1(0.1)({"w": jnp.array([1.0, -2.0, 0.0])})
    Array(0.3..., dtype=float32)
    """
    return _build("l1", strength, mask)


def l2(strength: Any, *, mask: Any = None) -> Penalty:
    r"""Ridge / weight-decay penalty :math:`\frac{\lambda}{2} \sum_i w_i^2`.

    Its gradient is :math:`\lambda w`: the coupled ``weight_decay=strength`` of
    ``torch.optim.SGD`` / ``torch.optim.Adam``. Keras's ``L2(l2)`` has no ½: use
    ``L2(l2=strength / 2)``. scikit-learn ``Ridge(alpha)`` is ``l2(alpha / n_samples)`` with a
    :math:`\frac{1}{2n}\lVert y - Xw\rVert^2` data term (see `jaxreg.conventions`).

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.l2(0.1)({"w": jnp.array([1.0, -2.0])})
    Array(0.25, dtype=float32)
    """
    return _build("l2", strength, mask)


def elastic_net(strength: Any, l1_ratio: Any, *, mask: Any = None) -> Penalty:
    r"""Elastic net :math:`\lambda \left(\rho \sum_i |w_i| + \frac{1-\rho}{2} \sum_i w_i^2\right)`.

    This is scikit-learn's ``ElasticNet(alpha=strength, l1_ratio=l1_ratio)`` and glmnet's
    parametrization (``alpha`` there is ``l1_ratio`` here). Keras: ``L1L2(l1=strength * l1_ratio,
    l2=strength * (1 - l1_ratio) / 2)``.

    Args:
      strength: :math:`\lambda \ge 0`.
      l1_ratio: :math:`\rho \in [0, 1]`; 1 is `l1`, 0 is `l2`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.elastic_net(1.0, 0.5)({"w": jnp.array([2.0])})
    Array(2., dtype=float32)
    """
    check_scalar(l1_ratio, "l1_ratio", high=1.0)
    return _build("elastic_net", strength, mask, l1_ratio=l1_ratio)


def group_lasso(strength: Any, *, axis: int | tuple[int, ...] = -1, mask: Any = None) -> Penalty:
    r"""Group lasso :math:`\lambda \sum_g \lVert w_g \rVert_2`.

    A group is every index of a leaf except ``axis``; the norm runs along ``axis``. For a Keras
    or flax kernel of shape ``(in, out)`` the default ``axis=-1`` gives one group per input
    feature, so a zero row removes that feature. (PyTorch's ``Linear.weight`` is ``(out, in)``:
    use ``axis=0`` there.) The gradient of an all-zero group is 0, not NaN.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.group_lasso(1.0)({"kernel": jnp.array([[3.0, 4.0], [0.0, 0.0]])})
    Array(5., dtype=float32)
    """
    axes = _check_axis(axis)
    return _build("group_lasso", strength, mask, axis=axes)


def nuclear(strength: Any, *, mask: Any = None) -> Penalty:
    r"""Nuclear (trace) norm :math:`\lambda \sum_k \sigma_k(W)` of each matrix leaf.

    Leaves with more than 2 dimensions are read as ``(prod(shape[:-1]), shape[-1])`` matrices.
    With ``mask=None`` only leaves with ``ndim >= 2`` are penalized (`jaxreg.masks.kernels`);
    an explicit mask that selects a vector raises. The gradient is :math:`U V^\top` over the
    non-zero singular values (0 at the zero matrix). No Keras/PyTorch built-in equivalent.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.nuclear(1.0)({"w": jnp.diag(jnp.array([3.0, -1.0])), "b": jnp.ones(2)})
    Array(4., dtype=float32)
    """
    return _build("nuclear", strength, mask)


def spectral(strength: Any, *, mask: Any = None) -> Penalty:
    r"""Spectral norm :math:`\lambda\, \sigma_{\max}(W)` of each matrix leaf.

    Matrix handling as in `nuclear`. The gradient is :math:`u_1 v_1^\top` (0 at the zero matrix).

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.spectral(1.0)({"w": jnp.diag(jnp.array([3.0, -1.0]))})
    Array(3., dtype=float32)
    """
    return _build("spectral", strength, mask)


def orthogonal(strength: Any, *, mode: str = "rows", mask: Any = None) -> Penalty:
    r"""Keras's orthogonality penalty, :math:`\lambda` times the mean pairwise :math:`|\cos|`.

    :math:`\lambda\, \mathrm{mean}_{i<j} |\hat r_i \cdot \hat r_j|` where
    :math:`\hat r_i` are the L2-normalized rows (``mode="rows"``) or columns (``"columns"``) of
    each matrix leaf, normalized as `keras.ops.normalize` does (``epsilon=1e-7``). Same value as
    ``keras.regularizers.OrthogonalRegularizer(factor=strength, mode=mode)``, except that a
    single-row (column) matrix gives 0 where Keras gives NaN. Matrix handling as in `nuclear`.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> jr.orthogonal(1.0)({"w": jnp.array([[1.0, 0.0], [1.0, 1.0]])})
    Array(0.707..., dtype=float32)
    """
    if mode not in ("rows", "columns"):
        raise ValueError(f"mode must be 'rows' or 'columns'; got mode={mode!r}.")
    return _build("orthogonal", strength, mask, mode=mode)
