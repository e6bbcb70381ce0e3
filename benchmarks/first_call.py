"""`jr.linear`'s first call, as a user meets it: ``python -m benchmarks.first_call [CASE ...]``.

Each case runs in a fresh process (``--repeats`` of them; the median is reported): imports and
data first, untimed; then the **first call** (tracing, compilation and the solve), a second
call with new data of the same shape (``y`` perturbed: it must not compile again), and the
**compiled** time (median of 3 more calls). Beside the times: the XLA programs compiled by
the first and by the second call (JAX's ``backend_compile`` events), their compile seconds,
and the StableHLO lines of the driver's program. ``--cache DIR`` turns on JAX's persistent
compilation cache in DIR (every program cached): run twice to see a second process's first
call. The defaults are a user's: float32, an intercept, ``tol=1e-4``, the strengths
``jr.select.strength_grid(lambda_max)`` (100 of them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

CASES = {
    "fit-diabetes": "fit on diabetes (n=442, p=10), jr.l1(0.1)",
    "path-diabetes": "path on diabetes, builder jr.l1, 100 strengths",
    "path-template-diabetes": "path on diabetes, template jr.l1(1.0), 100 strengths",
    "cv-diabetes": "cross_validate on diabetes, jr.l1, 100 strengths, 5 folds",
    "path-500x2000": "path, dense Gaussian n=500, p=2,000, lasso, 100 strengths",
    "path-template-500x2000": "the same with the template jr.l1(1.0)",
    "path-tall": "path, tall n=20,000, p=200, K=50, tol=1e-6",
}


def _data(case: str, seed: int):
    import numpy as np

    if "diabetes" in case:
        from sklearn.datasets import load_diabetes

        bunch: Any = load_diabetes()
        X, y = np.asarray(bunch["data"], float), np.asarray(bunch["target"], float)
        rng = np.random.default_rng(seed)
        return X, y + (0.0 if seed == 0 else rng.normal(size=y.shape)), None
    rng = np.random.default_rng(0)
    n, p, k = (20_000, 200, 50) if case == "path-tall" else (500, 2_000, 100)
    X = rng.normal(size=(n, p))
    w = np.zeros(p)
    w[:20] = rng.normal(size=20)
    y = X @ w + rng.normal(size=n) + (0.0 if seed == 0 else 0.1 * seed)
    return X, y, k


def _strengths(X, y, k):
    import numpy as np

    import jaxreg as jr

    xc, yc = X - X.mean(0), y - y.mean()
    return jr.select.strength_grid(np.max(np.abs(xc.T @ yc)) / len(y), num=k or 100)


def _call(case: str, X, y, strengths):
    import jax

    import jaxreg as jr

    if case == "fit-diabetes":
        out = jr.linear.fit(X, y, jr.l1(0.1))
    elif case == "cv-diabetes":
        out = jr.linear.cross_validate(X, y, jr.l1, strengths)
        return out.best_strength
    else:
        pen = jr.l1(1.0) if "template" in case else jr.l1
        tol = 1e-6 if case == "path-tall" else 1e-4
        out = jr.linear.path(X, y, pen, strengths, tol=tol)
    return jax.block_until_ready(out.coef)


def _hlo_lines(case: str, X, y, strengths) -> int | None:
    """The driver's StableHLO lines (`fit_compiled` / `path_compiled` lowered again)."""
    import jax.numpy as jnp
    import numpy as np

    import jaxreg as jr
    from jaxreg._linear import _checks, _compiled, _options

    if case == "cv-diabetes":
        return None
    opts = _options.solver_options(
        tol=1e-4, loss="squared", huber_delta=1.35, fit_intercept=True, max_iter=100,
        max_epochs=10_000, ws_min=10, anderson=5,
    )  # fmt: skip
    cols, yj, s, _, p, dtype = _checks.prepare(X, y, None, opts.datafit, None)
    if case == "fit-diabetes":
        w0, b0 = jnp.zeros(p, dtype), jnp.zeros((), dtype)
        low = _compiled.fit_compiled.lower(cols, yj, s, jr.l1(0.1), w0, b0, 1e-4, options=opts)
    else:
        pen = jr.l1(1.0) if "template" in case else jr.l1
        st, build, template = _checks.path_args(np.asarray(strengths), pen, p, dtype)
        low = _compiled.path_compiled.lower(
            cols, yj, s, st, 1e-4, None, template, build=build, options=opts
        )
    return low.as_text().count("\n")


def _child(case: str, cache: str | None) -> dict[str, Any]:
    import jax

    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    compiles: list[float] = []

    def listen(event: str, duration_secs: float, **_: Any) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration_secs)

    jax.monitoring.register_event_duration_secs_listener(listen)
    import jaxreg as jr  # noqa: F401  (imports untimed)

    X, y, k = _data(case, 0)
    strengths = _strengths(X, y, k)
    X2, y2, _ = _data(case, 1)
    start, cpu = time.perf_counter(), time.process_time()
    _call(case, X, y, strengths)
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    first_programs, first_compile = len(compiles), sum(compiles)
    compiles.clear()
    start = time.perf_counter()
    _call(case, X2, y2, strengths)
    second = time.perf_counter() - start
    second_programs = len(compiles)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        _call(case, X, y, strengths)
        times.append(time.perf_counter() - start)
    return {
        "first_call_s": first,
        "first_call_cpu_s": first_cpu,
        "second_call_s": second,
        "compiled_s": statistics.median(times),
        "programs_first": first_programs,
        "compile_s_first": first_compile,
        "programs_second": second_programs,
        "hlo_lines": _hlo_lines(case, X, y, strengths),
    }


def _run(case: str, cache: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.first_call", "--child", case]
    if cache:
        cmd += ["--cache", cache]
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(f"{case} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("cases", nargs="*", default=list(CASES), help=", ".join(CASES))
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per case")
    ap.add_argument("--cache", help="a persistent compilation cache folder")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.cache)))
        return
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    for case in args.cases:
        runs = [_run(case, args.cache) for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if runs[0][k] is not None}
        firsts = " ".join(f"{r['first_call_s']:.2f}" for r in runs)
        print(
            f"{case:24s} first {med['first_call_s']:6.2f}s ({firsts}; CPU "
            f"{med['first_call_cpu_s']:.2f}s)  second "
            f"{med['second_call_s']:6.3f}s  compiled {med['compiled_s']:6.3f}s  programs "
            f"{med['programs_first']:.0f} ({med['compile_s_first']:.2f}s) then "
            f"{med['programs_second']:.0f}  HLO lines {med.get('hlo_lines', float('nan')):.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
