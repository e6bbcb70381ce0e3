"""`python -m benchmarks --quick` runs, covers every section, and produces sane output.

It checks that the benchmarks work, not how fast anything is (speed lives in the benchmarks).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import run_python

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
    run_python("-c", QUICK_RUNS, str(out), timeout=1200)
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
    assert {r["library"] for r in linear} == {"jaxreg", "sklearn", "celer", "skglm"}
    assert {r["problem"] for r in linear} == {"dense", "sparse", "large"}
    # every library solves the same problem: close to scikit-learn's coefficients at tol=1e-8
    assert all(
        r["coef_rel_diff_to_sklearn_tight"] < 1e-2
        for r in linear
        if "coef_rel_diff_to_sklearn_tight" in r
    )
    assert "Lasso path" in (tmp_path / "b.md").read_text()
    assert (tmp_path / "linear_time_vs_p.png").stat().st_size > 10_000
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
