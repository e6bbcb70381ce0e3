"""A full-batch solver: accelerated proximal gradient (FISTA) with backtracking and restart."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _implicit
from ._penalty.types import Penalty
from ._typing import PyTree


class SolveInfo(NamedTuple):
    """What `jaxreg.solve` reports beside the solution.

    Attributes:
      iterations: proximal-gradient steps taken
      converged: relative change of the iterate fell below tol
      objective: objective(params) + penalty(params) at the returned params
    """

    iterations: jax.Array
    converged: jax.Array
    objective: jax.Array


class _Carry(NamedTuple):
    x: Any  # the iterate
    y: Any  # the extrapolated point
    t: jax.Array  # FISTA's momentum parameter
    L: jax.Array  # the current Lipschitz estimate
    it: jax.Array
    done: jax.Array  # converged
    broken: jax.Array  # a NaN or infinite step: no later step can recover, so the loop stops


# The solution has init_params' structure and node types (an equinox model comes back as one).
Params = TypeVar("Params")


def solve(
    objective: Callable[[PyTree], jax.Array],
    penalty: Penalty,
    init_params: Params,
    *,
    max_iter: int = 1000,
    tol: float = 1e-10,
) -> tuple[Params, SolveInfo]:
    r"""Minimize ``objective(params) + penalty(params)`` for a smooth ``objective``.

    FISTA (Beck & Teboulle, 2009) with backtracking on the Lipschitz constant (which may also
    shrink by 10% a step, so a conservative start costs little) and adaptive restart
    (O'Donoghue & Candes, 2015). The whole loop is one `jax.lax.while_loop`: jit-able,
    vmap-able. It stops when :math:`\lVert x_{k+1}-x_k\rVert \le tol \cdot \max(1,
    \lVert x_{k+1}\rVert)`, after ``max_iter`` steps, or at the first step that is NaN or
    infinite (NaN data, a negative strength): that solve returns its NaN iterate with
    ``converged`` False rather than running its ``max_iter`` steps. Use float64
    (``jax_enable_x64``) for solutions accurate beyond ~1e-6. For the non-convex kinds (mcp,
    scad, lq, l0) it converges to a stationary point that depends on the start.

    Differentiable (``jax.grad``, ``jax.jvp``, under ``jax.vmap`` and ``jax.jit``) w.r.t. the
    penalty's leaves (strengths, weights, ``l1_ratio``, ``gamma``) and the arrays ``objective``
    closes over (data), by implicit differentiation of the solution, not by unrolling the
    loop: on the free coordinates :math:`A` (the nonzeros under l1, elastic_net, group_lasso,
    sparse_group_lasso, mcp, scad, lq, l0; every coordinate under l2 or no penalty),
    :math:`\nabla^2_{AA} F\,\mathrm{d}x_A = -\partial_\theta \nabla_A F\,\mathrm{d}\theta`
    and :math:`\mathrm{d}x_{\bar A} = 0`, with :math:`F` the objective plus the penalty,
    solved by conjugate gradients with Hessian-vector products to the relative residual
    ``max(tol, 10 eps)`` (``jaxreg/_implicit.py``). Exact where the zero pattern is locally
    stable (almost every strength) and the solve converged; at a kink of the path it is a
    one-sided derivative. The start gets no gradient. nuclear, slope and the constraints raise
    `NotImplementedError` when differentiated. Differentiate only a solve that converged
    (check ``info.converged``): the derivative is that of the solution, taken at the returned
    point. Where the objective is flat in a direction the derivative's other end sees (a
    ReLU unit dead on every training row), the least-norm derivative is returned.

    In float64, ``tol`` below ~1e-12 is usually below what rounding lets the iterates settle
    to: the solve then runs to ``max_iter`` (``converged`` False), and for a non-convex or
    ill-conditioned problem its last iterate may be less accurate than a converged solve at
    ``tol=1e-12`` (measured: 3e-9 against 1e-11 for an MCP): ask for what float64 can give.
    Leaves of ``init_params`` that are not arrays (an equinox module's activation functions,
    Python numbers) are held as they are; integer arrays raise.

    Args:
      objective: smooth part, ``params -> scalar`` (e.g. :math:`\frac{1}{2n}\|y-Xw-b\|^2`).
      penalty: a `jaxreg.Penalty` with a prox (l1, l2, elastic_net, group_lasso, nuclear, mcp,
        scad, lq, l0, slope, sparse_group_lasso, `jaxreg.constraints`).
      init_params: starting point (a pytree).

    Returns:
      ``(params, info)`` with ``info.iterations``, ``info.converged``, ``info.objective``.

    >>> import jax.numpy as jnp, jaxreg as jr
    >>> f = lambda w: 0.5 * jnp.sum((w - jnp.array([3.0, 0.5])) ** 2)
    >>> w, info = jr.solve(f, jr.l1(1.0), jnp.zeros(2))
    >>> w, bool(info.converged)
    (Array([2., 0.], dtype=float32), True)
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive int; got max_iter={max_iter!r}.")
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0; got tol={tol!r}.")
    if not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a jaxreg Penalty; got {type(penalty).__name__}.")
    # arrays are solved for; anything else (an equinox module's activation functions, Python
    # numbers) is held as it is, like eqx.partition(params, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(init_params)
    arrays = [isinstance(v, jax.Array | np.ndarray | np.generic) for v in leaves]
    not_float = [
        (jax.tree_util.keystr(path), v)
        for path, v in jax.tree_util.tree_flatten_with_path(init_params)[0]
        if isinstance(v, jax.Array | np.ndarray | np.generic)
        and not jnp.issubdtype(v.dtype, jnp.floating)
    ]
    if not_float:
        _refuse_not_float(not_float)
    if not any(arrays):
        raise ValueError("init_params holds no array to solve for.")
    if all(arrays):
        x0, objective_x = jax.tree.map(jnp.asarray, init_params), objective
    else:  # the held leaves become None (an empty subtree): tree arithmetic skips them

        def combine(x: Any) -> Any:
            got = jax.tree.leaves(x, is_leaf=lambda v: v is None)
            return jax.tree.unflatten(
                treedef, [g if a else v for g, v, a in zip(got, leaves, arrays, strict=True)]
            )

        x0 = jax.tree.unflatten(
            treedef, [jnp.asarray(v) if a else None for v, a in zip(leaves, arrays, strict=True)]
        )

        def objective_x(x: Any, /) -> jax.Array:
            return objective(combine(x))

    run = functools.partial(_fista, max_iter=max_iter, tol=tol)
    x, iterations, converged = _implicit.solution(run, objective_x, penalty, x0, tol=tol)
    if not all(arrays):
        x = combine(x)
    return x, SolveInfo(iterations, converged, objective(x) + penalty(x))


def _is_key(leaf: Any) -> bool:
    """A typed PRNG key, or a raw one (``jax.random.PRNGKey``: uint32 of shape (..., 2))."""
    dtype = leaf.dtype
    return bool(jnp.issubdtype(dtype, jax.dtypes.prng_key)) or (
        dtype == jnp.uint32 and np.shape(leaf)[-1:] in ((2,), (4,))
    )


def _refuse_not_float(leaves: list[tuple[str, Any]]) -> None:
    """Every array leaf of ``init_params`` is solved for; name the first that cannot be."""
    keys = [(where, v) for where, v in leaves if _is_key(v)]
    if keys:
        where, key = keys[0]
        what = "looks like a raw PRNG key" if key.dtype == jnp.uint32 else "is a PRNG key"
        raise TypeError(
            f"init_params{where} {what} (dtype {key.dtype}, shape {np.shape(key)}), not a "
            "parameter: jr.solve solves for every array leaf. Hold the key outside "
            "init_params: close over it in objective, or split it off first (equinox: "
            "params, static = eqx.partition(model, eqx.is_inexact_array); flax nnx: "
            "graphdef, params, rest = nnx.split(model, nnx.Param, ...)) and solve for params."
        )
    where, leaf = leaves[0]
    raise TypeError(
        f"init_params must hold floating-point arrays only; init_params{where} has dtype "
        f"{leaf.dtype}. Start from e.g. jnp.zeros(n) (float), not jnp.zeros(n, int), or hold "
        "integer state outside init_params (close over it in objective)."
    )


def _fista(objective, penalty, x0, *, max_iter, tol):
    value_and_grad = jax.value_and_grad(objective)
    dtype = jnp.result_type(*jax.tree.leaves(x0))
    eps = jnp.finfo(dtype).eps

    def step(y, L):
        fy, g = value_and_grad(y)

        def trial(L):
            z = penalty.prox(optax.tree.add_scale(y, -1.0 / L, g), 1.0 / L)
            d = optax.tree.sub(z, y)
            bound = fy + optax.tree.vdot(g, d) + 0.5 * L * optax.tree.vdot(d, d)
            fz = objective(z)
            return z, fz, fz <= bound + 10 * eps * jnp.abs(fy)

        def cond(c):  # a NaN value never passes the test: no doubling helps it
            return jnp.logical_not(c[3]) & (c[4] < 60) & jnp.isfinite(c[2])

        def body(c):
            L = 2.0 * c[0]
            z, fz, ok = trial(L)
            return L, z, fz, ok, c[4] + 1

        z, fz, ok = trial(L)
        L, z, fz, _, _ = jax.lax.while_loop(cond, body, (L, z, fz, ok, 0))
        return z, fz, L

    def cond(c: _Carry) -> jax.Array:
        return (c.it < max_iter) & jnp.logical_not(c.done | c.broken)

    def body(c: _Carry) -> _Carry:
        z, _, L = step(c.y, c.L)
        dz = optax.tree.sub(z, c.x)
        # momentum points uphill (optax annotates vdot as ArrayLike; it is an Array)
        restart = cast(jax.Array, optax.tree.vdot(optax.tree.sub(c.y, z), dz)) > 0
        t_next = jnp.where(restart, 1.0, 0.5 * (1 + jnp.sqrt(1 + 4 * c.t * c.t)))
        beta = jnp.where(restart, 0.0, (c.t - 1) / t_next)
        change = jnp.sqrt(optax.tree.vdot(dz, dz))
        size = jnp.maximum(1.0, jnp.sqrt(optax.tree.vdot(z, z)))
        return _Carry(
            x=z,
            y=optax.tree.add_scale(z, beta, dz),
            t=t_next.astype(dtype),
            L=(0.9 * L).astype(dtype),
            it=c.it + 1,
            done=change <= tol * size,
            broken=jnp.logical_not(jnp.isfinite(change)),
        )

    one = jnp.ones((), dtype)
    no = jnp.zeros((), bool)
    init = _Carry(x0, x0, one, one, jnp.zeros((), jnp.int32), no, no)
    final = jax.lax.while_loop(cond, body, init)
    return final.x, final.it, final.done
