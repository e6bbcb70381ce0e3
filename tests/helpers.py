"""Independent references: NumPy float64 re-statements of each penalty, and tree helpers."""

from __future__ import annotations

import numpy as np


def f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def ref_l1(x):
    return np.abs(f64(x)).sum()


def ref_l2(x):
    return 0.5 * (f64(x) ** 2).sum()


def ref_elastic_net(x, r):
    return r * ref_l1(x) + (1 - r) * ref_l2(x)


def ref_group_lasso(x, axis=-1):
    return np.sqrt((f64(x) ** 2).sum(axis=axis)).sum()


def _matrix(x):
    x = f64(x)
    return x if x.ndim == 2 else x.reshape(-1, x.shape[-1])


def ref_nuclear(x):
    return np.linalg.svd(_matrix(x), compute_uv=False).sum()


def ref_spectral(x):
    return np.linalg.norm(_matrix(x), ord=2)


def ref_orthogonal(x, mode="rows"):
    m = _matrix(x)
    if mode == "columns":
        m = m.T
    # keras.ops.normalize: x * min(1 / ||x||, 1 / epsilon), epsilon = 1e-7
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        unit = m * np.minimum(1.0 / norms, 1e7)
    n = m.shape[0]
    cos = [abs(unit[i] @ unit[j]) for i in range(n) for j in range(i + 1, n)]
    return float(np.mean(cos)) if cos else 0.0


def assert_close(actual, expected, *, rtol, atol=0.0, what=""):
    actual, expected = f64(actual), f64(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def central_difference(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Gradient of a NumPy scalar function by central differences, one coordinate at a time."""
    x = f64(x)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g
