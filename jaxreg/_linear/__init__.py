r"""Linear models with a known data term: coordinate descent on working sets, duality gaps.

The problem, for coefficients :math:`w \in \mathbb{R}^p` and an intercept :math:`b`:

.. math:: \min_{w, b}\; \frac{1}{\sum_i s_i} \sum_i s_i\, \ell(y_i, x_i^\top w + b)
   + \mathrm{pen}(w),

with :math:`\ell` the squared loss :math:`\frac12 (y - z)^2`, the logistic loss :math:`\log(1 +
e^{z}) - y z` (:math:`y \in \{0, 1\}`), the Huber loss or the Poisson loss :math:`e^z - y z`
(whose curvature has no bound: with a non-convex penalty its coordinate steps double their
curvature until the objective decreases), and ``pen`` any elementwise jaxreg penalty with a
prox (l1, elastic_net, l2, weighted, mcp, scad, lq, l0).

The algorithm is celer's / skglm's (Massias et al. 2018, Bertrand et al. 2022), in `lax`
loops so that it is jit-able and runs unchanged on a GPU: an outer loop computes the full
gradient :math:`X^\top \ell'(z)`, each feature's violation of the optimality condition (the
prox-gradient residual :math:`|w_j - \mathrm{prox}_{\mathrm{pen}_j / L_j}(w_j - g_j / L_j)|
L_j`, :math:`L_j = \kappa \lVert X_j \rVert^2_s` with :math:`\kappa` the loss's curvature
bound) and the duality gap (convex penalties with the squared or logistic loss); the working
set is the current support plus the most violating features, twice the support's size (at
least ``ws_min``); an inner loop runs cyclic coordinate descent on it, with Anderson
extrapolation every ``anderson`` epochs (kept when it lowers the objective), until its own
violation is below a tenth of the outer one. ``X`` is stored transposed, ``(p, n)``, so a
column is a contiguous row; a sparse ``X`` as its columns' nonzeros in 0-padded chunks (one
per column when their lengths are similar: ELLPACK), so a coordinate update touches only
those and the memory is O(nnz + p) whatever the column counts. Every gap is computed from
``X`` itself (the residual ``y - X w - b``), tall problems too: no ``p x p`` Gram form, whose
``eigh`` drops columns of small scale and certified another problem (``_compiled.py``).

The squared loss with an l1 / l2 / elastic-net penalty (Lasso, ElasticNet) has its own
solver (``_least_squares.py``), with one pass over ``X`` per outer iteration; a path carries
``X w`` and the gradient from one strength to the next. Dense ``X``: the working set's columns
gathered into a dense block, coordinates updated in blocks of 8 (sequentially, with the
block's own Gram matrix), the gradient carried on the Gram matrix for working sets of at most
64 features. Sparse ``X``: the working set's padded columns, the loop carrying the residual
and the coefficients in one buffer that each update gathers from and scatter-adds into. A group
lasso (with or without an l2) takes the same solver on a dense ``X``, its inner solver block
coordinate descent on the working set's groups, read from ``X`` in place, each group's step
:math:`1 / L_g` with :math:`L_g` its centred Gram matrix's largest eigenvalue (three per
visit, on the group's own Gram matrix), two groups of five per loop step.

The logistic and Poisson losses (datafits with ``newton_steps``) with an l1 / l2 / elastic-net
penalty have the prox-Newton solver (``_prox_newton.py``; skglm's ``ProxNewton``, glmnet's
IRLS): each outer iteration solves the loss's second-order model at ``z``, a weighted
least-squares problem, on the working set with the least-squares inner solvers above, then a
backtracking line search on the true objective moves the coefficients, and a Newton step on the
intercept makes the dual point feasible before the gap.

The package, by job (each module reaches the others only through public names):

- ``_api.py``: the public `fit`, `path`, `cross_validate`; ``_result.py``: `LinearResult`.
- ``_checks.py``: inputs checked and converted eagerly; the unconverged warning.
- ``_options.py``: `SolverOptions`, the frozen options every compiled driver takes.
- ``_compiled.py``: the jitted drivers (one fit, a path's `lax.scan`, a fold's scores) and
  `solve`, which picks the solver.
- ``_datafits.py``: one class per loss (value, derivative, curvature, intercept step, dual,
  label check, tolerance scale, cross-validation score).
- ``_design.py``: ``X`` as columns (dense, scipy sparse, BCOO).
- ``_penalty_parts.py``: the one adapter from the penalty kinds to the solvers (block prox,
  value, the l1 / l2 split with its dual norm and conjugate), through the kinds' own
  ``Term.l1_l2_split`` and ``Term.coefficient_block_size``: it never names a kind.
- ``_problem.py``: one fit's problem as the solvers evaluate it.
- ``_certificates.py``: violations, duality gaps.
- ``_outer_loop.py``: the outer working-set loop every solver runs, its inner solve a
  parameter; its state (what a solver returns).
- ``_working_set.py``, ``_anderson.py``: the working set; epochs with Anderson extrapolation.
- ``_coordinate_descent.py``: the general solver's inner solve, CD epochs (any datafit;
  coordinate Newton steps for Poisson; group penalties beside a loss other than the squared
  one).
- ``_prox_newton.py``: prox-Newton steps (logistic, Poisson), the least-squares inner solvers on the
  loss's second-order model.
- ``_least_squares.py``: the least-squares solver's inner solve, its inner solvers a parameter:
  ``_ls_dense.py``, ``_ls_sparse.py`` (sharing ``_least_squares_parts.py``), ``_ls_blocks.py``
  (groups of features), and ``_unpenalized.py`` (the exact step on unpenalized features or
  groups).

A loss is one class: a frozen dataclass subclassing ``_datafits.Datafit`` with `value`,
`derivative`, `curvature`, ``curvature_bound`` (None: the steps backtrack) and `null_intercept`
(what ``tol`` is relative to); `dual` and ``has_dual = True`` give it a duality gap,
``newton_steps = True`` the prox-Newton solver (on its `quadratic_model`); ``check_labels``,
``intercept_step``, ``tol_scale`` and ``score_loss`` have defaults. The solvers take it in
`SolverOptions` (``tests/test_linear_extension.py`` fits a log-cosh loss defined in the test
through `fit_compiled`). The public ``loss=`` takes names: making one public is one entry in
``_datafits._BY_NAME`` and in ``jaxreg._typing.LinearLoss``.
A penalty kind is one class too (see ``jaxreg/_kinds/__init__.py``).
"""

from ._api import cross_validate as cross_validate
from ._api import fit as fit
from ._api import path as path
from ._result import LinearResult as LinearResult

__all__ = ["LinearResult", "cross_validate", "fit", "path"]
