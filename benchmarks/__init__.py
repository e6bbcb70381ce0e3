"""jaxreg benchmarks: ``python -m benchmarks --help``. Never imported by the library."""
