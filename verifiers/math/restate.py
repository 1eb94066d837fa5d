"""Is an answer still the question's arithmetic? (``MathVerifier(require_value=True)``)

``2 - 4`` equals ``-2``, and a lenient equivalence check credits it; a policy trained on such a
check learns to restate the question instead of answering it. When the reference is a plain
number, an answer whose value part is an arithmetic expression over numbers is not a value.
"""

from __future__ import annotations

import re

from .normalize import normalize

_NUMBER = r"-?\d+(?:,\d{3})*(?:\.\d+)?"
_PLAIN_NUMBER = re.compile(rf"^(?:{_NUMBER}|-?\d+/\d+|-?\\[dt]?frac\{{\d+\}}\{{\d+\}})%?$")
# A binary operator between two numeric operands (a leading minus sign is not one).
_OPERATOR = re.compile(
    r"(?<=[\d)}])\s*(?:\+|-|\*|\^|×|÷|·|\\times|\\cdot|\\div)\s*(?=[\d(\\{]|-\d)")
_SCIENTIFIC = re.compile(r"\d\s*(?:\*|×|\\times|\\cdot)\s*10\s*\^")


def restates_arithmetic(reference: str, answer: str) -> bool:
    """True when ``reference`` is a plain number and ``answer`` (after any ``lhs =``) is an
    arithmetic expression over numbers rather than a value.

    >>> restates_arithmetic("-2", "2 - 4"), restates_arithmetic("-2", "x = -2")
    (True, False)
    >>> restates_arithmetic("21", "3 \\\\times 7"), restates_arithmetic("0.5", "\\\\frac{1}{2}")
    (True, False)
    >>> restates_arithmetic("2000", "2 \\\\times 10^{3}"), restates_arithmetic("x+1", "1+x")
    (False, False)
    """
    if not _PLAIN_NUMBER.match(normalize(reference)):
        return False
    value = normalize(answer).rsplit("=", 1)[-1]
    if _SCIENTIFIC.search(value):
        return False
    return bool(_OPERATOR.search(value))
