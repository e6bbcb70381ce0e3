"""Choose the strength by cross-validation: the Iris MLP (L2) and the diabetes Lasso.

Run: ``python examples/choose_lambda.py [--out DIR] [--quick]`` (``--quick``, for the test:
20 strengths for the Lasso; the Iris MLP with 8 strengths and 200 Adam steps). Prints the
chosen strengths and writes ``lasso_path.png``, ``lasso_cv.png`` and ``iris_cv.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # Lasso to scikit-learn's precision

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxreg as jr  # noqa: E402

matplotlib.use("Agg")


def diabetes_lasso(out: Path, *, num: int = 50) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import KFold

    X, y = load_diabetes(return_X_y=True)
    Xc, yc = jnp.asarray(X - X.mean(0)), jnp.asarray(y - y.mean())
    lmax = float(
        jr.select.lambda_max(
            lambda w: 0.5 * jnp.mean((yc - Xc @ w) ** 2), jnp.zeros(10), jr.l1(1.0)
        )
    )
    grid = jr.select.strength_grid(lmax, num=num, ratio=1e-3)

    def train(s, Xt, yt):
        f = lambda p: 0.5 * jnp.mean((yt - Xt @ p["w"] - p["b"]) ** 2)  # noqa: E731
        p0 = {"w": jnp.zeros(Xt.shape[1]), "b": jnp.mean(yt)}
        return jr.solve(f, jr.l1(s, mask={"w": True, "b": False}), p0, max_iter=100_000, tol=1e-12)[
            0
        ]

    def neg_mse(p, Xt, yt):
        return -jnp.mean((yt - Xt @ p["w"] - p["b"]) ** 2)

    t = time.perf_counter()
    cv = jr.select.cross_validate(train, neg_mse, grid, X, y, folds=KFold(5))
    seconds = time.perf_counter() - t
    print(f"diabetes Lasso: lambda_max {lmax:.4g}; {num} strengths x 5 folds in {seconds:.1f} s")
    print(
        f"  best strength {cv.best_strength:.4g} (CV MSE {-cv.mean_score.max():.1f}), "
        f"one-SE {cv.one_se_strength:.4g}"
    )
    res = jr.select.path(
        lambda w: 0.5 * jnp.mean((yc - Xc @ w) ** 2), jr.l1, grid, jnp.zeros(10), max_iter=100_000
    )
    fig = jr.select.plot_path(res)
    ax = fig.axes[0]
    ax.axvline(cv.best_strength, ls="--", color="C3", label="CV best")
    ax.axvline(cv.one_se_strength, ls=":", color="C2", label="one-SE")
    ax.set_title("diabetes: Lasso path (jr.select.path)")
    ax.legend()
    fig.savefig(out / "lasso_path.png", dpi=110)
    fig = jr.select.plot_cv(cv)
    fig.axes[0].set_title("diabetes: 5-fold CV of the Lasso (score = -MSE)")
    fig.savefig(out / "lasso_cv.png", dpi=110)


def iris_mlp(out: Path, *, num: int = 32, steps: int = 1400) -> None:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)

    def train(strength, X, y):
        k1, k2 = jax.random.split(jax.random.key(0))
        p = {
            "w1": jax.random.normal(k1, (4, 16), jnp.float32) * 0.5,
            "b1": jnp.zeros(16, jnp.float32),
            "w2": jax.random.normal(k2, (16, 3), jnp.float32) * 0.5,
            "b2": jnp.zeros(3, jnp.float32),
        }

        def ce(p):
            logits = jax.nn.relu(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss = jr.regularized(ce, jr.l2(strength, mask=jr.masks.kernels))
        opt = optax.adam(0.01)

        def step(c, _):
            p, s = c
            u, s = opt.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        return jax.lax.scan(step, (p, opt.init(p)), None, length=steps)[0][0]

    def neg_log_loss(p, X, y):
        logits = jax.nn.relu(X @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return -optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    strengths = np.geomspace(1.0, 1e-5, num).astype(np.float32)
    t = time.perf_counter()
    cv = jr.select.cross_validate(train, neg_log_loss, strengths, X, y, folds=5)
    seconds = time.perf_counter() - t
    print(f"Iris MLP (L2 on kernels): {num} strengths x 5 folds x {steps} Adam steps", end="")
    print(f" in {seconds:.1f} s")
    print(
        f"  best strength {cv.best_strength:.3g} (CV log-loss {-cv.mean_score.max():.3f}), "
        f"one-SE {cv.one_se_strength:.3g}"
    )
    fig = jr.select.plot_cv(cv)
    fig.axes[0].set_title("Iris MLP: 5-fold CV of the L2 strength (score = -log-loss)")
    fig.savefig(out / "iris_cv.png", dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=".", help="directory for the PNGs")
    ap.add_argument("--quick", action="store_true", help="fewer strengths and steps (tests)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diabetes_lasso(out, **(dict(num=20) if args.quick else {}))
    iris_mlp(out, **(dict(num=8, steps=200) if args.quick else {}))
    print(f"wrote {out / 'lasso_path.png'}, {out / 'lasso_cv.png'}, {out / 'iris_cv.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
