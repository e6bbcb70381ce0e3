"""mkdocs hooks: the results of ``make parity`` and ``make bench`` (``parity/results/``,
``benchmarks/results/``) join the site at their repository paths, so the pages that include
their READMEs link to them as the READMEs do; and the API reference has an entry for every
public name (``__all__`` of ``jaxreg`` and of its public submodules), or the build fails; and
MathJax joins the site from the installed ``django-static-mathjax`` package (the ``dev`` extra),
so the math renders from ``site/`` opened as files, without a network."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
RESULTS = {"parity/results": (".png",), "benchmarks/results": (".png", ".md")}

MODULES = ["jaxreg", *(f"jaxreg.{m}" for m in ("constraints", "conventions", "linear"))]
MODULES += [f"jaxreg.{m}" for m in ("masks", "select", "transforms", "typing")]

# One self-contained file: TeX input, SVG output (no font files to fetch), every TeX extension
# (none is autoloaded from a URL). The pip package is MathJax's npm release as it is.
MATHJAX = "javascripts/mathjax/tex-svg-full.js"

_documented: set[str] = set()


def on_pre_build(config, **kwargs):
    _documented.clear()


def on_files(files, config, **kwargs):
    for folder, suffixes in RESULTS.items():
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in suffixes:
                uri = path.relative_to(ROOT).as_posix()
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    files.append(File.generated(config, MATHJAX, abs_src_path=str(_mathjax())))
    return files


def _mathjax() -> Path:
    spec = importlib.util.find_spec("mathjax")
    locations = spec.submodule_search_locations if spec else None
    path = Path(locations[0], "static/mathjax/es5/tex-svg-full.js") if locations else None
    if path is None or not path.is_file():
        raise PluginError(
            "MathJax not found: the docs bundle the copy of the django-static-mathjax package; "
            "run `make install` (or pip install -e '.[dev]')"
        )
    return path


def on_page_content(html, page, config, files, **kwargs):
    if page.file.src_uri.startswith("api/"):
        _documented.update(re.findall(r'<h\d id="(jaxreg[\w.]*)"', html))
    return html


def on_post_build(config, **kwargs):
    public = set()
    for name in MODULES:
        module = importlib.import_module(name)
        public |= {
            f"{name}.{n}" for n in module.__all__ if f"jaxreg.{n}" not in MODULES
        }  # submodules have their own page
    missing = sorted(public - _documented)
    if missing:
        raise PluginError(f"the API reference (docs/api/*.md) has no entry for {missing}")
