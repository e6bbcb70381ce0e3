"""Run in its own process (torch apart from JAX): torch.optim's own updates.

Reads JSON cases on stdin ({"name", "groups": [param-group hyperparameters, one per tensor],
"dtype", "init": [arrays], "grads": [[arrays] per step]}), writes JSON on stdout: the final
weights and the optimizer's state_dict()["param_groups"] (what jaxreg converts).
"""

import json
import sys

import numpy as np
import torch


def main() -> None:
    out = []
    for case in json.load(sys.stdin):
        dtype = {"float64": torch.float64, "float32": torch.float32}[case["dtype"]]
        tensors = [
            torch.tensor(np.asarray(x), dtype=dtype, requires_grad=True) for x in case["init"]
        ]
        groups = [{"params": [t], **g} for t, g in zip(tensors, case["groups"], strict=True)]
        # the first group's settings as constructor defaults too: torch's Adagrad fills its
        # sums from the constructor's initial_accumulator_value, whatever a group says
        opt = getattr(torch.optim, case["name"])(groups, **case["groups"][0])
        for grads in case["grads"]:
            for t, g in zip(tensors, grads, strict=True):
                t.grad = torch.tensor(np.asarray(g), dtype=dtype)
            opt.step()
        param_groups = [
            {k: v for k, v in g.items() if k != "params"} for g in opt.state_dict()["param_groups"]
        ]
        out.append(
            {
                "weights": [t.detach().double().numpy().tolist() for t in tensors],
                "param_groups": param_groups,
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
