"""Type aliases of jaxreg's signatures (annotations only; nothing here is used at run time).

Numbers and arrays are `jax.typing.ArrayLike`: a Python scalar, a NumPy or JAX array, or a
tracer under `jit`/`vmap`. Functions return `jax.Array`. The public names are re-exported, and
documented, by `jaxreg.typing`; each alias's docstring is the string below it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt
from jax.typing import ArrayLike

if TYPE_CHECKING:
    import scipy.sparse
    from jax.experimental.sparse import BCOO

PyTree: TypeAlias = Any
"""A pytree of arrays: dicts, lists, tuples, NamedTuples, flax and equinox modules, any
registered node. Python's type system cannot express "any registered pytree node", so the alias
is ``Any``, as optax's ``Params`` and equinox's ``PyTree`` are; it names what is expected."""

# A jaxreg.masks.Mask is a Callable[[PyTree], PyTree]: naming it here would make this module,
# which every module imports, import _masks.
MaskLike: TypeAlias = (
    "Callable[[PyTree], PyTree] | Mapping[Any, Any] | list[Any] | tuple[Any, ...] | bool | None"
)
"""What ``mask=`` accepts, with `optax.masked`'s contract: None (every penalizable leaf), a bool,
a pytree of bools (params' structure or a prefix of it), a callable
``params -> pytree of bools``, or a ready-made `jaxreg.masks.Mask` (such a callable).

A pytree of bools is typed by its containers: a dict or other mapping (flax ``FrozenDict``, nnx
``State``), a list or a tuple (NamedTuples too); an equinox module of bools is accepted as a
callable when it has ``__call__``. A string is rejected (``mask="kernel"`` raises at run time
too: select by name with `jaxreg.masks.by_path`). A bool tree of another registered pytree
node type works at run time; ``typing.cast(MaskLike, tree)`` tells the type checker so."""

Weights: TypeAlias = "PyTree | None"
"""What ``weights=`` accepts: None (all ones) or a pytree of non-negative arrays with params'
structure or a prefix of it (``None`` entries mean 1). ``Any``, as `PyTree` is."""

Center: TypeAlias = "PyTree | ArrayLike | None"
"""What ``center=`` accepts: None (the origin: today's penalty) or the reference point :math:`c`
the penalty pulls toward, a number or a pytree of real arrays with params' structure or a prefix
of it, each leaf broadcastable to its params leaf (``None`` entries mean 0), e.g. the
pretrained weights (L2-SP)."""

Device: TypeAlias = Any
"""A ``jax.Device``: jax defines it as a variable (an alias of a C++ class), which a type
checker cannot use in an annotation."""

DataMatrix: TypeAlias = "npt.ArrayLike | scipy.sparse.spmatrix | scipy.sparse.sparray | BCOO"
"""``X`` of `jaxreg.linear`: dense (NumPy, JAX, nested lists) or sparse (scipy.sparse, jax
BCOO)."""

LinearLoss: TypeAlias = Literal["squared", "logistic", "huber", "poisson"]
"""``loss=`` of `jaxreg.linear`."""

Strengths: TypeAlias = "ArrayLike | Sequence[float]"
"""A 1-D grid of strengths (or SLOPE's sequence): an array, or a list or tuple of numbers."""


class Splitter(Protocol):
    """A scikit-learn cross-validation splitter (``KFold(5)``, ``GroupKFold(5)``, ...)."""

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterable[tuple[np.ndarray, np.ndarray]]:
        """``(train_indices, test_indices)`` for each fold."""
        ...


OptimizerName: TypeAlias = Literal["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
"""The optimizers `jaxreg.conventions` reproduces, by their class name in Keras and torch.optim."""


class KerasObject(Protocol):
    """A Keras regularizer or optimizer, read through its ``get_config()`` (and class name)."""

    def get_config(self) -> dict[str, Any]:
        """The object's settings, as Keras serializes them."""
        ...


class TorchOptimizer(Protocol):
    """A ``torch.optim`` optimizer, read through its ``param_groups`` (and class name)."""

    @property
    def param_groups(self) -> list[dict[str, Any]]: ...


class TorchScheduler(Protocol):
    """A ``torch.optim.lr_scheduler`` scheduler, read through its class, ``last_epoch`` and
    settings."""

    last_epoch: int


TorchSpec: TypeAlias = (
    "TorchOptimizer | dict[str, Any] | list[dict[str, Any]] | tuple[dict[str, Any], ...]"
)
"""A torch optimizer, its ``state_dict()`` or ``state_dict()["param_groups"]``, or one group's
dict."""


class SklearnEstimator(Protocol):
    """A scikit-learn estimator, read through ``get_params()`` (and class name)."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's constructor arguments (``alpha``, ``C``, ``l1_ratio``, ...)."""
        ...
