"""The hedging study's tiered questions (experiments/data/hedge-tiers-*.jsonl), read from the
shipped files: counts per tier, right answers, and train/eval disjoint by unordered operand
pair and by exact question."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "experiments" / "data"
QUESTION = re.compile(r"^What is (\d+) ([-+*]) (\d+)\? ")


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def _parse(row: dict) -> tuple[int, str, int]:
    """The question as written in the prompt text (not the helper columns)."""
    m = QUESTION.match(row["prompt"])
    assert m, row["prompt"]
    return int(m.group(1)), m.group(2), int(m.group(3))


def test_eval_has_64_questions_per_tier_and_train_has_every_tier():
    held, train = _rows("hedge-tiers-eval.jsonl"), _rows("hedge-tiers-train.jsonl")
    assert Counter(r["tier"] for r in held) == {"easy": 64, "medium": 64, "hard": 64}
    counts = Counter(r["tier"] for r in train)
    assert counts["medium"] == counts["hard"] == 240 and counts["easy"] >= 60
    assert len({r["id"] for r in held + train}) == len(held) + len(train)


def test_each_tier_has_its_operands_and_the_right_answer():
    digits = {"easy": (1, 1), "medium": (2, 2), "hard": (3, 2)}
    for row in _rows("hedge-tiers-train.jsonl") + _rows("hedge-tiers-eval.jsonl"):
        a, op, b = _parse(row)
        assert (len(str(a)), len(str(b))) == digits[row["tier"]], row
        assert op in ("*",) if row["tier"] == "hard" else op in ("+", "-"), row
        value = {"+": a + b, "-": a - b, "*": a * b}[op]
        assert row["answer"] == str(value) and value >= 0, row
        assert "don't know" in row["prompt"] and "<answer></answer>" in row["prompt"]


def test_train_and_eval_share_no_operand_pair_in_either_order_and_no_question():
    train, held = _rows("hedge-tiers-train.jsonl"), _rows("hedge-tiers-eval.jsonl")
    pairs = [{frozenset(_parse(r)[::2]) | {r["tier"]} for r in rows} for rows in (train, held)]
    assert not pairs[0] & pairs[1]
    unordered = [{tuple(sorted(_parse(r)[::2])) for r in rows} for rows in (train, held)]
    assert not unordered[0] & unordered[1]
    questions = [{r["prompt"] for r in rows} for rows in (train, held)]
    assert not questions[0] & questions[1]
    assert len(questions[1]) == len(held)  # no question twice in the eval set


def test_shipped_files_are_what_the_generator_writes(tmp_path):
    path = REPO / "experiments" / "hedging_study" / "tier_data.py"
    spec = importlib.util.spec_from_file_location("tier_data", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("hedge-tiers-train.jsonl", "hedge-tiers-eval.jsonl"):
        assert (tmp_path / name).read_text() == (DATA / name).read_text(), name
