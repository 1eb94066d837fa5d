"""A run's report: `report.md` and PNG curves, derived only from its `metrics.jsonl`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rlfb.reporting import pyplot, save_figure, table
from rlfb.run_log import METRICS_FILE, read_jsonl

CURVES = {
    "reward.png": ("Training reward", ["reward/mean"]),
    "eval_accuracy.png": ("Held-out accuracy", ["eval/accuracy", "eval/pass@1"]),
    "length.png": ("Completion length (tokens)", ["length/mean"]),
    "time.png": ("Seconds per step by stage",
                 ["time/generate", "time/score", "time/update", "time/sync"]),
}


def series(records: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of one metric, skipping steps where it is absent or None."""
    pairs = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    return [p[0] for p in pairs], [float(p[1]) for p in pairs]


def plot_curves(records: Sequence[dict[str, Any]], out_dir: Path,
                curves: dict[str, tuple[str, list[str]]] | None = None) -> list[Path]:
    """Write one PNG per entry of ``curves`` (default `CURVES`: file name → (title, metric
    keys)) that has data; returns the files written."""
    plt = pyplot()
    written = []
    for name, (title, keys) in (CURVES if curves is None else curves).items():
        lines = [(k, *series(records, k)) for k in keys]
        lines = [line for line in lines if line[1]]
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key, steps, values in lines:
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, label=key)
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        written.append(save_figure(fig, out_dir / name))
    return written


def summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Key figures: first and last held-out accuracy, mean step time and stage split."""
    evals = [r for r in records if r.get("eval/accuracy") is not None]
    train = [r for r in records if r.get("time/step")]
    out: dict[str, Any] = {
        "steps": max((r["step"] for r in records), default=0),
        "eval_first": evals[0]["eval/accuracy"] if evals else None,
        "eval_last": evals[-1]["eval/accuracy"] if evals else None,
        "eval_first_step": evals[0]["step"] if evals else None,
        "eval_last_step": evals[-1]["step"] if evals else None,
    }
    for key in ("time/step", "time/generate", "time/score", "time/update", "time/sync",
                "perf/samples_per_s", "reward/mean"):
        values = [r[key] for r in train if r.get(key) is not None]
        out[key] = sum(values) / len(values) if values else None
    return out


def write_report(run_dir: str | Path, title: str | None = None) -> Path:
    """Write ``report.md`` and the PNG curves of a run directory; returns the report path."""
    run_dir = Path(run_dir)
    records = read_jsonl(run_dir / METRICS_FILE)
    pngs = plot_curves(records, run_dir)
    s = summary(records)
    lines = [f"# {title or run_dir.name}", "",
             f"Steps: {s['steps']}. Source: `{METRICS_FILE}` in this folder.", "",
             *table(("held-out accuracy", "step", "value"),
                    [("before", s["eval_first_step"], s["eval_first"]),
                     ("after", s["eval_last_step"], s["eval_last"])]), "",
             *table(("mean per training step", "value"),
                    [(key, s[key]) for key in ("reward/mean", "time/step", "time/generate",
                                               "time/score", "time/update", "time/sync",
                                               "perf/samples_per_s")]), ""]
    lines.extend(f"![{p.stem}]({p.name})" for p in pngs)
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
