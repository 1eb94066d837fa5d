"""`"code"`: sandboxed execution of a completion's Python code against tests.

>>> from rlfb.verifiers import get_verifier
>>> v = get_verifier("code")                                               # doctest: +SKIP
>>> ref = {"entry_point": "add", "test": "def check(c):\n    assert c(2, 3) == 5\n"}
>>> v.verify("```python\ndef add(a, b):\n    return a + b\n```", ref).status  # doctest: +SKIP
<VerifyStatus.CORRECT: 'correct'>

The reference format is in `rlfb.verifiers.code.reference`; the sandbox, and exactly what it
does and does not isolate, in docs/sandbox.md.
"""

from rlfb.verifiers.code.verifier import CodeVerifier

__all__ = ["CodeVerifier"]
