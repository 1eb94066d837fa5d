"""`"math"`: sympy-backed equivalence of a completion's final answer with the reference.

>>> from rlfb.verifiers import get_verifier
>>> get_verifier("math").verify("... so the answer is $\\boxed{\\frac{1}{2}}$.", "0.5").status.value
'correct'

Importing this package does not import sympy: symbolic work runs in worker processes.
"""

from rlfb.verifiers.math.verifier import MathVerifier

__all__ = ["MathVerifier"]
