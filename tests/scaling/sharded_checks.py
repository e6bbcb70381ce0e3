"""Run with XLA_FLAGS=--xla_force_host_platform_device_count=4 (set before JAX is imported):
jaxreg on parameters sharded over a device mesh. Prints one JSON line of results; the pytest
side (tests/test_scaling.py) asserts on them."""

from __future__ import annotations

import json
import os
import re
import sys

assert "xla_force_host_platform_device_count=4" in os.environ.get("XLA_FLAGS", ""), "set XLA_FLAGS"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import helpers  # noqa: E402

import jaxreg as jr  # noqa: E402

devices = jax.devices()
assert len(devices) == 4, devices
mesh = Mesh(np.array(devices).reshape(2, 2), ("a", "b"))
rng = np.random.default_rng(0)
params_np = {
    "big": rng.normal(size=(512, 256)),  # large: reduced in place, never gathered
    "mat": rng.normal(size=(64, 32)),
    "bias": rng.normal(size=(256,)),
}
LAYOUTS = {
    "replicated": {"big": P(), "mat": P(), "bias": P()},
    "one_axis": {"big": P("a", None), "mat": P("a", None), "bias": P("b")},
    "both_axes": {"big": P("a", "b"), "mat": P("a", "b"), "bias": P(("a", "b"))},
}
REFS = {
    "l1": (jr.l1(0.3), lambda p: 0.3 * sum(helpers.ref_l1(x) for x in p.values())),
    "l2": (jr.l2(0.3), lambda p: 0.3 * sum(helpers.ref_l2(x) for x in p.values())),
    "elastic_net": (
        jr.elastic_net(0.3, 0.4),
        lambda p: 0.3 * sum(helpers.ref_elastic_net(x, 0.4) for x in p.values()),
    ),
    "group_lasso": (
        jr.group_lasso(0.3),
        lambda p: 0.3 * sum(helpers.ref_group_lasso(x) for x in p.values()),
    ),
    "nuclear": (
        jr.nuclear(0.3, mask=jr.masks.by_path(include="^(big|mat)$")),
        lambda p: 0.3 * (helpers.ref_nuclear(p["big"]) + helpers.ref_nuclear(p["mat"])),
    ),
    "spectral": (
        jr.spectral(0.3, mask=jr.masks.by_path(include="^(big|mat)$")),
        lambda p: 0.3 * (helpers.ref_spectral(p["big"]) + helpers.ref_spectral(p["mat"])),
    ),
}


def gathers_of(hlo: str, shape: str) -> int:
    """all-gather ops whose result has the given shape (e.g. 'f64[512,256]')."""
    return sum(
        1 for line in hlo.splitlines() if "all-gather" in line and re.search(re.escape(shape), line)
    )


results: dict = {"penalties": [], "train": [], "sweep": {}}
unsharded = {k: jnp.asarray(v) for k, v in params_np.items()}
PROXES = ("l1", "l2", "elastic_net", "group_lasso", "nuclear")
# the unsharded results each layout is compared with, computed once per penalty
expected = {}
for name, (pen, ref) in REFS.items():
    loss = jr.regularized(lambda p: jnp.sum(p["big"][:3] ** 3), pen)
    expected[name] = {
        "value": ref(params_np),
        "per_leaf": {},  # filled on first use: a leaf the mask leaves out has none
        "prox": pen.prox(unsharded, 0.1) if name in PROXES else None,
        "grad": jax.grad(loss)(unsharded),
        "jit_grad": jax.jit(jax.grad(loss)),
    }
for layout, specs in LAYOUTS.items():
    shard = {k: NamedSharding(mesh, specs[k]) for k in params_np}
    params = {k: jax.device_put(jnp.asarray(v), shard[k]) for k, v in params_np.items()}
    for name, (pen, _) in REFS.items():
        want = expected[name]
        compiled = jax.jit(pen).lower(params).compile()  # one compilation: its value and HLO
        value, hlo = compiled(params), compiled.as_text()
        per = jax.jit(pen.per_leaf)(params)
        for k in per:
            if per[k] is not None and k not in want["per_leaf"]:
                want["per_leaf"][k] = pen.per_leaf({k: unsharded[k]})[k]
        per_ok = all(
            np.isclose(float(per[k]), float(want["per_leaf"][k]), rtol=1e-12)
            for k in per
            if per[k] is not None
        )
        row = {
            "layout": layout,
            "penalty": name,
            "rel_err": abs(float(value) - want["value"]) / abs(want["value"]),
            "big_gathered": gathers_of(hlo, "f64[512,256]"),
            "per_leaf_ok": bool(per_ok),
        }
        if name in PROXES:
            out = jax.jit(pen.prox)(params, 0.1)
            row["prox_max_err"] = max(
                float(jnp.max(jnp.abs(out[k] - want["prox"][k]))) for k in out
            )
            row["prox_keeps_sharding"] = all(
                out[k].sharding.is_equivalent_to(shard[k], out[k].ndim) for k in out
            )
        g = want["jit_grad"](params)
        row["grad_max_err"] = max(float(jnp.max(jnp.abs(g[k] - want["grad"][k]))) for k in g)
        results["penalties"].append(row)


# ---- data-parallel training: batch sharded over the mesh, params replicated or sharded ----
def mlp_init(sizes, seed=0):
    r = np.random.default_rng(seed)
    return [
        {"kernel": r.normal(size=(a, b)) * np.sqrt(2 / a), "bias": np.zeros(b)}
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]


def train(sizes, X, y, steps, shard_batch, shard_params):
    params = jax.tree.map(jnp.asarray, mlp_init(sizes))

    def ce(p, x, y):
        for layer in p[:-1]:
            x = jax.nn.relu(x @ layer["kernel"] + layer["bias"])
        logits = x @ p[-1]["kernel"] + p[-1]["bias"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss = jr.regularized(
        ce, jr.l2(1e-3, mask=jr.masks.kernels) + jr.l1(1e-4, mask=jr.masks.kernels)
    )
    opt = optax.adam(1e-2)
    data_mesh = Mesh(np.array(devices), ("data",))
    if shard_params:  # kernels sharded along their output axis over a 2 x 2 (data, model) mesh
        m = Mesh(np.array(devices).reshape(2, 2), ("data", "model"))

        def put(x, spec):
            return jax.device_put(x, NamedSharding(m, spec))

        # the out axis is sharded where it divides evenly (Iris's 3 logits stay replicated)
        params = [
            {
                "kernel": put(
                    layer["kernel"], P(None, "model") if layer["bias"].size % 2 == 0 else P()
                ),
                "bias": put(layer["bias"], P("model") if layer["bias"].size % 2 == 0 else P()),
            }
            for layer in params
        ]
        batch_sharding = NamedSharding(m, P("data", None))
    else:
        batch_sharding = NamedSharding(data_mesh, P("data", None))

    @jax.jit
    def step(p, s, x, y):
        g = jax.grad(loss)(p, x, y)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    s = opt.init(params)
    for i in range(steps):
        xb, yb = jnp.asarray(X[i]), jnp.asarray(y[i])
        if shard_batch:
            xb = jax.device_put(xb, batch_sharding)
            yb = jax.device_put(yb, NamedSharding(batch_sharding.mesh, P("data")))
        params, s = step(params, s, xb, yb)
    return params


for model, sizes, batch in (("iris", [4, 16, 3], 16), ("large", [784, 256, 256, 10], 64)):
    r = np.random.default_rng(1)
    X = r.normal(size=(10, batch, sizes[0]))
    y = r.integers(0, sizes[-1], size=(10, batch))
    single = train(sizes, X, y, 10, False, False)
    for shard_params in (False, True):
        sharded = train(sizes, X, y, 10, True, shard_params)
        err = max(
            float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
            for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single), strict=True)
        )
        results["train"].append(
            {"model": model, "params_sharded": shard_params, "max_rel_diff": err}
        )

# ---- sweeps and cross-validation with the strength axis sharded over the devices ----
Xi = jnp.asarray(rng.normal(size=(40, 3)))
yi = jnp.asarray(rng.normal(size=40))


def ridge(strength, X, y):
    return jnp.linalg.solve(X.T @ X / len(y) + strength * jnp.eye(3), X.T @ y / len(y))


strengths = jnp.asarray(np.geomspace(1.0, 1e-3, 6))  # 6 strengths on 4 devices: padded to 8
one = jr.select.sweep(ridge, strengths, Xi, yi)
many = jr.select.sweep(ridge, strengths, Xi, yi, devices=jax.devices())
results["sweep"]["max_abs_diff"] = float(jnp.max(jnp.abs(one - many)))
results["sweep"]["shape"] = list(many.shape)
results["sweep"]["devices_used"] = len(many.sharding.device_set)


def neg_mse(w, X, y):
    return -jnp.mean((X @ w - y) ** 2)


cv1 = jr.select.cross_validate(
    ridge, neg_mse, strengths, np.asarray(Xi), np.asarray(yi), folds=4, stratified=False
)
cv4 = jr.select.cross_validate(
    ridge,
    neg_mse,
    strengths,
    np.asarray(Xi),
    np.asarray(yi),
    folds=4,
    stratified=False,
    devices=jax.devices(),
)
results["sweep"]["cv_max_abs_diff"] = float(np.max(np.abs(cv1.scores - cv4.scores)))
results["sweep"]["cv_best_equal"] = cv1.best_strength == cv4.best_strength
print(json.dumps(results))
