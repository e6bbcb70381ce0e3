"""Optional dependencies: imported by the function that needs them, never at ``import jaxreg``.

Each is declared as an extra in pyproject.toml; a missing one raises an ImportError that names
the function, the package and the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# the distribution that provides each optional top-level module
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def require(module: str, *, what: str, extra: str, hint: str = "") -> ModuleType:
    """Import ``module``, or raise an ImportError naming ``what`` needs it and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        package = _DISTRIBUTIONS.get(top, top)
        raise ImportError(
            f"{what} needs {package}, which could not be imported ({e}): "
            f"pip install 'jaxreg[{extra}]'.{' ' + hint if hint else ''}"
        ) from e
