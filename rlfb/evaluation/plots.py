"""PNG figures of the eval and rescore reports (matplotlib, Agg backend, loaded on call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rlfb.reporting import pyplot, save_figure


def reliability_diagram(calibration: dict[str, Any], path: Path) -> Path:
    """Accuracy against mean stated confidence per bin, with the diagonal of perfect
    calibration and the bin counts below; the title gives the ECE. Returns ``path``."""
    plt = pyplot()
    bins = [b for b in calibration["bins"] if b["count"]]
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(5, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    width = 1.0 / calibration["n_bins"]
    ax.bar([b["low"] for b in bins], [b["accuracy"] for b in bins], width=width, align="edge",
           edgecolor="black", alpha=0.7, label="accuracy in bin")
    ax.plot([b["mean_confidence"] for b in bins], [b["accuracy"] for b in bins], "o",
            color="black", label="(mean confidence, accuracy)")
    ax.set(ylim=(0, 1), ylabel="accuracy",
           title=f"Reliability: ECE {calibration['ece']:.3f} over {calibration['n']} answers")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    hist.bar([b["low"] for b in calibration["bins"]], [b["count"] for b in calibration["bins"]],
             width=width, align="edge", edgecolor="black")
    hist.set(xlim=(0, 1), xlabel="stated confidence", ylabel="answers")
    return save_figure(fig, path)


def reward_histogram(old: Sequence[float | None], new: Sequence[float | None],
                     path: Path) -> Path:
    """Overlaid histograms of the old and new rewards (masked samples left out)."""
    plt = pyplot()
    o = [float(v) for v in old if v is not None]
    n = [float(v) for v in new if v is not None]
    values = o + n
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if values:
        low, high = min(values), max(values)
        edges = [low + (high - low) * i / 30 for i in range(30)] + [high] if high > low \
            else [low - 0.5, low + 0.5]  # the last edge exactly the maximum, so it is counted
        ax.hist(o, bins=edges, alpha=0.5, label=f"old reward (n={len(o)})")
        ax.hist(n, bins=edges, alpha=0.5, label=f"new reward (n={len(n)})")
        ax.legend(fontsize=8)
    ax.set(title="Reward distribution, old vs new", xlabel="reward", ylabel="samples")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
