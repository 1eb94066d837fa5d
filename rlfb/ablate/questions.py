"""Question-level comparison of an ablation's arms, and the criterion a sweep declares.

Every run stores its held-out completions (``eval_samples.jsonl``). At each run's final eval
step, every completion gives one value per *measure*:

- ``accuracy``: 1 if the eval verifier judged it correct, else 0;
- ``wrong_unhedged``: 1 if the hedge detector called it unhedged and it is wrong (a confident
  error), else 0;
- ``hedged``, ``abstained``: 1 if its hedge class is hedged / uninformative;
- ``payoff``: its value under the sweep's ``report.score_with`` reward (e.g. Schulman's
  hedging payoff), which scores every arm's completions the same way whatever it trained on.

A completion whose judge failed (``correct`` None), or that lacks a hedge class for a hedge
measure, has no value. A run's measure is the mean over its valued completions (so the rates
are over judged completions, as in `rlfb.rewards.hedging.metrics`). Arms are compared with
the first arm of the sweep, or as the criterion says, *paired by seed and question*: the
differences ``d[s][q]`` = arm − control go to the Student-t interval of the per-seed mean
differences and to the two-way paired bootstrap of `rlfb.ablate.stats.bootstrap_means`.

The sweep's optional ``report:`` section:

.. code-block:: yaml

    report:
      group_by: tier                   # also compare within each value of this prompt field
      score_with: {name: hedging, options: {verifier: math}}   # the payoff measure
      replicates: 10000                # bootstrap replicates (seeded by bootstrap_seed: 0)
      criterion:
        treatment: payoff=hedging      # arm groups as the report names them
        control: payoff=binary
        conditions:
          # rule each_seed: every seed's difference; mean: the mean over seeds;
          # bootstrap: the whole 95% bootstrap interval. One bound of at_most, at_least,
          # below, above. groups: the group_by values pooled (default: all questions).
          - {measure: wrong_unhedged, groups: [medium, hard], rule: each_seed, at_most: -0.2}
          - {measure: accuracy, groups: [easy], rule: mean, above: -0.1}
          - {measure: payoff, rule: bootstrap, above: 0}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from rlfb.errors import ConfigError

MEASURES = ("accuracy", "wrong_unhedged", "hedged", "abstained", "payoff")
RULES = ("each_seed", "mean", "bootstrap")
BOUNDS = {"at_most": "≤", "at_least": "≥", "below": "<", "above": ">"}
REPORT_KEYS = ("group_by", "score_with", "replicates", "bootstrap_seed", "criterion")


@dataclass(frozen=True)
class Condition:
    """One condition on the treatment − control difference of a measure."""

    measure: str
    rule: str
    bound: str
    value: float
    groups: tuple[str, ...] = ()

    def holds(self, x: float) -> bool:
        """Whether ``x`` satisfies the bound."""
        return {"at_most": x <= self.value, "at_least": x >= self.value,
                "below": x < self.value, "above": x > self.value}[self.bound]

    def text(self) -> str:
        """The condition in words, e.g. ``wrong_unhedged [medium, hard], each seed: Δ ≤ -0.2``."""
        where = f" [{', '.join(self.groups)}]" if self.groups else " [all questions]"
        rule = {"each_seed": "in each seed", "mean": "mean over seeds",
                "bootstrap": "whole 95% bootstrap interval"}[self.rule]
        return f"`{self.measure}`{where}, {rule}: Δ {BOUNDS[self.bound]} {self.value:g}"


@dataclass(frozen=True)
class Criterion:
    """A success criterion fixed in the sweep file: every condition must hold."""

    treatment: str
    control: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class ReportSpec:
    """The sweep's ``report:`` section (module docstring)."""

    group_by: str | None = None
    score_with: Mapping[str, Any] | None = None
    replicates: int = 10_000
    bootstrap_seed: int = 0
    criterion: Criterion | None = None


def _fail(source: str, message: str) -> ConfigError:
    return ConfigError(f"sweep {source}: report: {message}")


def _condition(source: str, i: int, raw: Any, has_payoff: bool) -> Condition:
    where = f"criterion.conditions[{i}]"
    if not isinstance(raw, Mapping):
        raise _fail(source, f"{where} must be a mapping like {{measure: accuracy, rule: mean, "
                            "above: -0.1}")
    unknown = set(raw) - {"measure", "rule", "groups", *BOUNDS}
    if unknown:
        raise _fail(source, f"{where} has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    measure, rule = raw.get("measure"), raw.get("rule")
    if measure not in MEASURES:
        raise _fail(source, f"{where}.measure must be one of {', '.join(MEASURES)}, "
                            f"got {measure!r}")
    if measure == "payoff" and not has_payoff:
        raise _fail(source, f"{where} uses measure payoff; set report.score_with to the reward "
                            "that scores every arm, e.g. {name: hedging, options: {verifier: "
                            "math}}")
    if rule not in RULES:
        raise _fail(source, f"{where}.rule must be one of {', '.join(RULES)}, got {rule!r}")
    bounds = [b for b in BOUNDS if b in raw]
    if len(bounds) != 1:
        raise _fail(source, f"{where} needs exactly one bound of {', '.join(BOUNDS)}")
    value = raw[bounds[0]]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(source, f"{where}.{bounds[0]} must be a number, got {value!r}")
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, (str, int)) for g in groups):
        raise _fail(source, f"{where}.groups must be a list of group_by values")
    return Condition(measure, rule, bounds[0], float(value), tuple(map(str, groups)))


def parse_report_spec(source: str, value: Any) -> ReportSpec | None:
    """The `ReportSpec` of a sweep's ``report:`` value (None when absent); bad input is a
    one-line `ConfigError`."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _fail(source, "must be a mapping with group_by, score_with, criterion")
    unknown = set(value) - set(REPORT_KEYS)
    if unknown:
        raise _fail(source, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; it has "
                            f"{', '.join(REPORT_KEYS)}")
    score_with = value.get("score_with")
    if score_with is not None and (not isinstance(score_with, Mapping)
                                   or not isinstance(score_with.get("name"), str)):
        raise _fail(source, "score_with must be {name: <reward>, options: {...}}")
    replicates = value.get("replicates", 10_000)
    seed = value.get("bootstrap_seed", 0)
    for key, v in (("replicates", replicates), ("bootstrap_seed", seed)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (1 if key == "replicates" else 0):
            raise _fail(source, f"{key} must be a whole number"
                                f"{' >= 1' if key == 'replicates' else ' >= 0'}, got {v!r}")
    group_by = value.get("group_by")
    if group_by is not None and not isinstance(group_by, str):
        raise _fail(source, f"group_by must name one prompt field, got {group_by!r}")
    criterion = None
    raw = value.get("criterion")
    if raw is not None:
        if not isinstance(raw, Mapping) or not all(isinstance(raw.get(k), str)
                                                   for k in ("treatment", "control")):
            raise _fail(source, "criterion needs treatment: and control: (arm groups such as "
                                "payoff=hedging) and conditions:")
        conditions = raw.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise _fail(source, "criterion.conditions must be a non-empty list")
        if any(c.get("groups") for c in conditions if isinstance(c, Mapping)) and not group_by:
            raise _fail(source, "a condition names groups; set report.group_by to the prompt "
                                "field they are values of")
        criterion = Criterion(raw["treatment"], raw["control"], tuple(
            _condition(source, i, c, score_with is not None) for i, c in enumerate(conditions)))
    return ReportSpec(group_by, dict(score_with) if score_with else None, replicates, seed,
                      criterion)


# -- values of the stored completions -------------------------------------------------------
def final_eval_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``eval_samples.jsonl`` at its last eval step ([] if none)."""
    from rlfb.run_log import EVAL_SAMPLES_FILE, read_jsonl

    path = Path(run_dir) / EVAL_SAMPLES_FILE
    records = read_jsonl(path) if path.is_file() else []
    if not records:
        return []
    last = max(int(r["step"]) for r in records)
    return [r for r in records if int(r["step"]) == last]


def score_payoffs(records: Sequence[Mapping[str, Any]], reward: Any) -> list[float | None]:
    """Each record's completion scored by ``reward`` (None where its judge failed)."""
    results = reward.score_batch([r["completion"] for r in records],
                                 [r.get("reference") for r in records],
                                 [r["prompt_id"] for r in records])
    return [None if res.value is None else float(res.value) for res in results]


def sample_value(record: Mapping[str, Any], measure: str,
                 payoff: float | None = None) -> float | None:
    """The value of one stored completion under ``measure`` (module docstring)."""
    if measure == "payoff":
        return payoff
    correct = record.get("correct")
    if correct is None:
        return None
    if measure == "accuracy":
        return float(bool(correct))
    cls = record.get("hedge_class")
    if cls is None:
        return None
    if measure == "wrong_unhedged":
        return float(cls == "unhedged" and not correct)
    return float(cls == {"hedged": "hedged", "abstained": "uninformative"}[measure])


def question_values(records: Sequence[Mapping[str, Any]], measure: str,
                    payoffs: Sequence[float | None] | None = None,
                    group_by: str | None = None, groups: Sequence[str] = ()
                    ) -> dict[str, float]:
    """``{prompt_id: mean value}`` of one run's completions (k samples of a question are
    averaged); with ``groups``, only questions whose ``group_by`` field is one of them."""
    sums: dict[str, list[float]] = {}
    for i, r in enumerate(records):
        if groups and str(r.get("fields", {}).get(group_by)) not in groups:
            continue
        v = sample_value(r, measure, None if payoffs is None else payoffs[i])
        if v is not None:
            sums.setdefault(str(r["prompt_id"]), []).append(v)
    return {q: sum(v) / len(v) for q, v in sums.items()}


# -- comparisons ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """Treatment − control of one measure, paired by seed and question."""

    per_seed: dict[int, float]
    """Each seed's treatment mean − control mean over the questions both have."""
    mean: float
    """The mean of ``per_seed``."""
    t_half_width: float | None
    """The Student-t 95% half width over ``per_seed`` (None with one seed)."""
    bootstrap: tuple[float, float]
    """The paired seeds × questions bootstrap 95% percentile interval."""
    questions: int


def compare(treatment: Mapping[int, Mapping[str, float]],
            control: Mapping[int, Mapping[str, float]], replicates: int = 10_000,
            seed: int = 0) -> Comparison | None:
    """Compare ``{seed: {question: value}}`` of two arms; None when they share no seed and
    question."""
    from rlfb.ablate.stats import bootstrap_means, mean_ci, percentile_interval

    seeds = sorted(set(treatment) & set(control))
    questions = sorted({q for s in seeds for q in set(treatment[s]) & set(control[s])})
    if not seeds or not questions:
        return None
    grid: list[list[float | None]] = []
    per_seed = {}
    for s in seeds:
        row = [treatment[s][q] - control[s][q] if q in treatment[s] and q in control[s]
               else None for q in questions]
        grid.append(row)
        paired = [d for d in row if d is not None]
        if paired:
            per_seed[s] = sum(paired) / len(paired)
    mean, half, _ = mean_ci(list(per_seed.values()))
    interval = percentile_interval(bootstrap_means(grid, replicates, seed))
    return Comparison(per_seed, mean, half, interval, len(questions))


def verdict(condition: Condition, comparison: Comparison | None) -> tuple[bool, str]:
    """Whether the data meet ``condition``, and the figures it was judged on."""
    if comparison is None:
        return False, "no paired data"
    if condition.rule == "each_seed":
        figures = ", ".join(f"seed {s}: {d:+.3f}" for s, d in comparison.per_seed.items())
        return all(condition.holds(d) for d in comparison.per_seed.values()), figures
    if condition.rule == "mean":
        return condition.holds(comparison.mean), f"mean {comparison.mean:+.3f}"
    low, high = comparison.bootstrap
    return (condition.holds(low) and condition.holds(high),
            f"mean {comparison.mean:+.3f}, bootstrap 95% [{low:+.3f}, {high:+.3f}]")
