"""The design matrix as columns: dense ``(p, n)`` rows, or a sparse ``X``'s padded columns.

``X`` is stored transposed, ``(p, n)``, so a column is a contiguous row; a sparse ``X`` (scipy
or BCOO) as its columns' nonzeros padded to the longest column (ELLPACK), so a coordinate
update touches only those. Every solver reaches ``X`` through `Columns`' methods.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Columns(NamedTuple):
    """X's columns in blocks of B consecutive features (B = 1 unless a group penalty says so)."""

    values: jax.Array  # (G, B, n) dense, or (p, m) each column's nonzeros, 0-padded (B = 1)
    rows: jax.Array | None  # None (dense) or (p, m) their row indices (n for padding)
    n: int

    def blocks(self, size: int) -> Columns:
        if size == 1:
            return self
        if self.rows is not None:
            raise NotImplementedError("group penalties in jr.linear need a dense X for now.")
        g = self.values.shape[0] // size
        return Columns(self.values.reshape(g, size, self.n), None, self.n)

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
    Columns,
    lambda c: ((c.values, c.rows), c.n),
    lambda n, ch: Columns(ch[0], ch[1], n),
)


def as_columns(X: Any, dtype: Any) -> tuple[Columns, int, int]:
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
        return Columns(jnp.asarray(vals), jnp.asarray(rows), n), n, p
    X = jnp.asarray(X, dtype)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d matrix (n_samples, n_features); got shape {X.shape}.")
    return Columns(X.T[:, None, :], None, X.shape[0]), X.shape[0], X.shape[1]
