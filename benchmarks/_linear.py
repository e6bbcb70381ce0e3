r"""Section ``linear``: penalized linear-model paths by `jr.linear.path` against the fastest
solvers there are: scikit-learn, celer, skglm, glmnet (Fortran), adelie (C++) and glum.

The problems (``_linear_problems.py``): Lasso paths on dense designs (AR(1), also n >> p and
strongly correlated), an elastic net, a logistic L1 path, a group lasso and sparse designs (a
uniform one and a text-like one with power-law column frequencies). Every solver's path is
scored with one NumPy objective (``_linear_objective.py``) in jaxreg's scaling, each library's
convention mapped onto it (``_linear_solvers.py``).

**Tolerances reach the same suboptimality.** Each library's ``tol`` means something else, so
each solver starts at a tolerance of its own (``START_TOL``: the problem's target, a hundredth
of it for glmnet and adelie, whose coordinate-change criteria leave about 100x their ``tol`` in
objective) and, while its worst relative suboptimality on the path exceeds the problem's
``target`` (1e-6 of :math:`F(0)`), is run again at a tolerance 10x tighter (at most
``TIGHTENINGS`` times). The suboptimality is against the best objective any solver reached
at each strength, recomputed after every round; the rows report the tolerance that reached
it (or the tightest tried).

**Times.** Each (problem, solver) runs in a fresh process (``python -m
benchmarks._linear_solvers``; the peers in their own environment, ``.venv-peers``, which ``make
peers`` builds, NumPy < 2): imports first, untimed, then the first call (compilation included:
jaxreg's XLA, skglm's numba) and the median of 3 more calls (1 when a call takes over a
second): first call and compiled time side by side. Peak memory: the process's ``VmHWM``
(interpreter, imports and the problem included; ``baseline_mb`` is after the imports). Every
process runs under ``RLIMIT_AS`` = 8 GB and a timeout: a process that dies of memory is
reported "out of memory", one over the timeout "timed out". The NumPy-based solvers get one
BLAS thread (their coordinate updates are length-``n`` dots, which OpenBLAS threads slow down
on this 2-core machine); XLA keeps its own pool.

``--quick`` runs tiny problems (one per generator and kind) in this process, the peers (not
glum) in theirs when ``.venv-peers`` is there, skglm on the Lasso problems only (numba
compiles each datafit and penalty for tens of seconds): it checks the machinery, not speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg as jr

from ._linear_objective import objective, suboptimality
from ._linear_problems import Problem, problems
from ._linear_solvers import PEERS, SOLVERS, measure, prepare, supports
from ._timing import once

ROOT = Path(__file__).resolve().parent.parent
START_TOL = {"glmnet": 1e-2, "adelie": 1e-2}  # times the target; 1 for the others
TIGHTENINGS = 2
MEMORY_LIMIT = 8 * 2**30
TIMEOUT = {"glum": 60.0}  # seconds per process; TIMEOUT_DEFAULT for the others
TIMEOUT_DEFAULT = 300.0
_OOM = ("RESOURCE_EXHAUSTED", "MemoryError", "bad_alloc", "Out of memory", "Cannot allocate")


def peers_python() -> Path | None:
    """The peers' interpreter: ``$JAXREG_BENCH_PEERS_PYTHON`` or ``.venv-peers/bin/python``."""
    path = Path(os.environ.get("JAXREG_BENCH_PEERS_PYTHON", ROOT / ".venv-peers/bin/python"))
    return path if path.exists() else None


DISTRIBUTIONS = {
    "jaxreg": "jax", "sklearn": "scikit-learn", "celer": "celer", "skglm": "skglm",
    "glmnet": "python-glmnet", "adelie": "adelie", "glum": "glum",
}  # fmt: skip


def versions(peers: Path | None) -> dict[str, str]:
    """Each solver's distribution version (jaxreg: JAX's), the peers' read in their environment."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for k, d in json.loads(sys.argv[1]).items():\n"
        "    try: out[k] = m.version(d)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    out = {}
    for python, names in ((sys.executable, SOLVERS), (peers, PEERS)):
        if python is None:
            continue
        wanted = json.dumps(
            {k: DISTRIBUTIONS[k] for k in names if k not in PEERS or python == peers}
        )
        proc = subprocess.run(
            [str(python), "-c", script, wanted], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            out |= json.loads(proc.stdout)
    return out


def run_worker(
    solver: str, problem: Path, tol: float, out: Path, *, python: str
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """One solver on one saved problem in a fresh process: ``(coef or None, what it reported
    or its ``status``)``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAXREG_BENCH_RLIMIT_AS=str(MEMORY_LIMIT))
    if solver != "jaxreg":
        env |= {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    timeout = TIMEOUT.get(solver, TIMEOUT_DEFAULT)
    cmd = [python, "-m", "benchmarks._linear_solvers", solver, str(problem), repr(tol), str(out)]
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, {"status": "timed out", "timeout_seconds": timeout}
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or ["?"]
        named = [line for line in lines if any(s in line for s in _OOM)]
        oom = proc.returncode < 0 or bool(named)
        error = (named or lines)[-1].strip()[:200]
        return None, {"status": "out of memory" if oom else "failed", "error": error}
    return np.load(out), {"status": "ok", **json.loads(proc.stdout.strip().splitlines()[-1])}


def _in_process(solver: str, pb: Problem, tol: float) -> tuple[np.ndarray, dict[str, Any]]:
    prepare(solver)
    coef, times = measure(solver, pb, tol, repeats=1)
    return coef, {"status": "ok", **times}


def compare(
    pb: Problem,
    solvers: dict[str, Callable[[str, float], tuple[np.ndarray | None, dict[str, Any]]]],
    *,
    progress: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Every solver on ``pb``, tightening each one's tolerance until it reaches the target."""
    tols = {s: pb.target * START_TOL.get(s, 1.0) for s in solvers}
    got: dict[str, tuple[np.ndarray | None, dict[str, Any]]] = {}
    values: dict[str, np.ndarray] = {}
    worst: dict[str, float] = {}
    todo, tries = list(solvers), dict.fromkeys(solvers, 0)
    while todo:
        for s in todo:
            got[s] = solvers[s](s, tols[s])
            tries[s] += 1
            if got[s][0] is not None:
                values[s] = objective(pb, got[s][0])
        if not values:
            break
        best = np.nanmin(np.stack(list(values.values())), axis=0)
        worst = {s: float(np.nanmax(suboptimality(pb, v, best))) for s, v in values.items()}
        todo = [s for s in values if worst[s] > pb.target and tries[s] <= TIGHTENINGS]
        for s in todo:
            tols[s] /= 10
    reached = [s for s in values if worst[s] <= pb.target]
    pool = reached or list(values)
    fastest = min((got[s][1]["seconds"] for s in pool), default=None)
    fastest_first = min((got[s][1]["first_call_seconds"] for s in pool), default=None)
    n, p = pb.shape
    rows = []
    for s in solvers:
        coef, info = got[s]
        row = {
            "section": "linear",
            "problem": pb.name,
            "description": pb.description,
            "kind": pb.kind,
            "sparse": pb.sparse,
            "n": n,
            "p": p,
            "K": int(pb.strengths.size),
            "dtype": "float64",
            "library": s,
            "device": str(jax.devices()[0]) if s == "jaxreg" else "cpu",
            "tol": tols[s],
            "tries": tries[s],
            "target": pb.target,
            **info,
        }
        if pb.sparse:
            row["density"] = pb.X.nnz / (n * p)
        if coef is not None:
            row["max_rel_subopt"] = worst[s]
            row["reached_target"] = worst[s] <= pb.target
            row["support_at_smallest"] = int(np.sum(coef[-1] != 0))
            row["ratio_to_fastest"] = info["seconds"] / fastest
            row["first_call_ratio_to_fastest"] = info["first_call_seconds"] / fastest_first
        rows.append(row)
    summary = ", ".join(
        f"{r['library']} {r['seconds']:.3f}s/{r['first_call_seconds']:.2f}s"
        if r["status"] == "ok"
        else f"{r['library']} {r['status']}"
        for r in rows
    )
    progress(f"linear {pb.name} n={n} p={p} K={pb.strengths.size} (compiled/first): {summary}")
    return rows


def _rows(*, quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    peers = peers_python()
    if peers is None:
        where = os.environ.get("JAXREG_BENCH_PEERS_PYTHON", ROOT / ".venv-peers/bin/python")
        progress(
            f"linear: {', '.join(PEERS)} skipped: no peers environment ({where} is missing; "
            "make peers builds .venv-peers, or set JAXREG_BENCH_PEERS_PYTHON)"
        )
    version = versions(peers)
    rows: list[dict[str, Any]] = []
    gave_up: dict[str, int] = {}  # solver -> n * p of the problem it timed out on
    with tempfile.TemporaryDirectory() as tmp:
        for i, pb in enumerate(problems(quick=quick)):
            path = Path(tmp) / f"problem{i}.npz"
            pb.save(path)

            def worker(s, tol, path=path, i=i):
                python = str(peers) if s in PEERS else sys.executable
                return run_worker(s, path, tol, Path(tmp) / f"coef{i}-{s}.npy", python=python)

            solvers: dict[str, Any] = {}
            for s in SOLVERS:
                if not supports(s, pb) or (s in PEERS and peers is None):
                    continue
                if quick and (s == "glum" or (s == "skglm" and pb.kind != "lasso")):
                    continue
                if gave_up.get(s, np.inf) <= pb.shape[0] * pb.shape[1]:
                    progress(f"linear {pb.name}: {s} skipped (timed out on a smaller problem)")
                    continue
                local = quick and s not in PEERS
                solvers[s] = (lambda s, tol, pb=pb: _in_process(s, pb, tol)) if local else worker
            got = compare(pb, solvers, progress=progress)
            for r in got:
                r["version"] = version.get(r["library"])
                if r["status"] == "timed out":
                    gave_up.setdefault(r["library"], r["n"] * r["p"])
            rows += got
            if partial := os.environ.get("JAXREG_BENCH_LINEAR_PARTIAL"):  # rows so far, for
                Path(partial).write_text(json.dumps(rows, indent=1) + "\n")  # long runs
    if not quick and jax.default_backend() != "cpu":
        rows.append(large(50_000, 50_000, 10, progress=progress))
    return rows


def run(*, quick: bool, progress: Callable[[str], None], **_: Any) -> list[dict[str, Any]]:
    with jax.enable_x64(True):
        return _rows(quick=quick, progress=progress)


# --------------------------------------------------------------------------------------------
# jaxreg alone on a large float32 problem (accelerators)


def large(n: int, p: int, K: int, *, progress: Callable[[str], None]) -> dict[str, Any]:
    """AR(1) design built on the device (float32; ``(p, n)`` then transposed, as jaxreg wants)."""
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    rho, tol = 0.5, 1e-4

    @jax.jit
    def make(k1, k2, k3):
        z = jax.random.normal(k1, (p, n), jnp.float32)
        cols = jax.lax.scan(lambda c, zj: (rho * c + (1 - rho**2) ** 0.5 * zj,) * 2, z[0], z[1:])
        Xt = jnp.concatenate([z[:1], cols[1]])
        idx = jax.random.choice(k2, p, (20,), replace=False)
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
        return jr.linear.path(X, y, jr.l1, s, tol=tol, fit_intercept=False, dtype=jnp.float32)

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
        "kind": "lasso",
        "sparse": False,
        "n": n,
        "p": p,
        "K": K,
        "dtype": "float32",
        "device": str(jax.devices()[0]),
        "library": "jaxreg",
        "status": "ok",
        "tol": tol,
        "seconds": seconds,
        "first_call_seconds": first,
        "support_at_smallest": int(jnp.sum(res.coef[-1] != 0)),
        "converged": bool(jnp.all(res.converged)),
    }
