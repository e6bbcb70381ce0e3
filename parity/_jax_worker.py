"""JAX side: a flax MLP, optax, and jaxreg, as a JAX user writes it; plus the optimizer forms of
Keras and PyTorch written as optax transformations, so each framework can be matched exactly."""

from __future__ import annotations

from typing import Any

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
    if spec["config"]["optimizer"] == "sgd":
        opt = optax.sgd(h["lr"], momentum=h["momentum"])
    elif spec["variant"] == "keras_adam":  # the library's converter, from Keras's own config
        keras_config = {"name": "adam", "learning_rate": h["lr"], "beta_1": h["b1"]}
        keras_config |= {"beta_2": h["b2"], "epsilon": h["eps"]}
        opt = jr.conventions.from_keras_optimizer(keras_config, tf_rounding=h["tf_rounding"])
    elif spec["variant"] == "torch_adam":  # the library's converter, from torch's param group
        torch_group = {"lr": h["lr"], "betas": (h["b1"], h["b2"]), "eps": h["eps"]}
        opt = jr.conventions.from_torch_optimizer(torch_group, name="Adam")
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
