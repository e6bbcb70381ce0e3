"""Penalties toward reference weights (``center=``, L2-SP): value, gradient and prox against
NumPy closed forms, finite differences and a numerical argmin (scipy); weights, masks, per_leaf
on a plain dict, a flax nnx state and an equinox module, eagerly and under jit / vmap; every
consumer either handles the center (solve, proximal, lambda_max, hypergradient) or raises
(the converters, jr.linear)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize
from flax import nnx
from helpers import assert_close, f64, run_example

import jaxreg as jr

RNG = np.random.default_rng(0)


def np_soft(x, tau):
    return np.sign(x) * np.maximum(np.abs(x) - tau, 0)


def np_block_soft(x, tau, axis=-1):
    norms = np.sqrt((x * x).sum(axis=axis, keepdims=True))
    return x * np.maximum(1 - tau / np.where(norms > 0, norms, 1.0), 0)


# params: a kernel and a bias; the bias is centred at a scalar
X = {"w": RNG.normal(size=(4, 3)), "b": RNG.normal(size=3)}
C = {"w": RNG.normal(size=(4, 3)), "b": 0.5}
W = {"w": RNG.uniform(0.5, 2.0, size=(4, 3)), "b": None}


def params(x=X):
    return {k: jnp.asarray(v) for k, v in x.items()}


# (builder, NumPy value of one leaf: x, c, weight or None)
def ref_l1(x, c, w):
    return np.sum((1.0 if w is None else w) * np.abs(x - c))


def ref_l2(x, c, w):
    return 0.5 * np.sum((1.0 if w is None else w) * (x - c) ** 2)


def ref_en(x, c, w):
    return 0.3 * ref_l1(x, c, w) + 0.7 * ref_l2(x, c, w)


def ref_gl(x, c, w):
    norms = np.sqrt(((x - c) ** 2).sum(axis=-1))
    return np.sum((1.0 if w is None else w) * norms)


KINDS = {
    "l1": (lambda s, **kw: jr.l1(s, **kw), ref_l1),
    "l2": (lambda s, **kw: jr.l2(s, **kw), ref_l2),
    "elastic_net": (lambda s, **kw: jr.elastic_net(s, 0.3, **kw), ref_en),
    "group_lasso": (lambda s, **kw: jr.group_lasso(s, **kw), ref_gl),
}


def ref_value(ref, s, x=X, c=C, w=None):
    total = 0.0
    for k in ("w", "b"):
        total += ref(f64(x[k]), f64(c[k]), None if w is None else w[k])
    return s * total


# --------------------------------------------------------------------------------------------
# Value and gradient


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_value_and_gradient_match_numpy_and_finite_differences(kind, weighted):
    build, ref = KINDS[kind]
    weights = {"w": jnp.asarray(W["w"][:, :1] if kind == "group_lasso" else W["w"]), "b": None}
    w_ref = None
    if weighted:
        w_ref = {"w": W["w"][:, 0] if kind == "group_lasso" else W["w"], "b": None}
    pen = build(0.7, center=C, weights=weights if weighted else None)
    want = ref_value(ref, 0.7, w=w_ref)
    for got in (pen(params()), jax.jit(lambda pen, p: pen(p))(pen, params())):
        assert_close(got, want, rtol=1e-12)
    # the gradient against central finite differences of the NumPy value
    grad = jax.jit(jax.grad(lambda p: pen(p)))(params())
    eps = 1e-6
    for k in ("w", "b"):
        fd = np.zeros_like(X[k])
        for i in np.ndindex(X[k].shape):
            up, down = {**X, k: X[k].copy()}, {**X, k: X[k].copy()}
            up[k][i] += eps
            down[k][i] -= eps
            fd[i] = (ref_value(ref, 0.7, up, w=w_ref) - ref_value(ref, 0.7, down, w=w_ref)) / (
                2 * eps
            )
        assert_close(grad[k], fd, rtol=1e-6, atol=1e-8, what=k)


def test_l2_sp_gradient_is_strength_times_distance_to_the_center():
    grad = jax.grad(jr.l2(0.4, center=C))(params())
    assert_close(grad["w"], 0.4 * (X["w"] - C["w"]), rtol=1e-14)
    assert_close(grad["b"], 0.4 * (X["b"] - 0.5), rtol=1e-14)


def test_center_none_is_the_uncentred_penalty_bit_for_bit():
    p = params()
    for kind, (build, _) in KINDS.items():
        base = build(0.7)
        for pen in (build(0.7, center=None), build(0.7, center={"w": None, "b": None})):
            assert np.asarray(pen(p)).tobytes() == np.asarray(base(p)).tobytes(), kind
            got, want = jax.tree.leaves(pen.prox(p, 0.3)), jax.tree.leaves(base.prox(p, 0.3))
            assert all(
                np.asarray(a).tobytes() == np.asarray(b).tobytes()
                for a, b in zip(got, want, strict=True)
            )
        assert not build(0.7, center={"w": None}).is_centred and build(0.7, center=0.0).is_centred


def test_per_leaf_mask_and_prefix_center():
    pen = jr.l1(
        0.5, center={"w": jnp.asarray(C["w"]), "b": None, "step": None}, mask=jr.masks.kernels
    )
    shares = pen.per_leaf({**params(), "step": jnp.array(7)})  # an int counter: untouched
    assert shares["b"] is None and shares["step"] is None
    assert_close(shares["w"], 0.5 * np.abs(X["w"] - C["w"]).sum(), rtol=1e-12)
    # a scalar center applies to every leaf
    scalar = jr.l2(0.5, center=1.5).per_leaf(params())
    assert_close(scalar["b"], 0.25 * ((X["b"] - 1.5) ** 2).sum(), rtol=1e-12)
    assert_close(scalar["w"], 0.25 * ((X["w"] - 1.5) ** 2).sum(), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Prox: closed forms and a numerical argmin


def closed_form_prox(kind, x, c, t, s, w=None):
    w1 = 1.0 if w is None else w
    if kind == "l1":
        return c + np_soft(x - c, t * s * w1)
    if kind == "l2":
        return (x + t * s * w1 * c) / (1 + t * s * w1)
    if kind == "elastic_net":
        return c + np_soft(x - c, t * s * 0.3 * w1) / (1 + t * s * 0.7 * w1)
    return c + np_block_soft(x - c, t * s * (1.0 if w is None else w[..., None]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_prox_matches_the_shifted_closed_form(kind, weighted):
    build, _ = KINDS[kind]
    wk = W["w"][:, 0] if kind == "group_lasso" else W["w"]
    weights = {"w": jnp.asarray(wk[:, None] if kind == "group_lasso" else wk), "b": None}
    pen = build(0.9, center=C, weights=weights if weighted else None)
    p = params()
    for out in (pen.prox(p, 0.6), jax.jit(pen.prox)(p, 0.6)):
        want_w = closed_form_prox(kind, X["w"], C["w"], 0.6, 0.9, wk if weighted else None)
        want_b = closed_form_prox(kind, X["b"], 0.5, 0.6, 0.9)
        assert_close(out["w"], want_w, rtol=1e-12, atol=1e-14)
        assert_close(out["b"], want_b, rtol=1e-12, atol=1e-14)
    if kind in ("l1", "elastic_net", "group_lasso"):
        at_center = np.asarray(pen.prox(p, 100.0)["w"])
        assert np.all(at_center == np.asarray(jnp.asarray(C["w"])))  # exactly c, not c + eps


def numerical_prox(pen, x, t):
    """argmin_z 1/2 ||z - x||^2 + t pen(z) for a small vector, by scipy (Powell, then polish)."""

    def f(z):
        return 0.5 * np.sum((z - x) ** 2) + t * float(pen(jnp.asarray(z)))

    best = None
    for start in (x, np.zeros_like(x)):
        r = scipy.optimize.minimize(
            f, start, method="Powell", options={"xtol": 1e-11, "ftol": 1e-15}
        )
        if best is None or r.fun < best.fun:
            best = r
    assert best is not None
    return best.x, f


SUMS = {
    "l1 at c + l2 at d": lambda c, d: jr.l1(0.8, center=c) + jr.l2(1.3, center=d),
    "elastic_net at c + l2 at 0": lambda c, d: jr.elastic_net(0.9, 0.5, center=c) + jr.l2(0.7),
    "l2 at c + l2 at d": lambda c, d: jr.l2(0.6, center=c) + jr.l2(1.1, center=d),
    "weighted l1 at c + weighted l2 at d": lambda c, d: (
        jr.l1(0.8, center=c, weights=jnp.array([1.0, 0.5, 2.0, 0.0]))
        + jr.l2(0.9, center=d, weights=jnp.array([0.3, 1.0, 2.0, 1.0]))
    ),
    "group_lasso at c + l2 at d": lambda c, d: jr.group_lasso(1.2, center=c) + jr.l2(0.8, center=d),
    "mcp + l2 at d": lambda c, d: jr.mcp(0.5, gamma=3.0) + jr.l2(0.8, center=d),
    "l1 at c + l1 at the same c": lambda c, d: jr.l1(0.4, center=c) + jr.l1(0.5, center=c),
}


@pytest.mark.parametrize("name", SUMS)
def test_prox_of_sums_with_centers_is_the_numerical_argmin(name):
    x = np.array([1.5, -0.4, 0.2, 2.5])
    c, d = np.array([0.5, -1.0, 0.3, 0.0]), np.array([-0.5, 0.7, 1.0, 2.0])
    pen = SUMS[name](jnp.asarray(c), jnp.asarray(d))
    t = 0.7
    ours = np.asarray(jax.jit(pen.prox)(jnp.asarray(x), t))
    ref, f = numerical_prox(pen, x, t)
    assert f(ours) <= f(ref) + 1e-10, (f(ours), f(ref))
    assert_close(ours, ref, rtol=0, atol=2e-5)


def test_prox_with_different_centers_of_one_non_quadratic_kind_raises():
    x = jnp.array([1.0, 2.0])
    with pytest.raises(NotImplementedError, match=r"at different centers on the same leaf"):
        (jr.l1(0.4, center=1.0) + jr.l1(0.5)).prox(x, 1.0)
    with pytest.raises(NotImplementedError, match=r"at different centers"):
        (jr.l1(0.4, center=1.0) + jr.l1(0.5, center=2.0)).prox(x, 1.0)
    # equal concrete centers merge: the thresholds add
    got = jr.l1(0.4, center=jnp.array([1.0, 0.0])) + jr.l1(0.5, center=jnp.array([1.0, 0.0]))
    assert_close(got.prox(x, 1.0), [1.0, 1.1], rtol=1e-12)


def test_prox_with_a_diagonal_step_tree():
    t = {"w": jnp.asarray(RNG.uniform(0.1, 2.0, size=(4, 3))), "b": 0.4}
    p = {"w": params()["w"], "b": params()["b"]}
    out = jr.elastic_net(0.9, 0.3, center=C).prox(p, t)
    want = C["w"] + np_soft(X["w"] - C["w"], f64(t["w"]) * 0.27) / (1 + f64(t["w"]) * 0.63)
    assert_close(out["w"], want, rtol=1e-12)


def test_bf16_leaf_with_float32_center_keeps_its_dtype():
    x = jnp.asarray(X["w"], jnp.bfloat16)
    c = jnp.asarray(C["w"], jnp.float32)
    pen = jr.l2(0.5, center=c)
    assert pen(x).dtype == jnp.float32
    assert_close(pen(x), 0.25 * ((f64(x) - f64(c)) ** 2).sum(), rtol=1e-6)
    out = jr.l1(100.0, center=c).prox(x, 1.0)
    assert out.dtype == jnp.bfloat16 and np.all(
        np.asarray(out) == np.asarray(c.astype(jnp.bfloat16))
    )


# --------------------------------------------------------------------------------------------
# Pytrees: flax nnx, equinox, jit without retracing, vmap


def test_on_a_flax_nnx_state():
    pretrained = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(1))
    center, state = nnx.state(pretrained, nnx.Param), nnx.state(model, nnx.Param)
    pen = jr.l2(0.3, center=center, mask=jr.masks.kernels)
    k, k0 = f64(model.kernel[...]), f64(pretrained.kernel[...])
    assert_close(jax.jit(lambda p: pen(p))(state), 0.15 * ((k - k0) ** 2).sum(), rtol=1e-6)
    out = pen.prox(state, 2.0)
    assert_close(out["kernel"][...], (k + 0.6 * k0) / 1.6, rtol=1e-6)
    assert_close(out["bias"][...], f64(model.bias[...]), rtol=0)


def test_on_an_equinox_module():
    pretrained = eqx.nn.MLP(3, 2, 4, 1, key=jax.random.key(0))
    model = eqx.nn.MLP(3, 2, 4, 1, key=jax.random.key(1))
    center = eqx.filter(pretrained, eqx.is_inexact_array)
    pen = jr.l1(0.2, center=center)
    want = 0.2 * sum(
        np.abs(f64(a) - f64(b)).sum()
        for a, b in zip(
            jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)),
            jax.tree.leaves(center),
            strict=True,
        )
    )
    assert_close(eqx.filter_jit(lambda m: pen(m))(model), want, rtol=1e-6)
    out = pen.prox(model, 1e3)  # everything lands on the pretrained weights
    assert np.all(np.asarray(out.layers[0].weight) == np.asarray(pretrained.layers[0].weight))
    with pytest.raises(TypeError, match=r"eqx.filter\(model, eqx.is_inexact_array\)"):
        jr.l1(0.2, center=pretrained)  # its activation functions are leaves


def test_a_new_center_does_not_retrace_and_penalties_compare_by_value():
    traces = []

    @jax.jit
    def value(pen, p):
        traces.append(1)
        return pen(p)

    p = params()
    value(jr.l2(0.3, center=C), p)
    value(jr.l2(0.5, center={**C, "w": C["w"] + 1.0}), p)
    assert len(traces) == 1
    assert jr.l2(0.3, center=C) == jr.l2(0.3, center=dict(C))
    assert jr.l2(0.3, center=C) != jr.l2(0.3, center={**C, "b": 0.25})
    assert hash(jr.l2(0.3, center=C)) == hash(jr.l2(0.3, center=dict(C)))
    assert repr(jr.l2(0.3, center=C)) == "l2(0.3, center=<2 arrays>)"
    assert repr(jr.l1(0.3, center=2.0)) == "l1(0.3, center=2.0)"


def test_vmap_over_strengths_and_centers():
    p = params()
    strengths = jnp.array([0.1, 0.5, 2.0])
    values = jax.vmap(lambda s: jr.l2(s, center=C)(p))(strengths)
    assert_close(values, [ref_value(ref_l2, s) for s in (0.1, 0.5, 2.0)], rtol=1e-12)
    pens = jax.vmap(lambda s: jr.l1(s, center=C))(strengths)
    assert_close(
        jax.vmap(lambda pen: pen(p))(pens),
        [ref_value(ref_l1, s) for s in (0.1, 0.5, 2.0)],
        rtol=1e-12,
    )
    proxed = jax.vmap(lambda pen: pen.prox(p, 1.0))(pens)
    for j, s in enumerate((0.1, 0.5, 2.0)):
        assert_close(proxed["w"][j], C["w"] + np_soft(X["w"] - C["w"], s), rtol=1e-12)
    shifts = jnp.array([0.0, 1.0])
    by_center = jax.vmap(lambda a: jr.l1(1.0, center={"w": C["w"] + a, "b": 0.5})(p))(shifts)
    assert_close(by_center[1], ref_value(ref_l1, 1.0, c={**C, "w": C["w"] + 1.0}), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Bad input


def test_bad_centers_raise_clearly():
    with pytest.raises(
        ValueError, match=r"center for the leaf at 'w' has shape \(3, 4\).*leaf's shape \(4, 3\)"
    ):
        jr.l2(1.0, center={"w": jnp.ones((3, 4))})({"w": jnp.ones((4, 3))})
    with pytest.raises(ValueError, match=r"center does not fit params"):
        jr.l2(1.0, center={"v": 1.0})({"w": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"center must be finite everywhere.*\['w'\]"):
        jr.l1(1.0, center={"w": jnp.array([1.0, np.nan])})
    with pytest.raises(TypeError, match=r"center must be a number or a pytree of real arrays"):
        jr.l1(1.0, center={"w": jnp.array([True, False])})
    with pytest.raises(TypeError, match=r"center must be a number"):
        jr.l1(1.0, center="pretrained")


# --------------------------------------------------------------------------------------------
# Consumers: the solvers handle the center, the converters raise


def ridge_toward(Xd, y, lam, c):
    n = len(y)
    return np.linalg.solve(Xd.T @ Xd / n + lam * np.eye(Xd.shape[1]), Xd.T @ y / n + lam * c)


def data():
    rng = np.random.default_rng(1)
    Xd = rng.normal(size=(40, 5))
    y = Xd @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.1 * rng.normal(size=40)
    return Xd, y


def test_solve_and_the_proximal_transform_reach_the_ridge_toward_c():
    Xd, y = data()
    c = np.array([1.0, 1.0, 1.0, 1.0, 1.0])

    def loss(w):
        return 0.5 * jnp.mean((jnp.asarray(Xd) @ w - jnp.asarray(y)) ** 2)

    want = ridge_toward(Xd, y, 2.0, c)
    pen = jr.l2(2.0, center=jnp.asarray(c))
    # tol 1e-9: FISTA stalls at ~5e-9 from the optimum on this problem, centred or not
    w, info = jax.jit(lambda pen: jr.solve(loss, pen, jnp.zeros(5), tol=1e-9))(pen)
    assert info.converged
    assert_close(w, want, rtol=1e-7)
    tx = optax.chain(optax.sgd(0.1), jr.transforms.proximal(pen, 0.1))
    w, state = jnp.zeros(5), tx.init(jnp.zeros(5))
    step = jax.jit(lambda w, s: tx.update(jax.grad(loss)(w), s, w))
    for _ in range(3000):
        u, state = step(w, state)
        w = optax.apply_updates(w, u)
    assert_close(w, want, rtol=1e-8)


def test_lambda_max_of_a_centred_penalty_is_where_the_center_becomes_optimal():
    Xd, y = data()
    c = np.array([0.5, -1.0, 0.0, 0.2, 2.0])

    def loss(w):
        return 0.5 * jnp.mean((jnp.asarray(Xd) @ w - jnp.asarray(y)) ** 2)

    lmax = float(jr.select.lambda_max(loss, jnp.zeros(5), jr.l1(1.0, center=jnp.asarray(c))))
    grad_at_c = Xd.T @ (Xd @ c - y) / len(y)  # NumPy: the loss gradient at c
    assert_close(lmax, np.abs(grad_at_c).max(), rtol=1e-12)
    for s, at_center in ((1.001 * lmax, True), (0.95 * lmax, False)):
        w, info = jr.solve(loss, jr.l1(s, center=jnp.asarray(c)), jnp.zeros(5), tol=1e-12)
        assert info.converged
        assert np.all(np.asarray(w) == c) == at_center
    gl = float(jr.select.lambda_max(loss, jnp.zeros(5), jr.group_lasso(1.0, center=jnp.asarray(c))))
    assert_close(gl, np.linalg.norm(grad_at_c), rtol=1e-12)


def test_hypergradient_through_a_centred_l1_solution():
    # f = 1/2 ||w - a||^2: w*(s) = c + soft(a - c, s); val = 1/2 ||w* - b||^2
    a, c, b = np.array([3.0, 0.2, -2.0]), np.array([1.0, 0.0, -1.0]), np.array([2.0, 0.0, 0.0])

    def val(s, c):
        return 0.5 * np.sum((c + np_soft(a - c, s) - b) ** 2)

    def objective(w):
        return 0.5 * jnp.sum((w - jnp.asarray(a)) ** 2)

    def val_loss(w):
        return 0.5 * jnp.sum((w - jnp.asarray(b)) ** 2)

    g = jr.select.hypergradient(
        objective, jr.l1(0.5, center=jnp.asarray(c)), jnp.zeros(3), val_loss
    )
    eps = 1e-6
    assert_close(g.strength, (val(0.5 + eps, c) - val(0.5 - eps, c)) / (2 * eps), rtol=1e-6)
    # d / d center: only the coordinate at its center (the second, |a - c| < s) moves with it
    fd = [(val(0.5, c + eps * e) - val(0.5, c - eps * e)) / (2 * eps) for e in np.eye(3)]
    assert_close(g.center, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "convert",
    [
        jr.conventions.to_keras_config,
        jr.conventions.to_keras,
        jr.conventions.to_torch_weight_decay,
        lambda pen: jr.conventions.to_sklearn(
            pen, __import__("sklearn.linear_model").linear_model.Ridge, n_samples=10
        ),
    ],
    ids=["to_keras_config", "to_keras", "to_torch_weight_decay", "to_sklearn"],
)
def test_converters_raise_on_a_centred_penalty(convert):
    for pen in (jr.l2(0.1, center=1.0), jr.l2(0.1) + jr.l1(0.1, center={"w": jnp.ones(2)})):
        with pytest.raises(ValueError, match=r"is centred .* no equivalent"):
            convert(pen)
    convert(jr.l2(0.1, center={"w": None}))  # no center anywhere: converts


def test_linear_raises_on_a_centred_penalty():
    # jr.linear's coordinate descent pulls toward 0: a centred penalty must raise, not be
    # solved as its uncentred kind (one reject_centred call where it resolves the penalty)
    Xd, y = data()
    with pytest.raises(ValueError, match=r"jr.linear.*centred"):
        jr.linear.fit(Xd, y, jr.l1(0.1, center=jnp.ones(5)))
    with pytest.raises(ValueError, match=r"jr.linear.*centred"):
        jr.linear.path(Xd, y, lambda s: jr.elastic_net(s, 0.5, center=1.0), [1.0, 0.1])
    with pytest.raises(ValueError, match=r"jr.linear.*centred"):
        jr.linear.cross_validate(Xd, y, jr.l2(1.0, center=1.0), [1.0, 0.1], folds=2)


# --------------------------------------------------------------------------------------------
# The example


@pytest.mark.slow
def test_finetune_example_l2_sp_stays_closer_to_the_start(tmp_path):
    stdout, res, png = run_example("finetune_l2sp.py", tmp_path, "--quick")
    assert "L2-SP" in stdout
    for s in res["strengths"][1:]:
        sp, l2 = res["l2_sp"][str(s)], res["l2"][str(s)]
        assert sp["distance"] < l2["distance"]  # toward the start, not toward 0
    assert res["pretrained_accuracy_b"] < 0.3  # the faded task: w0 is at chance on it
    top = str(res["strengths"][-1])
    assert res["l2_sp"][top]["accuracy"] > 0.8 > 0.3 > res["l2"][top]["accuracy"]


@pytest.mark.slow  # about 9 s on one core
def test_solution_moves_with_the_center_where_it_is_held_there():
    """dw*/dc is 1 on the weights held at the center (0 before: a silent wrong hypergradient),
    against central finite differences of the solve."""
    rng = np.random.default_rng(1)
    X, y = jnp.asarray(rng.normal(size=(30, 5))), jnp.asarray(rng.normal(size=30))
    c = jnp.asarray(rng.normal(size=5))

    def solution(center):
        loss = lambda w: 0.5 * jnp.mean((X @ w - y) ** 2)  # noqa: E731
        return jr.solve(loss, jr.l1(0.05, center=center), jnp.zeros(5), tol=1e-14, max_iter=50000)[
            0
        ]

    held = np.asarray(solution(c) == c)
    assert held.any() and not held.all()
    jac = np.asarray(jax.jit(jax.jacobian(solution))(c))
    eps = 1e-6
    fd = np.stack(
        [(solution(c.at[i].add(eps)) - solution(c.at[i].add(-eps))) / (2 * eps) for i in range(5)],
        axis=1,
    )
    np.testing.assert_allclose(jac, fd, atol=1e-7)
    np.testing.assert_array_equal(np.diag(jac)[held], 1.0)


def test_one_center_passed_through_jit_merges_and_different_centers_give_nan():
    rng = np.random.default_rng(2)
    z, c, t = rng.normal(size=6), rng.normal(size=6), 0.9
    prox = jax.jit(lambda pen, p: pen.prox(p, t))
    got = prox(jr.l1(0.1, center=c) + jr.l1(0.2, center=c), {"w": jnp.asarray(z)})["w"]
    want = c + np.sign(z - c) * np.maximum(np.abs(z - c) - 0.3 * t, 0.0)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-14)
    apart = prox(jr.l1(0.1, center=c) + jr.l1(0.2, center=c + 1.0), {"w": jnp.asarray(z)})["w"]
    assert np.isnan(np.asarray(apart)).all()


@pytest.mark.parametrize("kind", ["l1", "l2", "elastic_net"])
def test_a_centred_norm_with_non_negative_is_the_clipped_prox(kind):
    """Each coordinate's problem is 1-D and convex: checked against a bounded scalar argmin."""
    from scipy.optimize import minimize_scalar

    rng = np.random.default_rng(3)
    z, c, t, s = rng.normal(size=8), rng.normal(size=8), 0.8, 0.6
    build = {"l1": jr.l1, "l2": jr.l2, "elastic_net": lambda s, **k: jr.elastic_net(s, 0.5, **k)}
    g = {
        "l1": lambda u: s * abs(u),
        "l2": lambda u: s / 2 * u * u,
        "elastic_net": lambda u: s * (0.5 * abs(u) + 0.25 * u * u),
    }[kind]
    pen = build[kind](s, center=jnp.asarray(c)) + jr.constraints.non_negative()
    got = np.asarray(jax.jit(lambda p: pen.prox(p, t))({"w": jnp.asarray(z)})["w"])
    for i in range(8):
        obj = lambda x, i=i: 0.5 * (x - z[i]) ** 2 + t * g(x - c[i])  # noqa: E731
        res = minimize_scalar(obj, bounds=(0.0, 10.0), method="bounded", options={"xatol": 1e-12})
        assert obj(got[i]) <= obj(res.x) + 1e-12
        assert abs(got[i] - res.x) < 1e-5
