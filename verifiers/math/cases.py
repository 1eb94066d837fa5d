"""Golden cases for the math verifier, run by `rlfb verifiers check math`."""

from __future__ import annotations

from rlfb.verifiers.base import GoldenCase, VerifyStatus

C, W, U = VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.UNPARSEABLE

GOLDEN_CASES: tuple[GoldenCase, ...] = (
    GoldenCase("So the answer is $\\boxed{\\frac{1}{2}}$.", "0.5", C),
)
