"""Write the hedging question set (arithmetic where abstaining is possible) as jsonl.

    .venv/bin/python experiments/hedge_data.py [OUT_DIR]     # default: experiments/data

``hedge-arith-{train,eval}.jsonl`` rows: ``{"id", "prompt", "answer", "difficulty"}``. Half the
questions are easy (a sum of two one-digit numbers), half are hard (a product of two three-digit
numbers, which a small model almost never gets right). The prompt allows abstaining ("say you
are not sure, or that you don't know"), so a policy trained with Schulman's hedging payoff
(`rlfb.rewards.hedging.reward`) can learn to answer the easy ones flatly and hedge or abstain on the
hard ones, while a binary-correctness reward pays nothing for either. The eval file uses fresh
draws (seed + 1). Deterministic: the same seed writes the same files.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

INSTRUCTION = ("If you are not sure, say so, or say that you don't know. "
               "Give the final number inside <answer></answer> tags.")


def question(rng: random.Random, hard: bool) -> tuple[str, int]:
    """One question and its answer: a hard product or an easy sum."""
    if hard:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        return f"What is {a} * {b}?", a * b
    a, b = rng.randint(0, 9), rng.randint(0, 9)
    return f"What is {a} + {b}?", a + b


def rows(n: int, seed: int, prefix: str) -> list[dict[str, str]]:
    """``n`` rows, alternating easy and hard, with ids ``{prefix}-{i}``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        hard = i % 2 == 1
        text, answer = question(rng, hard)
        out.append({"id": f"{prefix}-{i}", "prompt": f"{text} {INSTRUCTION}",
                    "answer": str(answer), "difficulty": "hard" if hard else "easy"})
    return out


def write(path: Path, data: list[dict[str, str]]) -> None:
    """Write ``data`` as JSON lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in data))


def main(out: Path, seed: int = 0) -> None:
    """Write the train (400 rows) and eval (64 rows) files under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write(out / "hedge-arith-train.jsonl", rows(400, seed, "train"))
    write(out / "hedge-arith-eval.jsonl", rows(64, seed + 1, "eval"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "data")
