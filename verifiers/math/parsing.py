"""Reading one leaf into sympy with latex2sympy2_extended, safely and fast.

Imported only inside the worker processes (it imports sympy and the ANTLR runtime).

- The parser runs first in ANTLR's SLL prediction mode (several times faster) and, when SLL
  fails, again in full LL mode: the standard two-stage strategy, with the same result.
- `sll_friendly` rewrites the two constructs that always defeat SLL in this grammar (a letter
  before ``^`` and a subscripted symbol) into equivalent ones that do not.
- Decimals become exact fractions before parsing; a free ``e`` is Euler's number and a free ``i``
  the imaginary unit; latex2sympy's unevaluated nodes are evaluated (`evaluate`).
- `check_size` refuses (GuardError) integer powers and factorials over `MAX_DIGITS` digits before
  anything evaluates them: ``10^{10^{10}}`` never reaches sympy's integer arithmetic.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import sympy
from sympy import I, S, Symbol, factorial

from .lexicon import _GREEK
from .structure import GuardError

MAX_DIGITS = 50_000
_BAD_MIXED = re.compile(r"^-?\d+ \d+/\d+%?$")
_DECIMAL = re.compile(r"(?<![\d.])(\d*)\.(\d+)(?![\d.])")


class LeafParseError(ValueError):
    """latex2sympy could not read a leaf."""


def _converter():
    from antlr4.atn.PredictionMode import PredictionMode
    from antlr4.error.ErrorStrategy import BailErrorStrategy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig, _Latex2Sympy

    config = ConversionConfig(lowercase_symbols=False)

    class _SLL(_Latex2Sympy):
        def create_parser(self, latex_str):  # noqa: D102 - ANTLR two-stage parsing
            parser = super().create_parser(latex_str)
            parser._interp.predictionMode = PredictionMode.SLL
            parser._errHandler = BailErrorStrategy()
            return parser

    def convert(text: str):
        try:
            return _SLL(config=config).parse(text)
        except Exception:  # SLL cannot decide: the full LL parse (slower, complete)
            return _Latex2Sympy(config=config).parse(text)

    return convert


_CONVERT = None


@lru_cache(maxsize=8192)
def parse_leaf(text: str):
    """The sympy value of one leaf (cached); LeafParseError or GuardError when it has none."""
    global _CONVERT
    if _CONVERT is None:
        _CONVERT = _converter()
    prepared = _DECIMAL.sub(lambda m: rf"(\frac{{{int(m.group(1) + m.group(2))}}}"
                            rf"{{{10 ** len(m.group(2))}}})", text.rstrip("%"))
    if _BAD_MIXED.match(text):  # "11 6/6", "4 4/0": not a number, never 11 * 6/6
        raise LeafParseError(f"{text!r} is not a valid mixed number")
    prepared, names = sll_friendly(prepared)
    try:
        expr = _CONVERT(prepared)
    except RecursionError as exc:
        raise GuardError("expression nested too deeply to parse") from exc
    except Exception as exc:
        raise LeafParseError(f"cannot parse {text!r}: {str(exc).splitlines()[0][:80]}") from exc
    if not isinstance(expr, (sympy.Basic, sympy.MatrixBase)):
        raise LeafParseError(f"{text!r} is not an expression")
    check_size(expr)
    subs = {s: v for s in getattr(expr, "free_symbols", ()) for n, v in (("e", S.Exp1), ("i", I))
            if s.name == n}
    subs.update({s: Symbol(names[s.name]) for s in getattr(expr, "free_symbols", ())
                 if s.name in names})
    expr = expr.xreplace(subs) if subs else expr
    return evaluate(expr)


def evaluate(expr):
    """Rebuild ``expr`` bottom-up with sympy's automatic evaluation (latex2sympy builds some
    nodes unevaluated); sums, products and integrals stay unevaluated, matrix sums and products
    are carried out."""
    if isinstance(expr, sympy.MatrixBase):
        return expr.applyfunc(evaluate)
    if isinstance(expr, sympy.MatrixExpr):
        done = expr.doit()
        return done if done == expr else evaluate(done)
    if isinstance(expr, sympy.UnevaluatedExpr):
        return evaluate(expr.args[0])
    if not isinstance(expr, sympy.Basic) or not expr.args or expr.is_Atom:
        return expr
    if isinstance(expr, (sympy.Sum, sympy.Product, sympy.Integral)):
        return expr.func(evaluate(expr.args[0]), *expr.args[1:])
    try:
        rebuilt = expr.func(*[evaluate(a) for a in expr.args])
    except (TypeError, ValueError):
        return expr
    return evaluate(rebuilt) if isinstance(rebuilt, sympy.MatrixExpr) else rebuilt


_SUBSCRIPTED = re.compile(r"(?<![\\A-Za-z])([A-Za-z])_(\{[^{}]*\}|[A-Za-z0-9])")
_POWER_BASE = re.compile(r"(?<![\\A-Za-z{])([A-Za-z]|\\(?:" + _GREEK + r"))(?=\^)")


def sll_friendly(text: str) -> tuple[str, dict[str, str]]:
    """Rewrite the two constructs that always defeat ANTLR's fast SLL mode in this grammar (a
    letter before ``^``, a subscripted symbol) into equivalent ones it parses: ``x^2`` →
    ``{x}^2`` and ``F_{n-1}`` → ``{\\mathbf{SUBa}}``, renamed back to ``F_{n-1}`` after parsing.
    The result is the same expression; parsing is several times faster."""
    names: dict[str, str] = {}

    def placeholder(m: re.Match[str]) -> str:
        key = f"{m.group(1)}_{{{m.group(2).strip('{}')}}}"
        if key not in names:
            n, tag = len(names), ""
            while True:
                tag, n = tag + chr(ord("a") + n % 26), n // 26
                if not n:
                    break
            names[key] = "SUB" + tag
        return "{\\mathbf{" + names[key] + "}}"

    text = _POWER_BASE.sub(r"{\1}", _SUBSCRIPTED.sub(placeholder, text))
    return text, {f"math{{{tag}}}": key for key, tag in names.items()}


def check_size(expr) -> None:
    """GuardError when an exact integer power or factorial would exceed MAX_DIGITS digits (only
    those make sympy compute every digit; irrational powers evaluate as floats)."""
    if not isinstance(expr, sympy.Basic):
        return
    for node in sympy.preorder_traversal(expr):
        if node.is_Pow or isinstance(node, factorial):
            size = _int_log10(node)
            if size is not None and size > MAX_DIGITS:
                raise GuardError(f"number with more than {MAX_DIGITS} digits: {str(node)[:40]}")


def _digits(n: int) -> float:
    n = abs(n)
    return math.log10(n) if 0 < n < 10 ** 300 else n.bit_length() * 0.30103


def _int_log10(e) -> float | None:
    """An upper bound of log10|e| for an exact rational built from integers, integer powers,
    products, sums and factorials; None for anything else."""
    if e.is_Rational:
        return max(_digits(int(e.p)), _digits(int(e.q)))
    if e.is_Pow:
        base, exp = _int_log10(e.base), _int_log10(e.exp)
        if base is None or exp is None or not e.exp.is_integer:
            return None
        return math.inf if exp > 9 else base * 10 ** exp
    if isinstance(e, factorial):
        n = _int_log10(e.args[0])
        return None if n is None else (math.inf if n > 7 else 10 ** n * max(n, 1.0))
    if e.is_Mul or e.is_Add:
        parts = [_int_log10(a) for a in e.args]
        if any(p is None for p in parts):
            return None
        return sum(parts) if e.is_Mul else max(parts) + 1
    return None


