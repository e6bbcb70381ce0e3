r"""The squared loss with an l1 / l2 / elastic-net / group-lasso penalty: its solver.

The outer loop is the general solver's (full gradient, violations, working set, duality gap)
with one pass over ``X`` per iteration: ``z = X w + b`` comes from the working set's columns
(every nonzero coefficient is in it), and a path carries ``z`` and the gradient from one
strength to the next. The inner solver is a parameter: `dense_inner` (the working set's
columns gathered, centred, updated in blocks) or `sparse_inner` (its padded columns), one
compiled branch per working-set capacity, the smallest that holds the working set picked at
run time; for groups `block_inner` (one branch: it reads the groups from ``X`` in place).
Unpenalized features (or groups) get an exact Newton step after every inner solve
(`Unpenalized`). The gap is always that of :math:`z` and :math:`X^\top s (z - y)` recomputed
from ``X``'s columns at the returned coefficients, never from a Gram matrix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._certificates import State, finish, gap_and_rest, violation
from ._least_squares_parts import LeastSquares
from ._ls_blocks import block_inner
from ._ls_dense import dense_inner
from ._ls_sparse import sparse_inner
from ._options import SolverOptions
from ._problem import Problem
from ._unpenalized import unpenalized
from ._working_set import working_set

# Working-set capacities: static shapes, one compiled inner solver each (about 100 XLA
# kernels: most of a first call's compile time), so a dense X's grow by 16 (n = 500,
# p = 2,000: 3 branches, 531 kernels instead of 626 with powers of 4, and no slower); a sparse
# X's in powers of 2 from 4,096 (its branch pads its columns to the capacity: powers of 4 were
# much slower there, benchmarks/README.md).
_CAPACITIES = (64, 1024, 16384, 65536)
_SPARSE_CAPACITIES = (64, 256, 1024) + tuple(2**k for k in range(12, 21))
# The inner loop stops at this fraction of the outer violation: on a dense X an outer
# iteration costs more than its epochs; on a sparse X the reverse (benchmarks/README.md).
_INNER = 0.03
_INNER_SPARSE = 0.3
# Unpenalized features: all of them get the exact step up to _FREE_MAX features, else up to
# _FREE_GATHER of them (more: no certificate). Under vmap (vmap_folds) a cond runs both
# branches: every fit pays the eigh.
_FREE_MAX = 512
_FREE_GATHER = 64


class _Free(NamedTuple):
    """The unpenalized features' exact step and excess, and whether there are any."""

    any: jax.Array
    newton: Callable[[Any], Any]
    excess: Callable[[Any], Any]


def inner_capacities(cols_sparse: bool, g_count: int) -> list[int]:
    """The inner solvers' working-set capacities for ``g_count`` blocks (the last: all)."""
    capacities = _SPARSE_CAPACITIES if cols_sparse else _CAPACITIES
    return sorted({c for c in capacities if c < g_count} | {g_count})


def _certify(pb: Problem, excess: Callable[[Any], Any], any_free, w, z, g):
    """The gap and the rest, with the free features' exact ``excess``."""
    gap, rest = gap_and_rest(pb, w, z, g)
    ex = jax.lax.cond(any_free, excess, lambda _: jnp.zeros((), pb.dtype), z)
    return gap + ex, jnp.maximum(rest, ex)


def _outer_step(pb, fr: _Free, branches, bounds, tol, ws_min: int, st: State) -> State:
    viol = violation(pb, st.w, st.g, st.z)
    ws, count = working_set(st.w, viol, ws_min)
    # (under vmap a finished fit runs this step too: told inf, its inner loop does nothing)
    frac = _INNER if pb.cols.rows is None else _INNER_SPARSE
    inner_tol = jnp.where(st.done, jnp.inf, frac * jnp.max(viol, initial=0.0))
    which = jnp.sum(count > bounds)  # the smallest capacity >= count
    w, b, z, e = jax.lax.switch(which, branches, st.w, st.b, st.z, st.g, ws, count, inner_tol)
    w, b, z = jax.lax.cond(fr.any & ~st.done, fr.newton, lambda c: c, (w, b, z))
    g = pb.grad_full(z)
    gap, rest = _certify(pb, fr.excess, fr.any, w, z, g)
    done = (gap <= tol) & (rest <= tol)
    return State(w, b, z, st.it + 1, st.epochs + e, gap, done, g)


def _start(pb: Problem, w0, b0):
    """``(b0, z0, g0)``: the intercept's exact step first, so the first gradient sees it."""
    z0 = pb.cols.matvec(w0) + b0
    db = jnp.sum(pb.sn * (pb.y - z0)) if pb.fit_intercept else 0.0
    b0, z0 = b0 + db, z0 + db
    return b0, z0, pb.grad_full(z0)


def solve_least_squares(
    pb: Problem,
    w0: jax.Array,
    b0: jax.Array,
    zg0: tuple[jax.Array, jax.Array] | None,
    *,
    tol: Any,
    options: SolverOptions,
    ws_min: int,
) -> State:
    """The working-set loop from ``(w0, b0)``; ``zg0``: ``X w0 + b0`` and the full gradient
    there, as a path's previous fit returns them (else computed, with the intercept's step)."""
    assert pb.split is not None and pb.lips is not None
    a, b2 = pb.split.a[:, 0], pb.split.b[:, 0]
    cols, y, sn = pb.cols, pb.y, pb.sn
    g_count, size = w0.shape
    caps = inner_capacities(cols.rows is not None, g_count)
    lpos = pb.lips > 0
    ybar = jnp.sum(sn * y)  # the optimal intercept of centred columns (sum(sn) = 1)
    ls = LeastSquares(
        cols, y, sn, a, b2, ybar, pb.fit_intercept, options.anderson, options.max_epochs
    )
    inner = dense_inner if cols.rows is None else sparse_inner
    if size > 1:  # groups (a dense X; a, b2 per group): one branch, reading X in place
        inner, caps = block_inner, [g_count]
    branches = [functools.partial(inner, ls, c) for c in caps]
    bounds = jnp.asarray(caps[:-1], jnp.int32)
    # unpenalized features: no dual constraint of theirs; their exact excess in the gap
    free = (a == 0) & (b2 == 0) & lpos
    any_free = jnp.any(free)
    free_cap = g_count if g_count * size <= _FREE_MAX else max(_FREE_GATHER // size, 1)
    exact = unpenalized(cols, y, sn, free, free_cap, pb.fit_intercept)
    # (bound once: a cond traces a branch once per function object)
    fr = _Free(any_free, exact.newton, exact.excess)
    certified = jnp.sum(free) <= free_cap  # else the loop stops on its looser bound

    if zg0 is None:
        b0, z0, g0 = _start(pb, w0, b0)
    else:
        z0, g0 = zg0
    gap, rest = _certify(pb, fr.excess, fr.any, w0, z0, g0)
    zero = jnp.zeros((), jnp.int32)
    st = State(w0, b0, z0, zero, zero, gap, (gap <= tol) & (rest <= tol), g0)
    st = jax.lax.while_loop(  # NaN (in the data) stops at once
        lambda st: (st.it < options.max_iter) & ~st.done & ~jnp.isnan(st.gap),
        lambda st: _outer_step(pb, fr, branches, bounds, tol, ws_min, st),
        st,
    )
    # the state's z and g are X's at the returned point
    gap, rest = _certify(pb, fr.excess, fr.any, st.w, st.z, st.g)
    # the loop's certificate at this same point decides: in float32 the recomputed gap (a
    # difference of nearly equal numbers, fused differently) can land just above tol
    gap = jnp.where(st.done, st.gap, gap)
    rest = jnp.where(st.done, jnp.minimum(rest, tol), rest)
    return finish(st, gap, rest, tol, certified)
