"""Write the hedging study's arithmetic questions in three difficulty tiers, as jsonl.

    .venv/bin/python experiments/hedging_study/tier_data.py [OUT_DIR]   # default: experiments/data

Writes ``hedge-tiers-train.jsonl`` and ``hedge-tiers-eval.jsonl``; each row is
``{"id", "prompt", "answer", "tier", "a", "op", "b"}``:

- ``easy``: one-digit ± one-digit (sums, and differences larger − smaller, so no answer is
  negative);
- ``medium``: two-digit ± two-digit (the same rules);
- ``hard``: three-digit × two-digit.

Train and eval are disjoint by *unordered operand pair*: every pair {a, b} is drawn for one
side only, and every question built from it ("a + b", "b + a", "a − b") stays on that side, so
no eval question appears in training, not even with its operands swapped. The eval file has
`EVAL_PER_TIER` questions per tier; the train file has every easy question of the train pairs
and `TRAIN_PER_TIER` medium and hard ones. The prompt allows abstaining, as in
``experiments/hedge_data.py``. Deterministic: the same seed writes the same files.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Callable

INSTRUCTION = ("If you are not sure, say so, or say that you don't know. "
               "Give the final number inside <answer></answer> tags.")
TIERS = ("easy", "medium", "hard")
EVAL_PER_TIER = 64
TRAIN_PER_TIER = 240
TRAIN_FILE = "hedge-tiers-train.jsonl"
EVAL_FILE = "hedge-tiers-eval.jsonl"

Question = tuple[int, str, int]  # (a, op, b)


def answer(q: Question) -> int:
    """The exact answer of ``a op b``."""
    a, op, b = q
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def pair_key(q: Question) -> tuple[int, int]:
    """The unordered operand pair of a question, as a sorted tuple."""
    a, _, b = q
    return (min(a, b), max(a, b))


def pair_questions(tier: str, lo: int, hi: int) -> list[Question]:
    """Every question of an unordered pair {lo ≤ hi}: for ± tiers both sums and the
    non-negative difference (one sum when lo = hi); for the hard tier the one product."""
    if tier == "hard":
        return [(hi, "*", lo)]
    sums = [(lo, "+", hi)] if lo == hi else [(lo, "+", hi), (hi, "+", lo)]
    return sums + [(hi, "-", lo)]


def _digits(n: int) -> tuple[int, int]:
    return (0, 9) if n == 1 else (10 ** (n - 1), 10 ** n - 1)


def _random_pair(tier: str) -> Callable[[random.Random], tuple[int, int]]:
    if tier == "medium":
        return lambda rng: tuple(sorted((rng.randint(10, 99), rng.randint(10, 99))))  # type: ignore[return-value]
    return lambda rng: (rng.randint(10, 99), rng.randint(100, 999))


def split_tier(tier: str, rng: random.Random) -> tuple[list[Question], list[Question]]:
    """``(train, eval)`` questions of one tier, disjoint by unordered operand pair."""
    if tier == "easy":  # all 55 pairs of 0-9: shuffle, give eval pairs until 64 questions
        pairs = [(lo, hi) for lo in range(10) for hi in range(lo, 10)]
        rng.shuffle(pairs)
        held: list[Question] = []
        while len(held) < EVAL_PER_TIER:
            held.extend(pair_questions(tier, *pairs.pop()))
        rng.shuffle(held)
        train = [q for p in pairs for q in pair_questions(tier, *p)]
        rng.shuffle(train)
        return train, held[:EVAL_PER_TIER]
    draw, seen = _random_pair(tier), set()
    sides: list[list[Question]] = [[], []]
    for side, count in ((1, EVAL_PER_TIER), (0, TRAIN_PER_TIER)):
        while len(sides[side]) < count:
            lo, hi = draw(rng)
            if (lo, hi) in seen:
                continue
            seen.add((lo, hi))
            sides[side].append(rng.choice(pair_questions(tier, lo, hi)))
    return sides[0], sides[1]


def row(q: Question, tier: str, qid: str) -> dict[str, object]:
    """One jsonl record of question ``q``."""
    a, op, b = q
    return {"id": qid, "prompt": f"What is {a} {op} {b}? {INSTRUCTION}",
            "answer": str(answer(q)), "tier": tier, "a": a, "op": op, "b": b}


def build(seed: int = 0) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The train and eval rows: tiers interleaved (easy, medium, hard, easy, …) while each
    tier lasts, ids ``train-<i>`` / ``eval-<i>``."""
    rng = random.Random(seed)
    split = {tier: split_tier(tier, rng) for tier in TIERS}
    out = []
    for side, prefix in ((0, "train"), (1, "eval")):
        queues = {t: list(split[t][side]) for t in TIERS}
        rows: list[dict[str, object]] = []
        while any(queues.values()):
            for tier in TIERS:
                if queues[tier]:
                    rows.append(row(queues[tier].pop(0), tier, f"{prefix}-{len(rows)}"))
        out.append(rows)
    return out[0], out[1]


def write(path: Path, data: list[dict[str, object]]) -> None:
    """Write ``data`` as JSON lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in data))


def main(out: Path, seed: int = 0) -> None:
    """Write the train and eval files under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    train, held = build(seed)
    write(out / TRAIN_FILE, train)
    write(out / EVAL_FILE, held)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "data")
