r"""Implicit differentiation of a penalized solution with respect to everything it depends on.

At a solution :math:`x^\star(\theta)` of :math:`\min_x F(x, \theta) = f(x, \theta) +
\mathrm{pen}_\theta(x)` the penalties jaxreg differentiates are smooth once the zero pattern
is fixed (l1, elastic net, group lasso, mcp, ...) or everywhere (l2). Where the pattern is
stable, :math:`x^\star` minimizes the smooth restriction of :math:`F` to the free coordinates
:math:`A` (the nonzeros of those kinds, every coordinate of the others) with the rest held
at 0 (at the center :math:`c` for a centred term: there the kink is :math:`x = c`), so by
the implicit function theorem

.. math:: \nabla^2_{AA} F \; \mathrm{d}x^\star_A = -\,\partial_\theta \nabla_A F \;
   \mathrm{d}\theta - \nabla^2_{A\bar A} F \; \mathrm{d}c_{\bar A}, \qquad
   \mathrm{d}x^\star_{\bar A} = \mathrm{d}c_{\bar A}

the Lasso's formula of Bertrand et al. (ICML 2020) and its group / elastic-net / non-convex
analogues. The system is symmetric positive (semi)definite and is solved by conjugate gradients
with Hessian-vector products only (``jax.jvp`` of ``jax.grad``), as the matrix-free operator
:math:`v \mapsto m \odot \nabla^2 F\,(m \odot v) + (1 - m) \odot v` (:math:`m`: the free mask),
inside ``jax.lax.custom_linear_solve``: forward mode is the rule below, reverse mode its
transpose, and both vmap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ._penalty.resolution import resolve_terms
from ._penalty.types import Penalty, kind_names


def free_mask(penalty: Penalty, x: Any) -> Any:
    """The coordinates a small change of the hyperparameters moves, as a pytree of bools."""
    plan = resolve_terms(penalty.terms, x)
    kinds: dict[int, list[tuple[Any, Any]]] = {}  # leaf -> (kind, center or None)
    for term, idx, cs in zip(penalty.terms, plan.chosen, plan.centers, strict=True):
        for i, c in zip(idx, cs, strict=True):
            kinds.setdefault(i, []).extend((part, c) for part in term.parts())
    out = []
    for i, leaf in enumerate(plan.leaves):
        parts = [p for p, _ in kinds.get(i, [])]
        unsupported = [p for p in parts if p.smooth_on is None]
        if unsupported:
            raise NotImplementedError(
                f"jr.solve cannot be differentiated through {unsupported[0]!r} (on the leaf "
                f"'{plan.paths[i] or '<root>'}'): its solution is not a smooth function of the "
                "hyperparameters on a fixed zero pattern. Differentiable kinds: "
                f"{kind_names(lambda kind: kind.smooth_on is not None)}."
            )
        # a kind smooth off its kink: free where x is not at the kink, 0 or the term's center
        kinks = {id(c): c for p, c in kinds.get(i, []) if p.smooth_on == "nonzeros"}
        free = jnp.ones(jnp.shape(leaf), bool)
        for c in kinks.values():
            leaf = jnp.asarray(leaf)
            free = free & (leaf != (0 if c is None else jnp.asarray(c, leaf.dtype)))
        out.append(free)
    return jax.tree.unflatten(plan.treedef, out)


def kink_points(penalty: Penalty, x: Any) -> Any:
    """Where the coordinates off the free mask are held: a term's center, else 0, per leaf.

    Differentiable in ``penalty``: a held coordinate moves one for one with its center."""
    plan = resolve_terms(penalty.terms, x)
    centers: dict[int, Any] = {}
    for term, idx, cs in zip(penalty.terms, plan.chosen, plan.centers, strict=True):
        if any(part.smooth_on == "nonzeros" for part in term.parts()):
            for i, c in zip(idx, cs, strict=True):
                if c is not None:
                    centers.setdefault(i, c)  # one center per leaf: the prox requires it
    out = [
        jnp.broadcast_to(jnp.asarray(centers[i], jnp.result_type(leaf)), jnp.shape(leaf))
        if i in centers
        else jnp.zeros_like(leaf)
        for i, leaf in enumerate(plan.leaves)
    ]
    return jax.tree.unflatten(plan.treedef, out)


def _where(mask: Any, a: Any, b: Any) -> Any:
    return jax.tree.map(jnp.where, mask, a, b)


def _cg_tol(x: Any, tol: float) -> float:
    dtype = jnp.result_type(*jax.tree.leaves(x))
    return max(tol, 10 * float(jnp.finfo(dtype).eps))


def solution(
    run: Callable[[Callable[[Any], jax.Array], Penalty, Any], tuple[Any, ...]],
    objective: Callable[[Any], jax.Array],
    penalty: Penalty,
    x0: Any,
    *,
    tol: float,
) -> tuple[Any, ...]:
    """``run(objective, penalty, x0)`` = ``(x, *non-differentiable outputs)``, with ``x``
    differentiable in ``penalty``'s leaves and in the arrays ``objective`` closes over."""
    f, consts = jax.closure_convert(objective, x0)
    return _fixed_point(run, f, tol, penalty, consts, x0)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _fixed_point(run, f, tol, penalty, consts, x0):
    return run(lambda x: f(x, *consts), penalty, x0)


@_fixed_point.defjvp
def _fixed_point_jvp(run, f, tol, primals, tangents):
    penalty, consts, x0 = primals
    d_penalty, d_consts, _ = tangents  # the start does not move the solution
    out = _fixed_point(run, f, tol, penalty, consts, x0)
    x = out[0]
    free = free_mask(penalty, x)

    def grad_x(x, penalty, consts):
        return jax.grad(lambda x: f(x, *consts) + penalty(x))(x)

    zero = jax.tree.map(jnp.zeros_like, x)
    # held coordinates sit at their kink (0, or a centred term's center) and move with it
    _, d_held = jax.jvp(lambda p: kink_points(p, x), (penalty,), (d_penalty,))
    d_held = _where(free, zero, d_held)
    _, b = jax.jvp(
        lambda p, c, x: grad_x(x, p, c), (penalty, consts, x), (d_penalty, d_consts, d_held)
    )
    b = _where(free, jax.tree.map(jnp.negative, b), d_held)

    # one flat vector: custom_linear_solve's transpose needs every part of b to depend on
    # the tangents, which a leaf the penalty does not touch (a bias) does not
    b_flat, unravel = jax.flatten_util.ravel_pytree(b)

    def matvec(v_flat):
        v = unravel(v_flat)
        _, hv = jax.jvp(lambda x: grad_x(x, penalty, consts), (x,), (_where(free, v, zero),))
        return jax.flatten_util.ravel_pytree(_where(free, hv, v))[0]

    tol_cg = _cg_tol(x, tol)

    def cg(matvec, b):
        return _pinv_solve(matvec, b, tol_cg)

    dx = unravel(jax.lax.custom_linear_solve(matvec, b_flat, solve=cg, symmetric=True))
    rest = tuple(np.zeros(np.shape(o), jax.dtypes.float0) for o in out[1:])
    return out, (dx, *rest)


def _pinv_solve(matvec: Callable[[jax.Array], jax.Array], b: jax.Array, tol: float) -> jax.Array:
    """:math:`A^+ b` for the symmetric positive semidefinite ``A``: CG, which gives it when
    ``b`` is in the range of ``A`` (its Krylov space stays there); when CG's residual shows
    ``b`` is not (a direction the training loss does not see but the validation loss does,
    such as a ReLU unit dead on every training row), CG on the normal equations
    :math:`A^2 x = A b`, whose iterates from 0 converge to the least-squares solution of least
    norm. Both directions of differentiation then use one symmetric operator, :math:`A^+`.
    NaN in ``b`` gives NaN (CG would stop at once and return 0)."""
    cg = jax.scipy.sparse.linalg.cg
    x = cg(matvec, b, tol=tol)[0]
    b_norm = jnp.linalg.norm(b)
    solved = jnp.linalg.norm(matvec(x) - b) <= 1e3 * tol * b_norm

    def normal(_):
        return cg(lambda v: matvec(matvec(v)), matvec(b), tol=tol)[0]

    x = jax.lax.cond(solved, lambda _: x, normal, None)
    return jnp.where(jnp.isfinite(b_norm), x, jnp.nan)
