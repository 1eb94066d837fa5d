"""Golden cases are JSON Lines files beside their modules, read by `rlfb.golden.load_cases`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rlfb.golden import case_file, dump_case, load_cases
from rlfb.rewards.hedging.detect import HedgeCase, HedgeClass, get_hedge_detector
from rlfb.verifiers import get_verifier
from rlfb.verifiers.base import GoldenCase, VerifyStatus

REPO = Path(__file__).resolve().parent.parent
CASE_FILES = ["verifiers/format_cases.jsonl", "verifiers/math/math_cases.jsonl",
              "verifiers/code/code_cases.jsonl", "rewards/hedging/hedge_cases.jsonl"]


def test_each_builtin_reads_its_cases_from_the_file_beside_it():
    for name, file in [("format", "format_cases.jsonl"), ("math", "math_cases.jsonl"),
                       ("code", "code_cases.jsonl")]:
        cases = type(get_verifier(name)).golden_cases
        lines = [ln for ln in (REPO / "verifiers" / ("" if name == "format" else name) / file)
                 .read_text().splitlines() if ln.strip()]
        assert len(cases) == len(lines) > 10
        assert all(isinstance(c, GoldenCase) and isinstance(c.expected, VerifyStatus)
                   for c in cases)
    hedge = get_hedge_detector("phrases").golden_cases
    assert len(hedge) == len((REPO / "rewards/hedging/hedge_cases.jsonl").read_text().splitlines())
    assert all(isinstance(c.expected, HedgeClass) for c in hedge)


def test_a_case_round_trips_through_its_line(tmp_path):
    case = GoldenCase("```python\nx = 1\n```", {"entry_point": "f", "test": "t"},
                      VerifyStatus.WRONG, "adversarial", {"timeout_s": 1.0}, "a note")
    path = tmp_path / "x_cases.jsonl"
    path.write_text(dump_case(case) + "\n\n" + dump_case(GoldenCase("a", None,
                                                                    VerifyStatus.CORRECT)) + "\n")
    assert load_cases(path, GoldenCase, VerifyStatus) == (
        case, GoldenCase("a", None, VerifyStatus.CORRECT))
    assert dump_case(GoldenCase("a", None, VerifyStatus.CORRECT)) == (
        '{"completion": "a", "reference": null, "expected": "correct"}')


@pytest.mark.parametrize("line, message", [
    ('{"text": "x", "expected": "hedged", "colour": 1}', "unknown field(s) ['colour']"),
    ('{"text": "x", "expected": "maybe"}', "bad case (ValueError"),
    ('{"text": "x"}', "bad case (KeyError"),
    ('{"text": "x", ', "not JSON"),
])
def test_a_bad_line_names_the_file_the_line_and_the_problem(tmp_path, line, message):
    path = case_file(str(tmp_path / "mod.py"), "demo")
    path.write_text('{"text": "fine", "expected": "unhedged"}\n' + line + "\n")
    with pytest.raises(ValueError) as err:
        load_cases(path, HedgeCase, HedgeClass)
    assert str(err.value).startswith(f"{path}:2: ") and message in str(err.value)


def test_the_wheel_ships_every_case_file(tmp_path):
    """A non-editable install must find the files too: they are package data."""
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "runs", "*.egg-info", "__pycache__", "experiments", "tests",
        "docs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(source)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("rlfb-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"rlfb/" + f for f in CASE_FILES}
    assert expected <= names, expected - names
