"""Accelerator penalty benchmark: bandwidth against a device copy, and torch._foreach_norm.

``python -m benchmarks._gpu --json PATH [--markdown PATH] [--quick]`` (``benchmarks/gpu.sh``
runs it on a GPU). The roofline on an accelerator is a large copy ``y = s * x`` of the same
bytes (one read and one write), timed in alternating pairs with each candidate. A penalty value
reads the weights once, so its goal is ``value GB/s >= 0.85 * copy GB/s`` at N = 1e9 float32;
value+grad reads them and writes the gradient, the same traffic as the copy. ``torch.
_foreach_norm`` runs on the same device over the same buffers (shared through DLPack) and is
paired with jaxreg's l2 value.

``--quick`` (tiny sizes, whatever device JAX and torch have, a CPU included) is what the tests
run, so that the script cannot rot on machines without a GPU; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from ._penalty import PENALTIES, layout_shapes

FRACTION_GOAL = 0.85


def _paired(cand: Callable[[], Any], ref: Callable[[], Any], pairs: int) -> dict[str, float]:
    """Each callable waits for its own result; returns median times and per-pair ratio."""

    def once(fn: Callable[[], Any]) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    once(cand), once(ref)  # compile / warm up
    c, r = [], []
    for _ in range(pairs):
        c.append(once(cand))
        r.append(once(ref))
    return {
        "seconds": statistics.median(c),
        "reference_seconds": statistics.median(r),
        "ratio": statistics.median(a / b for a, b in zip(c, r, strict=True)),
    }


def _leaves(lay: str, n: int, dtype: Any, dev: Any) -> list[jax.Array]:
    """Standard-normal leaves generated on the device (host generation of 1e9 floats is slow)."""
    shapes = layout_shapes(lay, n)
    keys = jax.device_put(jax.random.split(jax.random.key(0), len(shapes)), dev)
    make = jax.jit(jax.random.normal, static_argnums=(1, 2))  # runs where its key lives
    return [make(k, s, dtype) for k, s in zip(keys, shapes, strict=True)]


def _case(n: int, lay: str, dtype: Any, dev: Any, *, pairs: int, progress) -> list[dict]:
    import torch

    leaves = _leaves(lay, n, dtype, dev)
    jax.block_until_ready(leaves)
    nbytes = sum(x.nbytes for x in leaves)
    flat = jnp.ones(nbytes // jnp.dtype(dtype).itemsize, dtype, device=dev)
    copy = jax.jit(lambda x, s: x * s)
    scale = jnp.asarray(1.0001, dtype)

    def copy_once():
        copy(flat, scale).block_until_ready()

    rows = []
    penalties = list(PENALTIES) if dtype == jnp.float32 else ["l2"]
    for pname in penalties:
        pen = PENALTIES[pname]()
        for mode, fn in (("value", pen), ("value+grad", jax.value_and_grad(pen))):
            f = jax.jit(fn)
            m = _paired(lambda f=f: jax.block_until_ready(f(leaves)), copy_once, pairs)
            moved = nbytes * (1 if mode == "value" else 2)
            # per-pair: (moved / t) / (2 nbytes / t_ref) = moved / (2 nbytes) / ratio
            fraction = moved / (2 * nbytes) / m["ratio"]
            rows.append(
                {
                    "n": n,
                    "layout": lay,
                    "leaves": len(leaves),
                    "dtype": jnp.dtype(dtype).name,
                    "mode": mode,
                    "candidate": f"jaxreg {pname}",
                    "seconds": m["seconds"],
                    "copy_seconds": m["reference_seconds"],
                    "gb_per_s": moved / m["seconds"] / 1e9,
                    "copy_gb_per_s": 2 * nbytes / m["reference_seconds"] / 1e9,
                    "fraction_of_copy": fraction,
                }
            )
            progress(
                f"{lay:4s} n={n:.0e} {rows[-1]['dtype']:8s} {mode:10s} {pname:11s} "
                f"{m['seconds'] * 1e3:8.3f} ms {rows[-1]['gb_per_s']:7.1f} GB/s "
                f"{fraction:.2f} of copy"
            )
    tensors = [torch.from_dlpack(x) for x in leaves]
    sync = torch.cuda.synchronize if tensors[0].is_cuda else (lambda: None)

    def foreach():
        out = torch.stack(torch._foreach_norm(tensors)).float().square().sum() * 0.5e-3
        sync()
        return out

    ours = jax.jit(PENALTIES["l2"]())
    m = _paired(foreach, lambda: jax.block_until_ready(ours(leaves)), pairs)
    rows.append(
        {
            "n": n,
            "layout": lay,
            "leaves": len(leaves),
            "dtype": jnp.dtype(dtype).name,
            "mode": "value",
            "candidate": "torch._foreach_norm",
            "seconds": m["seconds"],
            "jaxreg_l2_seconds": m["reference_seconds"],
            "jaxreg_speedup": m["ratio"],
        }
    )
    progress(
        f"{lay:4s} n={n:.0e} {rows[-1]['dtype']:8s} torch._foreach_norm "
        f"{m['seconds'] * 1e3:.3f} ms, jaxreg l2 {m['reference_seconds'] * 1e3:.3f} ms "
        f"(jaxreg x{m['ratio']:.2f} faster)"
    )
    return rows


def goals(rows: list[dict]) -> list[tuple[str, str, bool]]:
    out = []
    top = max(r["n"] for r in rows)
    at_top = [
        r
        for r in rows
        if r["n"] == top
        and r["dtype"] == "float32"
        and r["mode"] == "value"
        and "fraction_of_copy" in r
    ]
    if at_top:
        worst = min(at_top, key=lambda r: r["fraction_of_copy"])
        out.append(
            (
                f"penalty value >= {FRACTION_GOAL} of copy bandwidth at N = {top:.0e} float32",
                f"worst {worst['fraction_of_copy']:.2f} ({worst['candidate']}, {worst['layout']})",
                worst["fraction_of_copy"] >= FRACTION_GOAL,
            )
        )
    fe = [r for r in rows if r["candidate"] == "torch._foreach_norm"]
    if fe:
        worst = min(fe, key=lambda r: r["jaxreg_speedup"])
        out.append(
            (
                "faster than torch._foreach_norm on the same device",
                f"worst x{worst['jaxreg_speedup']:.2f} ({worst['layout']}, n={worst['n']:.0e}, "
                f"{worst['dtype']})",
                worst["jaxreg_speedup"] > 1.0,
            )
        )
    return out


def markdown(report: dict) -> str:
    rows = report["rows"]
    lines = [
        f"# Penalty on {report['device_kind']} (jax {report['jax']}, torch {report['torch']})",
        "",
        "| goal | measured | met |",
        "|---|---|---|",
    ]
    lines += [f"| {g} | {m} | {'yes' if ok else '**no**'} |" for g, m, ok in goals(rows)]
    lines += [
        "",
        "| layout | N | dtype | mode | candidate | ms | GB/s | copy GB/s | of copy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "fraction_of_copy" in r:
            lines.append(
                f"| {r['layout']} | {r['n']:.0e} | {r['dtype']} | {r['mode']} | {r['candidate']} "
                f"| {r['seconds'] * 1e3:.3f} | {r['gb_per_s']:.0f} | {r['copy_gb_per_s']:.0f} "
                f"| {r['fraction_of_copy']:.2f} |"
            )
    lines += ["", "| layout | N | dtype | torch._foreach_norm ms | jaxreg l2 ms | jaxreg faster |"]
    lines += ["|---|---|---|---|---|---|"]
    for r in rows:
        if r["candidate"] == "torch._foreach_norm":
            lines.append(
                f"| {r['layout']} | {r['n']:.0e} | {r['dtype']} | {r['seconds'] * 1e3:.3f} "
                f"| {r['jaxreg_l2_seconds'] * 1e3:.3f} | x{r['jaxreg_speedup']:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks._gpu", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--json", required=True)
    ap.add_argument("--markdown")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run on any device")
    ap.add_argument("--max-n", type=float, default=1e9)
    args = ap.parse_args(argv)
    import torch

    start = time.perf_counter()

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    dev = jax.devices()[0]
    sizes = [10**4, 10**5] if args.quick else [n for n in (10**7, 10**8, 10**9) if n <= args.max_n]
    pairs = 3 if args.quick else 7
    cases = [(n, lay, jnp.float32) for n in sizes for lay in ("one", "mix")]
    cases += [(sizes[-1], lay, jnp.bfloat16) for lay in ("one", "mix")]
    rows = []
    for n, lay, dtype in cases:
        rows += _case(n, lay, dtype, dev, pairs=pairs, progress=progress)
    report = {
        "quick": args.quick,
        "device": str(dev),
        "device_kind": dev.device_kind,
        "platform": dev.platform,
        "jax": jax.__version__,
        "torch": torch.__version__,
        "seconds": time.perf_counter() - start,
        "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(markdown(report))
    for goal, measured, met in goals(rows):
        progress(f"goal: {goal}: {measured} -> {'met' if met else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
