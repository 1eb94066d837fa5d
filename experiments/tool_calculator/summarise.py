"""Tables of the tool-calculator example from its run folders (printed as markdown).

``python experiments/tool_calculator/summarise.py [RUNS]`` (default runs/tool-calculator) reads

- ``RUNS/eval/<name>/eval.json``: `rlfb eval` results on the held-out questions (accuracy,
  and the episodes' tool-call rate, turns and tool errors where tools were offered);
- ``RUNS/grpo*/metrics.jsonl``: each GRPO run's held-out evaluations (``eval/*``, with tools) and
  its per-step rollout figures (reward, tool-call rate, turns, tool errors, masked tokens).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def eval_table(runs: Path) -> list[str]:
    lines = ["| eval | accuracy | judged | tool-call rate | turns | tool errors | malformed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for path in sorted((runs / "eval").glob("*/eval.json")):
        s = json.loads(path.read_text())
        e = s.get("episodes") or {}
        lines.append(f"| {path.parent.name} | {cell(s['accuracy'])} | {s['judged']} | "
                     f"{cell(e.get('tool_call_rate'))} | {cell(e.get('turns'))} | "
                     f"{cell(e.get('tool_errors'))} | {cell(e.get('malformed_calls'))} |")
    return lines


def training_tables(path: Path) -> list[str]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = [f"{path.parent.name}:", "", "| step | held-out accuracy (tools) | tool-call rate | turns | tool errors |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['step']} | {cell(r['eval/accuracy'])} | {cell(r.get('eval/tool_call_rate'))} "
              f"| {cell(r.get('eval/turns'))} | {cell(r.get('eval/tool_errors'))} |"
              for r in records if "eval/accuracy" in r]
    lines += ["", "| step | reward | tool-call rate | turns | tool errors | malformed | "
              "masked-token fraction | truncated |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['step']} | {cell(r.get('reward/mean'))} | "
              f"{cell(r.get('rollout/tool_call_rate'))} | {cell(r.get('rollout/turns'))} | "
              f"{cell(r.get('rollout/tool_errors'))} | {cell(r.get('rollout/malformed_calls'))} | "
              f"{cell(r.get('rollout/masked_token_frac'))} | "
              f"{cell(r.get('rollout/truncated_frac'))} |"
              for r in records if r["step"] > 0]
    return lines


def main() -> None:
    runs = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tool-calculator")
    lines = eval_table(runs)
    for path in sorted(runs.glob("grpo*/metrics.jsonl")):
        lines += [""] + training_tables(path)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
