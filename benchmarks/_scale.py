"""Section 4: sweep throughput with the strength axis sharded over 1, 2 and 4 devices.

Each device count runs in its own process (XLA_FLAGS=--xla_force_host_platform_device_count=D
must be set before JAX is imported). On a 2-core machine forced CPU devices share the same two
cores, so expect little gain: the number is reported as measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def run(*, quick: bool, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    rows = []
    K, steps = (8, 50) if quick else (64, 1400)
    for d in (1, 2, 4):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={d}")
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks._scale", str(K), str(steps)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"scale worker with {d} devices failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append({"section": "scale", "devices": d, "K": K, "steps": steps, **r})
        progress(
            f"scale {d} device(s): K={K} sweep {r['sweep_s']:.3f}s "
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
        return jr.select.sweep(train, strengths, Xj, yj, devices=jax.devices())

    first = once(fn)
    return {
        "first_call_s": first,
        "sweep_s": median_time(fn, repeats=5, warmup=0),
        "jax_devices": jax.device_count(),
    }


if __name__ == "__main__":
    print(json.dumps(_worker(int(sys.argv[1]), int(sys.argv[2]))))
