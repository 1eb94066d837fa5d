"""Held-out evaluation: accuracy, pass@k (unbiased) and mean reward per component.

Accuracy is judged by one named verifier (``eval.verifier``, "math" by default), independently
of the training reward, so that reward-shaping ablations are compared on the same yardstick.
Samples whose judge failed are counted (``eval/judge_failed``) and left out of the accuracy.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from rlfb.evaluation.pass_at_k import mean_pass_at_k
from rlfb.types import Prompt, ScoredSample


def evaluation_metrics(
    prompts: Sequence[Prompt],
    scored: Sequence[ScoredSample],
    judged_correct: Sequence[bool | None],
    n: int,
    ks: Sequence[int] = (1,),
    prefix: str = "eval",
) -> dict[str, Any]:
    """Summarise an evaluation.

    Args:
        prompts: the held-out prompts.
        scored: ``n`` scored samples per prompt, prompt-major.
        judged_correct: per sample, True/False from the accuracy verifier, None if its judge failed.
        n: samples per prompt.
        ks: the k of each pass@k to report (k ≤ n).
    """
    if len(scored) != len(prompts) * n or len(judged_correct) != len(scored):
        raise ValueError("evaluation_metrics needs n scored samples and verdicts per prompt")
    valid = [c for c in judged_correct if c is not None]
    out: dict[str, Any] = {
        f"{prefix}/accuracy": sum(valid) / len(valid) if valid else None,
        f"{prefix}/judge_failed": len(judged_correct) - len(valid),
        f"{prefix}/samples": len(scored),
    }
    counts = [sum(bool(c) for c in judged_correct[i * n:(i + 1) * n]) for i in range(len(prompts))]
    for k in ks:
        if k <= n:
            out[f"{prefix}/pass@{k}"] = mean_pass_at_k(counts, n, k)
    rewards = [s.reward for s in scored if s.reward is not None]
    out[f"{prefix}/reward_mean"] = sum(rewards) / len(rewards) if rewards else None
    parts: dict[str, list[float]] = defaultdict(list)
    for s in scored:
        for name, value in s.components.items():
            if value is not None:
                parts[name].append(value)
    for name, values in sorted(parts.items()):
        out[f"{prefix}/reward/{name}"] = sum(values) / len(values)
    lengths = [len(s.rollout.completion_token_ids) for s in scored]
    out[f"{prefix}/completion_len"] = sum(lengths) / len(lengths) if lengths else 0.0
    return out


def hedge_eval_metrics(
    detector: Any,
    texts: Sequence[str],
    judged_correct: Sequence[bool | None],
    prefix: str = "eval",
) -> dict[str, Any]:
    """Hedging metrics of held-out completions: each text's hedge class from ``detector`` (a
    `rlfb.rewards.hedging.detect.HedgeDetector`) paired with its correctness verdict.

    Returns ``{prefix}/hedge_rate``, ``abstention_rate``, ``wrong_unhedged_rate`` and
    ``accuracy_of_answered`` (see `rlfb.rewards.hedging.metrics.hedging_metrics`; a sample whose
    judge failed is left out, a rate with an empty denominator is None).
    """
    if len(texts) != len(judged_correct):
        raise ValueError(f"hedge_eval_metrics got {len(texts)} texts and "
                         f"{len(judged_correct)} verdicts")
    return detection_metrics(detector.detect_batch(list(texts)), judged_correct, prefix)


def detection_metrics(detections: Sequence[Any], judged_correct: Sequence[bool | None],
                      prefix: str = "eval") -> dict[str, Any]:
    """`hedge_eval_metrics` of completions already classified (`HedgeDetection` each)."""
    from rlfb.rewards.hedging.metrics import hedging_metrics

    m = hedging_metrics((d.hedge_class, c, d.confidence)
                        for d, c in zip(detections, judged_correct))
    keys = ("hedge_rate", "abstention_rate", "wrong_unhedged_rate", "accuracy_of_answered")
    return {f"{prefix}/{k}": m[k] for k in keys}


def grouped_eval_metrics(records: Sequence[dict[str, Any]], fields: Sequence[str],
                         prefix: str = "eval") -> dict[str, Any]:
    """Held-out figures per value of each prompt field in ``fields`` (a source's ``meta``, e.g.
    a difficulty ``tier``), from the records the trainer stores in ``eval_samples.jsonl``:
    ``{prefix}/{field}={value}/accuracy`` (judged samples only; None when none was judged),
    ``/reward`` (mean of the unmasked rewards), ``/n`` (samples), and, when the records carry a
    ``hedge_class``, the hedge, abstention and wrong-unhedged rates of that group.

    >>> rows = [{"fields": {"tier": "easy"}, "correct": True, "reward": 1.0},
    ...         {"fields": {"tier": "easy"}, "correct": None, "reward": None},
    ...         {"fields": {"tier": "hard"}, "correct": False, "reward": 0.0}]
    >>> m = grouped_eval_metrics(rows, ["tier"])
    >>> m["eval/tier=easy/accuracy"], m["eval/tier=easy/n"], m["eval/tier=hard/accuracy"]
    (1.0, 2, 0.0)
    """
    from rlfb.rewards.hedging.metrics import hedging_metrics

    out: dict[str, Any] = {}
    for field in fields:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            groups[str(record.get("fields", {}).get(field))].append(record)
        for value, rows in sorted(groups.items()):
            key = f"{prefix}/{field}={value}"
            judged = [r["correct"] for r in rows if r.get("correct") is not None]
            rewards = [r["reward"] for r in rows if r.get("reward") is not None]
            out[f"{key}/accuracy"] = sum(judged) / len(judged) if judged else None
            out[f"{key}/reward"] = sum(rewards) / len(rewards) if rewards else None
            out[f"{key}/n"] = len(rows)
            if all("hedge_class" in r for r in rows):
                m = hedging_metrics((r["hedge_class"], r.get("correct")) for r in rows)
                for name in ("hedge_rate", "abstention_rate", "wrong_unhedged_rate"):
                    out[f"{key}/{name}"] = m[name]
    return out
