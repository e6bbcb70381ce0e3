"""Run in its own process (Keras on JAX): a Keras optimizer trained 3 steps, converted with
jr.conventions.from_keras_optimizer(opt, params=...) (its state carried), then 5 more steps on
both sides; and an optimizer with exclude_from_weight_decay converted before training.

Reads JSON cases on stdin ({"class_name", "config", "dtype", "exclude": [names] or null,
"init": [kernel, bias], "grads": [[kernel, bias] per step], "resume_at": int,
"with_params": bool}), writes JSON on stdout: {"keras": [kernel, bias], "jax": [kernel, bias]},
or {"error"} when the conversion raises a ValueError. "exclude": ["<var_list: bias>"] excludes
the bias by variable; ["<JAX kernel negated>"] gives init a JAX kernel that is not the Keras
variable's value. "learning_rate": "<custom schedule>" is a
LearningRateSchedule without get_config; "loss_scaled": true wraps the optimizer in a
LossScaleOptimizer. "structure" (optional): the JAX params' structure, a key of STRUCTURES.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxreg as jr  # noqa: E402


def _kernel_and_bias(kernel, bias):
    from flax import nnx

    class Dense(nnx.Module):
        def __init__(self):
            self.kernel, self.bias = nnx.Param(kernel), nnx.Param(bias)

    return Dense()


def _equinox(kernel, bias):
    import equinox as eqx

    linear = eqx.nn.Linear(4, 3, key=jax.random.key(0))  # its attribute names: weight, bias
    linear = eqx.tree_at(lambda m: (m.weight, m.bias), linear, (kernel, bias))
    return eqx.filter(linear, eqx.is_array)


def _nnx_state(kernel, bias):
    from flax import nnx

    return nnx.state(_kernel_and_bias(kernel, bias), nnx.Param)


def _nnx_pure_dict(kernel, bias):
    from flax import nnx

    return nnx.to_pure_dict(_nnx_state(kernel, bias))


# the JAX params' structure, from the kernel and the bias; leaves named by their last name
STRUCTURES = {
    "dict": lambda k, b: {"kernel": k, "bias": b},
    "linen": lambda k, b: {"params": {"Dense_0": {"kernel": k, "bias": b}}},
    "nnx.State": _nnx_state,
    "nnx.to_pure_dict": _nnx_pure_dict,
    "equinox": _equinox,
}


def _unwrap(structure, params):
    """The kernel and the bias of ``params``, built by ``STRUCTURES[structure]``."""
    marks = jax.tree.leaves(STRUCTURES[structure](jnp.zeros(()), jnp.ones(())))
    leaves = jax.tree.leaves(params)
    return [next(x for x, m in zip(leaves, marks, strict=True) if m == want) for want in (0, 1)]


class _Custom(keras.optimizers.schedules.LearningRateSchedule):
    """A user's schedule without get_config."""

    def __call__(self, step):
        return 0.01 / (1.0 + keras.ops.cast(step, "float64"))


def main() -> None:
    out = []
    for case in json.load(sys.stdin):
        dtype = case["dtype"]
        keras.config.set_floatx(dtype)
        keras.config.set_dtype_policy(dtype)
        kernel = keras.Variable(np.asarray(case["init"][0], dtype), name="kernel")
        bias = keras.Variable(np.asarray(case["init"][1], dtype), name="bias")
        config = dict(case["config"])
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = keras.optimizers.schedules.deserialize(
                config["learning_rate"]
            )
        if config.get("learning_rate") == "<custom schedule>":
            config["learning_rate"] = _Custom()
        opt = getattr(keras.optimizers, case["class_name"])(**config)
        if case.get("loss_scaled"):
            opt = keras.optimizers.LossScaleOptimizer(opt)
        if case["exclude"] == ["<var_list: bias>"]:
            opt.exclude_from_weight_decay(var_list=[bias])
        elif case["exclude"] and case["exclude"] != ["<JAX kernel negated>"]:
            opt.exclude_from_weight_decay(var_names=case["exclude"])
        grads = [[np.asarray(g, dtype) for g in step] for step in case["grads"]]
        at = case["resume_at"]
        if at == 0:
            opt.build([kernel, bias])
        for gk, gb in grads[:at]:
            opt.apply_gradients([(gk, kernel), (gb, bias)])
        keras_params = {"kernel": kernel, "bias": bias} if case["with_params"] else None
        try:
            tx = jr.conventions.from_keras_optimizer(opt, params=keras_params)
        except ValueError as e:
            out.append({"error": str(e)})
            continue
        structure = case.get("structure", "dict")
        wrap = STRUCTURES[structure]
        params = wrap(jnp.array(np.asarray(kernel)), jnp.array(np.asarray(bias)))
        if case["exclude"] == ["<JAX kernel negated>"]:  # the map names other values
            params["kernel"] = -params["kernel"]
        try:
            state, update = tx.init(params), jax.jit(tx.update)
        except ValueError as e:
            out.append({"error": str(e)})
            continue
        for gk, gb in grads[at:]:
            opt.apply_gradients([(gk, kernel), (gb, bias)])
            u, state = update(wrap(jnp.asarray(gk), jnp.asarray(gb)), state, params)
            params = optax.apply_updates(params, u)
        out.append(
            {
                "keras": [np.asarray(v, np.float64).tolist() for v in (kernel, bias)],
                "jax": [np.asarray(x, np.float64).tolist() for x in _unwrap(structure, params)],
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
