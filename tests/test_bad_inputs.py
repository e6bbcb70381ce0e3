"""Bad input gets an error naming the argument, the value and the fix (issue #25)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxreg as jr


def _objective(p):
    return jnp.sum((p["w"] - 1.0) ** 2)


@pytest.mark.parametrize(
    "key", [jax.random.key(0), jax.random.PRNGKey(0)], ids=["typed key", "raw uint32 key"]
)
def test_solve_names_the_prng_key_leaf_and_how_to_hold_it(key):
    params = {"w": jnp.zeros(3), "rng": {"dropout": key}}
    with pytest.raises(
        TypeError, match=r"init_params\['rng'\]\['dropout'\] (is a|looks like a raw) PRNG key"
    ) as e:
        jr.solve(_objective, jr.l1(0.1), params)
    assert "close over it in objective" in str(e.value)
    assert "eqx.partition" in str(e.value) and "nnx.split(model, nnx.Param" in str(e.value)

    # holding the key outside init_params, as the message says, works (under jit too)
    def fit(k):
        target = jax.random.normal(k, (3,))
        return jr.solve(lambda p: jnp.sum((p["w"] - target) ** 2), jr.l1(0.1), {"w": jnp.zeros(3)})

    w, info = jax.jit(fit)(key)
    assert bool(info.converged)


def test_solve_names_the_key_of_a_flax_nnx_state_before_its_counter():
    from flax import nnx

    class Model(nnx.Module):
        def __init__(self):
            self.linear = nnx.Linear(2, 2, rngs=nnx.Rngs(0))
            self.dropout = nnx.Dropout(0.5, rngs=nnx.Rngs(1))

    state = nnx.state(Model())
    with pytest.raises(TypeError, match=r"\['dropout'\]\['rngs'\]\['key'\].* is a PRNG key"):
        jr.solve(lambda s: jnp.sum(s["linear"]["kernel"][...] ** 2), jr.l1(0.1), state)


def test_solve_names_an_integer_leaf():
    with pytest.raises(TypeError, match=r"init_params\['steps'\] has dtype int"):
        jr.solve(_objective, jr.l1(0.1), {"w": jnp.zeros(3), "steps": jnp.zeros(3, int)})


def test_linear_fit_with_string_labels_names_y():
    X = np.random.default_rng(0).normal(size=(6, 2))
    y = np.array(["cat", "dog", "cat", "dog", "cat", "dog"])
    with pytest.raises(TypeError, match=r"y must hold numbers.*dtype <U3.*'cat'.*LabelEncoder"):
        jr.linear.fit(X, y, jr.l1(0.1), loss="logistic")
