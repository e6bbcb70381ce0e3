"""The types layer: what every penalty kind shares.

- `types`: `Penalty`, `Term` (the interface a kind implements), `Sum`, `penalty_class`.
- `validation`: build-time checks of hyperparameters (`check_scalar`, `term_fields`, ...).
- `resolution`: which term penalizes which leaf, with which weight (`resolve_terms`).
- `evaluation`: a term's value over its leaves, small leaves batched.
- `composition`: the prox of a sum of terms on one leaf (`leaf_prox`).

The kinds themselves live in `jaxreg._kinds`; the closed-form maps they use in
`jaxreg._prox_kernels`.
"""

from .composition import NoClosedFormProx as NoClosedFormProx
from .composition import leaf_prox as leaf_prox
from .resolution import LeafAssignment as LeafAssignment
from .resolution import resolve_terms as resolve_terms
from .types import Penalty as Penalty
from .types import Sum as Sum
from .types import Term as Term
from .types import penalty_class as penalty_class
from .types import reject_centred as reject_centred
from .types import static_field as static_field
from .validation import as_leaf as as_leaf
from .validation import check_scalar as check_scalar
