"""Normalisation, exact numbers, answer structure and the exact comparison path (no sympy)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from rlfb.verifiers.math.compare import ExactBackend, Policy, Undecided, equal
from rlfb.verifiers.math.core import choice_letter, decide, describe
from rlfb.verifiers.math.exact import numbers_equal, parse_number, rounds_to
from rlfb.verifiers.math.lexicon import is_name, is_variable, strip_units
from rlfb.verifiers.math.normalize import normalize
from rlfb.verifiers.math.structure import GuardError, parse_answer, readings


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("\\dfrac{1}{3}", "\\frac{1}{3}"),
        ("\\frac12", "\\frac{1}{2}"),
        ("\\sqrt3", "\\sqrt{3}"),
        ("\\left( x \\right)", "(x)"),
        ("15\\mbox{ cm}^2", "15 cm^2"),
        ("28 percent", "28%"),
        ("$28$ \\%", "28%"),
        ("90^\\circ", "90"),
        ("\\$1,\\!000", "1,000"),
        ("14 {, }916", "14,916"),
        ("32, 349", "32, 349"),
        ("x \\le 5", "x \\leq 5"),
        ("x >= 5", "x \\geq 5"),
        ("x \\neq 3", "x \\neq 3"),
        ("\\begin{bmatrix}1&2\\end{bmatrix}", "\\begin{pmatrix}1&2\\end{pmatrix}"),
        ("-2 \\\\le x", "-2 \\leq x"),
        ("W(x)=1orW(x)=-1", "W(x)=1 or W(x)=-1"),
        ("6 \\text{ and } 8", "6 and 8"),
        ("185\\", "185"),
        ("1, 2, 3, ...", "1, 2, 3, \\dots"),
        ("\\begin{pmatrix}x \\\\ (1+2)\\end{pmatrix}", "\\begin{pmatrix}x \\\\(1+2)\\end{pmatrix}"),
        ("\\(x+1\\)", "x+1"),
        ("\u22122 \u00d7 \u03c0", "-2 \\times \\pi"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("7,425,000", ["7425000", "7,425,000"]),
        ("1,22", ["1.22", "1,22"]),
        ("1 000", ["1000"]),
        ("[-2,7]", ["[-2,7]"]),
        ("(1,5)", ["(1,5)"]),
        ("1,2,3", ["1,2,3"]),
        ("x+1", ["x+1"]),
    ],
)
def test_comma_readings(text, expected):
    assert readings(text) == expected


@pytest.mark.parametrize(
    "text, value, decimals, percent",
    [
        ("-5", Fraction(-5), None, False),
        (".4", Fraction(2, 5), 1, False),
        ("\\frac{-8}{-4}", Fraction(2), None, False),
        ("10/9", Fraction(10, 9), None, False),
        ("918\\frac{1}{2}", Fraction(1837, 2), None, False),
        ("-4 4/9", Fraction(-40, 9), None, False),
        ("1.5e3", Fraction(1500), -2, False),
        ("2.5\\times10^{-2}", Fraction(1, 40), 3, False),
        ("2^{10}", Fraction(1024), None, False),
        ("28%", Fraction(28), None, True),
        ("(7)", Fraction(7), None, False),
    ],
)
def test_parse_number(text, value, decimals, percent):
    num = parse_number(text)
    assert (num.value, num.decimals, num.percent) == (value, decimals, percent)


@pytest.mark.parametrize("text", ["x", "11 6/6", "4 4/0", "1e99999", "\\sqrt{2}", "1,000"])
def test_not_plain_numbers(text):
    assert parse_number(text) is None


def test_rounding_rule():
    assert rounds_to(Fraction(1, 3), 4, Fraction(3333, 10000))
    assert rounds_to(Fraction(2, 3), 3, Fraction(667, 1000))  # rounded
    assert rounds_to(Fraction(2, 3), 3, Fraction(666, 1000))  # truncated
    assert not rounds_to(Fraction(2, 3), 3, Fraction(665, 1000))
    assert rounds_to(Fraction(-2, 3), 2, Fraction(-67, 100))
    a, b = parse_number("0.3333"), parse_number("\\frac{1}{3}")
    assert numbers_equal(a, b, "either", 4, 0.0)
    assert not numbers_equal(a, b, "either", 5, 0.0)  # 4 significant digits < 5
    assert not numbers_equal(parse_number("0.333"), parse_number("0.3333"), "either", 1, 0.0)


def test_percent_policies():
    ten_pct, ten, tenth = parse_number("10%"), parse_number("10"), parse_number("0.1")
    assert numbers_equal(ten_pct, ten, "either", 4, 0)
    assert numbers_equal(ten_pct, tenth, "either", 4, 0)
    assert not numbers_equal(ten_pct, ten, "fraction", 4, 0)
    assert numbers_equal(ten_pct, tenth, "fraction", 4, 0)
    assert numbers_equal(ten_pct, ten, "strip", 4, 0)
    assert not numbers_equal(ten_pct, tenth, "strip", 4, 0)
    assert numbers_equal(parse_number("5"), parse_number("5.004"), "either", 4, 1e-3)


@pytest.mark.parametrize(
    "text, shape",
    [
        ("1, 2, 3", "list[1, 2, 3]"),
        ("(1, 2, 3)", "tuple[1, 2, 3]"),
        ("\\{1, 2\\}", "set[1, 2]"),
        ("[0, 1)", "[0, 1)"),
        ("(1, \\infty)", "(1, \\infty)"),
        ("[-1, 0)\\cup(0, 1]", "[-1, 0) ∪ (0, 1]"),
        ("x=5+5+1=11", "x = 11"),
        ("(p, q)=(3, 2)", "(p, q) = tuple[3, 2]"),
        ("2x+4y=3", "equation(2x+4y = 3)"),
        ("5\\times6=30", "5\\times6 = 30"),
        ("x\\approx 11", "11"),
        ("x=\\frac{1}{3}\\approx 0.33", "x = \\frac{1}{3}"),
        ("-2\\leq x<7", "inequality(-2 \\leq x < 7)"),
        ("x \\in[0, 1]", "x in [0, 1]"),
        ("1\\pm\\sqrt{2}", "pm[1+\\sqrt{2}, 1-\\sqrt{2}]"),
        ("p=5, q=2;p=7, q=2", "list[tuple[p = 5, q = 2], tuple[p = 7, q = 2]]"),
        ("(0;-2;6)", "tuple[0, -2, 6]"),
        ("7:32", "ratio(7:32)"),
        ("odd", "text(odd)"),
        ("125 miles", "125"),
        ("6 and 8", "list[6, 8]"),
    ],
)
def test_structure(text, shape):
    assert describe(parse_answer(text)) == shape


def test_structure_guards():
    with pytest.raises(GuardError):
        parse_answer("(" * 100 + "1" + ")" * 100)
    with pytest.raises(GuardError):
        parse_answer("1+" * 1500)


@pytest.mark.parametrize(
    "text, name, variable",
    [("x", True, True), ("a_{37}", True, True), ("f(x)", True, True), ("|AB|", True, False),
     ("(p, q)", True, False), ("A:B", True, False), ("\\frac{NO}{BO}", True, False),
     ("11a+c", False, False), ("2x", False, False), ("x(x+1)", False, False)],
)
def test_names(text, name, variable):
    assert (is_name(text), is_variable(text)) == (name, variable)


def test_units():
    assert strip_units("15 cm^2") == "15"
    assert strip_units("\\frac{1}{3}meters") == "\\frac{1}{3}"
    assert strip_units("2 x") == "2 x"  # a variable, not a unit
    assert strip_units("3 m") == "3"


@pytest.mark.parametrize(
    "answer, letter",
    [("C", "C"), ("(C)", "C"), ("\\text{(C)}", "C"), ("C. x = 42", "C"), ("A:B=1", None),
     ("A = 5", None), ("e", None), ("D x", None)],
)
def test_choice_letters(answer, letter):
    assert choice_letter(answer) == letter


EXACT = ExactBackend(Policy())


@pytest.mark.parametrize(
    "ref, pred, status",
    [
        ("0.5", "\\frac{1}{2}", "correct"),
        ("7425000", "7,425,000", "correct"),
        ("32349", "32, 349", "wrong"),
        ("(1, 3)", "\\{1,3\\}", "correct"),
        ("(3, 1)", "\\{1,3\\}", "wrong"),
        ("x \\leq 5", "5\\geq x", "correct"),
        ("x<1", "x>-1", "wrong"),
        ("-2\\leq x\\leq 7", "x\\in[-2,7]", "correct"),
        ("x\\in[-2,7]", "-2\\leq x\\leq 7", "wrong"),
        ("2", "2, 3", "wrong"),
        ("2", "2, 2", "correct"),
        ("\\pm 2021", "\\{-2021, 2021\\}", "correct"),
        ("\\pm 2021", "2021", "wrong"),
        ("1, 2", "2; 1", "correct"),
        ("0<f(x)<1", "(0,1)", "correct"),
        ("12:00", "1:00", "wrong"),
        ("\\begin{pmatrix}1&\\frac{1}{2}\\\\3&4\\end{pmatrix}",
         "\\begin{bmatrix}1&0.5\\\\3&4\\end{bmatrix}", "correct"),
        ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}",
         "wrong"),
        ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", "wrong"),
        ("x+1", "1+x", "undecided"),
        ("2x+4y=3", "y=\\frac{3}{4}-\\frac{x}{2}", "undecided"),
    ],
)
def test_exact_path(ref, pred, status):
    assert decide(ref, pred, EXACT).status == status


def test_exact_backend_refuses_symbols():
    with pytest.raises(Undecided):
        equal(parse_answer("\\sqrt{2}"), parse_answer("2"), EXACT)
