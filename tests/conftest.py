"""Test configuration: float64 is on so that NumPy float64 references are meaningful.

Every test that wants float32/bf16 says so explicitly. The library's doctests run in their own
pytest process (see the Makefile), with JAX's default (x64 off).

The fast lane (`make test-fast`: `pytest -m "not slow"`) leaves out the tests marked `slow`.
The rule: a test that starts a Python process (`helpers.run_python`, `run_example`,
`json_worker`, `subprocess`: the parity suite, docs pages, benchmarks, examples, packaging,
several devices) is `slow`; so is one that alone takes more than about 10 s on one core. Mark a
whole module with ``pytestmark = pytest.mark.slow`` under its imports, or one test with
``@pytest.mark.slow``. `make test` runs everything, slow or not.

Order: the files with slow tests run first (`pytest_collection_modifyitems` below). `make test`
hands whole files to its two workers in collection order; alphabetically, the longest files
(parity, scaling) came last and ran alone at the end, one core idle. Longest first, the quick
files fill the gaps at the end.

Where things live: one file per behaviour or module (`test_masks.py`, `test_prox.py`,
`test_solve.py`, ...); what several files share (NumPy references, `diabetes()`,
`dense_params()`, `run_python`, `run_example`, `json_worker`) is in `helpers.py`.
"""

import jax

jax.config.update("jax_enable_x64", True)


def pytest_collection_modifyitems(config, items):
    """The files that have a slow test first, each file's tests kept together and in order."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: False (slow) first
