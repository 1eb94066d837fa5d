"""Exact numbers without sympy: the fast path that decides most numeric answers.

`parse_number` reads integers, decimals (``.4``, ``1,000.99`` after `readings`), fractions
(``\\frac{a}{b}``, ``a/b``), mixed numbers (``918\\frac{1}{2}``), scientific notation (``1.5e3``,
``1.5\\times10^{3}``), integer powers (``2^{10}``) and a trailing ``%`` into a `Num`: an exact
`Fraction` plus how it was written (decimal places, significant digits, percent). `numbers_equal`
compares two of them under the verifier's percent, rounding and tolerance policies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_INT = r"\d+"
_DEC = r"(?:\d+\.\d*|\.\d+)"
_UNSIGNED = rf"(?:{_DEC}|{_INT})"
_DECIMAL_RE = re.compile(
    rf"^({_UNSIGNED})(?:[eE]([+-]?\d+)|\s*(?:\\times|\\cdot|\*)\s*10\^\{{?([+-]?\d+)\}}?)?$")
_REPEATING_RE = re.compile(r"^(\d*)\.(\d*)\\overline\{(\d+)\}$")
_FRAC_RE = re.compile(rf"^\\frac\{{(-?{_UNSIGNED})\}}\{{(-?{_UNSIGNED})\}}$")
_SLASH_RE = re.compile(rf"^({_UNSIGNED})/({_UNSIGNED})$")
_MIXED_RE = re.compile(r"^(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$|^(\d+) (\d+)/(\d+)$")
_POWER_RE = re.compile(r"^(\d+)\^\{?(-?\d+)\}?$")
MAX_EXPONENT = 10_000  # larger powers of ten or integer powers are left to the guarded path


@dataclass(frozen=True)
class Num:
    """An exactly known number and how it was written.

    ``decimals`` is the number of digits after the point for a decimal literal (None for
    integers, fractions and powers); ``sig`` its significant digits; ``percent`` whether a ``%``
    followed it.
    """

    value: Fraction
    decimals: int | None = None
    sig: int = 0
    percent: bool = False


def parse_number(text: str) -> Num | None:
    """The number ``text`` denotes, or None when it is not a plain number."""
    s = text.strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].rstrip()
    sign = 1
    while s[:1] in ("-", "+") and s:
        sign = -sign if s[0] == "-" else sign
        s = s[1:].lstrip()
    while len(s) > 2 and s[0] + s[-1] in ("()", "{}") and "," not in s:
        s = s[1:-1].strip()
    num = _unsigned(s)
    if num is None:
        return None
    return Num(sign * num.value, num.decimals, num.sig, percent)


def _unsigned(s: str) -> Num | None:
    m = _DECIMAL_RE.match(s)
    if m:
        return _decimal(m.group(1), m.group(2) or m.group(3))
    for regex in (_FRAC_RE, _SLASH_RE):
        m = regex.match(s)
        if m:
            num, den = _plain(m.group(1)), _plain(m.group(2))
            return Num(num / den) if den != 0 else None
    m = _REPEATING_RE.match(s)
    if m:  # 0.1\overline{6} = 0.1666...
        whole, fixed, period = m.groups()
        value = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed))
        return Num(value + Fraction(int(period), 10 ** len(fixed) * (10 ** len(period) - 1)))
    m = _MIXED_RE.match(s)
    if m:  # 918\frac{1}{2}, 4 4/9: a whole number and a proper fraction
        whole, num, den = (int(g) for g in (m.groups()[:3] if m.group(1) else m.groups()[3:]))
        return Num(whole + Fraction(num, den)) if num < den else None
    m = _POWER_RE.match(s)
    if m and abs(int(m.group(2))) <= MAX_EXPONENT and len(m.group(1)) < 50:
        base = int(m.group(1))
        return Num(Fraction(base) ** int(m.group(2))) if base or int(m.group(2)) >= 0 else None
    return None


def _plain(s: str) -> Fraction:
    return Fraction(s) if "." not in s or s[-1] != "." else Fraction(s[:-1])


def _decimal(mantissa: str, exponent: str | None) -> Num | None:
    exp = int(exponent) if exponent else 0
    if abs(exp) > MAX_EXPONENT:
        return None
    digits = mantissa.replace(".", "").lstrip("0")
    value = _plain(mantissa) * Fraction(10) ** exp
    if "." not in mantissa or exponent:
        return Num(value, None if "." not in mantissa else _places(mantissa) - exp,
                   len(digits))
    return Num(value, _places(mantissa), len(digits) or 1)


def _places(mantissa: str) -> int:
    return len(mantissa.split(".", 1)[1]) if "." in mantissa else 0


def rounds_to(value: Fraction, places: int, written: Fraction) -> bool:
    """True when ``written`` (with ``places`` decimals) is ``value`` rounded half away from zero
    or truncated to that many places."""
    scale = Fraction(10) ** places
    target = written * scale
    if target.denominator != 1:
        return False
    q = abs(value) * scale
    sign = -1 if value < 0 else 1
    rounded = sign * int(q + Fraction(1, 2))
    truncated = sign * int(q)
    return target.numerator in (rounded, truncated)


def percent_candidates(num: Num, other: Num | None, policy: str) -> list[Fraction]:
    """The values ``num`` may stand for under the percent ``policy`` (see MathVerifier)."""
    if not num.percent or (other is not None and other.percent):
        return [num.value]
    if policy == "strip":
        return [num.value]
    if policy == "fraction":
        return [num.value / 100]
    return [num.value, num.value / 100]


def numbers_equal(ref: Num, pred: Num, percent: str, rounding: int, rel_tol: float) -> bool:
    """Exact equality of two written numbers under the verifier's policies.

    A decimal with at least ``rounding`` significant digits (``rounding > 0``) also matches an
    exact non-decimal value that it is a rounding or truncation of; ``rel_tol > 0`` accepts
    values within that relative tolerance.
    """
    for a in percent_candidates(ref, pred, percent):
        for b in percent_candidates(pred, ref, percent):
            if a == b or _within(a, b, rel_tol):
                return True
            if rounding and _decimal_vs_exact(ref, a, pred, b, rounding):
                return True
    return False


def _within(a: Fraction, b: Fraction, rel_tol: float) -> bool:
    return rel_tol > 0 and abs(a - b) <= Fraction(rel_tol) * max(abs(a), abs(b))


def _decimal_vs_exact(ref: Num, a: Fraction, pred: Num, b: Fraction, rounding: int) -> bool:
    if (ref.decimals is None) == (pred.decimals is None):
        return False  # both exact, or both decimals: only exact equality counts
    dec, dec_value, exact = (ref, a, b) if ref.decimals is not None else (pred, b, a)
    if dec.sig < rounding or dec.decimals is None or dec.decimals < 0:
        return False
    places = dec.decimals + (2 if dec_value != dec.value else 0)  # a percent read as a fraction
    return rounds_to(exact, places, dec_value)
