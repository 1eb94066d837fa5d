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


def test_scoring_never_imports_the_learner():
    """Verifiers and rewards score samples; the learner trains. What both need (how a reward
    model is loaded and reads text) lives in rlfb.models."""
    found = [f"{module}: {name}" for module, names in sorted(import_graph().items())
             if module.startswith(("rlfb.verifiers", "rlfb.rewards"))
             for name in sorted(names) if name.startswith("rlfb.learner")]
    assert not found, found


ROOTS = {"rlfb": "rlfb", "verifiers": "rlfb.verifiers", "rewards": "rlfb.rewards"}


def _modules() -> dict[str, Path]:
    """Installed module name → source file, for every module of the three source folders."""
    found = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (inside functions too). A package's imports of
    its own submodules (re-exports) are not edges."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package
                    for _ in range(node.level - 1):
                        up = up.rpartition(".")[0]
                    base = f"{up}.{base}" if base else up
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                owner = _owner(target, modules)
                if owner and owner != name and not (path.name == "__init__.py"
                                                    and owner.startswith(name + ".")):
                    graph[name].add(owner)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycles_finds_a_cycle_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def _algo_name_comparisons(source: str) -> list[int]:
    """Lines comparing ``<...>.algo.name`` with something (==, !=, in, not in)."""
    def is_algo_name(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "name"
                and isinstance(node.value, ast.Attribute) and node.value.attr == "algo")

    return [node.lineno for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Compare)
            and any(is_algo_name(n) for n in [node.left, *node.comparators])]


def test_the_algorithm_is_chosen_only_in_rlfb_algorithms():
    """Everything that depends on which algorithm runs asks its `rlfb.algorithms` object."""
    found = [f"{path.relative_to(REPO)}:{n}"
             for root in SOURCES for path in sorted((REPO / root).rglob("*.py"))
             if not path.is_relative_to(REPO / "rlfb" / "algorithms")
             for n in _algo_name_comparisons(path.read_text(encoding="utf-8"))]
    assert not found, found
    sample = "if cfg.algo.name in ('sft', 'dpo'):\n    pass\nx = cfg.algo.name\n"
    assert _algo_name_comparisons(sample) == [1]
