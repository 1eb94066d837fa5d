"""Building blocks every report shares: markdown table cells and rows, and PNG figures.

The run report (`rlfb.report`), the sweep report (`rlfb.ablate.report`), and the eval and
rescore reports (`rlfb.evaluation.markdown`, `rlfb.evaluation.plots`) format numbers and write
figures through these, so a number looks the same in every report.

>>> table(("metric", "value"), [("accuracy", 0.123456), ("masked", None), ("n", 8)])
['| metric | value |', '| --- | --- |', '| accuracy | 0.1235 |', '| masked | – |', '| n | 8 |']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence


def cell(value: Any) -> str:
    """A table cell: None as an en dash, floats to 4 significant digits, anything else as
    ``str`` (so a caller's own formatting passes through)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A markdown table's lines: the header, the rule, and one line per row of `cell`\\ s."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive Agg backend, imported on first use (reports
    are written on machines without a display, and ``import rlfb`` stays light)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` as PNG (100 dpi) and close it; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return path
