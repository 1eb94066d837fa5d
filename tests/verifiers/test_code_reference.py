"""The code verifier's reference format and option validation."""

from __future__ import annotations

import json

import pytest

from rlfb.errors import ConfigError, RegistryError
from rlfb.verifiers import get_verifier
from rlfb.verifiers.code.reference import parse_reference

TEST = "def check(candidate):\n    assert candidate(1) == 2\n"


def test_function_reference_is_normalised():
    task = parse_reference({"entry_point": "f", "test": TEST, "task_id": "X/1"})
    assert task == {"kind": "function", "entry_point": "f", "tests": [TEST], "prompt": None}


def test_several_function_tests_and_json_string():
    ref = json.dumps({"entry_point": "f", "test": [TEST, TEST], "prompt": "def f(x):\n  pass\n"})
    task = parse_reference(ref)
    assert task["tests"] == [TEST, TEST] and task["prompt"].startswith("def f")


def test_stdio_reference_and_apps_style():
    task = parse_reference({"tests": [{"input": "1\n", "output": "2\n", "compare": "exact"}],
                            "compare": "lines", "float_tol": 0.01})
    assert task == {"kind": "stdio", "float_tol": 0.01,
                    "tests": [{"input": "1\n", "output": "2\n", "compare": "exact"}]}
    apps = parse_reference({"inputs": ["a", "b"], "outputs": ["A", "B"], "compare": "lines"})
    assert [t["compare"] for t in apps["tests"]] == ["lines", "lines"]
    assert [t["input"] for t in apps["tests"]] == ["a", "b"]


@pytest.mark.parametrize("ref, message", [
    (42, "expected a dict"),
    ("not json", "must be JSON"),
    ({}, "empty"),
    ({"entry_point": "f"}, "test must be Python source"),
    ({"entry_point": "no good", "test": TEST}, "entry_point must be a function name"),
    ({"entry_point": "f", "test": "def check(:\n"}, "does not compile"),
    ({"entry_point": "f", "test": TEST, "tests": []}, "mixes function keys"),
    ({"entry_point": "f", "test": TEST, "timeout": 3}, "unknown key"),
    ({"tests": []}, "non-empty list"),
    ({"tests": [{"input": "1"}]}, "input and output must be strings"),
    ({"tests": [{"input": "1", "output": "1", "extra": 1}]}, "must be a dict with input"),
    ({"tests": [{"input": "1", "output": "1"}], "compare": "fuzzy"}, "compare must be one of"),
    ({"inputs": ["1"], "outputs": []}, "1 inputs but 0 outputs"),
    ({"tests": [{"input": "1", "output": "1"}], "float_tol": -1}, "float_tol"),
])
def test_bad_references_get_one_line_errors(ref, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_reference(ref)
    assert "\n" not in str(info.value) and str(info.value).startswith("code reference:")


@pytest.mark.parametrize("options, message", [
    ({"tier": "container"}, "tier 'container' is not available"),
    ({"timeout_s": 0}, "timeout_s must be a number above 0"),
    ({"memory_mb": 8}, "memory_mb"),
    ({"compare": "fuzzy"}, "compare must be one of"),
    ({"float_tol": -1.0}, "float_tol"),
    ({"max_open_files": 4}, "max_open_files"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises((ConfigError, RegistryError), match=message):
        get_verifier("code", **options)


def test_unknown_option_suggests_the_right_one():
    with pytest.raises(RegistryError, match="did you mean 'timeout_s'"):
        get_verifier("code", timeout=3)
