"""mkdocs hooks: the results of ``make parity`` and ``make bench`` (``parity/results/``,
``benchmarks/results/``) join the site at their repository paths, so the pages that include
their READMEs link to them as the READMEs do; and the API reference has an entry for every
public name (``__all__`` of ``jaxreg`` and of its public submodules), or the build fails."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
RESULTS = {"parity/results": (".png",), "benchmarks/results": (".png", ".md")}

MODULES = ["jaxreg", *(f"jaxreg.{m}" for m in ("constraints", "conventions", "linear"))]
MODULES += [f"jaxreg.{m}" for m in ("masks", "select", "transforms")]

_documented: set[str] = set()


def on_pre_build(config, **kwargs):
    _documented.clear()


def on_files(files, config, **kwargs):
    for folder, suffixes in RESULTS.items():
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in suffixes:
                uri = path.relative_to(ROOT).as_posix()
                files.append(File.generated(config, uri, abs_src_path=str(path)))
    return files


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
