"""Text normalisation of an extracted answer, before its structure is read.

Everything here is plain string work (no sympy), so it runs in the calling process and is linear
in the length of the text. `normalize` maps the many spellings of one answer to one string:

- double-escaped LaTeX (``\\\\frac`` as it appears in JSON dumps) and literal ``\\n``;
- unicode math (``−``, ``×``, ``≤``, ``π``, ``√``, ``°``, ``²``) to LaTeX;
- math delimiters ``$ $$ \\( \\) \\[ \\]`` and currency signs are dropped, ``\\boxed`` unwrapped;
- spacing commands (``\\, \\! \\quad``), ``\\left``/``\\right``, ``\\displaystyle`` are dropped;
- ``\\dfrac``/``\\tfrac``/``\\cfrac`` become ``\\frac``; ``\\frac12`` becomes ``\\frac{1}{2}``;
- ``\\text{}``, ``\\mathrm{}``, ``\\mbox{}`` … are unwrapped; degree signs dropped;
- percent spellings (``\\%``, ``percent``, ``pct``) become a trailing ``%``;
- relation spellings (``<=``, ``\\le``, ``\\leqslant``) become one form each;
- matrix environments (``bmatrix``, ``array``, ``smallmatrix``) become ``pmatrix``;
- thousands groups written ``{,}`` or ``,\\!`` become plain commas; a comma followed by a space
  keeps one space (``32, 349`` is a list, ``32,349`` a number; see `structure.readings`).
"""

from __future__ import annotations

import re

_LATEX_WORDS = (
    "frac|dfrac|tfrac|cfrac|boxed|fbox|left|right|sqrt|text|textbf|textit|textnormal|mathrm|"
    "mathbf|mbox|le|leq|ge|geq|lt|gt|ne|neq|in|cup|cap|infty|pi|cdot|times|pm|mp|approx|quad|"
    "qquad|begin|end|sin|cos|tan|log|ln|exp|alpha|beta|gamma|delta|theta|lambda|mu|sigma|omega|"
    "phi|circ|dots|ldots|cdots|overline|angle|mathbb|operatorname|binom|dbinom|sec|csc|cot"
)
_DOUBLE_ESCAPE = re.compile(r"(?<!\\)\\\\(?=(?:" + _LATEX_WORDS + r")(?![a-zA-Z]))")
_LITERAL_NEWLINE = re.compile(r"(?<!\\)\\n(?![a-z])")

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": r"\times ", "\u22c5": r"\cdot ",
    "\u00b7": r"\cdot ", "\u00f7": r"\div ", "\u2264": r"\leq ", "\u2265": r"\geq ",
    "\u2260": r"\neq ", "\u221e": r"\infty ", "\u03c0": r"\pi ", "\u221a": r"\sqrt",
    "\u00b0": r"^\circ ", "\u00b2": "^2", "\u00b3": "^3", "\u2208": r"\in ", "\u222a": r"\cup ",
    "\u00b1": r"\pm ", "\u2213": r"\mp ", "\u00a0": " ", "\uff0c": ",", "\uff1a": ":",
    "\u20ac": " ", "\u00a3": " ", "\u00a5": " ", "\u20b9": " ", "\u2248": r"\approx ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

_SUBS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"\\[dtc]frac(?![a-zA-Z])", r"\\frac"),
        (r"\\[dt]binom(?![a-zA-Z])", r"\\binom"),
        (r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big|bigg|Bigg)(?:\.|(?![a-zA-Z]))", ""),
        (r"\\(?:displaystyle|textstyle|limits|nolimits)(?![a-zA-Z])", ""),
        (r"\\q?quad", " "),  # also the run-together "\quadx" seen in scraped answers
        (r"\\(?:hspace|vspace)\*?\{[^{}]*\}", " "),
        (r"(?<!\\)\\[,;:! ]|~", " "),
        (r"\\(?:le|leqslant|leqq)(?![a-zA-Z])|<=", r"\\leq "),
        (r"\\(?:ge|geqslant|geqq)(?![a-zA-Z])|>=", r"\\geq "),
        (r"\\(?:ne)(?![a-zA-Z])|!=|=/=", r"\\neq "),
        (r"\\lt(?![a-zA-Z])", "<"),
        (r"\\gt(?![a-zA-Z])", ">"),
        (r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])", ""),
        (r"\\%|\s*\b(?:percentage|percent|pct)\b", "%"),
        (r"\\\$|\$", " "),
        (r"\\(?:mathbb\{R\}|R)(?![a-zA-Z])", r"(-\\infty,\\infty)"),
        (r"\s*\{\s*,\s*\}\s*", ","),
        (r"\\begin\{array\}\{[^{}]*\}", r"\\begin{pmatrix}"),
        (r"\\(begin|end)\{(?:bmatrix|Bmatrix|matrix|smallmatrix|array)\}", r"\\\1{pmatrix}"),
        (r"\\(?:infty|infinity)(?![a-zA-Z])|\binf(?:inity)?\b|∞", r"\\infty "),
        (r"\+\s*\\infty", r"\\infty"),
        (r"\*\*", "^"),
        (r"\\(?:varnothing|emptyset)(?![a-zA-Z])|\\\{\s*\\\}", r"\\emptyset "),
        (r"\\(?:dots|ldots|cdots)(?![a-zA-Z])|\.\.\.+|\u2026", r"\\dots "),
        (r"(?<![a-zA-Z\\])(sqrt|sin|cos|tan|sec|csc|cot|log|ln|exp|pi)(?![a-zA-Z])", r"\\\1"),
    )
)
_SPACING = next(i for i, (p, _) in enumerate(_SUBS) if p.pattern.endswith("|~"))
# A connector glued between a closing token and an opening one: "1orW(x)", "(11,7)or(7,11)".
_GLUED_CONNECTOR = re.compile(r"(?<=[\d)\]}])(or|and)(?=[A-Z(\[\\{\-\d])")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|mathrm|mathbf|mathit|mathsf|"
    r"mbox|emph|hbox|boxed|fbox|pmb|bm|rm)\s*\{"
)
_BARE_FRAC = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\}|[a-zA-Z])")
_BARE_SQRT = re.compile(r"\\sqrt\s*(\d+|[a-zA-Z])")
_SPACE_AROUND_SYMBOL = re.compile(r"\s*([^\w\s\\,])\s*|\s*(?=,)")
_LIST_COMMA = re.compile(r",(?=\s)\s*")
_MATH_DELIMITER = re.compile(r"(?<!\\)\\[()\[\]]")
_THIN_THOUSANDS = re.compile(r"(?<=\d),\s*\\!\s*(?=\d)")


def unescape(text: str) -> str:
    """Undo double escaping (``\\\\frac`` → ``\\frac``, literal ``\\n`` → newline)."""
    if "\\\\" in text:
        text = _DOUBLE_ESCAPE.sub(r"\\", text)
    if "\\n" in text:
        text = _LITERAL_NEWLINE.sub("\n", text)
    return text


def unicode_to_latex(text: str) -> str:
    """Replace unicode math symbols by their LaTeX commands."""
    return _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], text)


def unwrap_command(text: str, pattern: re.Pattern[str]) -> str:
    """Replace ``\\cmd{content}`` by `` content `` for every match of ``pattern`` (which must end
    at the opening brace); braces inside the content are matched, so nesting is kept. Linear:
    the brace pairs are found in one pass."""
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    pairs = brace_pairs(text)
    chars = list(text)
    for m in matches:
        chars[m.start():m.end()] = [" "] * (m.end() - m.start())
        close = pairs.get(m.end() - 1)
        if close is not None:
            chars[close] = " "
    return "".join(chars)


def brace_pairs(text: str) -> dict[int, int]:
    """Opening brace index → its closing brace index (escaped braces skipped), in one pass."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def matching_brace(text: str, open_pos: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_pos`` (escaped braces skipped), or -1."""
    depth = 0
    i = open_pos
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def normalize(text: str) -> str:
    """The canonical spelling of one answer (see the module docstring)."""
    s = unicode_to_latex(unescape(text))
    s = _THIN_THOUSANDS.sub(",", s)
    s = _MATH_DELIMITER.sub(" ", s)  # math delimiters, but not a row break followed by "("
    s = " ".join(unwrap_command(_text_connectors(s), _TEXT_CMD).split())  # single spaces: no
    # regex below can then go quadratic on a run of whitespace
    for i, (pattern, repl) in enumerate(_SUBS):
        s = pattern.sub(repl, s)
        if i == _SPACING:  # spacing commands became spaces: collapse them before more \s* rules
            s = " ".join(s.split())
    s = _BARE_FRAC.sub(lambda m: rf"\frac{{{_ungroup(m.group(1))}}}{{{_ungroup(m.group(2))}}}", s)
    s = _BARE_SQRT.sub(r"\\sqrt{\1}", s)
    s = _GLUED_CONNECTOR.sub(r" \1 ", s)
    s = " ".join(s.split())
    s = _SPACE_AROUND_SYMBOL.sub(lambda m: m.group(1) or "", s)
    s = _LIST_COMMA.sub(", ", s)  # "32, 349" is a list, "32,349" a number: keep the space
    s = s.lstrip(" ,;:").rstrip(" .,;:").rstrip("\\").rstrip(" .,;:")
    return _strip_lone_matrix_brackets(s)


def _text_connectors(s: str) -> str:
    """``\\text{ and }`` / ``\\text{or}`` become bare connector words before unwrapping."""
    return re.sub(r"\\(?:text|textnormal|mbox|textrm)\s*\{\s*(and|or|,)\s*\}", r" \1 ", s)


def _ungroup(token: str) -> str:
    return token[1:-1] if token.startswith("{") else token


def _strip_lone_matrix_brackets(s: str) -> str:
    """``[\\begin{pmatrix}…\\end{pmatrix}]`` (from ``\\left[\\begin{array}…``) is the matrix."""
    if (s[:1] in "([" and s[-1:] in ")]" and s[1:].startswith("\\begin{pmatrix}")
            and s[:-1].endswith("\\end{pmatrix}") and s.count("\\begin{") == 1):
        return s[1:-1]
    return s
