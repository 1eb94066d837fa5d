"""`rlfb rescore`: a run's saved rollouts under another reward, without generating again.

The rollouts are the run's ``samples.jsonl``: the training loop writes every sample of a step
(prompt id, reference, completion, reward and components) every ``run.samples_every`` steps, so
those steps are the ones re-scored. A group is the samples of one prompt id within one step, as
in training; the new reward sees them with the prompt id as group id (group-normalising
composites work). Advantages are recomputed per step with the run's advantage estimator
(``algo.advantage`` and ``algo.advantage_options`` of its config.yaml, as the trainer applies
them per step batch), for the old and the new rewards.

Report (`rescore_metrics`): reward distributions, per-component means, verifier status counts
(judge failures included: a TIMEOUT under the new reward is a masked sample), Spearman rank
correlation of old vs new rewards (over all samples, and the mean within groups), how the
advantages change, the fraction of groups whose best sample changes (the set of top-reward
samples differs) and the fractions of groups that become or stop being zero-variance. A masked
sample (None) is left out of every statistic on the side where it is masked and counted.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from collections import Counter
from typing import Any, Callable, Hashable, Iterable, Sequence

from rlfb.errors import RlfbError
from rlfb.evaluation import stats

REQUIRED = ("step", "prompt_id", "completion", "reward")


def load_rollouts(run_dir: str | Path) -> tuple[Any, list[dict[str, Any]]]:
    """``(config, records)`` of a run directory; a one-line `RlfbError` when it has no saved
    rollouts or they lack a field."""
    from rlfb.config import load_config
    from rlfb.run_log import SAMPLES_FILE, read_jsonl

    run = Path(run_dir)
    if not (run / "config.yaml").is_file():
        raise RlfbError(f"{run_dir!r} is not a run directory (no config.yaml); give the folder "
                        "that rlfb train wrote")
    samples = run / SAMPLES_FILE
    records = read_jsonl(samples) if samples.is_file() else []
    if not records:
        raise RlfbError(f"run directory {run_dir!r} has no saved rollouts ({SAMPLES_FILE} is "
                        "missing or empty); train with run.samples_every >= 1 to save them")
    for number, rec in enumerate(records, 1):
        missing = [k for k in REQUIRED if k not in rec]
        if missing:
            raise RlfbError(f"{samples} line {number} lacks {missing}; it was not written by "
                            "rlfb train's sample logger")
    return load_config(run / "config.yaml"), records


def rescore_records(records: Sequence[dict[str, Any]], reward: Any) -> list[Any]:
    """The new `RewardResult` of every record, scored one step at a time (group ids = prompt
    ids, so group-aware rewards see the step's groups)."""
    results: list[Any] = [None] * len(records)
    for idx in stats.group_indices([r["step"] for r in records]).values():
        out = reward.score_batch([records[i]["completion"] for i in idx],
                                 [records[i].get("reference") for i in idx],
                                 [records[i]["prompt_id"] for i in idx])
        for i, res in zip(idx, out):
            results[i] = res
    return results


def step_advantages(rewards: Sequence[float | None], steps: Sequence[Hashable],
                    prompt_ids: Sequence[Hashable], estimator: Callable[..., Any],
                    options: dict[str, Any]) -> list[float]:
    """Advantages of each sample: ``estimator`` over each step's groups (by prompt id), with
    masked rewards as NaN (they get exactly 0), as the trainer computes them."""
    import torch

    from rlfb.algo.advantages import from_groups, to_groups

    out = [0.0] * len(rewards)
    for idx in stats.group_indices(steps).values():
        values = torch.tensor([math.nan if rewards[i] is None else float(rewards[i])
                               for i in idx], dtype=torch.float32)
        g = to_groups(values, [prompt_ids[i] for i in idx])
        adv = from_groups(estimator(g.values, mask=g.mask, **options), g)
        for i, a in zip(idx, adv.tolist()):
            out[i] = float(a)
    return out


def _best(values: Sequence[float | None]) -> frozenset[int] | None:
    valid = [v for v in values if v is not None]
    if not valid:
        return None
    top = max(valid)
    return frozenset(i for i, v in enumerate(values) if v is not None and v == top)


def _zero_variance(values: Sequence[float | None]) -> bool:
    valid = [v for v in values if v is not None]
    return len(valid) < 2 or max(valid) == min(valid)


def group_changes(old: Sequence[float | None], new: Sequence[float | None],
                  keys: Sequence[Hashable]) -> dict[str, Any]:
    """Per-group comparisons: within-group Spearman, best-sample changes, zero variance.

    A group's best samples are those with its top valid reward; it changes when that set
    differs (groups with no valid reward on a side are left out, ``best_undefined``). A group
    is zero-variance when it has fewer than 2 valid rewards or all are equal (the trainer's
    `rlfb.algo.advantages.zero_variance_groups`).
    """
    groups = list(stats.group_indices(keys).values())
    rhos, best_changed, best_defined = [], 0, 0
    zv_old = zv_new = became = stopped = 0
    for idx in groups:
        o, n = [old[i] for i in idx], [new[i] for i in idx]
        rho = stats.spearman(o, n)
        if rho is not None:
            rhos.append(rho)
        bo, bn = _best(o), _best(n)
        if bo is not None and bn is not None:
            best_defined += 1
            best_changed += bo != bn
        zo, zn = _zero_variance(o), _zero_variance(n)
        zv_old, zv_new = zv_old + zo, zv_new + zn
        became += zn and not zo
        stopped += zo and not zn
    count = len(groups)
    return {
        "groups": count,
        "spearman_within_group_mean": sum(rhos) / len(rhos) if rhos else None,
        "spearman_within_group_defined": len(rhos),
        "best_changed_frac": best_changed / best_defined if best_defined else None,
        "best_changed": best_changed, "best_undefined": count - best_defined,
        "zero_variance_old_frac": zv_old / count, "zero_variance_new_frac": zv_new / count,
        "became_zero_variance_frac": became / count,
        "stopped_zero_variance_frac": stopped / count,
    }


def advantage_changes(old: Sequence[float], new: Sequence[float]) -> dict[str, Any]:
    """How per-sample advantages move: mean |old|, mean |new|, mean and max |new − old|, the
    fraction whose sign (−, 0, +) changes, and their Spearman correlation."""
    if not old:
        return {}
    diffs = [abs(b - a) for a, b in zip(old, new)]
    sign = lambda x: (x > 0) - (x < 0)  # noqa: E731
    return {
        "mean_abs_old": sum(map(abs, old)) / len(old),
        "mean_abs_new": sum(map(abs, new)) / len(new),
        "mean_abs_change": sum(diffs) / len(diffs), "max_abs_change": max(diffs),
        "sign_changed_frac": sum(sign(a) != sign(b) for a, b in zip(old, new)) / len(old),
        "spearman": stats.spearman(list(old), list(new)),
    }


def _status_counts(per_sample: Iterable[dict[str, str]]) -> dict[str, int]:
    """Counts of ``"<component>/<status>"`` over samples (judge failures show as timeout/error)."""
    counts = Counter(f"{name}/{status}" for parts in per_sample for name, status in parts.items())
    return dict(sorted(counts.items()))


def rescore_metrics(records: Sequence[dict[str, Any]], new_results: Sequence[Any],
                    estimator: Callable[..., Any] | None, options: dict[str, Any]
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(summary, rows)``: the report's numbers and one row per sample (old/new reward and
    components, old/new advantage)."""
    old = [r["reward"] for r in records]
    new = [res.value for res in new_results]
    steps = [r["step"] for r in records]
    pids = [r["prompt_id"] for r in records]
    summary: dict[str, Any] = {
        "samples": len(records), "steps": sorted(set(steps)),
        "reward_old": stats.distribution(old), "reward_new": stats.distribution(new),
        "components_old": stats.component_means([r.get("components") or {} for r in records]),
        "components_new": stats.component_means([dict(res.components) for res in new_results]),
        "statuses_old": _status_counts(r.get("statuses") or {} for r in records),
        "statuses_new": _status_counts({k: v.status.value for k, v in res.verify_results.items()}
                                       for res in new_results),
        "spearman": stats.spearman(old, new),
        **group_changes(old, new, list(zip(steps, pids))),
    }
    old_adv = new_adv = None
    if estimator is not None:
        old_adv = step_advantages(old, steps, pids, estimator, options)
        new_adv = step_advantages(new, steps, pids, estimator, options)
        summary["advantages"] = advantage_changes(old_adv, new_adv)
    rows = []
    for i, (rec, res) in enumerate(zip(records, new_results)):
        rows.append({"step": rec["step"], "prompt_id": rec["prompt_id"],
                     "reward_old": rec["reward"], "reward_new": res.value,
                     "components_old": rec.get("components") or {},
                     "components_new": dict(res.components),
                     "advantage_old": old_adv[i] if old_adv else None,
                     "advantage_new": new_adv[i] if new_adv else None})
    return summary, rows


def write_rescore(out_dir: Path, summary: dict[str, Any], rows: Sequence[dict[str, Any]],
                  settings: dict[str, Any]) -> dict[str, Path]:
    """Write rescore.json, rescore_samples.jsonl, rescore_hist.png and rescore.md."""
    from rlfb.evaluation.markdown import rescore_markdown
    from rlfb.evaluation.plots import reward_histogram

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "rescore.json", "samples": out_dir / "rescore_samples.jsonl",
             "markdown": out_dir / "rescore.md"}
    paths["histogram"] = reward_histogram([r["reward_old"] for r in rows],
                                          [r["reward_new"] for r in rows],
                                          out_dir / "rescore_hist.png")
    paths["json"].write_text(json.dumps({"settings": settings, **summary}, indent=2,
                                        default=str) + "\n")
    with paths["samples"].open("w") as f:
        for r in rows:
            f.write(json.dumps(r, default=str) + "\n")
    paths["markdown"].write_text(rescore_markdown(summary, settings, paths["histogram"].name))
    return paths
