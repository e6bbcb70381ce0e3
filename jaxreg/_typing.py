"""Type aliases of jaxreg's signatures (annotations only; nothing here is used at run time).

Numbers and arrays are `jax.typing.ArrayLike`: a Python scalar, a NumPy or JAX array, or a
tracer under `jit`/`vmap`. Functions return `jax.Array`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
from jax.typing import ArrayLike

if TYPE_CHECKING:
    import scipy.sparse
    from jax.experimental.sparse import BCOO

    from ._masks import Mask

# A pytree of arrays: dicts, lists, tuples, NamedTuples, flax and equinox modules, any registered
# node. Python's type system cannot express "any registered pytree node", so the alias is Any,
# as optax's ``Params`` and equinox's ``PyTree`` are; it names what is expected.
PyTree: TypeAlias = Any

# ``mask=``, with optax.masked's contract: None (every penalizable leaf), a pytree of bools
# (params' structure or a prefix of it), a callable ``params -> pytree of bools``, or one of the
# ready-made `jaxreg.masks.Mask` objects (which are such callables).
MaskLike: TypeAlias = "Mask | Callable[[PyTree], PyTree] | PyTree | None"

# ``weights=``: None (all ones) or a pytree of non-negative arrays, params' structure or a prefix.
Weights: TypeAlias = "PyTree | None"

# ``jax.Device``: jax defines it as a variable (an alias of a C++ class), which a type checker
# cannot use in an annotation.
Device: TypeAlias = Any

# ``X`` of `jaxreg.linear`: dense (NumPy, JAX, nested lists) or sparse (scipy.sparse, jax BCOO).
DataMatrix: TypeAlias = "npt.ArrayLike | scipy.sparse.spmatrix | scipy.sparse.sparray | BCOO"

# ``loss=`` of `jaxreg.linear` (its LOSSES).
LinearLoss: TypeAlias = Literal["squared", "logistic", "huber", "poisson"]

# A 1-D grid of strengths (or SLOPE's sequence): an array, or a list or tuple of numbers.
Strengths: TypeAlias = "ArrayLike | Sequence[float]"


class Splitter(Protocol):
    """A scikit-learn cross-validation splitter (``KFold(5)``, ``GroupKFold(5)``, ...)."""

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterable[tuple[np.ndarray, np.ndarray]]: ...


# The optimizers `jaxreg.conventions` reproduces, by their class name in Keras and torch.optim.
OptimizerName: TypeAlias = Literal["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


class KerasObject(Protocol):
    """A Keras regularizer or optimizer, read through its ``get_config()`` (and class name)."""

    def get_config(self) -> dict[str, Any]: ...


class TorchOptimizer(Protocol):
    """A ``torch.optim`` optimizer, read through its ``param_groups`` (and class name)."""

    @property
    def param_groups(self) -> list[dict[str, Any]]: ...


# A torch optimizer, its ``state_dict()`` or ``state_dict()["param_groups"]``, or one group's dict.
TorchSpec: TypeAlias = (
    "TorchOptimizer | dict[str, Any] | list[dict[str, Any]] | tuple[dict[str, Any], ...]"
)


class SklearnEstimator(Protocol):
    """A scikit-learn estimator, read through ``get_params()`` (and class name)."""

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...
