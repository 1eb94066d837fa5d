"""The calculator tool: exact arithmetic, no Python evaluation, bounded size and time."""

from __future__ import annotations

import os
import tempfile
import time

import pytest

from rlfb.environments import get_tool, run_tool
from rlfb.tools.arithmetic import NotArithmetic, answer, calculate, parse_arithmetic


@pytest.mark.parametrize("text, value", [
    ("123 * 456", "56088"),
    ("987*654", "645498"),
    ("7/2 + 0.25", "15/4 ≈ 3.75"),
    ("2^10 - 24", "1000"),
    ("-3**2", "-9"),
    ("17 // 5 + 17 % 5", "5"),
    ("(1 + 2) × 3 ÷ 9", "1"),
    ("sqrt(2)^2 + 1", "3"),
    ("1/3", "1/3 ≈ 0.333333333333333"),
    ("3.5e2", "350"),
    ("2**1000 // 2**999", "2"),
])
def test_values_are_exact(text, value):
    assert calculate(text) == value


def test_irrational_and_huge_values_are_decimals():
    assert calculate("pi") == "3.14159265358979"
    assert calculate("2**100000") == "9.99002093014385e+30102"


@pytest.mark.parametrize("text, reason", [
    ("__import__('os').system('true')", "unknown function"),
    ("(1).real", "Attribute is not arithmetic"),
    ("x + 1", "unknown name 'x'"),
    ("[1, 2]", "List is not arithmetic"),
    ("(lambda: 1)()", "unknown function"),
    ("1 if 1 else 2", "IfExp is not arithmetic"),
    ("'a' * 3", "Constant is not arithmetic"),
    ("2 << 3", "LShift is not arithmetic"),
    ("sqrt(x=4)", "unknown function"),
    ("1 +", "cannot parse"),
    ("", "empty expression"),
    ("1" * 600, "longer than 500 characters"),
    ("-" * 70 + "1", "nested deeper than 60"),
])
def test_anything_but_arithmetic_is_refused(text, reason):
    with pytest.raises(NotArithmetic, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_arithmetic(text)


def test_code_in_an_expression_never_runs():
    marker = os.path.join(tempfile.mkdtemp(), "ran")
    reply = answer({"expression": f"__import__('os').system('touch {marker}')"})
    assert reply["status"] == "error"
    assert not os.path.exists(marker)


def test_size_guard_refuses_huge_powers_before_evaluating():
    start = time.perf_counter()
    reply = answer({"expression": "10**10**10 + 9**9**9"})
    assert reply == {"status": "error",
                     "message": "number with more than 50000 digits: 10**(10**10)"}
    assert answer({"expression": "factorial(10**6)"})["message"].startswith(
        "number with more than 50000 digits")
    assert time.perf_counter() - start < 60  # would not finish at all without the guard


def test_division_by_zero_is_an_error_not_a_value():
    assert answer({"expression": "1/0"}) == {"status": "error",
                                             "message": "undefined (division by zero?)"}


@pytest.fixture(scope="module")
def calculator():
    tool = get_tool("calculator", timeout_s=1.0)
    yield tool
    tool.close()


def test_tool_returns_values_and_errors(calculator):
    ok = run_tool(calculator, {"expression": "999 * 999"})
    assert (ok.content, ok.status) == ("998001", "ok")
    bad = run_tool(calculator, {"expression": "import os"})
    assert bad.status == "error" and bad.content == "ERROR: cannot parse 'import os'"


def test_a_slow_evaluation_times_out_and_the_next_call_works(calculator):
    # (10 % 7) is not a literal, so the size guard cannot bound the power: only the time limit.
    slow = run_tool(calculator, {"expression": "(10 % 7) ** (10**10)"})
    assert slow.status == "timeout"
    assert slow.content == "TIMEOUT: '(10 % 7) ** (10**10)' took longer than 1 s"
    after = run_tool(calculator, {"expression": "12 * 12"})
    assert (after.content, after.status) == ("144", "ok")


def test_the_worker_imports_sympy_but_no_torch():
    """The worker's address space is capped like a math worker's: it must stay small."""
    import subprocess
    import sys

    code = ("import sys, rlfb.tools.arithmetic; "
            "print(sorted(m for m in ('torch', 'transformers', 'ray', 'sympy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["['sympy']"], out.stderr
