"""require_value: an answer that restates the question's arithmetic is not credited."""

from __future__ import annotations

import pytest

from rlfb.verifiers import VerifyStatus, get_verifier
from rlfb.verifiers.math.restate import restates_arithmetic

C, W = VerifyStatus.CORRECT, VerifyStatus.WRONG


@pytest.mark.parametrize("completion,reference,strict,lenient", [
    ("2 - 4", "-2", W, C),                      # the question, restated
    ("-( -4 + -8 )", "12", W, C),
    ("The answer is \\(3 \\times 7\\).", "21", W, C),
    ("63 + 95 = 158", "158", C, C),             # worked, then the value
    ("x = -2", "-2", C, C),
    ("\\boxed{\\frac{1}{2}}", "0.5", C, C),     # a fraction is a value
    ("\\boxed{2 \\times 10^{3}}", "2000", C, C),  # so is scientific notation
    ("\\boxed{x + 1}", "1 + x", C, C),          # an expression reference: no restriction
    ("2 - 5", "-2", W, W),                      # wrong either way
])
def test_require_value(completion, reference, strict, lenient):
    assert get_verifier("math").verify(completion, reference).status is strict
    loose = get_verifier("math", require_value=False)
    assert loose.verify(completion, reference).status is lenient


def test_the_reason_is_in_the_evidence():
    r = get_verifier("math").verify("2 - 4", "-2")
    assert r.status is W and "not a value" in r.info["reason"] and r.extracted == "2 - 4"


def test_restates_arithmetic_needs_a_plain_number_reference():
    assert restates_arithmetic("-2", "2-4")
    assert not restates_arithmetic("\\sqrt{2}", "1+1")
    assert not restates_arithmetic("-2", "-2")
