"""The parity suite, reduced: it must run, pass its tolerances, be deterministic, and explain.

Each framework trains in its own subprocess (started by `python -m parity`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import parity.__main__ as cli

ROOT = Path(__file__).resolve().parents[1]


def run_parity(tmp_path: Path, *args: str, name: str = "report") -> tuple[int, dict, str]:
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "parity", *args, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, report, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    plot, md = tmp / "w.png", tmp / "r.md"
    args = (
        "--presets",
        "seed",
        "converged",
        "--epochs",
        "12",
        "--penalties",
        "l1",
        "l2",
        "elastic_net",
    )
    rc, report, out = run_parity(tmp, *args, "--plot", str(plot), "--markdown", str(md))
    return rc, report, out, plot, md, args, tmp


def test_reduced_suite_passes_and_asserts_the_tolerances(reduced):
    rc, report, out, *_ = reduced
    assert rc == 0, out[-4000:]
    assert report["ok"] is True
    graded = [c for c in report["comparisons"] if c["tolerance"] is not None]
    assert len(graded) >= 40
    for c in graded:
        expected_tol = (
            1e-9 if c["dtype"] == "float64" else (1e-5 if c["preset"] == "seed" else 1e-3)
        )
        assert c["tolerance"] == expected_tol
        assert c["max_rel_weight_diff"] <= c["tolerance"], c
        assert c["same_test_predictions"] and c["passed"]
    # the pairs the issue asks for are there
    pairs = {(c["optimizer"], c["dtype"], c["a"], c["b"]) for c in report["comparisons"]}
    assert ("sgd", "float32", "torch", "tf") in pairs
    assert ("sgd", "float64", "torch[keras_f32]", "tf") in pairs
    assert ("adam", "float64", "jax[keras_adam,keras_f32]", "tf") in pairs
    assert ("adam", "float64", "jax[torch_adam]", "torch") in pairs
    assert ("adam", "float64", "tf", "torch") in pairs
    assert ("sgd", "float64", "tf", "torch") in pairs  # stock vs stock, unadjusted, for info
    graded_pairs = {(c["optimizer"], c["dtype"], c["a"], c["b"]) for c in graded}
    assert ("adam", "float64", "jax", "torch") in graded_pairs  # stock optax vs stock torch


def test_tf_vs_torch_adam_is_shown_with_its_real_difference(reduced):
    _, report, *_ = reduced
    info = [
        c
        for c in report["comparisons"]
        if (c["a"], c["b"], c["optimizer"]) == ("tf", "torch", "adam")
    ]
    assert info and all(c["tolerance"] is None and c["passed"] is None for c in info)
    # Keras's epsilon-hat Adam really differs from torch's by far more than float64 rounding
    assert max(c["max_rel_weight_diff"] for c in info if c["dtype"] == "float64") > 1e-8
    assert all("epsilon" in c["note"] or "eps" in c["note"] for c in info)


def test_report_schema_plot_and_markdown(reduced):
    _, report, _, plot, md, *_ = reduced
    run_keys = {
        "preset",
        "optimizer",
        "penalty",
        "dtype",
        "framework",
        "train_accuracy",
        "test_accuracy",
        "final_loss",
        "seconds",
    }
    cmp_keys = {
        "preset",
        "optimizer",
        "penalty",
        "dtype",
        "a",
        "b",
        "max_rel_weight_diff",
        "tolerance",
        "same_test_predictions",
        "passed",
    }
    assert all(run_keys <= set(r) for r in report["runs"])
    assert all(cmp_keys <= set(c) for c in report["comparisons"])
    assert {r["framework"].split("[")[0] for r in report["runs"]} == {"jax", "tf", "torch"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20000
    text = md.read_text()
    assert "all comparisons pass" in text and "epsilon hat" in text


def test_two_runs_give_identical_json_apart_from_timings(reduced, tmp_path):
    _, first, _, _, _, args, _ = reduced
    rc, second, out = run_parity(tmp_path, *args, name="again")
    assert rc == 0, out[-3000:]

    def strip(rep):
        rep = json.loads(json.dumps(rep))
        rep.pop("seconds")
        for r in rep["runs"]:
            r.pop("seconds")
        return rep

    assert strip(first) == strip(second)


def test_bad_usage_exits_2_and_lists_valid_names(tmp_path):
    rc, _, out = run_parity(tmp_path, "--penalties", "l3")
    assert rc == 2
    assert "invalid choice: 'l3'" in out and "elastic_net" in out


def test_missing_framework_is_skipped_with_reason_and_fails_unless_allowed(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setitem(cli.NEEDS, "torch", ("torch", "no_such_module_xyz"))
    args = [
        "--presets",
        "seed",
        "--optimizers",
        "sgd",
        "--dtypes",
        "float64",
        "--frameworks",
        "jax",
        "torch",
    ]
    assert cli.main([*args, "--json", str(tmp_path / "a.json")]) == 1
    report = json.loads((tmp_path / "a.json").read_text())
    assert "no_such_module_xyz" in report["skipped"]["torch"] and report["ok"] is False
    assert "skipping torch" in capsys.readouterr().out
    # jax alone has nothing to be compared with: --allow-missing must not make "0/0" a success
    assert cli.main([*args, "--allow-missing"]) == 1
    assert "no graded comparison ran" in capsys.readouterr().out
    # with TensorFlow there, the jax-vs-tf pairs are graded and the missing torch is allowed
    assert cli.main([*args, "tf", "--allow-missing"]) == 0


def test_keras_tutorial_snippet_leaves_the_trained_weights_unchanged():
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("keras_tutorial_trap.py"))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["snippet_vs_plain"] == 0.0  # the snippet changed nothing
    assert r["snippet_model_losses"] == 0
    assert r["real_l2_vs_plain"] > 1e-4 and r["real_model_losses"] == 2  # the real thing does


def test_pytorch_tutorial_snippet_does_not_exist():
    torch = pytest.importorskip("torch")
    assert not hasattr(torch.nn, "WeightNorm")
    model = torch.nn.Sequential(torch.nn.Linear(4, 10))
    with pytest.raises(AttributeError, match="WeightNorm"):
        torch.nn.WeightNorm(model[0], weight_decay=0.01)


def test_keras_constants_come_from_keras_not_from_jaxreg(reduced):
    """The TF worker builds its regularizer from Keras's API and plain numbers, and measures
    what Keras applies on probe weights; the JAX side's float64 `keras_f32` strengths (float32
    roundings written out in parity/_config.py, no converter) must be exactly those."""
    import parity._config as config

    _, report, *_ = reduced
    measured = [json.loads(e)["regularizer"] for e in report["effective_constants"]["tf"]]
    applied = {v for m in measured for v in m.values() if v}
    assert applied  # a penalized Keras run took place
    for name in ("l2", "elastic_net"):
        spec = config.penalty_spec(name, keras_f32=True)
        keras_units = {spec["l1"], spec["l2"] / 2} - {0.0}
        if keras_units & applied:
            assert keras_units <= applied, (name, keras_units, applied)
    assert not any(v in applied for v in (0.005, 0.0025))  # float64 0.005 is never what TF used
