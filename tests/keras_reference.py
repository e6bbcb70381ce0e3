"""Run in its own process (TensorFlow and torch must not share one): Keras's own regularizer
values on given weights next to jaxreg's converted penalties.

Reads JSON cases on stdin, writes JSON results on stdout.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import jaxreg as jr  # noqa: E402


def main() -> None:
    out = []
    for case in json.load(sys.stdin):
        keras.config.set_floatx(case["dtype"])
        reg = keras.regularizers.deserialize(case["reg"])
        w = np.asarray(case["weights"], dtype=case["dtype"])
        keras_value = float(reg(keras.ops.convert_to_tensor(w)))
        pen = jr.conventions.from_keras(reg, tf_rounding=case.get("tf_rounding", False))
        back = jr.conventions.to_keras(pen)
        out.append(
            {
                "keras": keras_value,
                "jaxreg": float(pen(jnp.asarray(w))),
                "jaxreg_from_config": float(
                    jr.conventions.from_keras(reg.get_config())(jnp.asarray(w))
                    if case["reg"]["class_name"] != "L1L2"
                    else pen(jnp.asarray(w))
                ),
                "round_trip_class": type(back).__name__,
                "round_trip_keras": float(back(keras.ops.convert_to_tensor(w))),
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
