"""One of two processes joined by jax.distributed on 127.0.0.1 (2 CPU devices each, 4 in all):
the same sharded penalty and sweep as on one process. Prints one JSON line (process 0 only).

Usage: python distributed_worker.py PORT PROCESS_ID
"""

from __future__ import annotations

import json
import os
import sys

port, pid = int(sys.argv[1]), int(sys.argv[2])
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(
    coordinator_address=f"127.0.0.1:{port}",
    num_processes=2,
    process_id=pid,
    initialization_timeout=120,
)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxreg as jr  # noqa: E402

assert jax.process_count() == 2 and len(jax.devices()) == 4 and len(jax.local_devices()) == 2
mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("a", "b"))
full = np.random.default_rng(0).normal(size=(512, 256))  # every process knows the global values
sharding = NamedSharding(mesh, P("a", "b"))
w = jax.make_array_from_callback(full.shape, sharding, lambda idx: full[idx])
pen = jr.elastic_net(0.3, 0.4) + jr.group_lasso(0.1)
value = float(jax.jit(pen, out_shardings=NamedSharding(mesh, P()))({"w": w}))
reference = (
    0.3 * (0.4 * np.abs(full).sum() + 0.3 * (full**2).sum()) + 0.1 * np.sqrt((full**2).sum(1)).sum()
)


def ridge(strength, X, y):
    return jnp.linalg.solve(X.T @ X / len(y) + strength * jnp.eye(3), X.T @ y / len(y))


r = np.random.default_rng(1)
X, y = jnp.asarray(r.normal(size=(40, 3))), jnp.asarray(r.normal(size=40))
strengths = np.geomspace(1.0, 1e-3, 8)
swept = jr.select.sweep(ridge, strengths, X, y, devices=jax.devices())
gathered = np.asarray(multihost_utils.process_allgather(swept, tiled=True))
local = np.stack(
    [
        np.linalg.solve(np.asarray(X.T @ X) / 40 + s * np.eye(3), np.asarray(X.T @ y) / 40)
        for s in strengths
    ]
)
if pid == 0:
    print(
        json.dumps(
            {
                "processes": jax.process_count(),
                "devices": len(jax.devices()),
                "penalty_rel_err": abs(value - reference) / reference,
                "sweep_max_abs_diff": float(np.abs(gathered - local).max()),
                "sweep_shape": list(gathered.shape),
            }
        ),
        flush=True,
    )
jax.distributed.shutdown()
