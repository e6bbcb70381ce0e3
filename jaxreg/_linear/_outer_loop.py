r"""The outer working-set loop the three solvers share: each brings only its inner solve.

One iteration, from a state whose ``z = X w + b`` and full gradient ``g`` are at its ``w``:
each block's violation (`violation`), the working set (`working_set`), the solver's inner
solve on it down to ``fraction`` times the largest violation, then the full gradient at the
new point and its certificate. The solvers differ only in the inner solve (least squares:
coordinate descent on the working set's columns; prox-Newton: the loss's second-order model
solved there, then a line search; the general solver: coordinate-descent epochs on the loss
itself) and, for least squares, in the certificate (the unpenalized features' exact excess
added). One loop where three copies had drifted apart (one computed its gap before the inner
solve, recomputed it after the loop, and had no NaN stop).

Every state carries the certificate of its own point, computed once: the returned one is the
one the loop stopped on. A gap recomputed after the loop (a difference of nearly equal
numbers, fused differently) landed just above ``tol`` in float32 and reported a converged fit
as not converged (tests/test_linear.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ._certificates import violation
from ._problem import Problem
from ._working_set import working_set

# A fit still running after _PATIENCE outer iterations has a hard working set (nearly equal
# columns): a loose inner solve there leaves the outer loop crawling (a sparse X's 0.3: 178
# iterations on 50 columns correlated 0.9999, against 4 at 0.03), so the fraction tightens to
# at most _PATIENT_FRACTION. Warm-started paths rarely get there.
_PATIENCE = 8
_PATIENT_FRACTION = 0.03


class State(NamedTuple):
    """The outer loop's carry, and what a solver returns."""

    w: jax.Array
    b: jax.Array
    z: jax.Array  # X w + b
    g: jax.Array  # X^T (s loss'(z)) at w: the full gradient (what `path` carries on)
    it: jax.Array
    epochs: jax.Array
    gap: jax.Array  # the certificate at (w, z, g) and, in the same units, what it leaves out
    rest: jax.Array
    done: jax.Array


InnerSolve = Callable[[State, jax.Array, jax.Array, jax.Array], tuple[Any, Any, Any, Any]]
"""``inner(state, ws, count, inner_tol) -> (w, b, z, epochs)``: the blocks ``ws[:count]``
solved from the state's point down to ``inner_tol`` (inf: nothing to do), ``z = X w + b``."""

Certify = Callable[[jax.Array, jax.Array, jax.Array], tuple[Any, Any]]
"""``certify(w, z, g) -> (gap, rest)``, as `gap_and_rest`."""


def working_set_loop(
    pb: Problem,
    w0: jax.Array,
    b0: jax.Array,
    z0: jax.Array,
    g0: jax.Array,
    inner: InnerSolve,
    *,
    certify: Certify,
    fraction: float,
    tol: Any,
    max_iter: int,
    ws_min: int,
    certified: Any = True,
) -> State:
    """Outer iterations from ``(w0, b0)`` (``z0 = X w0 + b0``, ``g0`` the full gradient
    there) until the certificate is within ``tol``, ``max_iter`` or a NaN gap (NaN in the
    data: every later step would be NaN too). ``certified`` False: the certificate is a
    looser bound, the fit not converged whatever it says."""

    def running(st: State) -> jax.Array:
        return (st.it < max_iter) & ~st.done & ~jnp.isnan(st.gap)

    def step(st: State) -> State:
        viol = violation(pb, st.w, st.g, st.z)
        ws, count = working_set(st.w, viol, ws_min)
        # Under `jax.vmap` (a path's folds) the loop runs while any fit runs, and the batched
        # while_loop keeps a stopped fit's state (it selects the body's result away); told
        # inf, its inner loop does nothing, so the others' do not wait on it.
        frac = jnp.where(st.it < _PATIENCE, fraction, min(fraction, _PATIENT_FRACTION))
        inner_tol = jnp.where(running(st), frac * jnp.max(viol, initial=0.0), jnp.inf)
        w, b, z, epochs = inner(st, ws, count, inner_tol)
        g = pb.grad_full(z)
        gap, rest = certify(w, z, g)
        done = (gap <= tol) & (rest <= tol)
        return State(w, b, z, g, st.it + 1, st.epochs + epochs, gap, rest, done)

    gap, rest = certify(w0, z0, g0)
    zero = jnp.zeros((), jnp.int32)
    st = State(w0, b0, z0, g0, zero, zero, gap, rest, (gap <= tol) & (rest <= tol))
    st = jax.lax.while_loop(running, step, st)
    # NaN anywhere (data, a traced negative strength) makes the coefficients NaN: coordinate
    # descent's comparisons with NaN skip every update and would leave them at their start
    bad = ~jnp.isfinite(st.gap) | ~jnp.isfinite(st.rest)
    return st._replace(
        w=jnp.where(bad, jnp.nan, st.w), b=jnp.where(bad, jnp.nan, st.b), done=st.done & certified
    )
