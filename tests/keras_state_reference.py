"""Run in its own process (Keras on JAX): a Keras optimizer trained 3 steps, converted with
jr.conventions.from_keras_optimizer(opt, params=...) (its state carried), then 5 more steps on
both sides; and an optimizer with exclude_from_weight_decay converted before training.

Reads JSON cases on stdin ({"class_name", "config", "dtype", "exclude": [names] or null,
"init": [kernel, bias], "grads": [[kernel, bias] per step], "resume_at": int,
"with_params": bool}), writes JSON on stdout: {"keras": [kernel, bias], "jax": [kernel, bias]},
or {"error"} when the conversion raises a ValueError. "exclude": ["<var_list: bias>"] excludes
the bias by variable; ["<JAX kernel negated>"] gives init a JAX kernel that is not the Keras
variable's value.
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
        opt = getattr(keras.optimizers, case["class_name"])(**config)
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
        params = {"kernel": jnp.array(np.asarray(kernel)), "bias": jnp.array(np.asarray(bias))}
        if case["exclude"] == ["<JAX kernel negated>"]:  # the map names other values
            params["kernel"] = -params["kernel"]
        try:
            state, update = tx.init(params), jax.jit(tx.update)
        except ValueError as e:
            out.append({"error": str(e)})
            continue
        for gk, gb in grads[at:]:
            opt.apply_gradients([(gk, kernel), (gb, bias)])
            u, state = update({"kernel": jnp.asarray(gk), "bias": jnp.asarray(gb)}, state, params)
            params = optax.apply_updates(params, u)
        out.append(
            {
                "keras": [np.asarray(v, np.float64).tolist() for v in (kernel, bias)],
                "jax": [np.asarray(params[k], np.float64).tolist() for k in ("kernel", "bias")],
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
