"""Stacked layers (issue #25): real nnx / linen / equinox stacks against per-layer NumPy.

A stack built by ``nnx.vmap``, ``nn.scan`` or ``eqx.filter_vmap`` holds each kernel as one
array with a leading layer axis. With ``batch_axes=0`` the matrix kinds give the per-layer
value, gradient, prox and ``lambda_max`` (NumPy's SVD of each layer's matrix, summed or
maxed); the axis-taking kinds give the per-layer answer when their axes are negative. The
per-layer references come from layers built one by one from the same keys (nnx, equinox), or
from slicing the stacked arrays along the axis the framework documents (linen).
"""

from __future__ import annotations

import functools

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from helpers import assert_close, f64, ref_orthogonal

import jaxreg as jr

L, D, H = 3, 4, 6


class Block(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.ln = nnx.LayerNorm(D, rngs=rngs, param_dtype=jnp.float64)
        self.up = nnx.Linear(D, H, rngs=rngs, param_dtype=jnp.float64)
        self.down = nnx.Linear(H, D, rngs=rngs, param_dtype=jnp.float64)

    def __call__(self, x):
        return x + self.down(jax.nn.relu(self.up(self.ln(x))))


class EqxBlock(eqx.Module):
    ln: eqx.nn.LayerNorm
    up: eqx.nn.Linear
    down: eqx.nn.Linear

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.ln = eqx.nn.LayerNorm(D)
        self.up = eqx.nn.Linear(D, H, key=k1, dtype=jnp.float64)
        self.down = eqx.nn.Linear(H, D, key=k2, dtype=jnp.float64)


class LinenBlock(nn.Module):
    @nn.compact
    def __call__(self, x, _):
        h = nn.Dense(H, param_dtype=jnp.float64)(nn.LayerNorm(param_dtype=jnp.float64)(x))
        return x + nn.Dense(D, param_dtype=jnp.float64)(jax.nn.relu(h)), None


class LinenStack(nn.Module):
    @nn.compact
    def __call__(self, x):
        scan = nn.scan(
            LinenBlock, variable_axes={"params": 0}, split_rngs={"params": True}, length=L
        )
        return scan()(x, None)[0]


KEYS = jax.random.split(jax.random.key(0), L)


@functools.cache
def nnx_stack():
    """The `nnx.split` state of L blocks made by `nnx.vmap`, and each block's (in, out) kernels."""

    @nnx.vmap(in_axes=0, out_axes=0)
    def make(key):
        return Block(nnx.Rngs(key))

    _, state = nnx.split(make(KEYS))
    layers = [Block(nnx.Rngs(k)) for k in KEYS]
    # nnx.State orders its leaves by name: down before up
    per_layer = [[f64(b.down.kernel[...]), f64(b.up.kernel[...])] for b in layers]
    return state, per_layer


@functools.cache
def eqx_stack():
    """`eqx.filter_vmap` of L blocks, and each block's kernels as (in, out) matrices."""
    stack = eqx.filter_vmap(EqxBlock)(KEYS)
    layers = [EqxBlock(k) for k in KEYS]
    per_layer = [[f64(b.up.weight).T, f64(b.down.weight).T] for b in layers]
    return stack, per_layer


@functools.cache
def linen_stack():
    params = LinenStack().init(jax.random.key(0), jnp.ones((2, D)))["params"]
    block = params["ScanLinenBlock_0"]
    per_layer = [
        [f64(block["Dense_0"]["kernel"][i]), f64(block["Dense_1"]["kernel"][i])] for i in range(L)
    ]
    return params, per_layer


# name: (tree, per-layer (in, out) matrices, out_axis of the stacked kernels)
STACKS = {"nnx.vmap": (nnx_stack, -1), "nn.scan": (linen_stack, -1), "eqx": (eqx_stack, -2)}
# every stack under jit; eagerly on one (eager dispatch dominates the file's run time)
CASES = [*((name, True) for name in STACKS), ("eqx", False)]


def svt(m, tau):
    u, s, vt = np.linalg.svd(m, full_matrices=False)
    return (u * np.maximum(s - tau, 0.0)) @ vt


def kernel_leaves(tree):
    mask = jax.tree.leaves(jr.masks.kernels(tree))
    return [x for x, keep in zip(jax.tree.leaves(tree), mask, strict=True) if keep]


def to_stacked_layout(per_layer_matrix, out_axis):
    """(in, out) matrices of each layer as the stacked leaf: (L, in, out) or (L, out, in)."""
    stacked = np.stack(per_layer_matrix)
    return stacked if out_axis == -1 else np.swapaxes(stacked, -1, -2)


@pytest.mark.parametrize("name", STACKS)
def test_layers_built_one_by_one_are_the_stacks_slices(name):
    make, out_axis = STACKS[name]
    tree, per_layer = make()
    if name == "nn.scan":  # the reference is the slices themselves: check the stack axis
        assert kernel_leaves(tree)[0].shape == (L, D, H)
    for j, leaf in enumerate(kernel_leaves(tree)):
        assert_close(leaf, to_stacked_layout([m[j] for m in per_layer], out_axis), rtol=1e-12)


@pytest.mark.parametrize("name", STACKS)
def test_kernels_mask_picks_stacked_kernels_not_stacked_biases(name):
    tree, _ = STACKS[name][0]()
    mask = jr.masks.kernels(tree)
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    chosen = {
        jax.tree_util.keystr(p)
        for (p, _), m in zip(leaves, jax.tree.leaves(mask), strict=True)
        if m
    }
    ndims = {jax.tree_util.keystr(p): np.ndim(x) for p, x in leaves}
    assert len(chosen) == 2 and all(ndims[p] == 3 for p in chosen), chosen
    # biases and LayerNorm scales are 2-D (L, features) in a stack: never kernels
    assert all(("kernel" in p or "weight" in p) and "ln" not in p for p in chosen), chosen


@pytest.mark.parametrize(("name", "jit"), CASES)
def test_matrix_kinds_value_is_the_per_layer_sum(name, jit):
    tree, per_layer = STACKS[name][0]()
    out_axis = STACKS[name][1]
    maybe_jit = jax.jit if jit else (lambda f: f)
    svals = [np.linalg.svd(m, compute_uv=False) for layer in per_layer for m in layer]
    cases = [
        (jr.nuclear(0.5, out_axis=out_axis, batch_axes=0), 0.5 * sum(s.sum() for s in svals)),
        (jr.spectral(0.5, out_axis=out_axis, batch_axes=0), 0.5 * sum(s[0] for s in svals)),
        (
            jr.orthogonal(0.5, mode="columns", out_axis=out_axis, batch_axes=0),
            0.5 * sum(ref_orthogonal(m, "columns") for layer in per_layer for m in layer),
        ),
    ]
    for pen, expected in cases:
        assert_close(maybe_jit(pen)(tree), expected, rtol=1e-10, what=pen.name)


def test_nnx_scan_stack_applies_layer_i_as_slice_i_and_gets_per_layer_values():
    """A stack made by `nnx.scan` has the layer axis 0, and `nnx.scan` applies slice i as
    layer i: the forward pass equals the loop over layers built one by one."""

    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=(nnx.Carry, 0))
    def make(carry, key):
        return carry, Block(nnx.Rngs(key))

    @nnx.scan(in_axes=(nnx.Carry, 0), out_axes=nnx.Carry)
    def forward(x, block):
        return block(x)

    _, blocks = make(0, KEYS)
    x = jnp.linspace(-1.0, 1.0, 2 * D).reshape(2, D)
    expected = x
    for key in KEYS:
        expected = Block(nnx.Rngs(key))(expected)
    assert_close(forward(x, blocks), expected, rtol=1e-12)
    _, state = nnx.split(blocks)
    _, per_layer = nnx_stack()
    pen = jr.nuclear(0.3, batch_axes=0)
    svals = [np.linalg.svd(m, compute_uv=False) for layer in per_layer for m in layer]
    assert_close(jax.jit(pen)(state), 0.3 * sum(s.sum() for s in svals), rtol=1e-10)
    for j, z in enumerate(kernel_leaves(jax.jit(pen.prox)(state, 2.0))):
        expected_z = np.stack([svt(layer[j], 0.6) for layer in per_layer])
        assert_close(z, expected_z, rtol=1e-9, atol=1e-12)


def test_without_batch_axes_a_stack_is_one_folded_matrix():
    tree, per_layer = nnx_stack()
    folded = [np.concatenate([layer[j] for layer in per_layer]) for j in range(2)]  # (L*in, out)
    expected = sum(np.linalg.svd(m, compute_uv=False).sum() for m in folded)
    assert_close(jr.nuclear(1.0)(tree), expected, rtol=1e-10)
    per_layer_sum = sum(np.linalg.svd(m, compute_uv=False).sum() for ms in per_layer for m in ms)
    assert not np.isclose(expected, per_layer_sum)  # the two rules differ on real stacks


@pytest.mark.parametrize(("name", "jit"), [("nnx.vmap", True), ("eqx", True), ("eqx", False)])
def test_gradient_is_the_per_layer_gradient(name, jit):
    tree, per_layer = STACKS[name][0]()
    out_axis = STACKS[name][1]
    maybe_jit = jax.jit if jit else (lambda f: f)
    for build, grad_of in (
        (jr.nuclear, lambda u, s, vt: u @ vt),
        (jr.spectral, lambda u, s, vt: np.outer(u[:, 0], vt[0])),
    ):
        pen = build(1.0, out_axis=out_axis, batch_axes=0)
        grads = kernel_leaves(maybe_jit(jax.grad(pen))(tree))
        for j, g in enumerate(grads):
            expected = [
                grad_of(*np.linalg.svd(layer[j], full_matrices=False)) for layer in per_layer
            ]
            assert_close(g, to_stacked_layout(expected, out_axis), rtol=1e-8, what=pen.name)


def test_orthogonal_gradient_matches_finite_differences():
    tree, _ = eqx_stack()
    pen = jr.orthogonal(1.0, out_axis=-2, batch_axes=0)
    w = f64(tree.up.weight)
    direction = np.random.default_rng(0).normal(size=w.shape)

    def value(weight):
        return pen(eqx.tree_at(lambda m: m.up.weight, tree, weight))

    g = jax.jit(jax.grad(value))(jnp.asarray(w))
    eps = 1e-6
    fd = (value(jnp.asarray(w + eps * direction)) - value(jnp.asarray(w - eps * direction))) / (
        2 * eps
    )
    assert_close(np.vdot(g, direction), fd, rtol=1e-6)


def test_gradient_at_zero_is_zero_not_nan():
    zeros = {"kernel": jnp.zeros((L, D, H))}
    for build in (jr.nuclear, jr.spectral, jr.orthogonal):
        g = jax.jit(jax.grad(build(1.0, batch_axes=0)))(zeros)["kernel"]
        assert np.all(np.asarray(g) == 0), build.__name__


@pytest.mark.parametrize(("name", "jit"), CASES)
def test_nuclear_prox_is_the_per_layer_svt(name, jit):
    tree, per_layer = STACKS[name][0]()
    out_axis = STACKS[name][1]
    strength, step = 0.4, 0.5
    pen = jr.nuclear(strength, out_axis=out_axis, batch_axes=0)
    prox = jax.jit(pen.prox) if jit else pen.prox
    for j, z in enumerate(kernel_leaves(prox(tree, step))):
        expected = [svt(layer[j], step * strength) for layer in per_layer]
        assert_close(z, to_stacked_layout(expected, out_axis), rtol=1e-9, atol=1e-12)


def test_prox_with_per_element_steps_uses_each_matrix_harmonic_mean_and_l2():
    # (L, out, in) with out_axis=-2 and a second batch axis at the end: batch_axes=(0, -1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(L, 5, 3, 2))
    t = rng.uniform(0.2, 2.0, size=x.shape)
    s, b = 0.7, 0.3
    pen = jr.nuclear(s, out_axis=-3, batch_axes=(0, -1)) + jr.l2(b)
    z = np.asarray(jax.jit(pen.prox)(jnp.asarray(x), jnp.asarray(t)))
    for i in range(L):
        for k in range(2):
            m = x[i, :, :, k].T  # (fan_in, out)
            hm = 1.0 / np.mean(1.0 / t[i, :, :, k])
            expected = svt(m, hm * s) / (1 + hm * b)
            assert_close(z[i, :, :, k].T, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("name", "jit"), CASES)
def test_lambda_max_is_the_max_of_per_layer_dual_norms(name, jit):
    tree, per_layer = STACKS[name][0]()
    out_axis = STACKS[name][1]
    targets = jax.tree.map(lambda x: 2.0 * x, tree)

    def loss(params):  # gradient at 0 on the kernels: -targets
        diffs = jax.tree.map(lambda p, y: jnp.sum((p - y) ** 2) / 2, params, targets)
        return sum(jax.tree.leaves(diffs))

    mats = [2.0 * m for layer in per_layer for m in layer]
    for build, dual in (
        (jr.nuclear, lambda m: np.linalg.norm(m, ord=2)),
        (jr.spectral, lambda m: np.linalg.svd(m, compute_uv=False).sum()),
    ):
        pen = build(1.0, out_axis=out_axis, batch_axes=0)
        lmax = jr.select.lambda_max
        got = jax.jit(lmax, static_argnums=0)(loss, tree, pen) if jit else lmax(loss, tree, pen)
        assert_close(got, max(dual(m) for m in mats), rtol=1e-10, what=build.__name__)
        # and the prox at lambda_max zeroes every stacked kernel (nuclear has a prox)
        if build is jr.nuclear:
            at = build(float(got) * 1.0000001, out_axis=out_axis, batch_axes=0)
            zeroed = at.prox(jax.tree.map(jnp.zeros_like, tree), 1.0)
            step = jax.tree.map(lambda z, g: z - g, zeroed, jax.grad(loss)(zeroed))
            assert all(np.all(np.asarray(k) == 0) for k in kernel_leaves(at.prox(step, 1.0)))


def test_bf16_stack_accumulates_in_float32():
    x = np.random.default_rng(2).normal(size=(L, D, H))
    leaf = jnp.asarray(x, jnp.bfloat16)
    value = jr.nuclear(1.0, batch_axes=0)({"kernel": leaf})
    assert value.dtype == jnp.float32
    expected = sum(np.linalg.svd(f64(m), compute_uv=False).sum() for m in np.asarray(leaf, float))
    assert_close(value, expected, rtol=1e-5)
    z = jr.nuclear(1.0, batch_axes=0).prox({"kernel": leaf}, 0.1)["kernel"]
    assert z.dtype == jnp.bfloat16


def test_default_and_empty_batch_axes_are_the_folded_matrix():
    for build in (jr.nuclear, jr.spectral, jr.orthogonal):
        base = build(1.0)
        assert build(1.0, batch_axes=()) == base and build(1.0, batch_axes=None) == base
        assert repr(build(1.0, batch_axes=0)).endswith("batch_axes=(0,))")


def test_bad_batch_axes_give_clear_errors():
    with pytest.raises(TypeError, match=r"batch_axes must be None, an int or a tuple of ints"):
        jr.nuclear(1.0, batch_axes="layers")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"must not repeat an axis; got batch_axes=\(0, 0\)"):
        jr.nuclear(1.0, batch_axes=(0, 0))
    with pytest.raises(ValueError, match=r"contains out_axis=0.*out_axis=-2 with batch_axes=0"):
        jr.spectral(1.0, out_axis=0, batch_axes=0)
    leaf = {"blocks": {"kernel": jnp.ones((L, D, H))}}
    with pytest.raises(ValueError, match=r"batch_axes=\(3,\) is out of range .*'blocks/kernel'"):
        jr.nuclear(1.0, batch_axes=3)(leaf)
    with pytest.raises(ValueError, match=r"name the same axis twice .*'blocks/kernel'"):
        jr.nuclear(1.0, batch_axes=(0, -3))(leaf)
    with pytest.raises(ValueError, match=r"contain out_axis=0 .*'blocks/kernel'"):
        jr.orthogonal(1.0, out_axis=0, batch_axes=-3)(leaf)
    with pytest.raises(ValueError, match=r"at least 4 dimensions.*'blocks/kernel'.*by_path"):
        jr.nuclear(1.0, batch_axes=(0, 1)).prox(leaf, 0.1)
    # Keras's OrthogonalRegularizer takes one matrix: no batch_axes there
    with pytest.raises(ValueError, match=r"no built-in equivalent of orthogonal.*batch_axes"):
        jr.conventions.to_keras_config(jr.orthogonal(0.1, batch_axes=0))
    # a model whose head is outside the stack: the error says to split the mask
    tree = {"blocks": {"kernel": jnp.ones((L, D, H))}, "head": {"kernel": jnp.ones((D, 2))}}
    with pytest.raises(ValueError, match=r"'head/kernel'.*a second term without batch_axes"):
        jr.nuclear(1.0, batch_axes=0)(tree)
    blocks = jr.masks.kernels & jr.masks.by_path("blocks")
    pen = jr.nuclear(1.0, batch_axes=0, mask=blocks) + jr.nuclear(
        1.0, mask=jr.masks.kernels & ~blocks
    )
    assert_close(pen(tree), L * np.sqrt(D * H) + np.sqrt(2 * D), rtol=1e-12)


def test_numpy_integer_axes_are_accepted_and_give_the_int_answer():
    """A NumPy integer (from a config or `np.argmax`) is an axis: `operator.index`, not bool."""
    rng = np.random.default_rng(0)
    leaf = {"blocks": {"kernel": jnp.asarray(rng.standard_normal((L, D, H)))}}
    host = np.asarray(leaf["blocks"]["kernel"])
    per_layer = sum(np.linalg.svd(m, compute_uv=False).sum() for m in host)
    for build in (
        lambda: jr.nuclear(1.0, batch_axes=np.int64(0), out_axis=np.int64(-1)),  # pyright: ignore[reportArgumentType]
        lambda: jr.nuclear(1.0, batch_axes=(np.int32(0),)),  # pyright: ignore[reportArgumentType]
    ):
        pen = build()
        assert pen == jr.nuclear(1.0, batch_axes=0)
        assert_close(jax.jit(lambda p, x: p(x))(pen, leaf), per_layer, rtol=1e-10)
    group = jr.group_lasso(1.0, axis=np.int64(-2))  # pyright: ignore[reportArgumentType]
    assert group == jr.group_lasso(1.0, axis=-2)
    assert_close(group(leaf), np.linalg.norm(host, axis=-2).sum(), rtol=1e-12)
    assert jr.constraints.l2_ball(1.0, axis=(np.int64(-2),)) == jr.constraints.l2_ball(  # pyright: ignore[reportArgumentType]
        1.0, axis=-2
    )
    assert jr.constraints.n_m(2, 4, axis=np.int64(-1)) == jr.constraints.n_m(2, 4, axis=-1)  # pyright: ignore[reportArgumentType]
    for bad in (True, np.bool_(False), 0.0, "0"):
        with pytest.raises(TypeError, match=r"batch_axes must be None, an int or a tuple"):
            jr.nuclear(1.0, batch_axes=bad)  # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError, match=r"out_axis must be an int"):
            jr.spectral(1.0, out_axis=bad)  # pyright: ignore[reportArgumentType]
        with pytest.raises(TypeError, match=r"axis must be an int"):
            jr.group_lasso(1.0, axis=bad)  # pyright: ignore[reportArgumentType]


def test_axis_errors_fit_the_mistake():
    # a 2-D leaf under batch_axes: the missing dimension is the error, not the axis clash
    tree = {"rms": {"weight": jnp.ones((L, H))}}
    with pytest.raises(ValueError, match=r"at least 3 dimensions.*'rms/weight'.*second term"):
        jr.nuclear(1.0, out_axis=-2, batch_axes=0)(tree)
    # the equinox hint only where out_axis is the layer axis
    with pytest.raises(ValueError, match=r"contains out_axis=-1: .*batch_axes names the axes"):
        jr.nuclear(1.0, out_axis=-1, batch_axes=-1)
    with pytest.raises(ValueError, match=r"contains out_axis=0: .*out_axis=-2 with batch_axes=0"):
        jr.nuclear(1.0, out_axis=0, batch_axes=0)
    leaf = {"blocks": {"kernel": jnp.ones((L, D, H))}}
    with pytest.raises(ValueError, match=r"contain out_axis=2 .*'blocks/kernel'.*layer axis"):
        jr.nuclear(1.0, out_axis=2, batch_axes=-1)(leaf)
    # axes that coincide once counted from the start: the leaf path and the normalised axes
    with pytest.raises(
        ValueError,
        match=r"axis=\(-1, 2\) names the same axis twice .*"
        r"'blocks/kernel'.*axis=\(2, 2\)",
    ):
        jr.group_lasso(1.0, axis=(-1, 2))(leaf)
    with pytest.raises(ValueError, match=r"names the same axis twice .*'blocks/kernel'"):
        jr.constraints.l2_ball(1.0, axis=(0, -3)).prox(leaf, 0.1)


# -- axis-taking kinds on stacked leaves: negative axes give the per-layer answer ------------


def numpy_keep_largest_per_block(x, n, m, axis):
    moved = np.moveaxis(x, axis, -1)
    blocks = moved.reshape(*moved.shape[:-1], -1, m)
    order = np.argsort(-np.abs(blocks), axis=-1, kind="stable")
    keep = np.zeros(blocks.shape, bool)
    np.put_along_axis(keep, order[..., :n], True, axis=-1)
    return np.moveaxis(np.where(keep, blocks, 0.0).reshape(moved.shape), -1, axis)


@pytest.mark.parametrize(("name", "jit"), CASES)
def test_axis_kinds_with_negative_axes_are_per_layer(name, jit):
    tree, per_layer = STACKS[name][0]()
    out_axis = STACKS[name][1]
    leaves = kernel_leaves(tree)
    apply = jax.jit if jit else (lambda f: f)
    # in the (in, out) layout of per_layer: the input-feature axis and the output-neuron axis
    in_ax, out_ax = (-2, -1) if out_axis == -1 else (-1, -2)
    layers = [[np.moveaxis(m, (0, 1), (in_ax, out_ax)) for m in layer] for layer in per_layer]

    def per_layer_sum(fn):
        return sum(fn(m) for layer in layers for m in layer)

    # group lasso, one group per input feature: the norm runs along the output axis
    k = jr.masks.kernels
    gl = jr.group_lasso(0.3, axis=out_ax, mask=k)
    norms = lambda m: np.linalg.norm(m, axis=out_ax)  # noqa: E731
    assert_close(apply(gl)(tree), 0.3 * per_layer_sum(lambda m: norms(m).sum()), rtol=1e-10)
    sgl = jr.sparse_group_lasso(0.3, 0.25, axis=in_ax, mask=k)
    ref = per_layer_sum(
        lambda m: 0.25 * np.abs(m).sum() + 0.75 * np.linalg.norm(m, axis=in_ax).sum()
    )
    assert_close(apply(sgl)(tree), 0.3 * ref, rtol=1e-10)
    # one (layer, group) weight per group: shape (L, groups)
    for j, leaf in enumerate(kernel_leaves(apply(gl.prox)(tree, 1.0))):
        expected = []
        for layer in layers:
            m = layer[j]
            nrm = np.linalg.norm(m, axis=out_ax, keepdims=True)
            expected.append(m * np.maximum(1 - 0.3 / nrm, 0.0))
        assert_close(leaf, np.stack(expected), rtol=1e-10, atol=1e-14)

    # max-norm per output neuron (norm along the input axis), 2:4 along the input axis (D=4,
    # H=6 are multiples of 2), at most 3 non-zeros per matrix
    cons = {
        "l2_ball": (
            jr.constraints.l2_ball(0.5, axis=in_ax, mask=k),
            lambda m: m * np.minimum(1.0, 0.5 / np.linalg.norm(m, axis=in_ax, keepdims=True)),
        ),
        "n_m": (
            jr.constraints.n_m(1, 2, axis=in_ax, mask=k),
            lambda m: numpy_keep_largest_per_block(m, 1, 2, in_ax),
        ),
        "top_k": (
            jr.constraints.top_k(3, axis=(-2, -1), mask=k),
            lambda m: np.where(np.abs(m) >= np.sort(np.abs(m).ravel())[-3], m, 0.0),
        ),
        "box": (jr.constraints.box(-0.1, 0.1, mask=k), lambda m: np.clip(m, -0.1, 0.1)),
    }
    for kind, (pen, ref_proj) in cons.items():
        inside = apply(pen.prox)(tree, 0.1)
        assert float(apply(pen)(inside)) == 0.0, kind
        for j, leaf in enumerate(kernel_leaves(inside)):
            expected = np.stack([ref_proj(layer[j]) for layer in layers])
            assert_close(leaf, expected, rtol=1e-10, atol=1e-14, what=kind)
    assert leaves  # the stacks have kernels


# -- what the docs warn about: leaves a name-and-shape rule or a dimension check cannot tell ---


class BiasFreeRMSNorm(eqx.Module):
    weight: jax.Array

    def __init__(self, size):
        self.weight = jnp.linspace(0.5, 1.5, size)


class NormedBlock(eqx.Module):
    norm: BiasFreeRMSNorm
    fc: eqx.nn.Linear

    def __init__(self, key):
        self.norm = BiasFreeRMSNorm(D)
        self.fc = eqx.nn.Linear(D, H, key=key)


def test_a_stacked_bias_free_norm_weight_needs_an_explicit_mask():
    """Stacked, a bias-free norm's `weight` is (L, D): `kernels` selects it; by_path fixes it."""
    blocks = eqx.filter_vmap(NormedBlock)(jax.random.split(jax.random.key(0), L))
    assert jr.masks.kernels(blocks).norm.weight  # documented: by name and shape, a kernel
    assert jr.masks.kernels({"rms": {"weight": jnp.ones((L, D))}}) == {"rms": {"weight": True}}
    weights = jr.masks.kernels & jr.masks.by_path(exclude="norm")
    fc = f64(blocks.fc.weight)
    per_layer = sum(np.linalg.svd(w, compute_uv=False).sum() for w in fc)
    pen = jr.nuclear(1.0, out_axis=-2, batch_axes=0, mask=weights)
    assert_close(jax.jit(lambda p, m: p(m))(pen, blocks), per_layer, rtol=1e-5)
    unmasked = jr.nuclear(1.0, out_axis=-2, batch_axes=0, mask=jr.masks.kernels)
    with pytest.raises(ValueError, match=r"'norm/weight' with shape \(3, 4\)"):
        unmasked(blocks)  # with batch_axes the 2-D scale raises; without, it is one matrix
    # elementwise and group terms take it silently: what the docs warn against
    decay, masked_decay = jr.l2(1.0, mask=jr.masks.kernels), jr.l2(1.0, mask=weights)
    scale = f64(blocks.norm.weight)
    assert_close(decay(blocks) - masked_decay(blocks), 0.5 * np.sum(scale**2), rtol=1e-5)


def test_split_masks_keep_an_unstacked_3d_kernel_out_of_the_stack():
    """`batch_axes=0` takes an unstacked (in, heads, head_dim) kernel's `in` as layers, no
    error; the docs' two terms masked by the stack's path give each its own matrices."""
    rng = np.random.default_rng(3)
    tree = {
        "blocks": {"query": {"kernel": jnp.asarray(rng.standard_normal((L, D, 2, 3)))}},
        "pre": {"query": {"kernel": jnp.asarray(rng.standard_normal((D, 2, 3)))}},
    }
    stacked, pre = (
        np.asarray(tree["blocks"]["query"]["kernel"]),
        np.asarray(tree["pre"]["query"]["kernel"]),
    )

    def nuc(m):
        return np.linalg.svd(m, compute_uv=False).sum()

    wrong = sum(nuc(m.reshape(-1, 3)) for m in stacked) + sum(nuc(m) for m in pre)
    assert_close(jr.nuclear(1.0, batch_axes=0)(tree), wrong, rtol=1e-12)  # pre's rows as layers
    in_blocks = jr.masks.kernels & jr.masks.by_path("^blocks/")
    pen = jr.nuclear(1.0, batch_axes=0, mask=in_blocks) + jr.nuclear(
        1.0, mask=jr.masks.kernels & ~in_blocks
    )
    expected = sum(nuc(m.reshape(-1, 3)) for m in stacked) + nuc(pre.reshape(-1, 3))
    assert_close(jax.jit(lambda p, t: p(t))(pen, tree), expected, rtol=1e-12)
    per_head = jr.nuclear(1.0, batch_axes=(0, -2), mask=in_blocks)  # one matrix per layer, head
    heads = sum(nuc(stacked[l, :, h, :]) for l in range(L) for h in range(2))
    assert_close(per_head(tree), heads, rtol=1e-12)
