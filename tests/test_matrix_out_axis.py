"""The matrix kinds (nuclear, spectral, orthogonal) read an N-d leaf as the `(fan_in, out)`
matrix given by `out_axis`: equinox/PyTorch `(out, in, kh, kw)` and flax `(kh, kw, in, out)`
convolutions against NumPy's SVD of the same matrix."""

from __future__ import annotations

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    assert_close,
    f64,
    ref_orthogonal,
)

import jaxreg as jr


@pytest.mark.slow
def test_matrix_penalties_on_equinox_and_flax_conv_layouts_match_numpy_svd():
    conv = eqx.nn.Conv2d(3, 5, 3, key=jax.random.key(1))  # weight (out, in, kh, kw)
    w = f64(conv.weight)
    m = w.reshape(5, -1)  # (out, fan_in)
    s = np.linalg.svd(m, compute_uv=False)
    assert_close(jr.nuclear(1.0, out_axis=0)(conv), s.sum(), rtol=1e-6)
    assert_close(jax.jit(jr.spectral(1.0, out_axis=0))(conv), s[0], rtol=1e-6)
    # the reading of the first design, (prod(shape[:-1]), shape[-1]), is a different matrix
    wrong = np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]
    assert abs(wrong - s[0]) > 1e-3 * s[0]
    # the same conv as a flax kernel (kh, kw, in, out) with the default out_axis=-1
    kernel = jnp.asarray(np.transpose(w, (2, 3, 1, 0)))
    assert_close(jr.nuclear(1.0)({"kernel": kernel}), s.sum(), rtol=1e-6)
    assert_close(jr.spectral(1.0)({"kernel": kernel}), s[0], rtol=1e-6)
    flax_conv = nn.Conv(5, (3, 3)).init(jax.random.key(2), jnp.ones((1, 6, 6, 3)))
    k = f64(flax_conv["params"]["kernel"])
    assert_close(
        jr.nuclear(1.0)(flax_conv),
        np.linalg.svd(k.reshape(-1, 5), compute_uv=False).sum(),
        rtol=1e-5,
    )


@pytest.mark.slow
def test_nuclear_prox_in_equinox_layout_is_numpy_singular_value_thresholding():
    conv = eqx.nn.Conv2d(3, 5, 3, key=jax.random.key(1))
    w = f64(conv.weight)
    u, s, vt = np.linalg.svd(w.reshape(5, -1), full_matrices=False)
    tau = 0.5 * float(np.median(s))
    want = ((u * np.maximum(s - tau, 0)) @ vt).reshape(w.shape)
    got = jr.nuclear(1.0, out_axis=0).prox(conv, tau)
    assert_close(got.weight, want, rtol=1e-5, atol=1e-6)
    assert got.bias is conv.bias


@pytest.mark.slow
def test_orthogonal_columns_are_output_units_in_either_layout():
    lin = eqx.nn.Linear(6, 4, key=jax.random.key(3))  # weight (out, in)
    units = f64(lin.weight)  # one row per output unit
    want = ref_orthogonal(units, "rows")
    assert_close(jr.orthogonal(1.0, mode="columns", out_axis=0)(lin), want, rtol=1e-6)
    assert_close(jr.orthogonal(1.0, mode="columns")({"kernel": lin.weight.T}), want, rtol=1e-6)
