"""Stdout comparison policies of the code verifier."""

from __future__ import annotations

import pytest

from rlfb.verifiers.code.compare import compare


@pytest.mark.parametrize("got, want, policy, ok", [
    ("3\n", "3\n", "exact", True),
    ("3", "3\n", "exact", False),
    ("1  2\n", "1 2\n", "exact", False),
    ("a  \nb\n\n\n", "a\nb", "lines", True),
    ("a b\n", "a\nb\n", "lines", False),
    ("a\r\nb\r\n", "a\nb\n", "lines", True),
    ("1\n2\n", " 1 2 ", "whitespace", True),
    ("1 2 3", "1 2", "whitespace", False),
    ("0.333333", "0.3333333333", "float", True),
    ("0.3334", "0.3333", "float", False),
    ("nan x", "nan x", "float", True),
    ("yes 1.0", "YES 1.0", "float", False),
    ("1e-9", "0", "float", True),
    ("inf", "inf", "float", True),
])
def test_policies(got, want, policy, ok):
    assert compare(got, want, policy, float_tol=1e-6).ok is ok


def test_failures_say_where():
    assert "token 2" in compare("1 5 3", "1 2 3", "whitespace").detail
    assert "line 2" in compare("a\nc", "a\nb", "lines").detail
    assert "character 1" in compare("ab", "ac", "exact").detail


def test_float_tolerance_is_configurable():
    assert not compare("1.001", "1.0", "float", float_tol=1e-6).ok
    assert compare("1.001", "1.0", "float", float_tol=1e-2).ok


def test_unknown_policy():
    with pytest.raises(ValueError, match="unknown comparison policy"):
        compare("a", "a", "fuzzy")
