"""Preference pairs for reward-model training: loading them, and a synthetic arithmetic set.

A pair is ``(prompt, chosen, rejected)`` with an optional margin. Files are read with Hugging
Face `datasets` (``.jsonl``/``.json`` or ``.parquet``); fields are named in the config. Prompt
and completions are strings, or (conversational format) lists of chat messages.

How a pair is rendered for the model (``template``) is in `rlfb.models.reward_model`.

``python -m rlfb.learner.rm_data arith OUT_DIR`` writes the synthetic arithmetic preference set
(train.jsonl, eval.jsonl) and a tiny base model used by ``experiments/rm-tiny-arith.yaml``.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from rlfb.errors import ConfigError
from rlfb.models.reward_model import Text



@dataclass(frozen=True)
class PreferencePair:
    """One comparison: ``chosen`` is preferred to ``rejected`` for ``prompt`` by ``margin``."""

    prompt: Text
    chosen: Text
    rejected: Text
    margin: float = 0.0


def _reader(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "json"
    if suffix == ".parquet":
        return "parquet"
    raise ConfigError(f"preference file {path!r}: unsupported type {suffix or '(none)'}; "
                      "use .jsonl, .json or .parquet")


def load_pairs(path: str, *, prompt_field: str | None = "prompt", chosen_field: str = "chosen",
               rejected_field: str = "rejected", margin_field: str | None = None
               ) -> list[PreferencePair]:
    """Read pairs from a jsonl/json/parquet file; ``prompt_field=None`` means no prompt."""
    if not Path(path).is_file():
        raise ConfigError(f"preference file {path!r} does not exist")
    from datasets import load_dataset

    data = load_dataset(_reader(path), data_files=str(path), split="train")
    wanted = [f for f in (prompt_field, chosen_field, rejected_field, margin_field) if f]
    missing = [f for f in wanted if f not in data.column_names]
    if missing:
        raise ConfigError(f"preference file {path!r} has no field(s) {missing}; its fields are "
                          f"{data.column_names} (set prompt_field/chosen_field/rejected_field)")
    if len(data) == 0:
        raise ConfigError(f"preference file {path!r} has no rows")
    pairs = []
    for row in data:
        margin = float(row[margin_field]) if margin_field else 0.0
        pairs.append(PreferencePair(row[prompt_field] if prompt_field else "",
                                    row[chosen_field], row[rejected_field], margin))
    return pairs


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


if __name__ == "__main__":  # python -m rlfb.learner.rm_data arith OUT_DIR
    if len(sys.argv) != 3 or sys.argv[1] != "arith":
        sys.exit("usage: python -m rlfb.learner.rm_data arith OUT_DIR")
    print(f"wrote {write_arith_example(sys.argv[2])}")
