"""Data of the tool-calculator example (experiments/tool-calculator.yaml).

``python experiments/tool_calculator/make_data.py [--demos 300] [--heldout 100] [--out DIR]``
writes into DIR (default experiments/tool_calculator/data):

- ``heldout.jsonl``: the first ``--heldout`` questions of the held-out part of the
  ``tool_arith`` source (``holdout`` = that count, the other options at their defaults), which
  are exactly the questions the training run evaluates on with ``data.eval_prompts`` equal to
  that count: ``{"id", "prompt", "reference"}`` rows for ``rlfb eval --data``, with and without
  tools;
- ``demos.jsonl``: SFT rows for the warm start, two per training question (the first
  ``--demos`` of the *training* part, disjoint from the held-out one by operand pair): the
  conversation up to the model's turn as ``prompt`` (chat messages) and the turn as
  ``completion``. Turn 1 calls the calculator in the tags format on ``a * b``; turn 2, after the
  calculator's real answer (the tool really runs), gives that number. The messages are the
  ones the episode runner renders for SmolLM2-135M-Instruct (the environment's system prompt
  with the tags format's tool description, the tool's result as the format returns it), so
  SFT trains on the very text the RL episodes show the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rlfb.environments import get_environment
from rlfb.environments.base import ToolCall, run_tool
from rlfb.environments.formats import CALL_CLOSE, CALL_OPEN, get_tool_format, with_instructions
from rlfb.environments.tool_arith import ProductSource
from rlfb.models.load import load_tokenizer
from rlfb.models.smollm2 import ensure_smollm2

OUT = Path(__file__).resolve().parent / "data"


def demo_rows(count: int) -> list[dict[str, Any]]:
    """Two SFT rows per training question (module docstring)."""
    tokenizer = load_tokenizer(ensure_smollm2())
    fmt = get_tool_format("auto", tokenizer)
    env = get_environment("tool-arith")
    calculator = env.tool("calculator")
    source = ProductSource(part="train")
    rows = []
    for i in range(count):
        prompt = source.get(i)
        a, b = prompt.meta["operands"]
        state = env.reset(prompt, fmt)
        call = ToolCall("calculator", {"expression": f"{a} * {b}"})
        call_text = f"{CALL_OPEN}{call.to_json()}{CALL_CLOSE}"
        result = run_tool(calculator, call.arguments)
        if result.status != "ok" or result.content.strip() != prompt.reference:
            raise RuntimeError(f"calculator gave {result.content!r} ({result.status}) for "
                               f"{a} * {b}, expected {prompt.reference}")
        first = with_instructions(state.messages, env.tools)
        rows.append({"prompt": first, "completion": call_text})
        answered = state.messages + [{"role": "assistant", "content": call_text}] + \
            fmt.observations([("calculator", result.content)])
        rows.append({"prompt": with_instructions(answered, env.tools),
                     "completion": prompt.reference})
    return rows


def heldout_rows(count: int) -> list[dict[str, Any]]:
    """The held-out questions as ``rlfb eval --data`` rows."""
    source = ProductSource(part="holdout", holdout=count)
    return [{"id": p.prompt_id, "prompt": p.messages[-1]["content"], "reference": p.reference}
            for p in (source.get(i) for i in range(count))]


def write(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} rows to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demos", type=int, default=300)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    write(heldout_rows(args.heldout), args.out / "heldout.jsonl")
    write(demo_rows(args.demos), args.out / "demos.jsonl")


if __name__ == "__main__":
    main()
