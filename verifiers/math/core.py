"""One judgement from two extracted answers: normalise, read the structure, compare.

`decide` is run twice when needed: in the calling process with `compare.ExactBackend` (no sympy;
it settles string-equal and numeric answers, or reports "undecided"), then in a worker process
with `symbolic.SympyBackend` under a deadline. Multiple-choice letters are settled here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .compare import Undecided, equal
from .lexicon import matrix_entries
from .normalize import normalize
from .structure import (Assign, Equation, GuardError, Ineq, Interval, Leaf, Ratio, Seq, SetUnion,
                        TextAns, parse_answer, readings)

_CHOICE = re.compile(r"^(?:\(([A-J])\)(?:\s*\S.*)?|([A-J])(?:[.:)](?:\s+\S.*)?)?)$", re.DOTALL)
_CHOICE_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|boxed)\s*\{([^{}]*)\}|\$|\\[()\[\]]")
_CHOICE_IN_TEXT = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*:?\s*\**\s*\(?([A-J])\)?(?![A-Za-z])"
    r"|\\boxed\{\s*\(?([A-J])\)?\s*\}")


@dataclass(frozen=True)
class Outcome:
    """``status`` is "correct", "wrong", "unparseable", "error" or "undecided"."""

    status: str
    info: dict[str, Any] = field(default_factory=dict)


def choice_letter(answer: str) -> str | None:
    """The option letter of a multiple-choice answer (``C``, ``(C)``, ``C. x = 42``,
    ``\\text{(C)}``), or None (``A:B=1`` is a ratio, not option A)."""
    text = answer.strip()
    for _ in range(3):
        text = _CHOICE_WRAP.sub(lambda m: m.group(1) or "", text).strip()
    m = _CHOICE.match(text)
    return (m.group(1) or m.group(2)) if m else None


def choice_in_text(text: str) -> str | None:
    """The last "answer is (C)" / ``\\boxed{C}`` letter in a completion, or None."""
    last = None
    for last in _CHOICE_IN_TEXT.finditer(text):
        pass
    return (last.group(1) or last.group(2)) if last else None


def decide(ref_answer: str, pred_answer: str, backend: Any) -> Outcome:
    """Compare two extracted answers with ``backend`` (see the module docstring)."""
    ref_norm, pred_norm = normalize(ref_answer), normalize(pred_answer)
    info: dict[str, Any] = {"reference_normalized": ref_norm, "prediction_normalized": pred_norm}
    if not ref_norm:
        return Outcome("error", {**info, "reason": "the reference has no answer"})
    if not pred_norm:
        return Outcome("unparseable", {**info, "reason": "empty answer"})
    if ref_norm == pred_norm:
        return Outcome("correct", {**info, "path": "string"})
    try:
        ref_trees = _trees(ref_norm, backend)
    except (GuardError, ValueError) as exc:
        return Outcome("error", {**info, "reason": f"reference: {exc}"})
    try:
        pred_trees = _trees(pred_norm, backend)
    except (GuardError, ValueError) as exc:
        return Outcome("unparseable", {**info, "reason": str(exc)})
    return _compare_all(ref_trees, pred_trees, backend, info)


def _compare_all(ref_trees: list, pred_trees: list, backend: Any, info: dict) -> Outcome:
    undecided = ""
    for r in ref_trees:
        for p in pred_trees:
            try:
                if equal(r, p, backend):
                    return Outcome("correct", {**info, "path": backend.name,
                                               "parsed": [describe(r, backend.show),
                                                          describe(p, backend.show)]})
            except Undecided as exc:
                undecided = str(exc) or "undecided"
            except (GuardError, ValueError, TypeError, AttributeError) as exc:
                undecided = f"{type(exc).__name__}: {exc}"
    parsed = [describe(ref_trees[0], backend.show), describe(pred_trees[0], backend.show)]
    if undecided and not backend.final:
        return Outcome("undecided", {**info, "reason": undecided})
    reason = {"reason": f"could not establish equality ({undecided})"} if undecided else {}
    return Outcome("wrong", {**info, "path": backend.name, "parsed": parsed, **reason})


def _trees(normalized: str, backend: Any) -> list:
    """The trees of every reading whose leaves the backend can read (ValueError when none)."""
    trees, error = [], None
    for reading in readings(normalized):
        tree = parse_answer(reading)
        try:
            for leaf in leaves(tree):
                backend.prepare(leaf)
        except (ValueError, RecursionError) as exc:  # LeafParseError and GuardError included
            error = exc
            continue
        trees.append(tree)
    if not trees:
        raise error if isinstance(error, ValueError) else ValueError(str(error))
    return trees


def leaves(node: object) -> list[str]:
    """Texts of every leaf of a tree (assignment names excluded)."""
    if isinstance(node, Leaf):
        entries = matrix_entries(node.text)
        return [e for row in entries for e in row] if entries else [node.text]
    if isinstance(node, Interval):
        return [node.lo.text, node.hi.text]
    if isinstance(node, Equation):
        return [node.lhs.text, node.rhs.text]
    if isinstance(node, (Ineq, Ratio)):
        return [p.text for p in node.parts]
    if isinstance(node, Assign):
        return leaves(node.value)
    if isinstance(node, (Seq, SetUnion)):
        parts = node.items if isinstance(node, Seq) else node.parts
        return [t for part in parts for t in leaves(part)]
    return []


def describe(node: object, show: Callable[[str], str] = str) -> str:
    """A compact, readable form of a tree, for the evidence in ``VerifyResult.info``; ``show``
    renders a leaf (the sympy backend shows the parsed expression)."""
    if isinstance(node, Leaf):
        return show(node.text)
    if isinstance(node, TextAns):
        return f"text({node.words})"
    if isinstance(node, Seq):
        return f"{node.kind}[{', '.join(describe(i, show) for i in node.items)}]"
    if isinstance(node, Interval):
        return f"{'[' if node.lo_closed else '('}{show(node.lo.text)}, {show(node.hi.text)}" \
               f"{']' if node.hi_closed else ')'}"
    if isinstance(node, SetUnion):
        return " ∪ ".join(describe(p, show) for p in node.parts)
    if isinstance(node, Assign):
        return f"{node.name} {'=' if node.relation == '=' else node.relation} " \
               f"{describe(node.value, show)}"
    if isinstance(node, Equation):
        return f"equation({show(node.lhs.text)} = {show(node.rhs.text)})"
    if isinstance(node, Ineq):
        chain = [show(node.parts[0].text)]
        for op, part in zip(node.ops, node.parts[1:]):
            chain += [op, show(part.text)]
        return f"inequality({' '.join(chain)})"
    if isinstance(node, Ratio):
        return "ratio(" + ":".join(show(p.text) for p in node.parts) + ")"
    return repr(node)
