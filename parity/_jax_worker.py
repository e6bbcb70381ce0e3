"""JAX side: a flax MLP, optax, and jaxreg, as a JAX user writes it; plus the optimizer forms of
Keras and PyTorch written as optax transformations, so each framework can be matched exactly."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import flax.linen as nn  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxreg as jr  # noqa: E402
from parity._worker import main, run_inputs  # noqa: E402


class MLP(nn.Module):
    hidden: int
    dtype: Any

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, param_dtype=self.dtype)(x))
        return nn.Dense(3, dtype=self.dtype, param_dtype=self.dtype)(x)


class AdamState(NamedTuple):
    count: jax.Array
    m: Any
    v: Any


def keras_adam(lr, b1, b2, eps, b1_power_base, b2_power_base) -> optax.GradientTransformation:
    """keras.optimizers.Adam's update, step for step ("epsilon hat": eps is added to sqrt(v),
    the bias correction is folded into the step size alpha)."""

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros((), jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        del params
        count = state.count + 1

        def one(g, m, v):
            dt = g.dtype
            t = count.astype(dt)
            b1p = jnp.power(jnp.asarray(b1_power_base, dt), t)
            b2p = jnp.power(jnp.asarray(b2_power_base, dt), t)
            alpha = jnp.asarray(lr, dt) * jnp.sqrt(1 - b2p) / (1 - b1p)
            m = m + (g - m) * (1 - b1)
            v = v + (g * g - v) * (1 - b2)
            return -(m * alpha) / (jnp.sqrt(v) + eps), m, v

        out = jax.tree.map(one, grads, state.m, state.v)
        pick = lambda i: jax.tree.map(lambda o: o[i], out, is_leaf=lambda o: isinstance(o, tuple))  # noqa: E731
        return pick(0), AdamState(count, pick(1), pick(2))

    return optax.GradientTransformation(init, update)


def torch_adam(lr, b1, b2, eps, total_steps, dtype) -> optax.GradientTransformation:
    """torch.optim.Adam's single-tensor update: bias corrections in Python double, rounded to
    the parameter dtype when they meet a tensor; moments by lerp and addcmul."""
    t = np.arange(1, total_steps + 1, dtype=np.float64)
    step_size = jnp.asarray(lr / (1 - b1**t), dtype)
    bc2_sqrt = jnp.asarray(np.sqrt(1 - b2**t), dtype)

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return AdamState(jnp.zeros((), jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        del params
        i = state.count

        def one(g, m, v):
            m = m + (1 - b1) * (g - m)
            v = v * b2 + (1 - b2) * g * g
            denom = jnp.sqrt(v) / bc2_sqrt[i] + eps
            return -step_size[i] * (m / denom), m, v

        out = jax.tree.map(one, grads, state.m, state.v)
        pick = lambda k: jax.tree.map(lambda o: o[k], out, is_leaf=lambda o: isinstance(o, tuple))  # noqa: E731
        return pick(0), AdamState(i + 1, pick(1), pick(2))

    return optax.GradientTransformation(init, update)


def penalty(spec: dict[str, Any]) -> jr.Penalty:
    p = spec["hyper"]["penalty"]
    terms = []
    if p["l1"]:
        terms.append(jr.l1(p["l1"], mask=jr.masks.kernels))
    if p["l2"]:
        terms.append(jr.l2(p["l2"], mask=jr.masks.kernels))
    return sum(terms, jr.Sum())  # Sum() is the zero penalty


def train(spec: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    h, d = spec["hyper"], run_inputs(spec, job)
    dt, batch = d["dtype"], h["batch"]
    model = MLP(h["hidden"], dt)
    i = d["init"]
    params = {
        "params": {
            "Dense_0": {"kernel": i["W1"], "bias": i["b1"]},
            "Dense_1": {"kernel": i["W2"], "bias": i["b2"]},
        }
    }
    params = jax.tree.map(jnp.asarray, params)
    n = len(d["y_train"])
    steps_per_epoch = -(-n // batch)
    if spec["config"]["optimizer"] == "sgd":
        opt = optax.sgd(h["lr"], momentum=h["momentum"])
    elif spec["variant"] == "keras_adam":
        opt = keras_adam(
            h["lr"], h["b1"], h["b2"], h["eps"], h["b1_power_base"], h["b2_power_base"]
        )
    elif spec["variant"] == "torch_adam":
        opt = torch_adam(h["lr"], h["b1"], h["b2"], h["eps"], h["epochs"] * steps_per_epoch, dt)
    else:
        opt = optax.adam(h["lr"], b1=h["b1"], b2=h["b2"], eps=h["eps"])

    def data_loss(p, x, y):
        logits = model.apply(p, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    loss = jr.regularized(data_loss, penalty(spec))
    X, y = jnp.asarray(d["X_train"]), jnp.asarray(d["y_train"])

    def epoch(carry, order):
        p, s = carry
        for start in range(0, n, batch):  # static: the last batch may be smaller
            idx = order[start : start + batch]
            grads = jax.grad(loss)(p, X[idx], y[idx])
            updates, s = opt.update(grads, s, p)
            p = optax.apply_updates(p, updates)
        return (p, s), flat(p)

    @jax.jit
    def fit(p, orders):
        (p, _), traj = jax.lax.scan(epoch, (p, opt.init(p)), orders)
        return p, traj

    final, traj = fit(params, jnp.asarray(d["orders"]))
    return {
        "trajectory": np.concatenate([np.asarray(flat(params))[None], np.asarray(traj)]),
        "train_logits": np.asarray(model.apply(final, X)),
        "test_logits": np.asarray(model.apply(final, jnp.asarray(d["X_test"]))),
    }


def flat(p):
    q = p["params"]
    leaves = [
        q["Dense_0"]["kernel"],
        q["Dense_0"]["bias"],
        q["Dense_1"]["kernel"],
        q["Dense_1"]["bias"],
    ]
    return jnp.concatenate([x.ravel().astype(jnp.float64) for x in leaves])


if __name__ == "__main__":
    main("jax", train)
