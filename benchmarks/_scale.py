"""Section 4: sweep throughput with the strength axis sharded over 1, 2 and 4 devices.

Each device count runs in its own process (XLA_FLAGS=--xla_force_host_platform_device_count=D
must be set before JAX is imported). Forced CPU devices share the machine's cores: on 2 cores,
4 devices gain nothing over 2. The number is reported as measured.

A last run uses one device per core plus ``TUNED_XLA_FLAGS``: what a user who wants the
fastest CPU sweep sets. Profiled (K=64 Iris MLP, jax 0.10.2): XLA:CPU hands the vmapped 150x3
by 3x4 batched matmuls to its YNNPACK fusions, which take ~2.7 us per batch element (44% of
the step); turning the YNNPACK dot and reduce fusions off makes the whole sweep ~1.4x faster.
Only for sweeps of small models: without YNNPACK's reductions, a 1e8-float sum is ~10x slower.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ._timing import json_from_worker

#: XLA:CPU flags that speed up the vmapped tiny matmuls of a sweep (see the module docstring).
TUNED_XLA_FLAGS = "--xla_cpu_experimental_ynn_fusion_type=-dot,-reduce"


def run(*, quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    K, steps = (8, 50) if quick else (64, 1400)
    cores = os.cpu_count() or 1
    for d, extra in ((1, ""), (2, ""), (4, ""), (cores, TUNED_XLA_FLAGS)):
        flags = f"--xla_force_host_platform_device_count={d} {extra}".strip()
        env = dict(os.environ, XLA_FLAGS=flags)
        r = json_from_worker("benchmarks._scale", str(K), str(steps), env=env, timeout=1200)
        rows.append(
            {"section": "scale", "devices": d, "xla_flags": extra, "K": K, "steps": steps, **r}
        )
        progress(
            f"scale {d} device(s) {extra}: K={K} sweep {r['sweep_s']:.3f}s "
            f"(first call {r['first_call_s']:.2f}s), {K / r['sweep_s']:.0f} strengths/s"
        )
    return rows


def _worker(K: int, steps: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxreg as jr

    from ._sweep import iris, make_train
    from ._timing import median_time, once

    X, y = iris()
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    train = make_train(steps)
    strengths = jnp.asarray(np.geomspace(1.0, 1e-4, K), jnp.float32)

    def fn():
        return jr.select.sweep(train, strengths, Xj, yj, devices=jax.devices(), cache=True)

    first = once(fn)
    weights = jax.tree.leaves(jax.device_get(fn()))
    return {
        "weights_abs_sum": float(sum(np.abs(w).astype(np.float64).sum() for w in weights)),
        "first_call_s": first,
        "sweep_s": median_time(fn, repeats=5, warmup=0),
        "jax_devices": jax.device_count(),
    }


if __name__ == "__main__":
    print(json.dumps(_worker(int(sys.argv[1]), int(sys.argv[2]))))
