"""A tour of the verifier registry: every registered verifier judges a few completions.

Run with `make demo` (until the RLVR quickstart lands) or `python experiments/verifier_demo.py`.
"""

from __future__ import annotations

from rlfb.errors import RegistryError
from rlfb.verifiers import VERIFIERS, get_verifier

EXAMPLES = {
    "format": [
        ("<think>7 * 6 = 42</think>\n<answer>42</answer>", None),
        ("The answer is <answer>42</answer>", None),
        ("<think>a</think><answer>42</answer><answer>41</answer>", None),
    ],
    "math": [
        ("So the result is \\boxed{\\frac{1}{2}}.", "0.5"),
        ("The final answer is 1 + 1/e", "1 - 1/e"),
        ("#### 1,234", "1234"),
    ],
    "code": [
        ("```python\ndef add(a, b):\n    return a + b\n```",
         {"entry_point": "add", "test": "def check(f):\n    assert f(2, 3) == 5\n"}),
        ("```python\nclass Any:\n    def __eq__(self, o): return True\ndef add(a, b):\n"
         "    return Any()\n```",
         {"entry_point": "add", "test": "def check(f):\n    assert f(2, 3) == 5\n"}),
    ],
}


def main() -> None:
    """Print one line per judgement."""
    print(f"registered verifiers: {', '.join(VERIFIERS.names())}\n")
    for name in VERIFIERS.names():
        try:
            verifier = get_verifier(name)
        except RegistryError as exc:
            print(f"[{name}] unavailable: {exc}\n")
            continue
        examples = EXAMPLES.get(name, [(c.completion, c.reference) for c in
                                       type(verifier).golden_cases[:3]])
        for completion, reference in examples:
            r = verifier.verify(completion, reference)
            shown = completion.replace("\n", "\\n")
            shown = shown if len(shown) < 70 else shown[:67] + "..."
            print(f"[{name}] {r.status.value:<11} score={r.to_dict()['score']!s:<5} "
                  f"extracted={r.extracted!r:<12} {shown}")
        print()


if __name__ == "__main__":
    main()
