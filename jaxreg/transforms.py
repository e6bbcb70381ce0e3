"""optax transformations: ``jr.transforms.proximal``."""

from ._transforms import ProximalState as ProximalState
from ._transforms import proximal as proximal

__all__ = ["ProximalState", "proximal"]
