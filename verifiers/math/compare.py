"""Equivalence of two answer trees (see `structure`), with a pluggable leaf backend.

The tree rules are the verifier's semantics; the backend only compares leaves (single
expressions), equations and inequalities. `ExactBackend` knows plain numbers only and raises
`Undecided` for anything else, so the calling process settles numeric answers without sympy; the
worker process re-runs the same rules with the sympy backend (`symbolic.SympyBackend`).

Rules, reference first:

- an equation reference needs an equation (``2x + 4y = 3`` ~ ``y = -x/2 + 3/4``: the two
  ``lhs - rhs`` differ by a non-zero constant factor); a value never equals an equation, and two
  equations are never equal merely because both sides reduce to 0;
- an assignment ``x = 3`` stands for its value 3; two assignments to different variables are
  compared as equations (``x = y`` ~ ``y = x``, but ``x = 1, y = 2`` is not ``x = 2, y = 1``);
- an inequality reference accepts an inequality (flipped relations are equal) or the interval /
  membership ``x \\in [a, b]`` describing the same set; an interval reference accepts an
  inequality only with ``inequality_for_interval`` (a question that wants interval notation);
- tuples compare in order (a one-row or one-column matrix against a tuple is read as one); lists
  and sets as sets (a repeated equal value is one value); a single reference value against
  several different predicted values is wrong (a hedge);
- written-out matrices compare entry by entry (same shape); a matrix expression (``A + B``) goes
  to sympy whole;
- text answers compare case-insensitively.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Protocol

from .exact import numbers_equal, parse_number
from .lexicon import is_name, is_variable, matrix_entries, name_key, vector_entries
from .structure import Assign, Equation, Ineq, Interval, Leaf, Ratio, Seq, SetUnion, TextAns

INF = {"\\infty": math.inf, "-\\infty": -math.inf}


class Undecided(Exception):
    """The backend cannot decide this comparison (the exact backend on a symbolic leaf)."""


class OutOfTime(Exception):
    """The exact backend passed its deadline (a huge list compared element by element)."""


@dataclass(frozen=True)
class Policy:
    """The verifier options that change a judgement (see `MathVerifier`)."""

    percent: str = "either"
    rounding: int = 4
    rel_tol: float = 0.0
    inequality_for_interval: bool = False


class Backend(Protocol):
    """What the tree comparison needs from a leaf backend."""

    policy: Policy

    def leaf_equal(self, ref: str, pred: str) -> bool: ...

    def value(self, leaf: str) -> float: ...

    def equation_equal(self, ref: Equation, pred: Equation) -> bool: ...

    def ineq_equal(self, ref: Ineq, pred: Ineq) -> bool: ...

    def ineq_intervals(self, ineq: Ineq) -> list[Interval]: ...


def equal(ref: object, pred: object, be: Backend) -> bool:
    """True when the prediction tree is equivalent to the reference tree."""
    ref, pred = _single(ref), _single(pred)
    if isinstance(ref, Equation):
        eq = _as_equation(pred)
        return eq is not None and be.equation_equal(ref, eq)
    if isinstance(ref, Assign):
        return _assign_vs(ref, pred, be)
    if isinstance(pred, Assign):
        return equal(ref, pred.value, be) if pred.relation != "notin" else False
    if isinstance(pred, Equation):
        return False
    if isinstance(ref, Ineq):
        return _ineq_vs(ref, pred, be)
    if isinstance(pred, Ineq):
        return be.policy.inequality_for_interval and _is_set(ref) and _sets_equal(ref, pred, be)
    if _is_set(ref) or _is_set(pred):
        return (_is_set(ref) or _is_pair(ref)) and (_is_set(pred) or _is_pair(pred)) \
            and _sets_equal(ref, pred, be)
    if isinstance(ref, Seq) or isinstance(pred, Seq):
        ref, pred = _vector_as_tuple(ref, pred), _vector_as_tuple(pred, ref)
        return _seq_vs(ref, pred, be)
    if isinstance(ref, Ratio) or isinstance(pred, Ratio):
        return isinstance(ref, Ratio) and isinstance(pred, Ratio) and _ordered(
            ref.parts, pred.parts, be)
    if isinstance(ref, TextAns) or isinstance(pred, TextAns):
        return _words(ref) == _words(pred)
    ref_m, pred_m = matrix_entries(ref.text), matrix_entries(pred.text)
    if ref_m is not None and pred_m is not None:  # two written-out matrices: entry by entry
        return len(ref_m) == len(pred_m) and len(ref_m[0]) == len(pred_m[0]) and all(
            be.leaf_equal(a, b) for ra, rb in zip(ref_m, pred_m) for a, b in zip(ra, rb))
    return be.leaf_equal(ref.text, pred.text)


def _single(node: object) -> object:
    while isinstance(node, Seq) and node.kind in ("list", "set") and len(node.items) == 1:
        node = node.items[0]
    if isinstance(node, Seq) and node.kind == "pm":
        return Seq("list", node.items)
    return node


def _as_equation(node: object) -> Equation | None:
    if isinstance(node, Equation):
        return node
    if isinstance(node, Assign) and node.relation == "=" and isinstance(node.value, Leaf) \
            and is_name(node.name):
        return Equation(Leaf(node.name), node.value)
    return None


def _assign_vs(ref: Assign, pred: object, be: Backend) -> bool:
    if ref.relation == "notin":
        return isinstance(pred, Assign) and pred.relation == "notin" and equal(
            ref.value, pred.value, be)
    if isinstance(pred, Assign):
        if pred.relation == "notin":
            return False
        if _same_name(ref.name, pred.name) and equal(ref.value, pred.value, be):
            return True
        ref_eq, pred_eq = _as_equation(ref), _as_equation(pred)
        return ref_eq is not None and pred_eq is not None and be.equation_equal(ref_eq, pred_eq)
    if isinstance(pred, Equation):
        ref_eq = _as_equation(ref)
        return ref_eq is not None and be.equation_equal(ref_eq, pred)
    return equal(ref.value, pred, be)


def _same_name(a: str, b: str) -> bool:
    """Two assignments name the same quantity unless both name different variables (``x = 1``
    vs ``y = 1``); a function's argument does not matter (``W(n) = 1`` vs ``W(x) = 1``)."""
    if not (is_variable(a) and is_variable(b)):
        return True
    return name_key(a) == name_key(b)


def _ineq_vs(ref: Ineq, pred: object, be: Backend) -> bool:
    if isinstance(pred, Ineq):
        return be.ineq_equal(ref, pred)
    if isinstance(pred, Assign) and pred.relation == "in":
        pred = pred.value
    pred = _single(pred)
    return (_is_set(pred) or _is_pair(pred)) and _sets_equal(ref, pred, be)


def _is_set(node: object) -> bool:
    return isinstance(node, (Interval, SetUnion))


def _is_pair(node: object) -> bool:
    return isinstance(node, Seq) and node.pair


def _seq_vs(ref: object, pred: object, be: Backend) -> bool:
    if not isinstance(ref, Seq):  # one value asked: every predicted value must be it
        return pred.kind != "tuple" and all(equal(ref, p, be) for p in pred.items)
    if not isinstance(pred, Seq):
        return ref.kind != "tuple" and all(equal(r, pred, be) for r in ref.items)
    if ref.kind == "tuple" or pred.kind == "tuple":
        return _ordered(ref.items, pred.items, be)
    fast = _exact_sets(ref.items, pred.items, be.policy)
    if fast is not None:
        return fast
    return all(any(equal(r, p, be) for p in pred.items) for r in ref.items) and \
        all(any(equal(r, p, be) for r in ref.items) for p in pred.items)


def _exact_sets(refs: tuple, preds: tuple, policy: Policy) -> bool | None:
    """Set equality in linear time when every item is a plain integer or fraction (no decimal,
    percent or tolerance that would make equality depend on the other side); else None."""
    if policy.rel_tol > 0 or len(refs) + len(preds) < 16:
        return None
    keys: list[set] = [set(), set()]
    for side, items in enumerate((refs, preds)):
        for item in items:
            num = parse_number(item.text) if isinstance(item, Leaf) else None
            if num is None or num.decimals is not None or num.percent:
                return None
            keys[side].add(num.value)
    return keys[0] == keys[1]


def _vector_as_tuple(node: object, other: object) -> object:
    """A column or row vector compared with a tuple is read as the tuple of its entries."""
    if isinstance(node, Leaf) and isinstance(other, Seq) and other.kind == "tuple":
        entries = vector_entries(node.text)
        if entries is not None:
            return Seq("tuple", tuple(Leaf(e) for e in entries))
    return node


def _ordered(refs: tuple, preds: tuple, be: Backend) -> bool:
    return len(refs) == len(preds) and all(equal(r, p, be) for r, p in zip(refs, preds))


def _words(node: object) -> str:
    text = node.words if isinstance(node, TextAns) else getattr(node, "text", "")
    return " ".join(text.lower().split())


def _sets_equal(a: object, b: object, be: Backend) -> bool:
    ia, ib = canonical(_intervals(a, be), be), canonical(_intervals(b, be), be)
    if len(ia) != len(ib):
        return False
    return all(_same_interval(x, y, be) for x, y in zip(ia, ib))


def _intervals(node: object, be: Backend) -> list[Interval]:
    node = _single(node)
    if isinstance(node, Interval):
        return [node]
    if isinstance(node, Seq) and node.pair:
        lo, hi = node.items
        if isinstance(lo, Leaf) and isinstance(hi, Leaf):
            return [Interval(lo, hi, False, False)]
    if isinstance(node, Seq) and node.kind in ("set", "list") and \
            all(isinstance(i, Leaf) for i in node.items):
        return [Interval(i, i, True, True) for i in node.items]
    if isinstance(node, Leaf):
        return [Interval(node, node, True, True)]
    if isinstance(node, SetUnion):
        return [i for part in node.parts for i in _intervals(part, be)]
    if isinstance(node, Ineq):
        return be.ineq_intervals(node)
    if isinstance(node, Assign) and node.relation == "in":
        return _intervals(node.value, be)
    raise Undecided(f"not a set of reals: {type(node).__name__}")


def canonical(intervals: list[Interval], be: Backend) -> list[Interval]:
    """Sorted, with overlapping or touching intervals merged."""
    keyed = sorted(intervals, key=lambda i: (be.value(i.lo.text), not i.lo_closed))
    out: list[Interval] = []
    for iv in keyed:
        if out and _touches(out[-1], iv, be):
            last = out[-1]
            hi_v, last_hi = be.value(iv.hi.text), be.value(last.hi.text)
            if hi_v > last_hi or (hi_v == last_hi and iv.hi_closed):
                out[-1] = replace(last, hi=iv.hi, hi_closed=iv.hi_closed)
        else:
            out.append(iv)
    return out


def _touches(a: Interval, b: Interval, be: Backend) -> bool:
    a_hi, b_lo = be.value(a.hi.text), be.value(b.lo.text)
    if b_lo < a_hi:
        return True
    return b_lo == a_hi and (a.hi_closed or b.lo_closed) and be.leaf_equal(a.hi.text, b.lo.text)


def _same_interval(x: Interval, y: Interval, be: Backend) -> bool:
    for xe, ye, xc, yc in ((x.lo, y.lo, x.lo_closed, y.lo_closed),
                           (x.hi, y.hi, x.hi_closed, y.hi_closed)):
        xv = INF.get(xe.text)
        if xv is not None or INF.get(ye.text) is not None:
            if xv != INF.get(ye.text):
                return False
            continue
        if xc != yc or not be.leaf_equal(xe.text, ye.text):
            return False
    return True


class ExactBackend:
    """Plain numbers only (`exact.parse_number`); everything else is `Undecided`."""

    name = "exact"
    final = False  # "undecided" means: ask the sympy backend

    def __init__(self, policy: Policy, deadline: float | None = None) -> None:
        self.policy = policy
        self.deadline = deadline

    def prepare(self, leaf: str) -> None:
        """Nothing to read ahead: leaves are parsed as numbers on demand."""

    def show(self, leaf: str) -> str:
        """How a leaf appears in the evidence: as written."""
        return leaf

    def leaf_equal(self, ref: str, pred: str) -> bool:
        """Exact comparison of two numbers; Undecided unless both are plain numbers."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime("the time budget was spent in the exact path")
        if ref == pred:
            return True
        a, b = parse_number(ref), parse_number(pred)
        if a is None or b is None:
            raise Undecided("symbolic leaf")
        p = self.policy
        return numbers_equal(a, b, p.percent, p.rounding, p.rel_tol)

    def value(self, leaf: str) -> float:
        """The float value of a numeric leaf or of ``\\infty`` (for ordering)."""
        if leaf in INF:
            return INF[leaf]
        num = parse_number(leaf)
        if num is None:
            raise Undecided("symbolic endpoint")
        return float(num.value)

    def equation_equal(self, ref: Equation, pred: Equation) -> bool:
        """Only identical equations are decided here."""
        if (ref.lhs, ref.rhs) in ((pred.lhs, pred.rhs), (pred.rhs, pred.lhs)):
            return True
        raise Undecided("equation")

    def ineq_equal(self, ref: Ineq, pred: Ineq) -> bool:
        """Simple forms ``x op number`` (chains included): same variable, same set."""
        rv, pv = simple_variable(ref), simple_variable(pred)
        if rv is None or pv is None:
            raise Undecided("inequality")
        return rv == pv and _sets_equal(ref, pred, self)

    def ineq_intervals(self, ineq: Ineq) -> list[Interval]:
        """The solution set of a simple inequality chain."""
        return simple_intervals(ineq, self)


def simple_variable(ineq: Ineq) -> str | None:
    """The one variable in a chain whose other members are numbers (or ``\\infty``), else None."""
    names = [p.text for p in ineq.parts if is_variable(p.text)]
    others = [p.text for p in ineq.parts if not is_variable(p.text)]
    if len(names) != 1 or any(parse_number(o) is None and o not in INF for o in others):
        return None
    return names[0].replace(" ", "")


_FLIP = {"<": ">", ">": "<", "\\leq": "\\geq", "\\geq": "\\leq", "\\neq": "\\neq"}


def simple_intervals(ineq: Ineq, be: Backend, checked: bool = False) -> list[Interval]:
    """Intervals of ``a < x \\leq b``, ``x > 3``, ``5 \\geq x``, ``x \\neq 3``: one variable,
    the other members constants (numbers, unless the caller ``checked`` them itself)."""
    if not checked and simple_variable(ineq) is None:
        raise Undecided("not a simple inequality")
    lo, hi = Leaf("-\\infty"), Leaf("\\infty")
    lo_c = hi_c = False
    holes: list[Leaf] = []
    for i, op in enumerate(ineq.ops):
        left, right = ineq.parts[i], ineq.parts[i + 1]
        if is_variable(right.text):  # a op x  ->  x flip(op) a
            left, right, op = right, left, _FLIP[op]
        if not is_variable(left.text):
            raise Undecided("inequality between numbers")
        if op == "\\neq":
            holes.append(right)
        elif op in (">", "\\geq"):
            lo, lo_c = right, op == "\\geq"
        else:
            hi, hi_c = right, op == "\\leq"
    pieces = [Interval(lo, hi, lo_c, hi_c)]
    for h in holes:
        pieces = [p for iv in pieces for p in _punch(iv, h, be)]
    return pieces


def _punch(iv: Interval, hole: Leaf, be: Backend) -> list[Interval]:
    v, lo, hi = be.value(hole.text), be.value(iv.lo.text), be.value(iv.hi.text)
    if not lo <= v <= hi:
        return [iv]
    return [Interval(iv.lo, hole, iv.lo_closed, False), Interval(hole, iv.hi, False, iv.hi_closed)]
