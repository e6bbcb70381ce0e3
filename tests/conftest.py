"""Test configuration: float64 is on so that NumPy float64 references are meaningful.

Every test that wants float32/bf16 says so explicitly. The library's doctests run in their own
pytest process (see the Makefile), with JAX's default (x64 off).

The fast lane (`make test-fast`: `pytest -m "not slow"`) leaves out the tests marked `slow`.
The rule: a test that starts a Python process (`helpers.run_python`, `run_example`,
`json_worker`, `subprocess`: the parity suite, docs pages, benchmarks, examples, packaging,
several devices) is `slow`; so is one that alone takes more than about 10 s on one core. Mark a
whole module with ``pytestmark = pytest.mark.slow`` under its imports, or one test with
``@pytest.mark.slow``. `make test` runs everything, slow or not.

Order: the longest files first (`pytest_collection_modifyitems` below), so that the quick ones
fill the gaps at the end. `make test` hands whole files to its two workers in collection order
(with `--no-loadscope-reorder`: xdist would otherwise order them by their number of tests, and
the benchmarks' smoke run, 80 s in 2 tests, came last while one core idled).

Where things live: one file per behaviour or module (`test_masks.py`, `test_prox.py`,
`test_solve.py`, ...); what several files share (NumPy references, `diabetes()`,
`dense_params()`, `run_python`, `run_example`, `json_worker`) is in `helpers.py`.
"""

import os
import subprocess
import sys

# Compile faster in this process. Most of the suite's time is compiling small programs, so
# the tests compile as a developer's debug build would: XLA:CPU's loop emitters instead of its
# MLIR fusion emitters (the option `jr.linear`'s drivers already compile with,
# jaxreg/_linear/_compiled.py), LLVM at -O0 and without its expensive passes. The same
# operations are computed (results may differ in rounding); only the machine code is less
# optimised, which these small programs do not notice: together the three halve the CPU time
# of test_linear.py + test_hypergradient.py (317 -> 167 s). The processes the tests start get
# the user's own XLA_FLAGS back (`helpers.user_env`: examples, packaging), since -O0 slows
# their training more than it saves, except where measured otherwise: the docs pages and the
# sharding checks compile as the tests do, the parity suite with the loop emitters only
# (`helpers.parity_env`) and the benchmarks' smoke run as the tests do. The options are probed
# in a process of their own first: XLA aborts on a flag it does not know, and a later XLA may
# drop one. xdist's workers inherit both variables from the first process, so only it probes.
FAST_COMPILE = (
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
USER_XLA_FLAGS = "JAXREG_TESTS_USER_XLA_FLAGS"
if USER_XLA_FLAGS not in os.environ:
    os.environ[USER_XLA_FLAGS] = os.environ.get("XLA_FLAGS", "")
    probe = "import jax.numpy as jnp; jnp.zeros(2).sum().block_until_ready()"

    def known(flags: str) -> bool:
        env = {**os.environ, "XLA_FLAGS": flags}
        run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True)
        return run.returncode == 0

    flags = os.environ[USER_XLA_FLAGS]
    if known(f"{flags} {' '.join(FAST_COMPILE)}"):  # one probe where XLA knows all three
        flags = f"{flags} {' '.join(FAST_COMPILE)}"
    else:
        for option in FAST_COMPILE:
            if known(f"{flags} {option}"):
                flags = f"{flags} {option}"
    os.environ["XLA_FLAGS"] = flags.strip()

import jax  # noqa: E402  (after XLA_FLAGS: XLA reads it when its backend starts)

jax.config.update("jax_enable_x64", True)


# The files that take longest in `make test`, longest first (measured, 2 workers, idle machine:
# 225, 119, 105, 84, 77, 73, 45, 43, 39 s); then the other files with a slow test.
LONGEST_FILES = (
    "test_parity.py",
    "test_hypergradient.py",
    "test_linear.py",
    "test_benchmarks.py",
    "test_parity_mutations.py",
    "test_docs.py",
    "test_nonconvex.py",
    "test_select.py",
    "test_scaling.py",
)


def pytest_collection_modifyitems(config, items):
    """The longest files first, then those that have a slow test, each file's tests kept
    together and in order."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item):
        name = item.path.name
        longest = LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)
        return longest, item.path not in slow_files

    items.sort(key=rank)  # stable: each file's tests stay in order
