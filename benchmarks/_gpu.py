"""GPU penalty benchmark: bandwidth against a device-to-device copy, and torch._foreach_norm.

``python -m benchmarks._gpu --json PATH`` (run by ``benchmarks/gpu.sh``). The roofline on a GPU
is a large copy ``y = s * x`` (read + write of the same bytes), timed in alternating pairs with
the penalty (read once); the goal is penalty GB/s >= 0.85 of copy GB/s at N = 1e9 float32.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxreg as jr

from ._penalty import layout


def _time(fn, sync) -> float:
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def paired(cand, ref, sync, pairs=7):
    _time(cand, sync), _time(ref, sync)
    c, r = [], []
    for _ in range(pairs):
        c.append(_time(cand, sync))
        r.append(_time(ref, sync))
    return (
        statistics.median(c),
        statistics.median(r),
        statistics.median(a / b for a, b in zip(c, r, strict=True)),
    )


def _one_case(n: int, lay: str, dev, copy) -> list[dict]:
    import numpy as np
    import torch

    leaves = [jax.device_put(x, dev) for x in layout(lay, n, np.float32, np.random.default_rng(0))]
    nbytes = sum(x.nbytes for x in leaves)
    flat = jnp.ones(nbytes // 4, jnp.float32, device=dev)
    scale = jnp.float32(1.0001)
    rows = []

    def copy_once():
        copy(flat, scale).block_until_ready()

    for pname, pen in (("l2", jr.l2(1e-3)), ("l1", jr.l1(1e-3))):
        f = jax.jit(pen)
        t, tref, _ = paired(functools.partial(_run, f, leaves), copy_once, lambda: None)
        pen_bw, copy_bw = nbytes / t / 1e9, 2 * nbytes / tref / 1e9
        rows.append(
            {
                "n": n,
                "layout": lay,
                "candidate": f"jaxreg {pname}",
                "seconds": t,
                "gb_per_s": pen_bw,
                "copy_gb_per_s": copy_bw,
                "fraction_of_copy": pen_bw / copy_bw,
            }
        )
        print(
            f"{lay} n={n:.0e} {pname}: {pen_bw:.0f} GB/s, {pen_bw / copy_bw:.2f} of copy",
            flush=True,
        )
    tensors = [torch.from_dlpack(x) for x in leaves]
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

    def foreach():
        return torch.stack(torch._foreach_norm(tensors)).square().sum()

    ours = functools.partial(_run, jax.jit(jr.l2(1e-3)), leaves)
    t_torch = statistics.median(_time(foreach, sync) for _ in range(7))
    t_ours = statistics.median(_time(ours, sync) for _ in range(7))
    rows.append(
        {
            "n": n,
            "layout": lay,
            "candidate": "torch._foreach_norm",
            "seconds": t_torch,
            "jaxreg_l2_seconds": t_ours,
            "jaxreg_speedup": t_torch / t_ours,
        }
    )
    print(
        f"{lay} n={n:.0e} foreach_norm {t_torch * 1e3:.2f} ms, jaxreg {t_ours * 1e3:.2f} ms",
        flush=True,
    )
    return rows


def _run(f, leaves):
    f(leaves).block_until_ready()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--max-n", type=float, default=1e9)
    args = ap.parse_args(argv)
    import torch

    dev = jax.devices()[0]
    copy = jax.jit(lambda x, s: x * s)
    rows = []
    for n in (n for n in (10**7, 10**8, 10**9) if n <= args.max_n):
        for lay in ("one", "mix"):
            rows += _one_case(n, lay, dev, copy)
    out = {
        "device": str(dev),
        "device_kind": dev.device_kind,
        "jax": jax.__version__,
        "torch": torch.__version__,
        "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
