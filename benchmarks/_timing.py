"""Timing helpers: medians of repeated runs, and ratios measured in alternating pairs.

This machine's speed drifts within a run, so a candidate and its reference are timed back to
back, ``pairs`` times, and the median of the per-pair ratios is reported.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jax


def once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def median_time(fn: Callable[[], Any], *, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        once(fn)
    return statistics.median(once(fn) for _ in range(repeats))


def paired(
    candidate: Callable[[], Any], reference: Callable[[], Any], *, pairs: int, inner: int = 1
) -> dict[str, float]:
    """Median candidate time, median reference time, and the median of per-pair ratios.

    A candidate slower than 0.2 s a call gets at most 3 pairs (its noise is relatively small).
    """
    once(candidate)  # warm-up (and compilation)
    once(reference)
    if once(candidate) > 0.2:
        pairs = min(pairs, 3)
    c_times, r_times, ratios = [], [], []
    for _ in range(pairs):
        c = min(once(candidate) for _ in range(inner))
        r = min(once(reference) for _ in range(inner))
        c_times.append(c)
        r_times.append(r)
        ratios.append(c / r)
    return {
        "seconds": statistics.median(c_times),
        "reference_seconds": statistics.median(r_times),
        "ratio": statistics.median(ratios),
    }


def json_from_worker(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: float
) -> dict[str, Any]:
    """Run ``python -m module *args`` in its own process and return the JSON on its last line.

    Sections that need a fresh process (XLA flags read at import, Keras's own backend) use it.
    """
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interleaved(
    fns: dict[str, Callable[[], Any]], *, rounds: int, ratios_to: tuple[str, ...] = ()
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Each callable once per round, in turn, ``rounds`` times, after one untimed call each.

    Returns per name the first call's time (compilation included), the median time and, for
    each name in ``ratios_to``, the median of the per-round ratios ``name / reference``: the
    machine's drift hits every library in a round alike. Also each callable's last output.
    """
    out, last = {}, {}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():
        start = time.perf_counter()
        last[name] = jax.block_until_ready(fn())
        out[name] = {"first_call_seconds": time.perf_counter() - start}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            last[name] = jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        out[name]["seconds"] = statistics.median(ts)
        for ref in ratios_to:
            if ref != name and ref in times:
                per_round = [a / b for a, b in zip(ts, times[ref], strict=True)]
                out[name][f"ratio_to_{ref}"] = statistics.median(per_round)
    return out, last
