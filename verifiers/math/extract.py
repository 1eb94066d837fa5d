"""Finding the final answer in a completion (or in a reference that is a full solution).

Extractors, by name:

``boxed``
    The last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces matched). Boxes that follow each
    other with only punctuation or a short connector between them (``\\boxed{1}, \\boxed{2}``,
    ``\\boxed{6} and \\boxed{8}``) form one answer: the list of their contents.
``final_answer``
    ``Final Answer: The final answer is ...`` (Minerva style) and ``**Final Answer** ...``.
``answer_tag``
    The last ``<answer>...</answer>`` block.
``gsm8k``
    The last ``#### n`` line.
``answer_is``
    ``The answer is ...`` / ``Answer: ...``.
``bare``
    The whole text, when it reads as an answer rather than prose.
``last_math``
    The last ``$...$``, ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]`` environment.
``last_number``
    The last number in the text (with a run of numbers joined by ``,``/``and``/``or`` before it,
    so that "either 2 or 3" stays a hedge).

In ``"auto"`` order the marked extractors (the first five) all run and the one whose marker stands
last in the text wins, so a restatement after an intermediate box counts; when none fires, ``bare``,
then the later of ``last_math`` and ``last_number``. An explicit list is a strict priority order.
All scans are linear in the length of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .normalize import _GLUED_CONNECTOR, matching_brace, unescape

MARKED = ("boxed", "final_answer", "answer_tag", "gsm8k", "answer_is")
FALLBACK = ("bare", "last_math", "last_number")
EXTRACTORS = MARKED + FALLBACK

_BOX = re.compile(r"\\(?:boxed|fbox)\s*(\{|\s+)")
_FINAL = re.compile(r"final\s+answer", re.IGNORECASE)
_FINAL_PREFIX = re.compile(
    r"^[\s:*#.\-]*(?:the\s+final\s+answer\s+)?(?:is|was|would\s+be)?[\s:*]*", re.IGNORECASE)
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)", re.IGNORECASE)
_ANSWER_TAG = re.compile(r"<answer>", re.IGNORECASE)
_GSM8K = re.compile(r"####")
_HOPE = re.compile(r"i\s+hope\s+it\s+is\s+correct", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.\s+(?=[A-Z\[])|\n")
_DELIM = re.compile(r"\\\$|\$\$|\$|\\\[|\\\]|\\\(|\\\)")
_PAIRS = {"$$": "$$", "$": "$", "\\[": "\\]", "\\(": "\\)"}
_NUMBER = re.compile(
    r"(?<![A-Za-z\d.,_^])-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?(?:/\d+)?|\.\d+)"
    r"(?:\s*(?:%|\\%|percent\b))?")
_RUN_TOKEN = re.compile(r"-?\d[\d./]*|,|\band\b|\bor\b|\S+")
_PERCENT_AFTER = re.compile(r"\s*(?:\\%|%|percent\b|pct\b)")
_PERCENT_WORDS = re.compile(r"\b(?:percentage|percent|pct)\b", re.IGNORECASE)
_ENV = re.compile(r"\\(?:begin|end)\{[a-zA-Z*]*\}")
_PROSE_OK = {"and", "or", "percent", "percentage", "pct", "sqrt", "frac", "pi", "infty", "inf",
             "sin", "cos", "tan", "log", "ln", "exp", "sec", "csc", "cot", "cm", "mm", "km",
             "kg", "ft", "in"}
_TEXT_BLOCK = re.compile(r"\\(?:text|textbf|textit|mathrm|mbox|textnormal)\s*\{[^{}]*\}")
_COMMAND = re.compile(r"\\[a-zA-Z]+")
MAX_BARE_CHARS = 300
MAX_SCAN_CHARS = 200_000


@dataclass(frozen=True)
class Extraction:
    """What an extractor found: the answer text, the extractor's name, and where it stood."""

    answer: str
    method: str
    position: int


def extract(text: str, order: Sequence[str] | str = "auto",
            bare_limit: int = MAX_BARE_CHARS) -> Extraction | None:
    """The final answer of ``text`` (see the module docstring), or None when there is none.
    ``bare_limit`` is the longest text ``bare`` takes whole (references allow more). Only the
    last `MAX_SCAN_CHARS` characters of a longer text are read: the final answer is at the end."""
    text = unescape(text[-MAX_SCAN_CHARS:])
    if order == "auto":
        found = [e for e in (_RUN[name](text) for name in MARKED) if e is not None]
        if found:
            return max(found, key=lambda e: e.position)
        bare = extract_bare(text, bare_limit)
        if bare is not None:
            return bare
        return _later_of_math_and_number(text)
    for name in order:
        found_one = _RUN[name](text)
        if found_one is not None:
            return found_one
    return None


def boxes(text: str) -> list[tuple[int, int, str]]:
    """Every top-level box as (start, end, content); an unclosed last box runs to the end."""
    out: list[tuple[int, int, str]] = []
    pos = 0
    while True:
        m = _BOX.search(text, pos)
        if m is None:
            return out
        if m.group(1) == "{":
            close = matching_brace(text, m.end() - 1)
            end = close + 1 if close >= 0 else len(text)
            content = text[m.end():close] if close >= 0 else text[m.end():]
        else:
            token = re.match(r"\S+", text[m.end():m.end() + 100])
            content = token.group(0).rstrip(".$") if token else ""
            end = m.end() + (token.end() if token else 0)
        out.append((m.start(), end, content))
        pos = max(end, m.end())


def extract_boxed(text: str) -> Extraction | None:
    """The last box, joined with the boxes just before it when only connectors separate them."""
    found = boxes(text)
    if not found:
        return None
    group = [found[-1]]
    for prev in reversed(found[:-1]):
        if not _joins(text[prev[1]:group[0][0]]):
            break
        group.insert(0, prev)
    answer = " , ".join(c.strip() for _, _, c in group if c.strip())
    return Extraction(answer, "boxed", group[0][0])


def _joins(gap: str) -> bool:
    if len(gap) > 80:
        return False
    clean = _TEXT_BLOCK.sub(lambda m: " " + m.group(0).split("{", 1)[1][:-1] + " ", gap)
    clean = _COMMAND.sub(" ", _DELIM.sub(" ", clean))
    words = re.findall(r"[A-Za-z_]+", clean)
    if not words:
        return True
    return any(w.lower() in ("and", "or") for w in words) and len(words) <= 6


def _span_after(text: str, start: int) -> str:
    """The text after a marker, up to "I hope it is correct" or a blank line."""
    rest = text[start:start + 2000]
    hope = _HOPE.search(rest)
    if hope:
        rest = rest[:hope.start()]
    head = _FINAL_PREFIX.sub("", rest, count=1)
    blank = re.search(r"\n\s*\n", head.lstrip())
    return head.lstrip()[:blank.start()] if blank else head


def extract_final_answer(text: str) -> Extraction | None:
    """``Final Answer: The final answer is X`` → X."""
    last = None
    for last in _FINAL.finditer(text):
        pass
    if last is None:
        return None
    answer = resolve(_span_after(text, last.end()))
    return Extraction(answer, "final_answer", last.start()) if answer else None


def extract_answer_is(text: str) -> Extraction | None:
    """``The answer is X.`` / ``Answer: X`` → X (up to the end of the sentence); the "answer is"
    inside "the final answer is" belongs to `extract_final_answer`."""
    last = None
    for m in _ANSWER_IS.finditer(text):
        if not re.search(r"final\s+$", text[max(0, m.start() - 12):m.start()], re.IGNORECASE):
            last = m
    if last is None:
        return None
    span = _span_after(text, last.end())
    end = _sentence_end(span)
    answer = resolve(span[:end])
    return Extraction(answer, "answer_is", last.start()) if answer else None


def _sentence_end(span: str) -> int:
    depth_free = _math_spans(span)
    for m in _SENTENCE_END.finditer(span):
        if not any(a <= m.start() < b for a, b, _ in depth_free):
            return m.start()
    return len(span)


def extract_answer_tag(text: str) -> Extraction | None:
    """The content of the last ``<answer>`` block (an unclosed one runs to the end)."""
    last = None
    for last in _ANSWER_TAG.finditer(text):
        pass
    if last is None:
        return None
    close = text.lower().find("</answer>", last.end())
    content = text[last.end():close if close >= 0 else len(text)]
    answer = resolve(content)
    return Extraction(answer, "answer_tag", last.start()) if answer else None


def extract_gsm8k(text: str) -> Extraction | None:
    """``#### 1,234`` → ``1,234``."""
    last = None
    for last in _GSM8K.finditer(text):
        pass
    if last is None:
        return None
    line = text[last.end():].split("\n", 1)[0]
    answer = resolve(line)
    return Extraction(answer, "gsm8k", last.start()) if answer else None


def extract_bare(text: str, limit: int = MAX_BARE_CHARS) -> Extraction | None:
    """The whole text, when it reads as an answer (and is at most ``limit`` characters)."""
    answer = _clean(text)
    if not answer or len(answer) > limit:
        return None
    return Extraction(answer, "bare", 0) if is_answer_like(answer, limit) else None


def extract_last_math(text: str, spans: list | None = None) -> Extraction | None:
    """The last math environment (with a ``%`` or "percent" right after it)."""
    spans = _math_spans(text) if spans is None else spans
    if not spans:
        return None
    start, end, content = spans[-1]
    if _PERCENT_AFTER.match(text, end):
        content += "%"
    return Extraction(content, "last_math", start) if content.strip() else None


def extract_last_number(text: str) -> Extraction | None:
    """The last number, with a run of numbers joined by connectors just before it."""
    last = None
    for last in _NUMBER.finditer(text):
        pass
    if last is None:
        return None
    before = text[max(0, last.start() - 200):last.start()]
    start = last.start() - len(before) + _run_start(before)
    return Extraction(text[start:last.end()], "last_number", start)


def _run_start(before: str) -> int:
    """Where a run ``n1, n2 or`` that ends ``before`` starts (``len(before)`` when none)."""
    tokens = list(_RUN_TOKEN.finditer(before))
    start = len(before)
    while len(tokens) >= 2 and tokens[-1].group(0) in (",", "and", "or") \
            and tokens[-2].group(0)[-1:].isdigit():
        start = tokens[-2].start()
        tokens = tokens[:-2]
    return start


def resolve(span: str) -> str | None:
    """The answer inside a marked span: a box, the span itself, what follows "is", the last
    math environment or the last number."""
    span = span.strip().strip('"').replace('\\"', "").strip()
    if _BOX.search(span):
        boxed = extract_boxed(span)
        return boxed.answer if boxed else None
    cleaned = _clean(span)
    if cleaned and is_answer_like(cleaned):
        return cleaned
    outside = _outside_math(span)
    cut = outside.rfind(" is ")
    if cut >= 0:
        after = _clean(span[cut + 4:])
        if after and is_answer_like(after):
            return after
    last = _later_of_math_and_number(span)
    return last.answer if last else None


def _later_of_math_and_number(text: str) -> Extraction | None:
    """The last math environment or the last number, whichever stands later (a number inside
    the last environment belongs to it)."""
    spans = _math_spans(text)
    math = extract_last_math(text, spans)
    number = extract_last_number(_outside_math(text, spans) if spans else text)
    if math is None or number is None:
        return math or number
    return number if number.position > spans[-1][1] - 1 else math


def _clean(span: str) -> str:
    s = span.strip()
    while s[-1:] in (".", ",", ";", ":") or s.endswith("\\"):
        s = s[:-1].rstrip()
    return s


def is_answer_like(s: str, limit: int = MAX_BARE_CHARS) -> bool:
    """True when ``s`` reads as an answer (math, a few words of text) rather than prose."""
    if len(s) > limit or not s.strip():
        return False
    if _math_spans(s):  # words inside math are math; outside only connectors and "%"
        outside = _PERCENT_WORDS.sub(" ", _DELIM.sub(" ", _outside_math(s)))
        return not outside.strip(" .,;:%") or _only_connectors(outside)
    body = _GLUED_CONNECTOR.sub(r" \1 ", _DELIM.sub(" ", s))
    body = _COMMAND.sub(" ", _TEXT_BLOCK.sub(" ", _ENV.sub(" ", body)))
    words = re.findall(r"[A-Za-z]{2,}", body)
    prose = [w for w in words if w.lower() not in _PROSE_OK and not re.fullmatch("[A-Z]{2,3}", w)]
    if not prose:
        return True
    return len(s.split()) <= 4 and bool(re.fullmatch(r"[A-Za-z\s]+", s.strip()))


def _only_connectors(outside: str) -> bool:
    return all(w.lower() in ("and", "or") for w in re.findall(r"[A-Za-z]+", outside)) and \
        not re.search(r"\d", outside)


def _math_spans(text: str) -> list[tuple[int, int, str]]:
    """Math environments as (start, end, content), paired left to right in one pass."""
    spans: list[tuple[int, int, str]] = []
    opener: re.Match[str] | None = None
    for m in _DELIM.finditer(text):
        tok = m.group(0)
        if tok == "\\$":
            continue
        if opener is None:
            if tok in _PAIRS:
                opener = m
        elif tok == _PAIRS[opener.group(0)]:
            spans.append((opener.start(), m.end(), text[opener.end():m.start()]))
            opener = None
    return spans


def _outside_math(text: str, spans: list | None = None) -> str:
    """``text`` with every math environment blanked out (same length)."""
    pieces, pos = [], 0
    for start, end, _ in (_math_spans(text) if spans is None else spans):
        pieces += [text[pos:start], " " * (end - start)]
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


_RUN: dict[str, Callable[[str], Extraction | None]] = {
    "boxed": extract_boxed,
    "final_answer": extract_final_answer,
    "answer_tag": extract_answer_tag,
    "gsm8k": extract_gsm8k,
    "answer_is": extract_answer_is,
    "bare": extract_bare,
    "last_math": extract_last_math,
    "last_number": extract_last_number,
}
