"""The wheel and the sdist: what they hold, and that the wheel works alone.

The wheel is installed into a fresh virtual environment (no system site-packages) with only
the dependencies it declares, so a missing dependency or a top-level optional import fails
here rather than on a user's machine.
"""

import importlib.metadata
import re
import shutil
import tarfile
import textwrap
import tomllib
import zipfile

import pytest
from helpers import ROOT, run_python

import jaxreg

# Run inside the fresh environment: the core works, and each optional function names its extra.
CHECK = textwrap.dedent(
    """
    import importlib.metadata, importlib.util, re
    import jax, jax.numpy as jnp, numpy as np
    import jaxreg as jr

    assert jr.__version__ == importlib.metadata.version("jaxreg"), jr.__version__
    pen = jr.l2(0.1, mask=jr.masks.kernels) + jr.l1(0.01)
    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
    assert abs(float(jax.jit(pen)(params)) - 0.38) < 1e-6

    for module in ("sklearn", "matplotlib", "keras", "flax", "equinox", "torch"):
        assert importlib.util.find_spec(module) is None, module + " is installed"

    def raises(extra, fn, *args):
        try:
            fn(*args)
        except ImportError as e:
            assert f"pip install 'jaxreg[{extra}]'" in str(e), str(e)
        else:
            raise AssertionError(f"{fn.__qualname__} ran without its extra [{extra}]")

    X, y = np.ones((4, 1)), np.ones(4)
    raises("select", jr.select.cross_validate, lambda s, X, y: s, lambda p, X, y: p, [1.0], X, y)
    raises("plot", jr.select.plot_path, None)
    raises("plot", jr.select.plot_cv, None)
    raises("plot", jr.select.plot_tune, None)
    raises("keras", jr.conventions.to_keras, jr.l2(0.01))
    print("ok", jr.__version__)
    """
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """An sdist, and a wheel built from it (as `python -m build` does), in a temporary dir."""
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: hatchling and build come with the dev extra, so nothing is downloaded
    run_python("-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT))
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_version_comes_from_the_metadata():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert jaxreg.__version__ == importlib.metadata.version("jaxreg") == version


@pytest.mark.slow  # builds the wheel and the sdist
def test_wheel_and_sdist_contents(dist):
    wheel, sdist = dist
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "jaxreg",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert "jaxreg/py.typed" in names and "jaxreg/__init__.py" in names
    with tarfile.open(sdist) as tar:
        files = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    assert "jaxreg/py.typed" in files and "pyproject.toml" in files and "tests/conftest.py" in files
    bad = [
        f
        for f in files
        if f.startswith((".venv", ".git/", ".hypothesis", ".pytest_cache", "dist/"))
        or "/results/" in f
        or "__pycache__" in f
        or f.endswith((".png", ".pyc"))
    ]
    assert not bad, bad


@pytest.mark.slow  # builds the wheel and the sdist
def test_the_long_description_has_no_relative_links(dist):
    # PyPI would resolve README.md's links (docs/index.md, ...) against its own site
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
    assert "Description-Content-Type: text/markdown" in text
    assert "## Documentation" in text and "Getting started (`docs/index.md`)" in text
    assert not re.findall(r"\]\((?!https?://|#)[^)]+\)", text)


@pytest.mark.slow  # builds the wheel and the sdist
def test_wheel_works_in_a_fresh_environment_with_only_core_dependencies(dist, tmp_path):
    wheel, _ = dist
    env = tmp_path / "venv"
    python = env / "bin" / "python"
    # no pip inside: the running pip installs into it (--python), which saves bootstrapping one;
    # --no-compile: Python compiles what the check imports, not all of jax and scipy;
    # --retries 1: offline, pip takes the wheels from its local indexes and caches in 3 s
    # instead of a minute of retries
    install = ["-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile"]
    install += ["--retries", "1", "--disable-pip-version-check", str(wheel)]
    try:
        run_python("-m", "venv", "--without-pip", str(env))
        run_python(*install)
        run = run_python("-c", CHECK, python=python, cwd=tmp_path)
        assert run.stdout.strip() == f"ok {jaxreg.__version__}"
    finally:  # half a gigabyte, which pytest would keep with its last three temporary dirs
        shutil.rmtree(env, ignore_errors=True)
