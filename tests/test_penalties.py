"""Penalty values, gradients, dtypes and validation against NumPy float64 references."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
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

# (builder, NumPy reference of one leaf without strength, minimum ndim of penalized leaves)
KINDS = {
    "l1": (lambda s: jr.l1(s), ref_l1, 0),
    "l2": (lambda s: jr.l2(s), ref_l2, 0),
    "elastic_net": (lambda s: jr.elastic_net(s, 0.3), lambda x: ref_elastic_net(x, 0.3), 0),
    "group_lasso": (lambda s: jr.group_lasso(s), ref_group_lasso, 1),
    "group_lasso_axis0": (lambda s: jr.group_lasso(s, axis=0), lambda x: ref_group_lasso(x, 0), 1),
    "nuclear": (lambda s: jr.nuclear(s), ref_nuclear, 2),
    "spectral": (lambda s: jr.spectral(s), ref_spectral, 2),
    "orthogonal": (lambda s: jr.orthogonal(s), ref_orthogonal, 2),
    "orthogonal_columns": (
        lambda s: jr.orthogonal(s, mode="columns"),
        lambda x: ref_orthogonal(x, "columns"),
        2,
    ),
}
FLOAT_DTYPES = [jnp.float64, jnp.float32, jnp.bfloat16, jnp.float16]


@st.composite
def pytrees(draw, min_ndim: int):
    """Dicts/lists of float arrays of mixed shapes and dtypes, plus int leaves and None."""
    n = draw(st.integers(0, 5))
    tree: dict = {}
    for i in range(n):
        ndim = draw(st.integers(min_ndim, 3))
        shape = tuple(draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim)))
        dtype = draw(st.sampled_from(FLOAT_DTYPES))
        values = draw(
            hnp.arrays(np.float64, shape, elements=st.floats(-3, 3, allow_subnormal=False))
        )
        leaf = jnp.asarray(values, dtype=dtype)
        # leaves named as kernels, so the matrix kinds' default mask (jr.masks.kernels) takes them
        tree[f"layer{i}"] = [{"kernel": leaf}, None] if i % 2 else {"w": leaf, "step": jnp.array(i)}
    return tree


def float_leaves(tree):
    """The leaves mask=None penalizes: floating and not 0-d (scalars need an explicit mask)."""
    return [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.floating) and x.ndim]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_value_matches_numpy_on_random_pytrees(kind, data):
    build, ref, min_ndim = KINDS[kind]
    tree = data.draw(pytrees(min_ndim))
    strength = data.draw(st.one_of(st.just(0.0), st.floats(1e-3, 10.0)))
    got = jax.jit(build(strength))(tree)
    leaves = float_leaves(tree)
    expected = strength * sum(ref(x) for x in leaves)
    # Each leaf's values are exact in float64; the reduction runs in float32 unless float64.
    wide = any(x.dtype == jnp.float64 for x in leaves)
    assert got.dtype == (jnp.float64 if wide else jnp.float32)
    rtol = 1e-12 if all(x.dtype == jnp.float64 for x in leaves) else 2e-5
    if kind.startswith(("nuclear", "spectral")) and not all(x.dtype == jnp.float64 for x in leaves):
        rtol = 1e-4  # float32 SVD
    assert_close(got, expected, rtol=rtol, atol=1e-5 * strength)


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_matches_finite_differences(kind):
    build, ref, _ = KINDS[kind]
    x = np.random.default_rng(0).normal(size=(4, 3)) + 0.1  # no exact zeros: away from kinks
    grad = jax.jit(jax.grad(lambda p: build(1.7)({"w": p})))(jnp.asarray(x))
    fd = central_difference(lambda v: 1.7 * ref(v), x)
    assert_close(grad, fd, rtol=1e-6, atol=1e-8)
    assert np.abs(fd).max() > 0.1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32, jnp.bfloat16])
def test_gradient_at_exact_zero_is_finite(kind, dtype):
    build, _, _ = KINDS[kind]
    zeros = {"w": jnp.zeros((3, 4), dtype), "v": jnp.zeros((2, 2), dtype)}
    value, grad = jax.jit(jax.value_and_grad(build(0.5)))(zeros)
    assert float(value) == 0.0
    for g in jax.tree.leaves(grad):
        assert g.dtype == dtype
        assert np.all(np.isfinite(f64(g))), (kind, g)


@pytest.mark.slow
def test_l1_gradient_at_zero_is_zero_like_tensorflow_and_pytorch():
    x = jnp.array([-2.0, 0.0, 3.0])
    assert f64(jax.grad(jr.l1(1.0))(x)).tolist() == [-1.0, 0.0, 1.0]
    assert f64(jax.grad(jr.elastic_net(1.0, 0.5))(x)).tolist() == [-1.5, 0.0, 2.0]
    assert float(jax.grad(jnp.abs)(0.0)) == 1.0  # why abs0 exists


def test_group_lasso_gradient_of_a_zero_group_is_zero_and_others_are_unit_vectors():
    w = jnp.array([[3.0, 4.0], [0.0, 0.0]])
    g = jax.grad(jr.group_lasso(2.0))(w)
    assert_close(g, [[1.2, 1.6], [0.0, 0.0]], rtol=1e-12)


def test_nuclear_and_spectral_gradients_are_subgradients_from_numpy_svd():
    w = np.random.default_rng(1).normal(size=(5, 3))
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    assert_close(jax.grad(jr.nuclear(1.0))(jnp.asarray(w)), u @ vt, rtol=1e-10, atol=1e-12)
    assert_close(
        jax.grad(jr.spectral(1.0))(jnp.asarray(w)), np.outer(u[:, 0], vt[0]), rtol=1e-10, atol=1e-12
    )
    # rank-deficient: the zero singular value's direction gets 0
    low = np.outer(np.arange(1.0, 5.0), [1.0, 2.0, 2.0])
    g = jax.grad(jr.nuclear(1.0))(jnp.asarray(low))
    assert np.all(np.isfinite(g))
    assert_close(g, low / np.linalg.norm(low), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_nan_propagates_to_value_and_gradient(kind):
    build, _, _ = KINDS[kind]
    w = jnp.ones((3, 3)).at[1, 1].set(jnp.nan)
    value, grad = jax.jit(jax.value_and_grad(build(0.1)))({"w": w})
    assert math.isnan(float(value))
    assert np.isnan(f64(grad["w"])).any()


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        ([jnp.bfloat16], jnp.float32),
        ([jnp.float16], jnp.float32),
        ([jnp.float32, jnp.bfloat16], jnp.float32),
        ([jnp.float64, jnp.bfloat16], jnp.float64),
    ],
)
def test_low_precision_accumulates_in_float32(dtypes, expected):
    # 4096 values of 1 + 1/64 (exact in bf16 and fp16): a bf16/fp16 sum stalls far below.
    x = np.full(4096, 1.0 + 1.0 / 64)
    tree = [jnp.asarray(x, d) for d in dtypes]
    got = jr.l2(2.0)(tree)
    assert got.dtype == expected
    assert_close(got, len(dtypes) * (x**2).sum(), rtol=1e-6)


def test_empty_tree_and_tree_without_floats_give_zero():
    for tree in ({}, [], None, {"a": None}, {"step": jnp.array(3), "key": jax.random.key(0)}):
        got = jr.l1(1.0)(tree)
        assert got.shape == () and float(got) == 0.0


def test_non_float_leaves_are_never_penalized_even_if_masked_in():
    tree = {"w": jnp.array([1.0, -1.0]), "n": jnp.array([5, 5]), "key": jax.random.key(0)}
    assert float(jr.l1(1.0, mask={"w": True, "n": True, "key": True})(tree)) == 2.0


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: jr.l1(-0.1), r"strength must be finite and >= 0; got strength=-0.1"),
        (lambda: jr.l2(float("nan")), r"strength=nan"),
        (lambda: jr.l2(float("inf")), r"strength=inf"),
        (lambda: jr.l2(np.array([1.0, 2.0])), r"strength must be a scalar; got .* shape \(2,\)"),
        (lambda: jr.elastic_net(0.1, 1.5), r"l1_ratio must be finite and in \[0, 1\]; got"),
        (lambda: jr.elastic_net(0.1, -0.5), r"l1_ratio=-0.5"),
        (lambda: jr.orthogonal(0.1, mode="diag"), r"mode must be 'rows' or 'columns'; got"),
        (lambda: 0.5 * jr.l1(-1.0), r"strength=-1.0"),
        (lambda: -1.0 * jr.l1(1.0), r"factor must be finite and >= 0; got factor=-1.0"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_argument_and_value(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: jr.l1("0.1"), r"strength must be a real number .* got '0.1'"),
        (lambda: jr.l1(True), r"strength must be a real number .* got True"),
        (lambda: jr.group_lasso(0.1, axis="rows"), r"axis must be an int .* got axis='rows'"),
        (lambda: jr.group_lasso(0.1, axis=1.0), r"axis=1.0"),
        (lambda: jr.l1(0.1, mask="kernel"), r"by_path\(include='kernel'\)"),
        (lambda: jr.l1(0.1, mask={"w": 1}), r"holds a leaf 1 of type int"),
    ],
)
def test_bad_argument_types_raise_type_error(build, match):
    with pytest.raises(TypeError, match=match):
        build()


def test_axis_out_of_range_and_too_few_dims_name_the_leaf():
    with pytest.raises(
        ValueError, match=r"axis=2 is out of range for the leaf at 'b/w' with shape"
    ):
        jr.group_lasso(1.0, axis=2)({"b": {"w": jnp.ones((2, 2))}})
    with pytest.raises(ValueError, match=r"nuclear needs leaves with at least 2 .* 'bias'"):
        jr.nuclear(1.0, mask=True)({"bias": jnp.ones(3), "kernel": jnp.ones((3, 3))})
    with pytest.raises(ValueError, match=r"group_lasso needs leaves with at least 1 .* 't'"):
        jr.group_lasso(1.0, mask=True)({"t": jnp.asarray(1.0, jnp.float64)})


@pytest.mark.slow
def test_strength_can_be_traced_vmap_and_one_compilation_serves_every_strength():
    params = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([0.5, 0.5])}
    strengths = jnp.array([0.0, 0.1, 1.0, 7.5])
    for build, ref in [(jr.l1, ref_l1), (jr.l2, ref_l2), (jr.group_lasso, ref_group_lasso)]:
        got = jax.vmap(lambda s, build=build: build(s)(params))(strengths)
        unit = sum(ref(x) for x in jax.tree.leaves(params))
        assert_close(got, f64(strengths) * unit, rtol=1e-12)
    traces = []

    @jax.jit
    def value(s, p):
        traces.append(1)
        return jr.elastic_net(s, 0.5)(p)

    for s in [0.1, 0.2, 3.0]:
        assert_close(
            value(jnp.asarray(s), params),
            s * sum(ref_elastic_net(x, 0.5) for x in jax.tree.leaves(params)),
            rtol=1e-12,
        )
    assert len(traces) == 1


def test_penalties_compose_and_scale():
    params = {"w": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "b": jnp.array([0.5, -4.0])}
    pen = jr.l1(0.1) + 0.5 * jr.l2(2.0, mask=jr.masks.kernels) + jr.group_lasso(0.3) / 3
    w, b = f64(params["w"]), f64(params["b"])
    expected = (
        0.1 * (ref_l1(w) + ref_l1(b)) + ref_l2(w) + 0.1 * (ref_group_lasso(w) + ref_group_lasso(b))
    )
    assert_close(jax.jit(pen)(params), expected, rtol=1e-12)
    assert_close(sum([jr.l1(1.0), jr.l1(2.0)])(params), 3 * (ref_l1(w) + ref_l1(b)), rtol=1e-12)
    per = pen.per_leaf(params)
    assert_close(per["w"], 0.1 * ref_l1(w) + ref_l2(w) + 0.1 * ref_group_lasso(w), rtol=1e-12)
    assert_close(per["b"], 0.1 * ref_l1(b) + 0.1 * ref_group_lasso(b), rtol=1e-12)


def test_per_leaf_keeps_structure_and_puts_none_elsewhere():
    params = {"dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}, "step": jnp.array(1)}
    per = jr.l2(1.0, mask=jr.masks.kernels).per_leaf(params)
    assert per["dense"]["bias"] is None and per["step"] is None
    assert float(per["dense"]["kernel"]) == 3.0
    leaves_paths = [
        jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(per)[0]
    ]
    assert leaves_paths == ["['dense']['kernel']"]
