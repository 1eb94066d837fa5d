"""Markdown summaries of `rlfb eval` (eval.md) and `rlfb rescore` (rescore.md)."""

from __future__ import annotations

import json
from typing import Any

from rlfb.evaluation.stats import QUANTILES
from rlfb.reporting import cell, table


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    return [*table(header, rows), ""]


def eval_markdown(summary: dict[str, Any], settings: dict[str, Any], png: str | None) -> str:
    """eval.md: headline figures, pass@k, reward components, statuses, hedging, calibration."""
    s = summary
    lines = ["# Evaluation", "", f"Settings: `{json.dumps(settings, default=str)}`", ""]
    lines += _table(("metric", "value"), [
        ("prompts", s["prompts"]), ("samples", s["samples"]),
        ("samples per prompt", s["samples_per_prompt"]), ("accuracy", s["accuracy"]),
        ("judged", s["judged"]), ("judge failed (excluded)", s["judge_failed"]),
        ("reward mean", s["reward"]["mean"]), ("reward std", s["reward"]["std"]),
        ("reward masked", s["reward"]["masked"]),
        ("length-clipped fraction", s["length_clipped_frac"])])
    lines += _table(("pass@k", "value", "prompts", "excluded (< k judged)"),
                    [(f"pass@{k}", v["value"], v["prompts"], v["excluded"])
                     for k, v in s["pass_at_k"].items()])
    lines += _table(("reward component", "mean", "n", "masked"),
                    [(k, v["mean"], v["n"], v["masked"]) for k, v in s["components"].items()])
    lines += _table(("accuracy verifier status", "count"), list(s["accuracy_statuses"].items()))
    if s["reward_statuses"]:
        lines += _table(("reward verifier/status", "count"), list(s["reward_statuses"].items()))
    if s.get("episodes"):
        lines += _table(("episodes (per episode)", "value"), list(s["episodes"].items()))
    lines += _table(("hedging", "value"), list(s["hedging"].items()))
    cal = s["calibration"]
    if cal is None:
        lines += ["No completion states a confidence: no calibration diagram.", ""]
    else:
        lines += [f"Calibration over {cal['n']} answers that state a confidence: ECE "
                  f"{cell(cal['ece'])}, mean confidence {cell(cal['mean_confidence'])}, "
                  f"accuracy {cell(cal['accuracy'])}.", ""]
        if png:
            lines += [f"![reliability diagram]({png})", ""]
    return "\n".join(lines)


def rescore_markdown(summary: dict[str, Any], settings: dict[str, Any], png: str) -> str:
    """rescore.md: distributions, components, rank correlation, groups, advantages."""
    s = summary
    lines = ["# Re-scoring", "", f"Settings: `{json.dumps(settings, default=str)}`", "",
             f"{s['samples']} saved rollouts in {s['groups']} groups from steps "
             f"{', '.join(map(str, s['steps']))}.", ""]
    keys = ("n", "masked", "mean", "std", "min", *[f"q{round(q * 100):02d}" for q in QUANTILES],
            "max")
    lines += _table(("reward", *keys),
                    [(name, *(s[f"reward_{name}"][k] for k in keys)) for name in ("old", "new")])
    names = sorted(set(s["components_old"]) | set(s["components_new"]))
    lines += _table(("component", "old mean", "new mean"),
                    [(n, s["components_old"].get(n, {}).get("mean"),
                      s["components_new"].get(n, {}).get("mean")) for n in names])
    status_names = sorted(set(s["statuses_old"]) | set(s["statuses_new"]))
    if status_names:
        lines += _table(("verifier/status", "old", "new"),
                        [(n, s["statuses_old"].get(n, 0), s["statuses_new"].get(n, 0))
                         for n in status_names])
    lines += _table(("comparison", "value"), [
        ("Spearman rank correlation, all samples", s["spearman"]),
        ("Spearman within groups (mean)", s["spearman_within_group_mean"]),
        ("groups where the within-group Spearman is defined",
         s["spearman_within_group_defined"]),
        ("groups whose best sample changes", s["best_changed_frac"]),
        ("zero-variance groups, old", s["zero_variance_old_frac"]),
        ("zero-variance groups, new", s["zero_variance_new_frac"]),
        ("groups that become zero-variance", s["became_zero_variance_frac"]),
        ("groups that stop being zero-variance", s["stopped_zero_variance_frac"])])
    adv = s.get("advantages")
    if adv:
        lines += [f"Advantages recomputed with `{settings.get('advantage')}`:", ""]
        lines += _table(("advantage", "value"), list(adv.items()))
    else:
        lines += ["No group advantage estimator (the run's algorithm has none); pass "
                  "--advantage NAME to compare advantages.", ""]
    lines += [f"![reward histogram]({png})", ""]
    return "\n".join(lines)
