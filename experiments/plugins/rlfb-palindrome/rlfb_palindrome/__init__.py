"""The `palindrome` verifier: is the answer a palindrome of at least `min_length` letters?

The answer is the text inside ``<answer>…</answer>`` when present, else the whole completion.
Letters and digits are compared case-insensitively; spaces and punctuation are ignored. The
reference, when given, is the required number of words (``4`` for "Never odd or even").
"""

from __future__ import annotations

import re
from typing import Any

from rlfb.golden import case_file, load_cases
from rlfb.verifiers import GoldenCase, Verdict, Verifier, VerifyStatus

C, W, U = VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.UNPARSEABLE
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


class PalindromeVerifier(Verifier):
    """CORRECT when the answer reads the same backwards (letters and digits only)."""

    version = "1"
    # One case a line in palindrome_cases.jsonl beside this file.
    golden_cases = load_cases(case_file(__file__, "palindrome"), GoldenCase, VerifyStatus)

    def __init__(self, min_length: int = 3) -> None:
        if min_length < 1:
            raise ValueError("min_length must be at least 1")
        self.min_length = min_length

    def judge(self, completion: str, reference: Any) -> Verdict:
        found = _ANSWER.findall(completion)
        answer = found[-1].strip() if found else completion.strip()
        letters = re.sub(r"[^0-9a-z]", "", answer.lower())
        if not letters:
            return Verdict(U, info={"reason": "no letters or digits"})
        ok = letters == letters[::-1] and len(letters) >= self.min_length
        if reference is not None and len(answer.split()) != int(reference):
            ok = False
        return Verdict(C if ok else W, extracted=answer, info={"normalised": letters})
