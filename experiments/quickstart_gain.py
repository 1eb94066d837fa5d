"""How much of a run's held-out accuracy gain is answer format and how much arithmetic.

    .venv/bin/python experiments/quickstart_gain.py runs/quickstart [--out gain.md]

Reads the run's stored held-out completions (``RUN/eval_samples.jsonl``, written at every
evaluation) and prints, per evaluation step, over the held-out questions:

- ``answered``: the math verifier found a final number (status correct or wrong, not
  unparseable): the answer-format part;
- ``accuracy`` and ``accuracy of answered`` (correct / answered): the arithmetic part;
- ``tagged``: the completion wrote ``<answer>…</answer>`` (what the format reward asks);
- ``short_form``: the whole completion is the equation ``a ± b = c`` (a trailing period
  allowed), the form the quickstart's model converges to, and ``accuracy_short_form`` within
  it (is the gain the short form, or the sums inside it?);
- accuracy on the questions whose reference is negative, and on the others.

Accuracy is answered × accuracy-of-answered, so its change from the first evaluation to the
last splits exactly into a format term and an arithmetic term:

    Δaccuracy = Δanswered × acc_of_answered(first) + answered(last) × Δacc_of_answered

A sample whose judge failed (status ``judge_failed``/``timeout``) is left out and counted.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

ANSWERED = {"correct", "wrong"}
SHORT_FORM = re.compile(r"\s*-?\d+\s*[-+]\s*-?\d+\s*=\s*-?\d+\.?\s*")
JUDGED = ANSWERED | {"unparseable"}


def step_measures(rows: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The measures of one evaluation step's samples (module docstring)."""
    rows = list(rows)
    judged = [r for r in rows if r["status"] in JUDGED]
    answered = [r for r in judged if r["status"] in ANSWERED]
    negative = [r for r in judged if str(r["reference"]).strip().startswith("-")]
    other = [r for r in judged if not str(r["reference"]).strip().startswith("-")]
    short = [r for r in judged if SHORT_FORM.fullmatch(r["completion"])]

    def rate(part: list[dict[str, Any]], of: list[dict[str, Any]]) -> float:
        return len(part) / len(of) if of else float("nan")

    def correct(of: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in of if r["status"] == "correct"]

    return {"n": len(judged), "judge_failed": len(rows) - len(judged),
            "answered": rate(answered, judged), "accuracy": rate(correct(judged), judged),
            "accuracy_of_answered": rate(correct(answered), answered),
            "tagged": rate([r for r in judged if "<answer>" in r["completion"]
                            and "</answer>" in r["completion"]], judged),
            "short_form": rate(short, judged), "accuracy_short_form": rate(correct(short), short),
            "negative_n": len(negative), "accuracy_negative": rate(correct(negative), negative),
            "accuracy_other": rate(correct(other), other)}


def by_step(path: Path) -> dict[int, dict[str, float]]:
    """`step_measures` of every evaluation step in an ``eval_samples.jsonl``."""
    steps: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            steps[int(row["step"])].append(row)
    return {step: step_measures(rows) for step, rows in sorted(steps.items())}


def split_gain(first: dict[str, float], last: dict[str, float]) -> dict[str, float]:
    """Δaccuracy from ``first`` to ``last`` and its format and arithmetic terms (they sum to
    it exactly)."""
    fmt = (last["answered"] - first["answered"]) * first["accuracy_of_answered"]
    arith = last["answered"] * (last["accuracy_of_answered"] - first["accuracy_of_answered"])
    return {"gain": last["accuracy"] - first["accuracy"], "format": fmt, "arithmetic": arith}


def table(steps: dict[int, dict[str, float]]) -> str:
    """Markdown: one row per step, then the split of the first-to-last gain."""
    cols = ["n", "answered", "tagged", "short_form", "accuracy_short_form", "accuracy", "accuracy_of_answered", "negative_n",
            "accuracy_negative", "accuracy_other"]
    lines = ["| step | " + " | ".join(cols) + " |", "|" + " --- |" * (len(cols) + 1)]
    for step, m in steps.items():
        cells = [str(m[c]) if isinstance(m[c], int) else f"{m[c]:.3f}" for c in cols]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    first, last = steps[min(steps)], steps[max(steps)]
    g = split_gain(first, last)
    lines += ["", f"Gain from step {min(steps)} to {max(steps)}: {g['gain']:+.3f} = format "
              f"{g['format']:+.3f} + arithmetic {g['arithmetic']:+.3f}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print (and with ``--out`` write) the table of a run folder."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="run folder holding eval_samples.jsonl")
    p.add_argument("--out", type=Path, help="also write the table here")
    args = p.parse_args(argv)
    path = args.run / "eval_samples.jsonl"
    if not path.is_file():
        p.error(f"{path} does not exist; evaluate the run (eval.every > 0) to store completions")
    text = table(by_step(path))
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
