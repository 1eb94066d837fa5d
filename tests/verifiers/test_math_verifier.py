"""The math verifier end to end: golden cases, options, evidence, cache and batches."""

from __future__ import annotations

import math

import pytest

from rlfb.errors import ConfigError, RegistryError
from rlfb.verifiers import VERIFIERS, VerifyStatus, get_verifier

C, W, U, E = (VerifyStatus.CORRECT, VerifyStatus.WRONG, VerifyStatus.UNPARSEABLE,
              VerifyStatus.ERROR)


@pytest.fixture(scope="module")
def math_verifier():
    verifier = get_verifier("math")
    verifier.warmup(full=False)
    return verifier


@pytest.mark.parametrize("case", VERIFIERS.get("math").golden_cases,
                         ids=lambda c: f"{c.kind}:{c.note or c.completion[:30]}")
def test_golden_cases(case):
    result = get_verifier("math", **case.options).verify(case.completion, case.reference)
    assert result.status == case.expected, result.info


def test_golden_cases_cover_the_known_false_positives():
    notes = {c.note for c in VERIFIERS.get("math").golden_cases if c.kind == "adversarial"}
    assert {"1-1/e vs 1+1/e", "1/2004! vs 1/2006! (both tiny)",
            "two equations that both reduce to 0"} <= notes


@pytest.mark.parametrize(
    "completion, reference, expected",
    [
        ("\\boxed{x = 2, y = 3}", "(2,3)", C),
        ("\\boxed{y = 2, x = 1}", "x=1, y=2", C),
        ("\\boxed{y = x}", "x = y", C),
        ("\\boxed{a = 3}", "x = 3", W),
        ("\\boxed{W(x)=1 \\text{ or } W(x)=-1}", "W(n) = 1, W(n) = -1", C),
        ("\\boxed{(-\\infty, 3]}", "x \\leq 3", C),
        ("\\boxed{x \\in (1, 3)}", "1 < x < 3", C),
        ("\\boxed{[1,3)}", "1<x<3", W),
        ("\\boxed{\\sqrt{x^2}}", "|x|", C),
        ("\\boxed{\\sqrt{x^2}}", "x", W),
        ("\\boxed{(1+i)^2}", "2i", C),
        ("\\boxed{\\log_2 8}", "3", C),
        ("\\boxed{5!}", "120", C),
        ("\\boxed{6.02 \\times 10^{23}}", "6.02e23", C),
        ("\\boxed{3.1416}", "\\pi", C),
        ("\\boxed{3.14}", "\\pi", W),
        ("\\boxed{e^{-1000}}", "0", W),
        ("\\boxed{\\frac{1}{2^{98}}}", "\\frac{1}{2^{99}}", W),
        ("\\boxed{\\sum_{k=1}^{n} k}", "\\frac{n(n+1)}{2}", C),
        ("\\boxed{\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}^2}",
         "\\begin{pmatrix}7 & 10 \\\\ 15 & 22\\end{pmatrix}", C),
        ("\\boxed{\\text{No solution}}", "\\text{no solution}", C),
    ],
)
def test_semantics(math_verifier, completion, reference, expected):
    assert math_verifier.verify(completion, reference).status == expected


def test_result_fields_and_evidence(math_verifier):
    r = math_verifier.verify("so \\boxed{\\frac{2}{4}}", "0.5")
    assert (r.status, r.score, r.extracted, r.verifier, r.version) == (C, 1.0, "\\frac{2}{4}",
                                                                       "math", "1")
    assert r.info["extractor"] == "boxed" and r.info["path"] == "exact"
    assert r.info["parsed"] == ["0.5", "\\frac{2}{4}"]
    s = math_verifier.verify("\\boxed{x^2+2x+1}", "(x+1)^2")
    assert (s.status, s.info["path"]) == (C, "sympy")
    w = math_verifier.verify("\\boxed{3}", "4")
    assert (w.status, w.score, w.info["path"]) == (W, 0.0, "exact")


def test_unreadable_reference_is_a_judge_error(math_verifier):
    r = math_verifier.verify("\\boxed{3}", None)
    assert r.status == E and math.isnan(r.score)
    assert math_verifier.verify("\\boxed{3}", "\\frac{").status == E
    assert math_verifier.verify("\\boxed{\\frac{}", "3").status == U


def test_cache_hits_are_marked():
    verifier = get_verifier("math", cache_size=8)
    first = verifier.verify("\\boxed{x+1}", "1+x")
    second = verifier.verify("The answer is \\boxed{x+1}.", "1+x")
    assert first.status == second.status == C
    assert "cached" not in first.info and second.info["cached"] is True
    uncached = get_verifier("math", cache_size=0)
    uncached.verify("\\boxed{x+1}", "1+x")
    assert "cached" not in uncached.verify("\\boxed{x+1}", "1+x").info


def test_verify_batch_matches_verify(math_verifier):
    completions = ["\\boxed{x+1}", "\\boxed{2}", "\\boxed{\\sqrt{2}}", "no idea at all, sorry",
                   "\\boxed{(1,2)}"] * 4
    references = ["1+x", "3", "\\frac{2}{\\sqrt{2}}", "5", "(1, 2)"] * 4
    one_by_one = [math_verifier.verify(c, r).status for c, r in zip(completions, references)]
    fanned = get_verifier("math", cache_size=0, batch_parallel_min=1, workers=2)
    batch = fanned.verify_batch(completions, references)
    assert [r.status for r in batch] == one_by_one == [C, W, C, U, C] * 4
    assert all(r.latency_s >= 0 for r in batch)
    with pytest.raises(ValueError, match="2 completions and 1 references"):
        fanned.verify_batch(["1", "2"], ["1"])


@pytest.mark.parametrize(
    "options, message",
    [
        ({"timeout_s": 0}, "timeout_s"),
        ({"percent": "half"}, "percent"),
        ({"extraction": ["boxed", "magic"]}, "unknown extractor"),
        ({"extraction": "boxed"}, "extraction must be"),
        ({"rel_tol": -1}, "must not be negative"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ConfigError, match=message):
        get_verifier("math", **options)


def test_unknown_option_is_a_registry_error():
    with pytest.raises(RegistryError):
        get_verifier("math", tolerance=0.1)


def test_importing_the_verifier_does_not_import_sympy():
    import subprocess
    import sys

    code = ("import sys; from rlfb.verifiers import get_verifier; get_verifier('math')."
            "verify('\\\\boxed{2}', '2'); print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
