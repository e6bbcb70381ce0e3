"""PyTorch side: torch.nn + stock torch.optim, the penalty as a loss term (or the coupled
weight_decay on a kernels-only parameter group), as a PyTorch user writes it. Weights cross in
Keras's layout: Linear.weight is (out, in), Conv2d.weight is OIHW, and the flatten before the
CNN's dense head runs over (c, h, w) instead of Keras's (h, w, c); each is converted exactly."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from parity._worker import (
    batches,
    cv_inputs,
    main,
    run_inputs,
    schedule_record,
    weight_names,
)

torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)  # tiny models: one thread is as fast and leaves the other core free


def build(model: dict[str, Any]) -> torch.nn.Sequential:
    if model["kind"] == "mlp":
        s = model["sizes"]
        layers: list[torch.nn.Module] = []
        for i, (a, b) in enumerate(zip(s[:-1], s[1:], strict=True), 1):
            layers.append(torch.nn.Linear(a, b))
            if i < len(s) - 1:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers)
    c1, c2 = model["sizes"]
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, c1, 3),
        torch.nn.ReLU(),
        torch.nn.Conv2d(c1, c2, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * c2, 10),
    )


def to_torch(w: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """A weight in Keras's layout -> torch's."""
    if w.ndim == 4:  # HWIO -> OIHW
        return w.transpose(3, 2, 0, 1)
    if w.ndim == 2 and model["kind"] == "cnn":  # rows (h, w, c) -> columns (c, h, w)
        c2 = model["sizes"][1]
        return w.reshape(4, 4, c2, 10).transpose(3, 2, 0, 1).reshape(10, 16 * c2)
    return w.T if w.ndim == 2 else w


def to_keras(w: np.ndarray, model: dict[str, Any]) -> np.ndarray:
    """The inverse of `to_torch`."""
    if w.ndim == 4:
        return w.transpose(2, 3, 1, 0)
    if w.ndim == 2 and model["kind"] == "cnn":
        c2 = model["sizes"][1]
        return w.reshape(10, c2, 4, 4).transpose(2, 3, 1, 0).reshape(16 * c2, 10)
    return w.T if w.ndim == 2 else w


def initialized(model: dict[str, Any], init: dict[str, np.ndarray], dtype) -> torch.nn.Sequential:
    """The network with the shared initial weights (given in Keras's layout)."""
    net = build(model).to(dtype)
    with torch.no_grad():
        for p, name in zip(params(net), weight_names(model), strict=True):
            p.copy_(torch.from_numpy(np.ascontiguousarray(to_torch(init[name], model))))
    return net


def params(net: torch.nn.Module) -> list[torch.nn.Parameter]:
    """In the canonical order: each layer's weight, then its bias."""
    return [p for m in net if hasattr(m, "weight") for p in (m.weight, m.bias)]


def flat(net: torch.nn.Module, model: dict[str, Any]) -> np.ndarray:
    return np.concatenate(
        [to_keras(p.detach().numpy().astype(np.float64), model).ravel() for p in params(net)]
    )


def make_optimizer(name: str, groups, h: dict[str, Any], variant: str):
    betas = (h["b1"], h["b2"])
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(groups, lr=h["lr"], momentum=h["momentum"], nesterov=h["nesterov"])
    if name == "adamw" and variant == "adam_l2":  # the control: coupled decay, not decoupled
        return torch.optim.Adam(
            groups, lr=h["lr"], betas=betas, eps=h["eps"], weight_decay=h["weight_decay"]
        )
    if name == "adamw":
        return torch.optim.AdamW(
            groups, lr=h["lr"], betas=betas, eps=h["eps"], weight_decay=h["weight_decay"]
        )
    return torch.optim.Adam(groups, lr=h["lr"], betas=betas, eps=h["eps"])


def train(spec: dict[str, Any], job: dict[str, np.ndarray], exported) -> dict[str, Any]:
    cfg, h, d = spec["config"], dict(spec["hyper"]), run_inputs(spec, job)
    model = h["model"]
    dt = getattr(torch, cfg["dtype"])
    net = initialized(model, d["init"], dt)
    kernels = [p for p in params(net) if p.ndim > 1]
    biases = [p for p in params(net) if p.ndim == 1]
    pen = h["penalty"]
    l1, l2, group = pen["l1"], pen["l2"], pen["group"]
    if spec["variant"] == "keras_f32":  # the constants Keras-on-TF applies, as it measured them
        c = exported(spec["source"])["constants"]
        h["momentum"] = c["momentum"]
        l1, l2 = c["regularizer"]["l1"], 2 * c["regularizer"]["l2"]  # Keras's L2 has no 1/2
        group = c["group_as_cast"] or 0.0
    if spec["variant"] == "weight_decay":
        # torch's coupled weight_decay is the gradient of wd / 2 * sum w^2
        groups = [{"params": kernels, "weight_decay": l2}, {"params": biases, "weight_decay": 0.0}]
        l2 = 0.0  # carried by the optimizer instead of the loss
    else:
        groups = [{"params": params(net)}]
    opt = make_optimizer(cfg["optimizer"], groups, h, spec["variant"])
    conv2 = net[2].weight if model["kind"] == "cnn" else None

    def penalty():
        out = 0.0
        if l1:
            out = out + l1 * sum(w.abs().sum() for w in kernels)
        if l2:
            out = out + l2 / 2 * sum(w.square().sum() for w in kernels)
        if group:  # one norm per output channel of the OIHW kernel
            out = out + group * conv2.square().sum(dim=(1, 2, 3)).sqrt().sum()
        return out

    X, y = tensor(d["X_train"], model), torch.from_numpy(d["y_train"])
    exports: dict[str, Any] = {}
    sched, schedule = None, h["schedule"]
    if schedule:  # as torch users do: StepLR stepped once per epoch
        sched = torch.optim.lr_scheduler.StepLR(
            opt, step_size=schedule["step_epochs"], gamma=schedule["gamma"]
        )
        # the converter reads the optimizer and scheduler as they were before training
        exports = {
            "param_groups": copy.deepcopy(opt.state_dict()["param_groups"]),
            "scheduler": sched.state_dict(),
            "updates_per_epoch": len(batches(d["orders"][0], h["batch"])),
        }
    traj, rates, norms = [flat(net, model)], [], []
    for order in d["orders"]:
        rates.append(opt.param_groups[0]["lr"])
        for idx in batches(order, h["batch"]):
            idx = torch.from_numpy(idx)
            opt.zero_grad()
            loss = F.cross_entropy(net(X[idx]), y[idx]) + penalty()
            loss.backward()
            if schedule:
                total = torch.nn.utils.clip_grad_norm_(params(net), schedule["max_norm"])
                norms.append(float(total))
            opt.step()
        if sched is not None:
            sched.step()
        traj.append(flat(net, model))
    with torch.no_grad():
        return {
            "trajectory": np.stack(traj),
            "train_logits": net(X).numpy(),
            "test_logits": net(tensor(d["X_test"], model)).numpy(),
            "exports": exports or {"param_groups": opt.state_dict()["param_groups"]},
            "schedule_record": schedule_record(schedule, rates, norms),
        }


def tensor(X: np.ndarray, model: dict[str, Any]) -> torch.Tensor:
    """NHWC images -> NCHW."""
    t = torch.from_numpy(X)
    return t.permute(0, 3, 1, 2).contiguous() if model["kind"] == "cnn" else t


def cross_validate(cv: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    """Plain loops over folds and strengths, full-batch SGD with momentum."""
    d = cv_inputs(cv, job)
    model = {"kind": "mlp", "sizes": cv["sizes"]}
    dt = getattr(torch, cv["dtype"])
    X, y = torch.from_numpy(d["X"]), torch.from_numpy(d["y"])
    scores = []
    for train_idx, test_idx in d["folds"]:
        tr, te = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
        row = []
        for s in cv["strengths"]:
            net = initialized(model, d["init"], dt)
            kernels = [p for p in params(net) if p.ndim > 1]
            opt = torch.optim.SGD(net.parameters(), lr=cv["lr"], momentum=cv["momentum"])
            for _ in range(cv["epochs"]):
                opt.zero_grad()
                loss = F.cross_entropy(net(X[tr]), y[tr])
                loss = loss + s / 2 * sum(w.square().sum() for w in kernels)
                loss.backward()
                opt.step()
            with torch.no_grad():
                row.append(-float(F.cross_entropy(net(X[te]), y[te])))
        scores.append(row)
    return {"scores": scores}


if __name__ == "__main__":
    main(train, cross_validate)
