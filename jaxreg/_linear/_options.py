"""The solver's options: one frozen, validated, hashable object (a static argument of the
compiled drivers, as optimistix's solvers carry ``rtol``, ``atol``, ``norm``)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ._datafits import Datafit, datafit_for


@dataclasses.dataclass(frozen=True)
class SolverOptions:
    """What `fit`, `path` and `cross_validate` fix at compile time (``tol`` stays traced).

    Attributes:
      datafit: the loss (`jaxreg._linear._datafits`).
      fit_intercept: fit an unpenalized intercept.
      max_iter: outer iterations (full gradient passes) at most.
      max_epochs: coordinate-descent epochs per working set at most.
      ws_min: the smallest working set.
      anderson: extrapolate every this many epochs (0: never).

    >>> from jaxreg._linear._datafits import Squared
    >>> SolverOptions(Squared(), max_iter=50) == SolverOptions(Squared(), max_iter=50)
    True
    >>> SolverOptions(Squared(), anderson=1)
    Traceback (most recent call last):
    ...
    ValueError: anderson must be 0 (off) or >= 2 (iterates combined); got 1.
    """

    datafit: Datafit
    fit_intercept: bool = True
    max_iter: int = 100
    max_epochs: int = 10_000
    ws_min: int = 10
    anderson: int = 5

    def __post_init__(self):
        for name, low in (("max_iter", 1), ("max_epochs", 1), ("ws_min", 1), ("anderson", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}; got {name}={v!r}.")
        if not isinstance(self.fit_intercept, bool | np.bool_):
            raise ValueError(
                "fit_intercept must be a bool (True or False); got "
                f"fit_intercept={self.fit_intercept!r}."
            )
        object.__setattr__(self, "fit_intercept", bool(self.fit_intercept))
        if self.anderson == 1:
            raise ValueError("anderson must be 0 (off) or >= 2 (iterates combined); got 1.")


def check_tol(tol: Any) -> None:
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0; got tol={tol!r}.")


def solver_options(
    *,
    tol: Any,
    loss: Any,
    huber_delta: Any,
    fit_intercept: bool,
    max_iter: int,
    max_epochs: int,
    ws_min: int,
    anderson: int,
) -> SolverOptions:
    """The public keywords checked (``tol`` first, then the loss) and gathered."""
    check_tol(tol)
    return SolverOptions(
        datafit_for(loss, huber_delta),
        fit_intercept=fit_intercept,
        max_iter=max_iter,
        max_epochs=max_epochs,
        ws_min=ws_min,
        anderson=anderson,
    )
