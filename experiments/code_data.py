"""Write the small function-writing task set of experiments/rlvr-code.yaml as jsonl.

    .venv/bin/python experiments/code_data.py [OUT_DIR]     # default: experiments/data

``code-tasks.jsonl`` rows: ``{"id", "prompt", "reference"}``, where ``reference`` is the `code`
verifier's function-test format (``rlfb.verifiers.code.reference``): ``entry_point``, the
``prompt`` stub (signature + docstring) and ``test``, Python source of ``check(candidate)`` with
one assert per case. Every task ships a canonical solution that passes its own tests
(``canonical_solution``, metadata the verifier ignores; tests/ablate checks them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# (entry point, signature, docstring, canonical body, [(args, expected), ...])
TASKS: list[tuple[str, str, str, str, list[tuple[tuple[Any, ...], Any]]]] = [
    ("add", "a, b", "Return a + b.", "return a + b", [((2, 3), 5), ((-1, 1), 0), ((0, 0), 0)]),
    ("square", "x", "Return x squared.", "return x * x", [((3,), 9), ((-4,), 16), ((0,), 0)]),
    ("is_even", "n", "Return True if n is even.", "return n % 2 == 0",
     [((4,), True), ((7,), False), ((0,), True), ((-3,), False)]),
    ("absolute", "x", "Return the absolute value of x without abs().",
     "return -x if x < 0 else x", [((-5,), 5), ((5,), 5), ((0,), 0)]),
    ("maximum", "xs", "Return the largest number of the non-empty list xs without max().",
     "m = xs[0]\n    for x in xs:\n        if x > m:\n            m = x\n    return m",
     [(([1, 5, 3],), 5), (([-2, -7],), -2), (([4],), 4)]),
    ("minimum", "xs", "Return the smallest number of the non-empty list xs without min().",
     "m = xs[0]\n    for x in xs:\n        if x < m:\n            m = x\n    return m",
     [(([1, 5, 3],), 1), (([-2, -7],), -7), (([4],), 4)]),
    ("total", "xs", "Return the sum of the list xs (0 for an empty list).", "return sum(xs)",
     [(([1, 2, 3],), 6), (([],), 0), (([-1, 1],), 0)]),
    ("mean", "xs", "Return the arithmetic mean of the non-empty list xs.",
     "return sum(xs) / len(xs)", [(([1, 2, 3],), 2.0), (([5],), 5.0), (([1, 2],), 1.5)]),
    ("reverse_string", "s", "Return s reversed.", "return s[::-1]",
     [(("abc",), "cba"), (("",), ""), (("racecar",), "racecar")]),
    ("is_palindrome", "s", "Return True if s reads the same backwards.", "return s == s[::-1]",
     [(("abba",), True), (("abc",), False), (("",), True)]),
    ("count_vowels", "s", "Return how many of the characters of s are vowels (aeiou, any case).",
     "return sum(c in 'aeiouAEIOU' for c in s)",
     [(("hello",), 2), (("sky",), 0), (("AEIOU",), 5)]),
    ("factorial", "n", "Return n! for n >= 0.",
     "out = 1\n    for i in range(2, n + 1):\n        out *= i\n    return out",
     [((0,), 1), ((1,), 1), ((5,), 120), ((10,), 3628800)]),
    ("fibonacci", "n", "Return the n-th Fibonacci number (fibonacci(0) = 0, fibonacci(1) = 1).",
     "a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
     [((0,), 0), ((1,), 1), ((10,), 55), ((20,), 6765)]),
    ("gcd", "a, b", "Return the greatest common divisor of the positive integers a and b.",
     "while b:\n        a, b = b, a % b\n    return a", [((12, 18), 6), ((7, 13), 1), ((9, 9), 9)]),
    ("lcm", "a, b", "Return the least common multiple of the positive integers a and b.",
     "import math\n    return a * b // math.gcd(a, b)", [((4, 6), 12), ((3, 5), 15), ((7, 7), 7)]),
    ("is_prime", "n", "Return True if the integer n is prime.",
     "if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n"
     "            return False\n        i += 1\n    return True",
     [((2,), True), ((1,), False), ((15,), False), ((97,), True)]),
    ("count_char", "s, c", "Return how many times the character c occurs in s.",
     "return s.count(c)", [(("banana", "a"), 3), (("abc", "z"), 0)]),
    ("capitalize_words", "s", "Return s with the first letter of every space-separated word upper "
     "case and the rest unchanged.",
     "return ' '.join(w[:1].upper() + w[1:] for w in s.split(' '))",
     [(("hello world",), "Hello World"), (("a",), "A")]),
    ("remove_duplicates", "xs", "Return xs without repeated items, keeping first occurrences in "
     "order.",
     "seen = []\n    for x in xs:\n        if x not in seen:\n            seen.append(x)\n"
     "    return seen", [(([1, 2, 1, 3, 2],), [1, 2, 3]), (([],), [])]),
    ("flatten", "xss", "Return one list of the items of the lists in xss, in order.",
     "return [x for xs in xss for x in xs]", [(([[1, 2], [3], []],), [1, 2, 3]), (([],), [])]),
    ("celsius_to_fahrenheit", "c", "Return the temperature c (Celsius) in Fahrenheit.",
     "return c * 9 / 5 + 32", [((0,), 32.0), ((100,), 212.0), ((-40,), -40.0)]),
    ("digit_sum", "n", "Return the sum of the decimal digits of the non-negative integer n.",
     "return sum(int(d) for d in str(n))", [((123,), 6), ((0,), 0), ((9999,), 36)]),
    ("count_words", "s", "Return the number of whitespace-separated words in s.",
     "return len(s.split())", [(("a b  c",), 3), (("",), 0), (("one",), 1)]),
    ("second_largest", "xs", "Return the second largest distinct value of xs (it has at least two "
     "distinct values).", "return sorted(set(xs))[-2]",
     [(([1, 3, 2],), 2), (([5, 5, 4],), 4)]),
    ("clamp", "x, lo, hi", "Return x limited to the range [lo, hi].",
     "return max(lo, min(hi, x))", [((5, 0, 3), 3), ((-1, 0, 3), 0), ((2, 0, 3), 2)]),
    ("sign", "x", "Return 1 if x > 0, -1 if x < 0 and 0 if x == 0.",
     "return (x > 0) - (x < 0)", [((4,), 1), ((-2,), -1), ((0,), 0)]),
    ("power", "base, exp", "Return base raised to the non-negative integer exp without ** or pow.",
     "out = 1\n    for _ in range(exp):\n        out *= base\n    return out",
     [((2, 10), 1024), ((5, 0), 1), ((-3, 3), -27)]),
    ("running_sum", "xs", "Return the list of prefix sums of xs.",
     "out, s = [], 0\n    for x in xs:\n        s += x\n        out.append(s)\n    return out",
     [(([1, 2, 3],), [1, 3, 6]), (([],), [])]),
    ("count_positive", "xs", "Return how many numbers in xs are > 0.",
     "return sum(1 for x in xs if x > 0)", [(([1, -2, 3, 0],), 2), (([],), 0)]),
    ("filter_even", "xs", "Return the even numbers of xs, in order.",
     "return [x for x in xs if x % 2 == 0]", [(([1, 2, 3, 4],), [2, 4]), (([1, 3],), [])]),
    ("multiply_list", "xs", "Return the product of the numbers in xs (1 for an empty list).",
     "out = 1\n    for x in xs:\n        out *= x\n    return out",
     [(([2, 3, 4],), 24), (([],), 1), (([5, -1],), -5)]),
    ("is_sorted", "xs", "Return True if xs is in non-decreasing order.",
     "return all(a <= b for a, b in zip(xs, xs[1:]))",
     [(([1, 2, 2, 5],), True), (([3, 1],), False), (([],), True)]),
    ("binary_string", "n", "Return the binary representation of the non-negative integer n "
     "without the 0b prefix.", "return bin(n)[2:]", [((5,), "101"), ((0,), "0"), ((8,), "1000")]),
    ("index_of", "xs, x", "Return the first index of x in xs, or -1 if it is absent.",
     "return xs.index(x) if x in xs else -1", [(([4, 5, 6], 5), 1), (([1], 9), -1)]),
    ("longest_word", "s", "Return the longest space-separated word of s (the first one on ties).",
     "return max(s.split(), key=len)", [(("a bbb cc",), "bbb"), (("xy zw",), "xy")]),
    ("triangle_area", "base, height", "Return the area of a triangle with the given base and "
     "height.", "return base * height / 2", [((4, 3), 6.0), ((1, 1), 0.5)]),
    ("swap_case", "s", "Return s with upper case letters made lower case and vice versa.",
     "return s.swapcase()", [(("Hello",), "hELLO"), (("123",), "123")]),
    ("char_frequency", "s", "Return a dict mapping each character of s to its count.",
     "out = {}\n    for c in s:\n        out[c] = out.get(c, 0) + 1\n    return out",
     [(("aab",), {"a": 2, "b": 1}), (("",), {})]),
    ("nth_triangular", "n", "Return the n-th triangular number 1 + 2 + ... + n.",
     "return n * (n + 1) // 2", [((1,), 1), ((4,), 10), ((0,), 0)]),
    ("fizzbuzz", "n", "Return 'FizzBuzz' if n is divisible by 15, 'Fizz' if by 3, 'Buzz' if by 5, "
     "else str(n).", "if n % 15 == 0:\n        return 'FizzBuzz'\n    if n % 3 == 0:\n"
     "        return 'Fizz'\n    if n % 5 == 0:\n        return 'Buzz'\n    return str(n)",
     [((15,), "FizzBuzz"), ((9,), "Fizz"), ((10,), "Buzz"), ((7,), "7")]),
]

INSTRUCTION = ("Complete the following Python function. Reply with the whole function in one "
               "```python code block.\n\n")


def stub(name: str, params: str, doc: str) -> str:
    """The function's signature and docstring."""
    return f'def {name}({params}):\n    """{doc}"""\n'


def check_source(name: str, cases: list[tuple[tuple[Any, ...], Any]]) -> str:
    """``check(candidate)`` source with one assert per case."""
    lines = ["def check(candidate):"]
    for args, expected in cases:
        call = ", ".join(repr(a) for a in args)
        lines.append(f"    assert candidate({call}) == {expected!r}, {name!r} + {repr(call)}")
    return "\n".join(lines) + "\n"


def rows() -> list[dict[str, Any]]:
    """One row per task."""
    out = []
    for i, (name, params, doc, body, cases) in enumerate(TASKS):
        head = stub(name, params, doc)
        out.append({"id": f"code-{i:02d}-{name}", "prompt": INSTRUCTION + head,
                    "reference": {"entry_point": name, "prompt": head,
                                  "test": check_source(name, cases),
                                  "canonical_solution": f"{head}    {body}\n"}})
    return out


def main(out: Path) -> None:
    """Write ``code-tasks.jsonl`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "code-tasks.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows()))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data")
