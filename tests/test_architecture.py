"""Architecture rules checked over the source tree (STYLE.md: "numbers belong in docs")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("rlfb", "verifiers", "rewards")
_FIGURE = r"\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?\s*(?:s|ms|us|µs|GB|MB|GiB|MiB|%)(?![\w(])"
_MEASURED = re.compile(r"\bmeasured\b", re.IGNORECASE)
_HAS_FIGURE = re.compile(_FIGURE)
_BEFORE_AFTER = re.compile(rf"{_FIGURE}\s*(?:→|->)\s*\d")


def figure_lines(text: str) -> list[int]:
    """Numbers of the lines that quote a measurement: "measured" with a figure that has a unit
    on the same or the next line, or a before → after pair of figures."""
    lines = text.splitlines()
    return [n for n, line in enumerate(lines, start=1)
            if (_MEASURED.search(line)
                and _HAS_FIGURE.search(line + " " + (lines[n] if n < len(lines) else "")))
            or _BEFORE_AFTER.search(line)]


def test_measured_figures_live_in_docs_not_in_code():
    found = [f"{path.relative_to(REPO)}:{n}"
             for root in SOURCES for path in sorted((REPO / root).rglob("*.py"))
             for n in figure_lines(path.read_text(encoding="utf-8"))]
    assert not found, f"move these measurements to docs/ (e.g. docs/performance.md): {found}"


def test_the_rule_catches_figures_and_spares_plain_numbers():
    text = ("x = 1\n# measured: 0.35 s per sync\n# 0.24-0.48 s → 0.15 s\n"
            "timeout_s: float = 5.0  # seconds\nLength is measured in tokens\n"
            "# Measured on\n# SmolLM2-135M: 19.3 s\n")
    assert figure_lines(text) == [2, 3, 6]


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at top level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_scoring_never_imports_the_learner():
    """Verifiers and rewards score samples; the learner trains. What both need (how a reward
    model is loaded and reads text) lives in rlfb.models."""
    found = [f"{path.relative_to(REPO)}: {name}"
             for root in ("verifiers", "rewards") for path in sorted((REPO / root).rglob("*.py"))
             for name in sorted(_imports(path)) if name.startswith("rlfb.learner")]
    assert not found, found
