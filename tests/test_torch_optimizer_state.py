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


def _frozen_first_layer(*, freeze_after):
    """A torch MLP trained by AdamW on all its parameters (model.parameters(), the usual
    fine-tuning setup), its first layer frozen (requires_grad=False) after ``freeze_after``
    steps; the map of the JAX params (flax layout: kernels transposed) to its parameters."""
    model = _square_model()
    opt = torch.optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.1)
    x = torch.tensor(np.random.default_rng(2).normal(size=(8, 4)))

    def torch_step():
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()

    for _ in range(freeze_after):
        torch_step()
    model[0].weight.requires_grad_(False)
    model[0].bias.requires_grad_(False)
    layers = {"a": model[0], "b": model[2]}
    torch_map = {k: {"kernel": m.weight.T, "bias": m.bias} for k, m in layers.items()}
    return opt, torch_map, x.numpy(), torch_step


@pytest.mark.parametrize("freeze_after", [0, 3], ids=["fresh", "frozen-mid-training"])
def test_frozen_parameters_get_no_update_as_in_torch(freeze_after):
    # torch skips a parameter whose grad is None (requires_grad=False): no decay, no moments
    opt, torch_map, x, torch_step = _frozen_first_layer(freeze_after=freeze_after)
    with pytest.raises(ValueError, match=r"requires_grad=False \(group 0: shape \(4, 4\), group"):
        jr.conventions.from_torch_optimizer(opt)
    tx = jr.conventions.from_torch_optimizer(opt, params=torch_map)
    params = jax.tree.map(lambda t: jnp.asarray(t.detach().numpy().copy()), torch_map)
    frozen_before = np.asarray(params["a"]["kernel"]).copy()

    def loss(p):  # the JAX gradient of the frozen layer is not zero: its update must be
        h = jnp.tanh(x @ p["a"]["kernel"] + p["a"]["bias"])
        return jnp.mean((h @ p["b"]["kernel"] + p["b"]["bias"]) ** 2)

    state, update = tx.init(params), jax.jit(tx.update)
    for _ in range(6):
        torch_step()
        u, state = update(jax.grad(loss)(params), state, params)
        params = optax.apply_updates(params, u)
    np.testing.assert_array_equal(np.asarray(params["a"]["kernel"]), frozen_before)
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(torch_map), strict=True):
        want = want.detach().numpy()
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12 * np.abs(want).max())


def _two_group_adam():
    """torch's Adam with the weights in group 0 (decayed) and the bias in group 1."""
    model = torch.nn.Linear(3, 2).double()
    opt = torch.optim.Adam(
        [
            {"params": [model.weight], "weight_decay": 1e-2},
            {"params": [model.bias], "weight_decay": 0.0, "lr": 5e-3},
        ],
        lr=1e-3,
    )
    return model, opt


@pytest.mark.parametrize(
    ("groups", "error"),
    [
        ({"kernel": 0, "bias": 0}, r"groups: 2 leaves are labelled 0, but torch's param group 0"),
        ({"kernel": 0, "bias": 2}, r"groups: the label 2 at leaf \['bias'\] .* allowed 0..1"),
        ({"kernel": 0, "bias": -1}, r"groups: the label -1 at leaf \['bias'\]"),
        ({"kernel": 0, "bias": 1.0}, r"groups: .* an int in 0..1; got 1.0 \(float\) at leaf"),
        ({"kernel": 0, "bias": True}, r"groups: .* an int in 0..1; got True \(bool\)"),
        ({"kernel": 0}, r"groups: its tree is not the params' structure"),
        ({"kernel": 1, "bias": 0}, r"groups: the leaves labelled 0 have \[2\] elements, .*\[6\]"),
        (lambda p: {"kernel": 0, "bias": 0}, r"groups: 2 leaves are labelled 0"),
    ],
    ids=["one-group", "out-of-range", "negative", "float", "bool", "missing", "swapped", "fn"],
)
def test_groups_that_contradict_the_torch_param_groups_raise(groups, error):
    _, opt = _two_group_adam()
    params = {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}
    with pytest.raises(ValueError, match=error):
        jr.conventions.from_torch_optimizer(opt, groups=groups).init(params)
    # a state_dict's groups name their parameters by id: their number is checked too
    groups_only = opt.state_dict()["param_groups"]
    if "labelled 0, but" in error:
        with pytest.raises(ValueError, match=error):
            jr.conventions.from_torch_optimizer(groups_only, groups=groups).init(params)


def _train_both(opt, torch_params, tx, params, steps=5):
    """The same random gradients through torch and the converted optimizer; the JAX leaves are
    the torch parameters in the layout ``as_jax`` gives (``torch_params``: (leaf, as_jax))."""
    rng = np.random.default_rng(3)
    state, update = tx.init(params), jax.jit(tx.update)
    for _ in range(steps):
        grads = [rng.normal(size=tuple(p.shape)) for p, _ in torch_params]
        for (p, _), g in zip(torch_params, grads, strict=True):
            p.grad = torch.tensor(g)
        opt.step()
        treedef = jax.tree.structure(params)
        jax_grads = [
            jnp.asarray(as_jax(g)) for (_, as_jax), g in zip(torch_params, grads, strict=True)
        ]
        u, state = update(jax.tree.unflatten(treedef, jax_grads), state, params)
        params = optax.apply_updates(params, u)
    for got, (p, as_jax) in zip(jax.tree.leaves(params), torch_params, strict=True):
        want = as_jax(p.detach().numpy())
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_groups_as_an_equinox_module_or_an_nnx_state_label_each_leaf():
    # a tree_map over an eqx.nn.MLP is an MLP, which is callable: still a tree of labels
    eqx = pytest.importorskip("equinox")
    nnx = pytest.importorskip("flax.nnx")
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
    ).double()
    weights, biases = [model[0].weight, model[2].weight], [model[0].bias, model[2].bias]
    opt = torch.optim.Adam(
        [{"params": weights, "weight_decay": 0.1}, {"params": biases, "lr": 0.02}], lr=0.01
    )
    same = lambda a: a  # noqa: E731
    mlp = eqx.nn.MLP(3, 2, 4, 1, key=jax.random.key(0), dtype=jnp.float64)
    mlp = eqx.tree_at(
        lambda m: [m.layers[0].weight, m.layers[0].bias, m.layers[1].weight, m.layers[1].bias],
        mlp,
        [jnp.asarray(p.detach().numpy()) for p in (weights[0], biases[0], weights[1], biases[1])],
    )
    params = eqx.filter(mlp, eqx.is_array)
    bias_is_1 = lambda path, _: int("bias" in jax.tree_util.keystr(path))  # noqa: E731
    groups = jax.tree_util.tree_map_with_path(bias_is_1, params)
    assert callable(groups)
    tx = jr.conventions.from_torch_optimizer(opt, groups=groups)
    torch_params = [(weights[0], same), (biases[0], same), (weights[1], same), (biases[1], same)]
    _train_both(opt, torch_params, tx, params)

    class Net(nnx.Module):
        def __init__(self):
            rngs = nnx.Rngs(0)
            self.a = nnx.Linear(3, 4, rngs=rngs, param_dtype=jnp.float64)
            self.b = nnx.Linear(4, 2, rngs=rngs, param_dtype=jnp.float64)

    net = Net()
    for layer, torch_layer in ((net.a, model[0]), (net.b, model[2])):
        layer.kernel[...] = jnp.asarray(torch_layer.weight.detach().numpy().T)
        layer.bias[...] = jnp.asarray(torch_layer.bias.detach().numpy())
    state = nnx.state(net, nnx.Param)
    tx = jr.conventions.from_torch_optimizer(
        opt.state_dict()["param_groups"],  # zero state: the moments start over on both sides
        groups=jax.tree_util.tree_map_with_path(bias_is_1, state),
    )
    fresh = torch.optim.Adam(
        [{"params": weights, "weight_decay": 0.1}, {"params": biases, "lr": 0.02}], lr=0.01
    )
    transposed = lambda a: a.T  # noqa: E731
    # nnx.State's leaves in key order: a.bias, a.kernel, b.bias, b.kernel
    torch_params = [
        (biases[0], same), (weights[0], transposed), (biases[1], same), (weights[1], transposed)
    ]  # fmt: skip
    _train_both(fresh, torch_params, tx, state)


def test_a_map_of_another_structure_than_an_nnx_state_says_how_to_build_it():
    nnx = pytest.importorskip("flax.nnx")
    weight, bias, opt, grads = _setup("Adam", {"lr": 0.05})
    _torch_steps(weight, bias, opt, grads[:3])

    class Dense(nnx.Module):
        def __init__(self):
            self.kernel = nnx.Param(jnp.asarray(weight.detach().numpy().T.copy()))
            self.bias = nnx.Param(jnp.asarray(bias.detach().numpy().copy()))

    state = nnx.state(Dense(), nnx.Param)
    plain = {"kernel": weight.T, "bias": bias}  # the same keys, without the nnx.Variables
    for torch_map in (plain, nnx.State(plain)):
        tx = jr.conventions.from_torch_optimizer(opt, params=torch_map)
        with pytest.raises(ValueError, match=r"structure differs .*tree_map_with_path"):
            tx.init(state)
    by_name = {"kernel": weight.T, "bias": bias}
    torch_map = jax.tree_util.tree_map_with_path(lambda path, _: by_name[path[0].key], state)
    tx = jr.conventions.from_torch_optimizer(opt, params=torch_map)
    opt_state = tx.init(state)
    for gw, gb in grads[3:]:
        g = jax.tree_util.tree_map_with_path(
            lambda path, _, gw=gw, gb=gb: jnp.asarray(gw.T if path[0].key == "kernel" else gb),
            state,
        )
        u, opt_state = tx.update(g, opt_state, state)
        state = optax.apply_updates(state, u)
    _torch_steps(weight, bias, opt, grads[3:])
    _assert_same({"kernel": state["kernel"][...], "bias": state["bias"][...]}, weight, bias)
