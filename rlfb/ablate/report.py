"""Writing a sweep's ``report.md`` and PNG curves from its arms' ``metrics.jsonl`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from rlfb.ablate.aggregate import (
    CURVES,
    GROUP_METRICS,
    METRICS,
    Cell,
    aggregate,
    final_value,
    group_keys,
    mean_curve,
    paired_difference,
    run_summary,
)
from rlfb.ablate.questions import (
    MEASURES,
    Comparison,
    ReportSpec,
    compare,
    final_eval_records,
    question_values,
    score_payoffs,
    verdict,
)
from rlfb.ablate.stats import mean_ci
from rlfb.ablate.sweep import Arm, Sweep
from rlfb.reporting import pyplot, save_figure, table
from rlfb.run_log import METRICS_FILE, read_jsonl


def collect(sweep: Sweep, arms: Sequence[Arm]) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """``{group: {seed: records}}`` of the arms whose ``metrics.jsonl`` exists and has records."""
    out: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for arm in arms:
        path = sweep.output_dir / arm.name / METRICS_FILE
        records = read_jsonl(path) if path.is_file() else []
        if records:
            out.setdefault(arm.group, {})[arm.seed] = records
    return out


def _text(value: Cell | None) -> str | None:
    return None if value is None else value.text()


def metric_table(runs: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]],
                 which: str = "final") -> list[str]:
    """Markdown rows: one per arm, the ``which`` ("final" or "best") value of each logged
    metric as mean ± 95% CI across seeds (best: only metrics with a direction)."""
    summaries = {g: [run_summary(r) for r in seeds.values()] for g, seeds in runs.items()}
    keys = [k for k in METRICS if (which == "final" or METRICS[k][1])
            and any(k in s for ss in summaries.values() for s in ss)]
    head = ["arm", "n"] + [METRICS[k][0] + (f" ({METRICS[k][1]})" if which == "best" else "")
                           for k in keys]
    return table(head, ([f"`{group}`", len(ss), *(_text(aggregate(ss, k, which)) for k in keys)]
                        for group, ss in summaries.items()))


def per_run_table(runs: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]]) -> list[str]:
    """Markdown rows: every run's final value of each logged metric (the CI's inputs)."""
    keys = [k for k in METRICS if any(k in run_summary(r) for s in runs.values()
                                      for r in s.values())]
    rows = []
    for group, seeds in runs.items():
        for seed, records in seeds.items():
            s = run_summary(records)
            rows.append([f"`{group}`", seed, max(int(r["step"]) for r in records),
                         *(f"{s[k]['final']:.3f}" if k in s else None for k in keys)])
    return table(["arm", "seed", "last step", *(METRICS[k][0] for k in keys)], rows)


def difference_table(runs: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]]
                     ) -> list[str]:
    """Markdown rows: each arm minus the first arm, final values, paired by seed."""
    groups = list(runs)
    if len(groups) < 2:
        return []
    finals = {g: {seed: run_summary(r) for seed, r in seeds.items()} for g, seeds in runs.items()}
    keys = [k for k in METRICS if any(k in s for f in finals.values() for s in f.values())]
    base = groups[0]
    rows = []
    for group in groups[1:]:
        cells = []
        for key in keys:
            a = {s: v[key]["final"] for s, v in finals[group].items() if key in v}
            b = {s: v[key]["final"] for s, v in finals[base].items() if key in v}
            diff = paired_difference(a, b)  # type: ignore[arg-type]
            cells.append(None if diff is None else f"{diff.text()} (n={diff.n})")
        rows.append([f"`{group}`", *cells])
    return table([f"arm − `{base}`", *(METRICS[k][0] for k in keys)], rows)


def group_tables(runs: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]]) -> list[str]:
    """Markdown: for each prompt field the runs grouped their eval metrics by
    (``eval.group_by``), one table with a row per arm and value: the final value of each
    grouped metric, mean ± 95% Student-t CI across seeds."""
    fields: dict[str, dict[str, set[str]]] = {}
    for seeds in runs.values():
        for records in seeds.values():
            for field, values in group_keys(records).items():
                for value, metrics in values.items():
                    fields.setdefault(field, {}).setdefault(value, set()).update(metrics)
    lines: list[str] = []
    for field, values in sorted(fields.items()):
        present = set().union(*values.values())
        keys = [k for k in GROUP_METRICS if k in present]
        rows = []
        for group, seeds in runs.items():
            for value in sorted(values):
                cells = []
                for key in keys:
                    finals = [final_value(r, f"eval/{field}={value}/{key}")
                              for r in seeds.values()]
                    finals = [v for v in finals if v is not None]
                    if finals and key == "n":  # a count: its range over seeds, no interval
                        lo, hi = int(min(finals)), int(max(finals))
                        cells.append(str(lo) if lo == hi else f"{lo}-{hi}")
                    elif finals:
                        mean, half, n = mean_ci(finals)
                        cells.append(Cell(mean, half, n).text())
                    else:
                        cells.append(None)
                rows.append([f"`{group}`", value, len(seeds), *cells])
        lines += [f"Final values by `{field}`:", ""]
        lines += table(["arm", field, "n", *(GROUP_METRICS[k] for k in keys)], rows) + [""]
    return lines


def _group_by(sweep: Sweep) -> str | None:
    """The prompt field the question-level tables split by: the sweep's ``report.group_by``,
    else the first of the base config's ``eval.group_by``."""
    if sweep.report is not None and sweep.report.group_by:
        return sweep.report.group_by
    fields = (sweep.base.get("eval") or {}).get("group_by") or []
    return str(fields[0]) if fields else None


def question_data(sweep: Sweep, arms: Sequence[Arm]
                  ) -> dict[str, dict[int, tuple[list[dict[str, Any]], list[float | None] | None]]]:
    """``{group: {seed: (final eval records, payoffs or None)}}`` of the arms that stored
    eval completions; payoffs are the records scored by ``report.score_with``."""
    spec = sweep.report or ReportSpec()
    reward = None
    if spec.score_with is not None:
        from rlfb.rewards import get_reward

        reward = get_reward(spec.score_with["name"], **dict(spec.score_with.get("options") or {}))
    out: dict[str, dict[int, tuple[list[dict[str, Any]], list[float | None] | None]]] = {}
    for arm in arms:
        records = final_eval_records(sweep.output_dir / arm.name)
        if records:
            payoffs = score_payoffs(records, reward) if reward is not None else None
            out.setdefault(arm.group, {})[arm.seed] = (records, payoffs)
    return out


def _measures(data: Mapping[str, Mapping[int, tuple[list[dict[str, Any]], Any]]]) -> list[str]:
    hedge = any("hedge_class" in r for seeds in data.values() for recs, _ in seeds.values()
                for r in recs)
    payoff = any(p is not None for seeds in data.values() for _, p in seeds.values())
    return [m for m in MEASURES if m == "accuracy" or (m == "payoff" and payoff)
            or (m not in ("accuracy", "payoff") and hedge)]


def comparison_of(data: Mapping[str, Mapping[int, tuple[list[dict[str, Any]], Any]]],
                  treatment: str, control: str, measure: str, group_by: str | None,
                  groups: Sequence[str], spec: ReportSpec) -> Comparison | None:
    """Treatment − control of ``measure`` over the questions in ``groups`` (all if empty)."""
    def values(group: str) -> dict[int, dict[str, float]]:
        return {seed: question_values(recs, measure, pay, group_by, groups)
                for seed, (recs, pay) in data.get(group, {}).items()}

    return compare(values(treatment), values(control), spec.replicates, spec.bootstrap_seed)


def _comparison_row(label: list[Any], c: Comparison | None) -> list[Any]:
    if c is None:
        return [*label, None, None, None, None]
    t = "" if c.t_half_width is None else f" ± {c.t_half_width:.3f}"
    return [*label, f"{c.mean:+.3f}{t}", f"[{c.bootstrap[0]:+.3f}, {c.bootstrap[1]:+.3f}]",
            ", ".join(f"{d:+.3f}" for d in c.per_seed.values()), f"{len(c.per_seed)} × "
            f"{c.questions}"]


def question_tables(sweep: Sweep, data: Mapping[str, Mapping[int, tuple[list[dict[str, Any]],
                                                                          Any]]]) -> list[str]:
    """Markdown rows: each arm − the first arm (or the criterion's control), per measure and
    per group_by value: the mean paired difference ± Student-t 95% half width over seeds,
    the paired seeds × questions bootstrap 95% interval, and the per-seed differences."""
    spec = sweep.report or ReportSpec()
    groups = [g for g in data]
    if len(groups) < 2:
        return []
    control = spec.criterion.control if spec.criterion and spec.criterion.control in data \
        else groups[0]
    group_by = _group_by(sweep)
    values = sorted({str(r.get("fields", {}).get(group_by)) for seeds in data.values()
                     for recs, _ in seeds.values() for r in recs}) if group_by else []
    rows = []
    for group in groups:
        if group == control:
            continue
        for measure in _measures(data):
            for value in ["all", *values]:
                c = comparison_of(data, group, control, measure, group_by,
                                  [] if value == "all" else [value], spec)
                rows.append(_comparison_row([f"`{group}`", measure, value], c))
    return table([f"arm − `{control}`", "measure", group_by or "questions",
                  "Δ mean ± t 95% (seeds)", "paired bootstrap 95%", "Δ per seed",
                  "seeds × questions"], rows)


def criterion_lines(sweep: Sweep, data: Mapping[str, Mapping[int, tuple[list[dict[str, Any]],
                                                                          Any]]]) -> list[str]:
    """Markdown: the sweep's criterion, each condition's figures and verdict, and whether
    the data meet it (every condition holds); [] when the sweep declares none."""
    spec = sweep.report
    if spec is None or spec.criterion is None:
        return []
    crit = spec.criterion
    rows, met = [], True
    for cond in crit.conditions:
        c = comparison_of(data, crit.treatment, crit.control, cond.measure, _group_by(sweep),
                          cond.groups, spec)
        ok, figures = verdict(cond, c)
        met = met and ok
        rows.append([cond.text(), figures, "met" if ok else "**not met**"])
    seeds = {g: sorted(data.get(g, {})) for g in (crit.treatment, crit.control)}
    lines = [f"## Criterion (declared in the sweep file before the runs)", "",
             f"Δ = `{crit.treatment}` − `{crit.control}`, paired by seed and question, at each "
             f"run's final held-out evaluation (seeds: {seeds[crit.treatment]} vs "
             f"{seeds[crit.control]}).", ""]
    lines += table(["condition", "data", "verdict"], rows) + [""]
    missing = [s for s in sweep.seeds if s not in seeds[crit.treatment]
               or s not in seeds[crit.control]]
    if missing:
        met = False
        lines += [f"Seeds without both arms' eval completions: {missing}; the criterion needs "
                  "every seed.", ""]
    lines += [f"**Verdict: the data {'meet' if met else 'do not meet'} the criterion.**", ""]
    return lines


def plot_sweep(runs: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]],
               out_dir: Path) -> list[Path]:
    """One PNG per entry of `CURVES` that some arm logged: per arm the mean across seeds,
    shaded between the lowest and highest seed."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    written = []
    for name, (title, key) in CURVES.items():
        curves = {g: mean_curve(list(seeds.values()), key) for g, seeds in runs.items()}
        curves = {g: c for g, c in curves.items() if c[0]}
        if not curves:
            continue
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        for group, (steps, mean, lo, hi, n) in curves.items():
            line, = ax.plot(steps, mean, marker="o" if len(steps) < 30 else None,
                            label=f"{group} (n={max(n)})")
            ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set(title=f"{title}: mean across seeds, band = min–max", xlabel="step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        written.append(save_figure(fig, out_dir / name))
    return written


def write_sweep_report(sweep: Sweep, arms: Sequence[Arm], command: str = "",
                       missing: Sequence[str] = ()) -> Path:
    """Write ``report.md`` and the PNGs into the sweep's output folder; returns the report."""
    runs = collect(sweep, arms)
    out = sweep.output_dir
    out.mkdir(parents=True, exist_ok=True)
    pngs = plot_sweep(runs, out)
    lines = [f"# Ablation: {sweep.name}", ""]
    if command:
        lines += ["Command:", "", f"    {command}", ""]
    lines += [
        f"Arms: {len(runs)} × seeds {sweep.seeds}. Every figure is computed from the "
        f"`{METRICS_FILE}` of each run directory `<arm>/seed=<seed>/` under this folder.",
        "", "Final = the value at the last step that logged the metric; best = its maximum "
        "(or minimum, for the wrong-unhedged rate) over the run. Cells are the mean over "
        "seeds ± the half width of the two-sided 95% Student-t interval "
        "(t_{0.975, n−1} · s/√n, "
        "n = the seeds that logged it, in column n); a bare number has n = 1.", ""]
    lines += ["Final values:", ""] + metric_table(runs, "final") + [""]
    lines += ["Best values over the run:", ""] + metric_table(runs, "best") + [""]
    lines += ["Rewards are on each arm's own reward scale (a hedging payoff and a 0/1 "
              "correctness reward are not comparable); held-out accuracy (one verifier) and the "
              "hedge rates (one detector) are the same yardstick for every arm.", ""]
    diff = difference_table(runs)
    if diff:
        lines += ["Differences to the first arm (final values, paired by seed, mean ± 95% "
                  "Student-t CI). An interval that contains 0 shows no difference at this n.",
                  ""] + diff + [""]
    lines += ["Per run (final values):", ""] + per_run_table(runs) + [""]
    lines += group_tables(runs)
    data = question_data(sweep, arms)
    questions = question_tables(sweep, data)
    if questions:
        lines += ["Question-level differences, from each run's `eval_samples.jsonl` at its final "
                  "eval step: every completion's value (accuracy, wrong-unhedged, hedged, "
                  "abstained: 0/1 over judged completions; payoff: the completion scored by "
                  "`report.score_with`, the same reward for every arm), paired by seed and "
                  "question. Δ mean ± t: the mean of the per-seed differences ± the Student-t "
                  "95% half width over seeds; paired bootstrap: the 95% percentile interval of "
                  "the mean difference when seeds and questions are both resampled "
                  "(`rlfb.ablate.stats.bootstrap_means`).", ""] + questions + [""]
    masked = sum(p is None for seeds in data.values() for _, pays in seeds.values()
                 for p in (pays or []))
    if masked:
        lines += [f"Payoff judge failures (masked, left out of the payoff and of its pairs): "
                  f"{masked}.", ""]
    lines += criterion_lines(sweep, data)
    if missing:
        lines += [f"Not finished (left out above where they logged nothing): "
                  f"{', '.join(missing)}", ""]
    lines += [f"![{p.stem}]({p.name})" for p in pngs]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
