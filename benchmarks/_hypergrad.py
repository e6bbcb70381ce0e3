r"""Section ``hypergrad``: one hypergradient against one `jr.solve` of the same problem.

A Lasso in float64: :math:`\frac{1}{2n}\lVert Xw - y\rVert^2 + \lambda\lVert w\rVert_1` on
``n`` training rows and ``p`` AR(1)-correlated Gaussian columns (neighbours correlated 0.5, 20
true features), and a validation set of ``n`` rows of the same law scored by its mean squared
error. Timed in alternating pairs (median of the per-pair ratios), both from the same start,
with the same ``tol`` and ``max_iter``:

- the candidate ``jit(value_and_grad(val_loss . solve))`` w.r.t. the strength (one
  hypergradient: its forward solve, then the adjoint, CG on the support);
- the reference ``jit(solve)`` to the parameters.

Rows: the Lasso from zeros at two strengths; a weighted l1 whose gradient is w.r.t. all ``p``
weights (one reverse pass gives ``p`` hyperparameter gradients); the Lasso warm-started from
its solution, so the forward solve stops after a step and the difference is the adjoint alone.
That row also times one Hessian-vector product (``X^T X v``, two matvecs) and counts the CG
iterations the adjoint needs (NumPy's CG on the support, same tolerance), so the adjoint's
time reads as iterations x HVPs. Each hypergradient is checked against a central finite
difference of the validation loss (solves at ``tol=1e-12``; along a random direction of the
weights for the weighted row).

float64 is switched on with ``jax.enable_x64`` inside this section only: the other sections
keep JAX's float32 default in the same process.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg as jr

from ._timing import paired

RHO = 0.5  # correlation of neighbouring columns
TRUE_FEATURES = 20
FD_TOL = 1e-12  # the finite-difference solves: tighter than the timed ones


def design(rng: np.random.Generator, n: int, p: int) -> np.ndarray:
    """``n`` rows of an AR(1) Gaussian: unit-variance columns, corr(j, j+1) = RHO."""
    z = rng.standard_normal((n, p))
    x = np.empty_like(z)
    x[:, 0] = z[:, 0]
    scale = np.sqrt(1 - RHO**2)
    for j in range(1, p):
        x[:, j] = RHO * x[:, j - 1] + scale * z[:, j]
    return x


def problem(n: int, p: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = np.zeros(p)
    k = min(TRUE_FEATURES, p)
    idx = rng.choice(p, k, replace=False)
    w[idx] = rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 2.0, k)
    X, Xv = design(rng, n, p), design(rng, n, p)
    return {
        "X": X,
        "y": X @ w + rng.standard_normal(n),
        "Xv": Xv,
        "yv": Xv @ w + rng.standard_normal(n),
    }


def _loss(X: jax.Array, y: jax.Array) -> Callable[[jax.Array], jax.Array]:
    return lambda w: 0.5 / X.shape[0] * jnp.sum((X @ w - y) ** 2)


def _mse(X: jax.Array, y: jax.Array) -> Callable[[jax.Array], jax.Array]:
    return lambda w: jnp.mean((X @ w - y) ** 2)


def _cg_iterations(H: np.ndarray, b: np.ndarray, tol: float) -> int:
    """Iterations of plain CG (x0 = 0) to ``||r|| <= tol ||b||``, as jax.scipy's cg stops."""
    x, r = np.zeros_like(b), b.copy()
    d, rr, stop = r.copy(), r @ r, (tol * np.linalg.norm(b)) ** 2
    for k in range(10 * len(b)):
        if rr <= stop:
            return k
        hd = H @ d
        a = rr / (d @ hd)
        x, r = x + a * d, r - a * hd
        rr, rr_old = r @ r, rr
        d = r + (rr / rr_old) * d
    return 10 * len(b)


def _rows(*, quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    n, p = (50, 200) if quick else (1000, 10_000)
    pairs, inner = (2, 1) if quick else (5, 2)
    tol, max_iter = 1e-8, 10_000
    device = str(jax.devices()[0])
    data = {k: jax.block_until_ready(jnp.asarray(v)) for k, v in problem(n, p).items()}
    X, y, Xv, yv = data["X"], data["y"], data["Xv"], data["yv"]
    lam_max = float(jnp.max(jnp.abs(X.T @ y)) / n)

    def solve(pen, X, y, w0, tol=tol):
        return jr.solve(_loss(X, y), pen, w0, max_iter=max_iter, tol=tol)

    # The data are arguments, not closed-over constants: XLA would fold 80 MB constants.
    solve_l1 = jax.jit(lambda s, X, y, w0: solve(jr.l1(s), X, y, w0))
    solve_wl1 = jax.jit(lambda s, v, X, y, w0: solve(jr.l1(s, weights=v), X, y, w0))

    def val_l1(s, X, y, Xv, yv, w0, tol=tol):
        return _mse(Xv, yv)(solve(jr.l1(s), X, y, w0, tol)[0])

    def val_wl1(v, s, X, y, Xv, yv, w0, tol=tol):
        return _mse(Xv, yv)(solve(jr.l1(s, weights=v), X, y, w0, tol)[0])

    hyper_l1 = jax.jit(jax.value_and_grad(val_l1))
    hyper_wl1 = jax.jit(jax.value_and_grad(val_wl1))
    fd_l1 = jax.jit(lambda s, *a: val_l1(s, *a, tol=FD_TOL))
    fd_wl1 = jax.jit(lambda v, *a: val_wl1(v, *a, tol=FD_TOL))

    def hvp_fn(X, v):  # the adjoint's matvec: jvp of the gradient, X^T X v / n
        return jax.jvp(jax.grad(_loss(X, jnp.zeros(X.shape[0]))), (jnp.zeros_like(v),), (v,))[1]

    hvp = jax.jit(hvp_fn)
    zeros = jnp.zeros(p)
    common = {"section": "hypergrad", "device": device, "dtype": "float64", "n": n, "p": p}
    common |= {"n_val": n, "tol": tol, "max_iter": max_iter}

    rows = []
    for divisor in (10, 20):
        s = jnp.asarray(lam_max / divisor)
        w, info = solve_l1(s, X, y, zeros)
        r = paired(
            lambda: hyper_l1(s, X, y, Xv, yv, zeros),  # noqa: B023
            lambda: solve_l1(s, X, y, zeros),  # noqa: B023
            pairs=pairs,
            inner=inner,
        )
        _, g = hyper_l1(s, X, y, Xv, yv, zeros)
        h = 1e-4 * float(s)
        fd = (fd_l1(s + h, X, y, Xv, yv, zeros) - fd_l1(s - h, X, y, Xv, yv, zeros)) / (2 * h)
        row = {
            **common,
            "case": "lasso",
            "start": "zeros",
            "strength": f"lambda_max/{divisor}",
            "hyperparameters": 1,
            "seconds": r["seconds"],
            "solve_seconds": r["reference_seconds"],
            "ratio_to_solve": r["ratio"],
            "solve_iterations": int(info.iterations),
            "support": int(jnp.sum(w != 0)),
            "fd_rel_error": float(abs(g - fd) / abs(fd)),
        }
        rows.append(row)
        progress(
            f"hypergrad lasso lambda_max/{divisor}: x{r['ratio']:.2f} of one solve "
            f"({r['seconds']:.3f}s vs {r['reference_seconds']:.3f}s, "
            f"{row['solve_iterations']} iterations, support {row['support']})"
        )
        if divisor == 20:
            # warm start at the solution: the forward solve stops after a step or two, so the
            # hypergradient's extra time over the warm solve is the adjoint alone
            _, winfo = solve_l1(s, X, y, w)
            rw = paired(
                lambda: hyper_l1(s, X, y, Xv, yv, w),  # noqa: B023
                lambda: solve_l1(s, X, y, w),  # noqa: B023
                pairs=pairs,
                inner=inner,
            )
            # each against one HVP in its own alternating pairs: this machine drifts
            in_hvps = {
                name: paired(fn, lambda: hvp(X, zeros), pairs=pairs, inner=inner)  # noqa: B023
                for name, fn in (
                    ("hyper_warm", lambda: hyper_l1(s, X, y, Xv, yv, w)),  # noqa: B023
                    ("solve_warm", lambda: solve_l1(s, X, y, w)),  # noqa: B023
                    ("solve_cold", lambda: solve_l1(s, X, y, zeros)),  # noqa: B023
                )
            }
            hvp_s = median(r["reference_seconds"] for r in in_hvps.values())
            adjoint_hvps = in_hvps["hyper_warm"]["ratio"] - in_hvps["solve_warm"]["ratio"]
            cold_hvps = in_hvps["solve_cold"]["ratio"]
            A = np.flatnonzero(np.asarray(w))
            XA = np.asarray(X)[:, A]
            gval = 2.0 / n * (np.asarray(Xv).T @ (np.asarray(Xv) @ np.asarray(w) - np.asarray(yv)))
            cg_tol = max(tol, 10 * float(np.finfo(np.float64).eps))
            cg_its = _cg_iterations(XA.T @ XA / n, gval[A], cg_tol)
            rows.append(
                {
                    **row,
                    "case": "lasso (warm start)",
                    "start": "solution",
                    "seconds": rw["seconds"],
                    "solve_seconds": rw["reference_seconds"],
                    "ratio_to_solve": rw["ratio"],
                    "solve_iterations": int(winfo.iterations),
                    "hvp_seconds": hvp_s,
                    "cg_iterations": cg_its,
                    "adjoint_over_hvp": adjoint_hvps,
                    "cold_solve_over_hvp": cold_hvps,
                    "adjoint_over_cold_solve": adjoint_hvps / cold_hvps,
                }
            )
            progress(
                f"hypergrad lasso warm: x{rw['ratio']:.2f} of the warm solve; adjoint "
                f"{adjoint_hvps:.1f} HVPs of {hvp_s * 1e3:.2f} ms ({cg_its} CG iterations); "
                f"cold solve {cold_hvps:.0f} HVPs"
            )
    # weighted l1: the gradient w.r.t. all p weights in one reverse pass
    s = jnp.asarray(lam_max / 20)
    v = jnp.asarray(np.random.default_rng(1).uniform(0.5, 1.5, p))
    w, info = solve_wl1(s, v, X, y, zeros)
    r = paired(
        lambda: hyper_wl1(v, s, X, y, Xv, yv, zeros),
        lambda: solve_wl1(s, v, X, y, zeros),
        pairs=pairs,
        inner=inner,
    )
    _, g = hyper_wl1(v, s, X, y, Xv, yv, zeros)
    d = jnp.asarray(np.random.default_rng(2).standard_normal(p))
    h = 1e-4
    fd = (fd_wl1(v + h * d, s, X, y, Xv, yv, zeros) - fd_wl1(v - h * d, s, X, y, Xv, yv, zeros)) / (
        2 * h
    )
    row = {
        **common,
        "case": "weighted l1",
        "start": "zeros",
        "strength": "lambda_max/20",
        "hyperparameters": p,
        "seconds": r["seconds"],
        "solve_seconds": r["reference_seconds"],
        "ratio_to_solve": r["ratio"],
        "solve_iterations": int(info.iterations),
        "support": int(jnp.sum(w != 0)),
        "fd_rel_error": float(abs(jnp.vdot(g, d) - fd) / abs(fd)),
    }
    rows.append(row)
    progress(
        f"hypergrad weighted l1 ({p} weights): x{r['ratio']:.2f} of one solve "
        f"({row['solve_iterations']} iterations, support {row['support']})"
    )
    return rows


def run(*, quick: bool, progress: Callable[[str], None], **_: Any) -> list[dict[str, Any]]:
    with jax.enable_x64(True):
        return _rows(quick=quick, progress=progress)
