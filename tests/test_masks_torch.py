"""jr.masks.kernels keeps its rule on torch state_dicts (flat and nested by module) and real
flax nnx / linen / equinox modules; jr.masks.from_torch_module selects by layer type; a
by_path exclude that matches nothing raises (issue #25 item 5)."""

from __future__ import annotations

import pickle

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from flax import linen, nnx
from helpers import assert_close
from torch import nn

import jaxreg as jr


class TorchNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(10, 4)
        self.conv = nn.Conv2d(1, 3, 3)
        self.bn = nn.BatchNorm1d(4)
        self.ln = nn.LayerNorm(4)
        self.ln2d = nn.LayerNorm((3, 4))  # an elementwise (3, 4) scale and bias
        self.rms2d = nn.RMSNorm((3, 4))  # a (3, 4) scale, no bias
        self.gn = nn.GroupNorm(2, 4)
        self.attn = nn.MultiheadAttention(4, 2)
        self.fc = nn.Linear(4, 2)
        self.lstm = nn.LSTM(4, 3)
        self.prelu = nn.PReLU(4)


# what each layer's parameters are, from torch's own layer types
KERNELS = {
    "conv.weight", "attn.in_proj_weight", "attn.out_proj.weight", "fc.weight",
    "lstm.weight_ih_l0", "lstm.weight_hh_l0",
}  # fmt: skip
NORM_SCALES = {"bn.weight", "ln.weight", "ln2d.weight", "rms2d.weight", "gn.weight"}


def flat_state(module):
    return {k: jnp.asarray(v.detach().numpy()) for k, v in module.state_dict().items()}


def nested(flat):
    """The state_dict nested by module: {'attn': {'out_proj': {'weight': ...}}}."""
    tree: dict = {}
    for key, value in flat.items():
        *parents, name = key.split(".")
        node = tree
        for p in parents:
            node = node.setdefault(p, {})
        node[name] = value
    return tree


def selected(mask, tree):
    """The 'a.b.c' names of the leaves ``mask`` selects (an nnx Variable's '.value' dropped)."""
    out = set()
    for path, chosen in jax.tree_util.tree_flatten_with_path(mask(tree))[0]:
        names = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path]
        if chosen:
            out.add(".".join(names[:-1] if names[-1] == "value" else names))
    return out


@pytest.mark.parametrize("layout", ["nested", "flat"])
def test_kernels_on_a_torch_state_dict_never_pick_a_norm_scale(layout):
    net = TorchNet()
    flat = flat_state(net)
    tree = nested(flat) if layout == "nested" else flat
    got = selected(jr.masks.kernels, tree)
    # the one rule: weights of 2+ dimensions, except a weight beside a bias of its shape; what
    # names and shapes cannot tell is documented: an Embedding's table and a bias-less 2-D
    # RMSNorm scale are 2-D `weight`s
    assert got == KERNELS | {"embed.weight", "rms2d.weight"}
    assert not got & (NORM_SCALES - {"rms2d.weight"})
    assert "prelu.weight" not in got  # 1-D: a slope
    assert net.bn.weight.ndim == net.ln.weight.ndim == net.gn.weight.ndim == 1
    assert net.ln2d.weight.shape == net.ln2d.bias.shape == (3, 4)


def test_from_torch_module_selects_by_layer_type_in_both_layouts():
    net = TorchNet()
    flat = flat_state(net)
    mask = jr.masks.from_torch_module(net)
    assert selected(mask, flat) == KERNELS
    assert selected(mask, nested(flat)) == KERNELS
    # named_parameters() (no buffers) works too
    params = {k: jnp.asarray(v.detach().numpy()) for k, v in net.named_parameters()}
    assert selected(mask, params) == KERNELS
    with_tables = jr.masks.from_torch_module(net, include=(nn.Linear, nn.Embedding))
    assert selected(with_tables, flat) == {"embed.weight", "attn.out_proj.weight", "fc.weight"}
    norms = jr.masks.from_torch_module(net, include=(nn.LayerNorm, nn.GroupNorm, nn.RMSNorm))
    assert selected(norms, flat) == {"ln.weight", "ln2d.weight", "rms2d.weight", "gn.weight"}


def test_from_torch_module_penalty_equals_torchs_sum_over_kernels():
    net = TorchNet()
    tree = nested(flat_state(net))
    mask = jr.masks.from_torch_module(net)
    weights = [net.conv.weight, net.attn.in_proj_weight, net.attn.out_proj.weight, net.fc.weight]
    weights += [net.lstm.weight_ih_l0, net.lstm.weight_hh_l0]
    want = 0.5 * 0.3 * sum(float((w.detach().double() ** 2).sum()) for w in weights)  # torch
    pen = jr.l2(0.3, mask=mask)
    assert_close(jax.jit(pen)(tree), want, rtol=1e-6)
    # an optax mask too: weight decay on the selected leaves only
    tx = optax.masked(optax.add_decayed_weights(1.0), mask)
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, tree), tx.init(tree), tree)
    assert float(jnp.abs(updates["bn"]["weight"]).max()) == 0.0
    assert_close(updates["fc"]["weight"], tree["fc"]["weight"], rtol=0)


def test_from_torch_module_is_a_value_and_checks_its_input():
    net = TorchNet()
    a, b = jr.masks.from_torch_module(net), jr.masks.from_torch_module(net)
    assert a == b and hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) == a
    assert a != jr.masks.from_torch_module(net, include=(nn.Linear,))
    assert jr.l2(0.1, mask=a) == jr.l2(0.1, mask=b)
    with pytest.raises(ValueError, match=r"params have no leaf for the module's parameters"):
        a({"fc": {"weight": jnp.ones((2, 4))}})
    with pytest.raises(TypeError, match=r"module must be a torch.nn.Module; got dict"):
        jr.masks.from_torch_module({"fc": 1})
    with pytest.raises(TypeError, match=r"include must be torch.nn.Module subclasses"):
        jr.masks.from_torch_module(net, include=("Linear",))
    with pytest.raises(ValueError, match=r"has no parameters in layers of type \['Conv3d'\]"):
        jr.masks.from_torch_module(net, include=(nn.Conv3d,))


class TiedLM(nn.Module):
    """A small language model whose output head is tied to its token embedding (GPT-2, T5)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(11, 6)
        self.block = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 6))
        self.norm = nn.LayerNorm(6)
        self.head = nn.Linear(6, 11, bias=False)
        self.head.weight = self.embed.weight


def torch_l2(module, strength, layers):
    """½ s Σ w² over the non-bias parameters of ``layers``, each parameter object once."""
    unique = {
        id(p): p
        for sub in module.modules()
        if isinstance(sub, layers)
        for name, p in sub.named_parameters(recurse=False)
        if "bias" not in name
    }
    return 0.5 * strength * sum(float((p.detach().double() ** 2).sum()) for p in unique.values())


def test_from_torch_module_counts_a_tied_weight_once():
    net = TiedLM()
    state = flat_state(net)  # the docs' recipe: state_dict lists the table twice
    assert "embed.weight" in state and "head.weight" in state
    mask = jr.masks.from_torch_module(net)
    # the shared table once, under its first name (torch's named_parameters() keeps that one)
    assert selected(mask, state) == {"embed.weight", "block.0.weight", "block.2.weight"}
    want = torch_l2(net, 0.3, (nn.Linear,))
    assert_close(jax.jit(jr.l2(0.3, mask=mask))(state), want, rtol=1e-6)
    assert_close(jr.l2(0.3, mask=mask)(nested(state)), want, rtol=1e-6)
    deduplicated = {k: jnp.asarray(v.detach().numpy()) for k, v in net.named_parameters()}
    assert "head.weight" not in deduplicated
    assert_close(jr.l2(0.3, mask=mask)(deduplicated), want, rtol=1e-6)
    # with the embedding's own type included: still one copy
    both = jr.masks.from_torch_module(net, include=(nn.Linear, nn.Embedding))
    assert_close(jr.l2(0.3, mask=both)(state), want, rtol=1e-6)
    # names alone cannot see the tie: kernels selects both copies (documented)
    assert {"embed.weight", "head.weight"} <= selected(jr.masks.kernels, state)


# --------------------------------------------------------------------------------------------
# The same rule on real flax nnx / linen and equinox modules


class NnxNet(nnx.Module):
    def __init__(self, rngs):
        self.embed = nnx.Embed(10, 4, rngs=rngs)
        self.conv = nnx.Conv(1, 3, (3, 3), rngs=rngs)
        self.bn = nnx.BatchNorm(4, rngs=rngs)
        self.ln = nnx.LayerNorm(4, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(2, 4, decode=False, rngs=rngs)
        self.fc = nnx.Linear(4, 2, rngs=rngs)


def test_kernels_on_flax_nnx_and_linen_modules():
    state = nnx.state(NnxNet(nnx.Rngs(0)), nnx.Param)
    got = selected(jr.masks.kernels, state)
    want = {"conv.kernel", "fc.kernel"} | {f"attn.{p}.kernel" for p in ("query", "key", "value")}
    assert got == want | {"attn.out.kernel"}

    class Linen(linen.Module):
        @linen.compact
        def __call__(self, x):
            x = linen.Embed(10, 4)(x)
            x = linen.LayerNorm()(linen.Dense(4)(x))
            x = linen.BatchNorm(use_running_average=False)(x)
            return linen.Conv(3, (3,))(x)

    variables = Linen().init(jax.random.key(0), jnp.zeros((2, 5), int))
    assert selected(jr.masks.kernels, variables["params"]) == {
        "Dense_0.kernel",
        "Conv_0.kernel",
    }
    assert selected(jr.masks.kernels, variables["batch_stats"]) == set()


def test_kernels_on_equinox_modules():
    keys = jax.random.split(jax.random.key(0), 5)
    model = [
        eqx.nn.Linear(4, 3, key=keys[0]),
        eqx.nn.Conv2d(1, 3, 3, key=keys[1]),
        eqx.nn.LayerNorm(4),
        eqx.nn.GroupNorm(2, 4),
        eqx.nn.Embedding(10, 4, key=keys[2]),
        eqx.nn.PReLU(),
        eqx.nn.MultiheadAttention(2, 4, key=keys[3]),
    ]
    chosen = jax.tree.leaves(jr.masks.kernels(model))
    leaves = jax.tree.leaves(model)
    kernels = [x for x, c in zip(leaves, chosen, strict=True) if c]
    want = [model[0].weight, model[1].weight] + [
        getattr(model[6], p).weight for p in ("query_proj", "key_proj", "value_proj", "output_proj")
    ]
    assert len(kernels) == len(want)
    assert all(k is w for k, w in zip(kernels, want, strict=True))


def test_kernels_selects_llama_attention_projections_not_gpt2_embeddings():
    torch.manual_seed(0)
    llama_attention = {n: nn.Linear(8, 8, bias=False) for n in ("wq", "wk", "wv", "wo")}
    llama = nn.ModuleDict({**llama_attention, "w1": nn.Linear(8, 16, bias=False)})
    # JAX ports of LLaMA keep each projection matrix as a leaf named wq/wk/wv/wo
    state = {k.removesuffix(".weight"): v for k, v in flat_state(llama).items()}
    assert selected(jr.masks.kernels, state) == {"wq", "wk", "wv", "wo", "w1"}
    gpt2 = {"wte": jnp.ones((50, 8)), "wpe": jnp.ones((16, 8)), "wqkv": jnp.ones((8, 24))}
    assert selected(jr.masks.kernels, gpt2) == {"wqkv"}
    assert jr.masks.kernels.__name__ == "kernels" and repr(jr.masks.kernels) == "kernels"


def test_kernels_keeps_coefficient_vectors_and_refuses_an_ambiguous_one():
    assert jr.masks.kernels({"w": jnp.ones(3), "b": jnp.ones(())}) == {"b": False, "w": True}
    assert jr.masks.kernels({"coef": jnp.ones(3)}) == {"coef": True}
    with pytest.raises(ValueError, match=r"only weights of params are 1-D \['weight'\]"):
        jr.l1(0.1, mask=jr.masks.kernels)({"weight": jnp.ones(3), "bias": jnp.ones(())})


# --------------------------------------------------------------------------------------------
# by_path: an exclude that matches nothing raises


def test_by_path_exclude_that_matches_nothing_raises():
    params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
    typo = jr.l2(0.1, mask=jr.masks.by_path(exclude="biass"))
    with pytest.raises(ValueError, match=r"exclude='biass' matches no leaf.*'dense/bias'"):
        typo(params)
    with pytest.raises(ValueError, match=r"exclude='biass' matches no leaf"):
        (jr.masks.kernels | jr.masks.by_path(exclude=["bias", "biass"]))(params)
    ok = jax.jit(jr.l2(0.1, mask=jr.masks.by_path(exclude="bias")))(params)
    assert_close(ok, 0.1 / 2 * 4, rtol=1e-12)
    assert jr.masks.by_path(exclude="x")({}) == {}  # no leaves: nothing to match


def test_by_path_include_that_matches_nothing_raises_on_every_use():
    """One rule: every include and exclude pattern must match a path, alone, combined, in a
    penalty (eagerly and under jit) and in optax."""
    params = {
        "encoder": {"dense": {"kernel": jnp.ones((4, 3)), "bias": jnp.zeros(3)}},
        "head": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)},
    }
    typo = jr.masks.by_path(include="^haed/")
    uses = {
        "alone": lambda: typo(params),
        "&": lambda: jr.l2(1.0, mask=jr.masks.kernels & typo)(params),
        "|": lambda: jr.l2(1.0, mask=jr.masks.kernels | jr.masks.by_path("embeding"))(params),
        "~": lambda: jax.jit(jr.l2(1.0, mask=~typo))(params),
        "list": lambda: jr.masks.by_path(include=["^encoder/", "^haed/"])(params),
        "optax.masked": lambda: optax.masked(optax.sgd(0.1), typo).init(params),
        "add_decayed_weights": lambda: optax.add_decayed_weights(1.0, mask=typo).update(
            params, optax.EmptyState(), params
        ),
    }
    for call in uses.values():
        with pytest.raises(ValueError, match=r"include='(\^haed/|embeding)' matches no leaf"):
            call()
    head = jr.masks.by_path(include=["^encoder/", "^head/kernel"])
    assert_close(jax.jit(jr.l2(1.0, mask=head))(params), 0.5 * (12 + 6), rtol=1e-12)  # biases are 0
    assert np.all(np.asarray(jax.tree.leaves(jr.masks.by_path()(params))))
