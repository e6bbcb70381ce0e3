"""Choosing the strength: ``jr.select.strength_grid``, ``lambda_max``, ``sweep``,
``cross_validate``, ``path``, ``hypergradient``, ``tune``, ``plot_path``, ``plot_cv``,
``plot_tune``."""

from ._select import CVResult as CVResult
from ._select import PathResult as PathResult
from ._select import cross_validate as cross_validate
from ._select import lambda_max as lambda_max
from ._select import path as path
from ._select import plot_cv as plot_cv
from ._select import plot_path as plot_path
from ._select import strength_grid as strength_grid
from ._select import sweep as sweep
from ._tune import TuneResult as TuneResult
from ._tune import hypergradient as hypergradient
from ._tune import plot_tune as plot_tune
from ._tune import tune as tune

__all__ = [
    "CVResult",
    "PathResult",
    "TuneResult",
    "cross_validate",
    "hypergradient",
    "lambda_max",
    "path",
    "plot_cv",
    "plot_path",
    "plot_tune",
    "strength_grid",
    "sweep",
    "tune",
]
