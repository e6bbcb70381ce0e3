"""The compiled drivers: one fit, a warm-started path in one `lax.scan`, a fold's scores.

Each is a `jax.jit` whose static arguments are the `SolverOptions` and (for a path) the
penalty's builder; the data, the penalty's leaves, the strengths and ``tol`` are traced.
Every fit runs on ``X`` itself, tall ones too, and its gap comes from ``y - X w - b``: a
compressed ``p x p`` Gram form (glmnet's "covariance updates") drops the columns of small
scale in its ``eigh`` (float32: 1e-3 beside 1e3) and its gap certifies the compressed
problem, not the fit; certified on ``X`` afterwards, it is slower than the fit on ``X``
alone (benchmarks/README.md, "Tall problems").

Called outside any transformation, each is compiled with XLA:CPU options that suit it
(`OPTIMIZED`, `QUICK`): XLA:CPU's older loop emitters instead of its MLIR fusion emitters,
which run an MLIR pipeline per fused kernel (these programs are hundreds of small kernels in
nested loops: the option halves their compile time, and the compiled paths are no slower);
and, for a small design (at most `QUICK_MAX_VALUES` stored values: n p dense, the nonzeros'
chunks sparse), LLVM at -O0 without its expensive passes, which cuts the compile time about 3x
and makes the solve 3-9x slower: below that size the solve takes milliseconds and the compile
seconds, and most users call a fit or a path once per script (benchmarks/README.md, "First
call"). The options name XLA:CPU settings: on another backend the drivers are plain
`jax.jit`s. Inside a caller's `jax.jit`, `jax.vmap` or `jax.grad` a driver is a plain
`jax.jit` too (JAX takes compiler options at the top level only): it becomes part of the
caller's program, compiled with the caller's options.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp

from ._coordinate_descent import solve_cd
from ._design import Columns
from ._least_squares import solve_least_squares
from ._options import SolverOptions
from ._outer_loop import State
from ._penalty_parts import BlockPenalty, block_penalty
from ._problem import column_means, make_problem
from ._prox_newton import solve_prox_newton
from ._result import LinearResult

OPTIMIZED = {"xla_cpu_use_fusion_emitters": False}
QUICK = {
    **OPTIMIZED,
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
# the design's stored values up to which a driver is compiled with `QUICK`: diabetes (n p =
# 4,420) and n = 200, p = 500 are; n = 500, p = 2,000 (1e6, a path of 0.3 s compiled, 2 s
# at -O0) is not
QUICK_MAX_VALUES = 2**17


def at_top_level() -> bool:
    """Whether no transformation traces this call: a constant made here is then concrete
    (under a `jax.jit`, or a `jax.grad` / `jax.vmap` inside one, it is a tracer)."""
    return not isinstance(jnp.zeros(()), jax.core.Tracer)


@functools.cache
def options_known() -> bool:
    """Whether the default backend is XLA:CPU and knows `QUICK`'s options (a superset of
    `OPTIMIZED`'s): a debug option can be renamed or dropped in a later release, and an
    unknown one fails every compile; without them the drivers are plain `jax.jit`s (slower
    to compile, as fast compiled)."""
    if jax.default_backend() != "cpu":
        return False
    try:
        jax.jit(lambda x: x, compiler_options=QUICK).lower(jnp.zeros(())).compile()
    except jax.errors.JaxRuntimeError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Driver:
    """A compiled driver whose first argument is the design (`Columns`): ``optimized`` and
    ``quick`` (`jax.jit` with `OPTIMIZED` / `QUICK`) called at the top level, the one the
    design's size calls for; ``nested`` (a plain `jax.jit`) inside a transformation."""

    optimized: Any
    quick: Any
    nested: Any

    def pick(self, cols: Columns, *args: Any, **kwargs: Any) -> Any:
        """The `jax.jit` a call on the design ``cols`` (and ``args``) runs. (`jax.grad` or
        `jax.jvp` without a `jax.jit` makes only the arguments it differentiates tracers.)"""
        traced = any(isinstance(v, jax.core.Tracer) for v in jax.tree.leaves((cols, args, kwargs)))
        if traced or not (at_top_level() and options_known()):
            return self.nested
        return self.quick if cols.values.size <= QUICK_MAX_VALUES else self.optimized

    def __call__(self, cols: Columns, *args: Any, **kwargs: Any) -> Any:
        return self.pick(cols, *args, **kwargs)(cols, *args, **kwargs)

    def lower(self, cols: Columns, *args: Any, **kwargs: Any) -> Any:
        """The program a top-level call runs, lowered (`jax.jit`'s ``lower``)."""
        return self.pick(cols, *args, **kwargs).lower(cols, *args, **kwargs)


def driver(*static_argnames: str) -> Callable[[Callable[..., Any]], Driver]:
    """``fn`` as a `Driver` whose static arguments are ``static_argnames``."""

    def wrap(fn: Callable[..., Any]) -> Driver:
        jit = functools.partial(jax.jit, fn, static_argnames=static_argnames)
        return Driver(jit(compiler_options=OPTIMIZED), jit(compiler_options=QUICK), jit())

    return wrap


def solve(
    cols: Columns,
    y: jax.Array,
    s: jax.Array,
    penalty: BlockPenalty,
    w0: jax.Array,
    b0: jax.Array,
    *,
    tol: Any,
    options: SolverOptions,
    lips: jax.Array | None = None,
    means: jax.Array | None = None,
    zg0: tuple[jax.Array, jax.Array] | None = None,
) -> State:
    """One fit from ``w0`` of shape ``(G, B)`` on ``cols`` in blocks: with an l1 / l2 split,
    the least-squares solver (the squared loss; groups too) or, on single features, the
    prox-Newton one (a datafit with ``newton_steps``: logistic, Poisson); else the general
    one. ``lips`` (the blocks' curvature bounds), ``means`` (`column_means`) and ``zg0`` (``X
    w0 + b0`` and the full gradient there, as the previous fit of a path returns them) save
    passes over ``X`` (the general solver computes its own)."""
    pb = make_problem(cols, y, s, options.datafit, penalty, options.fit_intercept, lips, means)
    ws_min = min(options.ws_min, w0.shape[0])
    if pb.split is not None:
        if options.datafit.is_least_squares:  # groups too (a dense X: `block_inner`)
            return solve_least_squares(pb, w0, b0, zg0, tol=tol, options=options, ws_min=ws_min)
        if penalty.size == 1 and options.datafit.newton_steps:
            return solve_prox_newton(pb, w0, b0, zg0, tol=tol, options=options, ws_min=ws_min)
    return solve_cd(pb, w0, b0, tol=tol, options=options, ws_min=ws_min)


def _tol_abs(tol: Any, y: jax.Array, s: jax.Array, options: SolverOptions) -> jax.Array:
    """``tol`` (floored at 50 eps: the gap cannot be certified below) times its scale. A
    constant ``y`` (the intercept alone fits it exactly) has scale 0, or rounding, and the
    exact fit's gap and intercept residual are the rounding of the loss's terms (eps^2 y^2 for
    the squared loss, eps^2 y for Poisson), never 0: converged=False after max_iter at the
    exact solution. Where the scale is below 50 times that rounding, the tolerance is that.
    (Only there: as a floor everywhere it passed a float32 fit 1e-3 off with ``y`` offset by
    1e6, whose (eps y)^2 is 4e-3.)"""
    eps = float(jnp.finfo(y.dtype).eps)
    floored = jnp.maximum(tol, 50 * eps)
    sn = s / jnp.sum(s)
    scale = options.datafit.tol_scale(y, sn, options.fit_intercept)
    rounding = 50 * eps**2 * jnp.sum(sn * (y * y + jnp.abs(y)))
    return jnp.where(scale > rounding, floored * scale, rounding)


@driver("options")
def fit_compiled(cols, y, s, penalty, w0, b0, tol, *, options: SolverOptions) -> LinearResult:
    p = w0.shape[0]
    parts = block_penalty(penalty, p, w0.dtype)
    size = parts.size
    tol_abs = _tol_abs(tol, y, s, options)
    st = solve(
        cols.blocks(size), y, s, parts, w0.reshape(-1, size), b0, tol=tol_abs, options=options
    )
    return LinearResult(st.w.reshape(p), st.b, st.gap, st.it, st.epochs, st.done)


def _path_start(blocks: Columns, y, sn, p: int, size: int, start, options: SolverOptions):
    """The first fit's ``(w, b, z)``: ``start`` or 0, with the intercept's exact step for the
    squared loss."""
    dtype = y.dtype
    exact = options.fit_intercept and options.datafit.is_least_squares
    b0 = jnp.sum(sn * y) if exact else jnp.zeros((), dtype)
    z0 = jnp.zeros_like(y) + b0
    w0 = jnp.zeros(p, dtype)
    if start is not None:  # a warm start: the intercept's exact step too (squared loss)
        w0, b0 = start
        z0 = blocks.matvec(w0.reshape(-1, size)) + b0
        if exact:
            db = jnp.sum(sn * (y - z0))
            b0, z0 = b0 + db, z0 + db
    return w0, b0, z0


@driver("build", "options")
def path_compiled(
    cols, y, s, strengths, tol, start=None, template=None, *, build, options: SolverOptions
):
    """``build(template, strength)`` at each strength; ``template`` is traced (a template
    penalty scaled by the strengths), ``build`` static."""
    p = cols.num_features
    dtype = cols.values.dtype
    tol_abs = _tol_abs(tol, y, s, options)
    size = block_penalty(build(template, strengths[0]), p, dtype).size
    blocks = cols.blocks(size)
    datafit = options.datafit
    sn = s / jnp.sum(s)
    # loop invariants, computed once: the curvature bounds, and X w + b and the full gradient
    # at each fit's start (the previous fit's end)
    kappa = datafit.curvature_bound
    lips = None if kappa is None else kappa * blocks.lipschitz(sn)
    means = column_means(blocks, sn, datafit, options.fit_intercept)
    w0, b0, z0 = _path_start(blocks, y, sn, p, size, start, options)
    init = (w0, b0, z0, blocks.rmatvec(sn * datafit.derivative(z0, y)))

    def step(carry, strength):
        w, b, z, g = carry
        parts = block_penalty(build(template, strength), p, dtype)
        st = solve(
            blocks, y, s, parts, w.reshape(-1, size), b,
            tol=tol_abs, options=options, lips=lips, means=means, zg0=(z, g),
        )  # fmt: skip
        w = st.w.reshape(p)
        # a NaN result (a traced bad strength) must not poison the next fits' warm start
        ok = jnp.isfinite(w).all() & jnp.isfinite(st.b)
        nxt = jax.tree.map(lambda u, v: jnp.where(ok, u, v), (w, st.b, st.z, st.g), init)
        return nxt, LinearResult(w, st.b, st.gap, st.it, st.epochs, st.done)

    return jax.lax.scan(step, init, strengths)[1]


def _fold_scores(cols, y, s, train, strengths, tol, template, *, build, options):
    """Minus the held-out mean loss of each strength's fit on the rows ``train`` selects."""
    res = path_compiled(
        cols, y, jnp.where(train, s, 0.0), strengths, tol, None, template,
        build=build, options=options,
    )  # fmt: skip
    z = jax.vmap(lambda w, b: cols.matvec(w[:, None]) + b)(res.coef, res.intercept)
    held = jnp.where(train, 0.0, s)
    score = options.datafit.score_loss(z, y)
    return -jnp.sum(held * score, axis=1) / jnp.sum(held), res.converged


fold_scores = driver("build", "options")(_fold_scores)


@driver("build", "options")
def fold_scores_vmapped(cols, y, s, train, strengths, tol, template, *, build, options):
    """`fold_scores` for every fold (``train``'s rows) as one `jax.vmap`."""
    one = functools.partial(_fold_scores, build=build, options=options)
    return jax.vmap(one, in_axes=(None, None, None, 0, None, None, None))(
        cols, y, s, train, strengths, tol, template
    )
