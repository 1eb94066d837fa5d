"""Writing a sweep's ``report.md`` and PNG curves from its arms' ``metrics.jsonl`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from rlfb.ablate.aggregate import (
    CURVES,
    METRICS,
    Cell,
    aggregate,
    mean_curve,
    paired_difference,
    run_summary,
)
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
    if missing:
        lines += [f"Not finished (left out above where they logged nothing): "
                  f"{', '.join(missing)}", ""]
    lines += [f"![{p.stem}]({p.name})" for p in pngs]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
