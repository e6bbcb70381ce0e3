"""Run in its own process, on the Keras backend named by argv[1] ("tensorflow" or "jax"): a
two-layer Keras model (Dense layers "l0" and "l1") trained by AdamW with
``exclude_from_weight_decay(var_names=...)``, and its conversion with params= (the Keras
variables of each leaf) trained on the same gradients; without params= as well.

Reads JSON cases on stdin ({"var_names": [patterns], "init": [arrays: l0 kernel, l0 bias, l1
kernel, l1 bias], "grads": [[arrays] per step]}), writes JSON on stdout: {"keras": [arrays],
"jax": [arrays], "jax_without_params": [arrays] or "error_without_params": str, "names":
{path: the name the backend matches}}.
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = sys.argv[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxreg as jr  # noqa: E402

LAYERS = ("l0", "l1")


def main() -> None:
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    on_tensorflow = sys.argv[1] == "tensorflow"
    out = []
    for case in json.load(sys.stdin):
        inputs = keras.Input((3,))
        l0, l1 = keras.layers.Dense(4, name="l0"), keras.layers.Dense(2, name="l1")
        keras.Model(inputs, l1(l0(inputs)))
        variables = [l0.kernel, l0.bias, l1.kernel, l1.bias]
        for v, x in zip(variables, case["init"], strict=True):
            v.assign(np.asarray(x))
        opt = keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.5)
        opt.exclude_from_weight_decay(var_names=case["var_names"])
        opt.build(variables)
        layers = {"l0": l0, "l1": l1}
        keras_params = {n: {"kernel": m.kernel, "bias": m.bias} for n, m in layers.items()}
        params = jax.tree.map(lambda v: jnp.asarray(np.asarray(v)), keras_params)
        # TensorFlow rounds the weight decay to float32 for float64 weights: tf_rounding
        tx = jr.conventions.from_keras_optimizer(
            opt, params=keras_params, tf_rounding=on_tensorflow
        )
        result = {"names": {v.path: (v.value.name if on_tensorflow else v.name) for v in variables}}
        try:
            plain = jr.conventions.from_keras_optimizer(opt, tf_rounding=on_tensorflow)
        except ValueError as e:
            plain, result["error_without_params"] = None, str(e)
        txs = {"jax": tx} if plain is None else {"jax": tx, "jax_without_params": plain}
        runs = {k: (params, t.init(params)) for k, t in txs.items()}
        for step in case["grads"]:
            grads = [np.asarray(g) for g in step]
            opt.apply_gradients(zip(grads, variables, strict=True))
            jax_grads = {"l0": {"kernel": grads[0], "bias": grads[1]},
                         "l1": {"kernel": grads[2], "bias": grads[3]}}  # fmt: skip
            for k, t in txs.items():
                p, s = runs[k]
                u, s = t.update(jax_grads, s, p)
                runs[k] = (optax.apply_updates(p, u), s)
        result["keras"] = [np.asarray(v).tolist() for v in variables]
        for k, (p, _) in runs.items():
            result[k] = [np.asarray(p[n][w]).tolist() for n in LAYERS for w in ("kernel", "bias")]
        out.append(result)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
