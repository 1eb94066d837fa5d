"""A synthetic preference set for reward models: correct sums preferred to wrong ones.

``python -m rlfb.data.arith_pairs arith OUT_DIR`` writes a tiny base model and the pairs
(train.jsonl, eval.jsonl) that ``experiments/rm-tiny-arith.yaml`` trains on.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any, Sequence


def arith_pairs(n: int, seed: int, *, max_operand: int = 5,
                deltas: Sequence[int] = (-2, -1, 1, 2)) -> list[dict[str, str]]:
    """``n`` rows ``{"prompt": "What is a + b? ", "chosen": "c", "rejected": "c + d"}``: correct
    sums preferred to sums off by ``d`` in ``deltas`` (kept non-negative), operands in
    ``0..max_operand - 1``."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randrange(max_operand), rng.randrange(max_operand)
        wrong = a + b + rng.choice(list(deltas))
        if wrong < 0:
            wrong = a + b - (wrong - a - b)
        rows.append({"prompt": f"What is {a} + {b}? ", "chosen": str(a + b),
                     "rejected": str(wrong)})
    return rows


def write_jsonl(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write rows as JSON lines; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_arith_example(out_dir: str | Path) -> Path:
    """The files `experiments/rm-tiny-arith.yaml` reads: a tiny base model, train and eval sets
    (eval pairs use wrong answers farther off than any in training)."""
    from rlfb.models.tiny import make_tiny_model

    out = Path(out_dir)
    make_tiny_model(out / "base", hidden_size=64, num_layers=2, num_heads=4, seed=0)
    write_jsonl(arith_pairs(800, seed=0), out / "train.jsonl")
    write_jsonl(arith_pairs(200, seed=1, deltas=(-4, -3, 3, 4)), out / "eval.jsonl")
    return out


if __name__ == "__main__":  # python -m rlfb.data.arith_pairs arith OUT_DIR
    if len(sys.argv) != 3 or sys.argv[1] != "arith":
        sys.exit("usage: python -m rlfb.data.arith_pairs arith OUT_DIR")
    print(f"wrote {write_arith_example(sys.argv[2])}")
