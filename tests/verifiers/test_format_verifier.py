"""The format verifier: tag structure, regex and JSON modes, and its golden cases."""

from __future__ import annotations

import json

import pytest

from rlfb.errors import ConfigError
from rlfb.verifiers import VERIFIERS, VerifyStatus, get_verifier

C, W = VerifyStatus.CORRECT, VerifyStatus.WRONG


def status(text: str, reference=None, **options) -> VerifyStatus:
    return get_verifier("format", **options).verify(text, reference).status


@pytest.mark.parametrize("case", VERIFIERS.get("format").golden_cases, ids=lambda c: c.note or c.completion[:30])
def test_golden_cases(case):
    assert status(case.completion, case.reference, **case.options) == case.expected


def test_result_fields_and_extracted_answer():
    r = get_verifier("format").verify("<think>3*4</think>\n<answer> 12 </answer>\n", None)
    assert (r.status, r.score, r.extracted, r.verifier, r.version) == (C, 1.0, "12", "format", "1")
    assert r.latency_s >= 0
    assert json.loads(json.dumps(r.to_dict()))["status"] == "correct"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Sure. <think>a</think><answer>1</answer>", "text before the first tag"),
        ("<think>a</think><answer>1</answer>.", "text after the closing answer tag"),
        ("<think>a</think> so <answer>1</answer>", "text between the blocks"),
        ("<think>a</think><answer>1</answer><answer>2</answer>", "more than one <answer> block"),
        ("<think>a</think>", "missing <answer> block"),
        ("<answer>1</answer>", "missing <think> block"),
        ("<think>a<answer>1</answer></think>", "nested or in the wrong order"),
        ("<think>a</think><answer>1", "unclosed"),
    ],
)
def test_wrong_structures_say_why(text, reason):
    r = get_verifier("format").verify(text, None)
    assert r.status == W and r.score == 0.0
    assert reason in r.info["reason"]


def test_strict_whitespace_allows_one_trailing_newline_only():
    ok = "<think>a</think>\n<answer>1</answer>\n"
    assert status(ok, whitespace="strict") == C
    assert status(ok + "\n", whitespace="strict") == W
    assert status(ok + "\n", whitespace="lenient") == C


def test_regex_extracts_named_group_then_first_group():
    v = get_verifier("format", mode="regex", pattern=r"x=(?P<answer>\d+);y=(\d+)")
    assert v.verify("x=1;y=2", None).extracted == "1"
    v = get_verifier("format", mode="regex", pattern=r"y=(\d+)", match="search")
    assert v.verify("so y=22 then", None).extracted == "22"


def test_json_schema_from_file(tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "array", "items": {"type": "number"}}))
    v = get_verifier("format", mode="json", schema=str(schema))
    r = v.verify("[1, 2.5]", None)
    assert r.status == C and r.extracted == "[1,2.5]"
    assert v.verify('[1, "2"]', None).status == W


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mode": "xml"}, "mode='xml' is not one of"),
        ({"mode": "regex", "pattern": "("}, "bad regular expression"),
        ({"mode": "json", "schema": {"type": "nonsense"}}, "invalid JSON schema"),
        ({"mode": "json", "schema": "/no/such/schema.json"}, "cannot read JSON schema file"),
        ({"think_tag": "a b"}, "not a plain name"),
        ({"flags": ["VERBOSE"]}, "unknown regex flag"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        get_verifier("format", **options)


def test_non_string_completion_is_a_judge_error_not_a_zero():
    r = get_verifier("format").verify(None, None)  # type: ignore[arg-type]
    assert r.status is VerifyStatus.ERROR and not r.judged
    assert r.score != r.score  # nan: never a usable 0
    assert r.to_dict()["score"] is None


def test_verify_batch_matches_verify():
    v = get_verifier("format")
    texts = ["<think>a</think><answer>1</answer>", "<answer>1</answer>", "x"]
    assert [r.status for r in v.verify_batch(texts, [None] * 3)] == [C, W, W]
    with pytest.raises(ValueError, match="3 completions and 2 references"):
        v.verify_batch(texts, [None, None])
