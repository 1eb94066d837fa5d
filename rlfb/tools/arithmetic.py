"""Arithmetic text → an exact sympy value, without evaluating any Python.

Runs inside the calculator's worker process (`rlfb.tools.calculator`), which bounds its time and
memory; ``python -m rlfb.tools.arithmetic`` is that worker (one JSON request per line on stdin,
one JSON reply per line on stdout).

The text is parsed with Python's own parser (``ast.parse(mode="eval")``) and only these nodes
are accepted and rebuilt as sympy objects, never evaluated as Python: numbers, ``+ - * / // %
**`` (``^`` is read as ``**``, ``×``/``÷`` as ``*``/``/``), unary signs, parentheses, the
constants ``pi`` and ``e``, and the functions in `FUNCTIONS`. Decimals become exact fractions.
sympy's own ``parse_expr`` is not used: it hands the transformed text to ``eval``.
The tree is built unevaluated and checked with the math verifier's size guard
(`rlfb.verifiers.math.parsing.check_size`: no integer power or factorial over its digit limit)
before anything is evaluated, with the math verifier's bottom-up `evaluate`.
"""

from __future__ import annotations

import ast
import json
import resource
import sys
from typing import Any, Callable

import sympy

from rlfb.verifiers.math.parsing import check_size, evaluate
from rlfb.verifiers.math.server import MEMORY_LIMIT_MB
from rlfb.verifiers.math.structure import GuardError

MAX_CHARS = 500
"""Longest expression accepted."""
MAX_DEPTH = 60
"""Deepest expression tree accepted."""
DIGITS = 15
"""Significant digits of the decimal shown beside a non-integer result."""
EXACT_DIGITS = 200
"""Rationals with a numerator or denominator longer than this are shown as decimals only."""

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": sympy.sqrt, "abs": sympy.Abs, "exp": sympy.exp, "log": sympy.log, "ln": sympy.log,
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "floor": sympy.floor,
    "ceil": sympy.ceiling, "factorial": sympy.factorial,
}
CONSTANTS = {"pi": sympy.pi, "e": sympy.E}


class NotArithmetic(ValueError):
    """The text is not arithmetic this calculator accepts (the message says why)."""


def _binary(op: ast.operator, a: Any, b: Any) -> Any:
    if isinstance(op, ast.Add):
        return sympy.Add(a, b, evaluate=False)
    if isinstance(op, ast.Sub):
        return sympy.Add(a, sympy.Mul(-1, b, evaluate=False), evaluate=False)
    if isinstance(op, ast.Mult):
        return sympy.Mul(a, b, evaluate=False)
    if isinstance(op, ast.Div):
        return sympy.Mul(a, sympy.Pow(b, -1, evaluate=False), evaluate=False)
    if isinstance(op, ast.Pow):
        return sympy.Pow(a, b, evaluate=False)
    if isinstance(op, ast.FloorDiv):
        return sympy.floor(sympy.Mul(a, sympy.Pow(b, -1, evaluate=False), evaluate=False),
                           evaluate=False)
    if isinstance(op, ast.Mod):
        return sympy.Mod(a, b, evaluate=False)
    raise NotArithmetic(f"operator {type(op).__name__} is not arithmetic")


def _build(node: ast.AST, depth: int = 0) -> Any:
    """The unevaluated sympy tree of one accepted node."""
    if depth > MAX_DEPTH:
        raise NotArithmetic(f"expression nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Expression):
        return _build(node.body, depth + 1)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sympy.Integer(node.value) if isinstance(node.value, int) \
            else sympy.Rational(repr(node.value))
    if isinstance(node, ast.BinOp):
        return _binary(node.op, _build(node.left, depth + 1), _build(node.right, depth + 1))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _build(node.operand, depth + 1)
        return value if isinstance(node.op, ast.UAdd) else sympy.Mul(-1, value, evaluate=False)
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in FUNCTIONS and not node.keywords:
        args = [_build(a, depth + 1) for a in node.args]
        return FUNCTIONS[node.func.id](*args, evaluate=False)
    if isinstance(node, ast.Name):
        raise NotArithmetic(f"unknown name {node.id!r} (constants: pi, e)")
    if isinstance(node, ast.Call):
        raise NotArithmetic(f"unknown function (functions: {', '.join(FUNCTIONS)})")
    raise NotArithmetic(f"{type(node).__name__} is not arithmetic")


def parse_arithmetic(text: str) -> Any:
    """The unevaluated sympy expression of ``text``; `NotArithmetic` when it is not plain
    arithmetic (see the module docstring)."""
    if len(text) > MAX_CHARS:
        raise NotArithmetic(f"expression longer than {MAX_CHARS} characters")
    source = text.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not source:
        raise NotArithmetic("empty expression")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise NotArithmetic(f"cannot parse {text.strip()!r}") from exc
    return _build(tree)


def calculate(text: str) -> str:
    """The value of ``text``: an integer exactly, another rational as ``p/q ≈ decimal``, an
    irrational or complex value (or a rational over `EXACT_DIGITS` digits) as a decimal.

    >>> calculate("123 * 456")
    '56088'
    >>> calculate("7/2 + 0.25")
    '15/4 ≈ 3.75'
    >>> calculate("sqrt(2)^2 + 2^10")
    '1026'
    """
    expr = parse_arithmetic(text)
    check_size(expr)
    value = evaluate(expr)
    if value.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise NotArithmetic("undefined (division by zero?)")
    if value.is_Rational and max(abs(value.p), value.q) < 10 ** EXACT_DIGITS:
        return str(value) if value.is_Integer else f"{value} ≈ {_decimal(value)}"
    return _decimal(value)


def _decimal(value: Any) -> str:
    return sympy.sstr(sympy.N(value, DIGITS), full_prec=False)


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The worker's reply to ``{"expression": text}``: ``{"status": "ok", "value": ...}`` or
    ``{"status": "error", "message": ...}`` (not arithmetic, too large, undefined)."""
    try:
        return {"status": "ok", "value": calculate(str(request["expression"]))}
    except (NotArithmetic, GuardError) as exc:
        return {"status": "error", "message": str(exc)}
    except (ValueError, TypeError, ZeroDivisionError, RecursionError, MemoryError) as exc:
        return {"status": "error", "message": f"{type(exc).__name__}: {exc}"}


def serve() -> None:
    """The worker loop: one JSON request per stdin line, one JSON reply per stdout line, with
    the math workers' address-space cap."""
    limit = MEMORY_LIMIT_MB << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for line in sys.stdin:
        sys.stdout.write(json.dumps(answer(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
