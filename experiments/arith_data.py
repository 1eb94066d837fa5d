"""Write the small arithmetic data sets of the offline experiments (SFT and DPO) as jsonl.

    .venv/bin/python experiments/arith_data.py [OUT_DIR]     # default: experiments/data

- ``arith-sft-{train,eval}.jsonl``: ``{"prompt": "What is 3 + 4?", "completion": "The answer
  is 7."}`` (prompt, completion) rows for SFT.
- ``arith-pairs-{train,eval}.jsonl``: ``{"prompt", "chosen", "rejected"}`` preference pairs:
  the correct sum is chosen, a sum off by 1 to 3 is rejected.

Operands are 0..9. The eval files use fresh random draws (the same facts can recur: there are
only 100 of them, so accuracy measures learning the facts, not generalising beyond them).
Deterministic: the same seed writes the same files.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path


def sft_rows(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` (prompt, completion) rows."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        rows.append({"prompt": f"What is {a} + {b}?", "completion": f"The answer is {a + b}."})
    return rows


def pair_rows(n: int, seed: int) -> list[dict[str, str]]:
    """``n`` (prompt, chosen, rejected) rows: the correct sum over one off by 1 to 3."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        wrong = a + b + rng.choice([d for d in (-3, -2, -1, 1, 2, 3) if a + b + d >= 0])
        rows.append({"prompt": f"What is {a} + {b}?", "chosen": f"The answer is {a + b}.",
                     "rejected": f"The answer is {wrong}."})
    return rows


def write(path: Path, rows: list[dict[str, str]]) -> None:
    """Write ``rows`` as JSON lines."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def main(out: Path) -> None:
    """Write the four files into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    write(out / "arith-sft-train.jsonl", sft_rows(1000, seed=0))
    write(out / "arith-sft-eval.jsonl", sft_rows(200, seed=1))
    write(out / "arith-pairs-train.jsonl", pair_rows(1000, seed=2))
    write(out / "arith-pairs-eval.jsonl", pair_rows(200, seed=3))
    print(f"wrote 4 files to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "data"))
