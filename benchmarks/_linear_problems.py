r"""The linear benchmark's problems: designs, responses, strength paths, and their ``.npz`` form.

NumPy and SciPy only (no JAX): the peers' environment (NumPy < 2) loads the same files.

Every problem is a path of ``K`` strengths from :math:`\lambda_{max}` (the smallest strength
whose solution is 0) down to :math:`\lambda_{max}/100`, geometric (``jr.select.strength_grid``'s
grid), solved without intercept on a centred ``X`` (a sparse ``X`` is left uncentred) and, for
the squared loss, a centred ``y``. The objective of each kind is in ``_linear_objective.py``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.signal import lfilter

TRUE_FEATURES = 20
KINDS = ("lasso", "enet", "logistic", "group")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One path to solve: ``kind`` picks the objective (``_linear_objective.objective``)."""

    name: str
    kind: str
    X: Any  # (n, p): Fortran-ordered ndarray or CSC matrix
    y: np.ndarray
    strengths: np.ndarray  # (K,), descending
    target: float  # the relative suboptimality every solver must reach
    l1_ratio: float = 1.0
    group_size: int = 1
    description: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.X.shape

    @property
    def sparse(self) -> bool:
        return sp.issparse(self.X)

    def save(self, path: Path) -> None:
        meta = {
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "l1_ratio": self.l1_ratio,
            "group_size": self.group_size,
            "description": self.description,
        }
        arrays: dict[str, Any] = {"y": self.y, "strengths": self.strengths}
        if self.sparse:
            X = self.X
            arrays |= {"data": X.data, "indices": X.indices, "indptr": X.indptr}
            arrays["shape"] = np.asarray(X.shape)
        else:
            arrays["X"] = self.X
        np.savez(path, meta=np.asarray(repr(meta)), **arrays)


def load(path: str | Path) -> Problem:
    """The problem :meth:`Problem.save` wrote (``X`` Fortran-ordered, or CSC)."""
    import ast

    with np.load(path) as f:
        meta = ast.literal_eval(str(f["meta"]))
        if "X" in f:
            X = np.asfortranarray(f["X"])
        else:
            X = sp.csc_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
        return Problem(X=X, y=f["y"], strengths=f["strengths"], **meta)


# --------------------------------------------------------------------------------------------
# Designs


def ar1_design(rng: np.random.Generator, n: int, p: int, rho: float) -> np.ndarray:
    """``n`` rows of an AR(1) Gaussian: unit-variance columns, ``corr(j, j+k) = rho**k``;
    centred, Fortran-ordered."""
    z = rng.standard_normal((n, p))
    z[:, 1:] *= np.sqrt(1 - rho**2)
    x = lfilter([1.0], [1.0, -rho], z, axis=1)
    return np.asfortranarray(x - x.mean(axis=0))


def uniform_sparse_design(rng: np.random.Generator, n: int, p: int, density: float) -> Any:
    """Gaussian nonzeros at uniformly random places (CSC, not centred)."""
    X = sp.random(n, p, density=density, format="csc", random_state=rng, data_rvs=None)
    X.data = rng.standard_normal(X.nnz)
    return X


def text_design(rng: np.random.Generator, n: int, p: int, density: float) -> Any:
    """A bag-of-words-like design (CSC, not centred): column ``j`` (a word) is in a fraction
    ``f_j = 0.5 (j + 1)^{-a}`` of the rows (documents), Zipf's law, ``a`` solved so that the
    mean of ``f`` is ``density``: the top word is in about half of the documents, most words
    in a handful. Values ``1 + log(count)`` (sublinear term frequency), counts of words drawn
    with replacement."""
    j = np.arange(1, p + 1, dtype=float)
    lo, hi = 0.01, 5.0
    for _ in range(60):  # bisection on the exponent: mean frequency decreases with it
        a = 0.5 * (lo + hi)
        lo, hi = (a, hi) if np.mean(0.5 * j**-a) > density else (lo, a)
    counts = rng.binomial(n, 0.5 * j**-a)
    cols = np.repeat(np.arange(p), counts)
    rows = rng.integers(0, n, cols.size)
    X = sp.csc_matrix((np.ones(cols.size), (rows, cols)), shape=(n, p))
    X.sum_duplicates()
    X.data = 1.0 + np.log(X.data)
    return X


# --------------------------------------------------------------------------------------------
# Responses and paths


def _truth(rng: np.random.Generator, p: int, group_size: int = 1) -> np.ndarray:
    """``TRUE_FEATURES`` nonzero coefficients (in whole groups), signs random, |w| in [0.5, 2]."""
    w = np.zeros(p)
    k = min(TRUE_FEATURES, p) // group_size
    idx = (rng.choice(p // group_size, k, replace=False)[:, None] * group_size) + np.arange(
        group_size
    )
    idx = idx.ravel()
    w[idx] = rng.choice([-1.0, 1.0], idx.size) * rng.uniform(0.5, 2.0, idx.size)
    return w


def lambda_max(kind: str, X: Any, y: np.ndarray, *, l1_ratio: float, group_size: int) -> float:
    """The smallest strength whose solution is 0 (no intercept)."""
    n = X.shape[0]
    grad = X.T @ (y - 0.5 if kind == "logistic" else y) / n
    if kind == "group":
        return float(np.max(np.linalg.norm(grad.reshape(-1, group_size), axis=1)))
    return float(np.max(np.abs(grad))) / l1_ratio


def make(
    name: str,
    kind: str,
    X: Any,
    rng: np.random.Generator,
    *,
    K: int,
    target: float,
    l1_ratio: float = 1.0,
    group_size: int = 1,
    description: str = "",
) -> Problem:
    """The problem on design ``X``: a sparse truth (20 features), unit noise (squared loss) or
    Bernoulli labels in {0, 1} (logistic), and its path of ``K`` strengths."""
    w = _truth(rng, X.shape[1], group_size)
    z = X @ w
    if kind == "logistic":
        y = (rng.random(z.shape) < 1.0 / (1.0 + np.exp(-z))).astype(float)
    else:
        y = z + rng.standard_normal(z.shape)
        y -= y.mean()
    top = lambda_max(kind, X, y, l1_ratio=l1_ratio, group_size=group_size)
    return Problem(
        name=name,
        kind=kind,
        X=X,
        y=y,
        strengths=np.geomspace(top, top * 1e-2, num=K),
        target=target,
        l1_ratio=l1_ratio,
        group_size=group_size,
        description=description,
    )


def problems(*, quick: bool) -> list[Problem]:
    """The benchmark's problems (with ``quick`` tiny ones: one per kind, and the text design)."""
    rng = np.random.default_rng(0)
    if quick:
        return [
            make("correlated", "lasso", ar1_design(rng, 60, 150, 0.9), rng, K=5, target=1e-6),
            make(
                "elastic net", "enet", ar1_design(rng, 60, 150, 0.5), rng, K=5, target=1e-6,
                l1_ratio=0.5,
            ),
            make("logistic L1", "logistic", ar1_design(rng, 60, 150, 0.5), rng, K=5, target=1e-6),
            make(
                "group lasso", "group", ar1_design(rng, 60, 150, 0.5), rng, K=5, target=1e-6,
                group_size=5,
            ),
            make("text", "lasso", text_design(rng, 200, 1_000, 0.01), rng, K=5, target=1e-6),
        ]  # fmt: skip
    return [
        make(
            "tall", "lasso", ar1_design(rng, 20_000, 200, 0.5), rng, K=50, target=1e-6,
            description="AR(1) rho=0.5, n >> p",
        ),
        make(
            "correlated", "lasso", ar1_design(rng, 1_000, 5_000, 0.9), rng, K=20, target=1e-6,
            description="AR(1) rho=0.9",
        ),
        make(
            "elastic net", "enet", ar1_design(rng, 1_000, 5_000, 0.5), rng, K=20, target=1e-6,
            l1_ratio=0.5, description="AR(1) rho=0.5, l1_ratio=0.5",
        ),
        make(
            "logistic L1", "logistic", ar1_design(rng, 2_000, 5_000, 0.5), rng, K=20,
            target=1e-6, description="AR(1) rho=0.5, labels in {0, 1}",
        ),
        make(
            "group lasso", "group", ar1_design(rng, 1_000, 5_000, 0.5), rng, K=20, target=1e-6,
            group_size=5, description="AR(1) rho=0.5, groups of 5",
        ),
        make(
            "text", "lasso", text_design(rng, 20_000, 50_000, 0.0019), rng, K=20, target=1e-6,
            description="0.19% nonzeros, Zipf column frequencies",
        ),
        make(
            "dense", "lasso", ar1_design(rng, 500, 2_000, 0.5), rng, K=30, target=1e-6,
            description="AR(1) rho=0.5",
        ),
        make(
            "dense", "lasso", ar1_design(rng, 1_000, 10_000, 0.5), rng, K=20, target=1e-6,
            description="AR(1) rho=0.5",
        ),
        make(
            "sparse", "lasso", uniform_sparse_design(rng, 10_000, 100_000, 1e-3), rng, K=20,
            target=1e-6, description="uniform 0.1% nonzeros",
        ),
    ]  # fmt: skip
