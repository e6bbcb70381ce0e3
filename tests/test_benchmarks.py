"""`python -m benchmarks --quick` runs, covers every section, and produces sane output.

It checks that the benchmarks work, not how fast anything is (speed lives in the benchmarks).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run_python

from benchmarks._linear import run_worker
from benchmarks._linear_objective import null_objective, objective
from benchmarks._linear_problems import ar1_design, load, make

pytestmark = pytest.mark.slow  # starts Python processes (tests/conftest.py)


# Both smoke runs in one process (JAX, torch and the benchmarks imported once), each through
# its command line's main(argv): what `python -m benchmarks --quick` and `python -m
# benchmarks._gpu --quick` run.
QUICK_RUNS = """
import sys
from benchmarks.__main__ import main
from benchmarks._gpu import main as gpu_main
out = sys.argv[1]
assert main(["--quick", "--json", out + "/bench.json", "--markdown", out + "/b.md",
             "--plot-dir", out]) == 0
assert gpu_main(["--quick", "--json", out + "/gpu.json", "--markdown", out + "/gpu.md"]) == 0
"""


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory) -> Path:
    """The folder the two quick runs wrote their reports and plots into."""
    out = tmp_path_factory.mktemp("bench")
    # with the tests' faster-compiling XLA_FLAGS (tests/conftest.py): a smoke run, not a timing
    run_python("-c", QUICK_RUNS, str(out), env=dict(os.environ), timeout=1200)
    return out


def test_quick_benchmarks_run_and_report(quick_runs):
    tmp_path, out = quick_runs, quick_runs / "bench.json"
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["machine"]["versions"]["jax"]
    sections = {r["section"] for r in report["rows"]}
    assert sections == {
        "penalty",
        "matrix",
        "prox",
        "step",
        "sweep",
        "scale",
        "hypergrad",
        "linear",
    }
    prox = [r for r in report["rows"] if r["section"] == "prox"]
    assert {r["kind"] for r in prox} >= {"mcp", "scad", "l0", "n_m(2:4)", "top_k(leaf)"}
    assert "x read+write" in (tmp_path / "b.md").read_text()
    hyper = [r for r in report["rows"] if r["section"] == "hypergrad"]
    assert [r["case"] for r in hyper] == ["lasso", "lasso", "lasso (warm start)", "weighted l1"]
    assert all(r["dtype"] == "float64" and r["fd_rel_error"] < 1e-3 for r in hyper)
    assert hyper[-1]["hyperparameters"] == hyper[-1]["p"]
    assert "Hypergradient vs one solve" in (tmp_path / "b.md").read_text()
    linear = [r for r in report["rows"] if r["section"] == "linear"]
    assert {"jaxreg", "sklearn", "celer", "skglm"} <= {r["library"] for r in linear}
    assert {(r["problem"], r["kind"]) for r in linear} == {
        ("correlated", "lasso"),
        ("elastic net", "enet"),
        ("logistic L1", "logistic"),
        ("group lasso", "group"),
        ("text", "lasso"),
    }
    # every solver's path scored by the one objective, within the target of the best one
    # (glmnet and adelie, where .venv-peers is there, may stop at their tightest tolerance)
    assert all(r["status"] == "ok" and r["first_call_seconds"] > 0 for r in linear)
    ours = [r for r in linear if r["library"] in ("jaxreg", "sklearn", "celer", "skglm")]
    assert all(r["max_rel_subopt"] <= r["target"] and r["ratio_to_fastest"] >= 1 for r in ours)
    md = (tmp_path / "b.md").read_text()
    assert "Linear-model paths" in md and "x fastest (first)" in md
    assert (tmp_path / "linear_vs_fastest.png").stat().st_size > 10_000
    scale = [r for r in report["rows"] if r["section"] == "scale"]
    assert [r["devices"] for r in scale] == [1, 2, 4, os.cpu_count()]
    assert [bool(r["xla_flags"]) for r in scale] == [False, False, False, True]
    assert all(r["jax_devices"] == r["devices"] for r in scale)
    pen = [r for r in report["rows"] if r["section"] == "penalty"]
    assert {r["layout"] for r in pen} == {"one", "mix", "tiny"}
    assert {
        "jaxreg l2",
        "torch loop",
        "torch._foreach_norm",
        "optax.tree.norm",
        "ravel_pytree",
        "jax eager loop",
    } <= {r["candidate"] for r in pen}
    assert all(r["seconds"] > 0 and r["gb_per_s"] > 0 for r in pen)
    frameworks = {r["framework"] for r in report["rows"] if r["section"] == "step"}
    assert frameworks == {"jax", "torch", "keras"}
    sweep = [r for r in report["rows"] if r["section"] == "sweep"]
    assert all(
        r["sweep_s"] > 0 and r["torch_sequential_s"] > 0 and r["sklearn_sequential_s"] > 0
        for r in sweep
    )
    assert (tmp_path / "penalty_bandwidth.png").stat().st_size > 20_000
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    assert "## Goals" in (tmp_path / "b.md").read_text()


def test_accelerator_benchmark_runs_quick_on_any_device(quick_runs):
    """benchmarks/gpu.sh's penalty script, in --quick mode on this machine's device (a CPU)."""
    tmp_path, out = quick_runs, quick_runs / "gpu.json"
    report = json.loads(out.read_text())
    rows = report["rows"]
    measured = [r for r in rows if "fraction_of_copy" in r]
    assert {r["candidate"] for r in measured} == {
        "jaxreg l2",
        "jaxreg l1",
        "jaxreg elastic_net",
        "jaxreg group_lasso",
    }
    assert {(r["dtype"], r["mode"]) for r in measured} == {
        (d, m) for d in ("float32", "bfloat16") for m in ("value", "value+grad")
    }
    assert all(r["seconds"] > 0 and 0 < r["fraction_of_copy"] < 100 for r in measured)
    foreach = [r for r in rows if r["candidate"] == "torch._foreach_norm"]
    assert {(r["layout"], r["dtype"]) for r in foreach} >= {("one", "float32"), ("mix", "bfloat16")}
    assert "| goal |" in (tmp_path / "gpu.md").read_text()


def test_linear_worker_runs_a_solver_in_its_own_process(tmp_path):
    """The full run's path: a problem saved as .npz, one solver in a fresh process (here
    scikit-learn), its path back and scored by the benchmark's one objective."""
    pb = make("tiny", "enet", ar1_design(np.random.default_rng(1), 40, 30, 0.5),
              np.random.default_rng(2), K=4, target=1e-6, l1_ratio=0.5)  # fmt: skip
    pb.save(tmp_path / "pb.npz")
    assert np.array_equal(load(tmp_path / "pb.npz").X, pb.X)
    coef, info = run_worker(
        "sklearn", tmp_path / "pb.npz", 1e-10, tmp_path / "coef.npy", python=sys.executable
    )
    assert info["status"] == "ok" and info["peak_mb"] >= info["baseline_mb"] > 0
    assert coef is not None and coef.shape == (4, 30) and not coef[0].any()  # lambda_max: 0
    values = objective(pb, coef)
    assert values[0] == null_objective(pb) and np.all(np.diff(values) < 0)
