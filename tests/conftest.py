"""Test configuration: float64 is on so that NumPy float64 references are meaningful.

Every test that wants float32/bf16 says so explicitly. The library's doctests run in their own
pytest process (see the Makefile), with JAX's default (x64 off).
"""

import jax

jax.config.update("jax_enable_x64", True)
