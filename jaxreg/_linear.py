r"""Linear models with a known data term: coordinate descent on working sets, duality gaps.

The problem, for coefficients :math:`w \in \mathbb{R}^p` and an intercept :math:`b`:

.. math:: \min_{w, b}\; \frac{1}{\sum_i s_i} \sum_i s_i\, \ell(y_i, x_i^\top w + b)
   + \mathrm{pen}(w),

with :math:`\ell` the squared loss :math:`\frac12 (y - z)^2`, the logistic loss
:math:`\log(1 + e^{z}) - y z` (:math:`y \in \{0, 1\}`), the Huber loss or the Poisson loss
:math:`e^z - y z` (whose curvature has no bound: its coordinate steps double their curvature
until the objective decreases), and ``pen`` any
elementwise jaxreg penalty with a prox (l1, elastic_net, l2, weighted, mcp, scad, lq, l0).

The algorithm is celer's / skglm's (Massias et al. 2018, Bertrand et al. 2022), in `lax`
loops so that it is jit-able and runs unchanged on a GPU: an outer loop computes the full
gradient :math:`X^\top \ell'(z)`, each feature's violation of the optimality condition (the
prox-gradient residual :math:`|w_j - \mathrm{prox}_{\mathrm{pen}_j / L_j}(w_j - g_j / L_j)|
L_j`, :math:`L_j = \kappa \lVert X_j \rVert^2_s` with :math:`\kappa` the loss's curvature
bound) and the duality gap (convex penalties with the squared or logistic loss); the working
set is the current support plus the most violating features, twice the support's size (at
least ``ws_min``); an inner loop runs cyclic coordinate descent on it, with Anderson
extrapolation every ``anderson`` epochs (kept when it lowers the objective), until its own
violation is below a tenth of the outer one. ``X`` is stored transposed, ``(p, n)``, so a
column is a contiguous row; a sparse ``X`` as its columns' nonzeros padded to the longest
column (ELLPACK), so a coordinate update touches only those.

The squared loss with an l1 / l2 / elastic-net penalty (Lasso, ElasticNet) has its own inner
solver (`_least_squares`), with one pass over ``X`` per outer iteration; a path carries ``X w``
and the gradient from one strength to the next. Dense ``X``: the working set's columns
gathered into a dense block, coordinates updated in blocks of 8 (sequentially, with the
block's own Gram matrix), the gradient carried on the Gram matrix for working sets of at most
64 features. Sparse ``X``: the working set's padded columns, the loop carrying the residual
and the coefficients in one buffer that each update gathers from and scatter-adds into.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jax.typing import ArrayLike, DTypeLike

from ._kinds.group import GroupLasso
from ._numerics import checked_hyperparameter
from ._penalty import Penalty, leaf_prox, resolve_terms
from ._typing import DataMatrix, LinearLoss, Splitter, Strengths

if TYPE_CHECKING:
    from ._select import CVResult

LOSSES = ("squared", "logistic", "huber", "poisson")


class LinearResult(NamedTuple):
    r"""What `fit` returns (and `path`, with a leading strength axis on every field).

    Attributes:
      coef: ``(n_features,)`` coefficients (NaN when the data or a traced strength is NaN).
      intercept: the intercept (0 without ``fit_intercept``).
      gap: the duality gap of the returned point, absolute (in the objective's units, not
        divided by ``tol``'s scale): for l1 / group lasso / l2 / elastic-net penalties with
        the squared or logistic loss; otherwise the largest prox-gradient residual
        :math:`L_j \lVert w_j - \mathrm{prox}(w_j - g_j / L_j) \rVert` (0 at a stationary
        point).
      iterations: outer iterations (full-gradient passes over ``X``).
      epochs: coordinate-descent epochs over the working sets, in all (sparse ``X``: an
        epoch is one pass over the working set and 6 over its nonzero coefficients).
      converged: ``gap`` (and the intercept's and unpenalized features' residuals) at most
        ``tol`` times its scale (see `fit`); False also when the data hold NaN.
    """

    coef: jax.Array
    intercept: jax.Array
    gap: jax.Array
    iterations: jax.Array
    epochs: jax.Array
    converged: jax.Array


# --------------------------------------------------------------------------------------------
# X as columns: dense (p, n) or padded sparse columns


class _Columns(NamedTuple):
    """X's columns in blocks of B consecutive features (B = 1 unless a group penalty says so)."""

    values: jax.Array  # (G, B, n) dense, or (p, m) each column's nonzeros, 0-padded (B = 1)
    rows: jax.Array | None  # None (dense) or (p, m) their row indices (n for padding)
    n: int

    def blocks(self, size: int) -> _Columns:
        if size == 1:
            return self
        if self.rows is not None:
            raise NotImplementedError("group penalties in jr.linear need a dense X for now.")
        g = self.values.shape[0] // size
        return _Columns(self.values.reshape(g, size, self.n), None, self.n)

    def dot(self, j, v):  # X_j^T v: (B,)
        if self.rows is None:
            return self.values[j] @ v
        return (self.values[j] @ v[self.rows[j]])[None]

    def dot_fn(self, j, f):  # X_j^T f(rows) where f(idx) gives f's values at rows idx (B,)
        """``X_j^T f`` evaluating ``f`` only where column ``j`` is nonzero (sparse) or fused
        into one pass (dense): ``f(None)`` is f on every row, ``f(idx)`` on rows ``idx``."""
        if self.rows is None:
            return jnp.sum(self.values[j] * f(None), axis=-1)
        rows = self.rows[j]
        return jnp.sum(self.values[j] * f(jnp.minimum(rows, self.n - 1)))[None]

    def axpy(self, j, a, v):  # v + X_j a
        if self.rows is None:
            return v + a @ self.values[j]
        return v.at[self.rows[j]].add(a[0] * self.values[j], mode="drop")

    def lipschitz(self, s):  # the largest eigenvalue of X_j^T diag(s) X_j: (G,)
        if self.rows is not None:
            return jnp.sum(self.values * self.values * s[self.rows], axis=1)
        if self.values.shape[1] == 1:
            return (self.values[:, 0] * self.values[:, 0]) @ s
        gram = jnp.einsum("gbn,gcn->gbc", self.values * s, self.values)
        return jnp.linalg.eigvalsh(gram)[:, -1]

    def quad(self, j, c):  # X_j^T diag(c) X_j for a single column (B = 1)
        if self.rows is None:
            return (self.values[j, 0] * self.values[j, 0]) @ c
        return (self.values[j] * self.values[j]) @ c[self.rows[j]]

    def rmatvec(self, v):  # X^T v: (G, B)
        if self.rows is None:
            return jnp.einsum("gbn,n->gb", self.values, v)
        return jnp.sum(self.values * v[self.rows], axis=1)[:, None]

    def matvec(self, w):  # X w for w of shape (G, B)
        if self.rows is None:
            return jnp.einsum("gbn,gb->n", self.values, w)
        out = jnp.zeros(self.n + 1, self.values.dtype)
        flat = (self.values * w[:, :1]).ravel()
        return out.at[self.rows.ravel()].add(flat)[: self.n]


jax.tree_util.register_pytree_node(
    _Columns,
    lambda c: ((c.values, c.rows), c.n),
    lambda n, ch: _Columns(ch[0], ch[1], n),
)


def _columns(X: Any, dtype: Any) -> tuple[_Columns, int, int]:
    """``X`` (NumPy, JAX, scipy.sparse or a BCOO matrix) as columns of ``dtype``."""
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy comes with jax
        sp = None
    from jax.experimental import sparse as jsparse

    if isinstance(X, jsparse.BCOO):
        if X.ndim != 2 or X.n_batch or X.n_dense:
            raise ValueError(f"X as BCOO must be a plain 2-d matrix; got {X!r}.")
        idx, data = np.asarray(X.indices), np.asarray(X.data)
        n, p = X.shape
        X = sp.csc_matrix((data, (idx[:, 0], idx[:, 1])), shape=(n, p)) if sp else None
    if sp is not None and sp.issparse(X):
        X = sp.csc_matrix(X)
        X.sum_duplicates()
        n, p = X.shape
        counts = np.diff(X.indptr)
        m = max(int(counts.max()) if p else 0, 1)
        rows = np.full((p, m), n, np.int32)
        vals = np.zeros((p, m), dtype)
        pos = np.arange(X.nnz) - np.repeat(X.indptr[:-1], counts)
        col = np.repeat(np.arange(p), counts)
        rows[col, pos] = X.indices
        vals[col, pos] = X.data
        return _Columns(jnp.asarray(vals), jnp.asarray(rows), n), n, p
    X = jnp.asarray(X, dtype)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d matrix (n_samples, n_features); got shape {X.shape}.")
    return _Columns(X.T[:, None, :], None, X.shape[0]), X.shape[0], X.shape[1]


# --------------------------------------------------------------------------------------------
# Losses: value, derivative in z, curvature bound


def _loss(name: str, delta: float):
    if name == "squared":
        return (lambda z, y: 0.5 * (z - y) ** 2), (lambda z, y: z - y), 1.0
    if name == "logistic":
        return (lambda z, y: jax.nn.softplus(z) - y * z), (lambda z, y: jax.nn.sigmoid(z) - y), 0.25
    if name == "poisson":  # no curvature bound: coordinate steps backtrack (kappa None)
        return (lambda z, y: jnp.exp(z) - y * z), (lambda z, y: jnp.exp(z) - y), None
    if name == "huber":

        def value(z, y):
            r = jnp.abs(z - y)
            return jnp.where(r <= delta, 0.5 * r * r, delta * r - 0.5 * delta * delta)

        return value, (lambda z, y: jnp.clip(z - y, -delta, delta)), 1.0
    raise ValueError(f"loss must be one of {LOSSES}; got loss={name!r}.")


def _curvature(name: str, delta: float, z, y):
    """The loss's second derivative in z (the Huber loss's is 1 inside delta, else 0)."""
    if name == "squared":
        return jnp.ones_like(z)
    if name == "logistic":
        q = jax.nn.sigmoid(z)
        return q * (1 - q)
    if name == "poisson":
        return jnp.exp(z)
    return (jnp.abs(z - y) <= delta).astype(z.dtype)


# --------------------------------------------------------------------------------------------
# The penalty as per-coordinate proxes


def _coordinate_parts(penalty: Penalty, p: int, dtype: Any) -> tuple[list[Any], int]:
    """The penalty's parts with their weights in block form, and the block size: 1 for
    elementwise kinds, ``B`` for a group lasso on consecutive features (``reshape=(-1, B)``,
    the default ``axis=-1``: celer's / skglm's contiguous groups)."""
    try:
        plan = resolve_terms(penalty.terms, jnp.zeros(p, dtype))
    except ValueError as e:  # a mask or kind that selects nothing (resolve_terms says which)
        raise ValueError(
            f"{e} jr.linear penalizes the coefficient vector (shape ({p},)): use l1, l2, "
            "elastic_net, ... with the default mask."
        ) from None
    chosen = [
        (term, ws[0])
        for term, idx, ws in zip(penalty.terms, plan.chosen, plan.weights, strict=True)
        if idx
    ]
    left_out = [term for term, idx in zip(penalty.terms, plan.chosen, strict=True) if not idx]
    if left_out:
        raise ValueError(
            f"{left_out[0]!r} does not apply to the coefficient vector (shape ({p},)): its "
            "mask or its kind (nuclear, spectral, orthogonal need matrices) leaves it out, so "
            "it would change nothing. jr.linear penalizes the coefficients: use l1, l2, "
            "elastic_net, ... with the default mask."
        )
    sizes = set()
    for term, _ in chosen:
        if isinstance(term, GroupLasso) and term.reshape is not None and len(term.reshape) == 2:
            if term.axis not in ((-1,), (1,)) or term.reshape[-1] == -1:
                raise NotImplementedError(
                    f"jr.linear takes group penalties on consecutive features: "
                    f"reshape=(-1, group_size), axis=-1; got {term!r}."
                )
            sizes.add(term.reshape[-1])
        elif not term.elementwise or not term.has_prox:
            raise NotImplementedError(
                f"jr.linear supports elementwise penalties with a prox (l1, l2, elastic_net, "
                f"weighted or not, mcp, scad, lq, l0) and group lasso on consecutive features "
                f"(group_lasso(s, reshape=(-1, group_size))); got {term!r}. Use jr.solve for "
                "others."
            )
    if len(sizes) > 1:
        raise NotImplementedError(f"jr.linear needs one group size; got {sorted(sizes)}.")
    size = sizes.pop() if sizes else 1
    if p % size:
        raise ValueError(f"group size {size} does not divide the {p} features.")
    g = p // size
    parts = []
    for term, w in chosen:
        if w is not None:
            w = jnp.asarray(w, dtype)
            if term.elementwise:
                w = jnp.broadcast_to(w, (p,)).reshape(g, size)
            else:
                w = jnp.broadcast_to(w.reshape(-1) if w.ndim else w, (g,))
        parts.extend((part, w) for part in term.parts())
    return parts, size


def _prox_at(parts, z, t, j):
    """prox of ``t * pen_j`` at block ``j``'s value ``z`` (shape ``(B,)``)."""
    if not parts:
        return z
    return leaf_prox(z, t, [(part, None if w is None else w[j]) for part, w in parts], "coef")


def _prox_all(parts, z, t):
    """The prox on every block at once: ``z`` of shape ``(G, B)``, ``t`` broadcast to it."""
    if not parts:
        return z
    return leaf_prox(z, jnp.broadcast_to(t, z.shape), parts, "coef")


def _gap_kind(parts, loss) -> str:
    if loss not in ("squared", "logistic"):
        return "stationarity"
    names = {part.name for part, _ in parts}
    if names <= {"l1", "l2"} or names <= {"group_lasso", "l2"}:
        return "gap"
    return "stationarity"


def _l1_l2(parts, shape, dtype):
    """Per-block sparsity coefficient (l1 per feature, group lasso per group) and per-feature
    l2 coefficient of an l1 / group-lasso / l2 / elastic-net penalty."""
    a = jnp.zeros(shape, dtype)
    b = jnp.zeros(shape, dtype)
    for part, w in parts:  # a traced negative strength or weight becomes NaN
        c = checked_hyperparameter(part.strength, dtype) * (
            1.0 if w is None else checked_hyperparameter(w, dtype)
        )
        if part.name == "l2":
            b = b + c
        elif part.name == "l1":
            a = a + c
        else:  # group lasso: one coefficient per group, broadcast over its block
            a = a + jnp.reshape(c, (-1, 1)) if jnp.ndim(c) else a + c
    return a, b


# --------------------------------------------------------------------------------------------
# The solver


class _State(NamedTuple):
    w: jax.Array
    b: jax.Array
    z: jax.Array  # X w + b
    it: jax.Array
    epochs: jax.Array
    gap: jax.Array
    done: jax.Array
    g: Any = None  # X^T (s loss'(z)) at w: the full gradient (what `path` carries on)


def _solve(
    cols: _Columns,
    y: jax.Array,
    s: jax.Array,
    parts,
    w0: jax.Array,
    b0: jax.Array,
    *,
    loss: str,
    delta: float,
    fit_intercept: bool,
    tol: jax.Array,
    max_iter: int,
    max_epochs: int,
    ws_min: int,
    anderson: int,
    lips: jax.Array | None = None,
    zg0: tuple[jax.Array, jax.Array] | None = None,
) -> _State:
    """The working-set loop on blocks: ``w0`` has shape ``(G, B)``, ``cols`` is in blocks.

    ``lips`` (the blocks' curvature bounds) and ``zg0`` (``X w0 + b0`` and the full gradient
    there, as the previous fit of a path returns them) save passes over ``X`` when given."""
    value, deriv, kappa = _loss(loss, delta)
    g_count, size = w0.shape
    dtype = w0.dtype
    sn = s / jnp.sum(s)  # the weights of the mean
    bounded = kappa is not None
    if not bounded and size > 1:
        raise NotImplementedError(f"loss={loss!r} with group penalties is not supported yet.")
    if lips is None:
        lips = kappa * cols.lipschitz(sn) if bounded else None  # (G,)
    l_b = kappa if bounded else 1.0  # the intercept's curvature bound (sn sums to 1)

    def lipschitz(z):  # the blocks' curvature bounds; at z for a loss without a global one
        if lips is not None:
            return lips
        return cols.lipschitz(sn * _curvature(loss, delta, z, y))

    def pen_at(j, v):  # pen_j(v) for block j
        return _pen_value([(part, None if w is None else w[j]) for part, w in parts], v)

    gap_kind = _gap_kind(parts, loss)
    # l1 / group lasso / l2 / elastic net: per-block coefficients, for the gap and for a
    # direct block prox (the general `leaf_prox` costs several small XLA ops per update)
    simple = {part.name for part, _ in parts} <= {"l1", "l2"} or {
        part.name for part, _ in parts
    } <= {"group_lasso", "l2"}
    a1, b2 = _l1_l2(parts, w0.shape, dtype) if simple else (None, None)

    def block_prox(j, v, t):
        """prox of t pen_j at v (shape (B,)): soft / block soft threshold, then the l2."""
        if a1 is None or b2 is None:  # not simple
            return _prox_at(parts, v, t, j)
        thr = t * a1[j]
        if size == 1:
            shrunk = jnp.sign(v) * jnp.maximum(jnp.abs(v) - thr, 0.0)
        else:
            norm = jnp.sqrt(jnp.sum(v * v))
            shrunk = v * jnp.maximum(1.0 - thr[0] / jnp.where(norm > 0, norm, 1.0), 0.0)
        return shrunk / (1.0 + t * b2[j])

    def primal(w, z):
        return jnp.sum(sn * value(z, y)) + _pen_value(parts, w)

    def deriv_at(z, i):  # sn * loss'(z, y), on every row (i None) or on rows i
        if i is None:
            return sn * deriv(z, y)
        return sn[i] * deriv(z[i], y[i])

    def grad_full(z):
        return cols.rmatvec(sn * deriv(z, y))

    def violation(w, g, z):  # L_j ||w_j - prox(w_j - g_j / L_j)|| per block (0 if L_j = 0)
        lz = lipschitz(z)
        t = (1.0 / jnp.where(lz > 0, lz, 1.0))[:, None]
        step = w - _prox_all(parts, w - g * t, t)
        return jnp.where(lz > 0, jnp.sqrt(jnp.sum(step * step, axis=1)) * lz, 0.0)

    def gap_of(w, z, g):
        """The duality gap (or the stationarity residual) and, in the same units, the largest
        residual of what the gap does not see: the intercept and unpenalized blocks."""
        _, _, icpt = intercept_step(jnp.zeros((), dtype), z)
        if gap_kind == "stationarity":
            return jnp.max(violation(w, g, z), initial=0.0), icpt
        assert a1 is not None and b2 is not None and lips is not None  # a gap: simple, bounded
        free = (a1[:, 0] == 0) & (b2[:, 0] == 0) & (lips > 0)  # unpenalized blocks
        g2 = jnp.sum(g * g, axis=1) / jnp.where(free, lips, 1.0)  # ||g_j||^2 / L_j
        rest = jnp.maximum(icpt, jnp.max(jnp.where(free, g2, 0.0), initial=0.0))
        # a negative difference means the dual point is off (unpenalized blocks): the
        # residual bounds it from above; NaN in g (X) must reach the gap, which the dual's
        # rescaling (a comparison with NaN) would drop
        gap = jnp.maximum(primal(w, z) - _dual(loss, y, sn, z, w, g, a1, b2), rest)
        return jnp.where(jnp.isfinite(g).all(), gap, jnp.nan), rest

    def intercept_step(b, z):
        """A Newton step on the intercept (exact for the squared loss); its residual."""
        if not fit_intercept:
            return b, z, jnp.zeros((), dtype)
        d = sn * deriv(z, y)
        curv = jnp.sum(sn * _curvature(loss, delta, z, y))
        if loss == "poisson":  # the exact minimizer: b + log(mean y / mean e^z)
            ybar = jnp.sum(sn * y)
            db = jnp.where(ybar > 0, jnp.log(jnp.where(ybar > 0, ybar, 1.0) / curv), -1.0)
        else:
            db = -jnp.sum(d) / jnp.where(curv > 0, curv, l_b)
        return b + db, z + db, jnp.sum(d) ** 2 / jnp.where(curv > 0, curv, l_b)

    def cd_epoch(carry, ws, count):
        """One cyclic pass over the blocks ws[:count] and the intercept; also returns the
        largest L_j ||w_j' - w_j||: the prox-gradient residual at the point each block saw
        (skglm's inner criterion), free to compute."""
        w, b, z = carry

        def block(k, c):
            w, z, res = c
            j = ws[k]
            gj = cols.dot_fn(j, lambda i: deriv_at(z, i))
            if lips is not None:  # bounded
                lj = jnp.where(lips[j] > 0, lips[j], 1.0)
                new = block_prox(j, w[j] - gj / lj, 1.0 / lj)
            else:  # a prox-Newton step whose curvature doubles until the objective decreases
                lj, new = _backtracked(j, w[j], gj, z)
            new = jnp.where(lj > 0, new, w[j])
            d = new - w[j]
            res = jnp.maximum(res, jnp.sqrt(jnp.sum(d * d)) * lj)
            return w.at[j].set(new), cols.axpy(j, d, z), res

        w, z, res = jax.lax.fori_loop(0, count, block, (w, z, jnp.zeros((), dtype)))
        if fit_intercept:
            if bounded:
                db = -jnp.sum(sn * deriv(z, y)) / l_b
                b, z = b + db, z + db
                res = jnp.maximum(res, jnp.abs(db) * l_b)
            else:
                b2, z, r = intercept_step(b, z)
                b, res = b2, jnp.maximum(res, jnp.sqrt(r))
        return (w, b, z), res

    def _backtracked(j, wj, gj, z):
        h0 = cols.quad(j, sn * _curvature(loss, delta, z, y))
        h0 = jnp.where(h0 > 0, h0, 1.0)

        def local(v):  # the objective along block j, up to a constant
            zv = cols.axpy(j, v - wj, z)
            return jnp.sum(sn * value(zv, y)) + pen_at(j, v)

        f0 = local(wj)

        def cond(c):
            h, new, k = c
            return (local(new) > f0) & (k < 50)

        def body(c):
            h, _, k = c
            return 2 * h, _prox_at(parts, wj - gj / (2 * h), 1.0 / (2 * h), j), k + 1

        new0 = _prox_at(parts, wj - gj / h0, 1.0 / h0, j)
        h, new, _ = jax.lax.while_loop(cond, body, (h0, new0, 0))
        return h, new

    def inner(wbz, ws, count, inner_tol):
        """CD epochs on ws[:count] until the criterion is below inner_tol (`_epochs`)."""

        return _epochs(
            lambda st: cd_epoch(st, ws, count),
            lambda st: primal(st[0], st[2]),
            wbz,
            anderson=anderson,
            max_epochs=max_epochs,
            inner_tol=inner_tol,
            dtype=dtype,
        )

    def outer_cond(st: _State):
        return (st.it < max_iter) & ~st.done

    def outer_body(st: _State) -> _State:
        # z afresh from w: the coordinate updates' running z drifts (float32 above all), and
        # the gap must be that of the returned coefficients
        b, z, _ = intercept_step(st.b, cols.matvec(st.w) + st.b)
        g = grad_full(z)
        viol = violation(st.w, g, z)
        gap, rest = gap_of(st.w, z, g)
        done = (gap <= tol) & (rest <= tol)
        ws, count = _working_set(st.w, viol, ws_min)
        inner_tol = 0.1 * jnp.max(viol, initial=0.0)

        # (under vmap this cond runs both branches: `inner` is told `done` and does nothing)
        def run(_):
            return inner((st.w, b, z), ws, count, jnp.where(done, jnp.inf, inner_tol))

        def stay(_):
            return (st.w, b, z), jnp.zeros((), jnp.int32)

        (w, b, z), e = jax.lax.cond(done, stay, run, None)
        return _State(w, b, z, st.it + jnp.where(done, 0, 1), st.epochs + e, gap, done)

    if loss == "squared" and size == 1 and a1 is not None and b2 is not None:
        return _least_squares(
            cols, y, sn, lips, a1[:, 0], b2[:, 0], w0, b0, zg0,
            gap_of=gap_of, violation=violation, grad_full=grad_full,
            fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
            max_epochs=max_epochs, ws_min=ws_min, anderson=anderson,
        )  # fmt: skip

    z0 = cols.matvec(w0) + b0 if zg0 is None else zg0[0]
    zero = jnp.zeros((), jnp.int32)
    st = _State(w0, b0, z0, zero, zero, jnp.asarray(jnp.inf, dtype), jnp.zeros((), bool))
    st = jax.lax.while_loop(outer_cond, outer_body, st)
    z = cols.matvec(st.w) + st.b
    g = grad_full(z)
    gap, rest = gap_of(st.w, z, g)  # at the returned point
    return _finish(st._replace(z=z, g=g), gap, rest, tol)


def _working_set(w, viol, ws_min):
    """celer's working set: ``count = clip(2 * #active, ws_min, G)`` blocks, the active ones
    (nonzero) and then the largest violations (ties: the lower index), returned first in a
    permutation of ``range(G)``, in index order. The ``count``-th largest score is found by
    bisection on its bit pattern (non-negative floats order as their bits do): ``bits``
    passes of a comparison, where ``lax.top_k`` sorts all ``G`` scores (13 ms at G = 10^5
    on XLA:CPU, against 2 ms)."""
    g_count = w.shape[0]
    active = jnp.any(w != 0, axis=1)
    count = jnp.clip(2 * jnp.sum(active), ws_min, g_count)
    score = jnp.where(active | jnp.isnan(viol), jnp.inf, jnp.maximum(viol, 0.0))
    bits = score.dtype.itemsize * 8
    key = jax.lax.bitcast_convert_type(score, jnp.dtype(f"int{bits}"))

    def halve(_, lohi):  # invariant: #(key >= lo) >= count > #(key >= hi)
        lo, hi = lohi
        mid = lo + (hi - lo) // 2
        enough = jnp.sum(key >= mid) >= count
        return jnp.where(enough, mid, lo), jnp.where(enough, hi, mid)

    top = jnp.max(key)
    lo, _ = jax.lax.fori_loop(0, bits, halve, (jnp.zeros_like(top), top + 1))
    above = key > lo  # fewer than count of them; ties at lo fill the rest by index
    tie = key == lo
    take = above | (tie & (jnp.cumsum(tie) <= count - jnp.sum(above)))
    pos = jnp.where(take, jnp.cumsum(take) - 1, jnp.sum(take) + jnp.cumsum(~take) - 1)
    ws = jnp.zeros(g_count, jnp.int32).at[pos].set(jnp.arange(g_count, dtype=jnp.int32))
    return ws, count


def _epochs(epoch, objective, st0, *, anderson, max_epochs, inner_tol, dtype):
    """Inner-solver epochs ``epoch(st) -> (st, crit)`` until ``crit <= inner_tol`` or
    ``max_epochs``, with Anderson extrapolation (Bertrand & Massias 2021; skglm's scheme):
    the states after ``anderson + 1`` consecutive epochs are combined, the combination is
    kept when it is finite and lowers ``objective(st)``, and the history starts afresh (an
    iterate from before a jump would spoil the next combination). Every leaf of a state
    (coefficients, intercept, and the residual or gradient carried with them) is affine in
    the coefficients and the weights sum to one, so the combined residual is the residual
    at the combined coefficients: no pass over ``X``. Returns the state and the epochs run."""
    m = anderson
    flat0, unravel = jax.flatten_util.ravel_pytree(st0)

    def cond(c):  # the first epoch always runs unless inner_tol is inf (nothing to do)
        return (c[1] < max_epochs) & (c[2] > inner_tol) & jnp.isfinite(inner_tol)

    def body(c):
        st, e, _, hist, k = c
        st, crit = epoch(st)
        if m:
            hist = hist.at[k].set(jax.flatten_util.ravel_pytree(st)[0])

            def extrapolate(st):
                u = jnp.diff(hist, axis=0)  # (m, size)
                gram = u @ u.T
                gram = gram + 1e-10 * jnp.trace(gram) * jnp.eye(m, dtype=dtype)
                coef = jnp.linalg.solve(gram, jnp.ones(m, dtype))
                ext = (coef / jnp.sum(coef)) @ hist[1:]
                new = unravel(ext)
                ok = jnp.isfinite(ext).all() & (objective(new) < objective(st))
                return jax.lax.cond(ok, lambda: new, lambda: st)

            full = k == m
            st = jax.lax.cond(full, extrapolate, lambda x: x, st)
            k = jnp.where(full, 0, k + 1)
        return st, e + 1, crit, hist, k

    hist0 = jnp.zeros((max(m, 1) + 1, flat0.size), flat0.dtype)
    zero = jnp.zeros((), jnp.int32)
    init = (st0, zero, jnp.asarray(jnp.inf, dtype), hist0, zero)
    st, e, _, _, _ = jax.lax.while_loop(cond, body, init)
    return st, e


def _finish(st: _State, gap, rest, tol, certified: Any = True) -> _State:
    """The returned state: NaN anywhere (data, a traced negative strength) makes the
    coefficients NaN (CD's comparisons with NaN skip every update and would leave them at
    their start); ``certified`` False: not converged, whatever the gap says."""
    bad = ~jnp.isfinite(gap) | ~jnp.isfinite(rest)
    w = jnp.where(bad, jnp.nan, st.w)
    b = jnp.where(bad, jnp.nan, st.b)
    done = (gap <= tol) & (rest <= tol) & ~bad & certified
    return st._replace(w=w, b=b, gap=gap, done=done)


# Working-set capacities (static shapes: one compiled inner solver per capacity; the smallest
# that holds the working set is picked at run time; powers of 4: each one more costs compile
# time), the largest solved on its Gram matrix (XLA:CPU's float64 Gram of 1,024 columns took
# 15 ms, more than the epochs it saves), and how many coordinates one loop step updates
# (sequentially, unrolled, with the block's own Gram matrix: XLA:CPU's per-step overhead is
# paid once per block). Measured in benchmarks/README.md.
_CAPACITIES = (64, 256, 1024, 4096, 16384, 65536)
_GRAM_MAX = 64
_BLOCK = 8
# Sparse X: working-set capacities in powers of 2 from 4,096 (a branch pads its columns to its
# capacity; on the sparse benchmark powers of 4 were 5x slower: 160 s against 30 s; below,
# powers of 4 keep the compile time down), one coordinate per loop step (two unrolled made
# XLA:CPU copy the carried buffer again), and glmnet's active cycling: each epoch is one pass
# over the working set and _ACTIVE_SWEEPS over its nonzero coefficients only (half of it:
# the working set is twice the support). On the sparse benchmark (n=10^4, p=10^5): 7.2 s
# without, 5.0 s with 3, 4.4 s with 6, 5.0 s with 12; the inner loop stops at _INNER_SPARSE
# of the violation there (0.03 / 0.1 / 0.3: 8.6 / 6.9 / 4.4 s), at _INNER on a dense X (its
# outer iterations cost more than its epochs; 0.3 was 1.25x slower at n=500, p=2,000).
_SPARSE_CAPACITIES = (64, 256, 1024) + tuple(2**k for k in range(12, 21))
_ACTIVE_SWEEPS = 6
_INNER_SPARSE = 0.3
_INNER = 0.03  # the inner loop stops at this fraction of the outer violation
# Unpenalized features get an exact Newton step after every inner solve (`_free_features`: an
# eigh of their Gram matrix, once per fit), all of them up to _FREE_MAX features, else up to
# _FREE_GATHER of them (more: no certificate). Under vmap (vmap_folds) a cond runs both
# branches: every fit pays the eigh.
_FREE_MAX = 512
_FREE_GATHER = 64


def _least_squares(
    cols, y, sn, lips, a, b2, w0, b0, zg0, *, gap_of, violation, grad_full, fit_intercept,
    tol, max_iter, max_epochs, ws_min, anderson,
) -> _State:  # fmt: skip
    r"""The squared loss with an l1 / l2 / elastic-net penalty (sparse ``X``: `sparse_branch`).

    The outer loop is `_solve`'s (full gradient, violations, working set, duality gap) with
    one pass over ``X`` per iteration: ``z = X w + b`` comes from the working set's columns
    (every nonzero coefficient is in it). The inner solver runs on the working set's columns
    gathered into a dense ``(W, n)`` block ``X_W`` (centred with an intercept, `centred`):
    cyclic coordinate descent on
    :math:`\frac12 \sum_i s_i (y_i - x_{W,i}^\top w_W - b)^2 + \sum_j a_j |w_j| +
    \frac{b_j}{2} w_j^2` carrying either the gradient :math:`X_W \mathrm{diag}(s) (z - y)`
    (a W-vector, updated with the Gram matrix :math:`X_W \mathrm{diag}(s) X_W^\top`:
    scikit-learn's ``enet_coordinate_descent_gram``) or, for large working sets, the
    residual. The gap is always that of :math:`z` and :math:`X^\top s (z - y)` recomputed
    from ``X``'s columns at the returned coefficients, never from the Gram matrix.
    """
    g_count = w0.shape[0]
    dtype = w0.dtype
    capacities = _CAPACITIES if cols.rows is None else _SPARSE_CAPACITIES
    caps = sorted({c for c in capacities if c < g_count} | {g_count})
    lpos = lips > 0
    ybar = jnp.sum(sn * y)  # the optimal intercept of centred columns (sum(sn) = 1)

    def centred(idx, u, lc, w, b):
        r"""The working set's CD constants and its start in the centred parametrization.

        With an intercept the inner solvers work on the columns centred by their weighted
        means ``u = X_W^T s`` (as scikit-learn centres a dense X, and implicitly a sparse
        one): ``X w + b = X_c w + b~`` with ``b~ = b + u^T w``, whose optimum ``sum(s y)``
        does not depend on ``w`` (``X_c^T s = 0``). Coordinate descent on uncentred columns
        must move the intercept after every coefficient: 37x more epochs on columns of mean
        10 (n=200, p=300). ``lc`` are the centred columns' curvatures :math:`\sum_i s_i
        (x_{ij} - u_j)^2` (computed without cancellation by the caller). Returns (step,
        threshold, shrink, curvature) per coordinate, the intercept ``b~`` and the shift
        ``delta`` of the residual: ``r_c = z - y + delta``. Without an intercept ``u = 0``,
        ``b~ = b`` and nothing changes."""
        lcp = lc > 0  # a constant column (with an intercept) cannot move
        st_c = 1.0 / jnp.where(lcp, lc, 1.0)
        params = (st_c, a[idx] * st_c, jnp.where(lcp, 1.0 / (1.0 + b2[idx] * st_c), 0.0), lc)
        if not fit_intercept:
            return params, b, jnp.zeros((), dtype)
        return params, ybar, ybar - b - u @ w[idx, 0]

    def branch(cap):
        gram = cap <= _GRAM_MAX
        kb = min(_BLOCK, cap)

        def run(w, b, z, g, ws, count, inner_tol):
            idx = ws[:cap]
            pad = (0, -cap % kb)  # zero rows up to whole blocks: shrink 0, never moved

            def take(v):
                return jnp.pad(v, pad)

            xu = cols.values[idx, 0]  # every nonzero coef is here
            u = xu @ sn if fit_intercept else jnp.zeros(cap, dtype)
            xk = xu - u[:, None]
            params, bt, delta = centred(idx, u, (xk * xk) @ sn, w, b)
            xc = jnp.pad(xk, (pad, (0, 0)))
            wc0 = take(w[idx, 0])
            st_c, th_c, sh_c, l_c = map(take, params)
            a_c, b2_c = take(a[idx]), take(b2[idx])
            gm = (xc * sn) @ xc.T if gram else None
            nb = xc.shape[0] // kb
            # each block's own Gram matrix: the exact sequential updates within a block
            if gm is not None:
                dblk = jax.vmap(lambda i: jax.lax.dynamic_slice(gm, (i * kb, i * kb), (kb, kb)))(
                    jnp.arange(nb)
                )
            else:  # the blocks the working set reaches only (a batched einsum over all of
                # them cost 1.5 ms at 1,024 x 500 on XLA:CPU)

                def one(i, dd):
                    xj = jax.lax.dynamic_slice_in_dim(xc, i * kb, kb)
                    return dd.at[i].set((xj * sn) @ xj.T)

                dblk = jax.lax.fori_loop(
                    0, (count + kb - 1) // kb, one, jnp.zeros((nb, kb, kb), dtype)
                )

            # the carried state: (wc, gradient W-vector X_c s r_c) with the Gram matrix,
            # (wc, centred residual r_c = X_c w + b~ - y) without; b~ stays at its optimum
            def epoch(c):
                def upd(bi, cc):
                    wc, t, res = cc
                    j0 = bi * kb

                    def sl(v):
                        return jax.lax.dynamic_slice_in_dim(v, j0, kb)

                    wj, stj, thj, shj = sl(wc), sl(st_c), sl(th_c), sl(sh_c)
                    shj = jnp.where(j0 + jnp.arange(kb) < count, shj, 0.0)
                    gj = sl(t) if gram else sl(xc) @ (sn * t)
                    dj = dblk[bi]
                    new_j, ds = wj, []
                    for i in range(kb):  # sequential within the block, unrolled
                        v = new_j[i] - gj[i] * stj[i]
                        new = jnp.sign(v) * jnp.maximum(jnp.abs(v) - thj[i], 0.0) * shj[i]
                        new = jnp.where(shj[i] > 0, new, new_j[i])
                        d = new - new_j[i]
                        gj = gj + d * dj[i]
                        new_j = new_j.at[i].set(new)
                        ds.append(d)
                    dv = jnp.stack(ds)
                    if gm is not None:
                        t = t + dv @ jax.lax.dynamic_slice_in_dim(gm, j0, kb)
                    else:
                        t = t + dv @ sl(xc)
                    res = jnp.maximum(res, jnp.max(jnp.abs(dv) * sl(l_c)))
                    return jax.lax.dynamic_update_slice_in_dim(wc, new_j, j0, 0), t, res

                nblk = (count + kb - 1) // kb
                wc, t, res = jax.lax.fori_loop(0, nblk, upd, (*c, jnp.zeros((), dtype)))
                return (wc, t), res

            def objective(st):  # from the carried residual (the Gram variant: from X_W)
                wc = st[0]
                r = wc @ xc + bt - y if gram else st[1]
                return 0.5 * jnp.sum(sn * r * r) + jnp.sum(a_c * jnp.abs(wc) + 0.5 * b2_c * wc * wc)

            if gram:  # X_c^T s r_c = g - u sum(s (z - y)) (X_c^T s = 0 absorbs delta)
                st0 = (wc0, take(g[idx, 0] - u * jnp.sum(sn * (z - y))))
            else:
                st0 = (wc0, z - y + delta)
            (wc, _), e = _epochs(
                epoch,
                objective,
                st0,
                anderson=anderson,
                max_epochs=max_epochs,
                inner_tol=inner_tol,
                dtype=dtype,
            )
            wc = wc[:cap]
            b = bt - u @ wc
            # z afresh from X's columns at the new coefficients (not from the Gram matrix)
            return w.at[idx, 0].set(wc), b, wc @ xu + b, e

        return run

    def sparse_branch(cap):
        """The inner solver on the working set's padded sparse columns: the residual on
        ``n + 1`` rows (row ``n`` takes the padding's zero updates), each update reading and
        writing the column's nonzeros only; an epoch is one pass over the working set and
        ``_ACTIVE_SWEEPS`` over its nonzero coefficients (glmnet's active cycling). The
        columns are centred implicitly (`centred`; scikit-learn's sparse ``X_offset``): the
        buffer holds the uncentred residual ``r_u`` and a shift ``c``, ``r_c = r_u - c``, so
        an update still touches the column's nonzeros only."""
        n = cols.n
        assert cols.rows is not None

        def run(w, b, z, g, ws, count, inner_tol):
            idx = ws[:cap]
            rows, vals = cols.rows[idx], cols.values[idx]
            sn_e = jnp.append(sn, 0.0)
            gw0 = vals * sn_e[rows]
            u = jnp.sum(gw0, axis=1) if fit_intercept else jnp.zeros(cap, dtype)
            # sum s (x - u)^2 over all rows: the nonzeros' rows, and u^2 s on the others
            srow = jnp.sum(sn_e[rows], axis=1)
            dev = jnp.where(rows < n, vals - u[:, None], 0.0)
            lc = jnp.sum(sn_e[rows] * dev * dev, axis=1) + u * u * jnp.maximum(1.0 - srow, 0.0)
            (st_c, th_c, sh_c, l_c), bt, delta = centred(idx, u, lc, w, b)
            wc0 = w[idx, 0]
            a_c, b2_c = a[idx], b2[idx]
            sh_c = jnp.where(jnp.arange(cap) < count, sh_c, 0.0)
            # The loop carries ONE buffer, [r_u (n + 1 rows), wc (cap), c]: each update is one
            # gather and one scatter-add on it (the column's rows, its own coefficient's
            # slot and the shift's). Carrying r and wc as two arrays made XLA:CPU copy them at
            # every update (9 us against 0.13 us per update at n=10,000, benchmarks/README.md).
            slot = n + 1 + jnp.arange(cap, dtype=rows.dtype)
            shift = jnp.full((cap, 1), n + 1 + cap, rows.dtype)
            width = rows.shape[1] + (2 if fit_intercept else 1)  # no shift: it stays 0
            at = jnp.concatenate([rows, slot[:, None], shift], axis=1)[:, :width]
            add = jnp.concatenate([vals, jnp.ones((cap, 1), dtype), u[:, None]], axis=1)[:, :width]
            # X_c^T s r_c = sum s x r_u - u c (X_c^T s = 0, sum s r_c = 0)
            gw = jnp.concatenate([gw0, jnp.zeros((cap, 1), dtype), -u[:, None]], axis=1)[:, :width]
            par = jnp.stack([st_c, th_c, sh_c, l_c], axis=1)

            def sweep(buf, order, length):  # CD on the columns order[:length], in order
                def upd(k, cc):
                    buf, res = cc
                    j = order[k]
                    x = buf[at[j]]  # r_u at the column's rows, w_j, c
                    gj, wj, pj = gw[j] @ x, x[rows.shape[1]], par[j]
                    v = wj - gj * pj[0]
                    new = jnp.sign(v) * jnp.maximum(jnp.abs(v) - pj[1], 0.0) * pj[2]
                    d = jnp.where(pj[2] > 0, new - wj, 0.0)
                    buf = buf.at[at[j]].add(d * add[j], mode="promise_in_bounds")
                    return buf, jnp.maximum(res, jnp.abs(d) * pj[3])

                return jax.lax.fori_loop(0, length, upd, (buf, jnp.zeros((), dtype)))

            everyone = jnp.arange(cap, dtype=jnp.int32)

            def epoch(c):
                buf, res = sweep(jnp.concatenate(c), everyone, count)
                nz = buf[n + 1 : n + 1 + cap] != 0  # then the nonzero coefficients only
                pos = jnp.where(nz, jnp.cumsum(nz) - 1, cap)
                order = jnp.zeros(cap, jnp.int32).at[pos].set(everyone, mode="drop")
                buf = jax.lax.fori_loop(
                    0, _ACTIVE_SWEEPS, lambda _, bf: sweep(bf, order, jnp.sum(nz))[0], buf
                )
                return (buf[: n + 1], buf[n + 1 : n + 1 + cap], buf[n + 1 + cap :]), res

            def xw(wc):
                return jnp.zeros(n + 1, dtype).at[rows].add(vals * wc[:, None])

            def objective(st):  # from the carried residual (row n is 0)
                r_u, wc, c = st
                r = jnp.where(jnp.arange(n + 1) < n, r_u - c[0], 0.0)
                return 0.5 * jnp.sum(sn_e * r * r) + jnp.sum(
                    a_c * jnp.abs(wc) + 0.5 * b2_c * wc * wc
                )

            st0 = (jnp.append(z - y + delta, 0.0), wc0, jnp.zeros(1, dtype))
            (_, wc, _), e = _epochs(
                epoch,
                objective,
                st0,
                anderson=anderson,
                max_epochs=max_epochs,
                inner_tol=inner_tol,
                dtype=dtype,
            )
            b = bt - u @ wc
            # z afresh from the columns at the new coefficients
            return w.at[idx, 0].set(wc), b, xw(wc)[:n] + b, e

        return run

    branches = [(branch if cols.rows is None else sparse_branch)(c) for c in caps]
    bounds = jnp.asarray(caps[:-1], jnp.int32)

    # unpenalized features: no dual constraint of theirs; an exact Newton step on them after
    # every inner solve and their exact excess in the certificate (`_free_features`)
    free = (a == 0) & (b2 == 0) & lpos
    any_free = jnp.any(free)
    free_cap = g_count if g_count <= _FREE_MAX else _FREE_GATHER
    newton, excess = _free_features(cols, y, sn, free, free_cap, fit_intercept)
    certified = jnp.sum(free) <= free_cap  # else the loop stops on its looser bound

    def certify(w, z, g):  # the gap and the rest, with the free features' exact excess
        gap, rest = gap_of(w, z, g)
        ex = jax.lax.cond(any_free, excess, lambda _: jnp.zeros((), dtype), z)
        return gap + ex, jnp.maximum(rest, ex)

    def outer_cond(st: _State):  # NaN (in the data) stops at once
        return (st.it < max_iter) & ~st.done & ~jnp.isnan(st.gap)

    def outer_body(st: _State) -> _State:
        viol = violation(st.w, st.g, st.z)
        ws, count = _working_set(st.w, viol, ws_min)
        # (under vmap a finished fit runs this body too: told inf, its inner loop does nothing)
        frac = _INNER if cols.rows is None else _INNER_SPARSE
        inner_tol = jnp.where(st.done, jnp.inf, frac * jnp.max(viol, initial=0.0))
        which = jnp.sum(count > bounds)  # the smallest capacity >= count
        w, b, z, e = jax.lax.switch(which, branches, st.w, st.b, st.z, st.g, ws, count, inner_tol)
        w, b, z = jax.lax.cond(any_free & ~st.done, newton, lambda c: c, (w, b, z))
        g = grad_full(z)
        gap, rest = certify(w, z, g)
        done = (gap <= tol) & (rest <= tol)
        return _State(w, b, z, st.it + 1, st.epochs + e, gap, done, g)

    if zg0 is None:  # the intercept's exact step first, so the first gradient sees it
        z0 = cols.matvec(w0) + b0
        db = jnp.sum(sn * (y - z0)) if fit_intercept else 0.0
        b0, z0 = b0 + db, z0 + db
        zg0 = (z0, grad_full(z0))
    z0, g0 = zg0
    gap, rest = certify(w0, z0, g0)
    zero = jnp.zeros((), jnp.int32)
    st = _State(w0, b0, z0, zero, zero, gap, (gap <= tol) & (rest <= tol), g0)
    st = jax.lax.while_loop(outer_cond, outer_body, st)
    gap, rest = certify(st.w, st.z, st.g)  # the state's z and g are X's at the returned point
    # the loop's certificate at this same point decides: in float32 the recomputed gap (a
    # difference of nearly equal numbers, fused differently) can land just above tol
    gap = jnp.where(st.done, st.gap, gap)
    rest = jnp.where(st.done, jnp.minimum(rest, tol), rest)
    return _finish(st, gap, rest, tol, certified)


def _free_features(cols, y, sn, free, cap, fit_intercept):
    r"""The unpenalized features' exact minimization (the others fixed) and its certificate.

    On them the objective is a quadratic with Hessian :math:`H = X_F^\top \mathrm{diag}(s) X_F`
    (columns centred with an intercept), so :math:`f(w) - \min_{w_F} f = \frac12 g_F^\top H^+
    g_F` exactly; after a Newton step that is rounding, and the gap (whose dual leaves the free
    features out, exact once :math:`g_F = 0`) bounds the rest. The free features are gathered
    (the first ``cap`` of them, in index order; a sparse ``X``'s columns made dense), ``H``'s
    eigendecomposition computed once; with more than ``cap`` of them the excess is that of the
    first ``cap`` only: no certificate (the caller says not converged). Returns ``newton((w, b,
    z)) -> (w, b, z)`` and ``excess(z)``. The per-coordinate bound :math:`\lVert g_j\rVert^2 /
    L_j` is no certificate: with two unpenalized columns correlated 0.99995 it claimed 1e-13
    where the excess was 7e-10, and coordinate descent crawled there (a review's finding)."""
    dtype = y.dtype
    g_count = free.shape[0]
    count = jnp.sum(free)
    pos = jnp.where(free, jnp.cumsum(free) - 1, count + jnp.cumsum(~free) - 1)
    idx = jnp.zeros(g_count, jnp.int32).at[pos].set(jnp.arange(g_count, dtype=jnp.int32))[:cap]
    fm = (jnp.arange(cap) < count).astype(dtype)

    def block(_):
        if cols.rows is None:
            xv = cols.values[idx, 0]  # (cap, n)
        else:  # the gathered sparse columns made dense (row n takes the padding)
            xv = jnp.zeros((cap, cols.n + 1), dtype).at[jnp.arange(cap)[:, None], cols.rows[idx]]
            xv = xv.add(cols.values[idx])[:, : cols.n]
        u = xv @ sn if fit_intercept else jnp.zeros(cap, dtype)
        xv = (xv - u[:, None]) * fm[:, None]
        h = (xv * sn) @ xv.T + jnp.diag(1.0 - fm)
        ev, vec = jnp.linalg.eigh(h)
        cut = ev[-1] * cap * jnp.finfo(dtype).eps
        inv = jnp.where(ev > cut, 1.0 / jnp.where(ev > cut, ev, 1.0), 0.0)
        return xv, u, vec, inv

    n = y.shape[0]
    zeros = (jnp.zeros((cap, n), dtype), jnp.zeros(cap, dtype), jnp.eye(cap, dtype=dtype))
    xv, u, vec, inv = jax.lax.cond(
        count > 0, block, lambda _: (*zeros, jnp.zeros(cap, dtype)), None
    )

    def coords(z):  # H's eigenbasis coordinates of g_F (intercept's derivative taken out)
        return vec.T @ (xv @ (sn * (z - y)))

    def newton(wbz):
        w, b, z = wbz
        delta = -(vec @ (inv * coords(z)))
        # X_c delta = X delta - (u . delta): the intercept takes the shift, sum s (z - y) stays
        return w.at[idx, 0].add(delta), b - u @ delta, z + delta @ xv

    def excess(z):  # 1/2 g_F^T H^+ g_F
        c = coords(z)
        return 0.5 * jnp.sum(inv * c * c)

    return newton, excess


def _pen_value(parts, w):
    total = jnp.zeros((), w.dtype)
    for part, wt in parts:
        raw = part.unscaled_value(w, wt)
        total = total + (
            checked_hyperparameter(part.strength, w.dtype) * raw if part.linear_in_strength else raw
        )
    return total


def _dual(loss, y, sn, z, w, g, a1, b2):
    r"""A dual objective and the unpenalized blocks' residual, at the scaled residual.

    The primal is :math:`\sum_i s_i f_i(z_i) + \sum_j h_j(w_j)`, :math:`h_j(v) = a_j \lVert
    v\rVert + \frac{b_j}{2} \lVert v\rVert^2` (l1 / group lasso :math:`a`, l2 :math:`b`); its
    Fenchel dual at :math:`u = -c\, f'(z)` is :math:`D = -\sum_i s_i f_i^*(-u_i) - \sum_j
    h_j^*(v_j)`, :math:`v = X^\top (s u) = -c\, g`, with :math:`h_j^*(v) = (\lVert v\rVert -
    a_j)_+^2 / (2 b_j)` where :math:`b_j > 0` and the constraint :math:`\lVert v_j\rVert \le
    a_j` where :math:`b_j = 0`, which ``c <= 1`` meets (celer's / scikit-learn's rescaling).
    Blocks with neither (:math:`a_j = b_j = 0`: unpenalized) would need :math:`v_j = 0`
    exactly: they are left out of the dual and their optimality is checked on its own, as
    the intercept's is (in `_solve`).
    """
    a, b = a1[:, 0], b2[:, 0]
    gn = jnp.sqrt(jnp.sum(g * g, axis=1))
    constrained = (b == 0) & (a > 0)
    ratio = jnp.where(constrained, gn / jnp.where(constrained, a, 1.0), 0.0)
    dual_norm = jnp.max(ratio, initial=0.0)
    c = jnp.where(dual_norm > 1, 1.0 / dual_norm, 1.0)
    smooth = b > 0
    conj = jnp.where(
        smooth, jnp.maximum(c * gn - a, 0.0) ** 2 / (2 * jnp.where(smooth, b, 1.0)), 0.0
    )
    if loss == "squared":  # -f*(-u) = u y - u^2 / 2 at u = c (y - z)
        u = c * (y - z)
        return jnp.sum(sn * (u * y - 0.5 * u * u)) - jnp.sum(conj)
    # logistic, y in {0, 1}: -f*(-u) = -H(q), q = y - u in [0, 1], u = c (y - sigmoid(z))
    q = jnp.clip(y - c * (y - jax.nn.sigmoid(z)), 0.0, 1.0)
    ent = jnp.where(q > 0, q * jnp.log(jnp.where(q > 0, q, 1.0)), 0.0) + jnp.where(
        q < 1, (1 - q) * jnp.log(jnp.where(q < 1, 1 - q, 1.0)), 0.0
    )
    return -jnp.sum(sn * ent) - jnp.sum(conj)


# --------------------------------------------------------------------------------------------
# Public API


def _prepare(X, y, sample_weight, loss, dtype):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got loss={loss!r}.")
    if dtype is None:
        dtype = jnp.result_type(float)  # float64 with jax_enable_x64, else float32
    elif jnp.dtype(dtype) not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"dtype must be float32, float64 or None; got dtype={dtype!r}.")
    elif jnp.dtype(dtype).itemsize == 8 and not jax.config.read("jax_enable_x64"):
        raise ValueError(
            f"dtype={jnp.dtype(dtype).name} needs 64-bit JAX: set "
            "jax.config.update('jax_enable_x64', True) (or JAX_ENABLE_X64=1) before any "
            "computation, or leave dtype=None (float32 without it)."
        )
    cols, n, p = _columns(X, dtype)
    if n == 0 or p == 0:
        raise ValueError(f"X needs at least one sample and one feature; got shape ({n}, {p}).")
    y = jnp.asarray(y, dtype)
    if y.shape != (n,):
        raise ValueError(f"y must have shape (n_samples,) = ({n},); got shape {y.shape}.")
    if sample_weight is None:
        s = jnp.ones(n, dtype)
    else:
        s = jnp.asarray(sample_weight, dtype)
        if s.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},); got shape {s.shape}.")
        if isinstance(s, jax.core.Tracer):  # traced: a bad weight gives NaN (eagerly: raises)
            bad = ~jnp.all(jnp.isfinite(s) & (s >= 0)) | (jnp.sum(s) <= 0)
            s = jnp.where(bad, jnp.nan, s)
        else:
            sh = np.asarray(s)
            if not (np.all(np.isfinite(sh) & (sh >= 0)) and sh.sum() > 0):
                raise ValueError(
                    "sample_weight must be finite and >= 0 with a positive sum; got min "
                    f"{float(sh.min())}, sum {float(sh.sum())}."
                )
    # labels checked when concrete and NaN-free (NaN propagates to NaN coefficients)
    # (in NumPy: under an outer jit, jnp operations on a concrete y are staged)
    host = None if isinstance(y, jax.core.Tracer) else np.asarray(y)
    labels = host if host is not None and not np.isnan(host).any() else None
    if loss == "logistic" and labels is not None:
        if not np.all((labels == 0) | (labels == 1)):
            odd = float(labels[np.argmax((labels != 0) & (labels != 1))])
            raise ValueError(f"loss='logistic' needs labels y in {{0, 1}}; y holds {odd:g}.")
        if np.all(labels == labels[0]):
            raise ValueError(
                "loss='logistic' needs both classes in y; y has a single class "
                f"({float(labels[0]):g}), whose maximum-likelihood intercept is infinite (as "
                "scikit-learn refuses it)."
            )
    if loss == "poisson" and labels is not None and not np.all(labels >= 0):
        raise ValueError(f"loss='poisson' needs counts y >= 0; got min {float(labels.min()):g}.")
    return cols, y, s, n, p, dtype


def _tol_scale(loss, delta, y, s, fit_intercept):
    """What ``tol`` is relative to: sklearn's ||y - mean||^2 / n for the squared loss; the
    null model's loss (intercept only, or 0) for the others."""
    value, _, _ = _loss(loss, delta)
    sn = s / jnp.sum(s)
    if loss == "squared":
        c = jnp.sum(sn * y) if fit_intercept else 0.0
        return jnp.sum(sn * (y - c) ** 2)
    if loss == "logistic":
        m = jnp.clip(jnp.sum(sn * y), 1e-12, 1 - 1e-12)
        z0 = jnp.log(m / (1 - m)) if fit_intercept else 0.0
        return jnp.sum(sn * value(jnp.full_like(y, z0), y))
    if loss == "poisson":  # the null model's half deviance: its loss minus the saturated one
        z0 = jnp.log(jnp.maximum(jnp.sum(sn * y), 1e-300)) if fit_intercept else 0.0
        ylogy = jnp.where(y > 0, y * jnp.log(jnp.where(y > 0, y, 1.0)), 0.0)
        return jnp.sum(sn * (value(jnp.full_like(y, z0), y) - (y - ylogy)))
    z0 = jnp.median(y) if fit_intercept else 0.0
    return jnp.sum(sn * value(jnp.full_like(y, z0), y))


def _check_common(tol, max_iter, max_epochs, ws_min, anderson, loss, huber_delta):
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0; got tol={tol!r}.")
    if loss == "huber" and not (
        isinstance(huber_delta, int | float) and math.isfinite(huber_delta) and huber_delta > 0
    ):
        raise ValueError(
            f"huber_delta must be a finite number > 0; got huber_delta={huber_delta!r}."
        )
    for name, v, low in (
        ("max_iter", max_iter, 1),
        ("max_epochs", max_epochs, 1),
        ("ws_min", ws_min, 1),
        ("anderson", anderson, 0),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{name} must be an int >= {low}; got {name}={v!r}.")
    if anderson == 1:
        raise ValueError("anderson must be 0 (off) or >= 2 (iterates combined); got 1.")


def fit(
    X: DataMatrix,
    y: npt.ArrayLike,
    penalty: Penalty,
    *,
    loss: LinearLoss = "squared",
    fit_intercept: bool = True,
    sample_weight: npt.ArrayLike | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    max_epochs: int = 10_000,
    init: tuple[ArrayLike, ArrayLike] | None = None,
    huber_delta: float = 1.35,
    ws_min: int = 10,
    anderson: int = 5,
    dtype: DTypeLike | None = None,
) -> LinearResult:
    r"""Fit a penalized linear model: working sets, coordinate descent, duality gap.

    .. math:: \min_{w, b}\; \frac{1}{\sum_i s_i} \sum_i s_i\, \ell(y_i, x_i^\top w + b)
       + \mathrm{pen}(w)

    with ``loss="squared"``: :math:`\ell = \frac12 (y - z)^2` (scikit-learn's ``Lasso`` /
    ``ElasticNet`` objective: ``jr.l1(alpha)``, ``jr.elastic_net(alpha, l1_ratio)``);
    ``"logistic"``: :math:`\log(1 + e^z) - y z`, ``y`` in {0, 1} (``LogisticRegression(C,
    l1_ratio=1)`` is ``jr.l1(1 / (C * n))``); ``"huber"``: :math:`\frac12 r^2` for
    :math:`|r| \le \delta`, :math:`\delta |r| - \frac12\delta^2` beyond; ``"poisson"``:
    :math:`e^z - y z`, ``y >= 0`` (``PoissonRegressor(alpha)`` is ``jr.l2(alpha)``).
    ``penalty``: any elementwise jaxreg penalty with a prox (l1, l2, elastic_net, weighted or
    not; mcp, scad, lq, l0, for which the result is a stationary point), or a group lasso on
    consecutive features (``jr.group_lasso(s, reshape=(-1, group_size))``: celer's
    ``groups=group_size``; dense ``X``, not with ``"poisson"``), applied to the coefficients
    only.

    It stops when the duality gap (l1 / l2 / elastic-net penalties with the squared or
    logistic loss) is at most ``tol`` times scikit-learn's scale, :math:`\lVert y - \bar
    y\rVert^2 / n` (weighted; :math:`\lVert y \rVert^2 / n` without intercept), as
    ``Lasso(tol=...)`` does; for the logistic loss, ``tol`` times the intercept-only model's
    loss. Otherwise (Huber, Poisson, non-convex penalties) ``gap`` is the largest prox-gradient
    residual :math:`\max_j L_j |w_j - \mathrm{prox}_{\mathrm{pen}_j/L_j}(w_j - g_j/L_j)|`,
    0 exactly at a stationary point, with the same scale. ``tol`` must be > 0; below ``50
    eps`` of the dtype (6e-6 in float32, 1e-14 in float64) it is raised to that floor: the
    gap is a difference of two nearly equal numbers and cannot be certified below that. A fit
    that stops at ``max_iter`` warns (eagerly; under `jax.jit`, read ``converged``).
    Unpenalized features (a strength or weight of 0, no l2) have no dual constraint: with the
    squared loss (dense or sparse ``X``) an exact Newton step on them follows every inner solve
    (an ``eigh`` of their Gram matrix :math:`H`, computed once) and their exact excess
    :math:`\frac12 g_F^\top H^+ g_F` is added to the gap, so ``converged`` means within ``tol``;
    this holds for all of them when ``X`` has at most 512 features, else for up to 64
    unpenalized features (more: the loop stops on the per-coordinate bound below and
    ``converged`` stays False; the coefficients are usable, uncertified). With the other losses
    their certificate is the decrease a coordinate step could still make, :math:`\lVert
    g_j\rVert^2 / L_j`, which is no bound when unpenalized columns are strongly correlated.
    The algorithm is in the module docstring (``jaxreg/_linear.py``). jit-able in
    ``y``, ``sample_weight``, the penalty's leaves and a dense ``X``; NaN in them gives NaN
    coefficients and ``converged=False``; a negative or NaN strength raises a ``ValueError``
    (traced: NaN). ``dtype=float64`` needs ``jax_enable_x64``.

    Args:
      X: ``(n_samples, n_features)``: NumPy or JAX array, ``scipy.sparse`` matrix or a
        ``jax.experimental.sparse.BCOO`` (converted to padded sparse columns).
      y: ``(n_samples,)`` targets (labels in {0, 1} for the logistic loss).
      penalty: a `jaxreg.Penalty` on the coefficient vector ``(n_features,)``; its ``weights``
        (if any) are per feature.
      loss, fit_intercept, sample_weight: as above (``sample_weight`` >= 0, any scale).
      tol: the stopping tolerance, relative as above.
      max_iter: outer iterations (full gradient passes) at most.
      max_epochs: coordinate-descent epochs per working set at most.
      init: ``(coef, intercept)`` to start from (a warm start), or None for zeros.
      huber_delta: :math:`\delta` of the Huber loss.
      ws_min: the smallest working set.
      anderson: extrapolate every this many epochs (0: never).
      dtype: the computation's dtype (default: float64 with ``jax_enable_x64``, else float32).

    Returns:
      `LinearResult` ``(coef, intercept, gap, iterations, epochs, converged)``.
    """
    _check_common(tol, max_iter, max_epochs, ws_min, anderson, loss, huber_delta)
    cols, yj, s, n, p, dtype = _prepare(X, y, sample_weight, loss, dtype)
    if not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a jaxreg Penalty; got {type(penalty).__name__}.")
    w0, b0 = _init(init, p, dtype)
    _coordinate_parts(penalty, p, dtype)  # its errors, eagerly, with readable values
    res = _fit_jit(
        cols,
        yj,
        s,
        penalty,
        w0,
        b0,
        tol,
        loss,
        huber_delta,
        fit_intercept,
        max_iter,
        max_epochs,
        ws_min,
        anderson,
    )
    _warn_unconverged(res, "fit")
    return res


def _warn_unconverged(res: LinearResult, what: str) -> None:
    """scikit-learn's ConvergenceWarning, eagerly (under jit the caller reads ``converged``)."""
    conv = res.converged
    if isinstance(conv, jax.core.Tracer):
        return
    conv = np.asarray(conv)
    if not conv.all():
        import warnings

        where = "" if conv.ndim == 0 else f" at {int((~conv).sum())} of {conv.size} strengths"
        if np.isnan(np.asarray(res.gap)).any():
            warnings.warn(
                f"jr.linear.{what} did not reach tol{where}: NaN in X, y, sample_weight or a "
                "strength (the coefficients are NaN).",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        warnings.warn(
            f"jr.linear.{what} did not reach tol{where} (NaN in the data, max_iter / "
            "max_epochs too small, more than 64 unpenalized features on more than 512, or in "
            "float32 a tol near its floor of 50 eps, where the gap's rounding stalls it: use "
            "float64); read LinearResult.converged and .gap.",
            RuntimeWarning,
            stacklevel=3,
        )


def _init(init, p, dtype):
    if init is None:
        return jnp.zeros(p, dtype), jnp.zeros((), dtype)
    if not isinstance(init, tuple | list) or len(init) != 2:
        raise ValueError(
            f"init must be a pair (coef of shape ({p},), intercept), e.g. (np.zeros({p}), 0.0); "
            f"got {type(init).__name__} of shape {np.shape(init)}."
        )
    w0, b0 = init
    w0, b0 = jnp.asarray(w0, dtype), jnp.asarray(b0, dtype)
    if w0.shape != (p,) or b0.shape != ():
        raise ValueError(
            f"init must be (coef of shape ({p},), a scalar intercept); got shapes {w0.shape} "
            f"and {b0.shape}."
        )
    return w0, b0


@functools.partial(jax.jit, static_argnums=(7, 8, 9, 10, 11, 12, 13))
def _fit_jit(
    cols,
    y,
    s,
    penalty,
    w0,
    b0,
    tol,
    loss,
    delta,
    fit_intercept,
    max_iter,
    max_epochs,
    ws_min,
    anderson,
):
    p = w0.shape[0]
    parts, size = _coordinate_parts(penalty, p, w0.dtype)
    tol_abs = jnp.maximum(tol, 50 * float(jnp.finfo(y.dtype).eps)) * _tol_scale(
        loss, delta, y, s, fit_intercept
    )
    st = _solve(
        cols.blocks(size),
        y,
        s,
        parts,
        w0.reshape(-1, size),
        b0,
        loss=loss,
        delta=delta,
        fit_intercept=fit_intercept,
        tol=tol_abs,
        max_iter=max_iter,
        max_epochs=max_epochs,
        ws_min=min(ws_min, p // size),
        anderson=anderson,
    )
    return LinearResult(st.w.reshape(p), st.b, st.gap, st.it, st.epochs, st.done)


def path(
    X: DataMatrix,
    y: npt.ArrayLike,
    penalty: Penalty | Callable[[ArrayLike], Penalty],
    strengths: Strengths,
    *,
    loss: LinearLoss = "squared",
    fit_intercept: bool = True,
    sample_weight: npt.ArrayLike | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    max_epochs: int = 10_000,
    huber_delta: float = 1.35,
    ws_min: int = 10,
    anderson: int = 5,
    dtype: DTypeLike | None = None,
    init: tuple[ArrayLike, ArrayLike] | None = None,
) -> LinearResult:
    """`fit` at each strength, warm-started, in one compiled `lax.scan`.

    ``penalty`` is a builder ``strength -> Penalty`` (``jr.l1``, ``lambda s:
    jr.elastic_net(s, 0.5)``) or a `Penalty` built with strength 1 that is scaled (``s *
    pen``). Give ``strengths`` in descending order (``jr.select.strength_grid``) so each fit
    starts from the sparser one before it (as ``lasso_path`` and glmnet do). Returns a
    `LinearResult` whose fields have a leading strength axis. Other arguments as in `fit`.
    jit-able as `fit` is, with ``strengths`` traced too (an array; concrete negative or NaN
    strengths raise a ``ValueError``, traced ones give NaN). ``init=(coef, intercept)`` starts
    the first strength there (a previous path's or fit's end) instead of at 0.
    """
    _check_common(tol, max_iter, max_epochs, ws_min, anderson, loss, huber_delta)
    cols, yj, s, n, p, dtype = _prepare(X, y, sample_weight, loss, dtype)
    strengths, build = _path_args(strengths, penalty, p, dtype)
    start = None if init is None else _init(init, p, dtype)
    res = _path_jit(
        cols,
        yj,
        s,
        build,
        strengths,
        tol,
        loss,
        huber_delta,
        fit_intercept,
        max_iter,
        max_epochs,
        ws_min,
        anderson,
        start,
    )
    _warn_unconverged(res, "path")
    return res


@functools.partial(jax.jit, static_argnums=(3, 6, 7, 8, 9, 10, 11, 12))
def _path_jit(
    cols,
    y,
    s,
    build,
    strengths,
    tol,
    loss,
    delta,
    fit_intercept,
    max_iter,
    max_epochs,
    ws_min,
    anderson,
    start=None,
):
    p = cols.values.shape[0]
    dtype = cols.values.dtype
    tol_abs = jnp.maximum(tol, 50 * float(jnp.finfo(y.dtype).eps)) * _tol_scale(
        loss, delta, y, s, fit_intercept
    )
    size = _coordinate_parts(build(strengths[0]), p, dtype)[1]
    blocks = cols.blocks(size)
    _, deriv, kappa = _loss(loss, delta)
    sn = s / jnp.sum(s)
    # loop invariants, computed once: the curvature bounds, and X w + b and the full gradient
    # at each fit's start (the previous fit's end)
    lips = None if kappa is None else kappa * blocks.lipschitz(sn)
    # the first fit starts at w = 0 with the intercept's exact step for the squared loss
    b0 = jnp.sum(sn * y) if (fit_intercept and loss == "squared") else jnp.zeros((), dtype)
    z0 = jnp.zeros_like(y) + b0

    def step(carry, strength):
        w, b, z, g = carry
        parts, _ = _coordinate_parts(build(strength), p, dtype)
        st = _solve(
            blocks,
            y,
            s,
            parts,
            w.reshape(-1, size),
            b,
            loss=loss,
            delta=delta,
            fit_intercept=fit_intercept,
            tol=tol_abs,
            max_iter=max_iter,
            max_epochs=max_epochs,
            ws_min=min(ws_min, p // size),
            anderson=anderson,
            lips=lips,
            zg0=(z, g),
        )
        w = st.w.reshape(p)
        # a NaN result (a traced bad strength) must not poison the next fits' warm start
        ok = jnp.isfinite(w).all() & jnp.isfinite(st.b)
        nxt = jax.tree.map(lambda u, v: jnp.where(ok, u, v), (w, st.b, st.z, st.g), init)
        return nxt, LinearResult(w, st.b, st.gap, st.it, st.epochs, st.done)

    w0 = jnp.zeros(p, dtype)
    if start is not None:  # a warm start: the intercept's exact step too (squared loss)
        w0, b0 = start
        z0 = blocks.matvec(w0.reshape(-1, size)) + b0
        if fit_intercept and loss == "squared":
            db = jnp.sum(sn * (y - z0))
            b0, z0 = b0 + db, z0 + db
    init = (w0, b0, z0, blocks.rmatvec(sn * deriv(z0, y)))
    return jax.lax.scan(step, init, strengths)[1]


def cross_validate(
    X: DataMatrix,
    y: npt.ArrayLike,
    penalty: Penalty | Callable[[ArrayLike], Penalty],
    strengths: Strengths,
    *,
    folds: int | Splitter = 5,
    stratified: bool | None = None,
    groups: npt.ArrayLike | None = None,
    seed: int = 0,
    loss: LinearLoss = "squared",
    fit_intercept: bool = True,
    sample_weight: npt.ArrayLike | None = None,
    tol: float = 1e-4,
    max_iter: int = 100,
    max_epochs: int = 10_000,
    huber_delta: float = 1.35,
    ws_min: int = 10,
    anderson: int = 5,
    dtype: DTypeLike | None = None,
    vmap_folds: bool = False,
) -> CVResult:
    """K-fold cross-validation of a regularization path: scikit-learn's ``LassoCV``,
    ``ElasticNetCV`` and ``LogisticRegressionCV`` (L1), one compiled path for every fold.

    Each fold is the whole ``X`` with the held-out rows' sample weights set to 0, so every
    fold has the same shapes and one compiled `path` serves them all (a fold's fit is exactly
    the fit on its training rows: the data term is a weighted mean). ``vmap_folds=True`` runs
    the folds as one `jax.vmap` instead: on this 2-core CPU that was 3x slower (a vmapped
    while loop runs until its slowest fold, and both branches of each `lax.cond`), so the
    default is a loop; try it on a GPU. The score of a
    strength on a fold is minus the held-out mean loss: minus the mean squared error
    :math:`(y - z)^2` for ``loss="squared"`` (``LassoCV``'s ``mse_path_``), minus the mean
    log-loss for ``"logistic"``, minus the mean Huber loss for ``"huber"``; weighted by
    ``sample_weight`` when given. Folds, ``stratified``, ``groups`` and ``seed`` as in
    `jaxreg.select.cross_validate` (``folds=KFold(5)`` reproduces ``LassoCV(cv=5)``); the
    other arguments as in `path`.

    Returns:
      `jaxreg.select.CVResult` (``best_strength``, ``one_se_strength``, per-fold ``scores``).
    """
    from ._select import CVResult, _choose, fold_splits

    _check_common(tol, max_iter, max_epochs, ws_min, anderson, loss, huber_delta)
    cols, yj, s, n, p, dtype = _prepare(X, y, sample_weight, loss, dtype)
    strengths, build = _path_args(strengths, penalty, p, dtype)
    splits = fold_splits(folds, stratified, groups, seed, np.zeros((n, 1)), np.asarray(y))
    train = np.zeros((len(splits), n), bool)
    for k, (tr, _) in enumerate(splits):
        train[k, tr] = True
    train = jnp.asarray(train)
    static = (loss, huber_delta, fit_intercept, max_iter, max_epochs, ws_min, anderson)
    if vmap_folds:
        scores, converged = _fold_scores_vmapped(cols, yj, s, train, build, strengths, tol, *static)
    else:
        out = [_fold_scores(cols, yj, s, m, build, strengths, tol, *static) for m in train]
        scores = jnp.stack([o[0] for o in out])
        converged = jnp.stack([o[1] for o in out])
    scores = np.asarray(scores, np.float64)
    if not bool(np.all(np.asarray(converged))):
        import warnings

        warnings.warn(
            "jr.linear.cross_validate: some fits stopped at max_iter before the gap reached "
            "tol; raise max_iter or tol.",
            RuntimeWarning,
            stacklevel=2,
        )
    host = np.asarray(strengths, np.float64)
    mean, std, best, one_se = _choose(host, scores)
    return CVResult(host, scores, mean, std, best, one_se)


def _path_args(strengths: Any, penalty: Any, p: int, dtype: Any) -> tuple[jax.Array, Any]:
    """The strengths as a 1-d array and the penalty as a builder, checked eagerly."""
    if strengths is None or isinstance(strengths, str):
        raise TypeError(
            "strengths must be a 1-d array of strengths, e.g. jr.select.strength_grid("
            f"lambda_max, num=30); got {strengths!r}."
        )
    strengths = jnp.asarray(strengths, dtype)
    if strengths.ndim != 1 or strengths.shape[0] == 0:
        raise ValueError(f"strengths must be a non-empty 1-d array; got shape {strengths.shape}.")
    if not isinstance(strengths, jax.core.Tracer):  # traced ones: a bad strength gives NaN
        host = np.asarray(strengths, np.float64)
        bad = np.flatnonzero(~(np.isfinite(host) & (host >= 0)))
        if bad.size:
            k = int(bad[0])
            raise ValueError(f"strengths must be finite and >= 0; got strengths[{k}]={host[k]}.")
    build = _builder(penalty)
    # its errors, with readable values (any valid strength has the same structure)
    first = 1.0 if isinstance(strengths, jax.core.Tracer) else float(strengths[0])
    _coordinate_parts(build(first), p, dtype)
    return strengths, build


def _builder(penalty: Penalty | Callable[[ArrayLike], Penalty]) -> Callable[[ArrayLike], Penalty]:
    if isinstance(penalty, Penalty):
        base = penalty
        top = [t.strength for t in base.terms if not isinstance(t.strength, jax.core.Tracer)]
        if top and not np.isclose(max(float(np.max(v)) for v in top), 1.0):
            raise ValueError(
                "a Penalty given as path's / cross_validate's penalty is a template scaled by "
                "each strength (s * pen): build it with strength 1 (its largest term's), e.g. "
                f"jr.l1(1.0, weights=w), or pass a builder such as jr.l1; got {penalty!r}."
            )
        return lambda v: v * base
    if callable(penalty):
        return penalty
    raise TypeError(f"penalty must be a builder strength -> Penalty or a Penalty; got {penalty!r}.")


def _fold_scores_impl(
    cols,
    y,
    s,
    train,
    build,
    strengths,
    tol,
    loss,
    delta,
    fit_intercept,
    max_iter,
    max_epochs,
    ws_min,
    anderson,
):
    """Minus the held-out mean loss of each strength's fit on the rows ``train`` selects."""
    res = _path_jit(
        cols,
        y,
        jnp.where(train, s, 0.0),
        build,
        strengths,
        tol,
        loss,
        delta,
        fit_intercept,
        max_iter,
        max_epochs,
        ws_min,
        anderson,
    )
    value = _loss(loss, delta)[0]
    if loss == "squared":
        value = lambda z, y: (z - y) ** 2  # noqa: E731 - the MSE, as LassoCV's mse_path_
    z = jax.vmap(lambda w, b: cols.matvec(w[:, None]) + b)(res.coef, res.intercept)
    held = jnp.where(train, 0.0, s)
    return -jnp.sum(held * value(z, y), axis=1) / jnp.sum(held), res.converged


_STATIC = (4, 7, 8, 9, 10, 11, 12, 13)
_fold_scores = jax.jit(_fold_scores_impl, static_argnums=_STATIC)
_fold_scores_vmapped = jax.jit(
    jax.vmap(_fold_scores_impl, in_axes=(None, None, None, 0, None, None, None) + (None,) * 7),
    static_argnums=_STATIC,
)
