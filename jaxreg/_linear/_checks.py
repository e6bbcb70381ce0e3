"""The drivers' eager half: inputs checked and converted, with errors that name the argument,
and the unconverged warning. Nothing here is traced by the solvers."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.core  # for pyright: `import jax` loads it, but does not declare it
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from .._penalty import Penalty
from ._datafits import Datafit
from ._design import Columns, as_columns
from ._penalty_parts import block_penalty
from ._result import LinearResult


def check_dtype(dtype: Any) -> Any:
    if dtype is None:
        return jnp.result_type(float)  # float64 with jax_enable_x64, else float32
    if jnp.dtype(dtype) not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"dtype must be float32, float64 or None; got dtype={dtype!r}.")
    if jnp.dtype(dtype).itemsize == 8 and not jax.config.read("jax_enable_x64"):
        raise ValueError(
            f"dtype={jnp.dtype(dtype).name} needs 64-bit JAX: set "
            "jax.config.update('jax_enable_x64', True) (or JAX_ENABLE_X64=1) before any "
            "computation, or leave dtype=None (float32 without it)."
        )
    return dtype


def _as_array(v: Any, dtype: Any) -> jax.Array:
    """``v`` as a JAX array of ``dtype``, host data converted by NumPy and put on the device
    (`jnp.asarray` would compile a program for each new shape)."""
    if isinstance(v, jax.Array):
        return jnp.asarray(v, dtype)
    return jax.device_put(np.asarray(v, dtype))


def _sample_weight(sample_weight: Any, n: int, dtype: Any) -> jax.Array:
    if sample_weight is None:
        return jax.device_put(np.ones(n, dtype))  # (NumPy's: an eager jnp.ones compiles)
    s = _as_array(sample_weight, dtype)
    if s.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},); got shape {s.shape}.")
    if isinstance(s, jax.core.Tracer):  # traced: a bad weight gives NaN (eagerly: raises)
        bad = ~jnp.all(jnp.isfinite(s) & (s >= 0)) | (jnp.sum(s) <= 0)
        return jnp.where(bad, jnp.nan, s)
    sh = np.asarray(s)
    if not (np.all(np.isfinite(sh) & (sh >= 0)) and sh.sum() > 0):
        raise ValueError(
            "sample_weight must be finite and >= 0 with a positive sum; got min "
            f"{float(sh.min())}, sum {float(sh.sum())}."
        )
    return s


def _check_numeric_labels(y: Any) -> None:
    """String or object labels raise, naming ``y`` and the encoding to apply."""
    if isinstance(y, jax.Array):
        return
    y_host = np.asarray(y)
    if y_host.dtype.kind not in "OSUV":
        return
    try:
        y_host.astype(float)
    except (TypeError, ValueError):
        first = y_host.ravel()[0].item() if y_host.size else None
        raise TypeError(
            f"y must hold numbers; got dtype {y_host.dtype} (first value {first!r}). Encode "
            "labels first: y = sklearn.preprocessing.LabelEncoder().fit_transform(y) "
            "(classes 0 and 1 for loss='logistic')."
        ) from None


def prepare(
    X: Any, y: Any, sample_weight: Any, datafit: Datafit, dtype: Any
) -> tuple[Columns, jax.Array, jax.Array, int, int, Any]:
    """``(columns, y, sample weights, n, p, dtype)``, checked."""
    dtype = check_dtype(dtype)
    cols, n, p = as_columns(X, dtype)
    if n == 0 or p == 0:
        raise ValueError(f"X needs at least one sample and one feature; got shape ({n}, {p}).")
    _check_numeric_labels(y)
    y = _as_array(y, dtype)
    if y.shape != (n,):
        raise ValueError(f"y must have shape (n_samples,) = ({n},); got shape {y.shape}.")
    s = _sample_weight(sample_weight, n, dtype)
    # labels checked when concrete and NaN-free (NaN propagates to NaN coefficients)
    # (in NumPy: under an outer jit, jnp operations on a concrete y are staged)
    host = None if isinstance(y, jax.core.Tracer) else np.asarray(y)
    if host is not None and not np.isnan(host).any():
        datafit.check_labels(host)
    return cols, y, s, n, p, dtype


def check_penalty(penalty: Any) -> None:
    if not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a jaxreg Penalty; got {type(penalty).__name__}.")


def initial_point(init: Any, p: int, dtype: Any) -> tuple[jax.Array, jax.Array]:
    if init is None:
        return jax.device_put(np.zeros(p, dtype)), jax.device_put(np.zeros((), dtype))
    if not isinstance(init, tuple | list) or len(init) != 2:
        raise ValueError(
            f"init must be a pair (coef of shape ({p},), intercept), e.g. (np.zeros({p}), 0.0); "
            f"got {type(init).__name__} of shape {np.shape(init)}."
        )
    w0, b0 = init
    w0, b0 = _as_array(w0, dtype), _as_array(b0, dtype)
    if w0.shape != (p,) or b0.shape != ():
        raise ValueError(
            f"init must be (coef of shape ({p},), a scalar intercept); got shapes {w0.shape} "
            f"and {b0.shape}."
        )
    return w0, b0


def check_strengths(strengths: Any, dtype: Any) -> jax.Array:
    """The strengths as a 1-d array, checked eagerly when concrete."""
    if strengths is None or isinstance(strengths, str):
        raise TypeError(
            "strengths must be a 1-d array of strengths, e.g. jr.select.strength_grid("
            f"lambda_max, num=30); got {strengths!r}."
        )
    strengths = _as_array(strengths, dtype)
    if strengths.ndim != 1 or strengths.shape[0] == 0:
        raise ValueError(f"strengths must be a non-empty 1-d array; got shape {strengths.shape}.")
    if not isinstance(strengths, jax.core.Tracer):  # traced ones: a bad strength gives NaN
        host = np.asarray(strengths, np.float64)
        bad = np.flatnonzero(~(np.isfinite(host) & (host >= 0)))
        if bad.size:
            k = int(bad[0])
            raise ValueError(f"strengths must be finite and >= 0; got strengths[{k}]={host[k]}.")
    return strengths


def path_args(
    strengths: Any, penalty: Any, p: int, dtype: Any
) -> tuple[jax.Array, Builder, Penalty | None]:
    """The strengths as a 1-d array and the penalty as ``(build, template)``, checked eagerly:
    ``build(template, strength)`` is the penalty at a strength."""
    strengths = check_strengths(strengths, dtype)
    build, template = builder(penalty)
    # its errors, with readable values (any valid strength has the same structure)
    first = 1.0 if isinstance(strengths, jax.core.Tracer) else float(np.asarray(strengths)[0])
    block_penalty(build(template, first), p, dtype)
    return strengths, build, template


@dataclasses.dataclass(frozen=True)
class CallBuilder:
    """A builder ``strength -> Penalty`` (``jr.l1``), as a static argument of the compiled
    path: equal (and its compilation reused) when the function is the same object."""

    fn: Callable[[ArrayLike], Penalty]

    def __call__(self, template: Any, strength: ArrayLike) -> Penalty:
        return self.fn(strength)


def scale_template(template: Penalty, strength: ArrayLike) -> Penalty:
    """A template built with strength 1, scaled: a traced argument of the compiled path, so
    every template of one structure shares one compilation."""
    return strength * template


Builder = Callable[[Any, ArrayLike], Penalty]  # (template or None, strength) -> Penalty


def builder(penalty: Penalty | Callable[[ArrayLike], Penalty]) -> tuple[Builder, Penalty | None]:
    """``(build, template)``: `scale_template` and the template, or a builder and None."""
    if isinstance(penalty, Penalty):
        top = [t.strength for t in penalty.terms if not isinstance(t.strength, jax.core.Tracer)]
        if top and not np.isclose(max(float(np.max(v)) for v in top), 1.0):
            raise ValueError(
                "a Penalty given as path's / cross_validate's penalty is a template scaled by "
                "each strength (s * pen): build it with strength 1 (its largest term's), e.g. "
                f"jr.l1(1.0, weights=w), or pass a builder such as jr.l1; got {penalty!r}."
            )
        return scale_template, penalty
    if callable(penalty):
        return CallBuilder(penalty), None
    raise TypeError(f"penalty must be a builder strength -> Penalty or a Penalty; got {penalty!r}.")


def warn_unconverged(res: LinearResult, what: str) -> None:
    """scikit-learn's ConvergenceWarning, eagerly (under jit the caller reads ``converged``)."""
    conv = res.converged
    if isinstance(conv, jax.core.Tracer):
        return
    conv = np.asarray(conv)
    if conv.all():
        return
    where = "" if conv.ndim == 0 else f" at {int((~conv).sum())} of {conv.size} strengths"
    if np.isnan(np.asarray(res.gap)).any():
        warnings.warn(
            f"jr.linear.{what} did not reach tol{where}: NaN in X, y, sample_weight or a "
            "strength (the coefficients are NaN).",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    warnings.warn(
        f"jr.linear.{what} did not reach tol{where} (NaN in the data, max_iter / "
        "max_epochs too small, more than 64 unpenalized features on more than 512, or in "
        "float32 a tol near its floor of 50 eps, where the gap's rounding stalls it: use "
        "float64); read LinearResult.converged and .gap.",
        RuntimeWarning,
        stacklevel=3,
    )
