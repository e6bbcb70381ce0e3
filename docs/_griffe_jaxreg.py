"""A griffe extension for the API reference: jaxreg's docstrings, written for ``help()`` and for
Sphinx-style readers, rendered by mkdocstrings.

It rewrites the few reStructuredText forms the docstrings use into Markdown (``:math:`x```
and ``.. math::`` for arithmatex, simple ``===`` tables, bare ``>>>`` doctest blocks), turns a
backticked ```jaxreg.name``` into a cross-reference (an unknown name then fails
``mkdocs build --strict``), and warns for every public name without a docstring (which
``--strict`` also turns into a failure).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import griffe

# mkdocs counts the warnings of loggers under "mkdocs": --strict fails on them.
log = logging.getLogger("mkdocs.plugins.jaxreg_docs")

PUBLIC = ["jaxreg", *(f"jaxreg.{m}" for m in ("constraints", "conventions", "linear"))]
PUBLIC += [f"jaxreg.{m}" for m in ("masks", "select", "transforms", "typing")]

_INLINE_MATH = re.compile(r":math:`([^`]+)`")
_XREF = re.compile(r"(?<![`\w])`(jaxreg(?:\.\w+)+)`(?!`)")
_BORDER = re.compile(r"^(\s*)(=+)((?: +=+)+)\s*$")


def _display_math(lines: list[str]) -> list[str]:
    """``.. math:: a`` plus indented continuation lines -> a ``$$ ... $$`` block."""
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. math::\s*(.*)$", lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, body = m.group(1), [m.group(2)] if m.group(2).strip() else []
        i += 1
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) > len(indent):
                body.append(line.strip())
            elif line.strip() or body:  # a blank line ends the block, unless it opens it
                break
            i += 1
        out += ["", f"{indent}$$", *(indent + b for b in body), f"{indent}$$", ""]
    return out


def _columns(border: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"=+", border)]


def _cells(line: str, cols: list[tuple[int, int]]) -> list[str]:
    ends = [c[0] for c in cols[1:]] + [len(line) + 1]
    return [line[start:end].strip() for (start, _), end in zip(cols, ends, strict=True)]


def _open(cell: str) -> bool:
    """A cell that goes on in the next line: an open parenthesis or ````code```` span."""
    return cell.count("(") > cell.count(")") or cell.count("``") % 2 == 1


def _escape_pipes(cell: str) -> str:
    """``|`` outside code spans would end the Markdown cell."""
    parts = re.split(r"(`+[^`]*`+)", cell)
    return "".join(p if k % 2 else p.replace("|", "\\|") for k, p in enumerate(parts))


def _tables(lines: list[str]) -> list[str]:
    """reStructuredText simple tables (header, ``===`` borders, a row continued on the next line
    when its first cell there is blank or one of its cells is still open) -> Markdown tables."""
    out, i = [], 0
    while i < len(lines):
        if not _BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        cols, indent = _columns(lines[i]), _BORDER.match(lines[i]).group(1)
        borders = [j for j in range(i, len(lines)) if lines[j].strip() and _BORDER.match(lines[j])]
        if len(borders) < 3:
            raise ValueError(f"unterminated reStructuredText table at {lines[i]!r}")
        header, end = lines[borders[0] + 1 : borders[1]], borders[2]
        rows: list[list[str]] = []
        for line in lines[borders[1] + 1 : end]:
            if not line.strip():
                continue
            cells = _cells(line, cols)
            if rows and (not cells[0] or any(_open(c) for c in rows[-1])):
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
            else:
                rows.append(cells)
        head = [" ".join(c) for c in zip(*(_cells(h, cols) for h in header), strict=True)]
        out += ["", indent + "| " + " | ".join(head) + " |", indent + "|---" * len(cols) + "|"]
        out += [indent + "| " + " | ".join(map(_escape_pipes, r)) + " |" for r in rows] + [""]
        i = end + 1
    return out


def _doctests(lines: list[str]) -> list[str]:
    """Bare ``>>>`` examples (and their output, up to a blank line) -> ```` ```pycon ```` blocks."""
    out, i = [], 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        out += ["", indent + "```pycon"]
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out += [indent + "```", ""]
    return out


def _joint_params(lines: list[str]) -> list[str]:
    """``a, b: text`` in an ``Args:`` section (one description for several parameters, which
    Google style does not have) -> one entry per parameter."""
    out, i, in_args = [], 0, False
    while i < len(lines):
        line = lines[i]
        if re.match(r"^\s*(Args|Arguments|Parameters):\s*$", line):
            in_args = True
        elif line.strip() and not line.startswith(" "):
            in_args = False
        m = re.match(r"^(\s+)(\w+(?:, \w+)+): (.*)$", line) if in_args else None
        if not m:
            out.append(line)
            i += 1
            continue
        indent, names, first = m.groups()
        body = [first]
        i += 1
        while i < len(lines) and lines[i].startswith(indent + " "):
            body.append(lines[i].strip())
            i += 1
        for name in names.split(", "):
            out.append(f"{indent}{name}: {' '.join(body)}")
    return out


def to_markdown(text: str) -> str:
    lines = _doctests(_tables(_display_math(_joint_params(text.splitlines()))))
    text = "\n".join(lines)
    parts = re.split(r"(```pycon.*?```)", text, flags=re.S)  # leave code alone
    for k in range(0, len(parts), 2):
        parts[k] = _INLINE_MATH.sub(lambda m: f"${m.group(1).strip()}$", parts[k])
        parts[k] = _XREF.sub(lambda m: f"[`{m.group(1)}`][{m.group(1)}]", parts[k])
    return "\n".join(parts)


def _inherit(obj: Any) -> None:
    """What ``help()`` shows: a method without a docstring has its base class method's, and an
    instance (``kernels = _Kernels()``) its class's."""
    if obj.docstring is not None:
        return
    source = None
    if obj.is_function and obj.parent is not None and obj.parent.is_class:
        for base in obj.parent.mro():
            if obj.name in base.members and base.members[obj.name].docstring is not None:
                source = base.members[obj.name].docstring
                break
    elif obj.is_attribute and isinstance(obj.value, griffe.ExprCall):
        try:
            cls = obj.parent[str(obj.value.function)]
        except (KeyError, griffe.AliasResolutionError):
            cls = None
        # a class of this module only (an alias may point outside the package: TypeVar)
        if cls is not None and not cls.is_alias and cls.is_class and cls.docstring is not None:
            source = cls.docstring
    if source is not None:
        obj.docstring = griffe.Docstring(source.value, parent=obj, lineno=source.lineno)


class JaxregDocstrings(griffe.Extension):
    def __init__(self) -> None:
        self._seen: set[int] = set()

    def _convert(self, obj: Any) -> None:
        if id(obj) in self._seen or obj.is_alias:
            return
        self._seen.add(id(obj))
        _inherit(obj)
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._convert(member)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.name != "jaxreg":
            return
        self._convert(pkg)
        for path in PUBLIC:
            module = pkg if path == "jaxreg" else pkg.modules_collection[path]
            for name in module.exports or []:
                self._check(module[name], f"{path}.{name}")

    def _check(self, obj: Any, path: str) -> None:
        target = obj.final_target if obj.is_alias else obj
        if not target.docstring or not target.docstring.value.strip():
            log.warning("jaxreg: public name %s has no docstring", path)
        if target.is_class:
            for name, member in target.members.items():
                if name.startswith("_") or member.is_alias or member.is_attribute:
                    continue
                if member.is_function and (not member.docstring or not member.docstring.value):
                    log.warning("jaxreg: public method %s.%s has no docstring", path, name)
