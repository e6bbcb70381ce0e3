"""The penalty kinds, one class each, grouped in families; each builder sits below its class.

- `separable`: `l1`, `l2`, `elastic_net` (sums over elements; small leaves are batched).
- `nonconvex`: `mcp`, `scad` (folded concave), `l0`, `lq`.
- `group`: `group_lasso`, `sparse_group_lasso` (norms along an axis of each leaf).
- `sorted`: `slope` (sorted L1).
- `matrix`: `nuclear`, `spectral`, `orthogonal` (the ``(fan_in, out)`` matrix of a kernel, or
  each matrix of a stack along ``batch_axes``).
- `constraints`: `jaxreg.constraints` (indicators of sets; the prox is the projection).

Everything about a kind lives in its class (a subclass of `jaxreg.Term`, decorated with
`penalty_class`): the formula (docstring), `unscaled_value` on one leaf, its proximal map
(`prox_leaf`, from `jaxreg._prox_kernels` where a kernel exists), `dual_norm` (for
`jaxreg.select.lambda_max`), `min_ndim`, `default_mask`, `parts` (for sums of kinds such as
elastic net), and the flags the core reads (`linear_in_strength`, `positively_homogeneous`,
`elementwise`, `quadratic`, `has_prox`, `smooth_on`).

Adding a kind (say a Huber-type penalty): write its class and, right below it, its builder
(validate with `jaxreg._penalty.validation.term_fields` and friends, return the class) in the
family module it belongs to; re-export the builder in ``jaxreg/__init__.py`` and list it in
``docs/api/jaxreg.md``; add its tests (value, prox and dual norm against NumPy references,
eagerly and under `jax.jit`). Nothing else changes: the core (``jaxreg/_penalty/``) and the
solvers never name a kind; they read the methods and flags above.
"""
