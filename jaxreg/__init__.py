"""jaxreg: norm regularization for JAX.

Penalties are pure functions of a parameter pytree, built once with validated hyperparameters:

>>> import jax, jax.numpy as jnp, jaxreg as jr
>>> params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
>>> pen = jr.l2(0.1, mask=jr.masks.kernels) + jr.l1(0.01)
>>> round(float(jax.jit(pen)(params)), 6)
0.38
"""

from importlib import metadata as _metadata

from . import constraints as constraints
from . import conventions as conventions
from . import linear as linear
from . import masks as masks
from . import select as select
from . import transforms as transforms
from . import typing as typing
from ._kinds.group import group_lasso as group_lasso
from ._kinds.group import sparse_group_lasso as sparse_group_lasso
from ._kinds.matrix import nuclear as nuclear
from ._kinds.matrix import orthogonal as orthogonal
from ._kinds.matrix import spectral as spectral
from ._kinds.nonconvex import l0 as l0
from ._kinds.nonconvex import lq as lq
from ._kinds.nonconvex import mcp as mcp
from ._kinds.nonconvex import scad as scad
from ._kinds.separable import elastic_net as elastic_net
from ._kinds.separable import l1 as l1
from ._kinds.separable import l2 as l2
from ._kinds.sorted import slope as slope
from ._penalty.types import Penalty as Penalty
from ._penalty.types import Sum as Sum
from ._penalty.types import Term as Term
from ._regularized import regularized as regularized
from ._solve import SolveInfo as SolveInfo
from ._solve import solve as solve

# The version is written once, in pyproject.toml, and read from the installed package's metadata.
# A source tree imported without being installed (on PYTHONPATH) has no metadata: "0+unknown",
# a valid PEP 440 version below every release.
try:
    __version__: str = _metadata.version("jaxreg")
except _metadata.PackageNotFoundError:  # pragma: no cover - only for an uninstalled source tree
    __version__ = "0+unknown"

__all__ = [
    "Penalty",
    "constraints",
    "conventions",
    "elastic_net",
    "group_lasso",
    "l0",
    "l1",
    "l2",
    "linear",
    "lq",
    "masks",
    "mcp",
    "nuclear",
    "orthogonal",
    "regularized",
    "scad",
    "select",
    "solve",
    "SolveInfo",
    "slope",
    "sparse_group_lasso",
    "spectral",
    "Sum",
    "Term",
    "transforms",
    "typing",
]
