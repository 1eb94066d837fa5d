"""The hedging study's measures per arm, tier and seed, from the runs' stored eval completions.

    .venv/bin/python experiments/hedging_study/analyse.py SWEEP_OUTPUT_DIR [--out DIR]

Reads ``<arm>/seed=<s>/eval_samples.jsonl`` of every run under the sweep's output folder and
scores *every* arm's completions with the same judges: the ``math`` verifier's stored verdict,
the ``phrases`` hedge detector (run again here, so its cues can be counted) and Schulman's
payoff table (the ``hedging`` reward, rescored here, so the binary arm gets a payoff too).
At the first eval step (the warm start, before any RL step: the same model for every arm) and
at the final one, per tier (easy, medium, hard, medium+hard, all), per seed:

1. ``payoff``: mean Schulman payoff (the primary measure);
2. ``accuracy`` (correct / judged) and ``accuracy_of_answered`` (correct / answered, answered =
   unhedged or hedged);
3. ``hedge_rate``, ``abstention_rate``, ``wrong_unhedged_rate`` (over judged completions);
4. ``hedge_auroc``: AUROC of "hedged or abstained" against wrongness
   (`rlfb.rewards.hedging.metrics.hedge_auroc`; None when a group is all right or all wrong);
5. gaming checks: ``abstain_with_answer_rate`` (uninformative, yet the verifier extracted an
   answer), ``hedged_unparseable_rate`` (hedged, with no answer to check), ``mean_chars``
   (completion length in characters), and each arm's most frequent hedge and abstention cues.

Writes ``measures.json`` (every figure), ``measures.md`` (tables: mean over seeds, then the
per-seed values) and ``tiers.png`` (final payoff, wrong-unhedged rate, accuracy and hedge +
abstention rate per tier and arm; dots = seeds) into ``--out`` (default: the sweep folder).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Sequence

TIER_SETS = {"easy": ("easy",), "medium": ("medium",), "hard": ("hard",),
             "medium+hard": ("medium", "hard"), "all": ("easy", "medium", "hard")}
MEASURES = ("payoff", "accuracy", "accuracy_of_answered", "hedge_rate", "abstention_rate",
            "wrong_unhedged_rate", "hedge_auroc", "abstain_with_answer_rate",
            "hedged_unparseable_rate", "mean_chars")
#: an arm's run folder: axis=level components, then seed=N (kept folders such as
#: ``first-attempt/`` beside the runs are not arms)
_RUN = re.compile(r"^(?P<group>[^/=]+=[^/]+(?:/[^/=]+=[^/]+)*)/seed=(?P<seed>\d+)$")


def runs(root: Path) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """``{arm group: {seed: eval records of every step}}`` of the runs under ``root``."""
    out: dict[str, dict[int, list[dict[str, Any]]]] = defaultdict(dict)
    for path in sorted(root.glob("**/eval_samples.jsonl")):
        m = _RUN.match(path.parent.relative_to(root).as_posix())
        if m:
            out[m["group"]][int(m["seed"])] = [
                json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return dict(out)


def annotate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with ``payoff`` (Schulman's table), ``cls`` (the detector's class, run
    here) and ``cues`` (its cue phrases), all from the same judges for every arm."""
    from rlfb.rewards import get_reward
    from rlfb.rewards.hedging.detect import get_hedge_detector

    reward = get_reward("hedging", verifier="math")
    detector = get_hedge_detector("phrases")
    texts = [r["completion"] for r in records]
    results = reward.score_batch(texts, [r.get("reference") for r in records],
                                 [r["prompt_id"] for r in records])
    detections = detector.detect_batch(texts)
    return [{**r, "payoff": res.value, "cls": d.hedge_class.value,
             "cues": [f"{c.kind}: {c.phrase.lower()}" for c in d.cues]}
            for r, res, d in zip(records, results, detections)]


def measures(records: Sequence[dict[str, Any]]) -> dict[str, float | int | None]:
    """The measures of the module docstring over annotated ``records``."""
    from rlfb.rewards.hedging.metrics import hedge_auroc, hedging_metrics

    judged = [r for r in records if r.get("correct") is not None]
    n = len(judged)
    m = hedging_metrics((r["cls"], r.get("correct")) for r in records)
    payoffs = [r["payoff"] for r in records if r["payoff"] is not None]

    def rate(pred: Any) -> float | None:
        return sum(1 for r in judged if pred(r)) / n if n else None

    return {
        "n": n,
        "payoff": sum(payoffs) / len(payoffs) if payoffs else None,
        "accuracy": rate(lambda r: r["correct"]),
        "accuracy_of_answered": m["accuracy_of_answered"],
        "hedge_rate": m["hedge_rate"], "abstention_rate": m["abstention_rate"],
        "wrong_unhedged_rate": m["wrong_unhedged_rate"],
        "hedge_auroc": hedge_auroc((r["cls"], r["correct"]) for r in judged),
        "abstain_with_answer_rate": rate(
            lambda r: r["cls"] == "uninformative" and r.get("status") in ("correct", "wrong")),
        "hedged_unparseable_rate": rate(
            lambda r: r["cls"] == "hedged" and r.get("status") == "unparseable"),
        "mean_chars": sum(len(r["completion"]) for r in records) / max(len(records), 1),
    }


def analyse(root: Path) -> dict[str, Any]:
    """Every figure: ``{"steps", "per_seed": {when: {group: {seed: {tier: measures}}}},
    "cues": {group: top 10 cues at the final step}, "examples": …}``."""
    data = runs(root)
    out: dict[str, Any] = {"steps": {}, "per_seed": {"warm_start": {}, "final": {}},
                           "cues": {}, "examples": {}}
    for group, seeds in data.items():
        cues: Counter[str] = Counter()
        for seed, records in sorted(seeds.items()):
            steps = sorted({int(r["step"]) for r in records})
            out["steps"][f"{group}/seed={seed}"] = steps
            for when, step in (("warm_start", steps[0]), ("final", steps[-1])):
                at = annotate([r for r in records if int(r["step"]) == step])
                out["per_seed"][when].setdefault(group, {})[seed] = {
                    name: measures([r for r in at if r.get("fields", {}).get("tier") in tiers])
                    for name, tiers in TIER_SETS.items()}
                if when == "final":
                    cues.update(c for r in at if r["cls"] != "unhedged" for c in r["cues"])
                    out["examples"].setdefault(group, {})[seed] = {
                        cls: [r["completion"] for r in at if r["cls"] == cls][:3]
                        for cls in ("unhedged", "hedged", "uninformative")}
        out["cues"][group] = cues.most_common(10)
    return out


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown(result: dict[str, Any]) -> str:
    """The tables of ``measures.md``."""
    from rlfb.reporting import table

    lines = ["# Hedging study: measures per arm, tier and seed", "",
             "Built by `experiments/hedging_study/analyse.py` from the runs' "
             "`eval_samples.jsonl` (every arm scored by the same math verifier, `phrases` "
             "detector and Schulman payoff table). Rates are over judged completions; "
             "`–` = undefined (e.g. AUROC when a group is all wrong).", ""]
    for when, title in (("final", "Final eval step"), ("warm_start",
                                                       "Warm start (eval at step 0)")):
        per = result["per_seed"][when]
        lines += [f"## {title}: mean over seeds", ""]
        rows = []
        for group, seeds in per.items():
            for tier in TIER_SETS:
                rows.append([f"`{group}`", tier, len(seeds), *(
                    _fmt(_mean([s[tier][m] for s in seeds.values()])) for m in MEASURES)])
        lines += table(["arm", "tier", "seeds", *MEASURES], rows) + [""]
        lines += [f"## {title}: per seed", ""]
        rows = [[f"`{group}`", seed, tier, *(_fmt(v[tier][m]) for m in MEASURES)]
                for group, seeds in per.items() for seed, v in seeds.items()
                for tier in TIER_SETS]
        lines += table(["arm", "seed", "tier", *MEASURES], rows) + [""]
    lines += ["## Most frequent hedge and abstention cues (final step, all seeds)", ""]
    for group, cues in result["cues"].items():
        lines.append(f"- `{group}`: " + (", ".join(f"{c} ({n})" for c, n in cues) or "none"))
    lines += ["", "## Example completions (final step, first three of each class)", ""]
    for group, seeds in result["examples"].items():
        for seed, classes in seeds.items():
            for cls, texts in classes.items():
                shown = " · ".join(json.dumps(t, ensure_ascii=False) for t in texts) or "none"
                lines.append(f"- `{group}` seed {seed}, {cls}: {shown}")
    return "\n".join(lines) + "\n"


def plot(result: dict[str, Any], path: Path) -> Path:
    """Final payoff, wrong-unhedged rate, accuracy and hedge + abstention rate per tier."""
    from rlfb.reporting import pyplot, save_figure

    plt = pyplot()
    panels = [("payoff", "held-out payoff (Schulman)"), ("wrong_unhedged_rate",
                                                        "wrong-unhedged rate"),
              ("accuracy", "accuracy"), ("hedge_or_abstain", "hedge + abstention rate")]
    tiers = ["easy", "medium", "hard"]
    per = result["per_seed"]["final"]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    width = 0.8 / max(len(per), 1)
    for ax, (key, title) in zip(axes, panels):
        for i, (group, seeds) in enumerate(per.items()):
            xs = [t + (i - (len(per) - 1) / 2) * width for t in range(len(tiers))]
            vals = []
            for tier in tiers:
                seed_vals = []
                for s in seeds.values():
                    m = s[tier]
                    v = (None if m["hedge_rate"] is None else m["hedge_rate"]
                         + m["abstention_rate"]) if key == "hedge_or_abstain" else m[key]
                    seed_vals.append(v)
                vals.append(seed_vals)
            means = [_mean(v) or 0.0 for v in vals]
            bars = ax.bar(xs, means, width, label=group, alpha=0.7)
            for x, v in zip(xs, vals):
                ax.scatter([x] * len([u for u in v if u is not None]),
                           [u for u in v if u is not None], s=8, color="black", zorder=3)
            del bars
        ax.set_xticks(range(len(tiers)), tiers)
        ax.set_title(title, fontsize=9)
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7)
    fig.suptitle("Final held-out eval per tier: bar = mean over seeds, dots = seeds", fontsize=9)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    """Write measures.json, measures.md and tiers.png."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", help="the sweep's output folder (holds <arm>/seed=<s>/ runs)")
    p.add_argument("--out", help="output folder (default: root)")
    args = p.parse_args(argv)
    root = Path(args.root)
    out = Path(args.out or root)
    out.mkdir(parents=True, exist_ok=True)
    result = analyse(root)
    if not result["per_seed"]["final"]:
        raise SystemExit(f"no <arm>/seed=<s>/eval_samples.jsonl under {root}")
    (out / "measures.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "measures.md").write_text(markdown(result))
    plot(result, out / "tiers.png")
    print(out / "measures.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
