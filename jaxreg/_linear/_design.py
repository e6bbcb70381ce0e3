"""The design matrix as columns: dense ``(p, n)`` rows, or a sparse ``X``'s padded chunks.

``X`` is stored transposed, ``(p, n)``, so a column is a contiguous row; a sparse ``X`` (scipy
or BCOO) as its columns' nonzeros in 0-padded chunks (one per column, ELLPACK, when the
columns have similar lengths), so a coordinate update touches only those and the memory is
O(nnz). Every solver reaches ``X`` through `Columns`' methods.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np


class Columns(NamedTuple):
    """X's columns in blocks of B consecutive features (B = 1 unless a group penalty says so).

    A sparse ``X`` is stored in chunks of ``m`` nonzeros of one column each (0-padded, row
    ``n`` for the padding). When every column fits one chunk of the longest column's length
    without using much more memory than the nonzeros (`as_columns`), chunk ``j`` is column
    ``j`` (ELLPACK: ``starts`` and ``owner`` are None); otherwise column ``j`` is the chunks
    ``starts[j]:starts[j + 1]``, ``owner`` says whose each chunk is, and the memory is at
    most ``nnz + p m``, whatever the column counts (a few words in half of the documents)."""

    values: jax.Array  # (G, B, n) dense, or (C, m) the chunks' nonzeros, 0-padded (B = 1)
    rows: jax.Array | None  # None (dense) or (C, m) their row indices (n for padding)
    n: int
    starts: jax.Array | None = None  # (p + 1,) column j's chunks: starts[j]:starts[j + 1]
    owner: jax.Array | None = None  # (C,) the column of each chunk

    @property
    def num_features(self) -> int:
        if self.starts is not None:
            return self.starts.shape[0] - 1
        return self.values.shape[0] * (self.values.shape[1] if self.rows is None else 1)

    @property
    def num_blocks(self) -> int:
        """G: the blocks (features, or groups of B consecutive ones)."""
        return self.num_features if self.rows is not None else self.values.shape[0]

    @property
    def chunked(self) -> bool:
        """Columns over several chunks (else one chunk or one dense row per column)."""
        return self.starts is not None

    def blocks(self, size: int) -> Columns:
        if size == 1:
            return self
        if self.rows is not None:
            raise NotImplementedError("group penalties in jr.linear need a dense X for now.")
        g = self.values.shape[0] // size
        return Columns(self.values.reshape(g, size, self.n), None, self.n)

    def _over_chunks(self, j, body, init):
        """``body(t, acc)`` over column ``j``'s chunks ``t`` (its one chunk: ``t = j``)."""
        if self.starts is None:
            return body(j, init)
        return jax.lax.fori_loop(self.starts[j], self.starts[j + 1], body, init)

    def per_column(self, per_chunk: jax.Array) -> jax.Array:
        """Sums of a per-chunk quantity ``(C,)`` per column ``(p,)``."""
        if self.owner is None:
            return per_chunk
        p = self.num_features
        return jax.ops.segment_sum(per_chunk, self.owner, p, indices_are_sorted=True)

    def dot_fn(self, j, f):  # X_j^T f(rows) where f(idx) gives f's values at rows idx (B,)
        """``X_j^T f`` evaluating ``f`` only where column ``j`` is nonzero (sparse) or fused
        into one pass (dense): ``f(None)`` is f on every row, ``f(idx)`` on rows ``idx``."""
        if self.rows is None:
            return jnp.sum(self.values[j] * f(None), axis=-1)
        rows, n = self.rows, self.n

        def chunk(t, acc):
            return acc + jnp.sum(self.values[t] * f(jnp.minimum(rows[t], n - 1)))

        return self._over_chunks(j, chunk, jnp.zeros((), self.values.dtype))[None]

    def axpy(self, j, a, v):  # v + X_j a
        if self.rows is None:
            return v + a @ self.values[j]
        rows = self.rows

        def chunk(t, v):
            return v.at[rows[t]].add(a[0] * self.values[t], mode="drop")

        return self._over_chunks(j, chunk, v)

    def lipschitz(self, s):  # the largest eigenvalue of X_j^T diag(s) X_j: (G,)
        if self.rows is not None:
            return self.per_column(jnp.sum(self.values * self.values * s[self.rows], axis=1))
        if self.values.shape[1] == 1:
            return (self.values[:, 0] * self.values[:, 0]) @ s
        gram = jnp.einsum("gbn,gcn->gbc", self.values * s, self.values)
        return jnp.linalg.eigvalsh(gram)[:, -1]

    def quad(self, j, c):  # X_j^T diag(c) X_j for a single column (B = 1)
        if self.rows is None:
            return (self.values[j, 0] * self.values[j, 0]) @ c
        rows = self.rows

        def chunk(t, acc):
            return acc + (self.values[t] * self.values[t]) @ c[rows[t]]

        return self._over_chunks(j, chunk, jnp.zeros((), self.values.dtype))

    def rmatvec(self, v):  # X^T v: (G, B)
        if self.rows is None:
            return jnp.einsum("gbn,n->gb", self.values, v)
        return self.per_column(jnp.sum(self.values * v[self.rows], axis=1))[:, None]

    def matvec(self, w):  # X w for w of shape (G, B)
        if self.rows is None:  # one gemv: XLA:CPU's dot with two contracting axes is 10x slower
            return w.reshape(-1) @ self.values.reshape(-1, self.n)
        wc = w[:, 0] if self.owner is None else w[self.owner, 0]
        out = jnp.zeros(self.n + 1, self.values.dtype)
        flat = (self.values * wc[:, None]).ravel()
        return out.at[self.rows.ravel()].add(flat)[: self.n]


jax.tree_util.register_pytree_node(
    Columns,
    lambda c: ((c.values, c.rows, c.starts, c.owner), c.n),
    lambda n, ch: Columns(ch[0], ch[1], n, ch[2], ch[3]),
)

# A sparse X is stored as ELLPACK (one chunk per column, as long as the longest) when that
# takes at most _ELL_SLACK times the nonzeros (or _ELL_FREE entries); else in chunks of about
# _CHUNK_OVER_MEAN times the mean column length (a power of 2, at least _CHUNK_MIN), so that
# most columns are one chunk and the padding is at most p chunk lengths.
_ELL_SLACK = 3
_ELL_FREE = 1 << 18
_CHUNK_OVER_MEAN = 2
_CHUNK_MIN = 8


def _sparse_columns(X: Any, dtype: Any) -> Columns:
    """A CSC matrix (duplicates summed) as chunked columns (see `Columns`)."""
    n, p = X.shape
    counts = np.diff(X.indptr).astype(np.int64)
    longest = max(int(counts.max()) if p else 0, 1)
    if p * longest <= max(_ELL_SLACK * X.nnz, _ELL_FREE):
        width, chunks = longest, np.ones(p, np.int64)
    else:
        mean = max(X.nnz / p, 1.0)
        width = max(_CHUNK_MIN, 1 << int(np.ceil(np.log2(_CHUNK_OVER_MEAN * mean))))
        chunks = np.maximum((counts + width - 1) // width, 1)
    starts = np.concatenate([[0], np.cumsum(chunks)])
    total = int(starts[-1])
    # the k-th nonzero of column j goes to chunk starts[j] + k // width, slot k % width
    pos = np.arange(X.nnz) - np.repeat(X.indptr[:-1], counts)
    chunk = np.repeat(starts[:-1], counts) + pos // width
    rows = np.full((total, width), n, np.int32)
    vals = np.zeros((total, width), dtype)
    rows[chunk, pos % width] = X.indices
    vals[chunk, pos % width] = X.data
    if total == p:
        return Columns(jnp.asarray(vals), jnp.asarray(rows), n)
    owner = np.repeat(np.arange(p, dtype=np.int32), chunks)
    return Columns(
        jnp.asarray(vals), jnp.asarray(rows), n, jnp.asarray(starts, jnp.int32), jnp.asarray(owner)
    )


def _check_real(X: Any) -> None:
    """Reject what a float cast would silently change: complex (its imaginary part dropped),
    strings (parsed as numbers when they look like numbers), objects."""
    kind = np.dtype(X.dtype) if hasattr(X, "dtype") else np.asarray(X).dtype
    if kind.kind not in "biuf":
        flat = np.asarray(X).ravel() if kind.kind in "USO" else np.zeros(0)
        first = f", such as {flat[0]!r}" if flat.size else ""
        raise ValueError(
            "X must be a numeric matrix (NumPy, JAX or scipy.sparse) of real numbers (bool, "
            f"int or float); got {kind} values{first}."
        )


def as_columns(X: Any, dtype: Any) -> tuple[Columns, int, int]:
    """``X`` (NumPy, JAX, scipy.sparse or a BCOO matrix) as columns of ``dtype``."""
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy comes with jax
        sp = None
    from jax.experimental import sparse as jsparse

    if isinstance(X, jsparse.BCOO):
        if isinstance(X.data, jax.core.Tracer) or isinstance(X.indices, jax.core.Tracer):
            raise ValueError(
                "X as a BCOO matrix cannot be traced (an argument of jax.jit / jax.vmap / "
                "jax.grad): its columns are laid out on the host. Only a dense X can be "
                "traced; pass a BCOO or scipy.sparse X from outside the transformation."
            )
        if X.ndim != 2 or X.n_batch or X.n_dense:
            raise ValueError(f"X as BCOO must be a plain 2-d matrix; got {X!r}.")
        idx, data = np.asarray(X.indices), np.asarray(X.data)
        n, p = X.shape
        X = sp.csc_matrix((data, (idx[:, 0], idx[:, 1])), shape=(n, p)) if sp else None
    _check_real(X)
    if sp is not None and sp.issparse(X):
        X = sp.csc_matrix(X)
        X.sum_duplicates()
        return _sparse_columns(X, dtype), X.shape[0], X.shape[1]
    if not isinstance(X, jax.Array):  # a host array: transposed by NumPy (no eager compile)
        try:
            X = np.asarray(X, dtype)
        except (TypeError, ValueError) as e:
            kind = getattr(np.asarray(X), "dtype", type(X))
            raise ValueError(
                f"X must be a numeric matrix (NumPy, JAX or scipy.sparse); got {kind} values ({e})."
            ) from None
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d matrix (n_samples, n_features); got shape {X.shape}.")
    if isinstance(X, np.ndarray):
        xt = jax.device_put(np.ascontiguousarray(X.T)[:, None, :])  # (jnp.asarray compiles)
    else:
        xt = X.astype(dtype).T[:, None, :]
    return Columns(xt, None, X.shape[0]), X.shape[0], X.shape[1]
