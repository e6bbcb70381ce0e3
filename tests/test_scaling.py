"""Beyond one device, on CPU: 4 forced host devices in a separate process (the XLA flag must be
set before JAX is imported), and two processes joined by jax.distributed on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, run_python, user_env

pytestmark = pytest.mark.slow  # starts Python processes (tests/conftest.py)

HERE = Path(__file__).resolve().parent / "scaling"


@pytest.fixture(scope="module")
def sharded():
    # the tests' faster-compiling flags (tests/conftest.py; 48 -> 30 s here): these checks
    # compare sharded with unsharded programs compiled alike, not a user's build
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"
    env = dict(os.environ, XLA_FLAGS=flags.strip())
    proc = run_python(str(HERE / "sharded_checks.py"), env=env, timeout=900)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_penalty_matches_unsharded_on_every_layout(sharded):
    rows = sharded["penalties"]
    assert {r["layout"] for r in rows} == {"replicated", "one_axis", "both_axes"}
    for r in rows:
        assert r["rel_err"] < 1e-12, r
        assert r["per_leaf_ok"], r
        assert r["grad_max_err"] < 1e-10, r


def test_no_gather_of_the_large_leaf_and_prox_keeps_sharding(sharded):
    for r in sharded["penalties"]:
        if r["penalty"] in ("l1", "l2", "elastic_net", "group_lasso"):
            # reduced in place: partial sums and one all-reduce, never an all-gather of the leaf
            assert r["big_gathered"] == 0, r
        if "prox_max_err" in r:
            assert r["prox_max_err"] < 1e-12, r
            if r["penalty"] != "nuclear":  # an SVD needs the whole matrix
                assert r["prox_keeps_sharding"], r
        if r["penalty"] in ("nuclear", "spectral") and r["layout"] != "replicated":
            assert r["big_gathered"] > 0, r  # the check sees gathers where they must happen


def test_data_parallel_training_matches_single_device(sharded):
    rows = sharded["train"]
    assert {(r["model"], r["params_sharded"]) for r in rows} == {
        ("iris", False),
        ("iris", True),
        ("large", False),
        ("large", True),
    }
    for r in rows:
        assert r["max_rel_diff"] < 1e-10, r  # float64, 10 Adam steps: reduction order only


def test_sharded_sweep_and_cross_validation_match_one_device(sharded):
    s = sharded["sweep"]
    assert s["shape"] == [6, 3] and s["devices_used"] == 4
    assert s["max_abs_diff"] < 1e-12
    assert s["cv_max_abs_diff"] < 1e-12 and s["cv_best_equal"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_with_jax_distributed():
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "distributed_worker.py"), str(port), str(i)],
            cwd=ROOT,
            env=user_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=300))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-4000:]
    r = json.loads(outs[0][0].strip().splitlines()[-1])
    assert r["processes"] == 2 and r["devices"] == 4
    assert r["penalty_rel_err"] < 1e-12
    assert r["sweep_shape"] == [8, 3] and r["sweep_max_abs_diff"] < 1e-12


CPU_DEVICES_SWEEP = """
import json, os, jax, numpy as np
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, jaxreg as jr
rng = np.random.default_rng(0)
X, y = rng.standard_normal((40, 5)), rng.standard_normal(40)
grid = np.geomspace(10.0, 0.01, 6)
ridge = lambda s, X, y: jnp.linalg.solve(X.T @ X + s * jnp.eye(X.shape[1]), X.T @ y)
out = jr.select.sweep(ridge, grid, X, y, devices=jax.devices())
ref = [np.linalg.solve(X.T @ X + s * np.eye(5), X.T @ y) for s in grid]
print(json.dumps({"devices": jax.device_count(), "used": len(out.sharding.device_set),
                  "err": float(np.max(np.abs(np.asarray(out) - np.stack(ref))))}))
"""


def test_sweep_uses_every_core_through_jax_num_cpu_devices():
    """The docs' CPU recipe (docs/scaling.md): one JAX device per core, strengths sharded."""
    env = {k: v for k, v in user_env().items() if k != "XLA_FLAGS"}
    proc = run_python("-c", CPU_DEVICES_SWEEP, env=env, timeout=300)
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["devices"] == 2 and r["used"] == 2
    assert r["err"] < 1e-10
