r"""Section ``linear``: a Lasso path by `jr.linear.path` against scikit-learn, celer and skglm.

The problem, for each strength :math:`\lambda` of a path of ``K`` from :math:`\lambda_{max}`
to :math:`\lambda_{max}/100` (``jr.select.strength_grid(lmax, num=K, ratio=1e-2)``), each
fit warm-started from the one before:

.. math:: \min_w \frac{1}{2n}\lVert y - Xw\rVert^2 + \lambda \lVert w\rVert_1 .

Like for like: ``X`` and ``y`` are centred here and every library fits without an intercept
(``lasso_path`` fits none; jaxreg gets ``fit_intercept=False``); a sparse ``X`` is left as it
is (centring would densify it) and only ``y`` is centred. float64 (``jax.enable_x64`` inside
this section only), ``X`` Fortran-ordered for the NumPy solvers (column ``j`` contiguous, no
copy) and CSC when sparse. One ``tol`` for all, each library's own meaning of it:

- scikit-learn and celer stop on the duality gap of the problem above at most
  ``tol * ||y||^2 / n`` (sklearn: gap of ``½||y - Xw||² + nλ||w||₁`` at most
  ``tol * ||y||²``, ``_cd_fast.pyx``; celer: ``tol *= ||y||² / n``, ``lasso_fast.pyx``);
- jaxreg the same (``||y - ȳ||² / n`` with an intercept; ``y`` is centred here);
- skglm's ``AndersonCD`` stops when the largest distance of ``-∇_j f`` to ``∂|w_j|λ`` (a
  KKT violation, absolute, in gradient units) is at most ``tol``: another criterion, so the
  achieved relative duality gap of every library's path is recomputed here in NumPy and
  reported (``max_rel_gap``), whatever each one's own stopping rule.

Timing: the four libraries called in turn, one after the other, ``rounds`` times after one
untimed call each (jaxreg compiles on its first call, skglm's numba too): medians, and the
median of the per-round ratios jaxreg/sklearn and jaxreg/celer. The NumPy solvers run with
one BLAS thread (``threadpool_limits(1)``): their coordinate updates are length-``n`` dots and
axpys, which OpenBLAS threads only slow down (x2 to x8 on this shared 2-core machine); XLA
keeps its own thread pool. jaxreg gets the same NumPy arrays as the others (its conversion to
a ``(p, n)`` device array is inside the timed call).

Accuracy, separately: every library at ``tol=1e-8``, coefficients compared with
scikit-learn's at ``tol=1e-8`` (largest difference over the path relative to the largest
coefficient); at the timed ``tol`` each path's largest relative duality gap.

Problems: the AR(1) Gaussian design of the ``hypergrad`` section (neighbouring columns
correlated 0.5, 20 true features, unit noise) at n=500, p=2,000, K=30 and n=1,000, p=10,000,
K=20; a sparse Gaussian design n=10,000, p=100,000, density 0.1%, K=20; time against p at
n=1,000 (p = 1,000, 2,000, 5,000 and the 10,000 above). On an accelerator also a large float32
problem, n = p = 50,000, jaxreg alone (the CPU libraries would take minutes there).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

import jaxreg as jr

from ._hypergrad import TRUE_FEATURES, design
from ._timing import interleaved, json_from_worker, once

TOL = 1e-4
TIGHT_TOL = 1e-8
# seconds for jaxreg's two calls on the sparse problem on an accelerator, where it runs in a
# worker under this timeout (see README); gpu.sh shortens it
SPARSE_TIMEOUT = float(os.environ.get("JAXREG_BENCH_SPARSE_TIMEOUT", "300"))
LIBRARIES = ("jaxreg", "sklearn", "celer", "skglm")


# --------------------------------------------------------------------------------------------
# Problems


def _truth(rng: np.random.Generator, p: int) -> np.ndarray:
    w = np.zeros(p)
    k = min(TRUE_FEATURES, p)
    idx = rng.choice(p, k, replace=False)
    w[idx] = rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 2.0, k)
    return w


def dense_problem(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Centred AR(1) design (Fortran order) and centred response."""
    rng = np.random.default_rng(seed)
    w = _truth(rng, p)
    X = design(rng, n, p)
    y = X @ w + rng.standard_normal(n)
    return np.asfortranarray(X - X.mean(axis=0)), y - y.mean()


def sparse_problem(n: int, p: int, density: float, seed: int = 0) -> tuple[sp.csc_matrix, Any]:
    """Gaussian nonzeros at uniformly random places (CSC, not centred), centred response."""
    rng = np.random.default_rng(seed)
    w = _truth(rng, p)
    X = sp.random(n, p, density=density, format="csc", random_state=rng, data_rvs=None)
    X.data = rng.standard_normal(X.nnz)
    y = X @ w + rng.standard_normal(n)
    return X, y - y.mean()


def strengths(X: Any, y: np.ndarray, K: int) -> np.ndarray:
    lmax = float(np.max(np.abs(X.T @ y))) / X.shape[0]
    return np.asarray(jr.select.strength_grid(lmax, num=K, ratio=1e-2))


def rel_gaps(X: Any, y: np.ndarray, s: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Duality gap of each ``coef[k]`` at ``s[k]``, relative to ``||y||² / n`` (as sklearn's tol).

    sklearn's dual point: the residual scaled into ``||X^T v||_inf <= n lambda``.
    """
    n = X.shape[0]
    out = []
    for lam, w in zip(s, coef, strict=True):
        r = y - X @ w
        alpha = n * lam
        v = r * min(1.0, alpha / max(float(np.max(np.abs(X.T @ r))), 1e-300))
        primal = 0.5 * r @ r + alpha * np.sum(np.abs(w))
        dual = -0.5 * v @ v + y @ v
        out.append((primal - dual) / (y @ y))
    return np.asarray(out)


def coef_rel_diff(coef: np.ndarray, ref: np.ndarray) -> float:
    """Largest coefficient difference over the path, relative to the largest coefficient."""
    return float(np.max(np.abs(coef - ref)) / np.max(np.abs(ref)))


# --------------------------------------------------------------------------------------------
# The libraries: each returns (coef (K, p), outer iterations, CD epochs or None)


def _solvers(X: Any, y: np.ndarray, s: np.ndarray) -> dict[str, Callable[[float], Any]]:
    """The libraries installed here (the accelerator image has no celer nor skglm: their rows
    are left out there and the CPU numbers of this machine stand in; benchmarks/README.md)."""
    from sklearn.linear_model import lasso_path

    def jaxreg_(tol):
        return jr.linear.path(X, y, jr.l1, s, tol=tol, fit_intercept=False)

    def sklearn_(tol):
        return lasso_path(X, y, alphas=s, tol=tol, max_iter=100_000, return_n_iter=True)

    out = {"jaxreg": jaxreg_, "sklearn": sklearn_}
    with contextlib.suppress(ImportError):
        from celer import celer_path

        def celer_(tol):
            return celer_path(X, y, "lasso", alphas=s, tol=tol, max_iter=100, return_n_iter=True)

        out["celer"] = celer_
    with contextlib.suppress(ImportError):
        from skglm.datafits import Quadratic
        from skglm.penalties import L1
        from skglm.solvers import AndersonCD

        def skglm_(tol):
            solver = AndersonCD(tol=tol, fit_intercept=False, max_iter=100)
            return solver.path(X, y, Quadratic(), L1(1.0), s, return_n_iter=True)

        out["skglm"] = skglm_
    return out


def _unpack(name: str, out: Any) -> tuple[np.ndarray, int, int | None]:
    if name == "jaxreg":
        return np.asarray(out.coef), int(out.iterations.sum()), int(out.epochs.sum())
    if name == "sklearn":  # (alphas, coefs (p, K), gaps, n_iter = CD epochs per strength)
        return np.asarray(out[1]).T, None, int(np.sum(out[3]))
    # celer: (alphas, coefs, gaps, n_iters = gaps recorded = outer iterations + 1)
    # skglm: (alphas, coefs, stop_crits, n_iters = outer iterations)
    its = int(np.sum(out[-1])) - (len(out[-1]) if name == "celer" else 0)
    return np.asarray(out[1]).T, its, None


def _blas_one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def compare(
    label: str,
    X: Any,
    y: np.ndarray,
    K: int,
    *,
    rounds: int,
    accuracy: bool,
    progress: Callable[[str], None],
    extra: dict[str, Any],
) -> list[dict[str, Any]]:
    s = strengths(X, y, K)
    solvers = _solvers(X, y, s)
    with _blas_one_thread():
        timed, outs = interleaved(
            {name: lambda f=f: f(TOL) for name, f in solvers.items()},
            rounds=rounds,
            ratios_to=tuple(k for k in ("sklearn", "celer") if k in solvers),
        )
        results = {name: _unpack(name, out) for name, out in outs.items()}
        tight = {}
        if accuracy:
            tight = {name: _unpack(name, f(TIGHT_TOL))[0] for name, f in solvers.items()}
    n, p = X.shape
    rows = []
    for name in (k for k in LIBRARIES if k in results):
        coef, its, epochs = results[name]
        t = timed[name]
        row = {
            "section": "linear",
            "problem": label,
            "sparse": sp.issparse(X),
            "n": n,
            "p": p,
            "K": K,
            "dtype": "float64",
            "device": "cpu" if name != "jaxreg" else str(jax.devices()[0]),
            "library": name,
            "tol": TOL,
            "seconds": t["seconds"],
            "first_call_seconds": t["first_call_seconds"],
            "outer_iterations": its,
            "epochs": epochs,
            "support_at_smallest": int(np.sum(coef[-1] != 0)),
            "max_rel_gap": float(np.max(rel_gaps(X, y, s, coef))),
            **extra,
        }
        row |= {k: v for k, v in t.items() if k.startswith("ratio_to_")}
        if name == "jaxreg":
            row["compile_seconds"] = t["first_call_seconds"] - t["seconds"]
        row["coef_rel_diff_to_sklearn"] = coef_rel_diff(coef, results["sklearn"][0])
        if tight:
            row["coef_rel_diff_to_sklearn_tight"] = coef_rel_diff(tight[name], tight["sklearn"])
        rows.append(row)
    jx = timed["jaxreg"]
    others = ", ".join(
        f"{f'x{r:.2f} ' if (r := jx.get(f'ratio_to_{k}')) else ''}{k} {timed[k]['seconds']:.3f}s"
        for k in timed
        if k != "jaxreg"
    )
    progress(
        f"linear {label} n={n} p={p} K={K}: jaxreg {jx['seconds']:.3f}s ({others}); "
        f"first call {jx['first_call_seconds']:.1f}s"
    )
    return rows


# --------------------------------------------------------------------------------------------
# jaxreg alone on a large float32 problem (accelerators)


def large(n: int, p: int, K: int, *, progress: Callable[[str], None]) -> dict[str, Any]:
    """AR(1) design built on the device (float32; ``(p, n)`` then transposed, as jaxreg wants)."""
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    rho = 0.5

    @jax.jit
    def make(k1, k2, k3):
        z = jax.random.normal(k1, (p, n), jnp.float32)
        cols = jax.lax.scan(lambda c, zj: (rho * c + (1 - rho**2) ** 0.5 * zj,) * 2, z[0], z[1:])
        Xt = jnp.concatenate([z[:1], cols[1]])
        idx = jax.random.choice(k2, p, (min(TRUE_FEATURES, p),), replace=False)
        w = (
            jnp.zeros(p, jnp.float32)
            .at[idx]
            .set(jax.random.uniform(k3, idx.shape, jnp.float32) + 0.5)
        )
        y = w @ Xt + jax.random.normal(k3, (n,), jnp.float32)
        Xt = Xt - jnp.mean(Xt, axis=1, keepdims=True)
        return Xt.T, y - jnp.mean(y)

    X, y = jax.block_until_ready(make(k1, k2, k3))
    lmax = float(jnp.max(jnp.abs(X.T @ y))) / n
    s = jr.select.strength_grid(lmax, num=K, ratio=1e-2)

    def fit():
        return jr.linear.path(X, y, jr.l1, s, tol=TOL, fit_intercept=False, dtype=jnp.float32)

    first = once(fit)
    seconds = min(once(fit) for _ in range(2))
    res = fit()
    progress(
        f"linear large float32 n={n} p={p} K={K}: jaxreg {seconds:.2f}s "
        f"(first call {first:.1f}s), {int(res.iterations.sum())} iterations"
    )
    return {
        "section": "linear",
        "problem": "large",
        "sparse": False,
        "scan": False,
        "n": n,
        "p": p,
        "K": K,
        "dtype": "float32",
        "device": str(jax.devices()[0]),
        "library": "jaxreg",
        "tol": TOL,
        "seconds": seconds,
        "first_call_seconds": first,
        "compile_seconds": first - seconds,
        "outer_iterations": int(res.iterations.sum()),
        "epochs": int(res.epochs.sum()),
        "support_at_smallest": int(jnp.sum(res.coef[-1] != 0)),
        "converged": bool(jnp.all(res.converged)),
    }


def _sparse_jaxreg_worker(n: int, p: int, density: float, K: int) -> dict[str, Any]:
    """jaxreg alone on the sparse problem, two calls: run in its own process under a timeout."""
    with jax.enable_x64(True):
        X, y = sparse_problem(n, p, density)
        s = strengths(X, y, K)
        f = _solvers(X, y, s)["jaxreg"]
        first = once(lambda: f(TOL))
        seconds = once(lambda: f(TOL))
        coef, its, epochs = _unpack("jaxreg", f(TOL))
        return {
            "first_call_seconds": first,
            "seconds": seconds,
            "outer_iterations": its,
            "epochs": epochs,
            "support_at_smallest": int(np.sum(coef[-1] != 0)),
            "max_rel_gap": float(np.max(rel_gaps(X, y, s, coef))),
        }


def sparse_capped(
    n: int, p: int, density: float, K: int, *, timeout: float, progress: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The sparse problem when jaxreg may take too long: jaxreg in a worker under ``timeout``
    (a row with ``timed_out`` if it does not finish), the references timed in turn here."""
    X, y = sparse_problem(n, p, density)
    s = strengths(X, y, K)
    refs = {k: v for k, v in _solvers(X, y, s).items() if k != "jaxreg"}
    with _blas_one_thread():
        timed, outs = interleaved(
            {k: lambda f=f: f(TOL) for k, f in refs.items()},
            rounds=2,
            ratios_to=tuple(k for k in ("celer",) if k in refs),
        )
    common = {"section": "linear", "problem": "sparse", "sparse": True, "n": n, "p": p, "K": K}
    common |= {"dtype": "float64", "tol": TOL, "scan": False, "density": density}
    rows = []
    for name in refs:
        coef, its, epochs = _unpack(name, outs[name])
        rows.append(
            {
                **common,
                "device": "cpu",
                "library": name,
                "seconds": timed[name]["seconds"],
                "first_call_seconds": timed[name]["first_call_seconds"],
                "outer_iterations": its,
                "epochs": epochs,
                "support_at_smallest": int(np.sum(coef[-1] != 0)),
                "max_rel_gap": float(np.max(rel_gaps(X, y, s, coef))),
                **{k: v for k, v in timed[name].items() if k.startswith("ratio_to_")},
            }
        )
    row = {**common, "device": str(jax.devices()[0]), "library": "jaxreg"}
    try:
        got = json_from_worker(
            "benchmarks._linear", str(n), str(p), str(density), str(K), timeout=timeout
        )
    except subprocess.TimeoutExpired:
        row |= {"timed_out": True, "timeout_seconds": float(timeout)}
        progress(f"linear sparse n={n} p={p} K={K}: jaxreg did not finish in {timeout:.0f}s")
    else:
        row |= got
        row |= {
            f"ratio_to_{k}": got["seconds"] / timed[k]["seconds"]
            for k in ("sklearn", "celer")
            if k in timed
        }
        progress(
            f"linear sparse n={n} p={p} K={K}: jaxreg {got['seconds']:.2f}s "
            f"(x{row['ratio_to_sklearn']:.1f} sklearn, not interleaved)"
        )
    return [row, *rows]


def _rows(*, quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    if quick:
        dense = [("dense", 50, 200, 5)]
        scan_n, scan_p, scan_K = 50, (100,), 5
        sparse = (300, 2_000, 0.01, 5)
        big = (200, 200, 3)
        rounds = 1
    else:
        dense = [("dense", 500, 2_000, 30), ("dense", 1_000, 10_000, 20)]
        scan_n, scan_p, scan_K = 1_000, (1_000, 2_000, 5_000), 20
        sparse = (10_000, 100_000, 1e-3, 20)
        big = (50_000, 50_000, 10) if jax.default_backend() != "cpu" else None
        rounds = 5
    rows = []
    for label, n, p, K in dense:
        X, y = dense_problem(n, p)
        rows += compare(
            label, X, y, K, rounds=rounds, accuracy=True, progress=progress, extra={"scan": False}
        )
    for p in scan_p:
        X, y = dense_problem(scan_n, p)
        rows += compare(
            "dense",
            X,
            y,
            scan_K,
            rounds=1 if quick else 3,
            accuracy=False,
            progress=progress,
            extra={"scan": True},
        )
    if big:
        rows.append(large(*big, progress=progress))
    n, p, density, K = sparse
    if not quick and jax.default_backend() != "cpu":  # the per-coordinate loop is slow there
        return rows + sparse_capped(n, p, density, K, timeout=SPARSE_TIMEOUT, progress=progress)
    X, y = sparse_problem(n, p, density)
    rows += compare(
        "sparse",
        X,
        y,
        K,
        rounds=max(1, rounds - 2),
        accuracy=quick,  # at tol=1e-8 scikit-learn alone takes minutes on the full problem
        progress=progress,
        extra={"scan": False, "density": density},
    )
    return rows


def run(*, quick: bool, progress: Callable[[str], None], **_: Any) -> list[dict[str, Any]]:
    with jax.enable_x64(True):
        return _rows(quick=quick, progress=progress)


if __name__ == "__main__":  # the sparse worker: python -m benchmarks._linear n p density K
    a = sys.argv[1:]
    print(json.dumps(_sparse_jaxreg_worker(int(a[0]), int(a[1]), float(a[2]), int(a[3]))))
