"""The hedging study's warm start (Schulman's step 1): let the model say how sure it is.

    .venv/bin/python experiments/hedging_study/warm_start.py [--k 8] [--per-tier 80]
        [--out runs/hedging-study/warm-start]

Three stages, each skipped when its output already exists (so an interrupted build resumes):

1. **Estimate.** ``rlfb eval`` samples ``k`` completions (temperature ``--temperature``,
   default 0.5) of the base model (SmolLM2-135M-Instruct) for the first ``per_tier`` training
   questions of each tier of ``experiments/data/hedge-tiers-train.jsonl``, judged by the math
   verifier (``OUT/estimate/eval_samples.jsonl``). A question's estimated accuracy p̂ is its
   share of correct samples.
2. **Build** ``OUT/sft-train.jsonl`` (prompt, completion, and the tier, p̂ and target kind of
   each row): where p̂ ≥ `ANSWER_AT` (the model is usually right) the target answers flatly
   with the right answer; where p̂ ≥ `HEDGE_AT` it hedges the right answer; below that it
   abstains, or (one question in two, chosen by a seeded draw) hedges the model's own most
   frequent wrong answer (a whole number; abstains when the model gave none). Phrasings are
   drawn from the lists below. Every target is checked with the study's own judges before it
   is written: the ``phrases`` hedge detector must give the intended class, and the math
   verifier must find the answer in every flat and hedged target.
3. **Train** ``experiments/hedging_study/sft.yaml`` (rlfb's ``sft`` algorithm, full
   fine-tuning, two epochs) on that file, and copy its final checkpoint's model folder to
   ``OUT/model``: the ``model.path`` both arms of ``experiments/ablations/hedging-study.yaml``
   start from.

Why these settings (the criterion of the study does not depend on them). The first build
sampled at temperature 1, where the base model's samples are mostly off-format rambling (easy
p̂ 0.14), so it lowered the thresholds to 0.25 / 0.125; abstentions (one question in three
below `HEDGE_AT` hedged a guess instead) were then 104 of 240 targets, and 10 SFT steps cloned
them into greedy abstention on every question. This build estimates at temperature 0.5, where
the model answers in format and is right more often (easy p̂ 0.38, medium 0.07, hard 0), keeps
the flat threshold at "usually right" (4 or more of 8), splits the questions the model never
gets right evenly between abstaining and hedging its own guess, and trains two epochs. The
figures are in ``experiments/results/hedging-study/README.md``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TRAIN_FILE = REPO / "experiments" / "data" / "hedge-tiers-train.jsonl"
SFT_CONFIG = REPO / "experiments" / "hedging_study" / "sft.yaml"
RLFB = [sys.executable, "-m", "rlfb.cli"]
ANSWER_AT = 0.5
HEDGE_AT = 0.125
TEMPERATURE = 0.5
SEED = 0

FLAT = ["<answer>{x}</answer>", "{q} = {x}. <answer>{x}</answer>",
        "The answer is <answer>{x}</answer>.", "{q} equals {x}. <answer>{x}</answer>"]
HEDGED = ["I'm not sure, but I think it is <answer>{x}</answer>.",
          "My best guess is <answer>{x}</answer>.",
          "I think it might be <answer>{x}</answer>, but I am not certain.",
          "Probably <answer>{x}</answer>, though I may be wrong.",
          "I'm not confident about this one. Maybe <answer>{x}</answer>.",
          "It could be <answer>{x}</answer>, but I'm not sure."]
ABSTAIN = ["I don't know.", "I don't know the answer to this one.",
           "I'm not sure; I can't compute that reliably.",
           "I cannot work that out without a calculator, so I will not guess.",
           "Sorry, I can't compute that. I don't know.",
           "This is too hard for me to compute reliably. I don't know."]
INTENDED = {"answer": "unhedged", "hedge": "hedged", "hedge_guess": "hedged",
            "abstain": "uninformative"}


def estimate(out: Path, k: int, per_tier: int, temperature: float) -> Path:
    """Stage 1: ``k`` base-model samples (at ``temperature``) of the first ``per_tier``
    questions of each tier."""
    samples = out / "estimate" / "eval_samples.jsonl"
    if samples.is_file():
        return samples
    rows = [json.loads(line) for line in TRAIN_FILE.read_text().splitlines()]
    taken: Counter[str] = Counter()
    chosen = []
    for row in rows:
        if taken[row["tier"]] < per_tier:
            taken[row["tier"]] += 1
            chosen.append(row)
    subset = out / "estimate-questions.jsonl"
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("".join(json.dumps(r) + "\n" for r in chosen))
    subprocess.run([*RLFB, "eval", "smollm2-135m-instruct", "--data", str(subset),
                    "--verifier", "math", "--n", str(k), "--temperature", str(temperature),
                    "--max-new-tokens", "48", "--seed", str(SEED), "--engine", "vllm",
                    "--engine-option", "max_model_len=512",
                    "--engine-option", "llm_options={max_num_batched_tokens: 32768}",
                    "--id-field", "id", "--reference-field", "answer",
                    "--out", str(out / "estimate")], check=True, cwd=REPO)
    return samples


def question_text(prompt: str) -> str:
    """``"7 + 5"`` from ``"What is 7 + 5? If you are …"``."""
    return prompt.split("?")[0].removeprefix("What is ")


def target(kind: str, row: dict[str, Any], guess: str | None, rng: random.Random) -> str:
    """The SFT completion of one question for the target ``kind``."""
    if kind == "abstain":
        return rng.choice(ABSTAIN)
    x = guess if kind == "hedge_guess" else row["answer"]
    pool = FLAT if kind == "answer" else HEDGED
    return rng.choice(pool).format(x=x, q=question_text(row["prompt"]))


def plan(samples: list[dict[str, Any]], rows: dict[str, dict[str, Any]]
         ) -> list[dict[str, Any]]:
    """One SFT row per estimated question (see the module docstring for the rules)."""
    by_q: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        by_q[s["prompt_id"]].append(s)
    rng = random.Random(SEED)
    out = []
    for qid in sorted(by_q, key=lambda q: int(q.split("-")[1])):
        judged = [s for s in by_q[qid] if s["correct"] is not None]
        p_hat = sum(bool(s["correct"]) for s in judged) / len(judged) if judged else 0.0
        wrong = Counter(str(s["extracted"]).strip() for s in judged if not s["correct"]
                        and re.fullmatch(r"-?\d+", str(s.get("extracted") or "").strip()))
        guess = wrong.most_common(1)[0][0] if wrong else None
        if p_hat >= ANSWER_AT:
            kind = "answer"
        elif p_hat >= HEDGE_AT:
            kind = "hedge"
        else:
            kind = "hedge_guess" if guess is not None and rng.random() < 1 / 2 else "abstain"
        row = rows[qid]
        out.append({"id": qid, "prompt": row["prompt"],
                    "completion": target(kind, row, guess, rng), "tier": row["tier"],
                    "answer": row["answer"], "p_hat": p_hat, "k": len(judged), "kind": kind})
    return out


def check_targets(sft: list[dict[str, Any]]) -> None:
    """Raise unless the detector gives every target its intended class and the verifier
    finds the answer in every flat and hedged one (right for flat ones)."""
    from rlfb.rewards.hedging.detect import get_hedge_detector
    from rlfb.verifiers import get_verifier

    detector, verifier = get_hedge_detector("phrases"), get_verifier("math")
    for r in sft:
        got = detector.detect(r["completion"]).hedge_class.value
        status = verifier.verify(r["completion"], r["answer"]).status.value
        if got != INTENDED[r["kind"]] or (r["kind"] in ("answer", "hedge") and
                                          status != "correct") or \
                (r["kind"] == "hedge_guess" and status == "unparseable"):
            raise SystemExit(f"target of {r['id']} ({r['kind']}) is judged {got}/{status}: "
                             f"{r['completion']!r}; fix the phrasing lists")


def build(out: Path, samples_path: Path) -> Path:
    """Stage 2: write ``OUT/sft-train.jsonl`` and ``OUT/sft-summary.json``."""
    path = out / "sft-train.jsonl"
    if path.is_file():
        return path
    rows = {r["id"]: r for r in map(json.loads, TRAIN_FILE.read_text().splitlines())}
    samples = [json.loads(line) for line in samples_path.read_text().splitlines()]
    sft = plan(samples, rows)
    check_targets(sft)
    summary: dict[str, Any] = {"answer_at": ANSWER_AT, "hedge_at": HEDGE_AT, "tiers": {}}
    for tier in ("easy", "medium", "hard"):
        t = [r for r in sft if r["tier"] == tier]
        summary["tiers"][tier] = {"questions": len(t),
                                  "mean_p_hat": sum(r["p_hat"] for r in t) / max(len(t), 1),
                                  "kinds": dict(Counter(r["kind"] for r in t))}
    (out / "sft-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    path.write_text("".join(json.dumps(r) + "\n" for r in sft))
    return path


def train(out: Path, data: Path) -> Path:
    """Stage 3: the SFT run, and its final model copied to ``OUT/model``."""
    model = out / "model"
    if (model / "config.json").is_file():
        return model
    run_dir = out / "sft"
    subprocess.run([*RLFB, "train", str(SFT_CONFIG), f"run.output_dir={run_dir}",
                    f"offline.files=[{data}]"], check=True, cwd=REPO)
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*"))
    if not checkpoints:
        raise SystemExit(f"the SFT run wrote no checkpoint under {run_dir}")
    shutil.copytree(checkpoints[-1] / "learner" / "model", model.with_name("model.tmp"),
                    dirs_exist_ok=True)
    model.with_name("model.tmp").rename(model)
    return model


def main(argv: list[str] | None = None) -> int:
    """Run the three stages; prints the model folder."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--k", type=int, default=8, help="samples per question (default 8)")
    p.add_argument("--per-tier", type=int, default=80,
                   help="training questions estimated per tier (default 80)")
    p.add_argument("--temperature", type=float, default=TEMPERATURE,
                   help=f"sampling temperature of the estimate (default {TEMPERATURE})")
    p.add_argument("--out", default="runs/hedging-study/warm-start", help="output folder")
    args = p.parse_args(argv)
    out = (REPO / args.out).resolve()
    samples = estimate(out, args.k, args.per_tier, args.temperature)
    data = build(out, samples)
    print(train(out, data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
