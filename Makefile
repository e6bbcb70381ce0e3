# Every target does its own set-up from a bare Python 3.11+.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install test test-fast parity lint format bench peers docs clean

help:
	@echo "make parity     set up and run the parity suite (JAX vs TensorFlow/Keras vs PyTorch)"
	@echo "make test       set up and run lint + docs + the test suite (doctests, reduced parity run)"
	@echo "make test-fast  the inner loop: the tests not marked slow, on 2 cores"
	@echo "                (no lint, docs, doctests, parity, examples or other subprocess suites)"
	@echo "make lint       ruff (lint and format check) and pyright"
	@echo "make bench      set up and run the CPU benchmarks (about 15 minutes; writes benchmarks/results/)"
	@echo "make peers      build .venv-peers: glmnet, adelie, glum (NumPy < 2) for the linear benchmark"
	@echo "make docs       build the documentation site into site/ (mkdocs --strict; part of make test)"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[parity,bench,dev]'
	touch $(STAMP)

install: $(STAMP)

# pyright comes with its Node.js and its JavaScript (pyright[nodejs]); the variable skips its
# check of PyPI for a newer release, so lint runs offline; -p: this project's settings, not those
# of a pyrightconfig.json in a parent folder (pyright looks for one before pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(VENV)/bin/pyright -p pyproject.toml

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Doctests run in their own process: tests/ turns on float64, doctests show JAX's defaults.
# -n 2 --dist loadfile: one worker per core, each test file on one worker (module fixtures, such
# as the reduced parity run, run once); most tests compile on one thread, so two files at once
# keep both cores busy. --no-loadscope-reorder: in tests/conftest.py's order, longest first.
test: lint docs
	$(PY) -m pytest -q --doctest-modules jaxreg
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests

# The inner loop: the tests not marked slow (tests/conftest.py says which are), spread test by
# test over both cores. make test runs them all, with lint, docs and doctests, before a push.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n 2 --durations=10 tests

# --strict: a broken link or cross-reference, or a public name without a docstring, fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

parity: $(STAMP)
	$(PY) -m parity --json parity/results/report.json --markdown parity/results/report.md --plot parity/results/divergence.png

# The second run repeats the large penalties with glibc keeping freed memory for reuse: one
# arena (XLA's worker threads otherwise allocate from per-thread heaps capped at 64 MB, so a
# 400 MB gradient is always a fresh mmap), no mmap for large blocks, no trimming. It shows what
# the allocator's page faults cost value+grad (benchmarks/README.md).
TUNED_MALLOC = MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=4000000000 \
	MALLOC_TRIM_THRESHOLD_=8000000000 MALLOC_TOP_PAD_=1000000000
# The linear benchmark's peers pin NumPy < 2: their own environment, run in their own processes.
PEERS_VENV  := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
$(PEERS_STAMP): benchmarks/peers-requirements.txt
	$(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install --quiet -r benchmarks/peers-requirements.txt
	touch $(PEERS_STAMP)

peers: $(PEERS_STAMP)

bench: $(STAMP) $(PEERS_STAMP)
	$(PY) -m benchmarks --json benchmarks/results/cpu.json --markdown benchmarks/results/cpu.md --plot-dir benchmarks/results
	$(TUNED_MALLOC) $(PY) -m benchmarks --sections penalty \
	  --penalty-sizes 10000000 30000000 100000000 --layouts one mix thousand \
	  --json benchmarks/results/cpu-malloc-tuned.json --markdown benchmarks/results/cpu-malloc-tuned.md

clean:
	rm -rf $(VENV) $(PEERS_VENV) .pytest_cache .ruff_cache
