"""Every ```` ```python ```` block of the docs (``docs/**/*.md``) and of the README runs.

Each page runs in its own process (JAX's defaults, as a reader runs it: float32), its blocks in
order in one namespace; tracebacks name the page and its line. A block preceded by a
``<!-- skip: reason -->`` line is not run, and every code fence must name its language, so a
block that does not run is marked as such. Pages run two at a time. Also: the gallery script
covers every example and the gallery page shows every figure it writes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import run_python, user_env

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"^(\s*)(`{3,})(.*)$")
SKIP = re.compile(r"^<!--\s*skip:\s*\S.*-->\s*$")

# Runs one page: JSON [[first_line, source], ...] on stdin; exec each block in one namespace,
# compiled with the page's own line numbers.
RUNNER = """
import json, sys
page, blocks = sys.argv[1], json.load(sys.stdin)
namespace = {"__name__": "__main__"}
for line, source in blocks:
    exec(compile("\\n" * (line - 1) + source, page, "exec"), namespace)
"""


def code_blocks(page: Path) -> tuple[list[tuple[int, str]], list[str]]:
    """The page's python blocks to run as ``(first line, source)``, and its problems."""
    lines = page.read_text().splitlines()
    blocks, problems, i = [], [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, lang = m.group(1), m.group(2), m.group(3).strip().split(" ")[0]
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == ticks), len(lines))
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        if not lang:
            problems.append(f"{page.name}:{i + 1}: a code fence without a language")
        elif lang == "python" and not SKIP.match(previous.strip()):
            body = [line[len(indent) :] for line in lines[i + 1 : end]]
            blocks.append((i + 2, "\n".join(body) + "\n"))
        i = end + 1
    return blocks, problems


def run_page(page: Path) -> subprocess.CompletedProcess:
    blocks, _ = code_blocks(page)
    # JAX's defaults (float32), compiled with the tests' faster-compiling XLA flags
    # (tests/conftest.py): these small programs compile in 64 s of CPU instead of 103 s; a
    # page's results differ at most in rounding, and no page shows a timing
    env = {**user_env(), "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "MPLBACKEND": "Agg"}
    return run_python(
        "-c", RUNNER, str(page.relative_to(ROOT)), input=json.dumps(blocks), env=env, check=False
    )


@pytest.fixture(scope="session")
def results() -> dict[Path, subprocess.CompletedProcess]:
    # the pages with the most code first (the slowest, roughly): both workers finish together
    pages = sorted(
        (p for p in PAGES if code_blocks(p)[0]),
        key=lambda p: -sum(len(source) for _, source in code_blocks(p)[0]),
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(pages, pool.map(run_page, pages), strict=True))


@pytest.mark.slow  # runs each page in its own process
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_code_blocks_run(page, results):
    assert not code_blocks(page)[1]
    if page in results:
        proc = results[page]
        assert proc.returncode == 0, proc.stderr[-4000:]


def test_skip_marks_only_code_fences():
    for page in PAGES:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if SKIP.match(line.strip()):
                after = next((x for x in lines[i + 1 :] if x.strip()), "")
                assert after.strip().startswith("```python"), f"{page.name}:{i + 1}"


def test_gallery_covers_every_example_and_figure():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from gallery import EXAMPLES, OUT
    finally:
        sys.path.pop(0)
    assert set(EXAMPLES) == {p.stem for p in (ROOT / "examples").glob("*.py")}
    page = (ROOT / "docs" / "gallery.md").read_text()
    for name, (_, figures) in EXAMPLES.items():
        assert f'--8<-- "examples/{name}.py"' in page, name
        for figure in figures:
            assert (OUT / figure).is_file() and f"gallery/{figure}" in page, figure
    assert {p.name for p in OUT.glob("*.png")} == {f for _, fs in EXAMPLES.values() for f in fs}
