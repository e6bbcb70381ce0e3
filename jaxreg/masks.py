"""Masks choosing which leaves a penalty touches: ``jr.masks.kernels``, ``jr.masks.by_path``."""

from ._masks import by_path as by_path
from ._masks import kernels as kernels

__all__ = ["by_path", "kernels"]
