"""The parity suite catches known faults: each mutation injects one into a temporary copy of
jaxreg (or of the suite), and the suite run on that copy must exit 1 and name the culprit."""

from __future__ import annotations

import shutil

import pytest
from helpers import ROOT, run_parity

pytestmark = pytest.mark.slow  # starts Python processes (tests/conftest.py)

SMALL = ("--seeds", "1", "--epochs", "2", "--cv-epochs", "0", "--dtypes", "float64")
SMALL += ("--members", "0", "--no-faults")  # float64 is graded at 1e-12 without them
# later flags win: a mutation may set its own --epochs / --cv-epochs
MUTATIONS = {
    # Keras's L2 has no 1/2: forgetting it in from_keras halves every converted strength
    "keras_lost_half": (
        "jaxreg/_conventions.py",
        "_KERAS_L2_TO_TEXTBOOK = 2.0",
        "_KERAS_L2_TO_TEXTBOOK = 1.0",
        ("--presets", "seed", "--optimizers", "sgd", "--frameworks", "tf", "jax"),
        ("jax[keras]", "tf"),
    ),
    "penalized_bias": (
        "jaxreg/_masks.py",
        'VECTOR_KERNEL_NAME = re.compile(r"^(?:kernel|',
        'VECTOR_KERNEL_NAME = re.compile(r"^(?:bias|kernel|',
        ("--presets", "seed", "--optimizers", "sgd", "--frameworks", "torch", "jax"),
        ("jax", "torch"),
    ),
    "swapped_l1_ratio": (
        "jaxreg/_kinds/separable.py",
        "l1_ratio=as_leaf(l1_ratio))",
        "l1_ratio=as_leaf(1 - l1_ratio))",
        (
            *("--presets", "converged", "--optimizers", "sgd", "--penalties", "elastic_net"),
            *("--frameworks", "torch", "jax"),
        ),
        ("jax", "torch"),
    ),
    # the suite's own Keras run built with another epsilon: its exported config says so
    "keras_epsilon": (
        "parity/_keras_worker.py",
        '"epsilon": h["eps"]}',
        '"epsilon": h["eps"] * 100}',
        ("--presets", "seed", "--optimizers", "adam", "--frameworks", "tf", "jax"),
        None,
    ),
    # jr.select.cross_validate's one-SE rule picking the smallest strength within one SE
    "select_one_se": (
        "jaxreg/_folds.py",
        "within[np.argmax(strengths[within])]",
        "within[np.argmin(strengths[within])]",
        (
            *("--presets", "tutorial", "--epochs", "1", "--cv-epochs", "20"),
            *("--frameworks", "torch", "jax"),
        ),
        None,
    ),
    "coupled_decay": (
        "jaxreg/_optimizers.py",
        "if weight_decay and decoupled_weight_decay:",
        "if False:",
        ("--presets", "seed", "--optimizers", "adamw", "--frameworks", "torch", "jax"),
        ("jax[torch]", "torch"),
    ),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_an_injected_fault_makes_the_suite_fail(name, tmp_path):
    path, old, new, args, culprit = MUTATIONS[name]
    copy = tmp_path / "repo"
    for pkg in ("jaxreg", "parity"):
        shutil.copytree(ROOT / pkg, copy / pkg, ignore=shutil.ignore_patterns("results"))
    source = (copy / path).read_text()
    assert source.count(old) == 1, f"the mutation site of {name} moved: update MUTATIONS"
    (copy / path).write_text(source.replace(old, new))
    rc, report, out = run_parity(tmp_path, *SMALL, *args, cwd=copy)
    assert rc == 1, out[-3000:]
    failed = {(c["a"], c["b"]) for c in report["comparisons"] if c["passed"] is False}
    if culprit:
        assert culprit in failed, (failed, out[-2000:])
    elif name == "keras_epsilon":
        assert any("epsilon" in m for c in report["config_checks"] for m in c["mismatches"])
    else:
        assert report["cv"]["library_agrees"] is False
