"""Run in its own process (TensorFlow apart from JAX and torch): Keras optimizers' own updates.

Reads JSON cases on stdin ({"spec": serialize dict, "dtype", "init": [arrays], "grads":
[[arrays] per step]}), writes JSON on stdout: the final weights and the optimizer's
keras.optimizers.serialize() dict.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# the traced step runs the ops as written (no grappler rewrites): the same float64 rounding as
# eager steps (with the rewrites, Adagrad with InverseTimeDecay missed 1e-12 in float64)
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def main() -> None:
    out = []
    for case in json.load(sys.stdin):
        keras.config.set_floatx(case["dtype"])
        keras.config.set_dtype_policy(case["dtype"])
        opt = keras.optimizers.deserialize(case["spec"])
        variables = [keras.Variable(np.asarray(x, case["dtype"])) for x in case["init"]]
        opt.build(variables)
        # one traced update, as model.fit's compiled train step runs it: eager steps cost ~7 ms
        step = tf.function(lambda grads: opt.apply_gradients(zip(grads, variables, strict=True)))  # noqa: B023
        for grads in case["grads"]:
            step([tf.constant(np.asarray(g, case["dtype"])) for g in grads])
        out.append(
            {
                "weights": [np.asarray(v.numpy(), np.float64).tolist() for v in variables],
                "serialized": keras.optimizers.serialize(opt),
            }
        )
    json.dump(out, sys.stdout, default=float)


if __name__ == "__main__":
    main()
