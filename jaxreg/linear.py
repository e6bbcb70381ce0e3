"""Linear models with a known data term: ``jr.linear.fit``, ``path`` and ``cross_validate``
(working-set coordinate descent with duality gaps, dense or sparse ``X``)."""

from ._linear import LinearResult as LinearResult
from ._linear import cross_validate as cross_validate
from ._linear import fit as fit
from ._linear import path as path

__all__ = ["LinearResult", "cross_validate", "fit", "path"]
