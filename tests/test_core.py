"""The pytree `Penalty`: a JAX value, optax's mask contract, kernels by name, one leaf rule,
matrix layouts, per-element weights and step trees, each against an independent reference."""

from __future__ import annotations

import pickle
from typing import Any, NamedTuple

import equinox as eqx
import flax.linen as nn
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from flax.core import FrozenDict
from helpers import (
    assert_close,
    central_difference,
    f64,
    ref_elastic_net,
    ref_group_lasso,
    ref_l1,
    ref_l2,
    ref_nuclear,
    ref_orthogonal,
    ref_spectral,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxreg as jr
from jaxreg._trees import leaf_paths

RNG = np.random.default_rng(0)
PARAMS = {
    "dense": {
        "kernel": jnp.asarray(RNG.normal(size=(4, 3))),
        "bias": jnp.asarray(RNG.normal(size=3)),
    },
    "head": {
        "kernel": jnp.asarray(RNG.normal(size=(3, 2))),
        "bias": jnp.asarray(RNG.normal(size=2)),
    },
}
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
# 1. A Penalty is a JAX value


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
# 2. One class per kind: elastic net is its l1 and l2 parts


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


# --------------------------------------------------------------------------------------------
# 3. Masks with optax's contract


def test_jaxreg_masks_work_in_optax_masked_and_optax_masks_work_in_jaxreg():
    # optax's own decoupled decay adds strength * p to the selected leaves: the gradient of l2
    decay = optax.masked(optax.add_decayed_weights(0.3), jr.masks.kernels)
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = decay.update(zeros, decay.init(PARAMS), PARAMS)
    grads = jax.jit(jax.grad(jr.l2(0.3, mask=jr.masks.kernels)))(PARAMS)
    for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads), strict=True):
        assert_close(g, u, rtol=1e-12)
    assert float(jnp.abs(updates["head"]["kernel"]).max()) > 0.1
    assert float(jnp.abs(updates["head"]["bias"]).max()) == 0.0

    def optax_style(p):  # the mask function an optax user already has
        return jax.tree.map(lambda x: x.ndim > 1, p)

    decay = optax.masked(optax.add_decayed_weights(0.3), optax_style)
    updates, _ = decay.update(zeros, decay.init(PARAMS), PARAMS)
    grads = jax.grad(jr.l2(0.3, mask=optax_style))(PARAMS)
    for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads), strict=True):
        assert_close(g, u, rtol=1e-12)


def test_bool_tree_of_a_callable_equinox_module_is_a_bool_tree_not_a_function():
    mlp = eqx.nn.MLP(3, 2, 4, 1, key=jax.random.key(0))
    mask = jax.tree.map(eqx.is_array, mlp)  # callable (an MLP) but a tree of bools
    mask = eqx.tree_at(lambda m: m.layers[1].weight, mask, False)
    got = jr.l2(1.0, mask=mask)(mlp)
    want = sum(ref_l2(x) for x in (mlp.layers[0].weight, mlp.layers[0].bias, mlp.layers[1].bias))
    assert_close(got, want, rtol=1e-6)


def test_mask_combinators():
    sel = lambda mask: sorted(  # noqa: E731
        jax.tree_util.keystr(p)
        for p, v in jax.tree_util.tree_flatten_with_path(mask(PARAMS))[0]
        if v
    )
    k, head = jr.masks.kernels, jr.masks.by_path(include="^head/")
    assert sel(k & ~head) == ["['dense']['kernel']"]
    assert sel(k | head) == ["['dense']['kernel']", "['head']['bias']", "['head']['kernel']"]
    assert sel(~k) == ["['dense']['bias']", "['head']['bias']"]
    assert sel(k & {"dense": False, "head": True}) == ["['head']['kernel']"]
    assert sel(jr.masks.where(lambda path, leaf: leaf.size == 3)) == ["['dense']['bias']"]
    pen = jr.l1(1.0, mask=k & ~head)
    assert_close(pen(PARAMS), ref_l1(PARAMS["dense"]["kernel"]), rtol=1e-12)


def test_two_argument_predicate_as_mask_points_to_where():
    with pytest.raises(TypeError, match=r"takes two arguments.*jaxreg\.masks\.where"):
        jr.l1(1.0, mask=lambda path, leaf: True)


# --------------------------------------------------------------------------------------------
# 4. Kernels are weights, by name


def _selected(tree) -> list[str]:
    chosen = jr.masks.kernels(tree)
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return sorted(
        jax.tree_util.keystr(p)
        for (p, x), c in zip(flat, jax.tree.leaves(chosen), strict=True)
        if c and jr._trees.is_penalizable(x, explicit=True)
    )


def test_kernels_on_flax_linen():
    class Model(nn.Module):
        @nn.compact
        def __call__(self, x, ids):
            e = nn.Embed(10, 4)(ids)
            h = nn.LayerNorm()(nn.BatchNorm(use_running_average=False)(nn.Conv(4, (3, 3))(x)))
            a = nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=4)(e)
            return nn.Dense(2)(h.mean((1, 2))), a

    v = Model().init(jax.random.key(0), jnp.ones((1, 5, 5, 3)), jnp.ones((1, 3), int))
    attention = [
        f"['params']['MultiHeadDotProductAttention_0']['{n}']['kernel']"
        for n in ("key", "out", "query", "value")
    ]
    assert _selected(v) == sorted(
        ["['params']['Conv_0']['kernel']", "['params']['Dense_0']['kernel']", *attention]
    )
    assert len(jax.tree.leaves(v)) == 19  # biases, scales, embedding, batch stats: not selected


class NnxModel(nnx.Module):
    def __init__(self, rngs):
        self.lin = nnx.Linear(3, 4, rngs=rngs)
        self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)
        self.att = nnx.MultiHeadAttention(
            num_heads=2, in_features=4, qkv_features=4, decode=False, rngs=rngs
        )
        self.emb = nnx.Embed(10, 4, rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.ln = nnx.LayerNorm(4, rngs=rngs)


@pytest.mark.parametrize("as_state", [True, False])
def test_kernels_on_flax_nnx(as_state):
    model = NnxModel(nnx.Rngs(0))
    tree = nnx.state(model) if as_state else model
    names = sorted(
        p
        for p, c in zip(leaf_paths(tree), jax.tree.leaves(jr.masks.kernels(tree)), strict=True)
        if c
    )
    assert names == [
        "att/key/kernel", "att/out/kernel", "att/query/kernel", "att/value/kernel",
        "conv/kernel", "lin/kernel",
    ]  # fmt: skip
    want = sum(ref_l2(x) for x in (model.lin.kernel[...], model.conv.kernel[...])) + sum(
        ref_l2(getattr(model.att, n).kernel[...]) for n in ("key", "out", "query", "value")
    )
    assert_close(jax.jit(jr.l2(1.0, mask=jr.masks.kernels))(tree), want, rtol=1e-6)


def test_kernels_on_equinox():
    k = jax.random.key(0)
    model = [
        eqx.nn.Linear(3, 4, key=k),
        eqx.nn.Conv2d(3, 4, 3, key=k),  # bias (4, 1, 1): 3-D, still a bias
        eqx.nn.MLP(3, 2, 4, 2, key=k),
        eqx.nn.Embedding(10, 4, key=k),  # 'weight', but a table
        eqx.nn.LayerNorm(4),  # 'weight', but a scale
        eqx.nn.Dropout(0.5),
    ]
    assert model[1].bias.shape == (4, 1, 1)
    assert _selected(model) == [
        "[0].weight", "[1].weight", "[2].layers[0].weight", "[2].layers[1].weight",
        "[2].layers[2].weight",
    ]  # fmt: skip
    # the matrix kinds' default mask: the conv bias is not a matrix, the embedding not a kernel
    want = sum(
        ref_nuclear(f64(w).reshape(w.shape[0], -1)) for w in (model[0].weight, model[1].weight)
    )
    want += sum(ref_nuclear(layer.weight) for layer in model[2].layers)
    assert_close(eqx.filter_jit(jr.nuclear(1.0, out_axis=0))(model), want, rtol=1e-5)


def test_kernels_on_the_jax_tutorial_list_of_tuples_layout():
    params = [(jnp.ones((3, 4)), jnp.full(4, 10.0)), (jnp.ones((4, 2)), jnp.full(2, 10.0))]
    assert jr.masks.kernels(params) == [(True, False), (True, False)]
    assert float(jr.l2(1.0, mask=jr.masks.kernels)(params)) == 10.0


def test_kernels_on_plain_dicts_and_a_bare_array():
    tree = {
        "w1": jnp.ones((2, 2)), "b1": jnp.ones(2), "W_out": jnp.ones((2, 2)),
        "coefs": [jnp.ones((2, 2))], "intercepts": [jnp.ones(2)], "embedding": jnp.ones((3, 2)),
        "scale": jnp.ones((2, 2)),
    }  # fmt: skip
    assert _selected(tree) == ["['W_out']", "['coefs'][0]", "['w1']"]
    assert bool(jr.masks.kernels(jnp.ones((2, 2))))


def test_kernels_mask_that_selects_nothing_raises_instead_of_returning_zero():
    with pytest.raises(ValueError, match=r"kernels selects no leaf of params .* \['M'\]"):
        jr.nuclear(1.0)({"M": jnp.ones((3, 3)), "b": jnp.ones(3)})


def test_masks_that_select_nothing_by_mistake_raise_and_name_the_paths():
    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
    typo = jr.l1(0.1, mask=jr.masks.by_path(include="kernal"))
    for f in (typo, jax.jit(typo)):
        with pytest.raises(ValueError, match=r"matches no leaf .*'dense/bias', 'dense/kernel'"):
            f(params)
    # a matrix penalty on params without matrices: not 0
    with pytest.raises(ValueError, match=r"nuclear penalizes matrices.*\['b \(3,\)'\]"):
        jr.nuclear(0.1)({"b": jnp.ones(3)})
    # what selects nothing by design stays 0: exclude-only masks, trees without floats
    assert float(jr.l1(0.1, mask=jr.masks.by_path(exclude="dense"))(params)) == 0.0
    assert float(jr.l1(0.1, mask=jr.masks.by_path(include="x"))({"x": jnp.arange(3)})) == 0.0
    with pytest.raises(TypeError, match=r"include must be a regex string.*got 3 \(type int\)"):
        jr.masks.by_path(include=3)


# --------------------------------------------------------------------------------------------
# 5. One rule for which leaves are penalized, eagerly and under jit


TREE = {
    "w": jnp.asarray([[1.5, -2.0], [0.5, 3.0]]),
    "p": 0.5,  # a Python float hyperparameter (equinox Dropout's p)
    "n": 3,
    "flag": True,
    "key": jax.random.key(0),
    "old_key": jax.random.PRNGKey(1),
    "weak": jnp.array(2.0),  # weakly typed scalar: what jit makes of a Python float
    "typed": jnp.asarray(-2.0, jnp.float64),  # a strongly typed scalar
    "none": None,
}


def _all_four_ways(pen):
    """Value, gradient and prox eagerly, under jax.jit and under eqx.filter_jit."""
    values = [pen(TREE), jax.jit(pen)(TREE), eqx.filter_jit(pen)(TREE)]
    grads = [eqx.filter_grad(pen)(TREE), eqx.filter_jit(eqx.filter_grad(pen))(TREE)]
    proxes = [
        pen.prox(TREE, 0.4),
        jax.jit(pen.prox)(TREE, 0.4),
        eqx.filter_jit(pen.prox)(TREE, 0.4),
    ]
    return values, grads, proxes


def test_without_a_mask_scalars_keys_and_none_are_never_penalized_in_or_out_of_jit():
    pen = jr.l2(1.0) + jr.l1(0.5)
    values, grads, proxes = _all_four_ways(pen)
    w = f64(TREE["w"])
    for v in values:
        assert_close(v, ref_l2(w) + 0.5 * ref_l1(w), rtol=1e-12)
    for g in grads:
        assert_close(g["w"], w + 0.5 * np.sign(w), rtol=1e-12)
    want_w = _soft(w, 0.2) / 1.4
    for out in proxes:
        assert_close(out["w"], want_w, rtol=1e-12)
        for name in ("p", "weak", "typed", "n"):
            assert float(out[name]) == float(TREE[name])
    assert proxes[0]["p"] is TREE["p"] and proxes[0]["weak"] is TREE["weak"]


def test_a_mask_that_selects_scalars_penalizes_them_the_same_in_and_out_of_jit():
    scalars = jr.masks.where(lambda path, leaf: path in ("w", "p", "weak", "typed", "n", "flag"))
    pen = jr.l2(1.0, mask=scalars) + jr.l1(0.5, mask=scalars)
    values, grads, proxes = _all_four_ways(pen)
    w = f64(TREE["w"])
    xs = [w, 0.5, 2.0, -2.0]  # ints and bools stay out: not floating point
    for v in values:
        assert_close(v, sum(ref_l2(x) + 0.5 * ref_l1(x) for x in xs), rtol=1e-7)
    for g in grads:
        assert_close(g["typed"], -2.0 - 0.5, rtol=1e-12)
    for out in proxes:
        for name, x in (("p", 0.5), ("weak", 2.0), ("typed", -2.0)):
            assert_close(out[name], _soft(np.float64(x), 0.2) / 1.4, rtol=1e-6)
        assert float(out["n"]) == 3


def test_the_rule_does_not_flip_when_optax_retypes_a_weak_scalar():
    params = {"w": jnp.ones(2), "t": jnp.array(3.0)}  # t: weakly typed
    tx = optax.adam(0.1)
    updated = optax.apply_updates(params, tx.update(params, tx.init(params), params)[0])
    assert not getattr(updated["t"], "weak_type", True)  # optax made it strongly typed
    pen = jr.l2(1.0)
    assert pen.per_leaf(params)["t"] is None and pen.per_leaf(updated)["t"] is None
    prox = jr.transforms.proximal(jr.l1(0.5), 0.1)
    zero = {"w": jnp.zeros(2), "t": jnp.zeros(())}
    for p in (params, updated):
        out = optax.apply_updates(p, prox.update(zero, prox.init(p), p)[0])
        assert float(out["t"]) == float(p["t"])
        assert_close(out["w"], f64(p["w"]) - 0.05, rtol=1e-12)


def test_equinox_dropout_float_is_skipped_both_ways():
    model = eqx.nn.Sequential([eqx.nn.Linear(3, 3, key=jax.random.key(0)), eqx.nn.Dropout(p=0.5)])
    want = ref_l2(model.layers[0].weight) + ref_l2(model.layers[0].bias)
    assert_close(jr.l2(1.0)(model), want, rtol=1e-6)
    assert_close(jax.jit(jr.l2(1.0))(model), want, rtol=1e-6)
    assert_close(eqx.filter_jit(jr.l2(1.0))(model), want, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# 6. Matrix penalties know the layout


def test_matrix_penalties_on_equinox_and_flax_conv_layouts_match_numpy_svd():
    conv = eqx.nn.Conv2d(3, 5, 3, key=jax.random.key(1))  # weight (out, in, kh, kw)
    w = f64(conv.weight)
    m = w.reshape(5, -1)  # (out, fan_in)
    s = np.linalg.svd(m, compute_uv=False)
    assert_close(jr.nuclear(1.0, out_axis=0)(conv), s.sum(), rtol=1e-6)
    assert_close(jax.jit(jr.spectral(1.0, out_axis=0))(conv), s[0], rtol=1e-6)
    # the reading of the first design, (prod(shape[:-1]), shape[-1]), is a different matrix
    wrong = np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]
    assert abs(wrong - s[0]) > 1e-3 * s[0]
    # the same conv as a flax kernel (kh, kw, in, out) with the default out_axis=-1
    kernel = jnp.asarray(np.transpose(w, (2, 3, 1, 0)))
    assert_close(jr.nuclear(1.0)({"kernel": kernel}), s.sum(), rtol=1e-6)
    assert_close(jr.spectral(1.0)({"kernel": kernel}), s[0], rtol=1e-6)
    flax_conv = nn.Conv(5, (3, 3)).init(jax.random.key(2), jnp.ones((1, 6, 6, 3)))
    k = f64(flax_conv["params"]["kernel"])
    assert_close(
        jr.nuclear(1.0)(flax_conv),
        np.linalg.svd(k.reshape(-1, 5), compute_uv=False).sum(),
        rtol=1e-5,
    )


def test_nuclear_prox_in_equinox_layout_is_numpy_singular_value_thresholding():
    conv = eqx.nn.Conv2d(3, 5, 3, key=jax.random.key(1))
    w = f64(conv.weight)
    u, s, vt = np.linalg.svd(w.reshape(5, -1), full_matrices=False)
    tau = 0.5 * float(np.median(s))
    want = ((u * np.maximum(s - tau, 0)) @ vt).reshape(w.shape)
    got = jr.nuclear(1.0, out_axis=0).prox(conv, tau)
    assert_close(got.weight, want, rtol=1e-5, atol=1e-6)
    assert got.bias is conv.bias


def test_orthogonal_columns_are_output_units_in_either_layout():
    lin = eqx.nn.Linear(6, 4, key=jax.random.key(3))  # weight (out, in)
    units = f64(lin.weight)  # one row per output unit
    want = ref_orthogonal(units, "rows")
    assert_close(jr.orthogonal(1.0, mode="columns", out_axis=0)(lin), want, rtol=1e-6)
    assert_close(jr.orthogonal(1.0, mode="columns")({"kernel": lin.weight.T}), want, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# 7. Per-element weights


def test_weighted_value_gradient_and_prox_match_numpy():
    w_kernel = jnp.asarray(RNG.uniform(0.0, 2.0, size=(4, 3)))
    weights = {"dense": {"kernel": w_kernel, "bias": None}, "head": 3.0}  # a prefix; None is 1
    W = {k: f64(v) for k, v in (("dk", w_kernel),)}
    lam, t = 0.4, 0.7
    x = {p: f64(v) for p, v in zip(("db", "dk", "hb", "hk"), ALL, strict=True)}
    per = {"dk": W["dk"], "db": 1.0, "hk": 3.0, "hb": 3.0}
    assert_close(
        jax.jit(jr.l1(lam, weights=weights))(PARAMS),
        lam * sum((per[k] * np.abs(x[k])).sum() for k in x),
        rtol=1e-12,
    )
    assert_close(
        jr.l2(lam, weights=weights)(PARAMS),
        lam / 2 * sum((per[k] * x[k] ** 2).sum() for k in x),
        rtol=1e-12,
    )
    en = jr.elastic_net(lam, 0.25, weights=weights)
    assert_close(
        en(PARAMS),
        lam * sum((per[k] * (0.25 * np.abs(x[k]) + 0.375 * x[k] ** 2)).sum() for k in x),
        rtol=1e-12,
    )
    g = jax.grad(jr.l1(lam, weights=weights))(PARAMS)["dense"]["kernel"]
    fd = central_difference(lambda v: lam * (W["dk"] * np.abs(v)).sum(), x["dk"])
    assert_close(g, fd, rtol=1e-6)
    out = en.prox(PARAMS, t)
    want = np.sign(x["dk"]) * np.maximum(np.abs(x["dk"]) - t * lam * 0.25 * W["dk"], 0)
    want /= 1 + t * lam * 0.75 * W["dk"]
    assert_close(out["dense"]["kernel"], want, rtol=1e-12)
    assert np.any(f64(out["dense"]["kernel"]) == 0) and np.any(f64(out["dense"]["kernel"]) != 0)


def test_group_lasso_weights_are_one_per_group():
    x = f64(PARAMS["dense"]["kernel"])  # (4, 3), axis=-1: 4 groups (rows)
    wg = np.array([0.5, 1.0, 2.0, 0.0])
    pen = jr.group_lasso(
        1.5,
        weights={"dense": {"kernel": jnp.asarray(wg), "bias": None}, "head": None},
        mask={"dense": {"kernel": True, "bias": False}, "head": False},
    )
    norms = np.linalg.norm(x, axis=-1)
    assert_close(pen(PARAMS), 1.5 * (wg * norms).sum(), rtol=1e-12)
    t = 0.6
    tau = t * 1.5 * wg
    want = x * np.maximum(1 - tau / norms, 0)[:, None]
    assert_close(pen.prox(PARAMS, t)["dense"]["kernel"], want, rtol=1e-12)
    loss = lambda p: 0.5 * jnp.sum((p["dense"]["kernel"] - 1.0) ** 2)  # noqa: E731
    # group 3 has weight 0 and a non-zero gradient: no strength zeroes it
    assert float(jr.select.lambda_max(loss, PARAMS, pen)) == np.inf
    wg = np.array([0.5, 1.0, 2.0, 4.0])
    pen = jr.group_lasso(
        1.0, weights=jnp.asarray(wg), mask={"dense": {"kernel": True, "bias": False}, "head": False}
    )
    g = -np.ones((4, 3))
    want = max(np.linalg.norm(g[i]) / wg[i] for i in range(4))
    assert_close(jr.select.lambda_max(loss, PARAMS, pen), want, rtol=1e-12)


def test_bad_weights_raise_naming_the_leaf():
    with pytest.raises(ValueError, match=r"weights must be finite and >= 0.*\['w'\]"):
        jr.l1(1.0, weights={"w": jnp.array([1.0, -1.0])})
    with pytest.raises(
        ValueError, match=r"weights for the leaf at 'w' have shape \(3,\).*\(2, 2\)"
    ):
        jr.l1(1.0, weights={"w": jnp.ones(3)})({"w": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match=r"weights does not fit params"):
        jr.l1(1.0, weights={"v": 1.0})({"w": jnp.ones(2)})


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_weighted_elementwise_value_and_prox_on_random_pytrees(data):
    n = data.draw(st.integers(1, 4))
    shapes = [
        tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))) for _ in range(n)
    ]
    dtype = data.draw(st.sampled_from([jnp.float64, jnp.float32]))
    xs = [data.draw(hnp.arrays(np.float64, s, elements=st.floats(-3, 3))) for s in shapes]
    ws = [data.draw(hnp.arrays(np.float64, s, elements=st.floats(0, 2))) for s in shapes]
    params = {f"l{i}": jnp.asarray(x, dtype) for i, x in enumerate(xs)}
    weights = {f"l{i}": jnp.asarray(w, dtype) for i, w in enumerate(ws)}
    lam, t = data.draw(st.floats(0, 3)), data.draw(st.floats(0, 2))
    xs = [f64(params[f"l{i}"]) for i in range(n)]
    ws = [f64(weights[f"l{i}"]) for i in range(n)]
    rtol = 1e-12 if dtype == jnp.float64 else 1e-5
    got = jax.jit(lambda pen, p: pen(p))(jr.l1(lam, weights=weights), params)
    assert_close(
        got,
        lam * sum((w * np.abs(x)).sum() for x, w in zip(xs, ws, strict=True)),
        rtol=rtol,
        atol=1e-6,
    )
    out = jr.l1(lam, weights=weights).prox(params, t)
    for i, (x, w) in enumerate(zip(xs, ws, strict=True)):
        want = np.sign(x) * np.maximum(np.abs(x) - t * lam * w, 0)
        assert_close(out[f"l{i}"], want, rtol=rtol, atol=1e-6)
        assert out[f"l{i}"].dtype == dtype


# --------------------------------------------------------------------------------------------
# 8. Step trees by structure


def _soft(x, tau):
    return np.sign(x) * np.maximum(np.abs(x) - tau, 0)


def test_step_trees_with_equinox_nnx_and_frozendict_structure():
    lin = eqx.nn.Linear(4, 3, key=jax.random.key(0))
    steps = jax.tree.map(lambda x: jnp.full(x.shape, 0.3) if eqx.is_array(x) else x, lin)
    steps = eqx.tree_at(lambda m: m.weight, steps, jnp.asarray(RNG.uniform(0, 0.5, size=(3, 4))))
    out = jax.jit(jr.l1(1.0).prox)(lin, steps)
    assert_close(out.weight, _soft(f64(lin.weight), f64(steps.weight)), rtol=1e-12)
    assert_close(out.bias, _soft(f64(lin.bias), 0.3), rtol=1e-12)

    state = nnx.state(NnxModel(nnx.Rngs(0)), nnx.Param)
    steps = jax.tree.map(lambda x: jnp.full(x.shape, 0.2, x.dtype), state)
    out = jr.l1(1.0).prox(state, steps)
    assert_close(out["lin"]["kernel"][...], _soft(f64(state["lin"]["kernel"][...]), 0.2), rtol=1e-6)

    frozen = FrozenDict({"a": jnp.array([1.0, -0.1]), "b": {"c": jnp.array([2.0])}})
    out = jr.l1(1.0).prox(frozen, FrozenDict({"a": jnp.array([0.5, 0.5]), "b": 1.5}))
    assert f64(out["a"]).tolist() == [0.5, 0.0] and f64(out["b"]["c"]).tolist() == [0.5]


def test_bad_steps_in_a_tree_raise_or_poison():
    params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0])}
    for bad in (-0.1, float("nan")):
        with pytest.raises(
            ValueError, match=r"step must be finite and >= 0; the step for the leaf at 'b'"
        ):
            jr.l1(0.1).prox(params, {"a": 0.1, "b": jnp.array([bad])})
    with pytest.raises(ValueError, match=r"step for the leaf at 'a' has shape \(3,\)"):
        jr.l1(0.1).prox(params, {"a": jnp.ones(3), "b": 0.1})
    traced = jax.jit(jr.l1(0.1).prox)(params, {"a": jnp.array([-0.1, 0.1]), "b": jnp.array([0.1])})
    assert np.isnan(f64(traced["a"])[0]) and not np.isnan(f64(traced["a"])[1])


def test_adam_preconditioned_proximal_transform_on_an_equinox_model():
    model = eqx.nn.MLP(3, 1, 8, 1, key=jax.random.key(0))
    X = jnp.asarray(RNG.normal(size=(64, 3)))
    y = X[:, :1] * 2.0
    pen = jr.group_lasso(0.05, axis=0, mask=jr.masks.kernels)
    tx = jr.transforms.proximal(pen, 0.05, precondition="adam")
    params, static = eqx.partition(model, eqx.is_array)

    @jax.jit
    def step(params, state):
        def loss(p):
            m = eqx.combine(p, static)
            return jnp.mean((jax.vmap(m)(X) - y) ** 2)

        updates, state = tx.update(jax.grad(loss)(params), state, params)
        return optax.apply_updates(params, updates), state, loss(params)

    state = tx.init(params)
    losses = []
    for _ in range(200):
        params, state, value = step(params, state)
        losses.append(float(value))
    assert losses[-1] < 0.1 * losses[0]
    w0 = f64(params.layers[0].weight)  # (8, 3): groups along axis 0 are the 3 inputs
    assert np.all(np.isfinite(w0))


# --------------------------------------------------------------------------------------------
# Hyperparameters the builders cannot check, and small conveniences


def test_traced_invalid_hyperparameters_give_nan_not_numbers():
    p = {"w": jnp.array([1.0, -2.0])}
    assert np.isnan(float(jax.jit(lambda s: jr.l1(s)(p))(-0.1)))
    assert np.isnan(f64(jax.jit(lambda s: jr.l1(s).prox(p, 0.1)["w"])(-0.1))).all()
    assert np.isnan(float(jax.jit(lambda r: jr.elastic_net(1.0, r)(p))(1.5)))
    assert np.isnan(float(jax.jit(lambda f: (jr.l2(1.0) * f)(p))(-1.0)))
    assert np.isnan(float(jax.tree.map(lambda x: x - 1, jr.l1(0.1))(p)))
    weights = {"w": jnp.array([1.0, 1.0])}
    assert np.isnan(float(jax.jit(lambda w: jr.l1(1.0, weights={"w": w})(p))(-weights["w"])))


def test_equinox_filter_jit_does_not_retrace_for_a_new_strength():
    traces = []

    @eqx.filter_jit
    def value(pen, p):
        traces.append(1)
        return pen(p)

    for s in (0.1, 0.2, 0.3):
        assert_close(value(jr.l2(s), PARAMS), s * sum(ref_l2(x) for x in ALL), rtol=1e-12)
    assert len(traces) == 1


def test_proximal_transform_leaves_none_updates_alone():
    w = jnp.array([1.0, -0.05])
    for precondition in (None, "adam"):
        tx = jr.transforms.proximal(jr.l1(1.0), 0.1, precondition=precondition)
        params = {"w": w, "frozen": None, "count": jnp.array(3)}
        # without preconditioning the transform follows an optimizer: it gets -lr * grad
        g = jnp.ones(2) if precondition else -0.1 * jnp.ones(2)
        grads = {"w": g, "frozen": None, "count": None}
        if precondition:  # as stock optax.adam: init on the trainable leaves
            state = tx.init({"w": w, "frozen": None, "count": None})
        else:
            state = tx.init(params)
        updates, _ = tx.update(grads, state, params)
        assert updates["frozen"] is None and updates["count"] is None
        assert_close(updates["w"], [-0.2, 0.0], rtol=1e-5, atol=1e-6)


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


# --------------------------------------------------------------------------------------------
# From the second review


def test_group_step_is_the_step_of_the_mean_metric_so_one_zero_gradient_cannot_zero_a_group():
    lr, lam, eps = 1e-2, 1e-4, 1e-8
    x = RNG.normal(0, 0.5, size=(5, 4))  # kernel (in, out); axis=0: one group per output
    D = np.abs(RNG.normal(size=(5, 4))) + eps
    D[0] = eps  # an input that is always 0: Adam's D is eps there
    out = jr.group_lasso(lam, axis=0).prox(
        {"kernel": jnp.asarray(x)}, {"kernel": jnp.asarray(lr / D)}
    )
    t = lr / D.mean(axis=0)  # the documented metric: mean(D) over each group
    norms = np.linalg.norm(x, axis=0)
    want = x * np.maximum(1 - t * lam / norms, 0)
    assert_close(out["kernel"], want, rtol=1e-10)
    assert np.all(np.linalg.norm(f64(out["kernel"]), axis=0) > 0.5)
    got = jr.nuclear(lam).prox({"kernel": jnp.asarray(x)}, {"kernel": jnp.asarray(lr / D)})
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    want = (u * np.maximum(s - lr / D.mean() * lam, 0)) @ vt
    assert_close(got["kernel"], want, rtol=1e-8)


def test_a_batch_of_penalties_outside_vmap_raises():
    pens = jax.vmap(jr.l1)(jnp.array([0.1, 0.5]))
    p = {"w": jnp.ones(2)}
    for call in (lambda: pens(p), lambda: pens.prox(p, 1.0), lambda: (pens + jr.l2(1.0))(p)):
        with pytest.raises(ValueError, match=r"l1's strength has shape \(2,\): this is a batch"):
            call()
    assert_close(jax.vmap(lambda pen: pen(p))(pens), [0.2, 1.0], rtol=1e-12)


def test_without_a_mask_nnx_batch_statistics_are_not_penalized():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.lin = nnx.Linear(3, 4, rngs=rngs)
            self.bn = nnx.BatchNorm(4, rngs=rngs)

    model = Net(nnx.Rngs(0))
    params = [model.lin.kernel[...], model.lin.bias[...], model.bn.scale[...], model.bn.bias[...]]
    want = sum(ref_l2(x) for x in params)  # BatchNorm's var is ones: would add 2.0
    for tree in (model, nnx.state(model), nnx.state(model, nnx.Param)):
        assert_close(jr.l2(1.0)(tree), want, rtol=1e-6)


def test_review_errors_and_edge_values():
    with pytest.raises(ValueError, match=r"different masks"):
        jr.conventions.to_keras_config(jr.l2(0.1, mask=jr.masks.kernels) + jr.l1(0.2))
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match=r"C must be > 0; got C=0"):
        jr.conventions.from_sklearn(LogisticRegression(C=0), n_samples=10)
    with pytest.raises(TypeError, match=r"init_params must hold floating-point arrays"):
        jr.solve(lambda w: jnp.sum(w), jr.l1(1.0), jnp.zeros(3, int))
    loss = lambda w: 0.5 * jnp.sum((w - 1.0) ** 2)  # noqa: E731
    assert (
        float(jr.select.lambda_max(loss, jnp.zeros(3), jr.l1(1.0, weights=jnp.zeros(3)))) == np.inf
    )
    w = jnp.array([0.5, 2.0, 4.0])  # |g| = 1 everywhere: max(1 / w) = 2
    assert float(jr.select.lambda_max(loss, jnp.zeros(3), jr.l1(1.0, weights=w))) == 2.0
    assert (
        float(jr.select.lambda_max(loss, jnp.zeros(3), jr.l1(1.0, weights=w.at[0].set(0))))
        == np.inf
    )


def test_prox_zeros_are_positive_zeros():
    x = jnp.asarray(-np.abs(RNG.normal(size=(3, 4))))
    for pen in (jr.l1(10.0), jr.group_lasso(10.0), jr.nuclear(100.0), jr.elastic_net(10.0, 0.5)):
        out = f64(pen.prox({"w": x}, 1.0)["w"])
        assert np.all(out == 0) and not np.any(np.signbit(out)), pen


def test_group_weights_in_keepdims_form_equal_the_group_form():
    conv = eqx.nn.Conv2d(2, 6, 3, key=jax.random.key(4))  # weight (6, 2, 3, 3)
    wg = jnp.asarray(RNG.uniform(0.5, 2.0, size=6))
    group = jr.group_lasso(0.3, axis=(1, 2, 3), mask=jr.masks.kernels, weights=wg)
    keep = jr.group_lasso(
        0.3, axis=(1, 2, 3), mask=jr.masks.kernels, weights=wg.reshape(6, 1, 1, 1)
    )
    w = f64(conv.weight)
    want = 0.3 * (f64(wg) * np.sqrt((w**2).sum(axis=(1, 2, 3)))).sum()
    assert_close(group(conv), want, rtol=1e-6)
    assert_close(keep(conv), want, rtol=1e-6)
    assert_close(keep.prox(conv, 0.2).weight, group.prox(conv, 0.2).weight, rtol=1e-6)


def test_a_penalty_adds_to_penalties_and_zero_only_with_an_error_that_says_so():
    a, b = jr.l1(0.1), jr.l2(0.2)
    assert sum([a, b]) == a + b == 0 + a + b and a + 0 == a
    message = r"adds to another Penalty \(or to 0.*2\.0 \* pen"
    for bad in (1.0, 2, "l2", jnp.array(1.0), None):
        with pytest.raises(TypeError, match=message):
            a + bad
        with pytest.raises(TypeError, match=message):
            bad + a
