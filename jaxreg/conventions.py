"""Exact converters between jaxreg's textbook convention and Keras, PyTorch and scikit-learn."""

from ._conventions import from_keras as from_keras
from ._conventions import from_keras_optimizer as from_keras_optimizer
from ._conventions import from_torch_optimizer as from_torch_optimizer
from ._conventions import from_torch_weight_decay as from_torch_weight_decay
from ._conventions import to_keras as to_keras
from ._conventions import to_keras_config as to_keras_config
from ._conventions import to_torch_weight_decay as to_torch_weight_decay
from ._sklearn import from_sklearn as from_sklearn
from ._sklearn import to_sklearn as to_sklearn

__all__ = [
    "from_keras",
    "from_keras_optimizer",
    "from_sklearn",
    "from_torch_optimizer",
    "from_torch_weight_decay",
    "to_keras",
    "to_keras_config",
    "to_sklearn",
    "to_torch_weight_decay",
]
