r"""The solvers of the linear benchmark, each mapped onto ``_linear_objective``'s objective.

Each ``solve`` takes a `Problem` and a tolerance (in the solver's own meaning) and returns the
path's coefficients ``(K, p)``. ``PEERS`` run in their own environment (``.venv-peers``, NumPy
< 2: ``make peers``), the others in the project's. Conventions, read in each library's sources
and docs (and checked: the benchmark scores every path with one objective):

- scikit-learn: ``lasso_path`` / ``enet_path`` minimise ours with ``alpha`` = :math:`\lambda`;
  ``LogisticRegression`` minimises :math:`C\sum_i \ell_i + \lVert w\rVert_1`, so
  :math:`C = 1/(n\lambda)` (liblinear, its L1 solver; no path, one fit per strength).
- celer: ``celer_path`` lasso / elastic net / group lasso as ours (``alpha`` = :math:`\lambda`,
  ``groups`` = group size, unit group weights); ``"logreg"`` is a sum over samples, so
  ``alpha`` = :math:`n\lambda`, labels in {-1, 1}.
- skglm: ``Quadratic`` is :math:`\frac{1}{2n}\lVert y - Xw\rVert^2`, ``Logistic`` a mean
  (labels in {-1, 1}), ``L1_plus_L2(alpha, l1_ratio)`` as ours; ``GroupBCD`` has no path:
  warm-started fits.
- glmnet (python-glmnet, the Fortran glmnet): gaussian
  :math:`\frac{1}{2n}\sum_i (y_i - x_i^\top w)^2 + \lambda(\alpha\lVert w\rVert_1 +
  \frac{1-\alpha}{2}\lVert w\rVert_2^2)` with weights :math:`1/n`: its ``lambda`` is ours, its
  ``alpha`` our ``l1_ratio``, except that it scales ``y`` to unit variance inside and its l2
  term with it (its elastic net was 3% off ours): it gets ``y / sd(y)`` and the strength and
  ratio that undo that. Binomial: the mean log-likelihood. ``standardize=False`` (glmnet
  scales columns by default), ``fit_intercept=False``, ``n_splits=0`` (no cross-validation).
- adelie: ``grpnet`` with weights :math:`1/n` (its default), ``alpha`` = ``l1_ratio``,
  ``penalty`` = 1 per group (its default is :math:`\sqrt{|g|}`), ``intercept=False``,
  ``early_exit=False`` (else the path stops once the deviance explained saturates).
- glum: ``GeneralizedLinearRegressor`` minimises the mean half deviance plus
  :math:`\alpha(\rho\lVert w\rVert_1 + \frac{1-\rho}{2}\lVert w\rVert^2)`: the same;
  ``alpha_search`` with our strengths is its warm-started path.

``python -m benchmarks._linear_solvers SOLVER PROBLEM.npz TOL OUT.npz`` times one solver in a
fresh process (imports excluded) and prints a JSON line; NumPy and SciPy only at import.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._linear_problems import Problem, load

PEERS = ("glmnet", "adelie", "glum")


@functools.cache
def _jaxreg_penalty(kind: str, l1_ratio: float, group_size: int) -> Any:
    """One builder per problem, made once: a new closure each call would compile each call."""
    import jaxreg as jr

    if kind == "enet":
        return lambda s: jr.elastic_net(s, l1_ratio=l1_ratio)
    if kind == "group":
        return lambda s: jr.group_lasso(s, reshape=(-1, group_size))
    return jr.l1


def _jaxreg(pb: Problem, tol: float) -> np.ndarray:
    import jaxreg as jr

    penalty = _jaxreg_penalty(pb.kind, pb.l1_ratio, pb.group_size)
    loss = "logistic" if pb.kind == "logistic" else "squared"
    res = jr.linear.path(
        pb.X, pb.y, penalty, pb.strengths, loss=loss, tol=tol, fit_intercept=False, max_iter=1000
    )
    return np.asarray(res.coef)


def _sklearn(pb: Problem, tol: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression, enet_path

    if pb.kind == "logistic":
        n = pb.y.size
        out, w = [], None
        for lam in pb.strengths:  # liblinear: no warm start
            clf = LogisticRegression(
                C=1.0 / (n * lam), l1_ratio=1.0, solver="liblinear", fit_intercept=False, tol=tol,
                max_iter=10_000,
            )  # fmt: skip
            w = clf.fit(pb.X, pb.y).coef_[0]
            out.append(w)
        return np.asarray(out)
    coefs = enet_path(
        pb.X, pb.y, l1_ratio=pb.l1_ratio, alphas=pb.strengths, tol=tol, max_iter=100_000
    )[1]
    return np.asarray(coefs).T


def _celer(pb: Problem, tol: float) -> np.ndarray:
    from celer import celer_path

    if pb.kind == "logistic":
        args: tuple[Any, ...] = (pb.X, 2 * pb.y - 1, "logreg")
        alphas = pb.strengths * pb.y.size
        kw: dict[str, Any] = {}
    elif pb.kind == "group":
        args, alphas, kw = (pb.X, pb.y, "grouplasso"), pb.strengths, {"groups": pb.group_size}
    else:
        args, alphas, kw = (pb.X, pb.y, "lasso"), pb.strengths, {"l1_ratio": pb.l1_ratio}
    return np.asarray(celer_path(*args, alphas=alphas, tol=tol, max_iter=100, **kw)[1]).T


def _skglm(pb: Problem, tol: float) -> np.ndarray:
    from skglm.datafits import Logistic, Quadratic, QuadraticGroup
    from skglm.penalties import L1, L1_plus_L2, WeightedGroupL2
    from skglm.solvers import AndersonCD, GroupBCD
    from skglm.utils.data import grp_converter

    if pb.kind == "group":
        n, p = pb.shape
        grp_idx, grp_ptr = grp_converter(pb.group_size, p)
        weights = np.ones(p // pb.group_size)
        solver = GroupBCD(tol=tol, fit_intercept=False, max_iter=1000)
        datafit, out, w = QuadraticGroup(grp_ptr, grp_idx), [], np.zeros(p)
        for lam in pb.strengths:  # warm starts (it updates w and Xw in place: copies)
            penalty = WeightedGroupL2(lam, weights, grp_ptr, grp_idx)
            w = solver.solve(pb.X, pb.y, datafit, penalty, w.copy(), pb.X @ w)[0]
            out.append(w)
        return np.asarray(out)
    penalty = L1_plus_L2(1.0, pb.l1_ratio) if pb.kind == "enet" else L1(1.0)
    datafit, y = (Logistic(), 2 * pb.y - 1) if pb.kind == "logistic" else (Quadratic(), pb.y)
    solver = AndersonCD(tol=tol, fit_intercept=False, max_iter=1000)
    return np.asarray(solver.path(pb.X, y, datafit, penalty, pb.strengths)[1]).T


def _glmnet(pb: Problem, tol: float) -> np.ndarray:
    from glmnet import ElasticNet, LogitNet

    y, lam, l1_ratio, scale = pb.y, pb.strengths, pb.l1_ratio, 1.0
    if pb.kind != "logistic" and l1_ratio < 1:
        # glmnet scales y to unit variance inside and its l2 term with it: give it y / s, and
        # the strength and ratio that make both terms ours (s**2 F(w) = its objective at w/s)
        scale = float(np.sqrt(np.mean(y**2)))
        y, lam = y / scale, pb.strengths * (l1_ratio / scale + 1 - l1_ratio)
        l1_ratio = (l1_ratio / scale) / (l1_ratio / scale + 1 - l1_ratio)
    cls = LogitNet if pb.kind == "logistic" else ElasticNet
    model = cls(
        alpha=l1_ratio, lambda_path=lam, standardize=False, fit_intercept=False, n_splits=0,
        tol=tol, max_iter=1_000_000,
    )  # fmt: skip
    model.fit(pb.X, y)
    coef = scale * np.asarray(model.coef_path_).reshape(pb.shape[1], -1).T  # binomial (1, p, K)
    if coef.shape[0] != pb.strengths.size:  # glmnet stops a path early when it saturates
        coef = np.vstack([coef, np.full((pb.strengths.size - coef.shape[0], pb.shape[1]), np.nan)])
    return coef


def _adelie(pb: Problem, tol: float) -> np.ndarray:
    import adelie as ad

    n, p = pb.shape
    X = ad.matrix.sparse(pb.X) if sp.issparse(pb.X) else pb.X
    glm = ad.glm.binomial(pb.y) if pb.kind == "logistic" else ad.glm.gaussian(pb.y)
    groups = np.arange(0, p, pb.group_size)
    state = ad.grpnet(
        X, glm, groups=groups, penalty=np.ones(groups.size), alpha=pb.l1_ratio,
        lmda_path=pb.strengths, tol=tol, intercept=False, early_exit=False, progress_bar=False,
    )  # fmt: skip
    return np.asarray(state.betas.toarray())


def _glum(pb: Problem, tol: float) -> np.ndarray:
    from glum import GeneralizedLinearRegressor

    model = GeneralizedLinearRegressor(
        family="binomial" if pb.kind == "logistic" else "normal", alpha_search=True,
        alphas=pb.strengths, l1_ratio=pb.l1_ratio, fit_intercept=False, gradient_tol=tol,
        max_iter=1000,
    )  # fmt: skip
    model.fit(pb.X, pb.y)
    return np.asarray(model.coef_path_)


SOLVERS: dict[str, Callable[[Problem, float], np.ndarray]] = {
    "jaxreg": _jaxreg,
    "sklearn": _sklearn,
    "celer": _celer,
    "skglm": _skglm,
    "glmnet": _glmnet,
    "adelie": _adelie,
    "glum": _glum,
}
IMPORTS = {
    "jaxreg": ("jax", "jaxreg"),
    "sklearn": ("sklearn.linear_model",),
    "celer": ("celer",),
    "skglm": ("skglm.solvers", "skglm.datafits", "skglm.penalties"),
    "glmnet": ("glmnet",),
    "adelie": ("adelie",),
    "glum": ("glum",),
}


def supports(solver: str, pb: Problem) -> bool:
    """Whether ``solver`` has this problem's objective (none but jaxreg, celer, skglm and
    adelie have the group lasso; glum has no group penalty of this form)."""
    return pb.kind != "group" or solver in ("jaxreg", "celer", "skglm", "adelie")


def prepare(solver: str) -> None:
    """Import what ``solver`` needs (kept out of its first call's time)."""
    import importlib

    for module in IMPORTS[solver]:
        importlib.import_module(module)
    if solver == "jaxreg":
        import jax

        jax.config.update("jax_enable_x64", True)


def measure(
    solver: str, pb: Problem, tol: float, *, repeats: int = 3
) -> tuple[np.ndarray, dict[str, float]]:
    """The path and its times: the first call, then the median of ``repeats`` more calls (1
    when one takes over a second: its noise is relatively small)."""
    fn = SOLVERS[solver]
    start = time.perf_counter()
    coef = fn(pb, tol)
    first = time.perf_counter() - start
    times: list[float] = []
    while len(times) < (repeats if not times or times[0] < 1.0 else 1):
        start = time.perf_counter()
        coef = fn(pb, tol)
        times.append(time.perf_counter() - start)
    return coef, {"first_call_seconds": first, "seconds": statistics.median(times)}


def peak_mb() -> float:
    """This process's peak resident set, MB: ``VmHWM`` (``ru_maxrss`` would count the parent's
    pages: Linux keeps it across fork and exec)."""
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kib / 1024


def main(argv: list[str]) -> int:
    solver, problem, tol, out = argv
    if limit := os.environ.get("JAXREG_BENCH_RLIMIT_AS"):  # bytes, set by the parent
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    prepare(solver)
    baseline = peak_mb()
    pb = load(problem)
    coef, times = measure(solver, pb, float(tol))
    np.save(out, coef)
    print(json.dumps(times | {"peak_mb": peak_mb(), "baseline_mb": baseline}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
