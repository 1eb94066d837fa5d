"""experiments/quickstart_gain.py on hand-made eval completions: the per-step measures and the
split of the accuracy gain into format and arithmetic against hand counts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        "quickstart_gain", REPO / "experiments" / "quickstart_gain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(step, status, reference="5", completion="5"):
    return {"step": step, "status": status, "reference": reference, "completion": completion}


ROWS = [  # step 0: 2 of 4 answered, 1 right; step 8: 4 of 4 answered, 3 right; 1 judge failure
    row(0, "correct"), row(0, "wrong", "-3"), row(0, "unparseable"), row(0, "unparseable", "-2"),
    row(8, "correct", completion="<answer>5</answer>"), row(8, "correct", "-3", "2 - 5 = -3."),
    row(8, "correct"), row(8, "wrong", "-2"), row(8, "timeout"),
]


def test_measures_and_gain_split_match_hand_counts(tmp_path):
    gain = _load()
    path = tmp_path / "eval_samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    steps = gain.by_step(path)
    first, last = steps[0], steps[8]
    assert (first["n"], first["answered"], first["accuracy"]) == (4, 0.5, 0.25)
    assert first["accuracy_of_answered"] == 0.5 and first["accuracy_negative"] == 0.0
    assert (last["n"], last["judge_failed"], last["answered"], last["tagged"]) == (4, 1, 1.0, 0.25)
    assert last["accuracy"] == 0.75 and last["accuracy_negative"] == 0.5
    assert last["accuracy_other"] == 1.0
    assert last["short_form"] == 0.25 and first["short_form"] == 0.0  # only "2 - 5 = -3."
    assert last["accuracy_short_form"] == 1.0
    split = gain.split_gain(first, last)
    # format: (1.0 - 0.5) * 0.5 = 0.25; arithmetic: 1.0 * (0.75 - 0.5) = 0.25; sum = 0.5
    assert split == pytest.approx({"gain": 0.5, "format": 0.25, "arithmetic": 0.25})
    assert "+0.500 = format +0.250 + arithmetic +0.250" in gain.table(steps)


def test_a_run_without_stored_completions_is_one_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _load().main([str(tmp_path)])
    assert exit_.value.code == 2
    assert "eval_samples.jsonl does not exist" in capsys.readouterr().err
