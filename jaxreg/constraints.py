"""Constraints as penalties: 0 inside a set, +inf outside; their prox is the projection."""

from ._kinds.constraints import Constraint as Constraint
from ._kinds.constraints import box as box
from ._kinds.constraints import l2_ball as l2_ball
from ._kinds.constraints import n_m as n_m
from ._kinds.constraints import non_negative as non_negative
from ._kinds.constraints import top_k as top_k

__all__ = ["Constraint", "box", "l2_ball", "n_m", "non_negative", "top_k"]
