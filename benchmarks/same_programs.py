"""Whether the penalty benchmark's programs changed between two trees: ``python -m
benchmarks.same_programs OUT.json`` (run it in each tree, then compare the two files).

For every case of the penalty section at 1e7 parameters (layouts one, mix, 1,000 and 10,000
leaves; l2, l1, elastic net and group lasso in float32, l2 in bfloat16; value and value+grad)
it writes a hash and the op count of ``jax.jit(f).lower(leaves)``'s StableHLO, source locations
removed. Equal hashes mean XLA compiles the same program from the same input, so its speed
cannot have changed: a proof that needs no quiet machine, where a timing on a loaded one
cannot tell 5% apart (benchmarks/README.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

from ._penalty import PENALTIES, layout_shapes


def program_hashes(
    n: int = 10**7, layouts: tuple[str, ...] = ("one", "mix", "thousand", "tiny")
) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for lay in layouts:
        for dtype in (jnp.float32, jnp.bfloat16):
            leaves = [jax.ShapeDtypeStruct(s, dtype) for s in layout_shapes(lay, n)]
            for pname in PENALTIES if dtype == jnp.float32 else ["l2"]:
                pen = PENALTIES[pname]()
                for mode, f in (("value", pen), ("value+grad", jax.value_and_grad(pen))):
                    text = re.sub(r"loc\([^)]*\)", "", jax.jit(f).lower(leaves).as_text())
                    text = "\n".join(s for s in text.splitlines() if not s.startswith("#loc"))
                    key = f"{lay}/{jnp.dtype(dtype).name}/{pname}/{mode}"
                    sha = hashlib.sha256(text.encode()).hexdigest()[:16]
                    out[key] = {"sha256": sha, "ops": text.count(" = ")}
    return out


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(program_hashes(), indent=1))
