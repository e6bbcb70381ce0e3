r"""One NumPy objective that scores every solver's path, in jaxreg's (= scikit-learn's) scaling.

For a problem of kind ``kind`` at strength :math:`\lambda` (``n`` rows, no intercept):

- ``lasso``: :math:`\frac{1}{2n}\lVert y - Xw\rVert^2 + \lambda\lVert w\rVert_1`;
- ``enet``: :math:`\frac{1}{2n}\lVert y - Xw\rVert^2 + \lambda\left(\rho\lVert w\rVert_1 +
  \frac{1-\rho}{2}\lVert w\rVert_2^2\right)`, :math:`\rho` = ``l1_ratio``;
- ``logistic``: :math:`\frac1n\sum_i \log(1 + e^{z_i}) - y_i z_i + \lambda\lVert w\rVert_1`,
  :math:`z = Xw`, :math:`y_i \in \{0, 1\}`;
- ``group``: :math:`\frac{1}{2n}\lVert y - Xw\rVert^2 + \lambda\sum_g\lVert w_g\rVert_2`,
  consecutive groups of ``group_size``.

Each solver's own convention is mapped onto these in ``_linear_solvers.py``. The relative
suboptimality of a path is :math:`(F_\lambda(w_\lambda) - F^*_\lambda) / F_\lambda(0)`, with
:math:`F^*_\lambda` the best objective any solver reached at :math:`\lambda`; a path's score
is its worst over :math:`\lambda`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._linear_problems import Problem


def _penalty(pb: Problem, lam: float, w: np.ndarray) -> float:
    if pb.kind == "group":
        return lam * float(np.sum(np.linalg.norm(w.reshape(-1, pb.group_size), axis=1)))
    l1 = float(np.sum(np.abs(w)))
    if pb.kind == "enet":
        return lam * (pb.l1_ratio * l1 + 0.5 * (1 - pb.l1_ratio) * float(w @ w))
    return lam * l1


def _loss(pb: Problem, z: np.ndarray) -> float:
    if pb.kind == "logistic":
        return float(np.mean(np.logaddexp(0.0, z) - pb.y * z))
    r = pb.y - z
    return 0.5 * float(r @ r) / pb.y.size


def objective(pb: Problem, coef: Any) -> np.ndarray:
    """``F_lambda(coef[k])`` at ``pb.strengths[k]``, for a path ``coef`` of shape ``(K, p)``
    (NaN where ``coef`` has NaN)."""
    coef = np.asarray(coef, dtype=float)
    if coef.shape != (pb.strengths.size, pb.shape[1]):
        raise ValueError(
            f"coef has shape {coef.shape}; expected (K, p) = {(pb.strengths.size, pb.shape[1])}"
        )
    return np.asarray(
        [
            _loss(pb, np.asarray(pb.X @ w)) + _penalty(pb, lam, w)
            for lam, w in zip(pb.strengths, coef, strict=True)
        ]
    )


def null_objective(pb: Problem) -> float:
    """``F_lambda(0)``, the same at every strength: the scale of the relative suboptimality."""
    return _loss(pb, np.zeros(pb.y.size))


def suboptimality(pb: Problem, values: np.ndarray, best: np.ndarray) -> np.ndarray:
    """``(F(w) - F*) / F(0)`` per strength, from the ``objective`` values and the best ones."""
    return (np.asarray(values) - np.asarray(best)) / null_objective(pb)
