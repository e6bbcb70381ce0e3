"""PyTorch side: torch.nn + stock torch.optim, the penalty as a loss term (or the coupled
weight_decay on a kernels-only parameter group), as a PyTorch user writes it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from parity._worker import batches, main, run_inputs

torch.use_deterministic_algorithms(True)


def train(spec: dict[str, Any], job: dict[str, np.ndarray]) -> dict[str, Any]:
    cfg, h, d = spec["config"], spec["hyper"], run_inputs(spec, job)
    dt = getattr(torch, cfg["dtype"])
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, h["hidden"]), torch.nn.ReLU(), torch.nn.Linear(h["hidden"], 3)
    ).to(dt)
    i = d["init"]
    with torch.no_grad():  # Keras kernels are (in, out); torch Linear.weight is (out, in)
        model[0].weight.copy_(torch.from_numpy(i["W1"].T.copy()))
        model[0].bias.copy_(torch.from_numpy(i["b1"]))
        model[2].weight.copy_(torch.from_numpy(i["W2"].T.copy()))
        model[2].bias.copy_(torch.from_numpy(i["b2"]))
    kernels = [model[0].weight, model[2].weight]
    biases = [model[0].bias, model[2].bias]
    pen = h["penalty"]
    l1, l2 = pen["l1"], pen["l2"]
    if spec["variant"] == "weight_decay":
        wd = l2  # torch's coupled weight_decay is the gradient of wd / 2 * sum w^2
        groups = [{"params": kernels, "weight_decay": wd}, {"params": biases, "weight_decay": 0.0}]
        l2 = 0.0  # carried by the optimizer instead of the loss
    else:
        groups = [{"params": kernels + biases}]
    if cfg["optimizer"] == "adam":
        opt = torch.optim.Adam(groups, lr=h["lr"], betas=(h["b1"], h["b2"]), eps=h["eps"])
    else:
        opt = torch.optim.SGD(groups, lr=h["lr"], momentum=h["momentum"])

    X = torch.from_numpy(d["X_train"])
    y = torch.from_numpy(d["y_train"])
    traj = [flat(model)]
    for order in d["orders"]:
        for idx in batches(order, h["batch"]):
            idx = torch.from_numpy(idx)
            opt.zero_grad()
            loss = F.cross_entropy(model(X[idx]), y[idx])
            if l1:
                loss = loss + l1 * sum(w.abs().sum() for w in kernels)
            if l2:
                loss = loss + l2 / 2 * sum(w.square().sum() for w in kernels)
            loss.backward()
            opt.step()
        traj.append(flat(model))
    with torch.no_grad():
        return {
            "trajectory": np.stack(traj),
            "train_logits": model(X).numpy(),
            "test_logits": model(torch.from_numpy(d["X_test"])).numpy(),
        }


def flat(model) -> np.ndarray:
    parts = [model[0].weight.T, model[0].bias, model[2].weight.T, model[2].bias]
    return np.concatenate([p.detach().numpy().astype(np.float64).ravel() for p in parts])


if __name__ == "__main__":
    main("torch", train)
