"""How a program's stdout is compared with the expected output (trusted side only).

Policies:

``exact``
    Byte-for-byte equal after decoding as UTF-8 (undecodable bytes kept as surrogates).
``lines``
    Equal line by line after removing trailing whitespace from every line and dropping trailing
    empty lines (``\\r\\n`` and ``\\n`` are the same).
``whitespace`` (default)
    Equal as sequences of whitespace-separated tokens: any run of spaces, tabs and newlines is
    one separator, and leading or trailing whitespace is ignored.
``float``
    Token sequences of equal length; two tokens that both parse as floats match when
    ``math.isclose(a, b, rel_tol=float_tol, abs_tol=float_tol)`` (two NaNs match), any other
    pair must be equal.

>>> compare("3\\n", "3", "whitespace").ok
True
>>> compare("0.30000001", "0.3", "float", float_tol=1e-6).ok
True
>>> compare("1 2", "1  2\\n", "exact").ok
False
"""

from __future__ import annotations

import math
from dataclasses import dataclass

POLICIES = ("exact", "lines", "whitespace", "float")


@dataclass(frozen=True)
class Comparison:
    """Whether the output matched, and where it first differed when it did not."""

    ok: bool
    detail: str = ""


def _clip(text: str, width: int = 80) -> str:
    return repr(text if len(text) <= width else text[: width - 3] + "...")


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _first_difference(got: list[str], want: list[str], unit: str) -> Comparison:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return Comparison(False, f"{unit} {i + 1}: got {_clip(g)}, expected {_clip(w)}")
    if len(got) != len(want):
        return Comparison(False, f"got {len(got)} {unit}s, expected {len(want)}")
    return Comparison(True)


def _as_float(token: str) -> float | None:
    try:
        return float(token)
    except ValueError:
        return None


def _tokens_close(a: str, b: str, tol: float) -> bool:
    if a == b:
        return True
    x, y = _as_float(a), _as_float(b)
    if x is None or y is None:
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=tol, abs_tol=tol)


def compare(got: str, expected: str, policy: str = "whitespace",
            float_tol: float = 1e-6) -> Comparison:
    """Compare program output with the expected output under ``policy`` (see module doc)."""
    if policy == "exact":
        if got == expected:
            return Comparison(True)
        at = next((i for i, (g, w) in enumerate(zip(got, expected)) if g != w),
                  min(len(got), len(expected)))
        return Comparison(False, f"first difference at character {at}: got "
                                 f"{_clip(got[at:at + 40])}, expected {_clip(expected[at:at + 40])}")
    if policy == "lines":
        return _first_difference(_lines(got), _lines(expected), "line")
    if policy == "whitespace":
        return _first_difference(got.split(), expected.split(), "token")
    if policy == "float":
        g, w = got.split(), expected.split()
        if len(g) != len(w):
            return Comparison(False, f"got {len(g)} tokens, expected {len(w)}")
        for i, (a, b) in enumerate(zip(g, w)):
            if not _tokens_close(a, b, float_tol):
                return Comparison(False, f"token {i + 1}: got {_clip(a)}, expected {_clip(b)} "
                                         f"(float tolerance {float_tol:g})")
        return Comparison(True)
    raise ValueError(f"unknown comparison policy {policy!r}; use one of {', '.join(POLICIES)}")
