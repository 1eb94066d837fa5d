"""The sympy backend: leaves read by `parsing`, compared exactly where possible.

Imported only inside the worker processes (`server`), never by ``import rlfb``.

Equality of two expressions ``a``, ``b``:

1. structural equality, or ``a - b`` that sympy reduces to exactly 0 → equal;
2. no free symbols: a rational difference decides exactly (``1/2004!`` vs ``1/2006!``);
   otherwise sympy's strict evaluation decides: it certifies the digits it returns, so a value
   it can evaluate is non-zero however small (``e^{-1000}`` is not 0) and a difference in which
   it finds no significant digit (working precision up to 300 digits) is zero, unless its
   expansion is a non-zero rational;
3. free symbols: ``a - b`` is evaluated at four fixed rational points (both signs; integers for
   sums, factorials, floor), exactly for a rational function, else the same certified way:
   non-zero at any point → different; zero at every point where it is defined → equal (a
   randomised identity test).

Two equations are equal when their ``lhs - rhs`` differ by a constant non-zero factor (checked
at the same points), never because both sides reduce to 0. Inequalities are equal when their
``lhs - rhs`` differ by a positive factor (flips included), or describe the same solution set.
"""

from __future__ import annotations

import sympy
from sympy import Integer, Rational, S, nan, oo, zoo
from sympy.core.evalf import PrecisionExhausted
from sympy.solvers.inequalities import solve_univariate_inequality

from .compare import INF, Policy, Undecided, simple_intervals
from .exact import numbers_equal, parse_number, rounds_to
from .lexicon import is_variable
from .parsing import LeafParseError, parse_leaf
from .structure import Equation, Ineq, Interval, Leaf

_INTEGER_FUNCS = (sympy.factorial, sympy.Sum, sympy.Product, sympy.binomial, sympy.floor,
                  sympy.ceiling, sympy.Mod)
_REL = {"<": (1, ">"), ">": (0, ">"), "\\leq": (1, ">="), "\\geq": (0, ">="),
        "\\neq": (0, "!=")}


class SympyBackend:
    """The full backend (see the module docstring)."""

    name = "sympy"
    final = True

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.known: dict[str, object] = {}
        self.seen: dict[str, object] = {}

    def prepare(self, leaf: str) -> None:
        """Parse a leaf ahead of the comparison, so that a failure is attributed to its side."""
        if parse_number(leaf) is None and leaf not in INF:
            self.expr(leaf)

    def expr(self, text: str):
        """The sympy value of a leaf text (LeafParseError/GuardError when none)."""
        if text in INF:
            return oo if INF[text] > 0 else -oo
        if text in self.known:
            return self.known[text]
        num = parse_number(text)  # exact: "6.02e23" is a number, not 6.02·e·23
        value = Rational(num.value.numerator, num.value.denominator) if num else parse_leaf(text)
        self.seen[text] = value
        return value

    def show(self, leaf: str) -> str:
        """How a leaf appears in the evidence: the sympy expression it was read as (a leaf that
        was never parsed, such as a matrix compared entry by entry, is shown as written)."""
        if leaf not in self.seen:
            return leaf
        try:
            return str(self.seen[leaf])[:200]
        except ValueError:  # an integer too long to print (Python's 4300-digit limit)
            return leaf

    def leaf_equal(self, ref: str, pred: str) -> bool:
        """Equality of two leaves under the verifier's policies."""
        if ref == pred:
            return True
        a_num, b_num = parse_number(ref), parse_number(pred)
        p = self.policy
        if a_num is not None and b_num is not None:
            return numbers_equal(a_num, b_num, p.percent, p.rounding, p.rel_tol)
        a, b = self.expr(ref), self.expr(pred)
        for x in _percent_values(a, ref, pred, p.percent):
            for y in _percent_values(b, pred, ref, p.percent):
                if expr_equal(x, y) or self._rounded(a_num, x, b_num, y):
                    return True
        return False

    def _rounded(self, a_num, a, b_num, b) -> bool:
        """A written decimal against an exact symbolic value (e.g. 4.1231056 vs sqrt(17))."""
        dec, exact = (a_num, b) if a_num is not None else (b_num, a)
        if dec is None or dec.decimals is None or dec.decimals < 0 or self.policy.rounding <= 0:
            return False
        if dec.sig < self.policy.rounding or not _constant(exact):
            return False
        value = sympy.N(exact, dec.decimals + 30)
        if not value.is_real:
            return False
        return rounds_to(sympy.Rational(value), dec.decimals, dec.value)

    def value(self, leaf: str) -> float:
        """A real endpoint as a float, for ordering."""
        e = self.expr(leaf)
        if e in (oo, -oo):
            return float(e)
        if not _constant(e) or not e.is_real:
            raise Undecided(f"endpoint {leaf!r} is not a real number")
        return float(sympy.N(e, 20))

    def equation_equal(self, ref: Equation, pred: Equation) -> bool:
        """``lhs - rhs`` of both equal up to a non-zero constant factor."""
        try:
            d1 = self.expr(ref.lhs.text) - self.expr(ref.rhs.text)
            d2 = self.expr(pred.lhs.text) - self.expr(pred.rhs.text)
        except (LeafParseError, TypeError):
            return False
        return proportional(d1, d2, positive=False)

    def ineq_equal(self, ref: Ineq, pred: Ineq) -> bool:
        """Same relations up to positive factors and flips, or the same solution set."""
        r, p = self._relations(ref), self._relations(pred)
        if len(r) == len(p) and all(any(kr == kp and proportional(er, ep, positive=kr != "!=")
                                        for ep, kp in p) for er, kr in r):
            return True
        var_r, var_p = self._variable(ref), self._variable(pred)
        if var_r is None or var_r != var_p:
            return False
        from .compare import _sets_equal
        return _sets_equal(ref, pred, self)

    def _relations(self, ineq: Ineq) -> list[tuple[object, str]]:
        out = []
        for i, op in enumerate(ineq.ops):
            a, b = self.expr(ineq.parts[i].text), self.expr(ineq.parts[i + 1].text)
            flip, kind = _REL[op]
            out.append(((b - a) if flip else (a - b), kind))
        return out

    def _variable(self, ineq: Ineq) -> str | None:
        symbols = set().union(*(self.expr(p.text).free_symbols for p in ineq.parts))
        return str(next(iter(symbols))) if len(symbols) == 1 else None

    def ineq_intervals(self, ineq: Ineq) -> list[Interval]:
        """The solution set over the reals of a one-variable chain."""
        names = [p for p in ineq.parts if is_variable(p.text)]
        others = [p for p in ineq.parts if not is_variable(p.text)]
        if len(names) == 1 and all(_constant(self.expr(o.text)) for o in others):
            return simple_intervals(ineq, self, checked=True)
        symbols = set().union(*(self.expr(p.text).free_symbols for p in ineq.parts))
        if len(symbols) != 1:
            raise Undecided("inequality in more than one variable")
        x = next(iter(symbols))
        solution = S.Reals
        for i, op in enumerate(ineq.ops):
            rel = _relational(op, self.expr(ineq.parts[i].text),
                              self.expr(ineq.parts[i + 1].text))
            solution = solution.intersect(_solve(rel, x))
        return self._from_set(solution)

    def _from_set(self, s) -> list[Interval]:
        parts = s.args if isinstance(s, sympy.Union) else (s,)
        out: list[Interval] = []
        for part in parts:
            if isinstance(part, sympy.Interval):
                out.append(Interval(self._leaf(part.start), self._leaf(part.end),
                                    not part.left_open, not part.right_open))
            elif isinstance(part, sympy.FiniteSet):
                out.extend(Interval(self._leaf(v), self._leaf(v), True, True) for v in part)
            elif part is not S.EmptySet:
                raise Undecided(f"solution set {part} is not a union of intervals")
        return out

    def _leaf(self, value) -> Leaf:
        if value in (oo, -oo):
            return Leaf("\\infty" if value == oo else "-\\infty")
        text = "sympy:" + sympy.srepr(value)
        self.known[text] = value
        return Leaf(text)


def _solve(rel, x):
    """The real solution set of one relation (the univariate inequality solver first: it is
    about twice as fast as solveset, which takes over where it gives up)."""
    if not isinstance(rel, sympy.Ne):
        try:
            return solve_univariate_inequality(rel, x, relational=False, domain=S.Reals)
        except (NotImplementedError, ValueError, TypeError):
            pass
    return sympy.solveset(rel, x, S.Reals)


def _relational(op: str, a, b):
    return {"<": sympy.Lt, ">": sympy.Gt, "\\leq": sympy.Le, "\\geq": sympy.Ge,
            "\\neq": sympy.Ne}[op](a, b)


def _constant(e) -> bool:
    return isinstance(e, sympy.Basic) and not e.free_symbols


def _percent_values(e, text: str, other: str, policy: str) -> list:
    if not text.endswith("%") or other.endswith("%") or policy == "strip":
        return [e]
    return [e / 100] if policy == "fraction" else [e, e / 100]


def expr_equal(a, b) -> bool:
    """Mathematical equality of two sympy values (see the module docstring)."""
    if isinstance(a, sympy.MatrixBase) or isinstance(b, sympy.MatrixBase):
        if not (isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase)):
            return False
        return a.shape == b.shape and all(expr_equal(x, y) for x, y in zip(a, b))
    if not isinstance(a, sympy.Expr) or not isinstance(b, sympy.Expr):
        return a == b
    if a == b:
        return True
    d = a - b
    if d == 0:
        return True
    if not d.free_symbols:
        return _constant_zero(d)
    if d.is_rational_function():  # polynomials and their quotients: exact values at the points
        exact = [d.xreplace(pt) for pt in _points(d)]
        exact = [v for v in exact if v.is_Rational]
        if exact:
            return all(v == 0 for v in exact)
    verdicts = [v for v in (numeric_zero(d, pt) for pt in _points(d)) if v is not None]
    if verdicts:
        return all(verdicts)
    return sympy.simplify(d) == 0


def numeric_zero(d, subs: dict | None = None, maxn: int = 100) -> bool | None:
    """Is ``d`` (at the point ``subs``) zero? True when sympy's strict evaluation cannot find a
    single significant digit (it certifies the digits it returns), False for a certified non-zero
    value however small (``e^{-1000}``), None when ``d`` is not a finite number there."""
    try:
        value = d.evalf(30, subs=subs, strict=True, maxn=maxn)
    except PrecisionExhausted:
        return True
    except (TypeError, ValueError, ZeroDivisionError, ArithmeticError, AttributeError):
        return None
    if not value.is_number or _infinite(value):
        return None
    return bool(value == 0)


def _constant_zero(d) -> bool:
    if d.is_Rational:
        return d == 0
    zero = numeric_zero(d, maxn=300)
    if zero is None:
        return sympy.simplify(d) == 0
    if not zero:
        return False
    expanded = sympy.expand(d)  # a tiny rational hidden in radicals: (1+√2)² + 10^-400 vs 3+2√2
    return not (expanded.is_Rational and expanded != 0)


def _points(expr) -> list[dict]:
    symbols = sorted(expr.free_symbols, key=str)
    integer = expr.has(*_INTEGER_FUNCS)
    out = []
    for j in range(4):
        if integer:
            out.append({s: Integer(3 + (2 * j + 3 * k) % 7) for k, s in enumerate(symbols)})
        else:
            out.append({s: Rational((-1) ** (j + k) * (23 + 17 * j + 11 * k), 13 + 2 * k)
                        for k, s in enumerate(symbols)})
    return out


def _infinite(v) -> bool:
    return v.has(nan, zoo, oo, -oo)


def proportional(d1, d2, positive: bool) -> bool:
    """True when ``d1 = c * d2`` for one constant ``c != 0`` (``c > 0`` with ``positive``)."""
    if d1.free_symbols != d2.free_symbols or d1 == 0 or d2 == 0:
        return d1 == d2 == 0 if not (d1.free_symbols or d2.free_symbols) else False
    if d1 == d2 or (not positive and d1 == -d2):
        return True
    exact = d1.is_rational_function() and d2.is_rational_function()
    ratios = []
    for pt in _points(d1 + d2):
        try:
            if exact:  # polynomial equations: exact ratios at the points
                v1, v2 = d1.xreplace(pt), d2.xreplace(pt)
                if not (v1.is_Rational and v2.is_Rational):
                    continue
            else:
                v1, v2 = d1.evalf(30, subs=pt), d2.evalf(30, subs=pt)
            if v2 == 0 or _infinite(v1) or _infinite(v2):
                continue
            ratios.append(v1 / v2)
        except (TypeError, ValueError, ZeroDivisionError, ArithmeticError):
            continue
    if len(ratios) < 2 or abs(ratios[0]) < Rational(1, 10 ** 20):
        return False
    first = ratios[0]
    if positive and not (first.is_real and first > 0):
        return False
    return all(abs(r - first) <= abs(first) * Rational(1, 10 ** 15) for r in ratios[1:])
