"""What the pieces of an answer are: names, constants, units, text, plus-minus.

Plain string predicates used by `structure` and `compare` (no sympy).
"""

from __future__ import annotations

import re

_TEXT_RE = re.compile(r"^[A-Za-z]+(?: [A-Za-z]+)*$")
_MATH_WORDS = {"sin", "cos", "tan", "sec", "csc", "cot", "log", "ln", "exp", "sqrt", "pi"}
_GREEK = ("alpha|beta|gamma|delta|epsilon|varepsilon|zeta|eta|theta|vartheta|iota|kappa|lambda|"
          "mu|nu|xi|rho|sigma|tau|upsilon|phi|varphi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|"
          "Pi|Sigma|Phi|Psi|Omega")
_ATOM = rf"(?:[A-Za-z]|\\(?:{_GREEK})(?![a-zA-Z]))(?:_(?:\{{[^{{}}]*\}}|[A-Za-z0-9]))?'*"
_DECOR = re.compile(r"\\(?:overline|bar|vec|hat|widehat|tilde|mathbf|mathit|dot)\{([^{}]*)\}"
                    r"|m?\\(?:angle|triangle|measuredangle)\s*")
_NAME_RE = re.compile(rf"^(?:{_ATOM})+$")
_CALL_RE = re.compile(rf"^(?:{_ATOM})+\(-?[\w{{}}\\]+(?:,-?[\w{{}}\\]+)*\)$")
_SHORT_UNITS = {"m", "g", "s", "h", "l", "L", "K", "A", "V", "W", "J", "N"}
_UNIT_WORD = r"[A-Za-z]+(?:\^\{?[23]\}?)?(?:/[A-Za-z]+)?"
_UNIT_TAIL = re.compile(rf"^(.*?[\d}}])\s*({_UNIT_WORD}(?:\s+{_UNIT_WORD})*)$")
_COMMANDS = re.compile(r"\\[a-zA-Z]+")


def is_name(s: str) -> bool:
    """True for what names a quantity: ``x``, ``a_{37}``, ``AB``, ``f(x)``, ``|AB|``, ``A:B``,
    ``\\frac{NO}{BO}``, ``(p, q)``, ``\\angle ABC``, ``\\overline{AB}``."""
    t = _DECOR.sub(lambda m: m.group(1) or "", s.replace(" ", ""))
    if not t:
        return False
    if t[0] + t[-1] in ("||", "()") and len(t) > 2:
        inner = t[1:-1]
        return all(is_name(p) for p in inner.split(",")) if t[0] == "(" else is_name(inner)
    m = re.fullmatch(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", t)
    if m:
        return is_name(m.group(1)) and is_name(m.group(2))
    for sep in (":", "/"):
        if sep in t:
            return all(is_name(p) for p in t.split(sep))
    return bool(_NAME_RE.match(t) or _CALL_RE.match(t))


def is_variable(s: str) -> bool:
    """True for a name that can be a variable of an inequality: ``x``, ``a_1``, ``f(x)``."""
    t = _DECOR.sub(lambda m: m.group(1) or "", s.replace(" ", ""))
    return bool(t) and bool(_NAME_RE.match(t) or _CALL_RE.match(t))


def name_key(s: str) -> str:
    """A canonical form of a variable name: ``a_{3}`` = ``a_3``; ``f(x)`` = ``f(n)`` = ``f()``."""
    t = re.sub(r"_\{([^{}]*)\}", r"_\1", s.replace(" ", ""))
    return re.sub(r"\(.*\)$", "()", t)


def is_constant(s: str) -> bool:
    """True when ``s`` has no letters outside LaTeX commands (a computation on numbers)."""
    return not re.search(r"[A-Za-z]", _COMMANDS.sub("", s))


def expand_pm(s: str) -> list[str]:
    """``a \\pm b`` → ``[a + b, a - b]``; every ``\\pm`` takes the same sign, ``\\mp`` the
    other."""
    plus = s.replace("\\pm", "+").replace("\\mp", "-")
    minus = s.replace("\\pm", "-").replace("\\mp", "+")
    return [_signs(plus), _signs(minus)]


def _signs(s: str) -> str:
    for a, b in (("+-", "-"), ("-+", "-"), ("--", "+"), ("++", "+")):
        s = s.replace(a, b)
    return s[1:] if s.startswith("+") else s


def is_text(s: str) -> bool:
    """True for a few words of text (``odd``, ``Evelyn``), not a product of symbols."""
    if not _TEXT_RE.match(s):
        return False
    words = s.split()
    return (len(words) > 1 or len(words[0]) > 2) and not all(w in _MATH_WORDS for w in words)


def strip_units(s: str) -> str:
    """``125 miles`` → ``125``, ``15 cm^2`` → ``15``: trailing unit words after a number."""
    m = _UNIT_TAIL.match(s) if len(s) <= 200 else None
    if not m or re.search(r"[A-Za-z]", _COMMANDS.sub("", m.group(1))):
        return s
    words = re.findall(r"[A-Za-z]+", m.group(2))
    if any(len(w) < 2 and w not in _SHORT_UNITS for w in words):
        return s
    if any(w in _MATH_WORDS or w in ("and", "or", "i", "e") for w in words):
        return s
    return m.group(1).strip()


_MATRIX = re.compile(r"^\\begin\{pmatrix\}(.*)\\end\{pmatrix\}$", re.DOTALL)


def matrix_entries(s: str) -> list[list[str]] | None:
    """The rows of entries of a lone matrix (``\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}``), or None
    (not a matrix, a nested one, or rows of different lengths)."""
    m = _MATRIX.match(s.strip())
    if not m or "\\begin" in m.group(1) or "\\end" in m.group(1):
        return None
    rows = [r.strip() for r in m.group(1).split("\\\\")]
    cells = [[c.strip() for c in r.split("&")] for r in rows if r]
    if not cells or len({len(r) for r in cells}) != 1 or any(not c for r in cells for c in r):
        return None
    return cells


def vector_entries(s: str) -> list[str] | None:
    """The entries of a one-row or one-column matrix (a vector), else None."""
    cells = matrix_entries(s)
    if cells is None:
        return None
    if len(cells) == 1:
        return cells[0]
    return [r[0] for r in cells] if all(len(r) == 1 for r in cells) else None
