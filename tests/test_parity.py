"""The parity suite, reduced: it must run, pass, tell its negative controls apart, be
deterministic, explain itself, and fail when a known fault is injected into jaxreg.

Each framework trains in its own subprocess (started by `python -m parity`); the injected
faults are in test_parity_mutations.py.
"""

from __future__ import annotations

import json
import re

import jax
import numpy as np
import optax
import pytest
from helpers import finish, run_parity, start_parity

import parity.__main__ as cli
from parity._checks import choose
from parity._config import (
    CHAOTIC,
    CV,
    DTYPES,
    ELEMENTWISE,
    FAULTS,
    FLOOR_MULTIPLE,
    FRAMEWORKS,
    MODELS,
    OPTIMIZERS,
    PENALTIES,
    PRESETS,
    STRENGTHS,
    Config,
    Pair,
    Run,
    batch_orders,
    build_runs,
    f32,
)
from parity._grading import (
    NO_EFFECT,
    comparison_row,
    divergence,
    floor_key,
    forward,
    is_chaotic,
    noise_floors,
    run_row,
    tolerance_for,
)
from parity._notes import note
from parity._report import CMP_HEADER, RUN_HEADER, markdown, smallest_faults, summary, tables
from parity._tasks import critical_path, executable, plan
from parity._worker import reordered

REDUCED = (
    *("--presets", "tutorial", "seed", "digits_cnn", "scheduled"),
    *("--seeds", "1", "--epochs", "3", "--cv-epochs", "10", "--members", "2", "--jobs", "2"),
)
# lighter (one preset, no Keras on JAX/torch, no floors or faults): its measurements, and
# its cross-validation in the three frameworks, must equal the first run's
AGAIN = (
    *("--presets", "tutorial"),
    *("--seeds", "1", "--epochs", "3", "--cv-epochs", "10", "--members", "0", "--no-faults"),
    *("--frameworks", "tf", "torch", "jax", "--jobs", "1"),
)


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """The reduced suite, twice at once: the second run (lighter, one worker process at a
    time) checks determinism; the first runs two workers at once when the second is done."""
    tmp = tmp_path_factory.mktemp("parity")
    plot, md = tmp / "w.png", tmp / "r.md"
    first = start_parity(tmp, *REDUCED, "--plot", str(plot), "--markdown", str(md))
    second = start_parity(tmp, *AGAIN, name="again")
    rc, report, out = finish(*first)
    again = finish(*second)
    return rc, report, out, tmp, md, again


def pairs_of(report, kind=None):
    return {
        (c["optimizer"], c["dtype"], c["a"], c["b"])
        for c in report["comparisons"]
        if kind is None or c["kind"] == kind
    }


@pytest.mark.slow
def test_reduced_suite_passes_and_grades_like_for_like(reduced):
    rc, report, out, *_ = reduced
    assert rc == 0, out[-4000:]
    assert report["ok"] is True
    # every Keras and torch run exported exactly the optimizer and regularizers asked for
    assert report["config_checks"] == []
    graded = [c for c in report["comparisons"] if c["kind"] == "graded"]
    assert len(graded) >= 50
    for c in graded:
        if c["dtype"] == "float64":
            assert c["tolerance"] == 1e-12
        elif c["passed"] is not None:  # float32: a multiple of the measured noise floor
            assert c["tolerance"] == FLOOR_MULTIPLE * c["noise_floor"] > 0
        else:  # shown only where the floor says one ulp decides the outcome
            assert "chaotic" in c["judged"] and c["tolerance"] is None
            continue
        assert c["rel_movement"] <= c["tolerance"], c
        assert c["max_elementwise_rel_movement"] <= ELEMENTWISE * c["tolerance"], c
        assert c["same_test_predictions"] and c["passed"]
    g = pairs_of(report, "graded")
    for opt in ("adam", "sgd", "adamw"):  # stock optax vs stock torch.optim
        assert (opt, "float64", "jax", "torch") in g
        assert (opt, "float64", "jax[torch]", "torch") in g  # torch's own config, converted
        assert (opt, "float32", "jax[torch]", "torch") in g  # with x64 off
        assert (opt, "float64", "jax[keras]", "tf") in g  # Keras's own config, converted
    assert ("sgd", "float32", "jax", "torch") in g
    # stock optax's Adam in float32 with x64 off is shown with its measured cause
    info = pairs_of(report, "info")
    for opt in ("adam", "adamw"):
        assert {(opt, "float32", "jax", "torch"), (opt, "float32", "jax[x64]", "torch")} <= info
    assert ("sgd", "float64", "torch[keras_f32]", "tf") in g  # TF vs torch SGD directly
    assert ("sgd", "float32", "tf", "torch") in g
    assert ("adam", "float64", "jax[keras_exact]", "keras-jax") in g
    # the CNN: torch's OIHW layout, L2 + group lasso, graded against both
    cnn = {(c["optimizer"], c["a"], c["b"]) for c in graded if c["model"] == "digits_cnn"}
    for opt in ("adam", "sgd", "nesterov", "adamw"):
        assert {(opt, "jax[keras]", "tf"), (opt, "jax[torch]", "torch")} <= cnn


@pytest.mark.slow
def test_float32_jax_runs_keep_x64_off_and_record_it(reduced):
    _, report, *_ = reduced
    jax_runs = [r for r in report["runs"] if r["framework"].split("[")[0] == "jax"]
    assert jax_runs
    for r in jax_runs:
        want = r["dtype"] == "float64" or r["framework"] == "jax[x64]"
        assert r["jax_enable_x64"] is want, r
    assert any(r["framework"] == "jax[x64]" for r in jax_runs)


FLOOR_KEY = ("preset", "optimizer", "penalty", "dtype", "seed")


@pytest.mark.slow
def test_noise_floors_are_measured_per_configuration_and_seed(reduced):
    _, report, *_ = reduced
    floors = {tuple(f[k] for k in FLOOR_KEY): f for f in report["noise_floors"]}
    for c in report["comparisons"]:
        if c["dtype"] == "float32" and c["kind"] != "info":
            f = floors[tuple(c[k] for k in FLOOR_KEY)]
            assert c["noise_floor"] == f["floor"] == max(f["frameworks"].values())
            assert f["floor"] == max(f["kinds"].values())
    for f in floors.values():
        assert {"torch", "jax"} <= set(f["frameworks"]) and set(f["kinds"]) == {"nudge", "reorder"}
        assert f["members"] >= 4  # two kinds, two frameworks at least
        # 3 epochs from one seed: calm; a member that inherited its run's optimizer state
        # (Keras reuses one compiled model per configuration) would land far above this
        assert 0 < f["floor"] < (1e-9 if f["dtype"] == "float64" else 1e-4), f


def test_float32_floors_on_every_seed_float64_on_the_first():
    runs, pairs = build_runs(["seed"], ["adam"], ["l2"], list(DTYPES), ["torch", "jax"], members=2)
    floor_runs = {(p.a.config.dtype, p.a.config.seed, p.a.name) for p in pairs if p.kind == "floor"}
    for seed in PRESETS["seed"].seeds:
        for fw in ("torch", "jax"):
            members = {(fw + "[nudge1]"), (fw + "[reorder1]")}
            assert {n for d, s, n in floor_runs if (d, s) == ("float32", seed)} >= members
    assert {s for d, s, _ in floor_runs if d == "float64"} == {PRESETS["seed"].seeds[0]}
    assert set(runs) >= {p.a for p in pairs} | {p.b for p in pairs}


def test_floor_is_per_seed_and_kind_from_the_members_own_runs():
    cfg = lambda seed: Config("seed", "adam", "l2", "float32", seed)  # noqa: E731
    move = np.zeros((3, 4))
    move[:, 0] = [0.0, 1.0, 2.0]  # every run moves by 2 along one axis
    off = {  # a member's largest divergence from its run, relative to the movement
        ("torch", 0, "nudge1"): 1e-7,
        ("torch", 0, "reorder1"): 3e-7,
        ("jax", 0, "nudge1"): 2e-7,
        ("jax", 0, "reorder1"): 1e-7,
        ("torch", 1, "nudge1"): 4e-6,
        ("torch", 1, "reorder1"): 1e-7,
        ("jax", 1, "nudge1"): 1e-7,
        ("jax", 1, "reorder1"): 5e-7,
    }
    traj = {}
    pairs = []
    for (fw, seed, variant), rel in off.items():
        run, member = Run(cfg(seed), fw), Run(cfg(seed), fw, variant)
        traj[run] = move
        traj[member] = move + np.array([0, 2 * rel, 0, 0])  # at every epoch
        pairs.append(Pair(member, run, "floor"))
    floors = noise_floors(pairs, traj.get)
    f0, f1 = (
        floors[("seed", "adam", "l2", "float32", 0)],
        floors[("seed", "adam", "l2", "float32", 1)],
    )
    np.testing.assert_allclose(f0["floor"], 3e-7)  # seed 0: torch's reordered batches
    np.testing.assert_allclose(f1["floor"], 4e-6)  # seed 1: torch's nudge, 13x seed 0's
    np.testing.assert_allclose([f1["kinds"]["nudge"], f1["kinds"]["reorder"]], [4e-6, 5e-7])
    np.testing.assert_allclose([f1["frameworks"]["torch"], f1["frameworks"]["jax"]], [4e-6, 5e-7])
    assert f0["members"] == f1["members"] == 4 and not f1["chaotic"]
    graded = Pair(Run(cfg(1), "jax", "torch"), Run(cfg(1), "torch"), "graded")
    assert tolerance_for("graded", "float32", floors[floor_key(graded.a)]) == (
        FLOOR_MULTIPLE * 4e-6,
        "graded",
    )
    chaotic = {**f1, "floor": 2e-2, "chaotic": True}
    assert tolerance_for("graded", "float32", chaotic)[0] is None
    assert floor_key(graded.a) == ("seed", "adam", "l2", "float32", 1)


def test_reordered_batches_hold_the_same_rows_in_another_order():
    orders = batch_orders(30, 4, seed=0)
    new = reordered(orders, 8, member=1)
    assert not np.array_equal(new, orders)
    for e in range(4):
        for i in range(0, 30, 8):  # batches of 8 and a last one of 6
            assert sorted(new[e, i : i + 8]) == sorted(orders[e, i : i + 8])
    assert np.array_equal(reordered(orders, 8, member=1), new)  # drawn from the member's seed


def test_tasks_wait_for_the_runs_they_read_and_keep_executables_together():
    frameworks = ["tf", "torch", "jax"]
    runs, _ = build_runs(["seed", "digits_cnn"], list(OPTIMIZERS), list(PENALTIES),
                         list(DTYPES), frameworks)  # fmt: skip
    tasks = plan(runs, CV(), frameworks)
    where = {r: t for t in tasks for r in t.runs}
    assert sorted(map(repr, where)) == sorted(map(repr, runs))  # each run in one task
    assert sum(len(t.runs) for t in tasks) == len(runs)
    for t in tasks:
        assert {r.framework for r in t.runs} <= {t.framework}
        for r in t.runs:
            if (src := r.source()) is not None:
                assert where[src].name in t.needs  # started after its source's task ended
    by_executable: dict = {}
    for r in runs:
        if r.framework == "jax":
            by_executable.setdefault(executable(r), set()).add(where[r].name)
    assert all(len(names) == 1 for names in by_executable.values())  # compiled once
    assert {t.name for t in tasks if t.cv} == {"tf-cv", "torch-cv", "jax-cv"}
    length = critical_path(tasks)
    for t in tasks:  # a task is started before the tasks waiting for it
        for u in tasks:
            if t.name in u.needs:
                assert length[t.name] > length[u.name]


@pytest.mark.slow
def test_faults_of_a_millionth_are_told_apart_in_float64(reduced):
    _, report, *_ = reduced
    faults = [c for c in report["comparisons"] if c["kind"] == "fault"]
    f64 = [c for c in faults if c["dtype"] == "float64"]
    assert {c["fault"] for c in f64} == set(FAULTS)
    for c in f64:  # against the other framework's correct run, as a graded pair sees it
        # (scheduled: the converted torch run; stock optax differs by its clipping formula)
        assert c["b"] == ("jax[torch]" if c["preset"] == "scheduled" else "jax"), c
        assert c["detected"] and c["passed"], c
        assert c["rel_movement"] > c["tolerance"] == 1e-12
    sizes = {c["fault"]: c["fault_size"] for c in f64}
    assert sizes["strength"] == 1e-6 and sizes["eps"] == 1e-2
    assert 1e-7 < sizes["momentum"] < 1.2e-7 and 1e-8 < sizes["lr"] < 1.2e-7
    for c in faults:
        if c["dtype"] == "float32":  # its resolution, shown: never a pass or a failure
            assert c["passed"] is None and c["b"] == "torch"


@pytest.mark.slow
def test_schedule_and_clipping_are_active_and_three_frameworks_agree(reduced):
    _, report, *_ = reduced
    runs = {(r["framework"], r["dtype"]): r for r in report["runs"] if r["preset"] == "scheduled"}
    schedule = PRESETS["scheduled"].schedule
    lr = PRESETS["scheduled"].lr["sgd"]
    for dtype in ("float64", "float32"):
        # the rate each epoch, as torch's StepLR and Keras's ExponentialDecay report it
        want = [lr * schedule.gamma ** (e // schedule.step_epochs) for e in range(3)]
        assert runs[("torch", dtype)]["schedule_record"]["lr_per_epoch"] == want
        assert runs[("tf", dtype)]["schedule_record"]["lr_per_epoch"] == want
        assert len(set(want)) > 1  # the rate changes within the reduced run
        torch_record = runs[("torch", dtype)]["schedule_record"]
        assert 0 < torch_record["clipped_steps"] < torch_record["steps"], torch_record
        for fw in ("jax", "jax[torch]", "jax[keras]", "jax[clip_eps]"):
            record = runs[(fw, dtype)]["schedule_record"]
            assert 0 < record["clipped_steps"] < record["steps"] == torch_record["steps"]
    rows = {
        (c["dtype"], c["a"], c["b"]): c for c in report["comparisons"] if c["preset"] == "scheduled"
    }
    for a, b in (("jax[torch]", "torch"), ("jax[keras]", "tf"), ("jax[clip_eps]", "torch")):
        c = rows[("float64", a, b)]
        assert c["kind"] == "graded" and c["passed"] and c["tolerance"] == 1e-12, c
        assert c["rel_movement"] < 1e-14, c
        assert rows[("float32", a, b)]["passed"], rows[("float32", a, b)]
    # the causes shown are real: torch's + 1e-6 in the clipping, Keras's rate in the momentum
    assert 1e-9 < rows[("float64", "jax", "torch")]["rel_movement"] < 1e-5
    assert rows[("float64", "jax", "tf")]["rel_movement"] > 1e-3
    assert "1e-6" in rows[("float64", "jax", "torch")]["note"]


def test_torch_clip_grad_norm_in_jax_is_torchs_formula():
    torch = pytest.importorskip("torch")
    from parity._jax_worker import torch_clip_grad_norm

    rng = np.random.default_rng(0)
    grads = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=5)}
    total = np.sqrt(sum((g**2).sum() for g in grads.values()))
    for max_norm in (0.5 * total, 2.0 * total):  # clipped, then not
        tensors = [torch.tensor(grads[k], requires_grad=True) for k in ("a", "b")]
        for t, k in zip(tensors, ("a", "b"), strict=True):
            t.grad = torch.tensor(grads[k])
        torch.nn.utils.clip_grad_norm_(tensors, max_norm)
        tx = torch_clip_grad_norm(float(max_norm))
        out, _ = jax.jit(tx.update)(grads, tx.init(grads))
        for t, k in zip(tensors, ("a", "b"), strict=True):
            np.testing.assert_allclose(np.asarray(out[k]), t.grad.numpy(), rtol=1e-15)
    clipped, _ = torch_clip_grad_norm(0.5 * total).update(grads, optax.EmptyState())
    optax_clipped, _ = optax.clip_by_global_norm(0.5 * total).update(grads, optax.EmptyState())
    gap = np.abs(np.asarray(clipped["a"]) / np.asarray(optax_clipped["a"]) - 1).max()
    np.testing.assert_allclose(gap, 1e-6 / total, rtol=1e-6)  # torch's + 1e-6, not optax's


def test_accuracy_at_initialization_is_the_networks_own_forward_pass():
    rng = np.random.default_rng(0)
    for name in ("iris_mlp", "digits_cnn"):
        model = MODELS[name]
        w = rng.standard_normal(sum(int(np.prod(s)) for _, s in model.shapes()))
        X = rng.standard_normal((5, model.sizes[0] if model.kind == "mlp" else 64))
        logits = forward(model, w, X)
        # an independent reference: explicit loops over output pixels
        ws, o = {}, 0
        for n, s in model.shapes():
            ws[n] = w[o : o + int(np.prod(s))].reshape(s)
            o += int(np.prod(s))
        if model.kind == "mlp":
            h = np.maximum(X @ ws["W1"] + ws["b1"], 0)
            ref = h @ ws["W2"] + ws["b2"]
        else:
            h = X.reshape(5, 8, 8, 1)
            for k, c in (("K1", "c1"), ("K2", "c2")):
                size = h.shape[1] - 2
                out = np.empty((5, size, size, ws[k].shape[-1]))
                for i in range(size):
                    for j in range(size):
                        patch = h[:, i : i + 3, j : j + 3, :]
                        out[:, i, j] = np.tensordot(patch, ws[k], axes=([1, 2, 3], [0, 1, 2]))
                h = np.maximum(out + ws[c], 0)
            ref = h.reshape(5, -1) @ ws["W3"] + ws["b3"]
        np.testing.assert_allclose(logits, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_negative_controls_are_told_apart(reduced):
    _, report, *_ = reduced
    controls = [c for c in report["comparisons"] if c["kind"] == "control"]
    c = pairs_of(report, "control")
    assert ("adam", "float32", "tf", "torch") in c  # Keras's Adam vs torch's Adam
    assert ("adamw", "float64", "torch[adam_l2]", "torch") in c  # Adam + L2 vs AdamW
    assert ("adam", "float64", "tf[no_half]", "tf") in c  # L2 with and without the 1/2
    for x in controls:
        assert x["passed"] and x["rel_movement"] > x["tolerance"], x
    # Keras's epsilon-hat Adam really is another algorithm: far above float64 rounding
    info = [
        x
        for x in report["comparisons"]
        if (x["a"], x["b"], x["optimizer"]) == ("tf", "torch", "adam")
    ]
    assert min(x["rel_movement"] for x in info if x["dtype"] == "float64") > 1e-7


def test_measure_is_relative_to_movement_at_the_worst_epoch():
    init = np.zeros(4)
    b = np.stack([init, [1.0, 0, 0, 0], [2.0, 0, 0, 0]])  # moved by 2 along one axis
    a = b.copy()
    a[1, 1] = 0.02  # 1% of the movement, mid-run only
    l2, mx = divergence(a, b)
    np.testing.assert_allclose(l2, [0, 0.01, 0])
    np.testing.assert_allclose(mx, [0, 0.01, 0])
    a[2] = np.nan
    assert np.isnan(divergence(a, b)[0]).all()


def test_choose_by_hand():
    s = np.array([0.1, 0.2, 0.4])
    scores = np.array([[-1.0, -0.9, -1.5], [-1.2, -0.95, -1.4], [-1.1, -1.0, -1.45]])
    # best: mean -0.95 at 0.2; se = sd(-0.9, -0.95, -1.0, ddof=1)/sqrt(3) = 0.0289; 0.4's mean
    # -1.45 is not within it: one-SE = 0.2
    assert choose(s, scores) == (0.2, 0.2)
    scores[:, 2] = [-0.9, -1.0, -0.97]  # mean -0.9567 >= -0.95 - 0.0289: one-SE = 0.4
    assert choose(s, scores) == (0.2, 0.4)


@pytest.mark.slow
def test_cross_validation_chooses_the_same_strength_everywhere(reduced):
    _, report, *_ = reduced
    cv = report["cv"]
    assert set(cv["frameworks"]) == {"tf", "torch", "jax"}
    assert len(cv["strengths"]) >= 8
    assert cv["library_agrees"] is True  # jr.select.cross_validate's choice = the reference's
    for c in cv["comparisons"]:
        assert c["passed"] and c["same_best"] and c["same_one_se"], c
        assert c["curve_rel_diff"] <= 1e-9 and c["tolerance"] == 1e-9
    assert all(v["seconds"] > 0 for v in cv["frameworks"].values())


@pytest.mark.slow
def test_report_first_screen_plots_and_schema(reduced):
    _, report, _, tmp, md, _ = reduced
    run_keys = {"preset", "optimizer", "penalty", "dtype", "framework", "train_accuracy"}
    run_keys |= {"test_accuracy", "final_loss", "min_test_margin", "seconds", "model", "seed"}
    cmp_keys = {"preset", "optimizer", "penalty", "dtype", "a", "b", "max_rel_weight_diff"}
    cmp_keys |= {"tolerance", "same_test_predictions", "passed", "rel_movement", "kind"}
    cmp_keys |= {"per_epoch_max_rel_weight_diff", "per_epoch_rel_movement", "worst_epoch"}
    assert all(run_keys <= set(r) for r in report["runs"])
    assert all(cmp_keys <= set(c) for c in report["comparisons"])
    frameworks = {r["framework"].split("[")[0] for r in report["runs"]}
    assert frameworks == {"jax", "tf", "torch", "keras-jax", "keras-torch"}
    for model in ("iris_mlp", "digits_cnn"):
        png = tmp / f"w-{model}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000
    text = md.read_text().splitlines()
    first = text[2 : text.index("", 2)]  # the summary under the title
    assert 3 <= len(first) <= 10 and first[0].startswith("**PASS**")
    assert any(ln.startswith("- **float64 matched**") for ln in first)
    assert any(ln.startswith("- **float32 matched**") for ln in first)
    assert any("epsilon" in ln or "eps" in ln for ln in first)
    assert any("jax_enable_x64" in ln for ln in first)  # the cause of the float32 Adam gap
    assert any("Smallest fault told apart" in ln for ln in first)
    acc = next(ln for ln in first if ln.startswith("- **Test accuracy**"))
    assert all(p in acc for p in ("tutorial", "seed", "digits_cnn", "scheduled"))  # every preset
    assert any("clip_grad_norm_" in ln for ln in first)  # the scheduled rows' causes


@pytest.mark.slow
def test_two_runs_give_identical_json_apart_from_timings(reduced):
    _, first, *_, again = reduced
    rc, second, out = again
    assert rc == 0, out[-3000:]

    def rows(rep, key):
        out = {}
        for r in json.loads(json.dumps(rep[key])):
            # the measurements; how a row is judged depends on the floors the run measured
            out[json.dumps({k: r[k] for k in sorted(r) if k in KEYS})] = {
                k: v for k, v in r.items() if k in MEASURED
            }
        return out

    for key in ("runs", "comparisons"):
        a, b = rows(first, key), rows(second, key)
        assert len(b) >= 10 and set(b) <= set(a)
        assert all(a[k] == b[k] for k in b)
    cv_a, cv_b = (json.loads(json.dumps(r["cv"])) for r in (first, second))
    for cv in (cv_a, cv_b):
        for v in cv["frameworks"].values():
            v.pop("seconds")
    assert cv_a == cv_b


KEYS = {"preset", "optimizer", "penalty", "dtype", "seed", "framework", "a", "b"}
MEASURED = {"train_accuracy", "test_accuracy", "init_test_accuracy", "final_loss"}
MEASURED |= {"min_test_margin", "jax_enable_x64", "rel_movement", "max_rel_weight_diff"}
MEASURED |= {"per_epoch_rel_movement", "per_epoch_max_rel_weight_diff", "same_test_predictions"}


@pytest.mark.slow
def test_keras_constants_are_measured_in_keras(reduced):
    """Keras's applied constants come from Keras (probe weights, the optimizer's momentum
    variable), never from jaxreg: in float64 TensorFlow rounds them through float32 and the
    other backends do not."""
    _, report, *_ = reduced
    consts = {fw: [json.loads(e) for e in v] for fw, v in report["effective_constants"].items()}
    tf64 = [c for c in consts["tf"] if c["dtype"] == "float64"]
    momenta = {p.momentum for p in PRESETS.values()}  # 0.9; `scheduled`: 0.875, exact
    assert tf64 and {c["momentum"] for c in tf64} <= {f32(m) for m in momenta}
    assert f32(0.9) in {c["momentum"] for c in tf64}
    # Keras's units (no 1/2); `scheduled` has its own strength, a power of two
    keras_l2 = [STRENGTHS[n] / 2 for n in ("l2", "l2_group")]
    keras_l2 += [p.strengths["l2"] / 2 for p in PRESETS.values() if p.strengths]
    measured = {c["regularizer"]["l2"] for c in tf64} - {0.0}
    assert measured and measured <= {f32(x) for x in keras_l2}
    inexact = {x for x in keras_l2 if f32(x) != x}
    assert measured & {f32(x) for x in inexact}
    assert not measured & inexact  # float64 numbers inexact in float32: never what TF applies
    for fw in ("keras-jax", "keras-torch"):
        b64 = [c for c in consts[fw] if c["dtype"] == "float64"]
        assert b64 and all(c["momentum"] == 0.9 and c["beta_1_as_cast"] in (0.9, None) for c in b64)
        measured = {c["regularizer"]["l2"] for c in b64} - {0.0}
        assert measured and measured <= set(keras_l2)


@pytest.mark.slow
def test_bad_usage_exits_2_and_lists_valid_names(tmp_path):
    rc, _, out = run_parity(tmp_path, "--penalties", "l3")
    assert rc == 2
    assert "invalid choice: 'l3'" in out and "elastic_net" in out


@pytest.mark.slow  # trains in worker processes
def test_missing_framework_is_skipped_with_reason_and_fails_unless_allowed(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setitem(cli.NEEDS, "torch", ("torch", "no_such_module_xyz"))
    args = ["--presets", "seed", "--optimizers", "sgd", "--dtypes", "float64"]
    args += ["--seeds", "1", "--epochs", "2", "--cv-epochs", "0", "--frameworks", "jax", "torch"]
    assert cli.main([*args, "--json", str(tmp_path / "a.json")]) == 1
    report = json.loads((tmp_path / "a.json").read_text())
    assert "no_such_module_xyz" in report["skipped"]["torch"] and report["ok"] is False
    assert "skipping torch" in capsys.readouterr().out
    # jax alone has nothing to be compared with: --allow-missing must not make it a success
    assert cli.main([*args, "--allow-missing"]) == 1
    assert "nothing compared across frameworks" in capsys.readouterr().out


def test_one_framework_alone_exits_non_zero_before_training(tmp_path, capsys):
    args = ["--presets", "tutorial", "--frameworks", "tf", "--json", str(tmp_path / "a.json")]
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert "FAIL: nothing compared across frameworks" in out and "(tf)" in out
    assert "PASS" not in out
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["ok"] is False and report["runs"] == []  # nothing trained
    assert report["error"].startswith("parity: FAIL: nothing compared")


def test_a_selection_no_preset_offers_is_bad_usage_naming_what_it_has(capsys):
    """`scheduled` has no Adam configuration: exit 2 before anything runs, saying so, rather
    than "0 runs" and a complaint about the frameworks."""
    args = ["--presets", "scheduled", "--optimizers", "adam", "--frameworks", "jax", "torch"]
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "no configuration of preset 'scheduled' uses optimizer 'adam'" in err
    assert "it has (optimizer + penalty): sgd + l2" in err
    # several presets, optimizers and a penalty: each named, with what each preset has
    why = cli.empty_selection(["seed", "tutorial"], ["adam", "nesterov"], ["l1"])
    assert why is not None
    assert why.startswith("no configuration of presets 'seed', 'tutorial' uses optimizer ")
    assert "'adam' or 'nesterov' with penalty 'l1'" in why
    assert "seed: adam + l2, sgd + l2, adamw + none; tutorial: adam + l2" in why
    # every preset has a configuration of its own optimizers and penalties; dtypes never empty
    for name, preset in PRESETS.items():
        for optimizer, penalty in preset.cases:
            assert cli.empty_selection([name], [optimizer], [penalty]) is None
    assert cli.empty_selection(list(PRESETS), list(OPTIMIZERS), list(PENALTIES)) is None


def test_no_graded_pair_names_the_frameworks_that_would_make_one(capsys):
    """tf and torch with Adam make no graded pair (Keras's Adam is not torch's): the line says
    which frameworks would, not that two were needed; exit 1 as the docs say."""
    args = ["--presets", "seed", "--optimizers", "adam", "--frameworks", "tf", "torch"]
    assert cli.main(args) == 1
    out = capsys.readouterr().out
    assert "nothing compared across frameworks" in out and "(tf, torch)" in out
    assert "needs tf + jax or torch + jax" in out
    sgd = cli.parse(["--presets", "seed", "--optimizers", "sgd", "--dtypes", "float32"])
    assert cli.graded_needs(sgd) == [("tf", "jax"), ("tf", "torch"), ("torch", "jax")]


def test_keras_on_torch_adamw_in_float32_is_shown_with_its_cause():
    """Keras's torch backend applies AdamW's decay as w *= fl32(1 - wd*lr), the generic step
    (TF, JAX, the converter) as w - w*wd*lr: shown, not graded; its Adam stays graded."""
    kinds = {}
    for opt in ("adam", "adamw"):
        _, pairs = build_runs(["seed"], [opt], list(PENALTIES), ["float32"], list(FRAMEWORKS), 1)
        kinds |= {(opt, p.a.name, p.b.name): p.kind for p in pairs}
    assert kinds[("adamw", "jax[keras]", "keras-torch")] == "info"
    assert kinds[("adam", "jax[keras]", "keras-torch")] == "graded"
    assert kinds[("adamw", "jax[keras]", "keras-jax")] == "graded"
    assert "1 - wd*lr" in note("adamw", "jax[keras]", "keras-torch")
    # the decay factor rounded to float32: 1.66e-4 too large, relative, at lr = wd = 0.01
    lr = np.float32(PRESETS["seed"].lr["adamw"])
    applied = 1 - float(np.float32(1) - np.float32(0.01 * float(lr)))
    np.testing.assert_allclose(applied / (0.01 * float(lr)) - 1, 1.66e-4, rtol=1e-2)


# --------------------------------------------------------------------------------------------
# Grading and the report's first screen on synthetic comparison records (no training)


def verdict(row: dict) -> str:
    """The result column of the report's comparison table for ``row``."""
    return tables({"comparisons": [row], "runs": []})[0][0][-1]


def _fault_row(dtype: str, identical: bool) -> dict:
    cfg = Config("seed", "adamw", "none", dtype, 0)
    pair = Pair(Run(cfg, "torch", "fault_strength"), Run(cfg, "torch"), "fault")
    traj = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    logits = np.eye(3)
    faulty = traj if identical else traj + 1e-3
    floor = {"floor": 1e-7, "chaotic": False} if dtype == "float32" else None
    ra, rb = (
        {"trajectory": faulty, "test_logits": logits},
        {"trajectory": traj, "test_logits": logits},
    )
    return comparison_row(pair, ra, rb, floor=floor)


def test_a_fault_that_rounds_away_has_no_effect_rather_than_being_missed():
    """AdamW's strength fault x (1 + 1e-6) in float32: torch's decay factor fl32(1 - lr*wd) is
    the same number, so the faulty run is the correct one bit for bit."""
    lr, wd = np.float32(0.01), np.float32(0.01)
    assert np.float32(1) - lr * wd == np.float32(1) - lr * np.float32(wd * (1 + 1e-6))
    row = _fault_row("float32", identical=True)
    assert row["fault_has_effect"] is False and row["detected"] is None
    assert row["judged"] == NO_EFFECT and verdict(row) == NO_EFFECT
    moved = _fault_row("float32", identical=False)
    assert moved["fault_has_effect"] and moved["detected"] and verdict(moved) == "told apart"
    # float64 must tell every fault apart: one that changes nothing fails
    row64 = _fault_row("float64", identical=True)
    assert row64["passed"] is False and verdict(row64) == f"FAIL: {NO_EFFECT}"


def test_chaotic_where_ten_times_the_floor_exceeds_1e_2():
    assert CHAOTIC == 1e-2 and FLOOR_MULTIPLE == 10
    for floor, chaotic in ((9.9e-4, False), (1e-3, False), (1.01e-3, True), (3.2e-3, True)):
        assert is_chaotic(floor) is chaotic, floor
    assert is_chaotic(float("nan"))
    f = {"floor": 3.2e-3, "chaotic": is_chaotic(3.2e-3)}  # digits_mlp sgd's, tolerance 3.2e-2
    tol, judged = tolerance_for("graded", "float32", f)
    assert tol is None and judged.startswith("info: chaotic")


def _cmp(kind, a, b, rel, floor, *, seed=0, preset="converged", optimizer="sgd", **kw):
    base = {"preset": preset, "optimizer": optimizer, "penalty": "l1", "dtype": "float32"}
    row = {**base, "seed": seed, "a": a, "b": b, "kind": kind, "rel_movement": rel}
    row |= {"noise_floor": floor, "chaotic": is_chaotic(floor), "judged": kind}
    row |= {"passed": None, "detected": None, "fault_has_effect": None}
    return row | kw


def _floors(preset, optimizer, floors):
    base = {"preset": preset, "optimizer": optimizer, "penalty": "l1", "dtype": "float32"}
    return [{**base, "seed": s, "floor": f, "chaotic": is_chaotic(f)} for s, f in enumerate(floors)]


def test_smallest_float32_fault_only_beyond_ten_times_the_largest_floor_over_seeds():
    """converged SGD + L1: a 1.1e-7 fault amplified to 1.1e-4 on seed 0 (floor 2.2e-7), while
    seeds 1 and 2 have floors 1.3e-4 and 3.9e-5: a knife edge, not resolving power."""
    floors = _floors("converged", "sgd", [2.2e-7, 1.3e-4, 3.9e-5])
    fault = dict(fault="momentum", fault_size=1.1e-7, detected=True, fault_has_effect=True)
    amplified = _cmp("fault", "torch[fault_momentum]", "torch", 1.1e-4, 2.2e-7, **fault)
    report = {"comparisons": [amplified], "noise_floors": floors}
    assert smallest_faults(report)["converged"]["float32"] is None
    resolved = {**amplified, "rel_movement": 1.4e-3, "fault_size": 1e-2}  # > 10 x 1.3e-4
    report["comparisons"].append(resolved)
    assert smallest_faults(report)["converged"]["float32"] == 1e-2
    f64 = {**amplified, "dtype": "float64", "rel_movement": 1e-9}
    assert smallest_faults({"comparisons": [f64], "noise_floors": floors})["converged"] == {
        "float64": 1.1e-7,
        "float32": None,
    }


def test_each_cause_is_quoted_by_its_calmest_most_telling_row():
    """A cause is quoted by its row with the largest ratio to its floor among configurations
    that are not chaotic; a cause whose rows are all within 10x their floors says so."""
    ok = dict(passed=True, tolerance=1e-6)
    graded = [_cmp("graded", "jax", "torch", 2e-7, 1e-7, optimizer="adam", **ok)]
    info = [
        # stock optax's float32 bias corrections: a chaotic seed must not be quoted
        _cmp("info", "jax", "torch", 2.7e-2, 2.7e-3, preset="digits_mlp", optimizer="adam"),
        _cmp("info", "jax", "torch", 3e-4, 1e-7, seed=1, preset="digits_mlp", optimizer="adam"),
        # the same with x64 on: within 10x its floor
        _cmp("info", "jax[x64]", "torch", 5.5e-5, 5.5e-5, optimizer="adam"),
        # Keras-on-torch AdamW: the largest ratio, not the largest divergence
        _cmp("info", "jax[keras]", "keras-torch", 1.4e-5, 1e-5, seed=1, optimizer="adamw"),
        _cmp("info", "jax[keras]", "keras-torch", 7.7e-6, 1.7e-7, optimizer="adamw"),
        # a pair graded elsewhere, here from a chaotic configuration, and a negative control
        # there (different on purpose): only the first is quoted as chaotic
        _cmp("graded", "jax", "tf", 3.2e-3, 3.2e-3, preset="digits_mlp", judged="info: chaotic"),
        _cmp("control", "tf[no_half]", "tf", 2.8e-1, 2.7e-3, preset="digits_mlp"),
    ]
    report = {"comparisons": graded + info, "ok": True, "skipped": {}, "runs": []}
    line = next(ln for ln in summary(report) if ln.startswith("- **float32 matched**"))
    shown = line.split("**Not graded, shown with its cause**")[1]
    assert (
        "bias corrections (jax_enable_x64 off): 3.0e-04 (jax vs torch, `digits_mlp` adam + l1, "
        "seed 1, 3000.0x its floor)" in shown
    )
    within = "within 10x its floor (a graded pair's tolerance): at most 5.5e-05"
    assert f"(the measured cause): {within}" in shown
    keras_torch = "7.7e-06 (jax[keras] vs keras-torch, `converged` adamw + l1, seed 0, 45.3x"
    assert f"rounded to float32): {keras_torch}" in shown
    assert "chaotic configurations (10x the floor above 0.01): worst 3.2e-03 (jax vs tf, " in shown
    assert "2.7e-02" not in shown and "2.8e-01" not in shown


ROW_KEYS = ("a", "b", "preset", "optimizer", "penalty", "seed")


def _first_screen_rows(line: str) -> list[tuple[str, ...]]:
    """Every row a first-screen line quotes: (rel_movement, a, b, preset, optimizer, penalty,
    seed) as written."""
    quoted = r"(\d\.\de-\d\d) \((\S+) vs (\S+), `(\w+)` (\w+) \+ (\w+), seed (\d+)"
    return re.findall(quoted, line)


def test_first_screen_quotes_only_rows_it_lists_in_words_of_their_category():
    """The user's report: the float32 line said "Some differences shown (2.6e-06) are smaller
    than the worst match (3.3e-04)", 2.6e-06 from an information row quoted nowhere, and
    filed clipping's 4.4e-07 under "Differs" as "a match". Rebuilt on the committed rows."""
    ok = dict(passed=True, tolerance=3.3e-3)
    worst = _cmp("graded", "tf", "torch", 3.3e-4, 3.6e-4, seed=1, penalty="elastic_net", **ok)
    graded = [worst, _cmp("graded", "jax[torch]", "torch", 1e-7, 1e-7, **ok)]
    info = [
        # stock optax's float32 Adam bias corrections: quoted by the largest ratio
        _cmp("info", "jax", "torch", 2.7e-2, 2.6e-7, seed=1, preset="digits_mlp", optimizer="adam"),
        # beyond 10x its floor, the smallest such row, but not the one quoted for its cause
        _cmp("info", "jax", "torch", 2.64e-6, 1.93e-7, optimizer="adam", penalty="none"),
        # the same with x64 on, beyond its floor: quoted, and below the worst match
        _cmp("info", "jax[x64]", "torch", 7.3e-6, 1.69e-7, preset="seed", optimizer="adamw"),
        # clipping: within 10x its floor
        _cmp("info", "jax", "torch", 4.37e-7, 1.71e-7, preset="scheduled", penalty="l2"),
    ]
    report = {"comparisons": graded + info, "ok": True, "skipped": {}, "runs": []}
    line = next(ln for ln in summary(report) if ln.startswith("- **float32 matched**"))
    matched, shown = line.split("**Not graded, shown with its cause**")
    assert "Differs" not in line and "a match" not in line and "2.6e-06" not in line
    assert "within 10x its floor (a graded pair's tolerance): at most 4.4e-07" in shown
    # every quoted number is the rel_movement of a row of the category it is quoted under
    as_quoted = lambda c: (f"{c['rel_movement']:.1e}", *(str(c[k]) for k in ROW_KEYS))  # noqa: E731
    for part, rows in ((matched, graded), (shown, info)):
        quoted = _first_screen_rows(part)
        assert quoted and set(quoted) <= {as_quoted(c) for c in rows}, quoted
    # the note names a quoted row beyond its tolerance and the worst match, both on the line
    note = shown.split(" A row shown beyond its tolerance, ")[1]
    assert note.startswith(
        "7.3e-06 (jax[x64] vs torch), is below the worst graded match, 3.3e-04 (tf vs torch)"
    )
    assert "7.3e-06 (jax[x64] vs torch, `seed` adamw + l1, seed 0, 43.2x its floor)" in shown
    assert "worst 3.3e-04 (tf vs torch, `converged` sgd + elastic_net, seed 1, 0.9x" in matched
    # no row beyond its tolerance below the worst match: no note
    calm = {**report, "comparisons": graded + info[:1] + info[3:]}
    line = next(ln for ln in summary(calm) if ln.startswith("- **float32 matched**"))
    assert "below the worst graded match" not in line


def test_first_screen_says_graded_with_failures_rather_than_matched():
    bad = _cmp("graded", "jax", "torch", 5e-6, 1e-7, passed=False, tolerance=1e-6)
    good = _cmp("graded", "jax[torch]", "torch", 1e-7, 1e-7, passed=True, tolerance=1e-6)
    report = {"comparisons": [bad, good], "ok": False, "skipped": {}, "runs": []}
    lines = summary(report)
    assert lines[0].startswith("**FAIL**: 1/2 graded pairs agree")
    assert lines[1].startswith("- **float32 graded, 1 FAIL**: ")
    assert "matched" not in lines[1]


def test_table_columns_are_named_by_the_json_fields_they_show():
    """The user's report: JSON `max_rel_weight_diff` was taken for the table's "max
    elementwise" (`max_elementwise_rel_movement`). Each column now is its field's name, and the
    Markdown says what the fields not in the table measure."""
    cmp = _fault_row("float64", identical=False)
    assert set(CMP_HEADER) - {"result"} <= set(cmp)
    cells = dict(zip(CMP_HEADER, tables({"comparisons": [cmp], "runs": []})[0][0], strict=True))
    for field in ("rel_movement", "max_elementwise_rel_movement", "tolerance"):
        assert cells[field] == f"{cmp[field]:.1e}", field
    assert cells["worst_epoch"] == str(cmp["worst_epoch"]) and cells["a"] == cmp["a"]
    assert cmp["max_rel_weight_diff"] != cmp["max_elementwise_rel_movement"]

    run = Run(Config("seed", "sgd", "l2", "float64", 0), "torch")
    rng = np.random.default_rng(0)
    job = {"iris/X_test": rng.normal(size=(5, 4)), "iris/y_test": np.arange(5) % 3}
    job["iris/y_train"] = np.arange(6) % 3
    res = {"trajectory": rng.normal(size=(3, 35)), "seconds": 1.0}
    res |= {"train_logits": rng.normal(size=(6, 3)), "test_logits": rng.normal(size=(5, 3))}
    row = run_row(run, res, job)
    assert set(RUN_HEADER) <= set(row)
    cells = dict(zip(RUN_HEADER, tables({"comparisons": [], "runs": [row]})[1][0], strict=True))
    assert cells["framework"] == "torch" and cells["seconds"] == "1.00"
    assert cells["final_loss"] == f"{row['final_loss']:.6f}"

    report = {"comparisons": [cmp], "runs": [row], "ok": True, "skipped": {}}
    text = markdown(report | {"versions": {}, "seconds": 1.0})
    assert "| rel_movement | max_elementwise_rel_movement | worst_epoch |" in text
    assert "`max_rel_weight_diff`, the final epoch's `max|a - b| / max|b|`" in text
    assert "| framework | jax_enable_x64 | init_test_accuracy |" in text
