"""The type aliases and protocols of jaxreg's public signatures, to annotate code that calls it.

>>> import jaxreg as jr
>>> from jaxreg.typing import MaskLike
>>> def penalize(mask: MaskLike = jr.masks.kernels) -> jr.Penalty:
...     return jr.l2(0.1, mask=mask)

Numbers and arrays are `jax.typing.ArrayLike` in, `jax.Array` out. `PyTree`, `Weights` and
`Center` are ``Any``: Python's type system cannot express "any registered pytree node" (optax's
``Params`` and equinox's ``PyTree`` are ``Any`` too).
"""

from ._typing import Center as Center
from ._typing import DataMatrix as DataMatrix
from ._typing import Device as Device
from ._typing import KerasObject as KerasObject
from ._typing import LinearLoss as LinearLoss
from ._typing import MaskLike as MaskLike
from ._typing import OptimizerName as OptimizerName
from ._typing import PyTree as PyTree
from ._typing import SklearnEstimator as SklearnEstimator
from ._typing import Splitter as Splitter
from ._typing import Strengths as Strengths
from ._typing import TorchOptimizer as TorchOptimizer
from ._typing import TorchScheduler as TorchScheduler
from ._typing import TorchSpec as TorchSpec
from ._typing import Weights as Weights

__all__ = [
    "Center",
    "DataMatrix",
    "Device",
    "KerasObject",
    "LinearLoss",
    "MaskLike",
    "OptimizerName",
    "PyTree",
    "SklearnEstimator",
    "Splitter",
    "Strengths",
    "TorchOptimizer",
    "TorchScheduler",
    "TorchSpec",
    "Weights",
]
