"""Masks choosing which leaves a penalty touches, with `optax.masked`'s contract.

``mask=`` is None, a pytree of bools (params' structure or a prefix), or a callable
``params -> pytree of bools``. The ready-made masks below are such callables (so they work in
`optax.masked` too) and combine with ``&``, ``|`` and ``~``. `from_torch_module` builds one
from a torch module's layer types, for params that mirror its ``state_dict``.
"""

from ._masks import Mask as Mask
from ._masks import by_path as by_path
from ._masks import from_torch_module as from_torch_module
from ._masks import kernels as kernels
from ._masks import where as where

__all__ = ["Mask", "by_path", "from_torch_module", "kernels", "where"]
