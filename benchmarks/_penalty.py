"""Section 1: is the penalty free? Value and value+grad against the memory roofline.

Every candidate is timed in alternating pairs with the roofline for the same bytes (NumPy's
dot over one contiguous float32 buffer; plus ``np.multiply(x, s, out=y)`` for value+grad), so
the candidate/roofline ratio is robust to this machine's drift, and candidate-vs-candidate
ratios are quotients of two such ratios.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxreg as jr

from ._timing import paired

PENALTIES: dict[str, Callable[[], jr.Penalty]] = {
    "l2": lambda: jr.l2(1e-3),
    "l1": lambda: jr.l1(1e-3),
    "elastic_net": lambda: jr.elastic_net(1e-3, 0.5),
    "group_lasso": lambda: jr.group_lasso(1e-3),
}


def layout_shapes(name: str, n: int, tiny: int = 10_000) -> list[tuple[int, ...]]:
    """Leaf shapes of ``n`` parameters as one leaf, a transformer-like mix, 1,000 equal leaves
    (the core issue's 3e7-over-1,000-leaves case), or ``tiny`` tiny leaves."""
    if name == "one":
        return [(n // 256, 256) if n >= 256 else (n,)]
    if name == "thousand":
        return [(n // 1000,)] * 1000
    if name == "tiny":
        return [(max(1, n // tiny),)] * tiny
    if name != "mix":
        raise ValueError(f"layout must be one, mix, thousand or tiny; got {name!r}.")
    # 12 layers of attention (4 d x d) + MLP (d x 4d, 4d x d), biases and two LayerNorms
    layers = 12
    d = max(4, int((n / layers / 12) ** 0.5))
    shapes: list[tuple[int, ...]] = []
    for _ in range(layers):
        shapes += [(d, d)] * 4 + [(d,)] * 4 + [(d, 4 * d), (4 * d,), (4 * d, d), (d,)] + [(d,)] * 4
    return shapes


def layout(
    name: str, n: int, dtype: Any, rng: np.random.Generator, tiny: int = 10_000
) -> list[np.ndarray]:
    """Standard-normal NumPy leaves with the shapes of :func:`layout_shapes`."""
    return [
        rng.standard_normal(s, dtype=np.float32).astype(dtype) for s in layout_shapes(name, n, tiny)
    ]


def _roofline(nbytes: int, grad: bool) -> Callable[[], Any]:
    buf = np.random.default_rng(1).standard_normal(nbytes // 4, dtype=np.float32)
    out = np.empty_like(buf)

    def value():
        return np.dot(buf, buf)

    def value_and_grad():
        v = np.dot(buf, buf)
        np.multiply(buf, np.float32(2e-3), out=out)
        return v

    return value_and_grad if grad else value


#: Above this many leaves optax.tree.norm is not run: it reduces leaf by leaf and XLA's compile
#: time grows superlinearly (minutes at 3,000 leaves; not finished after 2 minutes at 10,000).
TREE_NORM_MAX_LEAVES = 1000


def _baselines(leaves_np: list[np.ndarray], grad: bool) -> dict[str, Callable[[], Any]]:
    """What users would otherwise run for 1/2 * sum w^2 (l2)."""
    import optax
    import torch
    from jax.flatten_util import ravel_pytree

    leaves = [jnp.asarray(x) for x in leaves_np]
    tensors = [torch.from_numpy(x.astype(np.float32)) for x in leaves_np]
    out: dict[str, Callable[[], Any]] = {}

    def eager(p):
        return 0.5e-3 * sum(jnp.sum(x * x) for x in p)

    ravel = jax.jit(lambda p: 0.5e-3 * jnp.sum(jnp.square(ravel_pytree(p)[0])))
    tree_norm = jax.jit(lambda p: 0.5e-3 * optax.tree.norm(p, squared=True))
    many = len(leaves) > TREE_NORM_MAX_LEAVES
    if not grad:
        out["jax eager loop"] = lambda: eager(leaves)
        if not many:
            out["optax.tree.norm"] = lambda: tree_norm(leaves)
        out["ravel_pytree"] = lambda: ravel(leaves)
        out["torch loop"] = lambda: 0.5e-3 * sum((t * t).sum() for t in tensors)
        out["torch._foreach_norm"] = lambda: (
            0.5e-3 * torch.stack(torch._foreach_norm(tensors)).square().sum()
        )
        return out
    eager_vg = jax.value_and_grad(eager)
    out["jax eager loop"] = lambda: eager_vg(leaves)
    if not many:
        out["optax.tree.norm"] = functools.partial(jax.jit(jax.value_and_grad(tree_norm)), leaves)
    out["ravel_pytree"] = functools.partial(jax.jit(jax.value_and_grad(ravel)), leaves)
    params = [t.clone().requires_grad_(True) for t in tensors]

    def torch_vg():
        for p in params:
            p.grad = None
        loss = 0.5e-3 * sum((p * p).sum() for p in params)
        loss.backward()
        return loss

    out["torch loop"] = torch_vg
    return out


def run(
    *,
    quick: bool,
    progress: Callable[[str], None],
    sizes: list[int] | None = None,
    layouts: list[str] | None = None,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    sizes = sizes or ([10**4] if quick else [10**4, 10**5, 10**6, 10**7, 10**8])
    layouts = layouts or ["one", "mix", "tiny"]
    pairs = 2 if quick else 7
    rows: list[dict[str, Any]] = []
    cases = []
    for n in sizes:
        for lay in layouts:
            if lay == "tiny" and not (quick or 10**5 <= n <= 10**7):
                continue
            cases.append((n, lay, np.float32))
    bf16_n = 10**4 if quick else 10**7
    if bf16_n in sizes:
        cases += [(bf16_n, lay, jnp.bfloat16) for lay in ("one", "mix") if lay in layouts]
    for n, lay, dtype in cases:
        leaves_np = layout(lay, n, dtype, rng, tiny=50 if quick else 10_000)
        leaves = [jnp.asarray(x) for x in leaves_np]
        count = sum(x.size for x in leaves_np)
        nbytes = sum(x.nbytes for x in leaves_np)
        dname = jnp.dtype(dtype).name
        if dtype != np.float32:
            penalties = ["l2"]
        elif quick or lay == "tiny":  # 10,000 leaves: every value+grad compile takes ~10 s
            penalties = ["l2", "l1"]
        else:
            penalties = list(PENALTIES)
        for grad in (False, True):
            roof = _roofline(nbytes, grad)
            moved = nbytes * (2 if grad else 1)  # value+grad reads the weights and writes grads
            candidates: dict[str, Callable[[], Any]] = {}
            for pname in penalties:
                pen = PENALTIES[pname]()
                f = jax.jit(jax.value_and_grad(pen) if grad else pen)
                candidates[f"jaxreg {pname}"] = functools.partial(f, leaves)
            if dtype == np.float32:
                candidates.update(_baselines(leaves_np, grad))
            for cname, fn in candidates.items():
                m = paired(fn, roof, pairs=pairs)
                row = {
                    "section": "penalty",
                    "layout": lay,
                    "n": count,
                    "leaves": len(leaves_np),
                    "dtype": dname,
                    "mode": "value+grad" if grad else "value",
                    "candidate": cname,
                    "seconds": m["seconds"],
                    "roofline_seconds": m["reference_seconds"],
                    "ratio_to_roofline": m["ratio"],
                    "gb_per_s": moved / m["seconds"] / 1e9,
                }
                rows.append(row)
                progress(
                    f"penalty {lay:4s} n={count:.0e} {dname:8s} {row['mode']:10s} {cname:22s} "
                    f"{m['seconds'] * 1e3:9.3f} ms  x{m['ratio']:.2f} roofline  "
                    f"{row['gb_per_s']:.1f} GB/s"
                )
    if "one" in layouts:
        rows += _matrix_norms(quick=quick, progress=progress)
    return rows


def _matrix_norms(*, quick: bool, progress) -> list[dict[str, Any]]:
    """nuclear / spectral against NumPy's SVD of the same matrix (the honest baseline: both
    need singular values)."""
    rows = []
    rng = np.random.default_rng(2)
    for d in [64, 256] if quick else [64, 256, 1024]:
        w = rng.standard_normal((d, d), dtype=np.float32)
        wj = jnp.asarray(w)
        for pname, pen in (("nuclear", jr.nuclear(1e-3)), ("spectral", jr.spectral(1e-3))):
            f = jax.jit(pen)
            m = paired(
                lambda f=f, wj=wj: f(wj),
                lambda w=w: np.linalg.svd(w, compute_uv=False),
                pairs=3,
            )
            rows.append(
                {
                    "section": "matrix",
                    "candidate": f"jaxreg {pname}",
                    "n": d * d,
                    "shape": [d, d],
                    "seconds": m["seconds"],
                    "numpy_svd_seconds": m["reference_seconds"],
                    "ratio_to_numpy_svd": m["ratio"],
                }
            )
            progress(
                f"matrix  {pname:8s} {d}x{d}: {m['seconds'] * 1e3:.2f} ms, "
                f"x{m['ratio']:.2f} numpy svd"
            )
    return rows
