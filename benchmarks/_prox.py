"""Section ``prox``: how close each proximal map (and projection) is to the memory roofline.

A prox reads the parameters once and writes them once, so its floor is a read+write pass. Each
candidate, ``jit(lambda x: pen.prox(x, t))`` on one float32 leaf of N parameters, is timed in
alternating pairs with ``jit(lambda x: x * s)`` on the same leaf and device (one read, one
write), and the median of the per-pair ratios is reported. SLOPE-like sorts are reported
against ``jnp.sort`` of the same data: ``top_k`` (whole-leaf) is one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg as jr

from ._timing import paired

C = jr.constraints
KINDS: dict[str, Callable[[], jr.Penalty]] = {
    "l1": lambda: jr.l1(0.5),
    "mcp": lambda: jr.mcp(0.5, 3.0),
    "scad": lambda: jr.scad(0.5, 3.7),
    "l0": lambda: jr.l0(0.5),
    "lq(1/2)": lambda: jr.lq(0.5, 0.5),
    "lq(2/3)": lambda: jr.lq(0.5, 2 / 3),
    "non_negative": lambda: C.non_negative(),
    "box": lambda: C.box(-1.0, 1.0),
    "l2_ball": lambda: C.l2_ball(1.0, axis=0),
    "n_m(2:4)": lambda: C.n_m(2, 4, axis=1),
    "top_k(rows)": lambda: C.top_k(16, axis=1),
    "top_k(leaf)": lambda: C.top_k(1000),
}
SEPARABLE = ("l1", "mcp", "scad", "l0", "lq(1/2)", "lq(2/3)", "non_negative", "box")


def run(*, quick: bool, progress: Callable[[str], None], **_: Any) -> list[dict[str, Any]]:
    sizes = [10_240] if quick else [10_000_000, 100_000_000]
    pairs = 2 if quick else 5
    rows = []
    for n in sizes:
        x = jax.device_put(
            np.random.default_rng(0).standard_normal((n // 256, 256), dtype=np.float32)
        )
        x = jax.block_until_ready(x)
        scale = jax.jit(lambda x: x * 2.0)
        sort = jax.jit(lambda x: jnp.sort(x.ravel()))
        for name, make in KINDS.items():
            if name == "top_k(leaf)" and n > 10**7 and jax.default_backend() == "cpu":
                continue  # XLA:CPU sorts 1e8 floats in minutes: measured at 1e7 only
            pen = make()
            prox = jax.jit(lambda x, pen=pen: pen.prox(x, 0.1))
            r = paired(lambda: prox(x), lambda: scale(x), pairs=pairs)  # noqa: B023
            row = {
                "section": "prox",
                "device": str(jax.devices()[0]),
                "kind": name,
                "n": n,
                "seconds": r["seconds"],
                "read_write_seconds": r["reference_seconds"],
                "ratio_to_read_write": r["ratio"],
                "separable": name in SEPARABLE,
            }
            if name == "top_k(leaf)":
                s = paired(lambda: prox(x), lambda: sort(x), pairs=pairs)  # noqa: B023
                row["ratio_to_sort"] = s["ratio"]
            rows.append(row)
            progress(f"prox {name} n={n:.0e}: x{r['ratio']:.2f} of read+write")
    # SLOPE: the prox sorts and runs pool-adjacent-violators, a sequential loop: small N only
    n = 1024 if quick else 100_000
    x = jax.block_until_ready(jax.device_put(np.random.default_rng(0).standard_normal(n)))
    x = x.astype(jnp.float32)
    pen = jr.slope(np.linspace(1.0, 0.1, n))
    prox = jax.jit(lambda x: pen.prox(x, 0.1))
    sort = jax.jit(jnp.sort)
    r = paired(lambda: prox(x), lambda: sort(x), pairs=pairs)
    rows.append(
        {
            "section": "prox",
            "device": str(jax.devices()[0]),
            "kind": "slope",
            "n": n,
            "seconds": r["seconds"],
            "read_write_seconds": None,
            "ratio_to_read_write": None,
            "ratio_to_sort": r["ratio"],
            "separable": False,
        }
    )
    progress(f"prox slope n={n:.0e}: x{r['ratio']:.1f} of jnp.sort")
    return rows
