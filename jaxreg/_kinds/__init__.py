r"""The penalty kinds, one class each, grouped in families; each builder sits below its class.

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
elastic net), the flags the core reads (`linear_in_strength`, `positively_homogeneous`,
`elementwise`, `quadratic`, `has_prox`, `smooth_on`), and what the solvers and converters ask:

- `l1_l2_split()`: ``(a, b)`` when the kind is :math:`\sum_g w_g (a \lVert x_g\rVert +
  \frac{b}{2} \lVert x_g\rVert^2)` over its groups (l1, l2, elastic net, group lasso), else
  None (`Term`'s default). `jaxreg.linear` then uses its fast least-squares solver and a
  duality gap; `to_sklearn`, `to_keras` and `to_torch_weight_decay` read it.
- `coefficient_block_size(p)`: the consecutive blocks of a coefficient vector ``(p,)`` the
  kind penalizes one by one (`Term`'s default: 1 for an elementwise kind with a prox, else
  a `NotImplementedError`; `GroupLasso` answers its ``reshape=(-1, B)``).

Adding a kind (say a Huber-type penalty): write its class and, right below it, its builder
(validate with `jaxreg._penalty.validation.term_fields` and friends, return the class) in the
family module it belongs to; re-export the builder in ``jaxreg/__init__.py`` and list it in
``docs/api/jaxreg.md`` (explicit re-exports keep the typed wheel readable by type checkers;
``tests/test_kind_registration.py`` finds every builder here and names what is missing); add
its tests (value, prox and dual norm against NumPy references,
eagerly and under `jax.jit`). Nothing else changes: the core (``jaxreg/_penalty/``), the
solvers and the converters never name a kind; they read the methods and flags above. The
class alone is enough to use it: ``tests/test_linear_extension.py`` defines two kinds in the
test (an elementwise Huber penalty: `unscaled_value` and `prox_leaf`; an l1 + ridge that also
answers `l1_l2_split`) and fits them with `jaxreg.linear.fit`.
"""
