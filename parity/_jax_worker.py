"""JAX side: flax linen models, optax and jaxreg, as a JAX user writes them; plus the library's
converters fed with what the Keras and torch runs exported (``get_config()``,
``state_dict()["param_groups"]``), so each converter is graded against the real framework.

Each run sets ``jax_enable_x64`` as a user would: on for float64 runs, off (JAX's default) for
float32 runs, except the ``x64`` variant that measures its effect; each run records it.
"""

from __future__ import annotations

import json
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxreg as jr
from parity._config import MEMBERS, f32
from parity._worker import cv_inputs, main, run_inputs, schedule_record, weight_names


class MLP(nn.Module):
    sizes: tuple[int, ...]
    dtype: Any

    @nn.compact
    def __call__(self, x):
        for i, width in enumerate(self.sizes[1:], 1):
            x = nn.Dense(width, dtype=self.dtype, param_dtype=self.dtype)(x)
            if i < len(self.sizes) - 1:
                x = nn.relu(x)
        return x


class CNN(nn.Module):
    sizes: tuple[int, ...]
    dtype: Any

    @nn.compact
    def __call__(self, x):  # NHWC, HWIO kernels, flatten over (h, w, c): Keras's layout
        kw = {"padding": "VALID", "dtype": self.dtype, "param_dtype": self.dtype}
        x = nn.relu(nn.Conv(self.sizes[0], (3, 3), **kw)(x))
        x = nn.relu(nn.Conv(self.sizes[1], (3, 3), **kw)(x))
        return nn.Dense(10, dtype=self.dtype, param_dtype=self.dtype)(x.reshape(len(x), -1))


def layer_names(model: dict[str, Any]) -> list[str]:
    if model["kind"] == "mlp":
        return [f"Dense_{i}" for i in range(len(model["sizes"]) - 1)]
    return ["Conv_0", "Conv_1", "Dense_0"]


def module(model: dict[str, Any], dtype) -> nn.Module:
    return (MLP if model["kind"] == "mlp" else CNN)(tuple(model["sizes"]), dtype)


def to_params(init: dict[str, np.ndarray], model: dict[str, Any]) -> dict[str, Any]:
    names = weight_names(model)
    layers = layer_names(model)
    return {
        "params": {
            layer: {
                "kernel": jnp.asarray(init[names[2 * i]]),
                "bias": jnp.asarray(init[names[2 * i + 1]]),
            }
            for i, layer in enumerate(layers)
        }
    }


def flat(p: dict[str, Any], model: dict[str, Any]) -> jax.Array:
    """The canonical weight vector in the weights' dtype (float64 needs x64 on)."""
    q = p["params"]
    leaves = [q[layer][k] for layer in layer_names(model) for k in ("kernel", "bias")]
    return jnp.concatenate([x.ravel() for x in leaves])


def conv2_kernel() -> jr.masks.Mask:
    return jr.masks.by_path(include=r"^params/Conv_1/kernel$")


def penalty(pen: dict[str, Any], *, with_l2: bool = True) -> jr.Penalty:
    """The textbook penalty from the plain numbers: jaxreg's own builders."""
    k = jr.masks.kernels
    if pen["name"] == "elastic_net":
        out = jr.elastic_net(pen["strength"], pen["l1_ratio"], mask=k)
    else:
        out = jr.Sum()  # the zero penalty
        if pen["l1"]:
            out = out + jr.l1(pen["l1"], mask=k)
        if pen["l2"] and with_l2:
            out = out + jr.l2(pen["l2"], mask=k)
    if pen["group"]:  # one group per output channel of an HWIO kernel
        out = out + jr.group_lasso(pen["group"], axis=(0, 1, 2), mask=conv2_kernel())
    return out


def keras_penalty(regs: list[Any], model: dict[str, Any], tf_rounding: bool) -> jr.Penalty:
    """Each layer's exported ``kernel_regularizer`` through ``jr.conventions.from_keras``, on
    that layer's kernel; the custom group regularizer as ``from_keras`` of its L2 part plus
    `jr.group_lasso` (its strength goes through the same ``ops.cast`` as Keras's own)."""
    out = jr.Sum()
    for layer, reg in zip(layer_names(model), regs, strict=True):
        if reg is None:
            continue
        mask = jr.masks.by_path(include=rf"^params/{layer}/kernel$")
        if reg["class_name"] == "GroupLassoL2":
            c = reg["config"]
            out = out + jr.conventions.from_keras(
                {"l2": c["l2"]}, mask=mask, tf_rounding=tf_rounding
            )
            g = f32(c["group"]) if tf_rounding else c["group"]
            out = out + jr.group_lasso(g, axis=(0, 1, 2), mask=mask)
        else:
            out = out + jr.conventions.from_keras(reg, mask=mask, tf_rounding=tf_rounding)
    return out


def torch_clip_grad_norm(max_norm: float) -> optax.GradientTransformation:
    """torch's ``clip_grad_norm_(params, max_norm)`` as an optax transformation, op for op:
    ``g * min(max_norm / (||g|| + 1e-6), 1)``, the norm taken over the leaves' own norms.

    Not ``optax.clip_by_global_norm``, which scales by ``max_norm / ||g||``: on a clipped step
    the two differ by ``1e-6 / ||g||`` relative, far above float64's 1e-12.
    """

    def clip(updates, state, params=None):
        del params
        norms = [jnp.linalg.norm(g.ravel()) for g in jax.tree.leaves(updates)]
        total = jnp.linalg.norm(jnp.stack(norms))
        coef = jnp.minimum(max_norm / (total + 1e-6), 1.0).astype(total.dtype)
        return jax.tree.map(lambda g: g * coef.astype(g.dtype), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), clip)


def scheduled_optimizer(
    h: dict[str, Any], steps_per_epoch: int, *, torch_clip: bool = False
) -> optax.GradientTransformation:
    """A JAX user's step schedule and global-norm clipping (see `parity._config.Schedule`);
    ``torch_clip``: torch's clipping formula in place of ``optax.clip_by_global_norm``."""
    schedule = h["schedule"]
    max_norm = schedule["max_norm"]
    clip = torch_clip_grad_norm(max_norm) if torch_clip else optax.clip_by_global_norm(max_norm)
    rate = optax.exponential_decay(
        h["lr"],
        transition_steps=schedule["step_epochs"] * steps_per_epoch,
        decay_rate=schedule["gamma"],
        staircase=True,
    )
    return optax.chain(
        clip,
        optax.sgd(rate, momentum=h["momentum"], nesterov=h["nesterov"]),
    )


def torch_scheduled(exports: dict[str, Any], max_norm: float) -> optax.GradientTransformation:
    """torch's SGD and StepLR, rebuilt from what the torch run exported before training
    (``state_dict()`` of each), through ``from_torch_optimizer(scheduler=...)``, after torch's
    clipping. torch is imported here only: the converter reads torch's own scheduler object."""
    import torch

    groups = exports["param_groups"]
    # placeholders that torch would step (requires_grad): the converter refuses frozen ones
    tensors = [
        torch.zeros(1, dtype=torch.float64, requires_grad=True) for g in groups for _ in g["params"]
    ]
    opt = torch.optim.SGD(tensors, lr=groups[0]["lr"])
    opt.load_state_dict({"state": {}, "param_groups": groups})
    state = exports["scheduler"]
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=state["step_size"], gamma=state["gamma"])
    sched.load_state_dict(state)
    tx = jr.conventions.from_torch_optimizer(
        opt, scheduler=sched, updates_per_scheduler_step=exports["updates_per_epoch"]
    )
    return optax.chain(torch_clip_grad_norm(max_norm), tx)


def stock_optimizer(name: str, h: dict[str, Any], n: int) -> optax.GradientTransformation:
    if h["schedule"]:
        return scheduled_optimizer(h, -(-n // h["batch"]))
    if name in ("sgd", "nesterov"):
        return optax.sgd(h["lr"], momentum=h["momentum"], nesterov=h["nesterov"])
    if name == "adamw":
        return optax.adamw(
            h["lr"], b1=h["b1"], b2=h["b2"], eps=h["eps"], weight_decay=h["weight_decay"]
        )
    return optax.adam(h["lr"], b1=h["b1"], b2=h["b2"], eps=h["eps"])


def setup(spec, exported, params, n: int) -> tuple[optax.GradientTransformation, jr.Penalty]:
    cfg, h, variant = spec["config"], spec["hyper"], spec["variant"]
    pen = h["penalty"]
    if variant in ("keras", "keras_exact"):  # Keras's own configs, through the converters
        ex = exported(spec["source"])
        rounding = variant == "keras" and cfg["dtype"] == "float64"
        opt = jr.conventions.from_keras_optimizer(ex["optimizer"], tf_rounding=rounding)
        return opt, keras_penalty(ex["regularizers"], h["model"], rounding)
    if variant == "clip_eps":
        return scheduled_optimizer(h, -(-n // h["batch"]), torch_clip=True), penalty(pen)
    if variant == "torch" and h["schedule"]:
        ex = exported(spec["source"])
        return torch_scheduled(ex, h["schedule"]["max_norm"]), penalty(pen)
    if variant == "torch":  # torch's param groups, through the converter
        groups = exported(spec["source"])["param_groups"]
        return jr.conventions.from_torch_optimizer(groups), penalty(pen)
    if variant == "torch_wd":  # two groups: kernels with weight_decay, biases without
        groups = exported(spec["source"])["param_groups"]
        index = jax.tree.map(lambda x: 0 if x else 1, jr.masks.kernels(params))
        opt = jr.conventions.from_torch_optimizer(groups, groups=index)
        return opt, penalty(pen, with_l2=False)
    return stock_optimizer(cfg["optimizer"], h, n), penalty(pen)


def fit_fn(model_def, opt, pen, batch: int, n: int, flat_fn):
    """``fit(params, orders, X, y) -> (final, trajectory, gradient norms)``: a scan over epochs,
    in each a scan over the full batches and one step for the shorter last batch."""

    def data_loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(model_def.apply(p, x), y).mean()

    loss = jr.regularized(data_loss, pen)
    full, rest = divmod(n, batch)

    def fit(params, orders, X, y):
        def step(carry, idx):
            p, s = carry
            grads = jax.grad(loss)(p, X[idx], y[idx])
            updates, s = opt.update(grads, s, p)
            # the gradient's global norm, before any clipping: it shows the clipping at work
            return (optax.apply_updates(p, updates), s), optax.tree.norm(grads)

        def epoch(carry, order):
            carry, norms = jax.lax.scan(step, carry, order[: full * batch].reshape(full, batch))
            if rest:
                carry, last = step(carry, order[full * batch :])
                norms = jnp.concatenate([norms, last[None]])
            return carry, (flat_fn(carry[0]), norms)

        (p, _), (traj, norms) = jax.lax.scan(epoch, (params, opt.init(params)), orders)
        return p, traj, norms

    return fit


# One compiled fit per optimizer, penalty, model and dtype: seeds and noise-floor members differ
# only in the initial weights and batch orders, which are arguments.
COMPILED: dict[str, Any] = {}


def train(spec: dict[str, Any], job: dict[str, np.ndarray], exported) -> dict[str, Any]:
    x64 = spec["config"]["dtype"] == "float64" or spec["variant"] == "x64"
    with jax.enable_x64(x64):
        return {**fit_run(spec, job, exported), "jax_enable_x64": bool(jax.config.x64_enabled)}


def fit_run(spec: dict[str, Any], job: dict[str, np.ndarray], exported) -> dict[str, Any]:
    h, d = spec["hyper"], run_inputs(spec, job)
    model = h["model"]
    model_def = module(model, d["dtype"])
    params = to_params(d["init"], model)
    source = exported(spec["source"]) if spec["source"] is not None else None
    if source and "optimizer" in source:  # Keras numbers its optimizers (adam, adam_1, ...)
        optimizer = source["optimizer"]
        source = {**source, "optimizer": {**optimizer, "config": {**optimizer["config"]}}}
        source["optimizer"]["config"].pop("name", None)
    key = json.dumps(
        ["stock" if spec["variant"].startswith(MEMBERS) else spec["variant"]]
        + [{**spec["config"], "seed": 0}, {**h, "nudge": 0, "reorder": 0}, len(d["y_train"])]
        + [source],
        sort_keys=True,
        default=str,
    )
    if key not in COMPILED:
        opt, pen = setup(spec, exported, params, len(d["y_train"]))
        fit = fit_fn(model_def, opt, pen, h["batch"], len(d["y_train"]), lambda p: flat(p, model))
        COMPILED[key] = jax.jit(fit)
    X, y = jnp.asarray(d["X_train"]), jnp.asarray(d["y_train"])
    final, traj, norms = COMPILED[key](params, jnp.asarray(d["orders"]), X, y)
    f64 = lambda x: np.asarray(x).astype(np.float64)  # noqa: E731
    return {
        "trajectory": np.concatenate([f64(flat(params, model))[None], f64(traj)]),
        "train_logits": f64(model_def.apply(final, X)),
        "test_logits": f64(model_def.apply(final, jnp.asarray(d["X_test"]))),
        # optax keeps no rate in its state: the norms only
        "schedule_record": schedule_record(h["schedule"], None, f64(norms).ravel().tolist()),
    }


def cross_validate(cv: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    """``jr.select.cross_validate``: every fold and strength in one vmapped, jitted call."""
    with jax.enable_x64(True):
        return fit_cv(cv, job)


def fit_cv(cv: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    from parity._config import cv_splitter

    d = cv_inputs(cv, job)
    model = {"kind": "mlp", "sizes": cv["sizes"]}
    model_def = module(model, jnp.float64)
    params = to_params(d["init"], model)
    splitter = cv_splitter(cv["folds"])
    for (tr, te), (tr_job, te_job) in zip(splitter.split(d["X"], d["y"]), d["folds"], strict=True):
        assert np.array_equal(tr, tr_job) and np.array_equal(te, te_job), "folds differ"
    opt = optax.sgd(cv["lr"], momentum=cv["momentum"])

    def train_fn(strength, X, y):
        pen = jr.l2(strength, mask=jr.masks.kernels)

        def data_loss(p):
            return optax.softmax_cross_entropy_with_integer_labels(model_def.apply(p, X), y).mean()

        loss = jr.regularized(data_loss, pen)

        def step(carry, _):
            p, s = carry
            updates, s = opt.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, updates), s), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=cv["epochs"])
        return p

    def score_fn(p, X, y):
        return -optax.softmax_cross_entropy_with_integer_labels(model_def.apply(p, X), y).mean()

    res = jr.select.cross_validate(
        train_fn, score_fn, np.asarray(cv["strengths"]), d["X"], d["y"], folds=splitter
    )
    return {
        "scores": np.asarray(res.scores).tolist(),
        "best_strength": res.best_strength,
        "one_se_strength": res.one_se_strength,
    }


if __name__ == "__main__":
    main(train, cross_validate)
