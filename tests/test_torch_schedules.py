"""jr.conventions.from_torch_optimizer(..., scheduler=...) against torch's own schedulers: the
rate of every step (read off an SGD update of a unit gradient) equals ``get_last_lr()`` over
400 steps, from the start and from mid-training, and trained weights agree to rounding."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxreg as jr

torch = pytest.importorskip("torch")
S = torch.optim.lr_scheduler
STEPS = 400

SCHEDULERS = {
    "StepLR": lambda o: S.StepLR(o, step_size=7, gamma=0.7),
    "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[5, 20, 20, 100], gamma=0.3),
    "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.99),
    "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=50, eta_min=1e-3),
    "LinearLR": lambda o: S.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=30),
    "ConstantLR": lambda o: S.ConstantLR(o, factor=1 / 3, total_iters=10),
    "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=100, power=1.7),
    "OneCycleLR": lambda o: S.OneCycleLR(
        o, max_lr=[0.5, 1.0], total_steps=STEPS, cycle_momentum=False
    ),
    "OneCycleLR-3phase-linear": lambda o: S.OneCycleLR(
        o,
        max_lr=0.5,
        total_steps=STEPS,
        cycle_momentum=False,
        three_phase=True,
        anneal_strategy="linear",
    ),  # fmt: skip
    "SequentialLR": lambda o: S.SequentialLR(
        o,
        [S.LinearLR(o, 0.01, 1.0, 20), S.CosineAnnealingLR(o, 100), S.StepLR(o, 30, 0.5)],
        milestones=[20, 150],
    ),
}


def _torch_sgd(make_scheduler):
    """A two-group plain SGD (update = -lr * grad) and its scheduler."""
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in range(2)]
    opt = torch.optim.SGD([{"params": [p], "lr": 0.1 * (i + 1)} for i, p in enumerate(params)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: scheduler.step() before optimizer.step()
        return params, opt, make_scheduler(opt)


def _torch_rates(params, opt, sched, steps):
    """The rate each of ``steps`` optimizer steps uses, stepping the scheduler after each."""
    rates = []
    for _ in range(steps):
        rates.append([float(g["lr"]) for g in opt.param_groups])
        for p in params:
            p.grad = torch.ones_like(p)
        opt.step()
        sched.step()
    return np.asarray(rates)


def _jax_rates(tx, steps):
    params = {"a": jnp.zeros(2), "b": jnp.zeros(2)}
    ones = jax.tree.map(jnp.ones_like, params)
    update = jax.jit(tx.update)

    def body(state, _):
        u, state = update(ones, state, params)
        return state, jnp.stack([-u["a"][0], -u["b"][0]])

    return np.asarray(jax.lax.scan(body, tx.init(params), None, length=steps)[1])


@pytest.mark.parametrize("start", [0, 137])
@pytest.mark.parametrize("kind", sorted(SCHEDULERS))
def test_every_step_rate_equals_torch(kind, start):
    params, opt, sched = _torch_sgd(SCHEDULERS[kind])
    _torch_rates(params, opt, sched, start)  # mid-training: the schedule goes on from here
    tx = jr.conventions.from_torch_optimizer(opt, scheduler=sched, groups={"a": 0, "b": 1})
    want = _torch_rates(params, opt, sched, STEPS - start)
    got = _jax_rates(tx, STEPS - start)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    # eagerly too, the first steps
    params = {"a": jnp.zeros(2), "b": jnp.zeros(2)}
    state = tx.init(params)
    for k in range(5):
        u, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
        np.testing.assert_allclose([-u["a"][0], -u["b"][0]], want[k], rtol=1e-12)
    if start == 0:
        assert np.ptp(want) > 0.01  # the schedule really moved the rate


def test_adam_with_warmup_and_cosine_trains_like_torch():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4))
    grads = rng.normal(size=(300, 3, 4))
    w = torch.nn.Parameter(torch.tensor(w0))
    opt = torch.optim.AdamW([w], lr=0.05, weight_decay=0.1)
    sched = S.SequentialLR(
        opt, [S.LinearLR(opt, 0.1, 1.0, 10), S.CosineAnnealingLR(opt, 290)], [10]
    )
    tx = jr.conventions.from_torch_optimizer(opt, scheduler=sched)
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()
        sched.step()
    p, state, update = jnp.asarray(w0), tx.init(jnp.asarray(w0)), jax.jit(tx.update)
    for g in grads:
        u, state = update(jnp.asarray(g), state, p)
        p = optax.apply_updates(p, u)
    want = w.detach().numpy()
    np.testing.assert_allclose(np.asarray(p), want, rtol=0, atol=1e-12 * np.abs(want).max())
    assert np.abs(want - w0).max() > 0.05


def test_what_cannot_be_reproduced_raises():
    params, opt, sched = _torch_sgd(lambda o: S.StepLR(o, 5))
    with pytest.raises(ValueError, match=r"carry .initial_lr.*Pass scheduler="):
        jr.conventions.from_torch_optimizer(opt, groups={"a": 0, "b": 1})
    with pytest.raises(ValueError, match=r"carry 'initial_lr'"):
        jr.conventions.from_torch_optimizer(opt.state_dict()["param_groups"], groups=[0, 1])
    opt.param_groups[0]["lr"] = 0.5  # set by hand: the chain is broken
    with pytest.raises(ValueError, match=r"param group 0's lr is 0.5, but StepLR"):
        jr.conventions.from_torch_optimizer(opt, scheduler=sched, groups={"a": 0, "b": 1})
    for make in (
        lambda o: S.LambdaLR(o, lambda e: 0.9**e),
        lambda o: S.CyclicLR(o, 0.01, 0.1, cycle_momentum=False),
        lambda o: S.CosineAnnealingWarmRestarts(o, 10),
        lambda o: S.ReduceLROnPlateau(o),
    ):
        _, opt, sched = _torch_sgd(make)
        with pytest.raises(ValueError, match=r"is not reproduced; supported: StepLR"):
            jr.conventions.from_torch_optimizer(opt, scheduler=sched, groups={"a": 0, "b": 1})
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = S.SequentialLR(
        opt, [S.OneCycleLR(opt, max_lr=1.0, total_steps=10), S.ConstantLR(opt)], [10]
    )
    with pytest.raises(ValueError, match=r"SequentialLR whose OneCycleLR cycles the momentum"):
        jr.conventions.from_torch_optimizer(opt, scheduler=sched)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    opt.param_groups[0]["momentum"] = 0.5
    with pytest.raises(ValueError, match=r"momentum is 0.5, but OneCycleLR at last_epoch=0"):
        jr.conventions.from_torch_optimizer(opt, scheduler=sched)


def test_past_one_cycle_total_steps_the_rate_is_nan():
    params, opt, sched = _torch_sgd(
        lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, cycle_momentum=False)
    )
    tx = jr.conventions.from_torch_optimizer(opt, scheduler=sched, groups={"a": 0, "b": 1})
    rates = _jax_rates(tx, 12)
    assert np.isfinite(rates[:11]).all() and np.isnan(rates[11]).all()


CYCLED = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1}),  # momentum 0: OneCycleLR still cycles it, so torch uses momentum
    ("Adam", {"lr": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.1, "momentum": 0.5, "centered": True}),
]


@pytest.mark.parametrize("resume_at", [0, 100])
@pytest.mark.parametrize(("name", "hyper"), CYCLED, ids=[f"{n}-{h}" for n, h in CYCLED])
def test_one_cycle_with_cycled_momentum_trains_like_torch(name, hyper, resume_at):
    rng = np.random.default_rng(1)
    w0, grads = rng.normal(size=(3, 4)), rng.normal(size=(300, 3, 4))
    w = torch.nn.Parameter(torch.tensor(w0))
    opt = getattr(torch.optim, name)([w], **hyper)
    sched = S.OneCycleLR(opt, max_lr=0.05, total_steps=300)  # cycle_momentum=True

    def torch_steps(gs):
        for g in gs:
            w.grad = torch.tensor(g)
            opt.step()
            sched.step()

    torch_steps(grads[:resume_at])
    tx = jr.conventions.from_torch_optimizer(opt, scheduler=sched, params=w if resume_at else None)
    p = jnp.asarray(w.detach().numpy().copy())
    state, update = tx.init(p), jax.jit(tx.update)
    torch_steps(grads[resume_at:])
    for g in grads[resume_at:]:
        u, state = update(jnp.asarray(g), state, p)
        p = optax.apply_updates(p, u)
    want = w.detach().numpy()
    np.testing.assert_allclose(np.asarray(p), want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_a_scheduler_stepped_once_per_epoch():
    batches = 4
    params, opt, sched = _torch_sgd(lambda o: S.CosineAnnealingLR(o, T_max=10))

    def torch_epochs(n):
        rates = []
        for _ in range(n):
            rates.extend(_torch_rates(params, opt, _NoStep(), batches))
            sched.step()
        return np.asarray(rates)

    torch_epochs(3)  # converted at an epoch's end
    tx = jr.conventions.from_torch_optimizer(
        opt, scheduler=sched, groups={"a": 0, "b": 1}, updates_per_scheduler_step=batches
    )
    want = torch_epochs(12)
    np.testing.assert_allclose(_jax_rates(tx, 12 * batches), want, rtol=1e-12)
    with pytest.raises(ValueError, match=r"an int >= 1; got updates_per_scheduler_step=0"):
        jr.conventions.from_torch_optimizer(
            opt, scheduler=sched, groups={"a": 0, "b": 1}, updates_per_scheduler_step=0
        )


class _NoStep:
    def step(self):
        pass


def _adam_run(make_scheduler, *, every, at, total, created_after=0):
    """A torch Adam trained ``at`` steps with its scheduler stepped once per ``every`` updates
    (created after ``created_after`` updates), then ``total - at`` more; the gradients and the
    weights at ``at`` and at the end."""
    rng = np.random.default_rng(3)
    grads = rng.normal(size=(total, 3))
    w = torch.nn.Parameter(torch.tensor(rng.normal(size=3)))
    opt = torch.optim.Adam([w], lr=0.05)
    sched, snapshot = None, None
    for n in range(total):
        if n == created_after:
            sched = make_scheduler(opt)
        if n == at:
            snapshot = w.detach().numpy().copy()
            yield opt, sched, w, snapshot
        w.grad = torch.tensor(grads[n])
        opt.step()
        if sched is not None and (n + 1 - created_after) % every == 0:
            sched.step()
    yield grads, w.detach().numpy().copy()


def _resumed(tx, params, grads):
    state, update = tx.init({"w": jnp.asarray(params)}), jax.jit(tx.update)
    p = {"w": jnp.asarray(params)}
    for g in grads:
        u, state = update({"w": jnp.asarray(g)}, state, p)
        p = optax.apply_updates(p, u)
    return np.asarray(p["w"])


PER_EPOCH = {
    "StepLR": lambda o: S.StepLR(o, step_size=1, gamma=0.7),
    "SequentialLR": lambda o: S.SequentialLR(
        o, [S.LinearLR(o, 0.1, 1.0, 2), S.ExponentialLR(o, 0.8)], milestones=[2]
    ),
}


@pytest.mark.parametrize("kind", sorted(PER_EPOCH))
@pytest.mark.parametrize("at", [8, 6, 11])  # an epoch's end, mid-epoch
def test_the_scheduler_position_is_checked_against_the_step_count(kind, at):
    run = _adam_run(PER_EPOCH[kind], every=4, at=at, total=at + 13)
    opt, sched, w, snapshot = next(run)
    if at % 4 == 0:  # stepped per epoch, converted as if per update: the counts disagree
        with pytest.raises(ValueError, match=rf"made {at} updates .*last_epoch={at // 4}.*per 4"):
            jr.conventions.from_torch_optimizer(opt, scheduler=sched, params={"w": w})
    tx = jr.conventions.from_torch_optimizer(
        opt, scheduler=sched, params={"w": w}, updates_per_scheduler_step=4
    )
    grads, want = next(run)
    np.testing.assert_allclose(_resumed(tx, snapshot, grads[at:]), want, rtol=0, atol=1e-13)


def test_a_scheduler_created_after_some_updates_needs_updates_before_scheduler():
    run = _adam_run(lambda o: S.StepLR(o, step_size=2, gamma=0.5), every=1, at=9, total=20,
                    created_after=3)  # fmt: skip
    opt, sched, w, snapshot = next(run)
    with pytest.raises(ValueError, match=r"made 9 updates .*last_epoch=6.*updates_before_sch"):
        jr.conventions.from_torch_optimizer(opt, scheduler=sched, params={"w": w})
    tx = jr.conventions.from_torch_optimizer(
        opt, scheduler=sched, params={"w": w}, updates_before_scheduler=3
    )
    grads, want = next(run)
    np.testing.assert_allclose(_resumed(tx, snapshot, grads[9:]), want, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match=r"must be an int; got updates_before_scheduler=1.5"):
        jr.conventions.from_torch_optimizer(opt, updates_before_scheduler=1.5)  # type: ignore[arg-type]
