"""Run in its own process, with JAX's default (``jax_enable_x64`` off, what users run): torch's
float32 optimizers against jaxreg's conversions, and the float-float kernel against Python's
float64 (the arithmetic torch does its scalars in). Writes one JSON object on stdout.

The optimizers see the same gradients: torch trains a small MLP (its own gradients, from its
own weights) and records them; the conversion replays them, so what differs is the optimizer's
arithmetic alone.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

import jaxreg as jr
from jaxreg import _float_float as ff

STEPS = 200
EAGER_STEPS = 20
T_MAX = 100_000


def _misrounded(got, want64) -> dict[str, int]:
    """Where ``got`` is not ``np.float32(want64)``: ``near_ties``, float64's value within
    ``2**-40`` (relative) of a midpoint between two float32s, which 48 bits cannot tell apart
    (nor float64's own rounding errors); ``wrong``, the others (must be none)."""
    want = want64.astype(np.float32)
    bad = got != want
    other = np.where(got[bad] > want[bad], np.nextafter(want[bad], np.inf), got[bad])
    low = np.minimum(want[bad], other).astype(np.float64)
    high = np.maximum(want[bad], other).astype(np.float64)
    mid = (low + high) / 2
    near = np.abs(want64[bad] - mid) <= 2.0**-40 * np.abs(mid)
    return {"wrong": int((~near).sum()), "near_ties": int(near.sum())}


def kernel_mismatches() -> dict[str, dict[str, int]]:
    """float-float results vs Python's float64 values (as torch computes them: C ``pow``, the
    same as NumPy's) rounded to float32, t = 1 .. T_MAX."""
    t = np.arange(1, T_MAX + 1, dtype=np.float32)
    t64 = t.astype(np.float64)
    out = {}
    lr = 3e-4
    for beta in (0.0, 0.3, 0.9, 0.95, 0.99, 0.999, 0.9999):

        @jax.jit
        def scalars(t, beta=beta):
            bc = ff.one_minus_power(ff.log_constant(beta), t)
            return (
                ff.to_float(bc),
                ff.to_float(ff.sqrt(bc)),
                ff.to_float(ff.div(ff.constant(lr), bc)),
                # a scheduled beta (OneCycleLR's beta1): traced, its log computed under jit
                ff.to_float(ff.one_minus_power(ff.log(jnp.float32(beta)), t)),
            )

        got = [np.asarray(x) for x in scalars(jnp.asarray(t))]
        bc64 = 1 - np.power(beta, t64)
        want = [
            bc64,
            np.power(bc64, 0.5),
            lr / bc64,
            1 - np.power(float(np.float32(beta)), t64),
        ]
        for name, g, w in zip(
            ("1-b**t", "sqrt(1-b**t)", "lr/(1-b**t)", "traced b"), got, want, strict=True
        ):
            out[f"{name} b={beta}"] = _misrounded(g, w)

    # Adagrad's lr / (1 + (t - 1) lr_decay) and AdamW's 1 - lr wd, for traced (scheduled) rates
    rates = np.float32(np.geomspace(1e-6, 1.0, 2000))[:, None]
    adagrad = jax.jit(
        lambda r, t: ff.to_float(
            ff.div(
                ff.exact(r), ff.add(ff.constant(1.0), ff.mul(ff.exact(t - 1), ff.constant(0.01)))
            )
        )
    )
    got = np.asarray(adagrad(jnp.asarray(rates), jnp.asarray(t[None, :50])))
    out["lr/(1+(t-1)*0.01)"] = _misrounded(got, rates / (1 + (t64[None, :50] - 1) * 0.01))
    decay = jax.jit(
        lambda r: ff.to_float(ff.sub(ff.constant(1.0), ff.mul(ff.exact(r), ff.constant(0.05))))
    )
    out["1-lr*0.05"] = _misrounded(np.asarray(decay(jnp.asarray(rates))), 1 - rates * 0.05)
    return out


CONFIGS = [
    ("Adam", {"lr": 1e-2, "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2, "betas": (0.8, 0.9999), "amsgrad": True}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 1e-2}),
    ("RMSprop", {"lr": 1e-3, "weight_decay": 1e-2, "momentum": 0.5, "centered": True}),
    ("SGD", {"lr": 1e-2, "weight_decay": 1e-2, "momentum": 0.9, "nesterov": True}),
]
# stock optax with the same settings, where it has them: the contrast
STOCK = {
    0: lambda: optax.chain(optax.add_decayed_weights(1e-2), optax.adam(1e-2)),
    3: lambda: optax.adamw(1e-2, weight_decay=0.1),
}
SCHEDULES = {
    "CosineAnnealingLR": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=STEPS),
    "OneCycleLR": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=1e-2, total_steps=STEPS),
}


def torch_training(name, hyper, *, foreach, schedule=None):
    """torch's float32 MLP trained ``STEPS`` steps: initial weights, each step's gradients, the
    weights after each step, and a fresh (optimizer, scheduler) of the same settings to convert."""
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(64, 10)), dtype=torch.float32)
    y = torch.tensor(rng.normal(size=(64, 1)), dtype=torch.float32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    init = [p.detach().numpy().copy() for p in model.parameters()]
    opt = getattr(torch.optim, name)(model.parameters(), foreach=foreach, **hyper)
    sched = SCHEDULES[schedule](opt) if schedule else None
    fresh = getattr(torch.optim, name)(torch.nn.Linear(1, 1).parameters(), **hyper)
    fresh_sched = SCHEDULES[schedule](fresh) if schedule else None
    grads, after = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
        opt.step()
        if sched is not None:
            sched.step()
        after.append([p.detach().numpy().copy() for p in model.parameters()])
    return init, grads, after, fresh, fresh_sched


def replay(tx, init, grads, *, jit):
    params = [jnp.asarray(w) for w in init]
    state = tx.init(params)
    update = jax.jit(tx.update) if jit else tx.update
    for g in grads:
        updates, state = update([jnp.asarray(x) for x in g], state, params)
        params = optax.apply_updates(params, updates)
    return [np.asarray(p) for p in params]


def ulps(got, want) -> float:
    """The largest difference, in float32 ulps of the largest weight."""
    scale = float(np.spacing(np.float32(max(np.abs(w).max() for w in want))))
    diff = max(
        float(np.abs(g.astype(np.float64) - w).max()) for g, w in zip(got, want, strict=True)
    )
    return diff / scale


def main() -> None:
    assert not jax.config.jax_enable_x64
    start = time.perf_counter()
    out = {"x64": bool(jax.config.jax_enable_x64), "kernel": kernel_mismatches(), "runs": []}
    cases = [(i, n, h, None) for i, (n, h) in enumerate(CONFIGS)]
    cases += [(None, "AdamW", {"lr": 1e-2, "weight_decay": 0.1}, s) for s in SCHEDULES]
    cases += [(None, "SGD", {"lr": 1e-2, "momentum": 0.9}, "CosineAnnealingLR")]
    for i, name, hyper, schedule in cases:
        init, grads, after, fresh, fresh_sched = torch_training(
            name, hyper, foreach=False, schedule=schedule
        )
        final = after[-1]
        _, _, after_foreach, _, _ = torch_training(name, hyper, foreach=True, schedule=schedule)
        final_foreach = after_foreach[-1]
        tx = jr.conventions.from_torch_optimizer(fresh, scheduler=fresh_sched)
        jitted = replay(tx, init, grads, jit=True)
        run = {
            "name": name,
            "hyper": {k: list(v) if isinstance(v, tuple) else v for k, v in hyper.items()},
            "schedule": schedule,
            "max_abs_weight": float(max(np.abs(w).max() for w in final)),
            "foreach_vs_single_ulps": ulps(final_foreach, final),
            "jit_ulps": ulps(jitted, final),
            "jit_max_abs": float(
                max(np.abs(g - w).max() for g, w in zip(jitted, final, strict=True))
            ),
        }
        if i in (0, 3):  # eagerly too (slow: each float-float op is dispatched alone)
            eager = replay(tx, init, grads[:EAGER_STEPS], jit=False)
            run["eager_ulps"] = ulps(eager, after[EAGER_STEPS - 1])
        if i in STOCK:
            stock = replay(STOCK[i](), init, grads, jit=True)
            run["stock_optax_ulps"] = ulps(stock, final)
            run["stock_optax_max_abs"] = float(
                max(np.abs(g - w).max() for g, w in zip(stock, final, strict=True))
            )
        out["runs"].append(run)
    out["seconds"] = time.perf_counter() - start
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
