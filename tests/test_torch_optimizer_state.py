"""jr.conventions.from_torch_optimizer(opt, params=...) resumes a trained torch optimizer: train
3 steps in torch, convert, train 5 more on both sides (and under a scheduler): equal to rounding
in float64. The weight is given as a transposed view, as a flax kernel of a torch Linear is."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg as jr

torch = pytest.importorskip("torch")

CONFIGS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.05}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
]


def _setup(name, hyper, *, seed=0):
    rng = np.random.default_rng(seed)
    weight = torch.nn.Parameter(torch.tensor(rng.normal(size=(4, 3))))  # torch Linear: (out, in)
    bias = torch.nn.Parameter(torch.tensor(rng.normal(size=4)))
    opt = getattr(torch.optim, name)(
        [{"params": [weight]}, {"params": [bias], "lr": hyper["lr"] * 2}], **hyper
    )
    grads = [(rng.normal(size=(4, 3)), rng.normal(size=4)) for _ in range(8)]
    return weight, bias, opt, grads


def _torch_steps(weight, bias, opt, grads, sched=None):
    for gw, gb in grads:
        weight.grad, bias.grad = torch.tensor(gw), torch.tensor(gb)
        opt.step()
        if sched is not None:
            sched.step()


def _jax_steps(tx, params, grads):
    state, update = tx.init(params), jax.jit(tx.update)
    for gw, gb in grads:
        u, state = update({"kernel": jnp.asarray(gw.T), "bias": jnp.asarray(gb)}, state, params)
        params = optax.apply_updates(params, u)
    return params


def _jax_params(weight, bias):
    return {
        "kernel": jnp.asarray(weight.detach().numpy().T.copy()),
        "bias": jnp.asarray(bias.detach().numpy().copy()),
    }


def _assert_same(params, weight, bias):
    for got, want in ((params["kernel"], weight.detach().numpy().T), (params["bias"], bias)):
        want = np.asarray(want.detach() if hasattr(want, "detach") else want)
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=[f"{n}-{h}" for n, h in CONFIGS])
def test_training_resumes_where_torch_stopped(name, hyper):
    weight, bias, opt, grads = _setup(name, hyper)
    _torch_steps(weight, bias, opt, grads[:3])
    tx = jr.conventions.from_torch_optimizer(opt, params={"kernel": weight.T, "bias": bias})
    params = _jax_params(weight, bias)
    _torch_steps(weight, bias, opt, grads[3:])
    _assert_same(_jax_steps(tx, params, grads[3:]), weight, bias)


def test_state_dict_with_ids_and_a_scheduler_resume_exactly():
    weight, bias, opt, grads = _setup("Adam", {"lr": 0.05})
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    _torch_steps(weight, bias, opt, grads[:3], sched)
    tx = jr.conventions.from_torch_optimizer(
        opt.state_dict(), scheduler=sched, params={"kernel": 0, "bias": 1}, groups=None
    )
    params = {
        "kernel": jnp.asarray(weight.detach().numpy().copy()),
        "bias": jnp.asarray(bias.detach().numpy().copy()),
    }
    _torch_steps(weight, bias, opt, grads[3:], sched)
    state, update = tx.init(params), jax.jit(tx.update)
    for gw, gb in grads[3:]:
        u, state = update({"kernel": jnp.asarray(gw), "bias": jnp.asarray(gb)}, state, params)
        params = optax.apply_updates(params, u)
    np.testing.assert_allclose(np.asarray(params["kernel"]), weight.detach().numpy(), atol=1e-13)
    np.testing.assert_allclose(np.asarray(params["bias"]), bias.detach().numpy(), atol=1e-13)


def test_a_trained_optimizer_without_params_raises_and_bad_maps_raise():
    weight, bias, opt, grads = _setup("Adam", {"lr": 0.05})
    _torch_steps(weight, bias, opt, grads[:3])
    with pytest.raises(ValueError, match=r"has taken steps .* Pass params="):
        jr.conventions.from_torch_optimizer(opt, groups={"kernel": 0, "bias": 1})
    # zero state on purpose: the param groups alone
    tx = jr.conventions.from_torch_optimizer(
        opt.state_dict()["param_groups"], groups={"kernel": 0, "bias": 1}
    )
    assert int(tx.init(_jax_params(weight, bias)).inner_states[0].inner_state.count) == 0
    with pytest.raises(ValueError, match=r"holds state for parameters \[1\]"):
        jr.conventions.from_torch_optimizer(opt, params={"kernel": weight.T})
    with pytest.raises(ValueError, match=r"that the optimizer does not hold"):
        jr.conventions.from_torch_optimizer(opt, params={"kernel": weight.T, "b": torch.ones(4)})
    tx = jr.conventions.from_torch_optimizer(opt, params={"kernel": weight, "bias": bias})
    with pytest.raises(
        ValueError, match=r"\['kernel'\] has shape \(3, 4\), the framework parameter"
    ):
        tx.init(_jax_params(weight, bias))  # the kernel transposed, the map not
    with pytest.raises(ValueError, match=r"params=.*the optimizer or its whole state_dict"):
        jr.conventions.from_torch_optimizer({"lr": 0.1}, name="SGD", params={"w": weight})
    # a parameter that missed a gradient is a step behind its group
    weight.grad, bias.grad = torch.ones_like(weight), None
    opt.step()
    both = torch.optim.Adam([weight, bias], lr=0.1)
    weight.grad, bias.grad = torch.ones_like(weight), torch.ones_like(bias)
    both.step()
    bias.grad = None
    both.step()
    with pytest.raises(ValueError, match=r"at different steps \[1.0, 2.0\]"):
        jr.conventions.from_torch_optimizer(both, params={"kernel": weight.T, "bias": bias})


def _square_model():
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4)
    ).double()


@pytest.mark.parametrize(
    ("crossed", "path"),
    [
        ({"a": ("2.weight", True), "b": ("0.weight", True)}, r"\['a'\]\['kernel'\]"),
        ({"a": ("0.weight", False), "b": ("2.weight", True)}, r"\['a'\]\['kernel'\]"),  # no .T
        ({"a": ("0.weight", True), "b": ("2.weight", False)}, r"\['b'\]\['kernel'\]"),
    ],
    ids=["swapped", "untransposed-a", "untransposed-b"],
)
def test_a_map_that_crosses_same_shape_parameters_raises(crossed, path):
    model = _square_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x = torch.tensor(np.random.default_rng(1).normal(size=(8, 4)))
    for _ in range(3):
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
    weights = dict(model.named_parameters())

    bias = {"a": "0.bias", "b": "2.bias"}

    def tree(mapping):
        kernel = lambda k: weights[mapping[k][0]].T if mapping[k][1] else weights[mapping[k][0]]  # noqa: E731
        return {k: {"kernel": kernel(k), "bias": weights[b]} for k, b in bias.items()}

    right = tree({"a": ("0.weight", True), "b": ("2.weight", True)})
    params = jax.tree.map(lambda t: jnp.asarray(t.detach().numpy().copy()), right)
    jr.conventions.from_torch_optimizer(opt, params=right).init(params)  # the right map
    tx = jr.conventions.from_torch_optimizer(opt, params=tree(crossed))
    with pytest.raises(ValueError, match=path + r" differs from the framework parameter .*max"):
        tx.init(params)
    # float32 JAX params of float64 torch weights: equal to the cast, accepted
    low = jax.tree.map(lambda p: p.astype(jnp.float32), params)
    jr.conventions.from_torch_optimizer(opt, params=right).init(low)
    # under jit the values are traced: not checked (docs/conventions.md says so)
    jax.jit(tx.init)(params)
