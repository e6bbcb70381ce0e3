"""What several test files share: NumPy float64 references of each penalty, small data sets
(scikit-learn's diabetes, a two-layer params dict), and running Python in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def ref_l1(x):
    return np.abs(f64(x)).sum()


def ref_l2(x):
    return 0.5 * (f64(x) ** 2).sum()


def ref_elastic_net(x, r):
    return r * ref_l1(x) + (1 - r) * ref_l2(x)


def ref_group_lasso(x, axis=-1):
    return np.sqrt((f64(x) ** 2).sum(axis=axis)).sum()


def _matrix(x):
    x = f64(x)
    return x if x.ndim == 2 else x.reshape(-1, x.shape[-1])


def ref_nuclear(x):
    return np.linalg.svd(_matrix(x), compute_uv=False).sum()


def ref_spectral(x):
    return np.linalg.norm(_matrix(x), ord=2)


def ref_orthogonal(x, mode="rows"):
    m = _matrix(x)
    if mode == "columns":
        m = m.T
    # keras.ops.normalize: x * min(1 / ||x||, 1 / epsilon), epsilon = 1e-7
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        unit = m * np.minimum(1.0 / norms, 1e7)
    n = m.shape[0]
    cos = [abs(unit[i] @ unit[j]) for i in range(n) for j in range(i + 1, n)]
    return float(np.mean(cos)) if cos else 0.0


def soft_threshold(x, tau):
    """The prox of tau * |x| (NumPy): sign(x) * max(|x| - tau, 0)."""
    return np.sign(x) * np.maximum(np.abs(x) - tau, 0)


def assert_close(actual, expected, *, rtol, atol=0.0, what=""):
    actual, expected = f64(actual), f64(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def central_difference(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Gradient of a NumPy scalar function by central differences, one coordinate at a time."""
    x = f64(x)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def json_worker(script: str, cases, *, timeout: int = 600):
    """Run ``tests/<script>`` in its own process (one framework per process): JSON in, JSON out."""
    proc = run_python(
        str(Path(__file__).with_name(script)), input=json.dumps(cases), timeout=timeout
    )
    return json.loads(proc.stdout)


def optimizer_data(shapes, steps: int):
    """Initial weights and ``steps`` gradients of the given shapes, from a fixed seed: what an
    optimizer reference worker and its optax reproduction both consume."""
    rng = np.random.default_rng(0)
    init = [rng.normal(size=s) for s in shapes]
    grads = [[rng.normal(size=s) for s in shapes] for _ in range(steps)]
    return init, grads


def run_optax(tx, init, grads, dtype):
    """``tx`` applied to ``init`` for each gradient list in ``grads``, jitted, in ``dtype``."""
    import jax
    import jax.numpy as jnp
    import optax

    params = [jnp.asarray(x, dtype) for x in init]
    state = tx.init(params)
    step = jax.jit(lambda g, s, p: tx.update(g, s, p))
    for g in grads:
        updates, state = step([jnp.asarray(x, dtype) for x in g], state, params)
        params = optax.apply_updates(params, updates)
    return params


def _as_mlp(leaves):
    import equinox as eqx
    import jax

    # eqx.nn.MLP keeps its layers in a tuple; its activation is a non-array leaf, filtered out
    mlp = eqx.nn.MLP(4, 3, width_size=2, depth=0, key=jax.random.key(0))
    mlp = eqx.tree_at(lambda m: (m.layers[0].weight, m.layers[0].bias), mlp, tuple(leaves))
    return eqx.filter(mlp, eqx.is_array)


def _as_sequential(leaves):
    import equinox as eqx
    import jax

    linear = eqx.nn.Linear(4, 3, key=jax.random.key(0))
    seq = eqx.nn.Sequential([eqx.nn.Lambda(jax.nn.relu), linear])
    seq = eqx.tree_at(lambda s: (s.layers[1].weight, s.layers[1].bias), seq, tuple(leaves))
    return eqx.filter(seq, eqx.is_array)


def _as_nnx_state(leaves):
    from flax import nnx

    class Two(nnx.Module):
        def __init__(self, kernel, last_bias):
            self.kernel, self.last_bias = nnx.Param(kernel), nnx.Param(last_bias)

    return nnx.state(Two(*leaves), nnx.Param)


# params trees of two leaves in the order given (the shapes of optimizer_data's SHAPES): tuples
# anywhere in the structure, as equinox and flax nnx users have them
PARAM_STRUCTURES = {
    "tuple": tuple,
    "eqx.nn.MLP": _as_mlp,
    "eqx.nn.Sequential": _as_sequential,
    "nnx.State": _as_nnx_state,
}


def run_optax_on(tx, init, grads, dtype, *, structure, jit=True):
    """`run_optax` with the params (and gradients) in one of `PARAM_STRUCTURES`; the final
    leaves as a list, in the given order."""
    import jax
    import jax.numpy as jnp
    import optax

    wrap = PARAM_STRUCTURES[structure]
    params = wrap([jnp.asarray(x, dtype) for x in init])
    assert [x.shape for x in jax.tree.leaves(params)] == [x.shape for x in init]
    state = tx.init(params)
    step = lambda g, s, p: tx.update(g, s, p)  # noqa: E731
    step = jax.jit(step) if jit else step
    for g in grads:
        updates, state = step(wrap([jnp.asarray(x, dtype) for x in g]), state, params)
        params = optax.apply_updates(params, updates)
    assert type(params) is type(wrap(init))
    return jax.tree.leaves(params)


def assert_same_training(params, framework_weights, init, dtype):
    """Final weights equal the framework's (float64 to 1e-12 of the largest weight, float32 to
    16 of its ulps), and the optimizer really moved them.

    float32: the scalars are the framework's to the bit, but single ops differ by an ulp now
    and then (torch's CPU kernels fuse some products into sums, XLA contracts others), a random
    walk of about sqrt(steps) half-ulps: 9 ulps after 300 steps."""
    for got, want, x0 in zip(params, framework_weights, init, strict=True):
        want = np.asarray(want)
        assert got.dtype == np.dtype(dtype)
        largest = np.abs(want).max()
        if np.dtype(dtype) == np.float64:
            atol = 1e-12 * largest
        else:
            atol = 16 * float(np.spacing(np.float32(largest)))
        np.testing.assert_allclose(f64(got), want, rtol=0, atol=atol)
        assert np.abs(want - x0).max() > 0.05


def run_example(script: str, tmp: Path, *args: str) -> tuple[str, dict, Path]:
    """Run ``examples/<script>`` as a user does (its own process, JAX defaults) with ``--plot``
    and ``--json`` into ``tmp``; return its stdout, its JSON and the plot's path."""
    out, png = tmp / f"{Path(script).stem}.json", tmp / f"{Path(script).stem}.png"
    proc = run_python(str(EXAMPLES / script), "--plot", str(png), "--json", str(out), *args)
    assert png.stat().st_size > 0
    return proc.stdout, json.loads(out.read_text()), png


def user_env() -> dict[str, str]:
    """This process's environment with the user's own XLA_FLAGS (tests/conftest.py adds a
    faster-compiling option for the tests themselves): what a process a test starts gets."""
    env = dict(os.environ)
    user_flags = env.pop("JAXREG_TESTS_USER_XLA_FLAGS", None)
    if user_flags is not None:  # conftest saved them (empty: there were none)
        env["XLA_FLAGS"] = user_flags
        if not user_flags:
            del env["XLA_FLAGS"]
    return env


def run_python(
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 600,
    python: str | Path = sys.executable,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """``python *args`` in its own process (JAX's defaults: tests/conftest.py's float64 does not
    reach it), from the repository root, its output captured as text. With ``check``, a non-zero
    exit fails the test and shows the end of the process's output."""
    proc = subprocess.run(
        [str(python), *args],
        cwd=cwd,
        env=user_env() if env is None else env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


def diabetes() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's diabetes data: ``(X, y)``, 442 x 10 float64, as ``load_diabetes`` returns
    them (each column centred and scaled to unit norm, y raw); new arrays on each call."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    return X, y


def dense_params(rng: np.random.Generator | None = None) -> dict:
    """Two dense layers, ``{"dense": {"kernel": (4, 3), "bias": (3,)}, "head": {"kernel":
    (3, 2), "bias": (2,)}}``, standard normal drawn from ``rng`` (default: seed 0): the small
    tree most penalty tests evaluate."""
    import jax.numpy as jnp

    rng = np.random.default_rng(0) if rng is None else rng
    return {
        "dense": {
            "kernel": jnp.asarray(rng.normal(size=(4, 3))),
            "bias": jnp.asarray(rng.normal(size=3)),
        },
        "head": {
            "kernel": jnp.asarray(rng.normal(size=(3, 2))),
            "bias": jnp.asarray(rng.normal(size=2)),
        },
    }


def nnx_model_of_every_layer_kind(seed: int = 0):
    """A flax nnx module with a Linear, a Conv, a MultiHeadAttention, an Embed, a BatchNorm and
    a LayerNorm (as attributes lin, conv, att, emb, bn, ln)."""
    from flax import nnx

    class NnxModel(nnx.Module):
        def __init__(self, rngs):
            self.lin = nnx.Linear(3, 4, rngs=rngs)
            self.conv = nnx.Conv(3, 4, (3, 3), rngs=rngs)
            self.att = nnx.MultiHeadAttention(
                num_heads=2, in_features=4, qkv_features=4, decode=False, rngs=rngs
            )
            self.emb = nnx.Embed(10, 4, rngs=rngs)
            self.bn = nnx.BatchNorm(4, rngs=rngs)
            self.ln = nnx.LayerNorm(4, rngs=rngs)

    return NnxModel(nnx.Rngs(seed))


LOOP_EMITTERS = "--xla_cpu_use_fusion_emitters=false"


def parity_env() -> dict[str, str]:
    """`user_env` plus XLA:CPU's loop emitters where tests/conftest.py found XLA knows them:
    the parity suite's JAX programs compile in 13% less CPU (reduced run: 272 -> 237 s) and
    train as fast. Not the tests' -O0: it slows the CNN's training more than it saves (272 ->
    306 s). `make parity` runs with the user's own flags."""
    env = user_env()
    if LOOP_EMITTERS in os.environ.get("XLA_FLAGS", "").split():
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {LOOP_EMITTERS}".strip()
    return env


def start_parity(tmp_path: Path, *args: str, name: str = "report", cwd: Path = ROOT):
    """Start ``python -m parity *args --json <tmp_path>/<name>.json`` (from ``cwd``), output and
    errors in one pipe, with `parity_env`; `finish` waits for it."""
    out = tmp_path / f"{name}.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "parity", *args, "--json", str(out)],
        cwd=cwd,
        env=parity_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, out


def finish(proc, out: Path) -> tuple[int, dict, str]:
    """The exit status, the JSON report (empty if none was written) and the output."""
    text, _ = proc.communicate(timeout=900)
    report = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, report, text


def run_parity(tmp_path: Path, *args: str, name: str = "report", cwd: Path = ROOT):
    """`start_parity` and `finish`: one run of the parity suite."""
    return finish(*start_parity(tmp_path, *args, name=name, cwd=cwd))
