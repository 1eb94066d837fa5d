"""Preference pairs for reward-model training: loading, rendering, and a synthetic arithmetic set.

A pair is ``(prompt, chosen, rejected)`` with an optional margin. Files are read with Hugging
Face `datasets` (``.jsonl``/``.json`` or ``.parquet``); fields are named in the config. Prompt
and completions are strings, or (conversational format) lists of chat messages.

Rendering (``template``), shared by training and by the ``reward_model`` reward so that a model
scores text in the form it was trained on:

- ``"chat"``: the tokenizer's chat template over ``[user: prompt] + [assistant: completion]``
  (message lists are used as given), no generation prompt;
- ``"concat"``: ``prompt + completion`` as plain strings (separator ``""``: put a space or
  newline in the data if you want one);
- ``"auto"``: "chat" when the tokenizer has a chat template, else "concat".

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

TEMPLATES = ("auto", "chat", "concat")
Text = str | list[dict[str, str]]


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


def resolve_template(template: str, tokenizer: Any) -> str:
    """"chat" or "concat" for ``template`` ("auto" picks by the tokenizer)."""
    if template not in TEMPLATES:
        raise ConfigError(f"template {template!r} must be one of {list(TEMPLATES)}")
    if template == "auto":
        return "chat" if getattr(tokenizer, "chat_template", None) else "concat"
    if template == "chat" and not getattr(tokenizer, "chat_template", None):
        raise ConfigError("template 'chat' needs a tokenizer with a chat template; use 'concat'")
    return template


def _messages(text: Text, role: str) -> list[dict[str, str]]:
    if isinstance(text, str):
        return [{"role": role, "content": text}] if text else []
    return [dict(m) for m in text]


def render(tokenizer: Any, prompt: Text, completion: Text, template: str) -> str:
    """The text the reward model reads for ``completion`` after ``prompt``.

    Under ``concat`` (no roles) a prompt given as chat messages is read as their contents
    joined by newlines, e.g. a one-question prompt is its question.
    """
    if template == "chat":
        messages = _messages(prompt, "user") + _messages(completion, "assistant")
        return tokenizer.apply_chat_template(messages, tokenize=False)
    if not isinstance(prompt, str):
        prompt = "\n".join(str(m["content"]) for m in prompt)
    if not isinstance(completion, str):
        raise ConfigError("template 'concat' needs string completions; use 'chat' for message "
                          "lists")
    return prompt + completion


def encode(tokenizer: Any, texts: Sequence[str], template: str, max_length: int) -> dict[str, Any]:
    """Right-padded tensors; long texts lose their *start* (the completion's end is what the
    score is read from). Chat-rendered text carries its own special tokens."""
    tokenizer.truncation_side = "left"
    tokenizer.padding_side = "right"
    return tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                     return_tensors="pt", add_special_tokens=template == "concat")


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
