"""A `jr.Penalty` is a JAX value: a jit argument and result (a new strength does not retrace),
batched by vmap, carried by scan and optax states; equal, hashed and pickled by value; composed
by `+`, `*`, `/` and `sum`, with the errors of what cannot be composed."""

from __future__ import annotations

import pickle
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import (
    assert_close,
    dense_params,
    f64,
    ref_elastic_net,
    ref_group_lasso,
    ref_l1,
    ref_l2,
    ref_nuclear,
    ref_orthogonal,
    ref_spectral,
)

import jaxreg as jr

PARAMS = dense_params()
KERNELS = [PARAMS["dense"]["kernel"], PARAMS["head"]["kernel"]]
ALL = jax.tree.leaves(PARAMS)


# builder(strength) and the NumPy value of strength 1 on PARAMS
KINDS = {
    "l1": (lambda s: jr.l1(s), sum(ref_l1(x) for x in ALL)),
    "l2": (lambda s: jr.l2(s, mask=jr.masks.kernels), sum(ref_l2(x) for x in KERNELS)),
    "elastic_net": (lambda s: jr.elastic_net(s, 0.3), sum(ref_elastic_net(x, 0.3) for x in ALL)),
    "group_lasso": (lambda s: jr.group_lasso(s, axis=0), sum(ref_group_lasso(x, 0) for x in ALL)),
    "nuclear": (lambda s: jr.nuclear(s), sum(ref_nuclear(x) for x in KERNELS)),
    "spectral": (lambda s: jr.spectral(s), sum(ref_spectral(x) for x in KERNELS)),
    "orthogonal": (lambda s: jr.orthogonal(s), sum(ref_orthogonal(x) for x in KERNELS)),
}


# --------------------------------------------------------------------------------------------
# jit, vmap, scan and optax states


@pytest.mark.parametrize("kind", KINDS)
def test_penalty_is_a_jit_argument_and_a_new_strength_does_not_retrace(kind):
    build, unit = KINDS[kind]
    traces = []

    @jax.jit
    def value(pen, p):
        traces.append(1)
        return pen(p)

    for s in (0.1, 0.7, 2.5):
        assert_close(value(build(s), PARAMS), s * unit, rtol=1e-10)
    assert len(traces) == 1
    assert unit > 0.5


def test_equinox_filter_jit_does_not_retrace_for_a_new_strength():
    traces = []

    @eqx.filter_jit
    def value(pen, p):
        traces.append(1)
        return pen(p)

    for s in (0.1, 0.2, 0.3):
        assert_close(value(jr.l2(s), PARAMS), s * sum(ref_l2(x) for x in ALL), rtol=1e-12)
    assert len(traces) == 1


@pytest.mark.slow
def test_vmap_over_builders_batches_strengths_and_l1_ratios():
    strengths = jnp.array([0.0, 0.1, 1.0, 7.5])
    batched = jax.vmap(jr.l2)(strengths)
    assert isinstance(batched, jr.Penalty) and batched.strength.shape == (4,)
    got = jax.vmap(lambda pen: pen(PARAMS))(batched)
    assert_close(got, f64(strengths) * sum(ref_l2(x) for x in ALL), rtol=1e-12)
    ratios = jnp.array([0.0, 0.25, 1.0])
    got = jax.vmap(lambda r: jr.elastic_net(2.0, r)(PARAMS))(ratios)
    want = [2.0 * sum(ref_elastic_net(x, float(r)) for x in ALL) for r in ratios]
    assert_close(got, want, rtol=1e-12)


def test_a_batch_of_penalties_outside_vmap_raises():
    pens = jax.vmap(jr.l1)(jnp.array([0.1, 0.5]))
    p = {"w": jnp.ones(2)}
    for call in (lambda: pens(p), lambda: pens.prox(p, 1.0), lambda: (pens + jr.l2(1.0))(p)):
        with pytest.raises(ValueError, match=r"l1's strength has shape \(2,\): this is a batch"):
            call()
    assert_close(jax.vmap(lambda pen: pen(p))(pens), [0.2, 1.0], rtol=1e-12)


def test_penalty_returned_from_jit_and_carried_through_scan_and_an_optax_state():
    pen = jax.jit(lambda s: jr.l1(s, mask=jr.masks.kernels) + jr.l2(2 * s))(0.5)
    assert isinstance(pen, jr.Penalty) and pen == jr.l1(0.5, mask=jr.masks.kernels) + jr.l2(1.0)
    unit_l1 = sum(ref_l1(x) for x in KERNELS)
    unit_l2 = sum(ref_l2(x) for x in ALL)
    assert_close(pen(PARAMS), 0.5 * unit_l1 + unit_l2, rtol=1e-12)

    # a strength schedule: the penalty rides in the scan carry and decays each step
    def step(p, _):
        return 0.5 * p, p(PARAMS)

    _, values = jax.lax.scan(step, jr.l2(1.0), None, length=4)
    assert_close(values, [unit_l2 * 0.5**k for k in range(4)], rtol=1e-12)

    class State(NamedTuple):
        opt: Any
        pen: jr.Penalty

    tx = optax.sgd(0.1)

    @jax.jit
    def train_step(params, state):
        grads = jax.grad(state.pen)(params)
        updates, opt = tx.update(grads, state.opt, params)
        return optax.apply_updates(params, updates), State(opt, 0.5 * state.pen)

    new, state = train_step(PARAMS, State(tx.init(PARAMS), jr.l2(1.0)))
    assert_close(new["dense"]["bias"], 0.9 * f64(PARAMS["dense"]["bias"]), rtol=1e-12)
    assert float(state.pen.strength) == 0.5


def test_traced_invalid_hyperparameters_give_nan_not_numbers():
    p = {"w": jnp.array([1.0, -2.0])}
    assert np.isnan(float(jax.jit(lambda s: jr.l1(s)(p))(-0.1)))
    assert np.isnan(f64(jax.jit(lambda s: jr.l1(s).prox(p, 0.1)["w"])(-0.1))).all()
    assert np.isnan(float(jax.jit(lambda r: jr.elastic_net(1.0, r)(p))(1.5)))
    assert np.isnan(float(jax.jit(lambda f: (jr.l2(1.0) * f)(p))(-1.0)))
    assert np.isnan(float(jax.tree.map(lambda x: x - 1, jr.l1(0.1))(p)))
    weights = {"w": jnp.array([1.0, 1.0])}
    assert np.isnan(float(jax.jit(lambda w: jr.l1(1.0, weights={"w": w})(p))(-weights["w"])))


# --------------------------------------------------------------------------------------------
# Equality, hashing, pickling, repr


def test_equality_hash_and_static_arguments_are_by_value():
    a = jr.l1(0.1, mask=jr.masks.by_path(exclude="bias"))
    b = jr.l1(0.1, mask=jr.masks.by_path(exclude="bias"))
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != jr.l1(0.2, mask=jr.masks.by_path(exclude="bias"))
    assert a != jr.l1(0.1, mask=jr.masks.by_path(exclude="kernel"))
    assert a != jr.l2(0.1, mask=jr.masks.by_path(exclude="bias"))
    assert jr.group_lasso(1.0, axis=0) != jr.group_lasso(1.0, axis=1)
    assert jr.l1(1.0, mask={"a": True}) == jr.l1(1.0, mask={"a": True})
    assert jr.l1(1.0, weights={"w": jnp.ones(2)}) == jr.l1(1.0, weights={"w": jnp.ones(2)})
    assert jr.l1(1.0, weights={"w": jnp.ones(2)}) != jr.l1(1.0, weights={"w": jnp.zeros(2)})
    traces = []

    def value(pen, p):
        traces.append(1)
        return pen(p)

    f = jax.jit(value, static_argnums=0)
    f(a, PARAMS), f(b, PARAMS)
    assert len(traces) == 1
    assert len({a, b, jr.l2(0.1)}) == 2


def _module_level_predicate(path, leaf):
    return path.endswith("kernel")


@pytest.mark.slow
@pytest.mark.parametrize(
    "pen",
    [
        jr.l1(0.1, mask=jr.masks.by_path(include="^dense/", exclude="bias")),
        jr.l2(0.2, mask=jr.masks.kernels)
        + jr.elastic_net(0.1, 0.4, mask={"dense": True, "head": False}),
        jr.group_lasso(0.3, axis=(0,), mask=jr.masks.kernels & ~jr.masks.by_path("head")),
        jr.nuclear(0.1, out_axis=0) + jr.orthogonal(0.2, mode="columns"),
        jr.l1(
            0.5, mask=jr.masks.where(_module_level_predicate), weights={"dense": 2.0, "head": None}
        ),
        0.5 * jr.spectral(1.0) / 4,
    ],
    ids=repr,
)
def test_pickle_round_trips_every_penalty_with_its_mask(pen):
    back = pickle.loads(pickle.dumps(pen))
    assert back == pen and hash(back) == hash(pen) and repr(back) == repr(pen)
    assert float(back(PARAMS)) == float(pen(PARAMS)) > 0


def test_composition_and_repr():
    pen = jr.l2(0.1, mask=jr.masks.kernels) + jr.l1(0.01) * 2
    assert repr(pen) == "l2(0.1, mask=kernels) + l1(0.02)"
    assert repr(jr.group_lasso(1.0, axis=0)) == "group_lasso(1.0, axis=(0,))"
    assert repr(jr.elastic_net(1.0, 0.5)) == "elastic_net(1.0, 0.5)"
    assert repr(jr.l1(1.0, mask=jr.masks.kernels & ~jr.masks.by_path("head"))) == (
        "l1(1.0, mask=(kernels & ~by_path(include='head')))"
    )
    total = sum([jr.l1(1.0), jr.l2(1.0), jr.l1(2.0) / 2])
    assert_close(total(PARAMS), sum(2 * ref_l1(x) + ref_l2(x) for x in ALL), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Composition: sums, scaling, and elastic net as the sum of its parts


@pytest.mark.slow
def test_elastic_net_is_the_sum_of_its_parts_in_value_gradient_and_prox():
    s, r = 0.7, 0.3
    en, parts = jr.elastic_net(s, r), jr.l1(s * r) + jr.l2(s * (1 - r))
    assert_close(en(PARAMS), parts(PARAMS), rtol=1e-12)
    for a, b in zip(
        jax.tree.leaves(jax.grad(en)(PARAMS)), jax.tree.leaves(jax.grad(parts)(PARAMS)), strict=True
    ):
        assert_close(a, b, rtol=1e-12)
    t = 0.9
    x = f64(PARAMS["dense"]["kernel"])
    want = np.sign(x) * np.maximum(np.abs(x) - t * s * r, 0) / (1 + t * s * (1 - r))
    assert_close(en.prox(PARAMS, t)["dense"]["kernel"], want, rtol=1e-12)
    assert_close(parts.prox(PARAMS, t)["dense"]["kernel"], want, rtol=1e-12)


def test_small_conveniences_and_their_errors():
    assert jr.l1(1.0) + 0 == jr.l1(1.0) == 0 + jr.l1(1.0)
    with pytest.raises(ValueError, match=r"divisor must be finite and > 0; got divisor=0"):
        jr.l1(1.0) / 0
    with pytest.raises(TypeError, match=r"predicate\(path, leaf\).*takes 1 required"):
        jr.masks.where(lambda leaf: True)
    # elastic_net(s, 0) is l2: it joins a group lasso on the same leaf
    x = np.ones((2, 2))
    out = (jr.group_lasso(0.5) + jr.elastic_net(1.0, 0.0)).prox({"w": jnp.asarray(x)}, 0.1)
    assert_close(out["w"], x * (1 - 0.05 / np.sqrt(2)) / 1.1, rtol=1e-12)


def test_a_penalty_adds_to_penalties_and_zero_only_with_an_error_that_says_so():
    a, b = jr.l1(0.1), jr.l2(0.2)
    assert sum([a, b]) == a + b == 0 + a + b and a + 0 == a
    message = r"adds to another Penalty \(or to 0.*2\.0 \* pen"
    for bad in (1.0, 2, "l2", jnp.array(1.0), None):
        with pytest.raises(TypeError, match=message):
            a + bad
        with pytest.raises(TypeError, match=message):
            bad + a


def test_no_two_kinds_share_a_treedef_so_jit_never_runs_one_for_another():
    """`jax.jit` caches by PyTreeDef. Two kinds with the same fields (l1 and l2) had equal
    PyTreeDefs with different hashes, and the cache matched them now and then: a
    `jr.linear.fit` compiled for ``l1(0.25) + non_negative()`` ran for ``l2(0.25) +
    non_negative()``, converged and wrong. Every kind (and a sum of each) has its own."""
    import itertools

    c = jr.constraints
    kinds = [
        jr.l1(0.5), jr.l2(0.5), jr.elastic_net(0.5, 0.3), jr.group_lasso(0.5),
        jr.sparse_group_lasso(0.5, 0.3), jr.mcp(0.5, 3.0), jr.scad(0.5, 3.7), jr.l0(0.5),
        jr.lq(0.5, 0.5), jr.slope([0.5, 0.2]), jr.nuclear(0.5), jr.spectral(0.5),
        jr.orthogonal(0.5), c.non_negative(), c.box(-1.0, 1.0), c.l2_ball(1.0),
        c.top_k(2), c.n_m(2, 4, axis=0),
    ]  # fmt: skip
    trees = [jax.tree.structure(k) for k in kinds]
    trees += [jax.tree.structure(k + c.non_negative()) for k in kinds[:9]]
    for (i, a), (j, b) in itertools.combinations(enumerate(trees), 2):
        assert a != b, (i, j, a)
    # the same compiled function, both kinds, against NumPy
    x = np.array([1.5, -2.0, 0.25])
    value = jax.jit(lambda pen, x: pen(x))
    for _ in range(3):
        assert float(value(jr.l1(0.5), x)) == pytest.approx(0.5 * np.abs(x).sum(), rel=1e-12)
        assert float(value(jr.l2(0.5), x)) == pytest.approx(0.25 * (x**2).sum(), rel=1e-12)
