"""Every penalty builder in `jaxreg/_kinds/` is public, in ``__all__`` and in the API docs.

Adding a kind is its class and builder in a family module plus tests; the re-export (for type
checkers: the wheel is typed, so no star imports) and the API page's line are the two
registrations this test asks for, by name, when they are missing.
"""

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import jaxreg
import jaxreg._kinds
from jaxreg import Term

DOCS = Path(__file__).resolve().parents[1] / "docs" / "api"


def _builders():
    for info in pkgutil.iter_modules(jaxreg._kinds.__path__):
        module = importlib.import_module(f"jaxreg._kinds.{info.name}")
        for name, f in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(f) or f.__module__ != module.__name__:
                continue
            returned = inspect.signature(f).return_annotation
            if isinstance(returned, str):  # postponed annotations: the name in its module
                returned = getattr(module, returned, None) or getattr(jaxreg, returned, None)
            if isinstance(returned, type) and issubclass(returned, Term):
                yield info.name, name, f


BUILDERS = sorted(_builders(), key=lambda b: b[:2])


def test_every_family_module_has_a_builder():
    assert {family for family, _, _ in BUILDERS} >= {
        "separable",
        "nonconvex",
        "group",
        "sorted",
        "matrix",
        "constraints",
    }


@pytest.mark.parametrize(("family", "name", "builder"), BUILDERS, ids=[b[1] for b in BUILDERS])
def test_builder_is_exported_and_documented(family, name, builder):
    public, page = (
        (jaxreg.constraints, "constraints.md") if family == "constraints" else (jaxreg, "jaxreg.md")
    )
    where = public.__name__
    assert getattr(public, name, None) is builder, (
        f"add `from ._kinds.{family} import {name} as {name}` to {where.replace('.', '/')}"
        f"{'/__init__' if where == 'jaxreg' else ''}.py"
    )
    assert name in public.__all__, f"add {name!r} to {where}.__all__"
    assert f"::: {where}.{name}\n" in (DOCS / page).read_text(), (
        f"add `::: {where}.{name}` to docs/api/{page}"
    )
