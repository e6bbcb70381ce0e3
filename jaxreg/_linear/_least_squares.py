r"""The squared loss with an l1 / l2 / elastic-net / group-lasso penalty: its solver.

The outer loop is `working_set_loop` (violations, working set, full gradient, duality gap)
with one pass over ``X`` per iteration: ``z = X w + b`` comes from the working set's columns
(every nonzero coefficient is in it), and a path carries ``z`` and the gradient from one
strength to the next. The inner solve is a parameter: `dense_inner` (the working set's
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

from ._certificates import gap_and_rest
from ._least_squares_parts import LeastSquares
from ._ls_blocks import block_inner
from ._ls_dense import dense_inner
from ._ls_sparse import sparse_inner
from ._options import SolverOptions
from ._outer_loop import State, working_set_loop
from ._problem import Problem
from ._unpenalized import free_capacity, unpenalized

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


class _Free(NamedTuple):
    """The unpenalized features' exact step and excess, and whether there are any."""

    any: jax.Array
    newton: Callable[[Any], Any]
    excess: Callable[[Any], Any]


def _capacities(cols_sparse: bool, g_count: int) -> list[int]:
    """The inner solvers' working-set capacities for ``g_count`` blocks (the last: all)."""
    capacities = _SPARSE_CAPACITIES if cols_sparse else _CAPACITIES
    return sorted({c for c in capacities if c < g_count} | {g_count})


def least_squares_inner(model: LeastSquares, g_count: int, size: int = 1) -> Callable[..., Any]:
    """``model``'s inner solver (`dense_inner` / `sparse_inner`) on the smallest capacity
    that holds the working set, one compiled branch per capacity: ``(w, b, z, g, ws, count,
    inner_tol) -> (w, b, z, epochs)``, ``g`` the model's full gradient at ``w``. Groups of
    ``size`` features (a dense X): `block_inner`, one branch (it reads the groups from X in
    place)."""
    caps = _capacities(model.cols.rows is not None, g_count)
    inner = dense_inner if model.cols.rows is None else sparse_inner
    if size > 1:
        inner, caps = block_inner, [g_count]
    branches = [functools.partial(inner, model, c) for c in caps]
    bounds = jnp.asarray(caps[:-1], jnp.int32)

    def solve(w, b, z, g, ws, count, inner_tol):
        which = jnp.sum(count > bounds)  # the smallest capacity >= count
        return jax.lax.switch(which, branches, w, b, z, g, ws, count, inner_tol)

    return solve


def _certify(pb: Problem, fr: _Free, w, z, g):
    """The gap and the rest, with the free features' exact excess."""
    gap, rest = gap_and_rest(pb, w, z, g)
    ex = jax.lax.cond(fr.any, fr.excess, lambda _: jnp.zeros((), pb.dtype), z)
    return gap + ex, jnp.maximum(rest, ex)


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
    there, as a path's previous fit returns them (else computed, with the intercept's exact
    step first, so that the first gradient sees it)."""
    assert pb.split is not None and pb.lips is not None
    a, b2 = pb.split.a[:, 0], pb.split.b[:, 0]
    cols, y, sn = pb.cols, pb.y, pb.sn
    g_count, size = w0.shape
    ybar = jnp.sum(sn * y)  # the optimal intercept of centred columns (sum(sn) = 1)
    ls = LeastSquares(
        cols, y, sn, a, b2, ybar, pb.fit_intercept, options.anderson, options.max_epochs
    )
    solve_ws = least_squares_inner(ls, g_count, size)
    # unpenalized features: no dual constraint of theirs; their exact excess in the gap
    free = (a == 0) & (b2 == 0) & (pb.lips > 0)
    free_cap = free_capacity(g_count, size)  # (vmap_folds: a cond runs both branches)
    exact = unpenalized(cols, y, sn, free, free_cap, pb.fit_intercept)
    # (bound once: a cond traces a branch once per function object)
    fr = _Free(jnp.any(free), exact.newton, exact.excess)

    def inner(st: State, ws, count, inner_tol):
        w, b, z, epochs = solve_ws(st.w, st.b, st.z, st.g, ws, count, inner_tol)
        w, b, z = jax.lax.cond(fr.any, fr.newton, lambda c: c, (w, b, z))
        return w, b, z, epochs

    if zg0 is None:
        z0 = cols.matvec(w0) + b0
        if pb.fit_intercept:
            db = jnp.sum(sn * (y - z0))
            b0, z0 = b0 + db, z0 + db
        g0 = pb.grad_full(z0)
    else:
        z0, g0 = zg0
    return working_set_loop(
        pb, w0, b0, z0, g0, inner,
        certify=functools.partial(_certify, pb, fr),
        fraction=_INNER if cols.rows is None else _INNER_SPARSE,
        tol=tol, max_iter=options.max_iter, ws_min=ws_min,
        certified=jnp.sum(free) <= free_cap,  # else the loop stops on its looser bound
    )  # fmt: skip
