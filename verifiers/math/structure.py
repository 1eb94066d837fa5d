"""The shape of a normalised answer: lists, tuples, sets, intervals, relations, leaves.

`parse_answer` turns a normalised answer string into a small tree of nodes without sympy; only the
leaves (single expressions) are later read as numbers or sympy expressions. Reading the shape
ourselves is what fixes the semantics the verifier promises:

- ``a, b`` / ``a; b`` / ``a and b`` / ``a or b`` / several boxes: a solution **list** (unordered);
  ``;`` separates solutions whose ``,`` parts form a tuple (``p=5,q=2;p=7,q=2``);
- ``(a, b, c)`` and ``\\langle a, b \\rangle``: a **tuple** (ordered); ``(a, b)`` may also be an
  open interval; ``[a, b)``, ``[a, b]``, ``(a, \\infty)`` and ``\\cup``: **intervals**;
- ``\\{a, b\\}``: a **set** (unordered); ``a \\pm b``: the list ``a + b, a - b``;
- ``x = 3``, ``f(x) = 3``, ``(p, q) = (3, 2)``, ``x \\in [0, 1)``: an **assignment** of a value to
  a name; ``2x + 4y = 3``: an **equation**; ``a < x \\leq b``: an **inequality** chain;
  ``x = 5 + 5 + 1 = 11`` and ``x \\approx 11``: the last exact value;
- ``7:32``: a **ratio**; a few words (``\\text{odd}``): a **text** answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .lexicon import expand_pm, is_constant, is_name, is_text, strip_units

MAX_ANSWER_CHARS = 2000
MAX_DEPTH = 60


class GuardError(ValueError):
    """An answer beyond what the verifier evaluates (too long, too deep, too large)."""


@dataclass(frozen=True)
class Leaf:
    """One expression, read later as a number or a sympy expression."""

    text: str


@dataclass(frozen=True)
class TextAns:
    """A textual answer, compared case-insensitively word by word."""

    words: str


@dataclass(frozen=True)
class Seq:
    """``kind`` is "tuple" (ordered), "set" or "list" (unordered). ``pair`` marks ``(a, b)``,
    which may also be read as an open interval."""

    kind: str
    items: tuple
    pair: bool = False


@dataclass(frozen=True)
class Interval:
    """An interval of the real line; ``lo``/``hi`` are Leaf nodes (``\\infty`` allowed)."""

    lo: Leaf
    hi: Leaf
    lo_closed: bool
    hi_closed: bool


@dataclass(frozen=True)
class SetUnion:
    """A union (``\\cup``) of intervals and finite sets."""

    parts: tuple


@dataclass(frozen=True)
class Assign:
    """``name = value`` (``relation`` "=") or ``name \\in value`` (``relation`` "in")."""

    name: str
    value: object
    relation: str = "="


@dataclass(frozen=True)
class Equation:
    """An equation that is not an assignment: compared as an equation, never as a value."""

    lhs: Leaf
    rhs: Leaf


@dataclass(frozen=True)
class Ineq:
    """A chain ``parts[0] ops[0] parts[1] ...`` with ops among ``<``, ``>``, ``\\leq``,
    ``\\geq``, ``\\neq``."""

    parts: tuple
    ops: tuple


@dataclass(frozen=True)
class Ratio:
    """``a:b(:c)``, compared part by part."""

    parts: tuple


_OPEN_RE = re.compile(r"\\begin\{[a-zA-Z*]*\}|\\\{|[(\[{]")
_CLOSE_RE = re.compile(r"\\end\{[a-zA-Z*]*\}|\\\}|[)\]}]")
_LIST_SEP = re.compile(r";|,|(?<![A-Za-z\\])(?:and|or)(?![A-Za-z])")
_REL_OPS = re.compile(r"\\leq|\\geq|\\neq|\\approx|\\notin|\\in(?![a-zA-Z])|=|<|>")
_CUP = re.compile(r"\\cup(?![a-zA-Z])")
_AMBIGUOUS_COMMA = re.compile(r"(?<![\d.,])\d+(?:,\d+)+(?:\.\d+)?(?![\d,])")
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?")
_SPACE_THOUSANDS = re.compile(r"^-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?$")


def readings(s: str) -> list[str]:
    """The ways to read digit groups joined by commas: as numbers (thousands ``7,425,000``,
    decimal comma ``1,22``) and as list separators. One string when nothing is ambiguous."""
    if _SPACE_THOUSANDS.match(s):
        return [s.replace(" ", "")]
    if not _AMBIGUOUS_COMMA.search(s):
        return [s]
    as_numbers = _AMBIGUOUS_COMMA.sub(_number_reading, s)
    return [as_numbers, s] if as_numbers != s else [s]


def _number_reading(m: re.Match[str]) -> str:
    token = m.group(0)
    before = m.string[max(0, m.start() - 2):m.start()].rstrip("+-") or " "
    before, after = before[-1], m.string[m.end():m.end() + 1]
    if before in ("(", "[", "{") and after in (")", "]", "}"):
        return token  # "(1,5)", "[-2,7]": inside brackets a comma separates
    if _THOUSANDS.fullmatch(token):
        return token.replace(",", "")
    if token.count(",") == 1 and "." not in token:
        return token.replace(",", ".")
    return token


def depth_map(s: str) -> list[int] | None:
    """Bracket depth before each character; None when the brackets do not balance."""
    depths = [0] * len(s)
    depth = 0
    i = 0
    n = len(s)
    while i < n:
        m = _OPEN_RE.match(s, i) if s[i] in "\\([{" else None
        if m:
            end, step = m.end(), 1
        else:
            m = _CLOSE_RE.match(s, i) if s[i] in "\\)]}" else None
            end, step = (m.end(), -1) if m else (i + (2 if s[i] == "\\" else 1), 0)
        for j in range(i, min(end, n)):
            depths[j] = depth
        depth += step
        if depth < 0 or depth > MAX_DEPTH:
            if depth > MAX_DEPTH:
                raise GuardError(f"brackets nested deeper than {MAX_DEPTH}")
            return None
        i = end
    return depths if depth == 0 else None


def split_top(s: str, pattern: re.Pattern[str], depths: list[int] | None = None) -> list[str]:
    """Split ``s`` at matches of ``pattern`` outside brackets (one part when unbalanced)."""
    depths = depth_map(s) if depths is None else depths
    if depths is None:
        return [s]
    parts, start = [], 0
    for m in pattern.finditer(s):
        if depths[m.start()] == 0 and m.end() > m.start():
            parts.append(s[start:m.start()])
            start = m.end()
    parts.append(s[start:])
    return parts


def parse_answer(s: str) -> object:
    """The node tree of one normalised answer (see the module docstring)."""
    if len(s) > MAX_ANSWER_CHARS:
        raise GuardError(f"answer longer than {MAX_ANSWER_CHARS} characters")
    s = s.strip()
    groups = [g.strip() for g in split_top(s, re.compile(";"))]
    if len(groups) > 1:
        return _seq("list", [_group(g) for g in groups if g])
    return _list_or_item(s)


def _group(g: str) -> object:
    node = _list_or_item(g)
    if isinstance(node, Seq) and node.kind == "list":
        return Seq("tuple", node.items)
    return node


def _list_or_item(s: str) -> object:
    parts = [p.strip() for p in split_top(s, _LIST_SEP)]
    parts = [p for p in parts if p]
    if len(parts) > 1:
        return _seq("list", [parse_item(p) for p in parts])
    return parse_item(parts[0] if parts else s)


def _seq(kind: str, items: list, pair: bool = False) -> Seq:
    flat: list = []
    for item in items:  # a "±" item inside a list or set contributes both of its values
        if isinstance(item, Seq) and item.kind == "pm":
            flat.extend(item.items)
        else:
            flat.append(item)
    return Seq(kind, tuple(flat), pair)


def parse_item(s: str) -> object:
    """One element of a list: a relation, ratio, union, set, interval, tuple, text or leaf."""
    s = _strip_group_braces(s.strip())
    depths = depth_map(s)
    if depths is None:
        return Leaf(s)
    rel = _relation(s, depths)
    if rel is not None:
        return rel
    ratio = split_top(s, re.compile(r":"), depths)
    if len(ratio) > 1 and all(p.strip() for p in ratio):
        return Ratio(tuple(Leaf(p.strip()) for p in ratio))
    cup = split_top(s, _CUP, depths)
    if len(cup) > 1:
        return SetUnion(tuple(parse_item(p) for p in cup))
    bracketed = _bracketed(s, depths)
    if bracketed is not None:
        return bracketed
    if "\\pm" in s or "\\mp" in s:
        return Seq("pm", tuple(parse_item(v) for v in expand_pm(s)))
    if is_text(s):
        return TextAns(s.lower())
    return Leaf(strip_units(s))


def _strip_group_braces(s: str) -> str:
    while len(s) > 1 and s[0] == "{" and s[-1] == "}":
        inner = s[1:-1]
        depths = depth_map(inner)
        if depths is None or len(split_top(inner, re.compile(","), depths)) > 1:
            break
        s = inner.strip()
    return s


def _bracketed(s: str, depths: list[int]) -> object | None:
    """Sets, intervals, tuples and single bracketed items, when one bracket pair spans ``s``."""
    if not _spans(s, depths):
        return None
    if s.startswith("\\{"):
        inner = s[2:-2]
        return _seq("set", [parse_item(p) for p in _commas(inner)] if inner.strip() else [])
    if s.startswith("\\begin"):
        return None
    opening, closing, inner = s[0], s[-1], s[1:-1]
    parts = _commas(inner)
    if len(parts) == 1:  # "(0;-2;6)": semicolons separate the components
        parts = [p.strip() for p in split_top(inner, re.compile(";"))]
    if opening == "{":
        return _seq("set", [parse_item(p) for p in parts])
    if len(parts) == 1:
        return parse_item(inner) if opening + closing in ("()", "[]") else None
    if len(parts) == 2 and (opening + closing != "()" or any("\\infty" in p for p in parts)):
        if opening in "([" and closing in ")]":
            return Interval(Leaf(parts[0]), Leaf(parts[1]), opening == "[", closing == "]")
    if opening + closing in ("()", "[]"):
        return _seq("tuple", [parse_item(p) for p in parts], pair=len(parts) == 2)
    return None


def _spans(s: str, depths: list[int]) -> bool:
    """True when the first character opens a bracket that closes at the last character."""
    if len(s) < 2 or s[0] not in "([{\\" or s[-1] not in ")]}":
        return False
    return all(d > 0 for d in depths[1:-1]) and depths[-1] > 0 if s[0] != "\\" else (
        s.startswith("\\{") and s.endswith("\\}") and all(d > 0 for d in depths[2:-2]))


def _commas(inner: str) -> list[str]:
    return [p.strip() for p in split_top(inner, re.compile(","))]


def _relation(s: str, depths: list[int]) -> object | None:
    ops = [m for m in _REL_OPS.finditer(s) if depths[m.start()] == 0]
    if not ops:
        return None
    parts, start = [], 0
    for m in ops:
        parts.append(s[start:m.start()].strip())
        start = m.end()
    parts.append(s[start:].strip())
    names = [m.group(0) for m in ops]
    if not all(parts):
        return Leaf(s)
    if "\\approx" in names:
        return _approx(s, depths)
    if set(names) == {"="}:
        return _equality(parts)
    if names in (["\\in"], ["\\notin"]):
        return Assign(parts[0], parse_item(parts[1]), "in" if names[0] == "\\in" else "notin")
    if "=" in names or "\\in" in names or "\\notin" in names:
        return Leaf(s)
    return Ineq(tuple(Leaf(p) for p in parts), tuple(names))


def _approx(s: str, depths: list[int]) -> object:
    """``x \\approx 11`` is 11; ``1/3 \\approx 0.33`` is 1/3 (the exact part is the answer)."""
    pieces = [p.strip() for p in split_top(s, re.compile(r"\\approx"), depths)]
    if is_name(pieces[0]) and len(pieces) > 1:
        return parse_item(pieces[1])
    return parse_item(pieces[0])


def _equality(parts: list[str]) -> object:
    if len(parts) > 2:  # a computation chain: the last member is the result
        return Assign(parts[0], parse_item(parts[-1]))
    lhs, rhs = parts
    if is_name(lhs):
        return Assign(lhs, parse_item(rhs))
    if is_name(rhs):
        return Assign(rhs, parse_item(lhs))
    if is_constant(lhs) and is_constant(rhs):
        return Assign(lhs, parse_item(rhs))
    return Equation(Leaf(lhs), Leaf(rhs))
